"""Time to result: what a user waits for, as whole processes, side by side in one run.

For the grids ``tiny`` (24 small configurations, two programs), ``small256`` (256: d =
300, n = 50, m = 10, 500 steps), ``small`` (throughput's small case) and ``default``, the
wall time of ``python -m w2s_jax.sweep GRID --out DIR``: ``cold`` (empty cache and
directory), ``warm`` (the cold run's cache, a new directory), ``no-op`` (the warm run's
directory again), ``extend`` (tiny only: 4 seeds extended to 5, warm); against JAX's own
start-up (the floor) and NumPy and PyTorch loops (``baselines``), each a fresh process;
a loop over ``--loop-budget`` seconds is extrapolated from its first configurations
(marked). Every figure is a median of ``--repeats``.

    python benchmarks/time_to_result.py                     # tiny and small256, ~10 min
    python benchmarks/time_to_result.py --grids tiny small256 small default
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TINY = """
name = "tiny"
[data]
d = 400
[weak]
n = 200
steps = 50
[strong]
m = 8
steps = 120
[eval]
n_test = 500
points = 12
[sweep]
"strong.n" = [40, 100]
"data.nu_norm" = [4.0, 5.0, 6.0]
seeds = {seeds}
"""
SMALL_GRID = """
name = "{name}"
[data]
d = {d}
[weak]
n = {n_weak}
steps = 100
[strong]
n = {n}
m = {m}
steps = 500
[eval]
n_test = 1000
points = 20
[sweep]
"data.nu_norm" = [3.0, 4.0, 5.0, 6.0]
seeds = 64
"""
SMALL256 = SMALL_GRID.format(name="small256", d=300, n_weak=200, n=50, m=10)
SMALL = SMALL_GRID.format(name="small", d=1000, n_weak=500, n=128, m=20)
GRIDS = {"tiny": TINY.format(seeds=4), "small256": SMALL256, "small": SMALL}  # + "default"
# The loops' BLAS on one thread: their matrices are small, and a threaded BLAS ran the
# 256 small configurations 20x slower on a busy 2-core machine (3.2 s a configuration
# against 0.16 s): one thread is the strongest baseline (PyTorch's loop sets it too).
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def wall(command: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return seconds


def sweep(grid: Path, out: Path, cache: Path) -> float:
    """Wall seconds of ``python -m w2s_jax.sweep grid`` into ``out`` with ``cache``."""
    return wall([sys.executable, "-m", "w2s_jax.sweep", str(grid), "--out", str(out),
                 "--quiet", "--compile-cache", str(cache)])  # fmt: skip


def loop_process(kind: str, configs: list[dict], budget: float, work: Path) -> tuple[float, str]:
    """A fresh process running the loop; past the budget, extrapolated from a prefix."""
    path = work / f"{kind}.json"
    path.write_text(json.dumps(configs))
    command = [sys.executable, str(Path(__file__)), "--loop", kind, str(path)]
    env = {**os.environ, **ONE_THREAD}
    probe = wall([*command, "--count", "1"], env)
    imports = "import numpy" + (", torch" if kind == "torch" else "")
    start_up = wall([sys.executable, "-c", imports], env)
    per_config = max(probe - start_up, 1e-3)
    if start_up + per_config * len(configs) <= budget:
        return wall(command, env), ""
    prefix = max(2, int((budget - start_up) / per_config))
    seconds = wall([*command, "--count", str(prefix)], env)
    note = f" (extrapolated from {prefix})"
    return start_up + (seconds - start_up) * len(configs) / prefix, note


def run_loop(kind: str, path: str, count: int | None) -> None:
    """The child of :func:`loop_process`: NumPy / PyTorch only."""
    sys.path.insert(0, str(HERE))
    import baselines

    if kind == "torch":
        import torch

        torch.set_num_threads(1)
    function = baselines.run_numpy if kind == "numpy" else baselines.run_torch
    for i, config in enumerate(json.loads(Path(path).read_text())[:count]):
        function(config, seed=1000 + i)


def measure(name: str, text: str, args, work: Path, floor: float) -> dict:
    import common
    from w2s_jax.execution.grid import load_grid

    grid = work / f"{name}.toml"
    grid.write_text(text)
    times: dict = {"cold": [], "warm": [], "no-op": []}
    for r in range(args.repeats):
        cache, out = work / f"cache-{name}-{r}", work / f"out-{name}-{r}"
        times["cold"].append(sweep(grid, out, cache))
        shutil.rmtree(out)
        times["warm"].append(sweep(grid, out, cache))
        times["no-op"].append(sweep(grid, out, cache))
    for r in range(args.repeats if name == "tiny" else 0):  # 4 seeds, then extended to 5
        for seeds in (4, 5):
            (tiny := work / f"tiny{seeds}.toml").write_text(TINY.format(seeds=seeds))
            seconds = sweep(tiny, work / f"out-ext-{r}", work / f"cache-ext-{r}")
        times.setdefault("extend", []).append(seconds)
    manifest = json.loads((work / f"out-{name}-0" / "manifest.json").read_text())
    row = {"grid": name, "configs": manifest["configurations"], "floor": floor}
    row["programs"] = ", ".join(
        f"{p['static']['compile']} n_pad={p['static']['n_pad']}" for p in manifest["programs"]
    )
    row |= {key: statistics.median(values) for key, values in times.items()}
    configs = [common.baseline_config(c) for c in load_grid(grid).configurations()]
    for kind in args.loops:
        row[kind], row[f"{kind} note"] = loop_process(kind, configs, args.loop_budget, work)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grids", nargs="+", default=["tiny", "small256"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--loops", nargs="*", default=["numpy", "torch"])
    parser.add_argument("--loop-budget", type=float, default=120.0)
    parser.add_argument("--loop", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("path", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loop:
        return run_loop(args.loop, args.path, args.count)
    if "torch" in args.loops and importlib.util.find_spec("torch") is None:
        print("PyTorch not installed: its loop is skipped (pip install torch)")
        args.loops = [k for k in args.loops if k != "torch"]
    sys.path.insert(0, str(HERE))
    import common
    from w2s_jax.sweep import DEFAULT_GRID

    print(common.header("time to result (whole processes)"))
    texts = {**GRIDS, "default": DEFAULT_GRID.read_text()}
    floor_command = [sys.executable, "-c", "import jax; jax.numpy.zeros(1).block_until_ready()"]
    with tempfile.TemporaryDirectory(prefix="w2s-ttr-") as tmp:
        work = Path(tmp)
        floor = statistics.median(wall(floor_command) for _ in range(max(3, args.repeats)))
        rows = []
        for name in args.grids:
            common.log(f"[{name}] measuring")
            rows.append(measure(name, texts[name], args, work, floor))
    print(f"\nJAX start-up (the floor): {floor:.2f} s; medians of {args.repeats} run(s)\n")
    columns = ["grid", "configs", "cold", "warm", "no-op", "extend", *args.loops]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [str(row["grid"]), str(row["configs"])]
        for key in columns[2:]:
            note = row.get(f"{key} note", "")
            text = f"{row.get(key, 0):.1f} s ({row.get(key, 0) / floor:.1f}x floor){note}"
            cells.append(text if key in row else "–")
        lines.append("| " + " | ".join(cells) + " |")
    print("\n".join(lines))
    for row in rows:
        print(f"{row['grid']} programs: {row['programs']}")
    print("\nRatios (loop time / w2s_jax whole process, cold and warm; extend / cold):")
    for row in rows:
        ratios = [
            f"{k} {row[k] / row['cold']:.2f}x cold, {row[k] / row['warm']:.2f}x warm"
            for k in args.loops
            if k in row
        ]
        extra = [f"extend/cold {row['extend'] / row['cold']:.2f}"] if "extend" in row else []
        print(f"  {row['grid']}: " + ", ".join([*ratios, *extra]))


if __name__ == "__main__":
    sys.exit(main())
