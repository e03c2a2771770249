"""A run's last step: its results assembled in memory, and every output written.

:func:`assemble` puts the grid's results together in grid order from the chunk files,
one chunk at a time, writing the curves straight into the preallocated files of
``curves/`` (no curve is held twice, nor a record per configuration).
:func:`write_outputs` is the one place the final outputs are written:
``summary.csv``, ``curves/``, ``manifest.json``, then ``report.md`` and the figures,
drawn from the results as assembled (the curves mapped from their files).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import jax
import numpy as np

from w2s_jax.analysis import conditions, integrity, run_boundary, storage, tables
from w2s_jax.analysis.aliases import SCALED_KEYS
from w2s_jax.analysis.regimes import RegimeThresholds
from w2s_jax.analysis.summary import summarize
from w2s_jax.execution import memory, planner, provenance
from w2s_jax.execution.columns import ConfigurationList
from w2s_jax.execution.grid import Grid
from w2s_jax.execution.run_plan import RunPlan
from w2s_jax.execution.run_state import jsonable, static_json


@dataclass(frozen=True)
class Results:
    """A grid's assembled results: ``summary.csv``'s ``columns`` (configs,), the
    evaluation ``steps (E,)`` and the ``curves`` name -> ``(configs, E)``; ``writer``:
    the run directory's ``curves/`` being written, which ``curves`` are mapped onto
    (None: they are in memory); ``digests``: the SHA-256 of the files assembly read
    whole (the chunks) or holds (``ids.txt``), so that sealing the run reads none again."""

    columns: dict[str, np.ndarray]
    steps: np.ndarray
    curves: dict[str, np.ndarray]
    writer: storage.CurveWriter | None = None
    digests: dict[str, str] = field(default_factory=dict)


def result_table(grid: Grid) -> dict[str, np.ndarray]:
    """The leading columns of ``summary.csv``: swept keys, derived raw values, seed."""
    columns: dict[str, np.ndarray] = {}
    for key in grid.axis_keys:
        columns[key] = grid.columns.column(key)
        raw = SCALED_KEYS.get(key)
        if raw:
            columns[raw] = grid.columns.column(raw)
    columns["seed"] = grid.columns.column("seed")
    return columns


@dataclass(frozen=True)
class Done:
    """The chunk files holding a grid's configurations: each ``(entry, rows)`` (its
    listing and each of its configurations' row in the grid, -1: not this grid's), and
    which rows are ``done``."""

    chunks: tuple[tuple[storage.ChunkEntry, np.ndarray], ...]
    done: np.ndarray

    @property
    def complete(self) -> bool:
        return bool(self.done.all())


def done_in(out: Path, grid: Grid) -> Done:
    """Which of ``grid``'s configurations the chunk files in ``out`` hold (their ids and
    names read, not their curves)."""
    where = storage.IdRows(grid.id_array())
    chunks, done = [], np.zeros(len(where), bool)
    for entry in storage.chunk_listing(out):
        rows = where.rows(entry.ids)
        if (rows >= 0).any():
            chunks.append((entry, rows))
            done[rows[rows >= 0]] = True
    return Done(tuple(chunks), done)


def assemble(
    grid: Grid, found: Done, thresholds: RegimeThresholds, out: Path | None = None
) -> Results:
    """The results of ``grid``'s configurations (every one done) in grid order, read
    chunk by chunk from their files (``found``); the curves go straight into the files
    of ``out/curves`` (None: into memory). Nothing else is written."""
    steps = planner.union_steps(grid.columns)
    size = grid.columns.size
    names = sorted({name for entry, _ in found.chunks for name in entry.curves})
    writer = storage.CurveWriter(out, steps, names, size) if out is not None else None
    try:
        curves = (
            writer.curves
            if writer is not None
            else {name: np.full((size, len(steps)), np.nan) for name in names}
        )
        scalars: dict[str, np.ndarray] = {}
        digests: dict[str, str] = {}
        if out is not None:  # ids.txt as the run wrote it (storage.write_ids)
            ids = storage.ids_text(grid.id_array())
            digests[storage.IDS_FILE] = hashlib.sha256(ids).hexdigest()
        for entry, rows in found.chunks:
            data, problem = storage.load_chunk(entry.path, digests=digests)
            if problem is not None:
                raise storage.DamagedFileError(entry.path, problem, storage.RERUN_CHUNK)
            for name in storage.members(data, storage.SCALAR_PREFIX):
                scalars.setdefault(name, np.full(size, np.nan))
            storage.scatter_chunk(data, rows, steps, curves, scalars)
        scalars = dict(sorted(scalars.items()))
        final_steps = grid.columns.column("strong.steps")
        columns = dict(result_table(grid))
        columns.update(summarize(curves, scalars, steps, final_steps, thresholds))
        columns.update(theorem_columns(grid))
    except BaseException:
        if writer is not None:
            writer.discard()
        raise
    return Results(columns, steps, curves, writer, digests)


def theorem_columns(grid: Grid) -> dict[str, np.ndarray]:
    """The theorem's conditions per configuration: computed once per point of the axes
    (they do not read the seed) and repeated over the seeds, innermost."""
    seeds = grid.columns.sizes[-1]
    once = conditions.columns(ConfigurationList(grid.columns.without_seeds()))
    return {name: np.repeat(values, seeds) for name, values in once.items()}


def collect(out: Path, grid: Grid, thresholds: RegimeThresholds = RegimeThresholds()) -> Results:
    """The results of ``grid``'s (finished) configurations from the chunk files in
    ``out``, in memory; nothing is written (the boundary search reads its rounds so)."""
    return assemble(grid, done_in(out, grid), thresholds)


def manifest(
    plan: RunPlan,
    status: str,
    timing: dict,
    done: int,
    request: dict | None,
    memory_record: dict | None = None,
    compiles: tuple = (),
    made_under: dict | None = None,
) -> dict:
    """``manifest.json``: the grid, its programs and their compiles, versions, timing.
    ``made_under``: the provenance recorded while the run's JAX settings were in force
    (default: now)."""
    from w2s_jax.simulation.images import manifest_entry

    grid, configs = plan.grid, plan.configs  # dicts built when read: images only
    grid_json = grid.to_json()
    grid_json["parameters"] = {k: jsonable(v) for k, v in grid_json["parameters"].items()}
    image_banks = [] if grid.columns.synthetic else manifest_entry(configs)
    return {
        **({"images": image_banks} if image_banks else {}),
        "grid": grid_json,
        "source": grid.source,
        "fingerprint": storage.fingerprint(grid.id_array()),
        "request": request,
        "configurations": len(configs),
        "completed": done,
        "status": status,
        "compile_cache": timing.get("compile_cache"),
        "programs": [
            {
                "static": static_json(p.static),
                "configurations": len(p.indices),
                "paddings": list(p.paddings) or [p.static.n_pad],
                "steps": p.steps,
                "bytes_per_configuration": p.cost.bytes,
                "flops_per_configuration": p.cost.flops,
                "compiles": [r.entry() for r in compiles if r.static == p.static],
            }
            for p in plan.programs
        ],
        "dtype": sorted(grid.columns.distinct("run.dtype")),
        "matmul_precision": sorted(grid.columns.distinct("run.precision")),
        "device": _device(),
        "versions": provenance.dependency_versions(),
        "provenance": made_under or provenance.record(),
        "timing": timing,
        **({"memory": memory_record} if memory_record is not None else {}),
    }


def _device() -> dict:
    devices = jax.local_devices()
    return {
        "platform": devices[0].platform,
        "kind": devices[0].device_kind,
        "local_devices": len(devices),
        "processes": jax.process_count(),
    }


def memory_record(plan: RunPlan, rss_at_start: float | None) -> dict:
    """The manifest's ``memory``: the budget, its source, the planner's bytes in flight
    per program (chunk x estimate) and the process's measured resident memory."""
    return {
        "budget_bytes": plan.budget.bytes,
        "budget_source": plan.budget.source,
        "in_flight_bytes": [w.chunk * w.program.cost.bytes for w in plan.work],
        "rss_at_start_bytes": rss_at_start,
        "peak_rss_bytes": memory.peak_rss(),
    }


def write_start(out: Path, entry: dict) -> None:
    """Before running: a running manifest (``entry``), so that ``load_run`` reads a
    partial or running directory (with ``ids.txt``, written when the state was read)."""
    storage.write_manifest(out, entry)  # [integrity] keeps the chunks' digests


def write_outputs(out: Path, results: Results | None, entry: dict, options, helper=None) -> None:
    """Write the run's outputs: ``summary.csv`` and ``curves/`` of the ``results``
    (None: the grid is not complete yet), the manifest ``entry``, then the report and
    the figures (``options.figures``; ``helper``: a process drawing half of them)."""
    if results is None:
        storage.write_manifest(out, entry)
        return
    digests = dict(results.digests)  # each file hashed once, as written: none read back
    try:
        summary = storage.write_summary(out / "summary.csv", results.columns, digests)
    except BaseException:
        if results.writer is not None:
            results.writer.discard()
        raise
    if results.writer is not None:
        curves = results.writer.commit()  # mapped from the files, not held in memory
        digests.update(results.writer.digests)
    else:
        digests.update(storage.write_curves(out, results.steps, results.curves))
        curves = dict(results.curves)
    written = storage.write_manifest(out, entry)
    run = storage.RunResults(out, written, summary, curves, results.steps)
    finish(out, options, helper, run, digests)


def finish(out: Path, options, helper=None, run=None, digests: dict | None = None) -> None:
    """What follows a complete run: the report (``report.md``) and the figures, each
    only when the results changed. ``run``: the results as written (None: read them
    from ``out``), ``digests``: the SHA-256 of the files this process wrote or read
    whole (None: every file is read to seal the run and stamp its figures)."""
    report = tables.write_report(out, options.thresholds, run)
    run_boundary.write_boundary(out, run)  # boundary.json, measured once; the figures read it
    if digests is not None:
        digests = {**digests, "report.md": hashlib.sha256(report.encode() + b"\n").hexdigest()}
    integrity.seal(out, digests)  # [integrity] digests of the chunks and outputs in the manifest
    if options.figures:
        from w2s_jax.analysis import figures  # matplotlib only when figures are wanted

        digest = storage.results_digest_of(digests) if digests is not None else None
        figures.draw_if_changed(out, options.figure_formats, helper, run, digest)
