"""The joint boundary fit recovers known exponents from synthetic crossings."""

from __future__ import annotations

import numpy as np
import pytest

from w2s_jax.analysis.boundary import fit_exponents, joint_boundary
from w2s_jax.analysis.run_boundary import cells_from_summary

N = np.geomspace(0.05, 1e6, 40)
SEEDS = 6


def synthetic_errors(n_star: np.ndarray, rng) -> np.ndarray:
    """(K, N, S): 0.15 well below n*, 0.02 well above, a logistic step in log n, with
    seed noise."""
    z = np.log(N)[None, :, None] - np.log(n_star)[:, None, None]
    clean = 0.02 + 0.13 / (1 + np.exp(3 * z))
    return clean + 0.005 * rng.standard_normal((len(n_star), len(N), SEEDS))


def test_exact_exponents_from_exact_crossings():
    log_x = np.log(np.array([[2.0, 1e3], [4.0, 1e3], [2.0, 1e5], [8.0, 1e4], [3.0, 1e6]]))
    truth = np.array([-4.0, 1.0, 0.7])
    log_n = log_x @ truth[:2] + truth[2]
    np.testing.assert_allclose(fit_exponents(log_x, log_n), truth, atol=1e-10)
    # Too few finite points to identify three coefficients: NaN.
    assert np.isnan(fit_exponents(log_x[:2], log_n[:2])).all()


@pytest.mark.parametrize("truth", [(-4.0, 1.0), (-2.0, 0.5)])
def test_joint_fit_recovers_the_exponents_of_a_noisy_boundary(truth):
    rng = np.random.default_rng(1)
    nu, d = np.meshgrid([2.0, 3.0, 4.0, 6.0], [1e4, 1e5, 1e6])
    nu, d = nu.ravel(), d.ravel()
    n_star = 50 * (nu / 3) ** truth[0] * (d / 1e5) ** truth[1]
    report = joint_boundary(
        {"data.nu_norm": nu, "data.d": d}, N, synthetic_errors(n_star, rng), 0.085, n_boot=200
    )
    assert report["cells_crossing"] == len(nu)
    for key, value in zip(("data.nu_norm", "data.d"), truth):
        assert report["exponents"][key] == pytest.approx(value, abs=0.1)
        lo, hi = report["exponents_ci"][key]
        assert lo <= report["exponents"][key] <= hi and hi - lo < 0.5
    assert report["theory_exponents"] == {"data.nu_norm": -4.0, "data.d": 1.0}


def test_summary_columns_are_arranged_into_cells():
    """cells_from_summary: a theory-normalised nu_norm fixed while d is swept gives the
    raw nu_norm per cell (nu = s sigma_p d^(1/4)); the threshold is the fraction of the
    cell's weak error."""
    d_values, n_values = [1e4, 1e6], [10.0, 100.0, 1000.0]
    rows = [(d, n, s) for d in d_values for n in n_values for s in range(2)]
    summary = {
        "data.d": np.array([r[0] for r in rows]),
        "strong.n": np.array([r[1] for r in rows]),
        "seed": np.array([r[2] for r in rows]),
        "strong_test_error": np.arange(len(rows), dtype=float),
        "weak_test_error": np.full(len(rows), 0.2),
    }
    fixed = {
        "data.nu_norm_scaled": 2.0,
        "data.sigma_p": 1.0,
        "data.p_easy": 0.3,
        "data.p_hard": 0.4,
    }
    cell_x, n, errors, threshold = cells_from_summary(summary, ["data.d", "strong.n"], fixed, 0.5)
    np.testing.assert_allclose(cell_x["data.nu_norm"], 2.0 * np.array(d_values) ** 0.25)
    np.testing.assert_allclose(cell_x["data.d"], d_values)
    assert errors.shape == (2, 3, 2) and errors[1, 2, 1] == len(rows) - 1
    np.testing.assert_allclose(threshold, 0.1)


# ----------------------------------------------------------------- several thresholds

NU = np.array([2.0, 2.5, 3.2, 4.0])


def logistic_errors(n_grid: np.ndarray, seeds: int, rng) -> np.ndarray:
    """(X, N, S): error = 0.2 sigmoid(-2.5 (log n - log n*(nu))), n*(nu) = 400 (nu / 2)^-4:
    it crosses the level e at n*(nu) (0.2 / e - 1)^(1 / 2.5), so every threshold's
    crossing has exponent -4 in nu. Seeds add symmetric noise (mean = median)."""
    n_star = 400.0 * (NU / 2.0) ** -4
    z = np.log(n_grid)[None, :, None] - np.log(n_star)[:, None, None]
    clean = 0.2 / (1.0 + np.exp(2.5 * z))
    return clean + 0.01 * rng.standard_normal((len(NU), len(n_grid), seeds))


@pytest.mark.parametrize("statistic", ["mean", "median"])
@pytest.mark.parametrize("level", [0.1, 0.05, 0.048])  # 0.5 and 0.25 of 0.2; 0.12 p_hard
def test_the_exponent_is_recovered_at_every_threshold_and_statistic(statistic, level):
    from w2s_jax.analysis.boundary import boundary_report

    rng = np.random.default_rng(3)
    n_grid = np.geomspace(4, 4000, 40)
    errors = logistic_errors(n_grid, 16, rng)
    report = boundary_report("data.nu_norm", NU, n_grid, errors, level, n_boot=300,
                             statistic=statistic)  # fmt: skip
    lo, hi = report["slope_ci"]
    assert lo <= -4.0 <= hi and hi - lo < 1.0, report["slope_ci"]
    assert report["slope"] == pytest.approx(-4.0, abs=0.25)
    truth = 400.0 * (NU / 2.0) ** -4 * (0.2 / level - 1) ** (1 / 2.5)
    np.testing.assert_allclose([p["n"] for p in report["points"]], truth, rtol=0.15)
    joint = joint_boundary({"data.nu_norm": NU}, n_grid, errors, level, n_boot=300,
                           statistic=statistic)  # fmt: skip
    lo, hi = joint["exponents_ci"]["data.nu_norm"]
    assert lo <= -4.0 <= hi


def test_the_median_ignores_a_failing_seed_the_mean_does_not():
    """One seed in four stuck at the weak error: the mean's crossing moves (or vanishes),
    the median's stays at the clean curve's."""
    from w2s_jax.analysis.boundary import crossing_points, seed_statistic

    n_grid = np.geomspace(4, 4000, 40)
    z = np.log(n_grid)[None, :] - np.log(400.0 * (NU / 2.0) ** -4)[:, None]
    errors = np.repeat((0.2 / (1.0 + np.exp(2.5 * z)))[:, :, None], 4, axis=2)
    errors[:, :, 0] = 0.2  # the failing seed
    median = crossing_points(NU, n_grid, errors, 0.05, n_boot=0, statistic="median").n
    mean = crossing_points(NU, n_grid, errors, 0.05, n_boot=0).n
    truth = 400.0 * (NU / 2.0) ** -4 * 3 ** (1 / 2.5)
    np.testing.assert_allclose(median, truth, rtol=0.02)
    assert np.isnan(mean).all()  # the mean never falls below 0.05
    with pytest.raises(ValueError, match="statistic"):
        seed_statistic(errors, "mode")
