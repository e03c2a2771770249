"""Running a grid into a directory, one pass down (docs/DESIGN.md, "A run, step by step").

:func:`run_grid` is what the CLI and the Python API call. Under the directory's lock
it reads the directory once (:mod:`~w2s_jax.execution.run_state`), plans the run
(:mod:`~w2s_jax.execution.run_plan`), executes the plan
(:mod:`~w2s_jax.execution.run_execute`: only configurations without a chunk file run,
each chunk saved as it finishes), and, once every configuration of the grid is done,
assembles the results in memory and writes the outputs
(:mod:`~w2s_jax.execution.run_outputs`). Running the same grid again is therefore both
the resume and the merge of ``--shard`` parts.
"""

from __future__ import annotations

import importlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from w2s_jax.analysis import integrity, storage
from w2s_jax.analysis.figure_helper import FigureHelper
from w2s_jax.analysis.regimes import RegimeThresholds
from w2s_jax.execution import (
    compile_cache,
    distributed,
    jax_settings,
    memory,
    provenance,
    run_execute,
    run_lock,
    run_outputs,
    run_plan,
    run_state,
)
from w2s_jax.execution.grid import Grid
from w2s_jax.execution.progress import Progress
from w2s_jax.execution.run_state import RunError

__all__ = ["RunError", "RunOptions", "RunOutcome", "describe_grid", "run_grid"]


@dataclass(frozen=True)
class RunOptions:
    chunk_size: int | None = None  # configurations per chunk; None: from memory
    max_memory_gb: float | None = None  # memory budget; None: memory.budget()
    shard: tuple[int, int] | None = None  # (I, N): run the I-th of N parts
    force: bool = False  # discard an existing, incompatible run in DIR
    quiet: bool = False
    figures: bool = True
    figure_formats: tuple[str, ...] = ("png",)  # any of storage.FIGURE_FORMATS
    compile_cache: str | None = None  # a directory; None: the default one; "off": none
    thresholds: RegimeThresholds = RegimeThresholds()
    request: dict | None = None  # what the CLI was asked (its grid file's digest)


@dataclass(frozen=True)
class RunOutcome:
    """What a run did: ``complete`` (the outputs are assembled; true as a bool) or only
    a share ran; ``lost``: processes that did not reach the end-of-shares barrier."""

    complete: bool
    lost: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return self.complete


def run_grid(
    grid: Grid,
    out: str | Path,
    options: RunOptions = RunOptions(),
    figure_helper: FigureHelper | None = None,
) -> RunOutcome:
    """Run (or resume) ``grid`` into ``out``. Returns a :class:`RunOutcome`, true when the
    whole grid is done and the outputs are assembled, false when only this shard's part
    was run. A grid whose outputs are already assembled runs nothing, and redraws only
    stale figures. ``figure_helper``: a helper process started earlier (the command
    line's), used and closed by the run. A grid with a ``[boundary]`` section is run by
    :func:`w2s_jax.execution.boundary_search.search` (``w2s_jax.run`` and the CLI
    choose)."""
    start = time.perf_counter()
    if grid.boundary is not None:
        raise RunError(f"{grid.source}: a [boundary] grid runs by boundary_search.search")
    out = run_state.open_directory(Path(out))
    helper = figure_helper
    try:
        with _locked(out, options):
            if options.force:
                run_state.clear_directory(out)
            run_plan.check_host_memory(grid, options)
            ids = grid.id_array()
            integrity.repair(out, ids, grid.seed)  # damaged chunks aside, manifest rebuilt
            state = run_state.read_state(out, grid, ids)
            storage.write_ids(out, ids)  # lets load_run read a partial or running directory
            if state.assembled:
                run_outputs.finish(out, options)
                return RunOutcome(True)
            run_state.check_versions(state)
            plan = run_plan.make_plan(grid, state, options)
            if helper is None and options.figures and distributed.is_coordinator():
                helper = FigureHelper.start()  # its imports overlap the run
            return _run(plan, out, options, helper, start)
    finally:
        if helper is not None:
            helper.close()


def _locked(out: Path, options: RunOptions):
    try:
        return run_lock.acquire(out, run_plan.process_shard(options.shard))
    except run_lock.Locked as error:
        raise RunError(str(error)) from None


def _run(plan: run_plan.RunPlan, out: Path, options: RunOptions, helper, start) -> RunOutcome:
    """Execute ``plan`` under the run's JAX settings, then write what is complete."""
    stored = plan.stored  # JAX's own cache only for programs the store cannot hold
    with (
        compile_cache.using(options.compile_cache, jax_cache=not stored) as cache,
        jax_settings.scoped(jax_settings.dtype_settings(_dtypes(plan.grid))),
    ):
        rss_at_start = memory.current_rss()
        made_under = provenance.record()  # the settings in force while the programs run
        progress = Progress(plan.pending, options.quiet)
        progress.message(plan.headline())
        timing = {"wall_seconds": 0.0, "compile_seconds": 0.0}
        timing["compile_cache"] = None if cache.directory is None else str(cache.directory)
        record = run_outputs.memory_record(plan, rss_at_start)
        entry = run_outputs.manifest(
            plan, "running", timing, len(plan.done), options.request, record, (), made_under
        )
        run_outputs.write_start(out, entry)
        if options.figures:
            _import_in_background("w2s_jax.analysis.figures")
        execution = run_execute.execute(plan, out, cache, progress)
    if not distributed.is_coordinator():
        return RunOutcome(False, execution.lost)  # process 0 assembles and writes
    compiles = execution.compiles
    timing["compile_seconds"] = sum(c.seconds for c in compiles)
    timing["compiles"] = len(compiles)
    timing["traces"] = sum(c.traces for c in compiles)
    timing["program_seconds"] = execution.program_seconds  # the chunks' compiled runs
    timing["compile_wait_seconds"] = execution.compile_wait_seconds  # compiles ahead of runs
    found = run_outputs.done_in(out, plan.grid)  # this run's chunks and the others'
    complete = found.complete
    results = None
    try:
        if complete:  # the curves go straight into out/curves, chunk by chunk
            assembling = time.perf_counter()
            results = run_outputs.assemble(plan.grid, found, options.thresholds, out)
            timing["assemble_seconds"] = time.perf_counter() - assembling
        timing["wall_seconds"] = time.perf_counter() - start
        status = "complete" if complete else "partial"
        record = run_outputs.memory_record(plan, rss_at_start)
        done = int(found.done.sum())
        entry = run_outputs.manifest(
            plan, status, timing, done, options.request, record, compiles, made_under
        )
        run_outputs.write_outputs(out, results, entry, options, helper)
    except BaseException:
        if results is not None and results.writer is not None:
            results.writer.discard()  # a no-op once the curves are in place
        raise
    return RunOutcome(complete, execution.lost)


def _dtypes(grid: Grid) -> list[dict]:
    return [{"run.dtype": dtype} for dtype in grid.columns.distinct("run.dtype")]


def _import_in_background(module: str) -> None:
    """Import ``module`` (matplotlib: ~0.5-1 s of Python) while the programs load and
    run outside Python's lock, instead of after them: on a warm run of a small grid,
    the imports are a good part of the wait."""
    threading.Thread(target=importlib.import_module, args=(module,), daemon=True).start()


def describe_grid(
    grid: Grid, options: RunOptions = RunOptions(), out: str | Path | None = None
) -> str:
    """The ``--dry-run`` report of an ordinary grid: the plan :func:`run_grid` would
    execute in ``out`` (None: an empty directory), read without writing (a
    ``[boundary]`` grid's: ``boundary_search.describe_search``)."""
    if out is not None and Path(out).is_dir() and not options.force:
        state = run_state.read_state(Path(out), grid, grid.id_array())
    else:
        state = run_state.RunState(Path(out or "."))
    run_plan.check_host_memory(grid, options)
    return run_plan.describe_plan(run_plan.make_plan(grid, state, options), options.compile_cache)
