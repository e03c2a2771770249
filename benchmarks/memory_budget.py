"""The planner's memory estimate against the measured peak: each program of a grid in a
fresh process (one chunk of the size the sweep picks), then the whole grid through the
sweep command, optionally inside a memory cgroup of its own (Linux, as root).

A row per program: the chunk, the planner's estimate (chunk x bytes per configuration,
plus what the budget reserves for XLA's compiler and runtime), the process's resident
memory before the chunk (JAX and the imports) and its peak (``VmHWM``), and the peak
above that baseline divided by the estimate.

    python benchmarks/memory_budget.py                      # the default grid
    python benchmarks/memory_budget.py GRID.toml --max-memory 2
    python benchmarks/memory_budget.py --limit 4 --whole    # sweep inside a 4 GiB cgroup
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import common

ROOT = Path(__file__).resolve().parent.parent
GiB = 2**30


def child(grid_path: str, index: int, max_memory: float | None) -> None:
    """Run the first chunk of program ``index``; print one JSON line."""
    import jax

    from w2s_jax.execution import engine, jax_settings, memory, planner
    from w2s_jax.execution.grid import load_grid
    from w2s_jax.simulation.identity import identity

    grid = load_grid(grid_path)
    configs = grid.configurations()
    for name, value in jax_settings.dtype_settings(configs).items():
        jax.config.update(name, value)  # this child process only
    programs = planner.plan(configs)
    ids = [identity(c) for c in configs]
    budget = memory.budget(max_memory)
    work = planner.schedule(programs, set(), ids, None, None, max_memory, budget)[index]
    baseline = memory.current_rss()
    chunk = [configs[i] for i in work.chunks[0]]
    engine.run_chunk(work.program.static, chunk, grid.seed, work.chunk)
    row = {
        "program": work.program.label,
        "chunk": work.chunk,
        "devices": planner.devices_for(work.chunk),
        "estimate": work.chunk * work.program.cost.bytes + budget.reserved,
        "budget": budget.bytes,
        "baseline": baseline,
        "peak": memory.peak_rss(),
    }
    print(json.dumps(row))


def in_cgroup(command: list[str], limit_gb: float | None) -> tuple[list[str], str | None]:
    """``command`` started in a new memory cgroup limited to ``limit_gb`` GiB (v1
    ``memory`` controller or v2) by a shell that moves itself there first (no
    ``preexec_fn``: forking a process that has imported JAX is unsafe), and the
    cgroup's directory."""
    if not limit_gb:
        return command, None
    limit = str(int(limit_gb * GiB))
    v1, v2 = Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup")
    name = f"w2s-memory-budget-{os.getpid()}"
    if v1.is_dir():
        directory, limit_file = v1 / name, "memory.limit_in_bytes"
    else:
        directory, limit_file = v2 / name, "memory.max"
    directory.mkdir()
    (directory / limit_file).write_text(limit)
    enter = f'echo $$ > {directory / "cgroup.procs"} && exec "$@"'
    return ["sh", "-c", enter, "sh", *command], str(directory)


def run(command: list[str], limit_gb: float | None) -> subprocess.CompletedProcess:
    command, directory = in_cgroup(command, limit_gb)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    try:
        return subprocess.run(command, capture_output=True, text=True, env=env)
    finally:
        if directory:
            os.rmdir(directory)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("grid", nargs="?", default=str(ROOT / "src/w2s_jax/default_grid.toml"))
    parser.add_argument("--max-memory", type=float, help="GB, as the sweep's option")
    parser.add_argument("--limit", type=float, help="run inside a memory cgroup of GIB")
    parser.add_argument("--whole", action="store_true", help="also the whole sweep")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    max_memory = args.max_memory * 1e9 if args.max_memory else None
    if args.child is not None:
        child(args.grid, args.child, max_memory)
        return 0
    from w2s_jax.execution import planner
    from w2s_jax.execution.grid import load_grid

    print(common.header("memory_budget"))
    print(f"# limit: {args.limit} GiB cgroup; --max-memory {args.max_memory}")
    programs = planner.plan(load_grid(args.grid).configurations())
    print(
        "| program | chunk | devices | estimate GB | budget GB | baseline GB | peak GB "
        "| (peak - baseline) / estimate |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for index in range(len(programs)):
        command = [sys.executable, __file__, args.grid, "--child", str(index)]
        if args.max_memory:
            command += ["--max-memory", str(args.max_memory)]
        done = run(command, args.limit)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["killed"])[-1]
            print(f"| {programs[index].label} | exit {done.returncode}: {last} |")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        ratio = (r["peak"] - r["baseline"]) / r["estimate"]
        print(
            f"| {r['program']} | {r['chunk']} | {r['devices']} | {r['estimate'] / 1e9:.3g} "
            f"| {r['budget'] / 1e9:.3g} | {r['baseline'] / 1e9:.3g} | {r['peak'] / 1e9:.3g} "
            f"| {ratio:.2f} |"
        )
    if args.whole:
        with tempfile.TemporaryDirectory() as out:
            command = [sys.executable, "-m", "w2s_jax.sweep", args.grid, "--out", out]
            command += ["--no-figures", "--quiet"]
            if args.max_memory:
                command += ["--max-memory", str(args.max_memory)]
            done = run(command, args.limit)
            print(f"\nwhole sweep: exit {done.returncode}; {done.stderr.strip()[-300:]}")
            if done.returncode == 0:
                record = json.loads(Path(out, "manifest.json").read_text())["memory"]
                print(
                    f"budget {record['budget_bytes'] / 1e9:.3g} GB ({record['budget_source']}); "
                    f"largest estimate in flight {max(record['in_flight_bytes']) / 1e9:.3g} GB; "
                    f"RSS at start {record['rss_at_start_bytes'] / 1e9:.3g} GB; "
                    f"peak {record['peak_rss_bytes'] / 1e9:.3g} GB"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
