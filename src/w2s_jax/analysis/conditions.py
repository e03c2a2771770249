"""The conditions under which the benign/harmful theorem is stated, per configuration
(docs/MODEL.md, "The theorem's conditions"; NumPy only).

The boundary ``B = n p_both² nu_norm⁴ / (sigma_p⁴ d) = C`` is proved (Theorem 3.4 of
the paper, following Kou et al. 2023 and Meng, Zou & Cao 2024) under assumptions whose
constants are not public. Each is stated here as a dimensionless quantity with a
documented bound; a configuration *meets* a condition when its quantity is on the
right side of the bound. The bounds are conventions (``≲ 1`` read as ``≤ 1``, "well
below 1" as ``≤ 0.1``), not the theorem's constants: they say which runs are in the
theorem's regime at all, not where the boundary lies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Condition:
    """One assumption: ``name`` (the summary column ``theorem_<name>``), what it is,
    its bound and whether the quantity must be at most (``"<="``) or at least it."""

    name: str
    doc: str
    bound: float
    direction: str  # "<=", ">=" or ">"

    def holds(self, value: np.ndarray) -> np.ndarray:
        value = np.asarray(value, float)
        compare = {"<=": np.less_equal, ">=": np.greater_equal, ">": np.greater}
        return compare[self.direction](value, self.bound)


CONDITIONS: tuple[Condition, ...] = (
    Condition("d_over_n2", "d / n² (over-parameterisation: d ≳ n²)", 1.0, ">="),
    Condition("mu_ratio", "n mu_norm² / (sigma_p² d) (data-scarce: noise fitted first)", 0.1, "<="),
    Condition("nu_ratio", "n nu_norm² / (sigma_p² d) (data-scarce, hard signal)", 0.1, "<="),
    Condition(
        "init_ratio",
        "sigma_0 sigma_p √d / √(n/d) (initialisation small against what is learned)",
        1.0,
        "<=",
    ),
    Condition("lr_ratio", "lr sigma_p² d (small steps)", 1.0, "<="),
    Condition("m_over_log_n", "m / ln n (enough filters per class)", 1.0, ">="),
    Condition("stop_loss", "strong.stop_loss (stated at a target loss, not a step count)", 0, ">"),
)


def quantities(config: dict) -> dict[str, float]:
    """The quantities the theorem's assumptions bound, for one resolved configuration."""
    n, d = float(config["strong.n"]), float(config["data.d"])
    sigma_p = float(config["data.sigma_p"])
    noise = sigma_p**2 * d
    return {
        "d_over_n2": d / n**2,
        "mu_ratio": n * config["data.mu_norm"] ** 2 / noise,
        "nu_ratio": n * config["data.nu_norm"] ** 2 / noise,
        "init_ratio": config["strong.sigma_0"] * sigma_p * d / math.sqrt(n),
        "lr_ratio": config["strong.lr"] * noise,
        "m_over_log_n": config["strong.m"] / math.log(max(n, 2.0)),
        "stop_loss": float(config["strong.stop_loss"]),
    }


def columns(configs: list[dict]) -> dict[str, np.ndarray]:
    """The ``summary.csv`` block: ``theorem_<name>`` (the quantity) and
    ``theorem_<name>_ok`` per condition, and ``theorem_conditions_met`` (all hold)."""
    table = [quantities(c) for c in configs]
    out: dict[str, np.ndarray] = {}
    met = np.ones(len(configs), bool)
    for condition in CONDITIONS:
        values = np.array([row[condition.name] for row in table], float)
        ok = condition.holds(values)
        out[f"theorem_{condition.name}"] = values
        out[f"theorem_{condition.name}_ok"] = ok
        met &= ok
    out["theorem_conditions_met"] = met
    return out


def dry_run_section(configs: list[dict]) -> str:
    """The ``--dry-run`` section: per condition its bound, the range of the quantity
    over the grid and how many configurations meet it."""
    block = columns(configs)
    total = len(configs)
    lines = [
        "theorem's conditions (docs/MODEL.md; bounds are conventions, constants unknown): "
        f"{int(block['theorem_conditions_met'].sum())}/{total} configurations meet all"
    ]
    for condition in CONDITIONS:
        values = block[f"theorem_{condition.name}"]
        met = int(block[f"theorem_{condition.name}_ok"].sum())
        lines.append(
            f"  {condition.name:<13} {condition.direction} {condition.bound:g}: "
            f"{values.min():.3g} .. {values.max():.3g}, met by {met}/{total}   "
            f"[{condition.doc}]"
        )
    return "\n".join(lines)


def report_section(summary: dict[str, np.ndarray]) -> str:
    """``report.md``'s section: how many configurations meet each condition, and the
    first one that fails most often (an empty string for runs saved without the block)."""
    if "theorem_conditions_met" not in summary:
        return ""
    total = len(summary["theorem_conditions_met"])
    met = int(np.asarray(summary["theorem_conditions_met"], bool).sum())
    failing = {
        c.name: total - int(np.asarray(summary[f"theorem_{c.name}_ok"], bool).sum())
        for c in CONDITIONS
    }
    lines = [f"Theorem's conditions: {met}/{total} configurations meet all of them."]
    broken = [f"{name} ({count})" for name, count in failing.items() if count]
    if broken:
        lines.append("Failing (configurations): " + ", ".join(broken) + ".")
    return "\n".join(lines)
