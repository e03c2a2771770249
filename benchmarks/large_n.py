"""Large n: where a student's time goes at n = 512-4096 and how fast its step runs.

One configuration of the theorem's protocol (docs/REPRODUCTION.md §9: reduced backend,
d = 1e9, m = 10, race recorded) run alone through the library, ``run.compile = "full"``.
A step's time is ``(time of 2S steps - time of S steps) / S`` (no stop), so neither the
compile nor the teacher nor the evaluations enter it; the evaluations' share is the
same difference taken over the number of evaluation points, the teacher's is the run
at ``strong.steps = 1``. ``--trees`` compares source trees (e.g. a checkout of the
commit before a change) side by side: each case runs in a fresh process per tree,
interleaved, on the same machine.

    python benchmarks/large_n.py                                  # this tree, ~3 min
    python benchmarks/large_n.py --trees before=/tmp/old/src after=src --whole
``--whole`` adds the user's view: the whole process (``python -m w2s_jax.sweep``, start-up,
compile and the stop included) of one configuration at n = 2048, B = 16, to loss 0.05.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import common

PROTOCOL = {
    "data.d": 1e9, "data.p_easy": 0.35, "data.p_hard": 0.4, "data.hard_sign": "paired",
    "data.mu_norm_scaled": 1.0811, "weak.n": 200, "weak.lr_scaled": 600.0,
    "strong.m": 10, "strong.lr_scaled": 4.0, "strong.sigma_0_theory": 0.03,
    "eval.n_test": 2000, "run.backend": "reduced", "run.race": True,
    "run.compile": "full",
}  # fmt: skip
P_BOTH = 0.25


def nu_scaled(n: int, benign_score: float) -> float:
    """``nu_norm_scaled`` of benign score ``B = n p_both^2 s^4``."""
    return (benign_score / (n * P_BOTH**2)) ** 0.25


def measure(n: int, steps: int, points: int) -> dict:
    """In this process: seconds of a lone configuration at 0, S, 2S strong steps."""
    from w2s_jax.api import run_one

    base = {**PROTOCOL, "strong.n": n, "data.nu_norm_scaled": nu_scaled(n, 16.0)}

    def seconds(s: int, p: int) -> float:
        start = time.perf_counter()
        run_one({**base, "strong.steps": s, "strong.stop_loss": 0.0, "eval.points": p})
        return time.perf_counter() - start

    seconds(steps, points)  # compile
    out = {"teacher_and_setup": seconds(1, 2)}
    out["S"], out["2S"] = seconds(steps, points), seconds(2 * steps, points)
    out["S_few_points"] = seconds(steps, 2)
    return out


def whole_process(n: int, benign_score: float, env: dict) -> tuple[float, dict]:
    """Wall seconds of ``python -m w2s_jax.sweep`` on one configuration to loss 0.05."""
    with tempfile.TemporaryDirectory() as tmp:
        lines = [f'"{k}" = {json.dumps(v)}' for k, v in PROTOCOL.items() if k != "run.compile"]
        lines += [f'"strong.n" = {n}', f'"data.nu_norm_scaled" = {nu_scaled(n, benign_score)}']
        lines += ['"strong.steps" = 400000', '"strong.stop_loss" = 0.05', '"eval.points" = 30']
        grid = Path(tmp) / "one.toml"
        grid.write_text('name = "one"\n' + "\n".join(lines) + "\n")
        command = [sys.executable, "-m", "w2s_jax.sweep", str(grid), "--out", f"{tmp}/run"]
        start = time.perf_counter()
        subprocess.run([*command, "--no-figures", "--quiet", "--compile-cache", "off"],
                       check=True, env=env, capture_output=True)  # fmt: skip
        wall = time.perf_counter() - start
        with open(f"{tmp}/run/summary.csv") as f:
            row = next(csv.DictReader(f))
        return wall, {k: row[k] for k in ("strong_stop_step", "strong_test_error", "stopped")}


def main(argv=None) -> int:
    parser = common.parser(__doc__)
    parser.add_argument("--n", type=int, nargs="*", default=[512, 1024, 2048, 4096])
    parser.add_argument("--trees", nargs="+", default=None, help="NAME=SRC_DIR ...")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--points", type=int, default=30)
    parser.add_argument("--whole", action="store_true")
    parser.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        n, steps = args.child
        print(json.dumps(measure(n, steps, args.points)))
        return 0
    print(common.header("large_n"))
    trees = dict(t.split("=", 1) for t in (args.trees or [f"this={Path('src').resolve()}"]))
    peak = common.matmul_rate()
    rows, whole_rows = [], []
    for n in args.n:
        steps = max(50, int(300 * (2048 / n) ** 2))
        results: dict[str, list[dict]] = {name: [] for name in trees}
        for _ in range(args.repeats):
            for name, src in trees.items():
                env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(src).resolve()),
                       str(Path(__file__).parent)])}  # fmt: skip
                command = [sys.executable, __file__, "--child", str(n), str(steps),
                           "--points", str(args.points)]  # fmt: skip
                out = subprocess.run(command, check=True, env=env, capture_output=True, text=True)
                results[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
                common.log(f"  n={n} {name}: {results[name][-1]}")
        for name, runs in results.items():
            step = float(np.median([(r["2S"] - r["S"]) / steps for r in runs]))
            evals = float(
                np.median([(r["S"] - r["S_few_points"]) / (args.points - 2) for r in runs])
            )
            teacher = float(np.median([r["teacher_and_setup"] for r in runs]))
            flops = 2.0 * n * n * 20  # the step's product: Gram (n x n) by 2m = 20 columns
            rows.append({
                "n": n, "tree": name, "ms / step": f"{1e3 * step:.3f}",
                "product GFLOP/s": f"{flops / step / 1e9:.0f}",
                "% of matmul peak": f"{100 * flops / step / peak:.0f}%",
                "Gram GB/s": f"{4.0 * n * n / step / 1e9:.1f}",
                "one evaluation (steps)": f"{evals / step:.1f}",
                "teacher + setup s": f"{teacher:.2f}",
            })  # fmt: skip
    if args.whole:
        for name, src in trees.items():
            env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
            wall, row = whole_process(2048, 16.0, env)
            whole_rows.append({"tree": name, "whole process s": f"{wall:.1f}", **row})
            common.log(f"  whole {name}: {wall:.1f} s {row}")
    print(f"\nfloat32 matmul peak measured in this run: {peak / 1e9:.0f} GFLOP/s\n")
    if rows:
        print(common.table(rows))
    if whole_rows:
        print(
            "\nOne configuration, n = 2048, B = 16, to loss 0.05, whole process (start-up, "
            "compile, teacher, run, outputs; no figures; JAX's compile cache off):\n"
        )
        print(common.table(whole_rows))
    print(f"\n# load at end: {common.load_now()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
