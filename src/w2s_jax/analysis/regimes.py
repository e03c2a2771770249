"""Regimes as measured (docs/MODEL.md, "Regimes"; NumPy only): one label per
configuration from its scalar summaries, with thresholds relative to the weak error
(:class:`RegimeThresholds`, :func:`classify_regime`, :func:`classify_regimes`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

REGIMES = ("diverged", "overtraining", "label_correction", "benign", "harmful", "underfit")


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
