"""The finite-n law of saved runs (NumPy only): each configuration's outcome (a seed is
benign when its final error is at most half its weak error) against its benign score
``B`` and ``n``, the laws of :mod:`.finite_n_law` judged by extrapolation in ``n``, the
chosen one refitted with bootstrap CIs (:func:`law_of_runs`: one run's is
``boundary.json``'s ``"finite_n_law"``; several runs, e.g. a study's stages at
different ``n``, are fitted together), and what it predicts for a new configuration
(:func:`predict_benign`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from w2s_jax.analysis import storage
from w2s_jax.analysis.boundary import percentile_ci
from w2s_jax.analysis.finite_n_law import (
    BENIGN_FRACTION,
    FORMULAS,
    LAWS,
    N_FIT,
    Observations,
    compare_laws,
    fit_law,
    observations,
    probability,
    row_cells,
)
from w2s_jax.analysis.storage import RunResults
from w2s_jax.analysis.theory import N_KEY, SCORE_KEYS, raw_parameters


def run_observations(run: RunResults, fraction: float = BENIGN_FRACTION) -> Observations | None:
    """A saved run's configurations as observations, when ``strong.n`` is swept and every
    parameter of the score is known; None otherwise. Diverged seeds are left out."""
    grid = run.manifest["grid"]
    if N_KEY not in grid["axes"] or N_KEY not in run.summary:
        return None
    raw = raw_parameters(run.summary, grid.get("parameters", {}))
    if not all(k in raw for k in SCORE_KEYS):
        return None
    final = np.asarray(run.summary["strong_test_error"], float)
    weak = np.asarray(run.summary["weak_test_error"], float)
    ok = np.isfinite(final) & np.isfinite(weak)
    p_both = 1.0 - raw["data.p_easy"] - raw["data.p_hard"]
    obs = observations(run.summary[N_KEY], p_both, raw["data.p_hard"], raw["data.nu_norm"],
                       raw["data.sigma_p"], raw["data.d"], final <= fraction * weak,
                       run.summary["seed"])  # fmt: skip
    return obs.take(np.flatnonzero(ok & (obs.score > 0)))


def _named(law: str, theta: NDArray) -> dict[str, float | None]:
    return {name: _finite(v) for name, v in zip(LAWS[law], theta, strict=True)}


def _finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def law_of_runs(
    runs: RunResults | str | Path | list,
    n_fit: float = N_FIT,
    n_boot: int = 200,
    ci: float = 0.95,
) -> dict | None:
    """``boundary.json``'s ``"finite_n_law"`` of a run (a :class:`RunResults` or a
    directory), or of several fitted together: every law judged on ``n > n_fit``, the
    chosen law refitted on every configuration with bootstrap CIs and replicates (for
    :func:`predict_benign`). None where no run has a score per configuration, there are
    fewer than 10 configurations or one outcome, or no parameter of ``B`` but ``n``
    varies."""
    runs = runs if isinstance(runs, list) else [runs]
    loaded = [storage.load_run(r) if isinstance(r, str | Path) else r for r in runs]
    parts = [o for o in map(run_observations, loaded) if o is not None]
    if not parts:
        return None
    obs = Observations(*(np.concatenate(arrays) for arrays in zip(*parts, strict=True)))
    cells = np.stack([obs.score, obs.n, obs.p_both, obs.p_hard], axis=1)
    obs = obs._replace(cell=row_cells(cells))
    if len(obs.n) < 10 or np.unique(obs.benign).size < 2:
        return None
    if np.unique(np.round(np.log(obs.score / obs.n), 9)).size < 2:
        return None  # B proportional to n: the score and n cannot be told apart
    comparison = compare_laws(obs, n_fit)
    record: dict[str, Any] = {
        "outcome": f"strong_test_error <= {BENIGN_FRACTION:g} x the seed's weak_test_error",
        "formulas": FORMULAS,
        "n_fit": n_fit,
        "configurations": len(obs.n),
        "held_out_configurations": int((obs.n > n_fit).sum()),
        "rule": "the simplest law that no more complex one beats by > 2 s.e. of the paired "
        "held-out log-likelihood per configuration",
        "laws": {
            law: {
                "fitted_on_n_le_n_fit": _named(law, entry["theta"]),
                **{
                    k: entry[k]
                    for k in ("fit_log_likelihood", "log_likelihood", "coverage", "cells")
                    if k in entry
                },
            }  # fmt: skip
            for law, entry in comparison["laws"].items()
        },
        "chosen": comparison["chosen"],
    }
    law = comparison["chosen"] or "B"
    fit = fit_law(law, obs, n_boot=n_boot, ci=ci)
    record.update(law=law, ci=ci, n_boot=n_boot, parameters=_named(law, fit.theta),
                  parameters_ci={name: [_finite(v) for v in bounds]
                                 for name, bounds in zip(LAWS[law], fit.ci, strict=True)},
                  bootstrap=[[_finite(v) for v in row] for row in fit.bootstrap])  # fmt: skip
    record["C"] = _finite(math.exp(fit.theta[1]))
    record["C_ci"] = [_finite(math.exp(v)) for v in fit.ci[1]]
    return record


class Prediction(NamedTuple):
    """``probability`` that a seed is benign, its percentile ``ci`` over the law's
    bootstrap replicates, the ``law`` and the configuration's benign ``score``."""

    probability: float
    ci: tuple[float, float]
    law: str
    score: float


def predict_benign(
    law: str | Path | Mapping[str, Any],
    *,
    n: float,
    nu_norm: float,
    d: float,
    sigma_p: float = 1.0,
    p_easy: float = 0.35,
    p_hard: float = 0.30,
) -> Prediction:
    """What the finite-n law fitted to a run predicts for a new configuration: the
    probability that one seed's final error is at most half its weak error.

    ``law``: a run directory (its ``boundary.json``), or the ``"finite_n_law"`` record
    itself. Raises ``ValueError`` where the run has no fitted law.
    """
    if isinstance(law, str | Path):
        report = storage.read_json(Path(law) / "boundary.json")
        law = report.get("finite_n_law")
        if law is None:
            raise ValueError("this run's boundary.json has no finite_n_law (see run_law)")
    obs = observations(n, 1.0 - p_easy - p_hard, p_hard, nu_norm, sigma_p, d, 0.0, 0.0)
    name = law["law"]
    theta = np.array([law["parameters"][k] for k in LAWS[name]], float)
    point = float(probability(name, theta, obs)[0])
    replicates = np.array(law.get("bootstrap") or [], float).reshape(-1, len(theta))
    replicates = replicates[np.isfinite(replicates).all(1)]
    draws = np.array([probability(name, row, obs)[0] for row in replicates])
    lo, hi = percentile_ci(draws, law["ci"])
    return Prediction(point, (float(lo), float(hi)), name, float(obs.score[0]))
