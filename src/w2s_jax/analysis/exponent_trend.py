"""How the boundary's exponent changes along the boundary (NumPy only).

A boundary law ``n* ∝ x^a`` is a straight line of ``log n*`` against ``log x``, with one
exponent ``a`` wherever it is measured. A finite-``n`` correction bends that line, so
the exponent measured between two neighbouring cells depends on where along the boundary
they lie: the theory's ``−4`` for ``nu_norm`` is then a limit, approached as the
crossing's ``n`` grows. :func:`local_exponents` measures it: for each pair of
neighbouring cells (sorted by ``x``), the slope of ``log n*`` on ``log x`` between
them, placed at the geometric mean of their crossings, with a percentile interval from
the bootstrap replicates of the crossings (:attr:`~w2s_jax.analysis.boundary.Crossings.bootstrap`:
seeds resampled once for all cells, so a replicate's slopes are paired).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from w2s_jax.analysis.boundary import percentile_ci


class LocalExponents(NamedTuple):
    """One entry per pair of neighbouring cells, in ascending ``x``.

    ``x (P,)`` and ``n (P,)``: the geometric means of the pair's ``x`` and crossings;
    ``exponent (P,)``: ``Δ log n* / Δ log x``; ``exponent_ci (P, 2)``: percentile
    interval over the replicates where both crossings exist (NaN where none do).
    """

    x: NDArray[np.float64]
    n: NDArray[np.float64]
    exponent: NDArray[np.float64]
    exponent_ci: NDArray[np.float64]


def _slopes(log_x: NDArray[np.float64], log_n: NDArray[np.float64]) -> NDArray[np.float64]:
    """``Δ log n / Δ log x`` between neighbours along the last axis."""
    return np.diff(log_n, axis=-1) / np.diff(log_x)


def local_exponents(
    x_values: ArrayLike,
    n_cross: ArrayLike,
    bootstrap: ArrayLike | None = None,
    ci: float = 0.95,
) -> LocalExponents:
    """Local exponents of the boundary ``n*(x)``.

    ``x_values (X,)`` positive and distinct, any order; ``n_cross (X,)`` the crossings
    (NaN or non-positive where a cell has none: its pairs, intervals included, are
    NaN); ``bootstrap (B, X)`` replicates of the crossings, or None (then the intervals
    are NaN). A replicate may be censored (``inf`` beyond the range searched, ``0``
    before it: :func:`~w2s_jax.analysis.boundary.crossing_points` with ``censored``):
    its slope is then infinite and an interval bound falling on it is open; a
    replicate censored in both cells of a pair, on the same side, has no slope and is
    left out.
    """
    x = np.asarray(x_values, dtype=np.float64)
    n = np.asarray(n_cross, dtype=np.float64)
    if x.ndim != 1 or n.shape != x.shape or x.size < 2:
        raise ValueError(f"need x (X,) and n (X,) with X >= 2; got {x.shape}, {n.shape}")
    if np.any(x <= 0) or np.unique(x).size != x.size:
        raise ValueError("x_values must be positive and distinct")
    order = np.argsort(x)
    log_x = np.log(x[order])
    with np.errstate(divide="ignore", invalid="ignore"):
        log_n = np.log(np.where(n > 0, n, np.nan)[order])
        exponent = _slopes(log_x, log_n)
        if bootstrap is None:
            interval = np.full((exponent.size, 2), np.nan)
        else:
            replicates = np.asarray(bootstrap, dtype=np.float64).reshape(-1, x.size)
            interval = percentile_ci(_slopes(log_x, np.log(replicates[:, order])), ci)
            interval[~np.isfinite(exponent)] = np.nan
    middle = np.exp((log_x[1:] + log_x[:-1]) / 2)
    n_middle = np.exp((log_n[1:] + log_n[:-1]) / 2)
    return LocalExponents(middle, n_middle, exponent, interval)
