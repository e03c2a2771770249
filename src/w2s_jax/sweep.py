"""``python -m w2s_jax.sweep GRID.toml``: run a grid into a directory and draw it.

A thin shell over :func:`w2s_jax.execution.runner.run_grid`: it parses arguments, validates the
grid, calls the library and reports. User mistakes exit with code 2 and one line.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import hashlib
import signal
import sys
import tomllib
from pathlib import Path

DEFAULT_GRID = Path(__file__).parent / "default_grid.toml"


def formats(text: str) -> tuple[str, ...]:
    """``--format png,pdf`` -> ("png", "pdf")."""
    from w2s_jax.analysis.storage import FIGURE_FORMATS as FORMATS  # NumPy only, no matplotlib

    chosen = tuple(dict.fromkeys(x.strip().lower() for x in text.split(",") if x.strip()))
    bad = [x for x in chosen if x not in FORMATS]
    if bad or not chosen:
        raise argparse.ArgumentTypeError(
            f"--format takes a comma-separated list of {', '.join(FORMATS)}, got {text!r}"
        )
    return chosen


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


def add_format_option(p: argparse.ArgumentParser) -> None:
    """``--format``, shared with ``python -m w2s_jax.plot``."""
    p.add_argument(
        "--format",
        type=formats,
        default=("png",),
        metavar="FMT[,FMT]",
        help="figure formats: png (default), pdf, svg, e.g. --format png,pdf",
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m w2s_jax.sweep",
        description="Run a weak-to-strong grid (TOML) into DIR: summary.csv, curves/, "
        "manifest.json, figures/. Re-running resumes; an extended grid re-uses results.",
    )
    p.add_argument(
        "grid",
        nargs="?",
        default=str(DEFAULT_GRID),
        help="grid file (default: the built-in default grid)",
    )
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="override grid keys, e.g. strong.lr=0.3 'strong.n=[50, 100]' seeds=8 (a list "
        "sweeps the key), before or after the options; recorded in the manifest",
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
    processes = p.add_argument_group(
        "several processes (jax.distributed; under Slurm with several tasks, detected)"
    )
    processes.add_argument(  # values checked by distributed.check_options: one-line errors
        "--coordinator-address",
        metavar="HOST:PORT",
        help="where process 0 serves the coordination service (the same for all)",
    )
    processes.add_argument("--num-processes", type=int, metavar="N")
    processes.add_argument("--process-id", type=int, metavar="I", help="0..N-1")
    processes.add_argument(
        "--coordinator-timeout",
        type=_positive_float,
        default=120.0,
        metavar="SECONDS",
        help="wait for every process to connect, and for a silent process before it "
        "counts as dead (default 120)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    p.add_argument("--force", action="store_true", help="discard an incompatible run in DIR")
    p.add_argument("--no-figures", action="store_true", help="skip drawing figures")
    add_format_option(p)
    p.add_argument(
        "--compile-cache",
        metavar="DIR|off",
        help="persistent compilation cache (default: $XDG_CACHE_HOME/w2s_jax or "
        "~/.cache/w2s_jax; 'off' to compile every program afresh)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument(
        "--version", action="version", version=_version_line(), help="print versions and exit"
    )
    p.add_argument(
        "--list-keys", action="store_true", help="print every grid key (Markdown) and exit"
    )
    return p


def _version_line() -> str:
    from w2s_jax.execution.provenance import stamp

    return "w2s_jax " + ", ".join(f"{k} {v}" for k, v in stamp().items())


WRITE_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def _write_failure(out: Path, error: OSError) -> str:
    """One line for a full disk or an unwritable output: what is saved, how to resume."""
    from w2s_jax.analysis.storage import completed_ids

    where = error.filename or out
    saved = len(completed_ids(out))
    return (
        f"cannot write {where} ({error.strerror or error}); {saved} configurations are "
        f"saved in {out}/chunks; free space (or fix the permissions) and run the same "
        "command again to resume"
    )


def _terminate(signum, frame):
    raise KeyboardInterrupt


def request(path: str, overrides: tuple[str, ...] = ()) -> dict | None:
    """What this command asks for, as recorded in the manifest: the grid file's digest
    and the code and JAX versions (None when the file cannot be read: the full path
    reports it)."""
    from w2s_jax.execution.provenance import stamp  # the standard library only: no JAX yet

    try:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None
    return {"grid_sha256": digest, "overrides": list(overrides), **stamp()}


def default_out(path: str, overrides: tuple[str, ...] = ()) -> Path | None:
    """``runs/<name>``, the grid's ``name`` (default: the file's stem; a ``name=``
    override wins), without validating the rest of the grid (that imports JAX)."""
    try:
        name = tomllib.loads(Path(path).read_text()).get("name", Path(path).stem)
    except (OSError, ValueError):
        return None
    for text in overrides:
        if text.startswith("name="):
            name = text[len("name=") :].strip().strip("\"'")
    return Path("runs") / str(name)


def finished(args) -> Path | None:
    """The output directory when this exact request was already run to completion
    (figures included): then there is nothing to do, and JAX is never imported."""
    several = (args.coordinator_address, args.num_processes, args.process_id)
    if args.dry_run or args.force or args.shard or any(x is not None for x in several):
        return None
    asked = request(args.grid, tuple(args.overrides))
    out = Path(args.out) if args.out else default_out(args.grid, tuple(args.overrides))
    if asked is None or out is None:
        return None
    from w2s_jax.analysis import storage

    if _is_search(args.grid):  # a boundary search is done when its record says so
        return out if _search_done(out, asked) else None
    wanted = None if args.no_figures else args.format
    return out if storage.up_to_date(out, asked, wanted) else None


def _is_search(path: str) -> bool:
    """Whether the grid file has a ``[boundary]`` section (read without validating)."""
    try:
        return "boundary" in tomllib.loads(Path(path).read_text())
    except (OSError, ValueError):
        return False


def _search_done(out: Path, asked: dict) -> bool:
    """A boundary search of this request finished in ``out`` (its rounds' manifests
    carry no request: only ``boundary_search.json``, written last, says it is over)."""
    from w2s_jax.analysis import storage

    try:
        record = storage.read_json(out / "boundary_search.json")
    except (OSError, ValueError):
        return False
    done = record.get("status") == "complete" and record.get("request") == asked
    return done and (out / "report.md").is_file()


def _report(out: Path, quiet: bool) -> None:
    if not quiet:
        print((out / "report.md").read_text().rstrip())


def malformed_override(overrides: list[str]) -> str | None:
    """The first ``overrides`` entry that is not ``KEY=VALUE`` (None: all are)."""
    return next((t for t in overrides if not t.partition("=")[0].strip() or "=" not in t), None)


def main(argv: list[str] | None = None) -> int:
    # Intermixed: KEY=VALUE pairs may come before or after the options (Hydra's habit).
    args = parser().parse_intermixed_args(argv)
    if "=" in args.grid and not Path(args.grid).exists():  # overrides of the default grid
        args.overrides, args.grid = [args.grid, *args.overrides], str(DEFAULT_GRID)
    bad = malformed_override(args.overrides)
    if bad is not None:
        print(f"error: override {bad!r} is not KEY=VALUE (e.g. seeds=4)", file=sys.stderr)
        return 2
    if args.list_keys:
        from w2s_jax.execution.grid_checks import keys_markdown

        print(keys_markdown(), end="")
        return 0
    done = finished(args)
    if done is not None:
        _report(done, args.quiet)
        print(f"up to date: {done} (nothing to run; --force to start over)")
        return 0
    helper = None
    if not (args.dry_run or args.no_figures or args.shard or args.num_processes):
        from w2s_jax.analysis.figure_helper import FigureHelper

        helper = FigureHelper.start()  # its imports (matplotlib) overlap JAX's, next
    try:
        return _run(args, helper)
    finally:
        if helper is not None:
            helper.close()  # the run closed it already, unless it never reached the end


def _run(args, helper) -> int:
    """:func:`main` after the figure helper started: JAX, the grid, the run."""
    from w2s_jax.execution import distributed  # after argparse: --help stays instant

    processes = (args.coordinator_address, args.num_processes, args.process_id)
    try:
        distributed.check_options(*processes, shard=args.shard, force=args.force)
        several = not args.dry_run and distributed.initialize(  # before JAX's backends start
            *processes, timeout=args.coordinator_timeout, detect_slurm=not args.shard
        )
        if several and args.force:  # detected under Slurm
            raise distributed.DistributedError(distributed.FORCE_ALONE)
    except distributed.DistributedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from w2s_jax.execution.jax_settings import use_all_cores

    use_all_cores()  # the command line owns the process: a JAX device per core
    from w2s_jax.api import describe, run_into
    from w2s_jax.execution.grid import GridError, load_grid
    from w2s_jax.execution.runner import RunError, RunOptions

    try:
        grid = load_grid(args.grid, tuple(args.overrides))
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
        figure_formats=args.format,
        compile_cache=args.compile_cache,
        request=request(args.grid, tuple(args.overrides)),
    )
    if args.dry_run:
        if args.num_processes:  # the plan of this process's share
            options = dataclasses.replace(options, shard=(args.process_id, args.num_processes))
        try:
            print(describe(grid, options, out))
        except RunError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        return 0
    from w2s_jax.analysis.storage import DamagedFileError

    signal.signal(signal.SIGTERM, _terminate)  # SIGTERM: stop like Ctrl-C, chunks are safe
    try:
        outcome = run_into(grid, out, options, helper)
    except (RunError, DamagedFileError) as error:
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
    if outcome and grid.boundary is not None:
        _report(out, args.quiet)
        from w2s_jax.analysis.storage import read_json
        from w2s_jax.execution.boundary_search import SEARCH_FILE, summary_lines

        print("\n".join(summary_lines(read_json(out / SEARCH_FILE))))
        print(f"done: {out}/{SEARCH_FILE}, {out}/summary.csv, {out}/curves/")
    elif outcome:
        _report(out, args.quiet)
        curves = "curves.npz" if (out / "curves.npz").is_file() else "curves/"  # made before
        print(f"done: {out}/summary.csv, {out}/{curves}, {out}/manifest.json, {out}/figures/")
    elif outcome.lost:
        print(
            f"error: process(es) {', '.join(map(str, outcome.lost))} stopped "
            f"before the end of their share; the finished chunks are saved in {out}/chunks; "
            "run the same command again (one process needs no process options) to complete",
            file=sys.stderr,
        )
        return 1
    elif not distributed.is_coordinator():
        print(f"share done: chunks in {out}/chunks; process 0 assembles the outputs")
    else:
        print(f"part done: chunks in {out}/chunks; run without --shard to assemble")
    return 0


if __name__ == "__main__":
    sys.exit(main())
