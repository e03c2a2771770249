"""A finite-n law for the probability that a seed is benign, fitted and judged by
extrapolation in ``n`` (NumPy only).

The theorem's boundary is ``B = n p_both² nu_norm⁴ / (sigma_p⁴ d) = C`` as ``n → ∞``
(docs/MODEL.md, "Theory"). At the ``n`` a simulation reaches, seeds disagree
(docs/REPRODUCTION.md §9: the wrong class's filters learn the hard signal from the
wrongly labelled hard-only points, a race decided by counts). Three candidate laws for
``P(benign)`` of one seed, a Bernoulli outcome per configuration:

* ``"B"``: ``σ(k (log B − log C))`` — the score alone;
* ``"B+n"``: ``σ(k (log B − log C) + c log(n / 256))`` — a finite-n correction;
* ``"race"``: ``σ(k (log B − log C)) · Φ(a z − b)``, ``z = √n p_both / √p_hard`` — the
  own race in ``B`` and the sign race: the wrong class's hard-signal share fluctuates by
  ``~√(n p_hard)`` against a margin ``~n p_both`` (both races must be won).

Fitting is maximum likelihood by Fisher scoring with step halving
(:func:`fit_law`); CIs are percentile intervals over a bootstrap of the seeds (a seed's
configurations are paired: they share its data). :func:`compare_laws` fits every law
on the configurations with ``n ≤ n_fit`` and scores it on those above: held-out
log-likelihood per configuration, and the coverage of 95% binomial intervals for the
number of benign seeds at each held-out ``(cell, n)``. The chosen law is the simplest
one that no more complex law beats by more than two standard errors of the paired
per-configuration difference. :mod:`.run_law` does all of it for saved runs
(``boundary.json``'s ``"finite_n_law"``) and answers for a new configuration
(:func:`.run_law.predict_benign`).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from w2s_jax.analysis.boundary import percentile_ci
from w2s_jax.analysis.theory import benign_score

LAWS = {"B": ("k", "log_C"), "B+n": ("k", "log_C", "c"), "race": ("k", "log_C", "a", "b")}
FORMULAS = {
    "B": "sigmoid(k (log B - log C))",
    "B+n": "sigmoid(k (log B - log C) + c log(n / 256))",
    "race": "sigmoid(k (log B - log C)) * Phi(a sqrt(n) p_both / sqrt(p_hard) - b)",
}
N_REF = 256.0  # the B+n law's n term is log(n / N_REF): C is the midpoint at n = 256
N_FIT = 512  # fit on n <= N_FIT, judge on n > N_FIT
BENIGN_FRACTION = 0.5  # a seed is benign when its final error <= this x its weak error
EPS = 1e-12


class Observations(NamedTuple):
    """One entry per configuration (seed included): ``n``, ``score`` (B), ``p_both``,
    ``p_hard``, ``benign`` (0/1), ``seed`` and ``cell`` (configurations that differ only
    in their seed share a cell)."""

    n: NDArray
    score: NDArray
    p_both: NDArray
    p_hard: NDArray
    benign: NDArray
    seed: NDArray
    cell: NDArray

    def take(self, rows: NDArray) -> Observations:
        return Observations(*(np.asarray(a)[rows] for a in self))


def observations(
    n: ArrayLike,
    p_both: ArrayLike,
    p_hard: ArrayLike,
    nu_norm: ArrayLike,
    sigma_p: ArrayLike,
    d: ArrayLike,
    benign: ArrayLike,
    seed: ArrayLike,
) -> Observations:
    """Observations from per-configuration arrays (broadcast together)."""
    n, p_both, p_hard, nu, sp, d, y, seed = np.broadcast_arrays(
        *(
            np.atleast_1d(np.asarray(a, float))
            for a in (n, p_both, p_hard, nu_norm, sigma_p, d, benign, seed)
        )
    )
    score = benign_score(n, p_both, nu, sp, d)
    keys = np.stack([score, n, p_both, p_hard], axis=1)
    return Observations(n, score, p_both, p_hard, y, seed, row_cells(keys))


def row_cells(keys: NDArray) -> NDArray:
    """Each row's place among the distinct rows of ``keys (N, k)`` sorted in order:
    ``np.unique(keys, axis=0, return_inverse=True)[1]``, by a ``lexsort`` (that sorts
    rows as a structured array, ~10x slower at 10^6 rows) when every key is finite."""
    keys = np.asarray(keys, float)
    if not np.isfinite(keys).all() or keys.ndim != 2 or not len(keys):
        return np.unique(keys, axis=0, return_inverse=True)[1].ravel()
    order = np.lexsort(keys.T[::-1])  # the first column sorts first
    ordered = keys[order]
    new = np.ones(len(keys), bool)
    new[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    cells = np.empty(len(keys), np.intp)
    cells[order] = np.cumsum(new) - 1
    return cells


# ----------------------------------------------------------------- the laws


def normal_cdf(x: NDArray) -> NDArray:
    """``Φ(x)`` to a relative error below 1.2e-7 in both tails (the Chebyshev fit of
    ``erfc`` in Numerical Recipes, §6.2), vectorised: NumPy has no ``erf``."""
    z = np.abs(x) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (
            -0.82215223 + t * 0.17087277))))))))  # fmt: skip
    erfc = t * np.exp(poly)
    return np.where(x >= 0, 1.0 - 0.5 * erfc, 0.5 * erfc)


def _sigmoid(x: NDArray) -> NDArray:
    return np.exp(-np.logaddexp(0.0, -x))


def probability(law: str, theta: NDArray, obs: Observations, jacobian: bool = False):
    """``P(benign)`` per configuration under ``law`` with parameters ``theta`` (in the
    order of :data:`LAWS`); with ``jacobian``, also ``dP/dtheta (configs, params)``."""
    if law not in LAWS:
        raise ValueError(f"law must be one of {', '.join(LAWS)}, got {law!r}")
    k, log_c = theta[0], theta[1]
    log_b = np.log(obs.score)
    eta = k * (log_b - log_c)
    if law == "B+n":
        eta = eta + theta[2] * np.log(obs.n / N_REF)
    s = _sigmoid(eta)
    race = np.ones_like(s)
    if law == "race":
        zeta = theta[2] * np.sqrt(obs.n) * obs.p_both / np.sqrt(obs.p_hard) - theta[3]
        race = normal_cdf(zeta)
    p = s * race
    if not jacobian:
        return p
    ds = s * (1.0 - s) * race  # dP/d eta
    columns = [ds * (log_b - log_c), -ds * k]
    if law == "B+n":
        columns.append(ds * np.log(obs.n / N_REF))
    if law == "race":
        density = np.exp(-0.5 * zeta**2) / math.sqrt(2.0 * math.pi)
        z = np.sqrt(obs.n) * obs.p_both / np.sqrt(obs.p_hard)
        columns += [s * density * z, -s * density]
    return p, np.stack(columns, axis=1)


def log_likelihood(law: str, theta: NDArray, obs: Observations) -> NDArray:
    """Per-configuration Bernoulli log-likelihood."""
    p = np.clip(probability(law, theta, obs), EPS, 1.0 - EPS)
    return np.where(obs.benign > 0.5, np.log(p), np.log1p(-p))


def _starts(law: str, obs: Observations) -> list[NDArray]:
    log_b = np.log(obs.score)
    base = [1.0, float(np.median(log_b))]
    if law == "B":
        return [np.array(base)]
    if law == "B+n":
        return [np.array([*base, 0.0])]
    z = np.median(np.sqrt(obs.n) * obs.p_both / np.sqrt(obs.p_hard))
    return [np.array([*base, a / z, b]) for a in (0.5, 2.0) for b in (-1.0, 1.0)]


def _maximise(law: str, obs: Observations, theta: NDArray, iterations: int = 100) -> NDArray:
    """Fisher scoring from ``theta``, each step halved until the likelihood rises."""
    current = log_likelihood(law, theta, obs).sum()
    for _ in range(iterations):
        p, jac = probability(law, theta, obs, jacobian=True)
        p = np.clip(p, EPS, 1.0 - EPS)
        weight = 1.0 / (p * (1.0 - p))
        info = (jac * weight[:, None]).T @ jac
        grad = jac.T @ (weight * (obs.benign - p))
        ridge = 1e-9 * (np.trace(info) / len(theta) + 1.0)  # separable data: stay finite
        try:
            step = np.linalg.solve(info + ridge * np.eye(len(theta)), grad)
        except np.linalg.LinAlgError:
            break
        for _ in range(30):
            trial = theta + step
            value = log_likelihood(law, trial, obs).sum()
            if value >= current - 1e-12:
                break
            step = step / 2
        else:
            break
        converged = abs(value - current) < 1e-10 * (1.0 + abs(current))
        theta, current = trial, value
        if converged:
            break
    return theta


def maximum_likelihood(law: str, obs: Observations) -> NDArray:
    """The maximum-likelihood parameters of ``law`` (best of a few starts)."""
    fits = [_maximise(law, obs, start) for start in _starts(law, obs)]
    return max(fits, key=lambda theta: log_likelihood(law, theta, obs).sum())


def seed_bootstrap(obs: Observations, n_boot: int, seed: int = 0):
    """``n_boot`` resamples of the seeds with replacement: each the rows of the drawn
    seeds (a seed drawn twice contributes its rows twice)."""
    seeds = np.unique(obs.seed)
    rows_of = {s: np.flatnonzero(obs.seed == s) for s in seeds}
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        drawn = rng.choice(seeds, size=len(seeds), replace=True)
        yield obs.take(np.concatenate([rows_of[s] for s in drawn]))


class LawFit(NamedTuple):
    """A law's maximum-likelihood ``theta``, its percentile CI ``(params, 2)`` and the
    bootstrap replicates ``(n_boot, params)``."""

    law: str
    theta: NDArray
    ci: NDArray
    bootstrap: NDArray


def fit_law(
    law: str, obs: Observations, n_boot: int = 200, ci: float = 0.95, seed: int = 0
) -> LawFit:
    """Fit ``law`` by maximum likelihood, with a bootstrap over seeds for the CI."""
    theta = maximum_likelihood(law, obs)
    # A replicate starts at the estimate, near its own maximum: fewer steps.
    samples = seed_bootstrap(obs, n_boot, seed)
    boot = np.array([_maximise(law, sample, theta, iterations=25) for sample in samples])
    boot = boot.reshape(n_boot, len(theta))
    bounds = percentile_ci(boot, ci)  # (params, 2)
    return LawFit(law, theta, bounds, boot)


# ----------------------------------------------------------------- judging by extrapolation


def binomial_interval(count: int, p: float, coverage: float = 0.95) -> tuple[int, int]:
    """Central interval of Binomial(count, p): the smallest and largest k with the
    tails beyond them each at most ``(1 - coverage) / 2``."""
    k = np.arange(count + 1)
    log_pmf = np.array([math.lgamma(count + 1) - math.lgamma(i + 1) - math.lgamma(count - i + 1)
                        for i in k]) + k * math.log(max(p, EPS)) + (count - k) * math.log(
        max(1 - p, EPS))  # fmt: skip
    cdf = np.cumsum(np.exp(log_pmf))
    tail = (1.0 - coverage) / 2
    lo = int(np.searchsorted(cdf, tail, side="right"))
    hi = int(np.searchsorted(cdf, 1.0 - tail - 1e-12, side="left"))
    return lo, min(hi, count)


def held_out_scores(law: str, theta: NDArray, held: Observations) -> dict[str, Any]:
    """Held-out log-likelihood per configuration and the coverage of 95% binomial
    intervals for each held-out cell's number of benign seeds."""
    ll = log_likelihood(law, theta, held)
    p = probability(law, theta, held)
    covered = []
    for c in np.unique(held.cell):
        rows = held.cell == c
        lo, hi = binomial_interval(int(rows.sum()), float(p[rows][0]))
        covered.append(lo <= held.benign[rows].sum() <= hi)
    return {"log_likelihood": float(ll.mean()), "coverage": float(np.mean(covered)),
            "cells": len(covered), "per_configuration": ll}  # fmt: skip


def compare_laws(obs: Observations, n_fit: float = N_FIT) -> dict[str, Any]:
    """Fit every law on ``n ≤ n_fit`` and score it on ``n > n_fit`` (module docstring).
    Returns ``{"chosen", "laws": {law: {"theta", "log_likelihood", "coverage", ...}}}``;
    ``chosen`` is None without held-out configurations."""
    fit_rows, held_rows = obs.n <= n_fit, obs.n > n_fit
    fitted, held = obs.take(fit_rows), obs.take(held_rows)
    laws: dict[str, dict] = {}
    for law in LAWS:
        theta = maximum_likelihood(law, fitted)
        laws[law] = {"theta": theta, "fit_log_likelihood": float(
            log_likelihood(law, theta, fitted).mean())}  # fmt: skip
        if held_rows.any():
            laws[law].update(held_out_scores(law, theta, held))
    if not held_rows.any():
        return {"chosen": None, "laws": laws}
    chosen = "B"
    for law in list(LAWS)[1:]:
        diff = laws[law]["per_configuration"] - laws[chosen]["per_configuration"]
        se = diff.std(ddof=1) / math.sqrt(len(diff)) if len(diff) > 1 else math.inf
        if diff.mean() > 2 * se:
            chosen = law
    return {"chosen": chosen, "laws": laws}
