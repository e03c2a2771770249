"""The ``[boundary]`` section of a grid file: the adaptive search's options and their
validation (docs/RUNNING.md, "Adaptive boundary search"). Below ``grid``, which calls
:func:`parse_boundary`; the search itself is ``boundary_search``.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

from w2s_jax.analysis.boundary import BOUNDARY_FRACTION, STATISTICS
from w2s_jax.analysis.theory import N_KEY
from w2s_jax.simulation.errors import GridError

# The metric -> the weak-teacher column its threshold is a fraction of.
METRICS = {
    "strong_test_error": "weak_test_error",
    "strong_best_test_error": "weak_test_error",
    "strong_hard_error": "weak_hard_error",
}
REQUIRED = ("n_low", "n_high")


@dataclass(frozen=True)
class BoundaryOptions:
    """The ``[boundary]`` section (README, "The grid file")."""

    n_low: int
    n_high: int
    ci_factor: float = 1.5  # stop when the bracket and the CI are each within this ratio
    seeds: int = 4  # seeds per n to start with
    max_seeds: int = 32
    max_rounds: int = 12
    metric: str = "strong_test_error"
    fraction: float = BOUNDARY_FRACTION  # threshold = fraction x the cell's weak error
    threshold: float | None = None  # an absolute threshold on the metric instead
    statistic: str = "mean"  # of the seeds' metric at one n: "mean" or "median"
    ci: float = 0.95  # coverage of the bootstrap interval
    n_boot: int = 1000

    def initial_n(self) -> list[int]:
        mid = round(math.sqrt(self.n_low * self.n_high))
        return sorted({self.n_low, mid, self.n_high})

    def threshold_text(self) -> str:
        """What the crossing is of, in words (reports and ``--dry-run``)."""
        if self.threshold is not None:
            return f"the seed-{self.statistic} {self.metric} falls to {self.threshold:g}"
        return (
            f"the seed-{self.statistic} {self.metric} falls to {self.fraction:g} x the mean "
            f"{METRICS[self.metric]}"
        )


KEYS = tuple(f.name for f in BoundaryOptions.__dataclass_fields__.values())
INTEGER_KEYS = {"n_low": 1, "n_high": 1, "seeds": 1, "max_seeds": 1, "max_rounds": 1, "n_boot": 1}


def parse_boundary(table: Any, sweep: dict, given: set[str], where: str) -> BoundaryOptions:
    """Validate a ``[boundary]`` table against the grid's ``[sweep]`` and given keys;
    every mistake is a one-line GridError naming the key."""
    if not isinstance(table, dict):
        raise GridError(f"{where}: [boundary] must be a table, got {table!r}")
    for key in table:
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1, cutoff=0.5)
            hint = f" (did you mean 'boundary.{close[0]}'?)" if close else ""
            raise GridError(f"{where}: unknown key 'boundary.{key}'{hint}")
    for key in REQUIRED:
        if key not in table:
            raise GridError(f"{where}: key 'boundary.{key}' is required in [boundary]")
    if N_KEY in sweep:
        raise GridError(
            f"{where}: key '{N_KEY}' is swept in [sweep] and searched by [boundary]; "
            "remove it from [sweep]"
        )
    if N_KEY in given:
        raise GridError(
            f"{where}: key '{N_KEY}' is searched by [boundary]; remove it from [strong]"
        )
    if "seeds" in sweep:
        raise GridError(
            f"{where}: key 'sweep.seeds' does not apply with [boundary]; give the starting "
            "seeds as boundary.seeds"
        )
    values: dict[str, Any] = {}
    for key, value in table.items():
        bad = lambda what: GridError(f"{where}: key 'boundary.{key}' {what}, got {value!r}")  # noqa: E731, B023
        if key == "metric":
            if value not in METRICS:
                raise bad(f"must be one of {', '.join(METRICS)}")
        elif key == "statistic":
            if value not in STATISTICS:
                raise bad(f"must be one of {', '.join(STATISTICS)}")
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("must be a number")
        elif key in INTEGER_KEYS:
            if not float(value).is_integer() or value < INTEGER_KEYS[key]:
                raise bad(f"must be an integer >= {INTEGER_KEYS[key]}")
            value = int(value)
        elif not math.isfinite(value):
            raise bad("must be finite")
        values[key] = value
    if "fraction" in values and "threshold" in values:
        raise GridError(
            f"{where}: keys 'boundary.fraction' (of the weak error) and 'boundary.threshold' "
            "(absolute) are two ways to set the threshold; give one"
        )
    options = BoundaryOptions(**values)
    checks = (
        ("n_high", options.n_high > options.n_low, f"> boundary.n_low = {options.n_low}"),
        ("ci_factor", options.ci_factor > 1, "> 1"),
        ("fraction", options.fraction > 0, "> 0"),
        ("max_seeds", options.max_seeds >= options.seeds, f">= boundary.seeds = {options.seeds}"),
        ("ci", 0 < options.ci < 1, "in (0, 1)"),
        (
            "threshold",
            options.threshold is None or 0 < options.threshold < 1,
            "in (0, 1) (an error rate)",
        ),
    )
    for key, ok, what in checks:
        if not ok:
            value = getattr(options, key)
            raise GridError(f"{where}: key 'boundary.{key}' must be {what}, got {value!r}")
    return options
