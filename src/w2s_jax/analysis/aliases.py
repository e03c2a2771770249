"""Theory-normalised aliases (docs/MODEL.md, "Sweeping d"): grid keys given instead of a
raw parameter, each with the raw key it sets, how, and the line the key reference shows.
One table, :data:`ALIASES`, read by the grid (resolving a configuration), the key
reference, and the analysis (a run's fixed parameters given by an alias).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Alias:
    """``key`` sets ``raw`` to ``convert(value, d, sigma_p, n)``; ``doc`` says how."""

    key: str
    raw: str
    doc: str
    convert: Callable[[float, float, float, float], float]


ALIASES: tuple[Alias, ...] = (
    Alias(
        "strong.lr_scaled",
        "strong.lr",
        "strong.lr = lr_scaled / (sigma_p² d)",
        lambda value, d, sigma_p, n: value / (sigma_p**2 * d),
    ),
    Alias(
        "weak.lr_scaled",
        "weak.lr",
        "weak.lr = lr_scaled / (sigma_p² d)",
        lambda value, d, sigma_p, n: value / (sigma_p**2 * d),
    ),
    Alias(
        "strong.sigma_0_scaled",
        "strong.sigma_0",
        "strong.sigma_0 = s / (sigma_p √d)",
        lambda value, d, sigma_p, n: value / (sigma_p * math.sqrt(d)),
    ),
    # The theorem's scaling (docs/MODEL.md, "The theorem's conditions"): the init term
    # sigma_0 sigma_p sqrt(d) is c sqrt(n/d), small against what is learned at any d.
    Alias(
        "strong.sigma_0_theory",
        "strong.sigma_0",
        "strong.sigma_0 = c √n / (sigma_p d): the theorem's init scaling",
        lambda value, d, sigma_p, n: value * math.sqrt(n) / (sigma_p * d),
    ),
    Alias(
        "data.nu_norm_scaled",
        "data.nu_norm",
        "data.nu_norm = s sigma_p d^(1/4) (keeps nu_norm⁴/d, hence B, fixed)",
        lambda value, d, sigma_p, n: value * sigma_p * d**0.25,
    ),
    Alias(
        "data.mu_norm_scaled",
        "data.mu_norm",
        "data.mu_norm = s sigma_p d^(1/4)",
        lambda value, d, sigma_p, n: value * sigma_p * d**0.25,
    ),
)
ALIAS_BY_KEY: dict[str, Alias] = {a.key: a for a in ALIASES}
SCALED_KEYS: dict[str, str] = {a.key: a.raw for a in ALIASES}  # alias -> raw key


def unscale(key: str, value: float, d: float, sigma_p: float, n: float = math.nan) -> float:
    """The raw value the alias ``key`` at ``value`` stands for (``n``: only
    ``strong.sigma_0_theory`` reads it)."""
    return ALIAS_BY_KEY[key].convert(value, d, sigma_p, n)


def raw_value(parameters: dict, raw: str) -> float | None:
    """``parameters[raw]``, or its value from an alias of it in ``parameters`` (with
    ``data.d``, ``data.sigma_p`` and ``strong.n`` from ``parameters``); None when
    neither is there (e.g. a run's fixed parameters when ``raw`` is swept)."""
    if parameters.get(raw) is not None:
        return parameters[raw]
    for alias in ALIASES:
        if alias.raw == raw and parameters.get(alias.key) is not None:
            n = parameters.get("strong.n", math.nan)
            return unscale(
                alias.key,
                parameters[alias.key],
                parameters["data.d"],
                parameters["data.sigma_p"],
                n,
            )
    return None
