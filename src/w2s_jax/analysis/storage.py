"""Run directories (NumPy only): the one name the rest of the package reads them by.

Layout of ``DIR``::

    manifest.json         resolved grid, versions, device, timings, progress, digests
    ids.txt               the grid's configuration ids in grid order, one a line
    chunks/<digest>.npz   one finished chunk: configuration ids, steps, curves, scalars
    summary.csv           one row per configuration, in grid order
    curves/steps.npy      the evaluation steps (E,)
    curves/<name>.npy     one (configs, E) float64 array per curve, memory-mapped when read
    report.md, boundary.json, figures/

A run made before ``curves/`` existed holds ``curves.npz`` instead (steps and every
curve); it loads, resumes and extends as it is, and its next assembly writes
``curves/``. The work is split by job: :mod:`~w2s_jax.analysis.run_files` (atomic
writes, the manifest, ids, digests), :mod:`~w2s_jax.analysis.chunk_files` (the chunks),
:mod:`~w2s_jax.analysis.summary_file` (``summary.csv``),
:mod:`~w2s_jax.analysis.result_files` (the curves, what is complete and current) and
:mod:`~w2s_jax.analysis.run_loading` (``load_run``).
"""

from __future__ import annotations

from w2s_jax.analysis.chunk_files import (
    CURVE_PREFIX,
    GRID_SEED,
    SCALAR_PREFIX,
    STAMP_PREFIX,
    ChunkEntry,
    ChunkRecord,
    IdRows,
    chunk_index,
    chunk_listing,
    chunk_paths,
    chunk_records,
    chunk_stamps,
    completed_ids,
    distinct_stamps,
    load_chunk,
    members,
    read_chunks,
    scatter_chunk,
    unique_steps,
    write_chunk,
)
from w2s_jax.analysis.result_files import (
    CURVES,
    FIGURE_FORMATS,
    FIGURES_STAMP,
    LEGACY_CURVES,
    CurveWriter,
    assembled,
    curve_files,
    figures_current,
    figures_stamp,
    output_names,
    output_problem,
    read_curves,
    record_figures,
    result_names,
    results_digest,
    results_digest_of,
    up_to_date,
    write_curves,
)
from w2s_jax.analysis.run_files import (
    IDS_FILE,
    REBUILD,
    DamagedFileError,
    atomic_write,
    file_digest,
    fingerprint,
    ids_text,
    manifest_problem,
    read_ids,
    read_json,
    read_manifest,
    recorded_digests,
    write_ids,
    write_json,
    write_manifest,
)
from w2s_jax.analysis.run_loading import REASSEMBLE, RERUN_CHUNK, RunResults, load_run
from w2s_jax.analysis.summary_file import read_summary, summary_columns, write_summary

__all__ = [
    "CURVES", "CURVE_PREFIX", "FIGURES_STAMP", "FIGURE_FORMATS", "GRID_SEED", "IDS_FILE",
    "LEGACY_CURVES", "REASSEMBLE", "REBUILD", "RERUN_CHUNK", "SCALAR_PREFIX", "STAMP_PREFIX",
    "ChunkEntry", "ChunkRecord", "CurveWriter", "DamagedFileError", "IdRows", "RunResults",
    "assembled", "atomic_write", "chunk_index", "chunk_listing", "chunk_paths",
    "chunk_records", "chunk_stamps", "completed_ids", "curve_files", "distinct_stamps",
    "figures_current", "figures_stamp", "file_digest", "fingerprint", "ids_text", "load_chunk",
    "load_run", "manifest_problem", "members", "output_names", "output_problem", "read_chunks",
    "read_curves", "read_ids", "read_json", "read_manifest", "read_summary",
    "record_figures", "recorded_digests", "result_names", "results_digest", "results_digest_of",
    "scatter_chunk", "summary_columns", "unique_steps", "up_to_date", "write_chunk",
    "write_curves", "write_ids", "write_json", "write_manifest", "write_summary",
]  # fmt: skip
