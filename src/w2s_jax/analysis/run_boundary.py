"""A run's boundary, measured once: ``DIR/boundary.json`` (NumPy only).

:func:`measure_boundary` arranges a saved run for the estimators of :mod:`.boundary`
and :func:`write_boundary` writes the result; a run calls it once at its end (and
``python -m w2s_jax.plot`` before drawing), and the figures read the file
(:func:`read_boundary`) instead of measuring again. What is measured, when
``strong.n`` is swept:

* against one other numeric axis: the crossing ``n*`` per ``x`` and the slope of
  ``log n*`` on ``log x`` (:func:`.boundary.boundary_report`) at the top level, with
  the theory's ``C`` fitted where the benign score's other parameters are fixed;
* against parameters of the benign score (``nu_norm`` or its alias, ``d``, ``sigma_p``,
  ``p_easy``/``p_hard``): their exponents fitted jointly over the cells
  (:func:`.boundary.joint_boundary`);
* both at every threshold of :data:`THRESHOLDS` (half and a quarter of the cell's mean
  weak error, and the theorem's harmful floor ``0.12 p_hard``) for the seed mean and the
  seed median, under ``"thresholds"``; the top level is the first (half the weak error,
  mean), as before these were added;
* with three or more axes, the plane the phase figures draw (the others at their first
  value) under ``"phase_plane"``;
* the finite-n law of the probability that a seed is benign (:mod:`.finite_n_law`, :mod:`.run_law`),
  under ``"finite_n_law"``, when the score is known per configuration.

The file records the digest of the ``summary.csv`` it was measured from and
:data:`VERSION`; :func:`read_boundary` returns it only while both match.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from w2s_jax.analysis import storage
from w2s_jax.analysis.boundary import (
    BOUNDARY_FRACTION,
    P_KEYS,
    STATISTICS,
    boundary_report,
    joint_boundary,
)
from w2s_jax.analysis.figure_plan import (
    Layout,
    all_numeric,
    nan_stats,
    phase_plane,
    plane_slice,
    score_parameters,
)
from w2s_jax.analysis.run_law import law_of_runs
from w2s_jax.analysis.storage import RunResults
from w2s_jax.analysis.theory import N_KEY, raw_parameters

BOUNDARY_FILE = "boundary.json"
VERSION = 2  # of the file's content: 1 had one threshold and no digest
HARMFUL_FLOOR = 0.12  # x p_hard: the theorem's lower bound on the harmful side's error


class Threshold(NamedTuple):
    """``value ×`` the cell's mean weak error (``of = "weak"``), ``value × p_hard``
    (``"p_hard"``), or ``value`` itself (``"absolute"``)."""

    of: str
    value: float

    @property
    def name(self) -> str:
        return {"weak": f"{self.value:g} x weak error", "p_hard": f"{self.value:g} x p_hard",
                "absolute": f"{self.value:g}"}[self.of]  # fmt: skip


THRESHOLDS = (Threshold("weak", BOUNDARY_FRACTION), Threshold("weak", 0.25),
              Threshold("p_hard", HARMFUL_FLOOR))  # fmt: skip


# ----------------------------------------------------------------- the run's cells


def regressors(raw: Mapping[str, NDArray]) -> dict[str, NDArray]:
    """The parameters of the boundary law that vary across configurations (``p_both``
    where ``p_easy`` or ``p_hard`` does)."""
    law = {k: raw[k] for k in ("data.nu_norm", "data.d", "data.sigma_p") if k in raw}
    if all(k in raw for k in P_KEYS):
        law["p_both"] = 1.0 - raw["data.p_easy"] - raw["data.p_hard"]
    return {k: v for k, v in law.items() if np.unique(v).size > 1}


class Cells(NamedTuple):
    """A run's summary as cells for :func:`.boundary.joint_boundary`: ``cell_x`` name ->
    ``(K,)``, ``n_values (N,)``, ``errors (K, N, S)``, the mean weak error ``weak (K,)``
    and ``p_hard (K,)`` (NaN where unknown)."""

    cell_x: dict[str, NDArray]
    n_values: NDArray
    errors: NDArray
    weak: NDArray
    p_hard: NDArray


def run_cells(
    summary: Mapping[str, NDArray], swept: list[str], fixed: Mapping[str, Any]
) -> Cells | None:
    """The cells (one value of every swept axis but ``strong.n`` and the seed); None
    when ``strong.n`` and no parameter of the boundary law are swept together."""
    if N_KEY not in swept:
        return None
    raw = raw_parameters(summary, fixed)
    law = regressors(raw)
    if not law:
        return None
    others = [k for k in swept if k not in (N_KEY, "seed")]
    keys = [tuple(np.asarray(summary[k])[i] for k in others) for i in range(len(summary[N_KEY]))]
    cell_of = {key: c for c, key in enumerate(dict.fromkeys(keys))}
    n_values = np.unique(np.asarray(summary[N_KEY], float))
    seeds = np.unique(summary["seed"])
    errors = np.full((len(cell_of), len(n_values), len(seeds)), np.nan)
    weak = np.full(len(cell_of), 0.0)
    count = np.zeros(len(cell_of))
    cell_x = {k: np.full(len(cell_of), np.nan) for k in law}
    p_hard = np.full(len(cell_of), np.nan)
    for row, key in enumerate(keys):
        c = cell_of[key]
        n = np.searchsorted(n_values, float(summary[N_KEY][row]))
        s = np.searchsorted(seeds, summary["seed"][row])
        errors[c, n, s] = summary["strong_test_error"][row]
        weak[c] += summary["weak_test_error"][row]
        count[c] += 1
        for k in law:
            cell_x[k][c] = law[k][row]
        if "data.p_hard" in raw:
            p_hard[c] = raw["data.p_hard"][row]
    return Cells(cell_x, n_values, errors, weak / np.maximum(count, 1), p_hard)


def cells_from_summary(
    summary: Mapping[str, NDArray], swept: list[str], fixed: Mapping[str, Any], fraction: float
) -> tuple[dict[str, NDArray], NDArray, NDArray, NDArray] | None:
    """:func:`run_cells` as the arguments of :func:`.boundary.joint_boundary`: ``(cell_x,
    n_values, errors (K, N, S), threshold (K,))``, the threshold ``fraction ×`` the
    cell's mean weak error."""
    cells = run_cells(summary, swept, fixed)
    if cells is None:
        return None
    return cells.cell_x, cells.n_values, cells.errors, fraction * cells.weak


def threshold_values(threshold: Threshold, weak: NDArray, p_hard: NDArray) -> NDArray:
    """The threshold per cell (or per ``x``): ``weak (K,)`` mean weak errors and
    ``p_hard (K,)``."""
    if threshold.of == "weak":
        return threshold.value * np.asarray(weak, float)
    if threshold.of == "p_hard":
        return threshold.value * np.asarray(p_hard, float)
    return np.full(np.shape(weak), float(threshold.value))


# ----------------------------------------------------------------- measuring


def plane_boundary(
    run: RunResults,
    layout: Layout,
    plane: tuple[int, int],
    threshold: Threshold = THRESHOLDS[0],
    statistic: str = "mean",
) -> dict | None:
    """:func:`.boundary.boundary_report` on the plane ``(x, strong.n)`` (the other axes
    at their first value), at ``threshold`` per ``x``; None where ``y`` is not
    ``strong.n``, ``x`` is not numeric or ``n`` has one value."""
    x, y = plane
    if layout.keys[y] != N_KEY or not all_numeric(layout.values[x]) or layout.shape[y] < 2:
        return None
    errors = plane_slice(layout, layout.cube(run.summary["strong_test_error"]), x, y)
    weak = plane_slice(layout, layout.cube(run.summary["weak_test_error"]), x, y)
    weak_mean = nan_stats(weak.reshape(len(weak), -1), axis=1)[0]
    p_hard = np.full(len(weak_mean), np.nan)
    fixed = layout.fixed.get("data.p_hard")
    if "data.p_hard" in layout.keys[x : x + 1]:
        p_hard = np.asarray(layout.values[x], float)
    elif isinstance(fixed, int | float):
        p_hard[:] = fixed
    values = threshold_values(threshold, weak_mean, p_hard)
    key = layout.keys[x]
    report = boundary_report(key, layout.values[x], layout.values[y], errors, values,
                             fixed=score_parameters(layout, key), statistic=statistic)  # fmt: skip
    if threshold.of == "weak":
        report["threshold_fraction"] = threshold.value
    return report


def cells_boundary(cells: Cells, threshold: Threshold, statistic: str = "mean") -> dict:
    """:func:`.boundary.joint_boundary` of the run's cells at ``threshold``."""
    values = threshold_values(threshold, cells.weak, cells.p_hard)
    return joint_boundary(cells.cell_x, cells.n_values, cells.errors, values,
                          statistic=statistic)  # fmt: skip


def measure_boundary(run: RunResults) -> dict | None:
    """The content of ``boundary.json`` (module docstring); None when the run has no
    boundary to measure (``strong.n`` not swept against a numeric axis or a parameter
    of the benign score)."""
    layout = Layout(run)
    grid = run.manifest["grid"]
    plane = phase_plane(layout)
    two_axes = len(layout.keys) == 2 and N_KEY in layout.keys
    cells = run_cells(run.summary, list(grid["axes"]), grid.get("parameters", {}))
    entries = []
    for threshold in THRESHOLDS:
        for statistic in STATISTICS:
            entry = plane_boundary(run, layout, plane, threshold, statistic) if two_axes else None
            if cells is not None and np.isfinite(threshold_values(threshold, cells.weak,
                                                                  cells.p_hard)).all():  # fmt: skip
                entry = {**(entry or {}), **cells_boundary(cells, threshold, statistic)}
            if entry is not None:
                entries.append({"rule": threshold.name, "statistic": statistic, **entry})
    drawn = plane_boundary(run, layout, plane) if plane is not None and not two_axes else None
    law = law_of_runs(run)
    if not entries and drawn is None and law is None:
        return None
    report = {}
    if entries:
        report = {k: v for k, v in entries[0].items() if k not in ("rule", "statistic")}
        report["threshold_fraction"] = BOUNDARY_FRACTION
        report["thresholds"] = entries
    if drawn is not None:
        report["phase_plane"] = drawn
    if law is not None:
        report["finite_n_law"] = law
    return {**report, "version": VERSION, "summary_digest": summary_digest(run.path)}


def summary_digest(directory: str | Path) -> str:
    return hashlib.sha256((Path(directory) / "summary.csv").read_bytes()).hexdigest()


def write_boundary(directory: str | Path, run: RunResults | None = None) -> dict | None:
    """Measure a finished run's boundary and write ``DIR/boundary.json`` (atomically),
    unless the file is already current (:func:`read_boundary`); returns the report, or
    None (writing nothing) where there is none to measure. ``run``: the directory's
    results when the caller holds them already."""
    current = read_boundary(directory)
    if current is not None:
        return current
    report = measure_boundary(run if run is not None else storage.load_run(directory))
    if report is not None:
        storage.write_json(Path(directory) / BOUNDARY_FILE, report)
    return report


def read_boundary(directory: str | Path) -> dict | None:
    """``DIR/boundary.json`` if it was measured from the present ``summary.csv`` by this
    version (:data:`VERSION`); None otherwise (absent, stale or unreadable)."""
    path = Path(directory) / BOUNDARY_FILE
    try:
        report = storage.read_json(path)
        current = report.get("summary_digest") == summary_digest(directory)
    except (OSError, ValueError):
        return None
    return report if current and report.get("version") == VERSION else None


def boundary_of(run: RunResults) -> dict | None:
    """The run's boundary: ``boundary.json`` when current, else measured now (in memory,
    nothing written: drawing a run never writes its boundary)."""
    return read_boundary(run.path) or measure_boundary(run)


def drawn_boundary(report: dict | None) -> dict | None:
    """The boundary on the plane the phase figures draw: the two-axis report, or
    ``"phase_plane"`` with three or more axes; None where there is none."""
    if report is None:
        return None
    if "phase_plane" in report:
        return report["phase_plane"]
    return report if "points" in report else None
