"""The boundary law measured: ``log n* = Σ_k a_k log x_k + c`` fitted jointly (NumPy only).

The data-scarce theorem puts the benign/harmful boundary at ``B = n · p_both² ·
nu_norm⁴ / (sigma_p⁴ · d) = C`` (docs/MODEL.md, "Theory"), i.e. the critical sample
size ``n* = C · sigma_p⁴ · d / (p_both² · nu_norm⁴)``: exponents −4 for ``nu_norm``, +1
for ``d``, +4 for ``sigma_p`` and −2 for ``p_both = 1 − p_easy − p_hard``.

A grid that sweeps ``strong.n`` against any of those parameters is cut into *cells*
(one value of every other swept axis); in each cell the seed-mean final error falls
below a threshold at a measured ``n*`` (:func:`w2s_jax.theory.crossing_points`), and
``log n*`` is regressed on the logs of the cell's parameters by least squares. The CIs
come from refitting every bootstrap replicate of the crossings (seeds resampled with
replacement, one draw shared by all cells: configurations of a seed are paired).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from w2s_jax.theory import N_KEY, _json_float, _percentile_ci, crossing_points

THEORY_EXPONENTS = {"data.nu_norm": -4.0, "data.d": 1.0, "data.sigma_p": 4.0, "p_both": -2.0}
P_KEYS = ("data.p_easy", "data.p_hard")


def raw_parameters(columns: Mapping[str, NDArray], fixed: Mapping[str, Any]) -> dict:
    """Per configuration, the raw ``data.nu_norm, data.d, data.sigma_p, data.p_easy,
    data.p_hard``: from ``summary.csv`` where swept (a theory-normalised alias has its
    raw column there), else the fixed value (a fixed alias converted at each ``d``)."""
    rows = len(columns[N_KEY])
    value = lambda k: np.asarray(columns[k], float) if k in columns else fixed.get(k)  # noqa: E731
    raw = {k: value(k) for k in ("data.d", "data.sigma_p", "data.p_easy", "data.p_hard")}
    raw["data.nu_norm"] = value("data.nu_norm")
    if raw["data.nu_norm"] is None and fixed.get("data.nu_norm_scaled") is not None:
        raw["data.nu_norm"] = (
            fixed["data.nu_norm_scaled"] * raw["data.sigma_p"] * raw["data.d"] ** 0.25
        )
    return {
        k: np.broadcast_to(np.asarray(v, float), (rows,)) for k, v in raw.items() if v is not None
    }


def regressors(raw: Mapping[str, NDArray]) -> dict[str, NDArray]:
    """The parameters of the boundary law that vary across configurations (``p_both``
    where ``p_easy`` or ``p_hard`` does)."""
    law = {k: raw[k] for k in ("data.nu_norm", "data.d", "data.sigma_p") if k in raw}
    if all(k in raw for k in P_KEYS):
        law["p_both"] = 1.0 - raw["data.p_easy"] - raw["data.p_hard"]
    return {k: v for k, v in law.items() if np.unique(v).size > 1}


def fit_exponents(log_x: NDArray[np.float64], log_n: NDArray[np.float64]) -> NDArray[np.float64]:
    """Least squares ``log_n (..., K) ≈ log_x (K, P) @ a + c`` over the finite entries of
    each row; returns ``(..., P + 1)`` (exponents, then intercept), NaN for a row with
    too few points to identify them."""
    design = np.concatenate([log_x, np.ones((len(log_x), 1))], axis=1)
    rows = np.atleast_2d(log_n)
    out = np.full((len(rows), design.shape[1]), np.nan)
    for r, y in enumerate(rows):
        ok = np.isfinite(y) & np.isfinite(design).all(1)
        if ok.sum() < design.shape[1] or np.linalg.matrix_rank(design[ok]) < design.shape[1]:
            continue
        out[r] = np.linalg.lstsq(design[ok], y[ok], rcond=None)[0]
    return out.reshape(*np.shape(log_n)[:-1], design.shape[1])


def joint_boundary(
    cell_x: Mapping[str, ArrayLike],
    n_values: ArrayLike,
    errors: ArrayLike,
    threshold: ArrayLike,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
) -> dict[str, Any]:
    """Fit the boundary law over ``K`` cells.

    ``cell_x``: name -> ``(K,)`` the cells' parameter values (positive); ``n_values
    (N,)``; ``errors (K, N, S)`` final test errors, seeds last; ``threshold`` scalar or
    ``(K,)``. Returns a JSON-able dict: ``exponents``/``exponents_ci`` (name -> value,
    ``[lo, hi]``), ``theory_exponents``, ``intercept``, ``cells_crossing`` and the
    ``cells`` with their crossing ``n`` and CI (``None`` where not finite).
    """
    names = list(cell_x)
    log_x = np.log(np.stack([np.asarray(cell_x[k], float) for k in names], axis=1))
    cells = len(log_x)
    cross = crossing_points(np.arange(cells), n_values, errors, threshold, n_boot, seed, ci)
    with np.errstate(divide="ignore", invalid="ignore"):
        point = fit_exponents(log_x, np.log(cross.n))
        boot = fit_exponents(log_x, np.log(cross.bootstrap))
    bounds = _percentile_ci(boot, ci)
    return {
        "y": N_KEY,
        "exponents": {k: _json_float(point[i]) for i, k in enumerate(names)},
        "exponents_ci": {k: [_json_float(v) for v in bounds[i]] for i, k in enumerate(names)},
        "theory_exponents": {k: THEORY_EXPONENTS[k] for k in names},
        "intercept": _json_float(point[-1]),
        "cells_crossing": int(np.isfinite(cross.n).sum()),
        "cells": [
            {
                **{k: float(np.exp(log_x[c, i])) for i, k in enumerate(names)},
                "n": _json_float(cross.n[c]),
                "n_ci": [_json_float(v) for v in cross.n_ci[c]],
            }
            for c in range(cells)
        ],
    }


def cells_from_summary(
    summary: Mapping[str, NDArray], swept: list[str], fixed: Mapping[str, Any], fraction: float
) -> tuple[dict[str, NDArray], NDArray, NDArray, NDArray] | None:
    """Arrange a run's summary for :func:`joint_boundary`: ``(cell_x, n_values, errors
    (K, N, S), threshold (K,))``; the threshold is ``fraction ×`` the cell's mean weak
    error. None when ``strong.n`` and no law parameter are swept together."""
    if N_KEY not in swept:
        return None
    law = regressors(raw_parameters(summary, fixed))
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
    for row, key in enumerate(keys):
        c = cell_of[key]
        n = np.searchsorted(n_values, float(summary[N_KEY][row]))
        s = np.searchsorted(seeds, summary["seed"][row])
        errors[c, n, s] = summary["strong_test_error"][row]
        weak[c] += summary["weak_test_error"][row]
        count[c] += 1
        for k in law:
            cell_x[k][c] = law[k][row]
    return cell_x, n_values, errors, fraction * weak / np.maximum(count, 1)
