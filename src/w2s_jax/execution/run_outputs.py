"""A run's last step: its results assembled in memory, and every output written.

:func:`assemble` puts the grid's results together in grid order from what the run
computed (in memory) and, for configurations done before or by other processes, their
chunk files. :func:`write_outputs` is the one place the final outputs are written:
``summary.csv``, ``curves.npz``, ``manifest.json``, then ``report.md`` and the figures,
drawn from the results in memory (not read back).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from w2s_jax.analysis import conditions, integrity, run_boundary, storage, tables
from w2s_jax.analysis.aliases import SCALED_KEYS
from w2s_jax.analysis.regimes import RegimeThresholds
from w2s_jax.analysis.summary import gather, summarize
from w2s_jax.execution import memory, planner, provenance
from w2s_jax.execution.grid import Grid
from w2s_jax.execution.run_plan import RunPlan
from w2s_jax.execution.run_state import jsonable, static_json


@dataclass(frozen=True)
class Results:
    """A grid's assembled results: ``summary.csv``'s ``columns`` (configs,), the
    evaluation ``steps (E,)`` and the ``curves`` name -> ``(configs, E)``."""

    columns: dict[str, np.ndarray]
    steps: np.ndarray
    curves: dict[str, np.ndarray]


def result_table(grid: Grid) -> dict[str, list]:
    """The leading columns of ``summary.csv``: swept keys, derived raw values, seed."""
    columns: dict[str, list] = {}
    for key in grid.axis_keys:
        columns[key] = grid.columns.column(key).tolist()
        raw = SCALED_KEYS.get(key)
        if raw:
            columns[raw] = grid.columns.column(raw).tolist()
    columns["seed"] = grid.columns.column("seed").tolist()
    return columns


def assemble(
    grid: Grid, records: dict[str, storage.ChunkRecord], thresholds: RegimeThresholds
) -> Results:
    """The results of ``grid``'s configurations from their ``records`` (every one
    present), in grid order; nothing is read or written."""
    ids = grid.ids()
    steps = planner.union_steps(grid.columns)
    curves, scalars = gather(records, ids, steps)
    final_steps = grid.columns.column("strong.steps")
    columns = {k: np.asarray(v) for k, v in result_table(grid).items()}
    columns.update(summarize(curves, scalars, steps, final_steps, thresholds))
    columns.update(conditions.columns(grid.configurations()))
    return Results(columns, steps, curves)


def all_records(
    out: Path, ids: tuple[str, ...], computed: dict[str, storage.ChunkRecord]
) -> dict[str, storage.ChunkRecord]:
    """The records of ``ids``: those ``computed`` by this run, the others (done before,
    or by other processes) from their chunk files (nothing read when there are none)."""
    missing = set(ids) - set(computed)
    return {**(storage.read_chunks(out, missing) if missing else {}), **computed}


def collect(out: Path, grid: Grid, thresholds: RegimeThresholds = RegimeThresholds()) -> Results:
    """The results of ``grid``'s (finished) configurations from the chunk files in
    ``out``; nothing is written (the boundary search reads its rounds so)."""
    return assemble(grid, storage.read_chunks(out, set(grid.ids())), thresholds)


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
        "fingerprint": storage.fingerprint(grid.ids()),
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
    """Write the run's outputs: ``summary.csv`` and ``curves.npz`` of the ``results``
    (None: the grid is not complete yet), the manifest ``entry``, then the report and
    the figures (``options.figures``; ``helper``: a process drawing half of them)."""
    if results is None:
        storage.write_manifest(out, entry)
        return
    summary = storage.write_summary(out / "summary.csv", results.columns)
    curves = storage.write_curves(out / "curves.npz", results.steps, results.curves)
    written = storage.write_manifest(out, entry)
    run = storage.RunResults(
        out, written, storage.summary_columns(summary), dict(results.curves), results.steps
    )
    finish(out, options, helper, run, storage.digest_of(summary, curves))


def finish(out: Path, options, helper=None, run=None, digest: str | None = None) -> None:
    """What follows a complete run: the report (``report.md``) and the figures, each
    only when the results changed. ``run``: the results as written (None: read them
    from ``out``), ``digest``: theirs (:func:`storage.results_digest`)."""
    tables.write_report(out, options.thresholds, run)
    run_boundary.write_boundary(out, run)  # boundary.json, measured once; the figures read it
    integrity.seal(out)  # [integrity] digests of the chunks and outputs in the manifest
    if options.figures:
        from w2s_jax.analysis import figures  # matplotlib only when figures are wanted

        figures.draw_if_changed(out, options.figure_formats, helper, run, digest)
