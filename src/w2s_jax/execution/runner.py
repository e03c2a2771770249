"""Running a grid into a directory: resume, shards, progress, assembly of the outputs.

:func:`run_grid` is what the CLI and the Python API call. It skips every configuration
whose chunk file exists, runs the rest chunk by chunk (each written atomically), and,
once every configuration of the grid is done, assembles ``summary.csv`` and
``curves.npz`` from the chunk files. Running the same grid again is therefore both the
resume and the merge of ``--shard`` parts.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from w2s_jax.analysis import conditions, integrity, run_boundary, storage, tables
from w2s_jax.analysis.aliases import SCALED_KEYS
from w2s_jax.analysis.figure_helper import FigureHelper
from w2s_jax.analysis.regimes import RegimeThresholds
from w2s_jax.analysis.summary import gather, summarize
from w2s_jax.execution import (
    compile_cache,
    distributed,
    engine,
    executable_store,
    jax_settings,
    memory,
    planner,
    provenance,
    run_lock,
)
from w2s_jax.execution.columns import ConfigurationList
from w2s_jax.execution.grid import Grid
from w2s_jax.execution.progress import Progress
from w2s_jax.simulation import config as cfg
from w2s_jax.simulation import cost_model
from w2s_jax.simulation.identity import stable_text


class RunError(RuntimeError):
    """A problem with the run directory or the request (exit code 2 in the CLI)."""


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


def _jsonable(value):
    """Parameters as JSON: NaN -> null, functions (user metrics, objects given instead of
    registry names) -> their module-qualified names."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if (
        callable(value)
        or isinstance(value, (tuple, list))
        and value
        and not isinstance(value[0], (int, float, str))
    ):
        return stable_text(value)
    return list(value) if isinstance(value, tuple) else value


def _device() -> dict:
    devices = jax.local_devices()
    return {
        "platform": devices[0].platform,
        "kind": devices[0].device_kind,
        "local_devices": len(devices),
        "processes": jax.process_count(),
    }


def check_compatible(out: Path, grid: Grid) -> None:
    """Refuse to mix results with an existing run whose fixed parameters differ."""
    path = out / "manifest.json"
    if not path.exists():
        return
    try:
        old = storage.read_json(path)["grid"]
    except (OSError, ValueError, KeyError):
        raise RunError(f"{path}: unreadable manifest; use --force to start over") from None
    if old.get("seed") != grid.seed:
        raise RunError(
            f"{out}: existing run has seed = {old.get('seed')}, this grid "
            f"{grid.seed}; use --force to start over in place"
        )
    new_fixed = {k: _jsonable(v) for k, v in grid.fixed.items()}
    for key, before in old.get("parameters", {}).items():
        if key in new_fixed and new_fixed[key] != before:
            raise RunError(
                f"{out}: fixed parameter {key!r} was {before!r} in the existing "
                f"run, now {new_fixed[key]!r}; use --force to start over in place"
            )


def check_versions(out: Path, ids: list[str], force: bool) -> None:
    """Refuse to resume with chunks made by another code or JAX version: their last
    bits may differ from what this one computes (docs/DESIGN.md, "Reproducibility")."""
    if force:
        return
    mine = provenance.stamp()
    for theirs in storage.chunk_stamps(out, set(ids)):
        if theirs != mine:
            made = ", ".join(f"{k} {v}" for k, v in theirs.items()) or "an unrecorded version"
            raise RunError(
                f"{out}: its chunks were made by {made}; this is "
                f"{', '.join(f'{k} {v}' for k, v in mine.items())}; resuming would mix "
                "results of two versions: use --force to start over (or another --out)"
            )


def _program_key(static: dict) -> str:
    """A program's static part as JSON, its compile mode and padding left out."""
    return json.dumps(
        {k: v for k, v in static.items() if k not in ("compile", "n_pad")}, sort_keys=True
    )


def recorded_programs(out: Path):
    """``static -> the program an earlier run in out put it in`` (None for others), for
    a configuration's own static part with ``compile="auto"``: a resumed or extended
    grid keeps each program's padding and compile mode, hence its results' last bits and
    its stored executable (see ``planner.plan``)."""
    programs: dict[tuple[str, int], tuple[int, str]] = {}
    try:
        for program in storage.read_json(out / "manifest.json").get("programs", []):
            static = program["static"]
            for n_pad in program.get("paddings", [static["n_pad"]]):
                programs[_program_key(static), n_pad] = (static["n_pad"], static["compile"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # no earlier run (or an unreadable one: check_compatible has spoken)

    def recorded(static: cfg.Static) -> cfg.Static | None:
        key = _program_key({k: _jsonable(v) for k, v in vars(static).items()})
        if (key, static.n_pad) not in programs:
            return None
        n_pad, mode = programs[key, static.n_pad]
        return dataclasses.replace(static, n_pad=n_pad, compile=mode)

    return recorded


def prepare_directory(out: Path, force: bool) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink(missing_ok=True)  # processes sharing DIR may probe at once
    except OSError as error:
        raise RunError(f"{out}: output directory is not writable ({error.strerror})") from None
    if force:
        for name in ("chunks", "figures"):
            shutil.rmtree(out / name, ignore_errors=True)
        for name in ("summary.csv", "curves.npz", "manifest.json", "boundary.json"):
            (out / name).unlink(missing_ok=True)


def manifest(
    grid: Grid,
    programs,
    status: str,
    timing: dict,
    done: int,
    options: RunOptions,
    memory_record: dict | None = None,
    records: tuple = (),
) -> dict:
    configs = grid.configurations()  # dicts built when read: images only
    grid_json = grid.to_json()
    grid_json["parameters"] = {k: _jsonable(v) for k, v in grid_json["parameters"].items()}
    from w2s_jax.simulation.images import manifest_entry

    image_banks = [] if grid.columns.synthetic else manifest_entry(configs)
    return {
        **({"images": image_banks} if image_banks else {}),
        "grid": grid_json,
        "source": grid.source,
        "fingerprint": storage.fingerprint(grid.ids()),
        "request": options.request,
        "configurations": len(configs),
        "completed": done,
        "status": status,
        "compile_cache": timing.get("compile_cache"),
        "programs": [
            {
                "static": {k: _jsonable(v) for k, v in vars(p.static).items()},
                "configurations": len(p.indices),
                "paddings": list(p.paddings) or [p.static.n_pad],
                "steps": p.steps,
                "bytes_per_configuration": p.cost.bytes,
                "flops_per_configuration": p.cost.flops,
                "compiles": [r.entry() for r in records if r.static == p.static],
            }
            for p in programs
        ],
        "dtype": sorted(grid.columns.distinct("run.dtype")),
        "matmul_precision": sorted(grid.columns.distinct("run.precision")),
        "device": _device(),
        "versions": provenance.dependency_versions(),
        "provenance": provenance.record(),
        "timing": timing,
        **({"memory": memory_record} if memory_record is not None else {}),
    }


def memory_record(budget: memory.Budget, work, rss_at_start: float | None) -> dict:
    """The manifest's ``memory``: the budget, its source, the planner's bytes in flight
    per program (chunk x estimate) and the process's measured resident memory."""
    return {
        "budget_bytes": budget.bytes,
        "budget_source": budget.source,
        "in_flight_bytes": [w.chunk * w.program.cost.bytes for w in work],
        "rss_at_start_bytes": rss_at_start,
        "peak_rss_bytes": memory.peak_rss(),
    }


def auto_shard(shard: tuple[int, int] | None) -> tuple[int, int] | None:
    """Under ``jax.distributed`` each process takes its share automatically."""
    if shard is None and jax.process_count() > 1:
        return jax.process_index(), jax.process_count()
    return shard


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
    out = Path(out)
    if grid.boundary is not None:
        raise RunError(f"{grid.source}: a [boundary] grid runs by boundary_search.search")
    prepare_directory(out, force=False)
    try:
        lock = run_lock.acquire(out, auto_shard(options.shard))
    except run_lock.Locked as error:
        raise RunError(str(error)) from None
    with lock:
        return _run_grid_locked(grid, out, options, figure_helper)


def _run_grid_locked(
    grid: Grid, out: Path, options: RunOptions, figure_helper: FigureHelper | None
) -> RunOutcome:
    start = time.perf_counter()
    prepare_directory(out, options.force)
    check_host_memory(grid, options)
    configs = grid.configurations()
    ids = grid.ids()
    integrity.repair(out, ids, grid.seed)  # [integrity] damaged chunks aside, manifest rebuilt
    check_compatible(out, grid)
    storage.write_ids(out, ids)  # lets load_run read a partial or running directory
    done = storage.completed_ids(out) & set(ids)
    if len(done) == len(ids) and storage.assembled(out, storage.fingerprint(ids)):
        if figure_helper is not None:
            figure_helper.close()
        finish(out, options)
        return RunOutcome(True)
    check_versions(out, ids, options.force)
    programs = planner.plan(grid.columns, recorded_programs(out))
    # JAX's own cache only for programs the executable store cannot hold (user code).
    stored = all(executable_store.storable(p.static) for p in programs)
    helper = figure_helper or _figure_helper(options)
    try:
        with (
            compile_cache.using(options.compile_cache, jax_cache=not stored) as cache,
            jax_settings.scoped(jax_settings.dtype_settings(_dtypes(grid))),
        ):
            return _run_pending(
                grid, out, options, configs, ids, done, cache, start, programs, helper
            )
    finally:
        if helper is not None:
            helper.close()


def check_host_memory(grid: Grid, options: RunOptions) -> None:
    """Refuse, before planning, a grid whose plan and results do not fit the host."""
    max_memory = options.max_memory_gb * 1e9 if options.max_memory_gb else None
    need = planner.host_need(grid.columns, auto_shard(options.shard))
    try:
        memory.check_host(need, memory.host_budget(max_memory))
    except memory.DoesNotFit as error:
        raise RunError(f"{grid.source}: {error}") from None


def _dtypes(grid: Grid) -> list[dict]:
    return [{"run.dtype": dtype} for dtype in grid.columns.distinct("run.dtype")]


def _figure_helper(options: RunOptions) -> FigureHelper | None:
    """A process that draws half of the figures at the end, started now so that its
    imports overlap the run; only where figures are drawn."""
    if not options.figures or not distributed.is_coordinator():
        return None
    return FigureHelper.start()


def _run_pending(
    grid, out, options, configs, ids, done, cache, start, programs, helper
) -> RunOutcome:
    """The part of a run that compiles and computes (under the run's JAX settings)."""
    shard = auto_shard(options.shard)
    max_memory = options.max_memory_gb * 1e9 if options.max_memory_gb else None
    rss_at_start, budget = memory.current_rss(), memory.budget(max_memory)
    try:
        work = planner.schedule(programs, done, ids, shard, options.chunk_size, max_memory, budget)
    except memory.DoesNotFit as error:
        raise RunError(str(error)) from None
    pending = sum(len(w.pending) for w in work)
    progress = Progress(pending, options.quiet)
    progress.message(
        f"{grid.name}: {len(configs)} configurations in {len(programs)} "
        f"program(s); {len(done)} already done, {pending} to run"
        + (f" (shard {shard[0]}/{shard[1]})" if shard else "")
    )
    compiler = engine.Compiler(cache)
    timing = {
        "wall_seconds": 0.0,
        "compile_seconds": 0.0,
        "compile_cache": _text(cache.directory),
    }

    def write_manifest(status: str, count: int) -> None:
        record = memory_record(budget, work, rss_at_start)
        entry = manifest(grid, programs, status, timing, count, options, record, compiler.records)
        storage.write_manifest(out, entry)  # [integrity] keeps the chunks' digests

    write_manifest("running", len(done))
    if options.figures:
        _import_in_background("w2s_jax.analysis.figures")
    run_work(work, configs, grid.seed, out, progress, compiler, parallel_compiles(budget, work))
    lost = tuple(distributed.wait_for_shares())  # every process's share (no-op alone)
    if not distributed.is_coordinator():
        return RunOutcome(False, lost)  # process 0 assembles and writes the manifest
    records = compiler.records
    timing["compile_seconds"] = sum(r.seconds for r in records)
    timing["compiles"] = len(records)
    timing["traces"] = sum(r.traces for r in records)
    done = storage.completed_ids(out) & set(ids)
    complete = len(done) == len(ids)
    if complete:
        assemble(out, grid, options.thresholds)
    timing["wall_seconds"] = time.perf_counter() - start
    write_manifest("complete" if complete else "partial", len(done))
    if complete:
        finish(out, options, helper)
    return RunOutcome(complete, lost)


def _import_in_background(module: str) -> None:
    """Import ``module`` (matplotlib: ~0.5-1 s of Python) while the programs load and
    run outside Python's lock, instead of after them: on a warm run of a small grid,
    the imports are a good part of the wait."""
    threading.Thread(target=importlib.import_module, args=(module,), daemon=True).start()


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def parallel_compiles(budget: memory.Budget, work: list) -> int:
    """How many programs may compile at once: one per core, as far as the memory budget
    holds XLA's compiler (``memory.COMPILER_BYTES`` each, one already reserved) beside
    the largest chunk in flight."""
    items = [w for w in work if len(w.pending)]
    in_flight = max((w.chunk * w.program.cost.bytes for w in items), default=0.0)
    spare = budget.bytes - budget.reserved - in_flight
    extra = int(max(spare, 0.0) // memory.COMPILER_BYTES)
    return max(1, min(len(items), os.cpu_count() or 1, 1 + extra))


def run_work(
    work: list,
    configs: list[dict],
    base_seed: int,
    out: Path,
    progress,
    compiler: engine.Compiler,
    parallel: int = 1,
) -> None:
    """Run every chunk of ``work`` and save it. Each program's first chunk is compiled
    ahead, ``parallel`` at a time, in parallel with the running of the programs before it
    (XLA compiles outside Python's lock): on a grid of several programs the compiles
    overlap each other and the runs. The program with the most work goes first, so that
    its long run overlaps the others' compiles instead of following them (results do not
    depend on the order: chunks are saved by configuration and assembled in grid order)."""
    prepare = lambda item, chunk: engine.prepare_chunk(  # noqa: E731
        item.program.static, [configs[i] for i in chunk], base_seed, item.chunk
    )
    stamp = provenance.stamp()
    items = sorted(
        (item for item in work if len(item.pending)),
        key=lambda item: -len(item.pending) * item.program.cost.flops,
    )
    pool = ThreadPoolExecutor(max_workers=parallel)

    def compile_and_say(k: int, prepared: engine.PreparedChunk) -> None:
        # Say when a program is ready: on a first run compiling is most of the wait.
        record = compiler.compile(prepared)[1]
        if record is not None:
            how = "loaded from the compilation cache" if record.from_cache else "compiled"
            progress.message(
                f"program {k + 1}/{len(items)} {how} in {record.seconds:.1f} s: "
                f"{items[k].program.label}"
            )

    try:
        ahead = [prepare(item, item.chunks[0]) for item in items]
        futures = [pool.submit(compile_and_say, k, prepared) for k, prepared in enumerate(ahead)]
        for item, first, future in zip(items, ahead, futures):
            future.result()
            progress.set_steps_per_config(item.program.steps)
            for k, chunk in enumerate(item.chunks):
                result = engine.run_prepared(first if k == 0 else prepare(item, chunk), compiler)
                storage.write_chunk(
                    out, result.ids, result.steps, result.curves, result.scalars, stamp, base_seed
                )
                progress.update(len(chunk))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def finish(out: Path, options: RunOptions, helper=None) -> None:
    """What follows a complete run: the report (``report.md``) and the figures, each
    only when the results changed (``helper``: a process drawing half of them)."""
    tables.write_report(out, options.thresholds)
    run_boundary.write_boundary(out)  # boundary.json, measured once; the figures read it
    integrity.seal(out)  # [integrity] digests of the chunks and outputs in the manifest
    if options.figures:
        from w2s_jax.analysis import figures  # matplotlib only when figures are wanted

        figures.draw_if_changed(out, options.figure_formats, helper)


def result_table(grid: Grid, configs: list[dict]) -> dict[str, list]:
    """The leading columns of ``summary.csv``: swept keys, derived raw values, seed."""
    columns: dict[str, list] = {}
    for key in grid.axis_keys:
        columns[key] = grid.columns.column(key).tolist()
        raw = SCALED_KEYS.get(key)
        if raw:
            columns[raw] = grid.columns.column(raw).tolist()
    columns["seed"] = grid.columns.column("seed").tolist()
    return columns


def assemble(out: Path, grid: Grid, thresholds: RegimeThresholds) -> None:
    """Build ``summary.csv`` and ``curves.npz`` from the chunk files, in grid order."""
    columns, steps, curves = collect(out, grid, thresholds)
    storage.write_summary(out / "summary.csv", columns)
    storage.write_curves(out / "curves.npz", steps, curves)


def collect(
    out: Path, grid: Grid, thresholds: RegimeThresholds = RegimeThresholds()
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    """The columns of ``summary.csv``, the steps and the curves of ``grid``'s (finished)
    configurations, read from the chunk files in grid order; nothing is written."""
    configs = grid.configurations()
    ids = grid.ids()
    records = storage.read_chunks(out, set(ids))
    steps = planner.union_steps(grid.columns)
    curves, scalars = gather(records, ids, steps)
    final_steps = grid.columns.column("strong.steps")
    columns = {k: np.asarray(v) for k, v in result_table(grid, configs).items()}
    columns.update(summarize(curves, scalars, steps, final_steps, thresholds))
    columns.update(conditions.columns(configs))
    return columns, steps, curves


def describe(grid: Grid, options: RunOptions = RunOptions()) -> str:
    """The ``--dry-run`` report of an ordinary grid: programs, padding, chunking,
    memory, FLOPs, time (a ``[boundary]`` grid's: ``boundary_search.describe``)."""
    columns = grid.columns
    check_host_memory(grid, options)
    programs = planner.plan(columns)
    max_memory = options.max_memory_gb * 1e9 if options.max_memory_gb else None
    budget = memory.budget(max_memory)
    try:
        work = planner.schedule(
            programs, set(), None, auto_shard(options.shard), options.chunk_size, max_memory, budget
        )
    except memory.DoesNotFit as error:
        raise RunError(str(error)) from None
    rate = planner.measured_flop_rate()
    lines = [
        f"grid {grid.name!r}: {columns.size} configurations, {len(programs)} program(s) "
        f"to compile; devices: {jax.local_device_count()} x {jax.local_devices()[0].device_kind}"
    ]
    total_flops = 0.0
    strong_n = columns.column("strong.n")
    for item in work:
        program = item.program
        real = float(strong_n[item.pending].sum())
        padded = program.static.n_pad * len(item.pending)
        waste = 1 - real / padded if padded else 0.0
        chunks = item.chunk_count
        chunk_waste = (chunks * item.chunk - len(item.pending)) / max(chunks * item.chunk, 1)
        flops = program.cost.flops * chunks * item.chunk
        total_flops += flops
        lines.append(
            f"  program [{program.label}]: {len(item.pending)} configurations, "
            f"n padding waste {100 * waste:.0f}%, chunk {item.chunk} x {chunks} "
            f"(last-chunk waste {100 * chunk_waste:.0f}%), "
            f"{program.cost.bytes / 1e6:.3g} MB/configuration, "
            f"{program.cost.flops:.3g} FLOP/configuration, "
            f"{item.chunk * program.cost.bytes / 1e9:.3g} GB in flight on "
            f"{planner.devices_for(item.chunk)} device(s)"
        )
    seconds = total_flops / rate
    lines.append(f"memory budget {budget.describe()}")
    if grid.seeds > 1:  # the conditions do not read the seed: counted per point
        lines.append(f"(the theorem's conditions per point of the axes, {grid.seeds} seeds each)")
    lines.append(conditions.describe(ConfigurationList(columns.without_seeds())))
    lines.append(compile_plan(work, budget, options))
    lines.append(
        f"total {total_flops:.3g} FLOP; at the measured {rate / 1e9:.3g} GFLOP/s "
        f"(x{planner.EFFICIENCY} efficiency) about {seconds / 60:.3g} min, plus compiling"
    )
    return "\n".join(lines)


# Seconds to compile one program on a 2-core CPU (measured on the sweep programs of
# benchmarks/time_to_result.py): XLA fast / full, and loading a stored executable.
COMPILE_SECONDS = {**cost_model.COMPILE_SECONDS, "cached": 1.0}


def compile_plan(work: list, budget: memory.Budget, options: RunOptions) -> str:
    """``--dry-run``'s compile plan: how many programs compile fast or fully, how many
    at once, and the rough cold and warm (cached) cost."""
    items = [w for w in work if len(w.pending)]
    modes = [w.program.static.compile for w in items]
    parallel = parallel_compiles(budget, items)
    cold = sum(COMPILE_SECONDS[m] for m in modes) / parallel
    warm = COMPILE_SECONDS["cached"] * len(modes)
    cache = "off" if options.compile_cache == "off" else "on"
    return (
        f"compile plan: {modes.count('fast')} fast + {modes.count('full')} full program(s), "
        f"{parallel} at a time; about {cold:.0f} s cold, {warm:.0f} s from the cache "
        f"(compilation cache {cache})"
    )
