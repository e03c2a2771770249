"""Theory and measured regimes (docs/MODEL.md): benign score, boundary fits, regime labels.

NumPy only (never JAX): everything here runs on saved summaries.

* "Theory" (inferred forms, constants unknown): the benign score
  ``B = n · p_both² · nu_norm⁴ / (sigma_p⁴ · d)``; overfitting is benign where
  ``B > C`` and harmful where ``B < C``, so the boundary ``B = C`` is a straight line
  in log–log coordinates: slope −4 in ``(log nu_norm, log n)``, +1 in
  ``(log d, log n)``, +4 in ``(log sigma_p, log n)``.
  :func:`benign_score`, :func:`theory_slope`, :func:`theory_boundary_n`,
  :func:`fit_constant_C`.
* "Regimes": one regime label per configuration from scalar summaries, with
  thresholds relative to the weak error (:class:`RegimeThresholds`,
  :func:`classify_regime`, :func:`classify_regimes`).
* The measured boundary: for each ``x`` the ``n`` at which the seed-mean test error
  crosses a threshold, with a bootstrap over seeds (:func:`crossing_points`), the
  least-squares slope of ``log n`` against ``log x`` with a bootstrap CI
  (:func:`fit_boundary_slope`) and a JSON-able summary (:func:`boundary_report`).

Parameters are named by their dotted grid keys (``"data.nu_norm"``, ``"strong.n"``…).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

N_KEY = "strong.n"
SCORE_KEYS = ("data.nu_norm", "data.sigma_p", "data.d", "data.p_easy", "data.p_hard")
# Exponent of x in the boundary n(x) = C sigma_p^4 d / (p_both^2 nu_norm^4).
_BOUNDARY_EXPONENTS = {"data.nu_norm": -4, "data.d": 1, "data.sigma_p": 4}

REGIMES = ("diverged", "overtraining", "label_correction", "benign", "harmful", "underfit")


# --------------------------------------------------------------------------- theory


def benign_score(
    n: ArrayLike, p_both: ArrayLike, nu_norm: ArrayLike, sigma_p: ArrayLike, d: ArrayLike
) -> NDArray[np.float64]:
    """``B = n · p_both² · nu_norm⁴ / (sigma_p⁴ · d)``, broadcast over all arguments.

    Any shapes that broadcast together; the result has the broadcast shape.
    """
    n, p_both, nu_norm, sigma_p, d = (
        np.asarray(a, dtype=np.float64) for a in (n, p_both, nu_norm, sigma_p, d)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        return n * p_both**2 * nu_norm**4 / (sigma_p**4 * d)


def theory_slope(x_key: str, y_key: str = N_KEY) -> int | None:
    """Slope of the boundary ``B = C`` in ``(log x, log n)``; ``None`` if not a power law.

    −4 for ``data.nu_norm``, +1 for ``data.d``, +4 for ``data.sigma_p``. ``None`` for
    ``data.p_easy`` / ``data.p_hard`` (``p_both = 1 − p_easy − p_hard`` is not a
    power of either), for any other ``x_key`` and for ``y_key`` other than
    ``strong.n``.
    """
    if y_key != N_KEY:
        return None
    return _BOUNDARY_EXPONENTS.get(x_key)


def _score_parameters(
    x_key: str, x_values: ArrayLike, fixed: Mapping[str, Any]
) -> dict[str, NDArray[np.float64]]:
    """``nu_norm, sigma_p, d, p_both`` with ``x_key`` replaced by ``x_values``."""
    if x_key not in SCORE_KEYS:
        raise ValueError(f"x_key must be one of {SCORE_KEYS}, got {x_key!r}")
    missing = [k for k in SCORE_KEYS if k != x_key and k not in fixed]
    if missing:
        raise KeyError(f"fixed is missing {missing} (needed for the benign score)")
    values = {k: np.asarray(fixed[k], dtype=np.float64) for k in SCORE_KEYS if k != x_key}
    values[x_key] = np.asarray(x_values, dtype=np.float64)
    return {
        "nu_norm": values["data.nu_norm"],
        "sigma_p": values["data.sigma_p"],
        "d": values["data.d"],
        "p_both": 1.0 - values["data.p_easy"] - values["data.p_hard"],
    }


def theory_boundary_n(
    x_values: ArrayLike, x_key: str, C: float, fixed: Mapping[str, Any]
) -> NDArray[np.float64]:
    """The ``n`` at which ``B = C`` for each ``x``: ``C sigma_p⁴ d / (p_both² nu_norm⁴)``.

    ``x_values (X,)`` (any shape) are the values of ``x_key``, one of
    ``data.nu_norm, data.sigma_p, data.d, data.p_easy, data.p_hard``; ``fixed`` holds
    the other four under their dotted keys (extra keys are ignored). ``C`` is given
    or fitted (:func:`fit_constant_C`). Returns the shape of ``x_values``; ``inf``
    where ``p_both = 0``.
    """
    p = _score_parameters(x_key, x_values, fixed)
    with np.errstate(divide="ignore", invalid="ignore"):
        return C * p["sigma_p"] ** 4 * p["d"] / (p["p_both"] ** 2 * p["nu_norm"] ** 4)


def fit_constant_C(
    x_values: ArrayLike, n_values: ArrayLike, x_key: str, fixed: Mapping[str, Any]
) -> float:
    """The constant ``C`` fitted to measured boundary points ``(x_i, n_i)``.

    ``x_values (X,)``, ``n_values (X,)``: ``C`` is the geometric mean of the benign
    score at the points, the least-squares fit of ``log B = log C`` (the boundary
    line's intercept with the theory's slope). Points whose ``n`` or score is not
    finite and positive are ignored; NaN if none is left.
    """
    p = _score_parameters(x_key, x_values, fixed)
    score = np.ravel(benign_score(n_values, p["p_both"], p["nu_norm"], p["sigma_p"], p["d"]))
    ok = np.isfinite(score) & (score > 0)
    if not ok.any():
        return math.nan
    return float(np.exp(np.mean(np.log(score[ok]))))


# --------------------------------------------------------------------------- regimes


@dataclass(frozen=True)
class RegimeThresholds:
    """Thresholds (docs/MODEL.md, "Regimes") relative to the weak test error ``weak_error``.

    Attributes:
        overtraining_fraction: overtraining when ``final − best ≥ this · weak_error``
            (default 0.3: with weak ≈ 0.15, a rise of 0.045 or more).
        correction_threshold: label correction needs the share of flipped training
            points predicted with their true label at the best step to be at least
            this (default 0.5: "most flipped points").
        benign_fraction: "well below the weak error" means ``≤ this · weak_error``
            (default 0.5); used for label correction (best error) and for benign
            versus harmful (final error).
        interpolation_threshold: the student interpolates ``ŷ`` when its final
            training accuracy against the pseudo-labels is at least this
            (default 0.99).
    """

    overtraining_fraction: float = 0.3
    correction_threshold: float = 0.5
    benign_fraction: float = 0.5
    interpolation_threshold: float = 0.99

    def __post_init__(self) -> None:
        if not self.overtraining_fraction >= 0:
            raise ValueError(
                f"overtraining_fraction must be >= 0, got {self.overtraining_fraction}"
            )
        if not self.benign_fraction >= 0:
            raise ValueError(f"benign_fraction must be >= 0, got {self.benign_fraction}")
        for name in ("correction_threshold", "interpolation_threshold"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {value}")


def _as_flags(diverged: ArrayLike | None) -> NDArray[np.bool_]:
    """Diverged flags from bools, numbers (NaN counts as not flagged) or strings."""
    if diverged is None:
        return np.asarray(False)
    arr = np.asarray(diverged)
    if arr.dtype.kind in "USO":
        return np.vectorize(lambda v: str(v).strip().lower() in ("true", "1", "1.0", "yes"))(arr)
    if arr.dtype.kind == "b":
        return arr
    return np.nan_to_num(arr.astype(np.float64), nan=0.0) != 0


def classify_regimes(
    weak_error: ArrayLike,
    final_error: ArrayLike,
    best_error: ArrayLike,
    final_train_acc_pseudo: ArrayLike,
    label_correction_at_best: ArrayLike,
    diverged: ArrayLike | None = None,
    thresholds: RegimeThresholds = RegimeThresholds(),
) -> NDArray[np.str_]:
    """Regime labels (docs/MODEL.md) for whole summary columns; see :func:`classify_regime`.

    All arguments broadcast together (typically ``(configs,)`` columns); returns a
    string array of the broadcast shape with values in :data:`REGIMES`.
    """
    weak, final, best, acc, corr = (
        np.asarray(a, dtype=np.float64)
        for a in (
            weak_error,
            final_error,
            best_error,
            final_train_acc_pseudo,
            label_correction_at_best,
        )
    )
    flags = _as_flags(diverged)
    weak, final, best, acc, corr, flags = np.broadcast_arrays(weak, final, best, acc, corr, flags)
    t = thresholds
    # NaN comparisons are False: a NaN accuracy does not interpolate, a NaN
    # correction rate (no flipped points) is no correction.
    is_diverged = flags | ~np.isfinite(weak) | ~np.isfinite(final) | ~np.isfinite(best)
    # final > best keeps a perfect teacher (weak_error = 0) from counting as overtraining.
    overtrains = (final - best >= t.overtraining_fraction * weak) & (final > best)
    corrects = (corr >= t.correction_threshold) & (best <= t.benign_fraction * weak)
    interpolates = acc >= t.interpolation_threshold
    low_final = final <= t.benign_fraction * weak
    return np.select(
        [is_diverged, overtrains, corrects, interpolates & low_final, interpolates],
        list(REGIMES[:5]),
        default=REGIMES[5],
    ).astype(np.str_)


def classify_regime(
    weak_error: float,
    final_error: float,
    best_error: float,
    final_train_acc_pseudo: float,
    label_correction_at_best: float,
    diverged: bool = False,
    thresholds: RegimeThresholds = RegimeThresholds(),
) -> str:
    """The regime of ONE configuration (docs/MODEL.md, "Regimes") from its scalar summaries.

    Args:
        weak_error: the weak model's test error.
        final_error, best_error: the student's test error at the last evaluation
            step and its minimum over the evaluation steps.
        final_train_acc_pseudo: final training accuracy against the pseudo-labels.
        label_correction_at_best: at the best step, the share of wrongly
            pseudo-labelled training points predicted with their true label (NaN
            when there are none).
        diverged: the run's divergence flag.
        thresholds: see :class:`RegimeThresholds` (``w = weak_error`` below).

    The first rule that holds wins:

    1. ``"diverged"``: flagged, or any of the weak, final or best errors is not
       finite.
    2. ``"overtraining"``: ``final − best ≥ overtraining_fraction · w`` (and
       ``final > best``).
    3. ``"label_correction"``: ``label_correction_at_best ≥ correction_threshold``
       and ``best ≤ benign_fraction · w``.
    4. ``"benign"``: interpolates (``final_train_acc_pseudo ≥
       interpolation_threshold``) and ``final ≤ benign_fraction · w``.
    5. ``"harmful"``: interpolates and ``final > benign_fraction · w``.
    6. ``"underfit"``: everything else (does not interpolate, no correction).

    Overtraining outranks label correction because it describes where the run
    ends: the reference ``n = 20000`` run corrects ≈ 80% of the flipped labels with
    error ≈ 0.02 at step 10–20, then climbs to ≈ 0.12 (weak ≈ 0.15), so it is
    ``"overtraining"``; the correction stays visible in the per-configuration
    ``label_correction_at_best`` column. The reference ``n = 2000`` run (best ≈ 0.03,
    final ≈ 0.06, interpolating, no majority correction at its best step) rises by
    less than ``0.3 · 0.15`` and is ``"benign"``; its ``n = 75`` runs (interpolating,
    final 0.08–0.14 > ``0.5 · 0.15``) are ``"harmful"``. Label correction outranks
    benign: a run that corrected most flipped labels at its best step and ended
    low is reported as ``"label_correction"``.
    """
    return str(
        classify_regimes(
            weak_error,
            final_error,
            best_error,
            final_train_acc_pseudo,
            label_correction_at_best,
            diverged,
            thresholds,
        )[()]
    )


# --------------------------------------------------------------------------- measured boundary


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


def _seed_mean(errors: NDArray[np.float64]) -> NDArray[np.float64]:
    """Mean over the last axis ignoring NaN (diverged seeds); NaN if all are NaN."""
    ok = np.isfinite(errors)
    count = ok.sum(axis=-1)
    total = np.where(ok, errors, 0.0).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _first_crossing(
    mean_error: NDArray[np.float64], log_n: NDArray[np.float64], threshold: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``n`` where ``mean_error (..., N)`` first falls to ``threshold (...)``.

    ``log_n (N,)`` ascending. The crossing is bracketed by the first grid point at or
    below the threshold and the last finite point before it (necessarily above);
    NaN grid points are skipped. NaN if there is no such pair: never at or below,
    or already at or below at the first finite point.
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
    return np.where(valid, np.exp(log_cross), np.nan)


def _percentile_ci(samples: NDArray[np.float64], ci: float, axis: int = 0) -> NDArray[np.float64]:
    """Percentile interval of the finite samples along ``axis``; the interval is the
    last axis (size 2) of the result; NaN where no finite sample is left."""
    q = [50.0 * (1.0 - ci), 50.0 * (1.0 + ci)]
    if samples.shape[axis] == 0:
        shape = samples.shape[:axis] + samples.shape[axis + 1 :] + (2,)
        return np.full(shape, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns -> NaN
        return np.moveaxis(np.nanpercentile(samples, q, axis=axis), 0, -1)


def crossing_points(
    x_values: ArrayLike,
    n_values: ArrayLike,
    errors: ArrayLike,
    threshold: ArrayLike,
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    decreasing: bool = True,
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

    The crossing is found by linear interpolation in ``(log n, error)`` between the
    two grid points that bracket the first crossing; NaN where the curve never
    crosses or is already past the threshold at the smallest ``n``. The CI is the
    percentile interval of the replicates that cross (NaN if none do).
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

    point = _first_crossing(sign * _seed_mean(err), log_n, sign * thr)
    num_seeds = err.shape[-1]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, num_seeds, size=(n_boot, num_seeds))
    boot = np.empty((n_boot, x.size))
    for b in range(n_boot):  # a loop keeps memory at one (X, N, S) copy
        boot[b] = _first_crossing(sign * _seed_mean(err[:, :, idx[b]]), log_n, sign * thr)
    return Crossings(n=point, n_ci=_percentile_ci(boot, ci), bootstrap=boot)


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
        lo, hi = _percentile_ci(boot_slopes, ci)
        slope_ci = (float(lo), float(hi))
    return SlopeFit(float(slope), float(intercept), slope_ci, int(count))


def _json_float(value: Any) -> float | None:
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
    cross = crossing_points(x, n_values, errors, threshold, n_boot, seed, ci, decreasing)
    fit = fit_boundary_slope(x, cross.n, cross.bootstrap, ci)
    c_fit = None
    if fixed is not None and np.isfinite(cross.n).any():
        c_fit = _json_float(fit_constant_C(x, cross.n, x_key, fixed))
    thr = np.asarray(threshold, dtype=np.float64)
    return {
        "x": x_key,
        "y": N_KEY,
        "threshold": _json_float(thr) if thr.ndim == 0 else [_json_float(t) for t in thr],
        "slope": _json_float(fit.slope),
        "slope_ci": [_json_float(v) for v in fit.slope_ci],
        "theory_slope": theory_slope(x_key),
        "C_fit": c_fit,
        "points": [
            {"x": float(xi), "n": _json_float(ni), "n_ci": [_json_float(v) for v in ci_i]}
            for xi, ni, ci_i in zip(x, cross.n, cross.n_ci, strict=True)
        ],
    }
