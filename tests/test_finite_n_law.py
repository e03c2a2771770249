"""The finite-n law's fitting on synthetic data drawn from each law with known
constants: the fit recovers them within its CI and the held-out comparison (fit on
n <= 512, judged on n > 512) picks the law that made the data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from w2s_jax.analysis import finite_n_law as fl
from w2s_jax.analysis.run_law import law_of_runs

TRUTH = {
    "B": np.array([2.0, math.log(1.5)]),
    "B+n": np.array([2.0, math.log(1.5), 1.0]),
    "race": np.array([2.5, math.log(1.0), 0.6, 2.5]),
}
N_VALUES = np.array([16, 32, 64, 128, 256, 512, 1024, 2048], float)
SCORES = np.geomspace(0.05, 200, 10)
SEEDS = 48


def synthetic(law: str, seed: int = 0) -> fl.Observations:
    """Every (B, n) pair at p_both = 0.25, p_hard = 0.4, sigma_p = 1, d = 1e8 (nu_norm
    set to give B), SEEDS seeds each, outcomes drawn from ``law``'s probability."""
    b, n, s = (a.ravel() for a in np.meshgrid(SCORES, N_VALUES, np.arange(SEEDS)))
    d, p_both = 1e8, 0.25
    nu = (b * d / (n * p_both**2)) ** 0.25
    obs = fl.observations(n, p_both, 0.4, nu, 1.0, d, 0.0, s)
    p = fl.probability(law, TRUTH[law], obs)
    benign = np.random.default_rng(seed).random(len(p)) < p
    return obs._replace(benign=benign.astype(float))


def test_normal_cdf_against_math_erfc():
    x = np.linspace(-9, 9, 721)
    exact = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    np.testing.assert_allclose(fl.normal_cdf(x), exact, rtol=2e-7, atol=0)


def test_the_jacobian_is_the_derivative_of_the_probability():
    obs = synthetic("race")
    for law, theta in TRUTH.items():
        _, jac = fl.probability(law, theta, obs, jacobian=True)
        for i in range(len(theta)):
            h = np.zeros_like(theta)
            h[i] = 1e-6
            numeric = fl.probability(law, theta + h, obs) - fl.probability(law, theta - h, obs)
            np.testing.assert_allclose(jac[:, i], numeric / 2e-6, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("law", list(TRUTH))
def test_the_fit_recovers_the_constants_within_its_ci(law):
    obs = synthetic(law)
    fit = fl.fit_law(law, obs, n_boot=60, ci=0.99)
    for name, truth, value, (lo, hi) in zip(fl.LAWS[law], TRUTH[law], fit.theta, fit.ci):
        assert lo <= truth <= hi, (law, name, truth, value, (lo, hi))
        assert lo <= value <= hi


@pytest.mark.parametrize("law", list(TRUTH))
def test_extrapolation_picks_the_law_that_made_the_data(law):
    comparison = fl.compare_laws(synthetic(law, seed=1), n_fit=512)
    assert comparison["chosen"] == law, {
        k: v["log_likelihood"] for k, v in comparison["laws"].items()
    }
    # The true law's stated 95% intervals cover the held-out cells about as stated.
    assert comparison["laws"][law]["coverage"] >= 0.8


def test_the_binomial_interval_is_central():
    lo, hi = fl.binomial_interval(100, 0.5)
    assert (lo, hi) == (40, 60)
    assert fl.binomial_interval(10, 1.0) == (10, 10)


def synthetic_run(law: str):
    """A run's manifest and summary: strong.n x data.nu_norm swept, each seed benign
    (final error 0.02) or harmful (0.15) as ``law`` draws it, weak error 0.2."""
    from types import SimpleNamespace

    obs = synthetic(law, seed=2)
    fixed = {"data.d": 1e8, "data.sigma_p": 1.0, "data.p_easy": 0.35, "data.p_hard": 0.4}
    nu = (obs.score * 1e8 / (obs.n * 0.25**2)) ** 0.25
    summary = {"strong.n": obs.n, "data.nu_norm": nu, "seed": obs.seed.astype(int),
               "strong_test_error": np.where(obs.benign > 0, 0.02, 0.15),
               "weak_test_error": np.full(len(obs.n), 0.2)}  # fmt: skip
    grid = {"axes": {"strong.n": list(N_VALUES), "data.nu_norm": []}, "parameters": fixed}
    return SimpleNamespace(manifest={"grid": grid}, summary=summary), obs


def test_a_runs_law_is_saved_with_ci_and_predicts_new_configurations(tmp_path):
    import w2s_jax
    from w2s_jax.analysis import storage

    run, obs = synthetic_run("B+n")
    record = law_of_runs(run, n_boot=40)
    assert record["chosen"] == "B+n" and record["law"] == "B+n"
    assert record["held_out_configurations"] == int((obs.n > 512).sum())
    for name, truth in zip(fl.LAWS["B+n"], TRUTH["B+n"], strict=True):
        lo, hi = record["parameters_ci"][name]
        assert lo <= truth <= hi, (name, truth, lo, hi)
    assert set(record["laws"]) == set(fl.LAWS)
    assert record["laws"]["B+n"]["log_likelihood"] > record["laws"]["B"]["log_likelihood"]
    storage.write_json(tmp_path / "boundary.json", {"finite_n_law": record})
    # A new configuration: B = 4 at n = 4096 (beyond every n of the run).
    n, d = 4096.0, 1e8
    nu = (4.0 * d / (n * 0.25**2)) ** 0.25
    answer = w2s_jax.predict_benign(tmp_path, n=n, nu_norm=nu, d=d, p_easy=0.35, p_hard=0.4)
    assert answer.law == "B+n" and answer.score == pytest.approx(4.0)
    k, log_c, c = TRUTH["B+n"]
    truth = 1 / (1 + math.exp(-(k * (math.log(4.0) - log_c) + c * math.log(n / 256))))
    lo, hi = answer.ci
    assert lo <= answer.probability <= hi and lo <= truth <= hi
    with pytest.raises(ValueError, match="finite_n_law"):
        storage.write_json(tmp_path / "boundary.json", {})
        w2s_jax.predict_benign(tmp_path, n=n, nu_norm=nu, d=d)


def test_several_runs_are_fitted_together(tmp_path):
    """A study's stages as separate runs (n <= 512 in one, n > 512 in another): only
    together is there a held-out set, and the law is judged on it."""
    from types import SimpleNamespace

    run, obs = synthetic_run("race")
    small, large = obs.n <= 512, obs.n > 512
    part = lambda rows: SimpleNamespace(  # noqa: E731
        manifest=run.manifest, summary={k: v[rows] for k, v in run.summary.items()}
    )
    alone = law_of_runs(part(small), n_boot=0)
    assert alone["chosen"] is None and alone["held_out_configurations"] == 0
    together = law_of_runs([part(small), part(large)], n_boot=20)
    assert together["chosen"] == "race" and together["configurations"] == len(obs.n)
    assert together["held_out_configurations"] == int(large.sum())


def test_row_cells_are_numpys_unique_rows():
    from w2s_jax.analysis.finite_n_law import row_cells

    rng = np.random.default_rng(5)
    keys = rng.integers(0, 4, (3000, 4)).astype(float) * np.array([0.5, 8.0, 0.25, 1.0])
    keys[::11, 0] = -0.0 * keys[::11, 0]  # -0.0 and 0.0 are one value
    expected = np.unique(keys, axis=0, return_inverse=True)[1].ravel()
    np.testing.assert_array_equal(row_cells(keys), expected)
    assert row_cells(keys).max() == len(np.unique(keys, axis=0)) - 1
    keys[5, 2] = np.nan  # not finite: NumPy's own
    np.testing.assert_array_equal(
        row_cells(keys), np.unique(keys, axis=0, return_inverse=True)[1].ravel()
    )
