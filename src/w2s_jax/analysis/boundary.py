"""The boundary as measured (NumPy only): where the seed-mean test error crosses a
threshold as ``n`` grows, with a bootstrap over seeds (:func:`crossing_points`); the slope
of ``log n*`` against one ``log x`` (:func:`fit_boundary_slope`, :func:`boundary_report`,
written to ``boundary.json``); and the joint law ``log n* = Σ_k a_k log x_k + c``
(:func:`joint_boundary`).

The data-scarce theorem puts the benign/harmful boundary at ``B = n · p_both² ·
nu_norm⁴ / (sigma_p⁴ · d) = C`` (docs/MODEL.md, "Theory"), i.e. the critical sample
size ``n* = C · sigma_p⁴ · d / (p_both² · nu_norm⁴)``: exponents −4 for ``nu_norm``, +1
for ``d``, +4 for ``sigma_p`` and −2 for ``p_both = 1 − p_easy − p_hard``. A grid that
sweeps ``strong.n`` against any of those parameters is cut into *cells* (one value of
every other swept axis); in each cell the seed-mean final error falls below a threshold
at a measured ``n*``, and ``log n*`` is regressed on the logs of the cell's parameters by
least squares. The CIs come from refitting every bootstrap replicate of the crossings
(seeds resampled with replacement, one draw shared by all cells: configurations of a
seed are paired).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from w2s_jax.analysis.theory import N_KEY, fit_constant_C, theory_slope

BOUNDARY_FRACTION = 0.5  # the boundary's threshold: this fraction of the mean weak error
BOOTSTRAP_NUMBERS = 2**22  # resampled errors held at once by the bootstrap (32 MB)


class Crossings(NamedTuple):
    """Where the seed-mean error crosses the threshold, one entry per ``x``.

    ``n (X,)``: the point estimate; ``n_ci (X, 2)``: percentile bootstrap CI;
    ``bootstrap (B, X)``: the crossing of each bootstrap replicate. NaN where no
    bracketed crossing exists.
    """

    n: NDArray[np.float64]
    n_ci: NDArray[np.float64]
    bootstrap: NDArray[np.float64]


class SlopeFit(NamedTuple):
    """Least-squares ``log n = intercept + slope · log x`` over ``n_points`` points;
    ``slope_ci`` ``(lo, hi)`` from refitting each bootstrap replicate."""

    slope: float
    intercept: float
    slope_ci: tuple[float, float]
    n_points: int


def seed_mean(errors: NDArray[np.float64]) -> NDArray[np.float64]:
    """Mean over the last axis ignoring NaN (diverged seeds); NaN if all are NaN."""
    ok = np.isfinite(errors)
    count = ok.sum(axis=-1)
    total = np.where(ok, errors, 0.0).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


STATISTICS = ("mean", "median")  # of the seeds' errors at one (cell, n)


def seed_statistic(errors: NDArray[np.float64], statistic: str = "mean") -> NDArray[np.float64]:
    """:func:`seed_mean`, or the median over the last axis ignoring NaN (NaN if all are)."""
    if statistic == "mean":
        return seed_mean(errors)
    if statistic != "median":
        raise ValueError(f"statistic must be one of {', '.join(STATISTICS)}, got {statistic!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices -> NaN
        return np.nanmedian(errors, axis=-1)


def _first_crossing(
    mean_error: NDArray[np.float64],
    log_n: NDArray[np.float64],
    threshold: NDArray[np.float64],
    censored: bool = False,
) -> NDArray[np.float64]:
    """``n`` where ``mean_error (..., N)`` first falls to ``threshold (...)``.

    ``log_n (N,)`` ascending. The crossing is bracketed by the first grid point at or
    below the threshold and the last finite point before it (necessarily above);
    NaN grid points are skipped. Where there is no such pair: NaN, or with
    ``censored`` the side it lies on, ``inf`` (never at or below: beyond the largest
    ``n``) or ``0`` (already at or below at the first finite point).
    """
    num = mean_error.shape[-1]
    below = mean_error <= threshold[..., None]
    has_below = below.any(axis=-1)
    j = np.argmax(below, axis=-1)
    finite_index = np.where(np.isfinite(mean_error), np.arange(num), -1)
    last_finite = np.maximum.accumulate(finite_index, axis=-1)
    prev = np.take_along_axis(last_finite, np.maximum(j - 1, 0)[..., None], axis=-1)[..., 0]
    prev = np.where(j > 0, prev, -1)
    valid = has_below & (prev >= 0)
    i = np.maximum(prev, 0)
    e_hi = np.take_along_axis(mean_error, i[..., None], axis=-1)[..., 0]
    e_lo = np.take_along_axis(mean_error, j[..., None], axis=-1)[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = (e_hi - threshold) / (e_hi - e_lo)
        log_cross = log_n[i] + frac * (log_n[j] - log_n[i])
    outside = np.where(has_below, 0.0, np.inf) if censored else np.nan
    return np.where(valid, np.exp(log_cross), outside)


def percentile_ci(samples: NDArray[np.float64], ci: float, axis: int = 0) -> NDArray[np.float64]:
    """Percentile interval of the samples along ``axis`` (NaN left out; an infinite
    sample, a censored one, makes the bound infinite where it falls on it); the interval
    is the last axis (size 2) of the result; NaN where no sample is left."""
    q = [50.0 * (1.0 - ci), 50.0 * (1.0 + ci)]
    if samples.shape[axis] == 0:
        shape = samples.shape[:axis] + samples.shape[axis + 1 :] + (2,)
        return np.full(shape, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns -> NaN
        bounds = np.nanpercentile(samples, q, axis=axis)
        if np.isinf(samples).any():  # interpolating next to an infinity gives NaN: take it
            nearest = np.nanpercentile(samples, q, axis=axis, method="nearest")
            bounds = np.where(np.isnan(bounds), nearest, bounds)
        return np.moveaxis(bounds, 0, -1)


def crossing_points(
    x_values: ArrayLike,
    n_values: ArrayLike,
    errors: ArrayLike,
    threshold: ArrayLike,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    decreasing: bool = True,
    statistic: str = "mean",
    censored: bool = False,
) -> Crossings:
    """For each ``x``, the ``n`` at which the seed-mean test error crosses ``threshold``.

    Args:
        x_values: ``(X,)`` the other axis' values (only their number is used).
        n_values: ``(N,)`` positive sample sizes (any order; sorted here).
        errors: ``(X, N, S)`` test errors, seeds last; NaN (a diverged seed) is left
            out of the seed mean, and a grid point with no finite seed is skipped.
        threshold: scalar or ``(X,)``; typically ``benign_fraction · weak_error``.
        n_boot: bootstrap replicates ``B``; each resamples the ``S`` seeds with
            replacement, one draw shared by every ``(x, n)`` because configurations
            with the same seed are paired (they share the randomness of the seed).
        seed: seed of the bootstrap's generator.
        ci: coverage of the percentile interval.
        decreasing: ``True`` looks for the error falling to the threshold as ``n``
            grows (harmful -> benign); ``False`` for it rising to it.
        statistic: ``"mean"`` or ``"median"`` over the seeds (:func:`seed_statistic`).
        censored: a replicate that does not cross inside the ``n`` range counts as
            ``inf`` (beyond it) or ``0`` (before it) instead of being left out, so an
            interval that many replicates leave is open (infinite) on that side.

    The crossing is found by linear interpolation in ``(log n, error)`` between the
    two grid points that bracket the first crossing; NaN where the curve never
    crosses or is already past the threshold at the smallest ``n``. The CI is the
    percentile interval of the replicates that cross (NaN if none do), or with
    ``censored`` of every replicate (the point estimate stays NaN where it does not
    cross).
    """
    x = np.asarray(x_values, dtype=np.float64)
    n = np.asarray(n_values, dtype=np.float64)
    err = np.asarray(errors, dtype=np.float64)
    if x.ndim != 1 or n.ndim != 1 or err.shape[:2] != (x.size, n.size) or err.ndim != 3:
        raise ValueError(
            f"need x (X,), n (N,), errors (X, N, S); got {x.shape}, {n.shape}, {err.shape}"
        )
    if np.any(n <= 0):
        raise ValueError("n_values must be positive")
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must lie in (0, 1), got {ci}")
    order = np.argsort(n)
    log_n = np.log(n[order])
    err = err[:, order, :]
    thr = np.broadcast_to(np.asarray(threshold, dtype=np.float64), x.shape)
    sign = 1.0 if decreasing else -1.0  # a rising crossing is a falling one of -error

    seed_statistic(err[:0], statistic)  # an unknown statistic fails before the bootstrap
    point = _first_crossing(sign * seed_statistic(err, statistic), log_n, sign * thr)
    num_seeds = err.shape[-1]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num_seeds, size=(n_boot, num_seeds))
    boot = np.empty((n_boot, x.size))
    block = max(1, BOOTSTRAP_NUMBERS // max(err.size, 1))  # replicates at a time
    for start in range(0, n_boot, block):  # blocks bound the memory
        stat = seed_statistic(err[:, :, idx[start : start + block]], statistic)  # (X, N, b)
        boot[start : start + block] = _first_crossing(
            sign * np.moveaxis(stat, 2, 0), log_n, sign * thr, censored
        )
    return Crossings(n=point, n_ci=percentile_ci(boot, ci), bootstrap=boot)


def _weighted_slope(
    log_x: NDArray[np.float64], log_y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Least-squares slope and intercept of ``log_y (..., X)`` on ``log_x (X,)`` over
    the finite entries of each row; NaN for rows with fewer than two distinct x."""
    ok = np.isfinite(log_y) & np.isfinite(log_x)
    w = ok.astype(np.float64)
    count = w.sum(axis=-1)
    lx = np.where(ok, log_x, 0.0)
    ly = np.where(ok, log_y, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mx = lx.sum(axis=-1) / count
        my = ly.sum(axis=-1) / count
        dx = np.where(ok, lx - mx[..., None], 0.0)
        dy = np.where(ok, ly - my[..., None], 0.0)
        sxx = (dx * dx).sum(axis=-1)
        slope = (dx * dy).sum(axis=-1) / sxx
    good = (count >= 2) & (sxx > 1e-12 * np.maximum(count, 1))
    slope = np.where(good, slope, np.nan)
    return slope, np.where(good, my - slope * mx, np.nan), count.astype(np.int64)


def _safe_log(a: ArrayLike) -> NDArray[np.float64]:
    """``log`` with non-positive or non-finite entries mapped to NaN."""
    a = np.asarray(a, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(a) & (a > 0), np.log(np.where(a > 0, a, 1.0)), np.nan)


def fit_boundary_slope(
    x_values: ArrayLike,
    n_cross: ArrayLike,
    bootstrap_samples: ArrayLike | None = None,
    ci: float = 0.95,
) -> SlopeFit:
    """Slope of ``log n`` against ``log x`` for the measured boundary.

    ``x_values (X,)``, ``n_cross (X,)`` (NaN points ignored), ``bootstrap_samples
    (B, X)`` (e.g. :attr:`Crossings.bootstrap`). Needs at least two finite points at
    distinct ``x``, else the slope is NaN. The CI is the percentile interval of the
    slopes refitted on each replicate (each ignoring its own NaN points); NaN
    without replicates.
    """
    log_x = _safe_log(x_values)
    slope, intercept, count = _weighted_slope(log_x, _safe_log(n_cross))
    if bootstrap_samples is None:
        slope_ci = (math.nan, math.nan)
    else:
        boot = np.asarray(bootstrap_samples, dtype=np.float64).reshape(-1, log_x.size)
        boot_slopes = _weighted_slope(log_x, _safe_log(boot))[0]
        lo, hi = percentile_ci(boot_slopes, ci)
        slope_ci = (float(lo), float(hi))
    return SlopeFit(float(slope), float(intercept), slope_ci, int(count))


def json_float(value: Any) -> float | None:
    """A float, or ``None`` where it is not finite (strict JSON has no NaN)."""
    value = float(value)
    return value if math.isfinite(value) else None


def boundary_report(
    x_key: str,
    x_values: ArrayLike,
    n_values: ArrayLike,
    errors: ArrayLike,
    threshold: ArrayLike,
    fixed: Mapping[str, Any] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    decreasing: bool = True,
    statistic: str = "mean",
) -> dict[str, Any]:
    """The measured boundary in ``(x, strong.n)`` next to the theory, as a JSON-able dict.

    Arguments as in :func:`crossing_points` (``errors (X, N, S)``); ``fixed``, when
    given, holds the parameters of the benign score other than ``x_key`` (see
    :func:`theory_boundary_n`) and yields ``C_fit``. Returns::

        {"x": x_key, "y": "strong.n", "threshold": float | [float, ...],
         "slope": float, "slope_ci": [lo, hi], "theory_slope": -4 | 1 | 4 | None,
         "C_fit": float | None,
         "points": [{"x": float, "n": float, "n_ci": [lo, hi]}, ...]}

    with ``None`` for every value that is not finite (so ``json.dumps(...,
    allow_nan=False)`` works) and ``C_fit = None`` without ``fixed``.
    """
    x = np.asarray(x_values, dtype=np.float64)
    cross = crossing_points(x, n_values, errors, threshold, n_boot, seed, ci, decreasing, statistic)
    fit = fit_boundary_slope(x, cross.n, cross.bootstrap, ci)
    c_fit = None
    if fixed is not None and np.isfinite(cross.n).any():
        c_fit = json_float(fit_constant_C(x, cross.n, x_key, fixed))
    thr = np.asarray(threshold, dtype=np.float64)
    return {
        "x": x_key,
        "y": N_KEY,
        "threshold": json_float(thr) if thr.ndim == 0 else [json_float(t) for t in thr],
        "slope": json_float(fit.slope),
        "slope_ci": [json_float(v) for v in fit.slope_ci],
        "theory_slope": theory_slope(x_key),
        "C_fit": c_fit,
        "points": [
            {"x": float(xi), "n": json_float(ni), "n_ci": [json_float(v) for v in ci_i]}
            for xi, ni, ci_i in zip(x, cross.n, cross.n_ci, strict=True)
        ],
    }


THEORY_EXPONENTS = {"data.nu_norm": -4.0, "data.d": 1.0, "data.sigma_p": 4.0, "p_both": -2.0}
P_KEYS = ("data.p_easy", "data.p_hard")


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
    statistic: str = "mean",
) -> dict[str, Any]:
    """Fit the boundary law over ``K`` cells (``statistic`` of the seeds: mean or median).

    ``cell_x``: name -> ``(K,)`` the cells' parameter values (positive); ``n_values
    (N,)``; ``errors (K, N, S)`` final test errors, seeds last; ``threshold`` scalar or
    ``(K,)``. Returns a JSON-able dict: ``exponents``/``exponents_ci`` (name -> value,
    ``[lo, hi]``), ``theory_exponents``, ``intercept``, ``cells_crossing`` and the
    ``cells`` with their crossing ``n`` and CI (``None`` where not finite).
    """
    names = list(cell_x)
    log_x = np.log(np.stack([np.asarray(cell_x[k], float) for k in names], axis=1))
    cells = len(log_x)
    cross = crossing_points(
        np.arange(cells), n_values, errors, threshold, n_boot, seed, ci, statistic=statistic
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        point = fit_exponents(log_x, np.log(cross.n))
        boot = fit_exponents(log_x, np.log(cross.bootstrap))
    bounds = percentile_ci(boot, ci)
    return {
        "y": N_KEY,
        "exponents": {k: json_float(point[i]) for i, k in enumerate(names)},
        "exponents_ci": {k: [json_float(v) for v in bounds[i]] for i, k in enumerate(names)},
        "theory_exponents": {k: THEORY_EXPONENTS[k] for k in names},
        "intercept": json_float(point[-1]),
        "cells_crossing": int(np.isfinite(cross.n).sum()),
        "cells": [
            {
                **{k: float(np.exp(log_x[c, i])) for i, k in enumerate(names)},
                "n": json_float(cross.n[c]),
                "n_ci": [json_float(v) for v in cross.n_ci[c]],
            }
            for c in range(cells)
        ],
    }
