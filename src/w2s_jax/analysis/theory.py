"""The theory's formulas (docs/MODEL.md, "Theory"; inferred forms, constants unknown;
NumPy only): the benign score ``B = n · p_both² · nu_norm⁴ / (sigma_p⁴ · d)``; overfitting
is benign where ``B > C`` and harmful where ``B < C``, so the boundary ``B = C`` is a
straight line in log–log coordinates: slope −4 in ``(log nu_norm, log n)``, +1 in
``(log d, log n)``, +4 in ``(log sigma_p, log n)``. Regime labels are in ``regimes``, the
measured boundary in ``boundary``, the theorem's conditions in ``conditions``.

Parameters are named by their dotted grid keys (``"data.nu_norm"``, ``"strong.n"``…).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from w2s_jax.analysis import aliases

N_KEY = "strong.n"
SCORE_KEYS = ("data.nu_norm", "data.sigma_p", "data.d", "data.p_easy", "data.p_hard")
SCALED_NU_KEY = "data.nu_norm_scaled"  # nu_norm = s sigma_p d^(1/4): B = n p_both^2 s^4
# Exponent of x in the boundary n(x) = C sigma_p^4 d / (p_both^2 nu_norm^4).
_BOUNDARY_EXPONENTS = {"data.nu_norm": -4, "data.d": 1, "data.sigma_p": 4, SCALED_NU_KEY: -4}


def raw_key(x_key: str) -> str:
    """The raw parameter of the benign score that ``x_key`` sets (its alias resolved)."""
    return "data.nu_norm" if x_key == SCALED_NU_KEY else x_key


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

    −4 for ``data.nu_norm`` and ``data.nu_norm_scaled``, +1 for ``data.d``, +4 for
    ``data.sigma_p``. ``None`` for
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
    """``nu_norm, sigma_p, d, p_both`` with ``x_key`` replaced by ``x_values``
    (``data.nu_norm_scaled`` gives ``nu_norm = s sigma_p d^(1/4)``)."""
    if raw_key(x_key) not in SCORE_KEYS:
        raise ValueError(f"x_key must be one of {(*SCORE_KEYS, SCALED_NU_KEY)}, got {x_key!r}")
    missing = [k for k in SCORE_KEYS if k != raw_key(x_key) and k not in fixed]
    if missing:
        raise KeyError(f"fixed is missing {missing} (needed for the benign score)")
    values = {k: np.asarray(fixed[k], dtype=np.float64) for k in SCORE_KEYS if k != raw_key(x_key)}
    values[raw_key(x_key)] = np.asarray(x_values, dtype=np.float64)
    if x_key == SCALED_NU_KEY:
        values["data.nu_norm"] = aliases.unscale(
            SCALED_NU_KEY, values["data.nu_norm"], values["data.d"], values["data.sigma_p"]
        )
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
    ``data.nu_norm, data.sigma_p, data.d, data.p_easy, data.p_hard`` or
    ``data.nu_norm_scaled``; ``fixed`` holds the other four under their dotted keys
    (extra keys are ignored). ``C`` is given or fitted (:func:`fit_constant_C`).
    Returns the shape of ``x_values``; ``inf`` where ``p_both = 0``.
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


def raw_parameters(columns: Mapping[str, NDArray], fixed: Mapping[str, Any]) -> dict:
    """Per configuration, the raw ``data.nu_norm, data.d, data.sigma_p, data.p_easy,
    data.p_hard``: from ``summary.csv`` where swept (a theory-normalised alias has its
    raw column there), else the fixed value (a fixed alias converted at each ``d``)."""
    rows = len(columns[N_KEY])
    value = lambda k: np.asarray(columns[k], float) if k in columns else fixed.get(k)  # noqa: E731
    raw = {k: value(k) for k in ("data.d", "data.sigma_p", "data.p_easy", "data.p_hard")}
    raw["data.nu_norm"] = value("data.nu_norm")
    if raw["data.nu_norm"] is None and fixed.get(SCALED_NU_KEY) is not None:
        raw["data.nu_norm"] = aliases.unscale(
            SCALED_NU_KEY, fixed[SCALED_NU_KEY], raw["data.d"], raw["data.sigma_p"]
        )
    return {
        k: np.broadcast_to(np.asarray(v, float), (rows,)) for k, v in raw.items() if v is not None
    }
