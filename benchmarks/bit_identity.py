"""Same-machine bit-identity check for refactors (not a test: bits may differ across CPUs).

    python benchmarks/bit_identity.py run OUT_DIR      # run the reference grids into OUT_DIR
    python benchmarks/bit_identity.py compare A B      # compare two such directories

Runs a few small grids (dense, reduced, stop-at-loss with the race, zipped axes, an
extension by a seed) with the CLI, in fresh processes, and compares every column of
summary.csv and every curve exactly (values and dtype), whichever container holds them:
``curves/<name>.npy`` or the ``curves.npz`` of runs made before ``curves/`` existed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

GRIDS = {
    "dense": """name = "bit_dense"
seed = 3
[data]
d = 200
[weak]
n = 60
steps = 30
[strong]
m = 3
steps = 40
[eval]
n_test = 300
points = 8
[run]
backend = "dense"
[sweep]
"strong.n" = [20, 40]
"data.nu_norm" = [3.0, 6.0]
seeds = 2
""",
    "reduced_stop": """name = "bit_reduced"
seed = 1
[data]
d = 1e6
p_easy = 0.35
p_hard = 0.4
hard_sign = "paired"
mu_norm_scaled = 1.0811
[weak]
n = 100
lr_scaled = 600.0
[strong]
m = 4
steps = 3000
lr_scaled = 4.0
sigma_0_theory = 0.03
stop_loss = 0.1
[eval]
n_test = 500
points = 10
[run]
backend = "reduced"
race = true
[sweep]
"strong.n" = [16, 32]
"data.nu_norm_scaled" = { geomspace = [1.0, 3.0, 3] }
seeds = 2
""",
    "zipped": """name = "bit_zipped"
seed = 0
[data]
d = 400
[weak]
n = 80
steps = 30
[strong]
m = 3
ceiling = true
[eval]
n_test = 300
points = 6
[run]
backend = "dense"
[sweep]
"strong.n" = [10, 30]
"strong.steps" = [50, 20]
zip = [["strong.n", "strong.steps"]]
"strong.lr" = [0.5, 1.0]
seeds = 2
""",
}


def run(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, text in GRIDS.items():
        grid = out / f"{name}.toml"
        grid.write_text(text)
        cmd = [
            sys.executable,
            "-m",
            "w2s_jax.sweep",
            str(grid),
            "--out",
            str(out / name),
            "--no-figures",
        ]
        subprocess.run(cmd, check=True)
    # An extension by a seed, resumed from the finished dense run.
    ext = out / "dense_ext"
    subprocess.run(["cp", "-r", str(out / "dense"), str(ext)], check=True)
    command = [sys.executable, "-m", "w2s_jax.sweep", str(out / "dense.toml")]
    subprocess.run([*command, "--out", str(ext), "--no-figures", "seeds=3"], check=True)


def curves(run: Path) -> dict[str, np.ndarray]:
    """``steps`` and every curve of a run, from ``curves/`` or ``curves.npz``."""
    from w2s_jax.analysis import storage

    steps, arrays = storage.read_curves(run, storage.curve_files(run))
    return {"steps": steps, **arrays}


def same(x: np.ndarray, y: np.ndarray) -> bool:
    return x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True)


def compare(a: Path, b: Path) -> int:
    bad = 0
    for name in [*GRIDS, "dense_ext"]:
        sa, sb = (a / name / "summary.csv").read_text(), (b / name / "summary.csv").read_text()
        same_summary = sa == sb
        ca, cb = curves(a / name), curves(b / name)
        keys = sorted(set(ca) | set(cb))
        diff = [k for k in keys if k not in ca or k not in cb or not same(ca[k], cb[k])]
        status = "identical" if same_summary and not diff else "DIFFERENT"
        print(
            f"{name:14s} summary.csv {'same' if same_summary else 'differs'}; "
            f"curves {len(keys) - len(diff)}/{len(keys)} arrays equal -> {status}"
        )
        bad += status != "identical"
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(Path(sys.argv[2]))
    else:
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
