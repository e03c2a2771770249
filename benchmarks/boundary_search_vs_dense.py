"""Adaptive boundary search against a dense ``strong.n`` axis, with equal seeds.

The setting of ``sweeps/boundary_search_demo.toml`` at d = 4000 in raw units, ``n`` in
[--n-low, --n-high], each way as its own CLI process with a fresh compilation cache:
adaptive (``[boundary]``, ``ci_factor`` = --factor, ``seeds = max_seeds``) and a dense
log-spaced ``strong.n`` axis at spacing <= --factor, its crossing measured by the same
estimator (``boundary_search.analyse``). Prints both crossings with their 95% intervals,
the configurations and the wall and CPU seconds; then the adaptive search with 4x the
seeds, into the same directory (its first rounds are reused; the dense axis is counted).
"""

from __future__ import annotations

import argparse
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from w2s_jax.analysis.storage import read_json, read_summary
from w2s_jax.execution.boundary_search import analyse, ratio
from w2s_jax.execution.boundary_section import BoundaryOptions

ROOT = Path(__file__).resolve().parents[1]
SETTING = """seed = 0
data = {d=4000, mu_norm=6.73, nu_norm=6.73, p_easy=0.25, p_hard=0.30, hard_sign="paired"}
weak = {lr = 0.4}
strong = {m = 10, lr = 2.0, sigma_0 = 0.01414, steps = 500}
eval = {n_test = 1000, points = 8}
run = {backend = "reduced", compile = "fast"}
"""


def run_cli(grid: Path, out: Path, cache: Path) -> tuple[float, float]:
    """Run the CLI on ``grid`` in its own process; (wall, CPU) seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    command = [sys.executable, "-m", "w2s_jax.sweep", str(grid), "--out", str(out),
               "--compile-cache", str(cache), "--no-figures", "--quiet"]  # fmt: skip
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def line(name: str, estimate: dict, configurations: int, detail: str, wall: float, cpu: float):
    lo, hi = estimate["n_ci"]
    cross = (
        f"n* = {estimate['n_star']:.1f}, 95% CI [{lo:.1f}, {hi:.1f}] (x{ratio((lo, hi)):.2f}), "
        f"bracket {estimate['bracket'][0]}-{estimate['bracket'][1]}"
        if estimate["side"] is None
        else f"no crossing ({estimate['side']} the range)"
    )
    print(f"{name}: {cross}; {configurations} configurations ({detail}); "
          f"wall {wall:.0f} s, CPU {cpu:.0f} s")  # fmt: skip


def adaptive(grid: Path, base: Path):
    """Run the adaptive search of ``grid`` into ``base/adaptive``: its configurations, its
    cell, the estimate, its rounds and stop, wall and CPU seconds."""
    wall, cpu = run_cli(grid, base / "adaptive", base / "cache_adaptive")
    record = read_json(base / "adaptive" / "boundary_search.json")
    (cell,) = record["cells"]
    estimate = {"n_star": cell["n_star"], "n_ci": cell["n_ci"], "bracket": cell["bracket"],
                "side": None if cell["n_star"] is not None else cell["stop"]}  # fmt: skip
    rounds = f"in {record['rounds']} rounds, stop: {cell['stop']}"
    return record["configurations"], cell, estimate, rounds, wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--n-low", type=int, default=32)
    parser.add_argument("--n-high", type=int, default=256)
    parser.add_argument("--factor", type=float, default=1.3, help="dense spacing = CI target")
    parser.add_argument("--no-more-seeds", action="store_true", help="skip the 4x-seeds run")
    parser.add_argument("--keep", help="write the two runs here (default: a temporary folder)")
    args = parser.parse_args()
    seeds, N_LOW, N_HIGH, FACTOR = args.seeds, args.n_low, args.n_high, args.factor  # noqa: N806
    base = Path(args.keep or tempfile.mkdtemp(prefix="w2s_boundary_bench-"))
    base.mkdir(parents=True, exist_ok=True)

    adaptive_grid = base / "adaptive.toml"
    adaptive_grid.write_text(
        f'name = "adaptive"\n{SETTING}[boundary]\nn_low = {N_LOW}\nn_high = {N_HIGH}\n'
        f"ci_factor = {FACTOR}\nseeds = {seeds}\nmax_seeds = {seeds}\nmax_rounds = 12\n"
    )
    count = math.ceil(math.log(N_HIGH / N_LOW) / math.log(FACTOR) - 1e-9) + 1
    dense_n = sorted({int(round(n)) for n in np.geomspace(N_LOW, N_HIGH, count)})
    dense_grid = base / "dense.toml"
    dense_grid.write_text(
        f'name = "dense"\n{SETTING}[sweep]\n"strong.n" = {dense_n}\nseeds = {seeds}\n'
    )
    print(f"d = 4000, n in [{N_LOW}, {N_HIGH}], spacing / CI target x{FACTOR}, {seeds} seeds "
          f"both ways; runs in {base}")  # fmt: skip
    configurations, cell, estimate, rounds, *times = adaptive(adaptive_grid, base)
    detail = f"{len(cell['n_values'])} n values {cell['n_values']} {rounds}"
    line("adaptive", estimate, configurations, detail, *times)

    wall_d, cpu_d = run_cli(dense_grid, base / "dense", base / "cache_dense")
    summary = read_summary(base / "dense" / "summary.csv")
    n = summary["strong.n"].astype(int)
    errors = np.array([summary["strong_test_error"][n == v] for v in dense_n])  # (N, S)
    weak = float(np.mean(summary["weak_test_error"]))
    options = BoundaryOptions(n_low=N_LOW, n_high=N_HIGH, ci_factor=FACTOR, seeds=seeds)
    dense = analyse(np.array(dense_n), errors, options.fraction * weak, options, seed=0)
    line("dense", dense, len(n), f"{len(dense_n)} n values x {seeds} seeds", wall_d, cpu_d)

    print(f"configurations: dense / adaptive = {len(n) / configurations:.2f}")
    if args.no_more_seeds:
        return
    # The same search allowed 4x the seeds, run into the adaptive run's directory: its
    # first rounds are found done, and the seeds double where the crossing is.
    more = 4 * seeds
    adaptive_grid.write_text(adaptive_grid.read_text().replace(
        f"max_seeds = {seeds}", f"max_seeds = {more}"))  # fmt: skip
    count, cell, estimate, rounds, *times = adaptive(adaptive_grid, base)
    runs = ", ".join(f"{n}: {k}" for n, k in zip(cell["n_values"], cell["seeds"]))
    detail = f"n: seeds {{{runs}}} {rounds}; extends the run above"
    line(f"adaptive, max_seeds {more}", estimate, count, detail, *times)
    print(f"(a dense axis at {more} seeds: {len(dense_n) * more} configurations, not run)")


if __name__ == "__main__":
    main()
