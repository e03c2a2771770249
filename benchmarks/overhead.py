"""Overhead against the number of configurations (issue 32): a tiny grid (d = 400, m = 4,
20 steps, two n) whose ``seeds`` grow, so that nothing but the count changes.

For each count: the whole ``python -m w2s_jax.sweep GRID --dry-run`` process (wall time
and peak resident memory, a fresh process each, read from ``os.wait4``), and in this
process the grid's expansion (``load_grid``, which expands and validates) and planning
(``planner.plan``) timed apart, with the ``tracemalloc`` peak of each.

    python benchmarks/overhead.py --sizes 1e3 1e4 1e5          # ~1 min
    python benchmarks/overhead.py --sizes 1e6 1e7 --in-process-max 1e6

``--run``: real runs, end to end, of a tinier grid (``RUN_GRID``: d = 40, m = 2, 2 steps,
2 evaluation points, two n, compiled fully) whose compiled program costs ~0.1 ms a
configuration on a 2-core CPU, so that 10^6 of them run in minutes. Per count: the whole
``python -m w2s_jax.sweep`` process (wall, peak RSS from ``os.wait4``), the compiled
program's own time, the wait for compiles and the assembly (from the manifest's
``timing``), the interpreter's start (a process importing JAX and the package), and

    overhead per configuration = (whole - program - compile wait - start) / count

then ``load_run`` + ``to_xarray`` of the result in a fresh process (wall, peak RSS).
``--source DIR``: run the code of another checkout (``DIR/src``), e.g. the commit
before, for the "before" rows (its manifest has no program time: the "after" run's, the
same compiled program and chunks, is used and marked).

    python benchmarks/overhead.py --run --sizes 1e4 1e5 1e6      # the engine's own chunks
    python benchmarks/overhead.py --run --sizes 1e6 --chunk-size 4096
"""

from __future__ import annotations

import argparse
import os
import shutil
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


RUN_GRID = """\
name = "overhead_run"
[data]
d = 40
[weak]
n = 16
steps = 2
[strong]
m = 2
steps = 2
[eval]
n_test = 16
points = 2
[run]
compile = "full"
[sweep]
"strong.n" = [8, 16]
seeds = {seeds}
"""

LOAD = """\
import sys, time
start = time.perf_counter()
from w2s_jax.analysis.storage import load_run
run = load_run(sys.argv[1])
run.to_xarray()
print(time.perf_counter() - start)
"""


def child(command: list[str], env: dict, timeout: float) -> tuple[float, float, int, list[str]]:
    """Wall seconds, peak RSS (bytes), exit code and output lines of a child process."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        _, status, usage = os.wait4(process.pid, 0)
        timer.cancel()
        process.returncode = code = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        output.seek(0)
        lines = output.read().splitlines()
    return seconds, usage.ru_maxrss * 1024.0, code, lines


def real_runs(args) -> None:
    """The ``--run`` table: real runs end to end, their overhead per configuration."""
    import json

    env = dict(os.environ)
    if args.source:
        env["PYTHONPATH"] = str(Path(args.source).resolve() / "src")
    code = args.source or "this checkout"
    print(f"# load average: {os.getloadavg()[0]:.2f}; cores: {os.cpu_count()}; code: {code}")
    start_command = [sys.executable, "-c", "import jax; jax.devices(); import w2s_jax.sweep"]
    starts = [child(start_command, env, 120)[0] for _ in range(3)]
    start = min(starts)
    print(f"# interpreter start (import jax, w2s_jax.sweep; devices): {start:.2f} s (min of 3)")
    print(
        "| configurations | whole s | peak RSS GB | program s | compile wait s | assemble s "
        "| outputs s | overhead µs/configuration | load_run s | load_run peak RSS GB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    programs = json.loads(args.program_seconds) if args.program_seconds else {}
    with tempfile.TemporaryDirectory(dir=args.scratch) as folder:
        for size in args.sizes:
            count = int(size)
            path, out = Path(folder) / f"run_{count}.toml", Path(folder) / f"run_{count}"
            path.write_text(RUN_GRID.format(seeds=max(1, count // 2)))
            command = [sys.executable, "-m", "w2s_jax.sweep", str(path), "--out", str(out)]
            command += ["--quiet"]
            command += ["--chunk-size", str(args.chunk_size)] if args.chunk_size else []
            command += [] if args.figures else ["--no-figures"]
            whole, rss, exit_code, lines = child(command, env, args.timeout)
            if exit_code != 0:
                print(f"| {count:.0e} | {whole:.1f} | {rss / 1e9:.2f} | exit {exit_code}: "
                      f"{lines[-1] if lines else ''} |")  # fmt: skip
                continue
            timing = json.loads((out / "manifest.json").read_text())["timing"]
            program = timing.get("program_seconds")
            marked = ""
            if program is None:  # the code before recorded none: the same program's
                program, marked = programs.get(str(count)), "*"
            wait = timing.get("compile_wait_seconds", timing["compile_seconds"])
            outputs = whole - start - timing["wall_seconds"]
            overhead = (whole - (program or 0.0) - wait - start) / count * 1e6
            load, load_rss, load_code, load_lines = child(
                [sys.executable, "-c", LOAD, str(out)], env, args.timeout
            )
            loaded = f"{float(load_lines[-1]):.2f}" if load_code == 0 else f"exit {load_code}"
            assemble = timing.get("assemble_seconds")
            cells = [
                f"{count:.0e}", f"{whole:.1f}", f"{rss / 1e9:.2f}",
                f"{program:.1f}{marked}" if program is not None else "-", f"{wait:.1f}",
                f"{assemble:.1f}" if assemble is not None else "-", f"{outputs:.1f}",
                f"{overhead:.0f}{marked}", loaded, f"{load_rss / 1e9:.2f}",
            ]  # fmt: skip
            print("| " + " | ".join(cells) + " |", flush=True)
            shutil.rmtree(out, ignore_errors=True)
    print(f"# load average at the end: {os.getloadavg()[0]:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", type=float, default=[1e3, 1e4, 1e5])
    p.add_argument("--in-process-max", type=float, default=1e5, help="largest in-process size")
    p.add_argument("--timeout", type=float, default=150.0, help="per dry-run process")
    p.add_argument("--max-memory", help="passed to the dry-run (GB)")
    p.add_argument("--run", action="store_true", help="real runs, end to end (RUN_GRID)")
    p.add_argument(
        "--chunk-size", type=int, default=0, help="--run: configurations a chunk (0: the engine's)"
    )
    p.add_argument("--figures", action="store_true", help="--run: draw the figures too")
    p.add_argument("--source", help="--run: a checkout whose src/ runs (default: this one)")
    p.add_argument("--scratch", help="--run: where the run directories go (default: /tmp)")
    p.add_argument(
        "--program-seconds", help='--run with --source: {"count": seconds} of the after runs'
    )
    args = p.parse_args()
    if args.run:
        args.timeout = max(args.timeout, 600.0)
        real_runs(args)
        return
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
