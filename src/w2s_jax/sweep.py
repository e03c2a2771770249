"""``python -m w2s_jax.sweep GRID.toml``: run a grid into a directory and draw it.

A thin shell over :func:`w2s_jax.runner.run_grid`: it parses arguments, validates the
grid, calls the library and reports. User mistakes exit with code 2 and one line.
"""

from __future__ import annotations

import argparse
import errno
import signal
import sys
from pathlib import Path

DEFAULT_GRID = Path(__file__).parent / "default_grid.toml"


def _shard(text: str) -> tuple[int, int]:
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes I/N, got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"--shard needs 0 <= I < N, got {text!r}")
    return index, count


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m w2s_jax.sweep",
        description="Run a weak-to-strong grid (TOML) into DIR: summary.csv, curves.npz, "
        "manifest.json, figures/. Re-running resumes; an extended grid re-uses results.",
    )
    p.add_argument(
        "grid",
        nargs="?",
        default=str(DEFAULT_GRID),
        help="grid file (default: the built-in default grid)",
    )
    p.add_argument("--out", help="output directory (default: runs/<name>)")
    p.add_argument("--chunk-size", type=_positive_int, help="configurations per chunk")
    p.add_argument(
        "--max-memory",
        type=_positive_float,
        metavar="GB",
        help="memory budget of the run in GB, XLA included (default: from the free memory "
        "and the cgroup limit)",
    )
    p.add_argument("--shard", type=_shard, metavar="I/N", help="run only part I of N")
    p.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    p.add_argument("--force", action="store_true", help="discard an incompatible run in DIR")
    p.add_argument("--no-figures", action="store_true", help="skip drawing figures")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p


WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def _write_failure(out: Path, error: OSError) -> str:
    """One line for a full disk or an unwritable output: what is saved, how to resume."""
    from w2s_jax.storage import completed_ids

    where = error.filename or out
    saved = len(completed_ids(out))
    return (
        f"cannot write {where} ({error.strerror or error}); {saved} configurations are "
        f"saved in {out}/chunks; free space (or fix the permissions) and run the same "
        "command again to resume"
    )


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from w2s_jax.grid import GridError, load_grid  # after argparse: --help stays instant
    from w2s_jax.runner import RunError, RunOptions, describe, run_grid

    try:
        grid = load_grid(args.grid)
    except GridError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path("runs") / grid.name
    options = RunOptions(
        chunk_size=args.chunk_size,
        max_memory_gb=args.max_memory,
        shard=args.shard,
        force=args.force,
        quiet=args.quiet,
        figures=not args.no_figures,
    )
    if args.dry_run:
        try:
            print(describe(grid, options))
        except RunError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return 0
    signal.signal(signal.SIGTERM, _terminate)  # SIGTERM: stop like Ctrl-C, chunks are safe
    try:
        complete = run_grid(grid, out, options)
    except RunError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        if error.errno not in WRITE_ERRORS:
            raise
        print(f"error: {_write_failure(out, error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: finished chunks are saved in {out}; run the same command "
            "again to resume",
            file=sys.stderr,
        )
        return 130
    if complete:
        print(f"done: {out}/summary.csv, {out}/curves.npz, {out}/manifest.json, {out}/figures/")
    else:
        print(f"part done: chunks in {out}/chunks; run without --shard to assemble")
    return 0


if __name__ == "__main__":
    sys.exit(main())
