"""The planner's memory estimate against the measured peak: each program of a grid in a
fresh process (one chunk of the size the sweep picks), then the whole grid through the
sweep command, optionally inside a memory cgroup of its own (Linux, as root). A row per
program: the chunk, the estimate (chunk x bytes per configuration + the budget's reserve
for XLA), resident memory before the chunk and its peak (``VmHWM``), and the peak above
that baseline over the estimate.

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

    from w2s_jax.execution import chunking, engine, jax_settings, memory, planner, work_schedule
    from w2s_jax.execution.grid import load_grid
    from w2s_jax.simulation.identity import identity

    grid = load_grid(grid_path)
    configs = grid.configurations()
    for name, value in jax_settings.dtype_settings(configs).items():
        jax.config.update(name, value)  # this child process only
    ids, budget = [identity(c) for c in configs], memory.budget(max_memory)
    work = work_schedule.schedule(planner.plan(configs), set(), ids, None, None, max_memory, budget)
    work = work[index]
    baseline, chunk = memory.current_rss(), [configs[i] for i in work.chunks[0]]
    engine.run_chunk(work.program.static, chunk, grid.seed, work.chunk)
    peak, estimate = memory.peak_rss(), work.chunk * work.program.cost.bytes + budget.reserved
    row = [work.program.label, work.chunk, chunking.devices_for(work.chunk)]
    row += [f"{x / 1e9:.3g}" for x in (estimate, budget.bytes, baseline, peak)]
    print(json.dumps(row + [f"{(peak - baseline) / estimate:.2f}"]))


def run(command: list[str], limit_gb: float | None) -> subprocess.CompletedProcess:
    """``command`` with ``src`` on the path, in a new memory cgroup of ``limit_gb`` GiB
    when given (v1 ``memory`` controller or v2), entered by a shell that moves itself
    there first (no ``preexec_fn``: forking a process that has imported JAX is unsafe)."""
    env, directory = {**os.environ, "PYTHONPATH": str(ROOT / "src")}, None
    if limit_gb:
        v1, name = Path("/sys/fs/cgroup/memory"), f"w2s-memory-budget-{os.getpid()}"
        directory = v1 / name if v1.is_dir() else Path("/sys/fs/cgroup") / name
        directory.mkdir()
        limit_file = "memory.limit_in_bytes" if v1.is_dir() else "memory.max"
        (directory / limit_file).write_text(str(int(limit_gb * GiB)))
        enter = f'echo $$ > {directory / "cgroup.procs"} && exec "$@"'
        command = ["sh", "-c", enter, "sh", *command]
    try:
        return subprocess.run(command, capture_output=True, text=True, env=env)
    finally:
        if directory:
            os.rmdir(directory)


def main(argv=None) -> int:
    parser = common.parser(__doc__)
    parser.add_argument("grid", nargs="?", default=str(ROOT / "src/w2s_jax/default_grid.toml"))
    parser.add_argument("--max-memory", type=float, help="GB, as the sweep's option")
    parser.add_argument("--limit", type=float, help="run inside a memory cgroup of GIB")
    parser.add_argument("--whole", action="store_true", help="also the whole sweep")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    max_memory = ["--max-memory", str(args.max_memory)] if args.max_memory else []
    if args.child is not None:
        return child(args.grid, args.child, args.max_memory * 1e9 if args.max_memory else None)
    from w2s_jax.execution import planner
    from w2s_jax.execution.grid import load_grid

    print(common.header("memory_budget"))
    print(f"# limit: {args.limit} GiB cgroup; --max-memory {args.max_memory}")
    columns = ["program", "chunk", "devices", "estimate GB", "budget GB", "baseline GB"]
    columns += ["peak GB", "(peak - baseline) / estimate"]
    print("| " + " | ".join(columns) + " |\n|" + " --- |" * len(columns))
    for index, program in enumerate(planner.plan(load_grid(args.grid).configurations())):
        command = [sys.executable, __file__, args.grid, "--child", str(index), *max_memory]
        done = run(command, args.limit)
        last = (done.stderr.strip().splitlines() or ["killed"])[-1]
        cells = [program.label, f"exit {done.returncode}: {last}"]
        if done.returncode == 0:
            cells = json.loads(done.stdout.strip().splitlines()[-1])
        print("| " + " | ".join(map(str, cells)) + " |")
    if args.whole:
        with tempfile.TemporaryDirectory() as out:
            command = [sys.executable, "-m", "w2s_jax.sweep", args.grid, "--out", out]
            done = run([*command, "--no-figures", "--quiet", *max_memory], args.limit)
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
