"""A run directory loaded back (NumPy only): :func:`load_run` reads a complete run's
``summary.csv`` and curves (``curves/*.npy`` memory-mapped: a curve is read from disk
when used), or a partial or still running one from its chunk files.

What is checked when a file is read (``docs/RUNNING.md``): a chunk against the SHA-256
recorded for it in the manifest's ``integrity`` entry (else its zip checksums and
layout), the outputs against theirs; a file that fails is a
:class:`~w2s_jax.analysis.run_files.DamagedFileError` naming it and what to do
(:mod:`w2s_jax.analysis.integrity` repairs what it can).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from w2s_jax.analysis import chunk_files, result_files, run_files, summary_file
from w2s_jax.analysis.run_files import DamagedFileError

REASSEMBLE = "run the same command again to rebuild it from the chunks (nothing is recomputed)"
RERUN_CHUNK = "run the same command again: it is set aside and its configurations run again"


@dataclass
class RunResults:
    """A finished run directory loaded back: ``summary`` columns (configs,), ``curves``
    ``(configs, E)`` arrays on ``steps (E,)`` (memory-mapped from ``curves/*.npy``), and
    the ``manifest``."""

    path: Path
    manifest: dict
    summary: dict[str, np.ndarray]
    curves: dict[str, np.ndarray]
    steps: np.ndarray
    extra: dict = field(default_factory=dict)

    @property
    def axes(self) -> dict[str, list]:
        """Swept parameters and their values, plus ``seed``, in grid order."""
        grid = self.manifest["grid"]
        axes = dict(grid["axes"])
        axes["seed"] = list(range(grid["seeds"]))
        return axes

    def __len__(self) -> int:
        return len(next(iter(self.summary.values())))

    def curve(self, name: str, **selection):
        """A curve as a labelled array over ``(axis..., seed, step)``; keyword arguments
        select along dimensions by any coordinate, e.g.
        ``run.curve("test_error", **{"strong.n": 2000}).mean("seed").values``."""
        from w2s_jax.analysis.results import labelled

        return labelled(self.curves[name], self.manifest["grid"], self.steps).sel(**selection)

    def column(self, name: str, **selection):
        """A ``summary.csv`` column as a labelled array over ``(axis..., seed)``."""
        from w2s_jax.analysis.results import labelled

        return labelled(self.summary[name], self.manifest["grid"]).sel(**selection)

    def to_pandas(self):
        """``summary.csv`` as a ``pandas.DataFrame`` (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install pandas") from None
        return pd.DataFrame(self.summary)

    def to_xarray(self):
        """Curves and summary as an ``xarray.Dataset`` (needs xarray); the curves stay
        memory-mapped (reshaped views of the files) until a value is used."""
        from w2s_jax.analysis.results import attributes, to_xarray

        grid = self.manifest["grid"]
        return to_xarray(self.summary, self.curves, self.steps, grid, attributes(self.manifest))


def load_run(directory: str | Path) -> RunResults:
    """Load ``manifest.json``, ``summary.csv`` and the curves of a run directory; a
    partial or still running one is read from its chunk files instead: every row of the
    grid, the summary blank (NaN) and ``done`` false where a configuration is not done
    yet (axis and seed columns only: no derived raw values). A damaged, missing or
    edited file raises :class:`DamagedFileError` naming it and what to do."""
    directory = Path(directory)
    manifest = run_files.read_manifest(directory)
    if manifest.get("status") != "complete":
        return _load_partial(directory, manifest)
    names = result_files.result_names(directory, manifest)
    if len(names) == 1:
        raise DamagedFileError(directory / result_files.CURVES, "missing", REASSEMBLE)
    for name in names:
        problem = result_files.output_problem(directory, manifest, name)
        if problem is not None:
            raise DamagedFileError(directory / name, problem, REASSEMBLE)
    summary_path = directory / "summary.csv"
    try:
        summary = summary_file.read_summary(summary_path)
    except (OSError, ValueError, IndexError) as error:
        raise DamagedFileError(summary_path, run_files.error_text(error), REASSEMBLE) from None
    try:
        steps, curves = result_files.read_curves(directory, names[1:])
    except Exception as error:  # damaged bytes raise whatever the reader meets
        where = directory / names[1]
        raise DamagedFileError(where, run_files.error_text(error), REASSEMBLE) from None
    rows = {len(v) for v in summary.values()} | {len(v) for v in curves.values()}
    shapes = {v.shape[1:] for v in curves.values()} | {(len(steps),)}
    if len(rows) > 1 or len(shapes) > 1:
        raise DamagedFileError(summary_path, "rows differ from the curves", REASSEMBLE)
    return RunResults(directory, manifest, summary, curves, steps)


def _load_partial(directory: Path, manifest: dict) -> RunResults:
    from w2s_jax.analysis.results import grid_rows
    from w2s_jax.analysis.summary import summarize_done

    ids = chunk_files.IdRows(run_files.read_ids(directory, manifest))
    recorded = run_files.recorded_digests(manifest, "chunks")
    chunks = []
    for path in chunk_files.chunk_paths(directory):
        data, problem = chunk_files.load_chunk(path, recorded.get(f"chunks/{path.name}"))
        if problem is not None:
            raise DamagedFileError(path, problem, RERUN_CHUNK)
        rows = ids.rows(data["ids"])
        if (rows >= 0).any():
            chunks.append((data, rows))
    own = [np.unique(data["steps"]) for data, _ in chunks]
    steps = np.unique(np.concatenate(own)) if own else np.zeros(0, np.int64)
    curves, scalars, done = _empty_results(chunks, len(ids), len(steps))
    final = np.full(len(ids), -1, np.int64)
    for data, rows in chunks:
        chunk_files.scatter_chunk(data, rows, steps, curves, scalars)
        last = data["steps"] if data["steps"].ndim == 2 else data["steps"][None, :]
        final[rows[rows >= 0]] = np.broadcast_to(last.max(axis=1), rows.shape)[rows >= 0]
        done[rows[rows >= 0]] = True
    summary = grid_rows(manifest["grid"])
    if done.any():
        summary.update(summarize_done(curves, scalars, steps, final, done))
    summary["done"] = done
    return RunResults(directory, manifest, summary, curves, steps)


def _empty_results(chunks: list, rows: int, points: int):
    """NaN curves and scalars of every name the ``chunks`` hold, and no row done."""
    names = lambda prefix: sorted(  # noqa: E731
        {k for data, _ in chunks for k in chunk_files.members(data, prefix)}
    )
    curve_names, scalar_names = names(chunk_files.CURVE_PREFIX), names(chunk_files.SCALAR_PREFIX)
    curves = {name: np.full((rows, points), np.nan) for name in curve_names}
    scalars = {name: np.full(rows, np.nan) for name in scalar_names}
    return curves, scalars, np.zeros(rows, bool)
