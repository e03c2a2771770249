"""Overhead against the number of configurations (issue 32): a tiny grid (d = 400, m = 4,
20 steps, two n) whose ``seeds`` grow, so that nothing but the count changes.

For each count: the whole ``python -m w2s_jax.sweep GRID --dry-run`` process (wall time
and peak resident memory, a fresh process each, read from ``os.wait4``), and in this
process the grid's expansion (``load_grid``, which expands and validates) and planning
(``planner.plan``) timed apart, with the ``tracemalloc`` peak of each.

    python benchmarks/overhead.py --sizes 1e3 1e4 1e5          # ~1 min
    python benchmarks/overhead.py --sizes 1e6 1e7 --in-process-max 1e6
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

GRID = """\
name = "overhead"
[data]
d = 400
[weak]
n = 50
steps = 20
[strong]
m = 4
steps = 20
[eval]
n_test = 100
points = 8
[sweep]
"strong.n" = [40, 100]
seeds = {seeds}
"""


def dry_run(path: Path, timeout: float, max_memory: str | None) -> tuple[float, float, int, str]:
    """Wall seconds, peak RSS (bytes), exit code and last output line of a ``--dry-run``."""
    command = [sys.executable, "-m", "w2s_jax.sweep", str(path), "--dry-run", "--quiet"]
    command += ["--max-memory", max_memory] if max_memory else []
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        _, status, usage = os.wait4(process.pid, 0)  # the child's own peak RSS
        timer.cancel()
        process.returncode = code = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        output.seek(0)
        lines = output.read().splitlines()
    return seconds, usage.ru_maxrss * 1024.0, code, lines[-1] if lines else ""


def in_process(path: Path) -> tuple[float, float, float, float]:
    """Seconds and tracemalloc peak bytes of expansion (``load_grid``) and planning."""
    from w2s_jax.execution import grid as grid_module
    from w2s_jax.execution import planner

    tracemalloc.start()
    start = time.perf_counter()
    grid = grid_module.load_grid(path)
    expand = time.perf_counter() - start
    expand_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    start = time.perf_counter()
    planner.plan(grid.configurations())
    plan = time.perf_counter() - start
    plan_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return expand, expand_peak, plan, plan_peak


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", type=float, default=[1e3, 1e4, 1e5])
    p.add_argument("--in-process-max", type=float, default=1e5, help="largest in-process size")
    p.add_argument("--timeout", type=float, default=150.0, help="per dry-run process")
    p.add_argument("--max-memory", help="passed to the dry-run (GB)")
    args = p.parse_args()
    print(f"# load average: {os.getloadavg()[0]:.2f}; cores: {os.cpu_count()}")
    print(
        "| configurations | dry-run s | dry-run peak RSS GB | exit | expansion s "
        "| expansion peak MB | planning s | planning peak MB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    rows: dict[int, list[str]] = {}
    notes = []
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for size in args.sizes:
            count = int(size)
            paths[count] = path = Path(folder) / f"overhead_{count}.toml"
            path.write_text(GRID.format(seeds=max(1, count // 2)))
        # The processes first: a child forked from a process that has planned a large
        # grid would count the parent's resident pages in its peak.
        for count, path in paths.items():
            seconds, rss, code, last = dry_run(path, args.timeout, args.max_memory)
            rows[count] = [f"{count:.0e}", f"{seconds:.2f}", f"{rss / 1e9:.3f}", str(code)]
            if code != 0:
                notes.append(f"#   {count}: {last}")
        for count, path in paths.items():
            if count <= args.in_process_max:
                expand, expand_peak, plan, plan_peak = in_process(path)
                rows[count] += [f"{expand:.2f}", f"{expand_peak / 1e6:.0f}"]
                rows[count] += [f"{plan:.2f}", f"{plan_peak / 1e6:.0f}"]
            else:
                rows[count] += ["-"] * 4
    for cells in rows.values():
        print("| " + " | ".join(cells) + " |")
    print("\n".join(notes))
    print(f"# load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
