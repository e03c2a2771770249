"""Mathematics of the theory module: benign score, boundary fits, regime labels
(docs/MODEL.md)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from w2s_jax.analysis.boundary import boundary_report, crossing_points, fit_boundary_slope
from w2s_jax.analysis.regimes import REGIMES, RegimeThresholds, classify_regime, classify_regimes
from w2s_jax.analysis.theory import benign_score, fit_constant_C, theory_boundary_n, theory_slope

pytestmark = pytest.mark.filterwarnings("error")

FIXED = {
    "data.nu_norm": 5.0,
    "data.sigma_p": 1.0,
    "data.d": 8000.0,
    "data.p_easy": 0.35,
    "data.p_hard": 0.30,
}
X_RANGES = {
    "data.nu_norm": np.geomspace(3.0, 8.0, 7),
    "data.d": np.geomspace(1e3, 1e6, 7),
    "data.sigma_p": np.geomspace(0.5, 1.5, 7),
    "data.p_hard": np.linspace(0.1, 0.5, 7),
}


# --------------------------------------------------------------------------- theory


def test_benign_score_formula_and_broadcasting():
    n = np.array([75.0, 2000.0, 20000.0])[:, None]
    nu = np.array([4.0, 5.0])[None, :]
    score = benign_score(n, 0.35, nu, 1.0, 8000.0)
    assert score.shape == (3, 2)
    np.testing.assert_allclose(score[1, 1], 2000 * 0.35**2 * 5**4 / 8000)
    # Homogeneity: linear in n, quartic in nu_norm and 1/sigma_p, quadratic in p_both, 1/d.
    base = benign_score(100.0, 0.3, 4.0, 1.5, 1e4)
    np.testing.assert_allclose(benign_score(300.0, 0.3, 4.0, 1.5, 1e4), 3 * base)
    np.testing.assert_allclose(benign_score(100.0, 0.3, 8.0, 1.5, 1e4), 16 * base)
    np.testing.assert_allclose(benign_score(100.0, 0.3, 4.0, 3.0, 1e4), base / 16)
    np.testing.assert_allclose(benign_score(100.0, 0.6, 4.0, 1.5, 1e4), 4 * base)
    np.testing.assert_allclose(benign_score(100.0, 0.3, 4.0, 1.5, 5e4), base / 5)


@pytest.mark.parametrize("x_key", sorted(X_RANGES))
def test_boundary_n_has_score_C(x_key):
    x = X_RANGES[x_key]
    C = 3.7
    n = theory_boundary_n(x, x_key, C, FIXED)
    p = {**FIXED}
    p[x_key] = x
    score = benign_score(
        n,
        1 - p["data.p_easy"] - p["data.p_hard"],
        p["data.nu_norm"],
        p["data.sigma_p"],
        p["data.d"],
    )
    np.testing.assert_allclose(score, C, rtol=1e-12)
    # The fitted constant of exact boundary points is that C.
    np.testing.assert_allclose(fit_constant_C(x, n, x_key, FIXED), C, rtol=1e-12)


def test_fit_constant_C_is_geometric_mean_and_skips_bad_points():
    x = X_RANGES["data.nu_norm"][:3]
    n = theory_boundary_n(x, "data.nu_norm", 1.0, FIXED) * np.array([2.0, 0.5, 8.0])
    np.testing.assert_allclose(fit_constant_C(x, n, "data.nu_norm", FIXED), 2.0)
    n_bad = np.append(n, [np.nan, 0.0])
    x_bad = np.append(x, [5.0, 5.0])
    np.testing.assert_allclose(fit_constant_C(x_bad, n_bad, "data.nu_norm", FIXED), 2.0)
    assert np.isnan(fit_constant_C(x[:1], [np.nan], "data.nu_norm", FIXED))


@pytest.mark.parametrize("x_key", ["data.nu_norm", "data.d", "data.sigma_p"])
def test_theory_slope_matches_numerical_boundary(x_key):
    x = X_RANGES[x_key]
    n = theory_boundary_n(x, x_key, 2.5, FIXED)
    slope = np.polyfit(np.log(x), np.log(n), 1)[0]
    np.testing.assert_allclose(slope, theory_slope(x_key), atol=1e-9)
    assert fit_boundary_slope(x, n).slope == pytest.approx(theory_slope(x_key), abs=1e-9)


def test_theory_slope_values():
    assert theory_slope("data.nu_norm") == -4
    assert theory_slope("data.d") == 1
    assert theory_slope("data.sigma_p") == 4
    assert theory_slope("data.p_hard") is None
    assert theory_slope("data.mu_norm") is None
    assert theory_slope("data.d", y_key="strong.lr") is None


def test_boundary_errors_on_bad_keys():
    with pytest.raises(ValueError):
        theory_boundary_n([1.0], "strong.lr", 1.0, FIXED)
    with pytest.raises(KeyError):
        theory_boundary_n([1.0], "data.d", 1.0, {"data.nu_norm": 5.0})


# --------------------------------------------------------------------------- regimes

WEAK = 0.15  # the reference scales' weak error; thresholds: rise 0.045, "well below" 0.075


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # (final, best, train acc vs pseudo-labels, correction at best)
        ((0.11, 0.10, 1.00, 0.05), "harmful"),  # reference n = 75
        ((0.06, 0.03, 1.00, 0.30), "benign"),  # reference n = 2000: rise 0.03 < 0.045
        ((0.12, 0.02, 0.88, 0.80), "overtraining"),  # reference n = 20000
        ((0.03, 0.02, 0.86, 0.80), "label_correction"),  # corrects and stays there
        ((0.10, 0.09, 0.90, 0.20), "underfit"),
        ((0.30, 0.10, 1.00, 0.00), "overtraining"),  # outranks harmful
        ((0.03, 0.02, 1.00, 0.90), "label_correction"),  # outranks benign
        ((0.075, 0.07, 1.00, 0.10), "benign"),  # final exactly at 0.5 · weak
        ((0.076, 0.07, 0.99, 0.10), "harmful"),  # interpolation threshold inclusive
        ((0.076, 0.07, 0.989, 0.10), "underfit"),
        ((0.03, 0.02, 0.86, 0.50), "label_correction"),  # correction threshold inclusive
        ((0.10, 0.08, 0.86, 0.90), "underfit"),  # corrects, best not well below weak
        ((0.03, 0.02, np.nan, np.nan), "underfit"),  # NaN accuracy / no flipped points
        ((np.nan, 0.02, 1.00, 0.90), "diverged"),
        ((0.03, np.inf, 1.00, 0.90), "diverged"),
    ],
)
def test_classify_regime_cases(values, expected):
    final, best, acc, corr = values
    assert classify_regime(WEAK, final, best, acc, corr) == expected


def test_classify_regime_precedence_of_diverged_and_thresholds():
    assert classify_regime(WEAK, 0.06, 0.03, 1.0, 0.3, diverged=True) == "diverged"
    assert classify_regime(np.nan, 0.06, 0.03, 1.0, 0.3) == "diverged"
    # Overtraining exactly at the threshold counts (rise 0.045 = 0.3 · 0.15).
    assert classify_regime(0.2, 0.08, 0.02, 1.0, 0.0) == "overtraining"
    # A perfect teacher: no rise is no overtraining.
    assert classify_regime(0.0, 0.0, 0.0, 1.0, np.nan) == "benign"
    strict = RegimeThresholds(benign_fraction=0.2)
    assert classify_regime(WEAK, 0.06, 0.03, 1.0, 0.3, thresholds=strict) == "harmful"
    with pytest.raises(ValueError):
        RegimeThresholds(correction_threshold=1.5)


def test_classify_regimes_matches_scalar_rule():
    rng = np.random.default_rng(0)
    size = 500
    weak = rng.uniform(0.05, 0.25, size)
    best = rng.uniform(0.0, 0.2, size)
    final = best + rng.uniform(0.0, 0.15, size)
    acc = rng.choice([0.8, 0.95, 0.99, 1.0, np.nan], size)
    corr = rng.choice([0.0, 0.3, 0.5, 0.9, np.nan], size)
    final[rng.random(size) < 0.05] = np.nan
    diverged = np.where(rng.random(size) < 0.05, 1.0, np.where(rng.random(size) < 0.1, np.nan, 0))
    labels = classify_regimes(weak, final, best, acc, corr, diverged)
    assert labels.shape == (size,) and labels.dtype.kind == "U"
    expected = [
        classify_regime(*args, diverged=bool(np.nan_to_num(flag)))
        for *args, flag in zip(weak, final, best, acc, corr, diverged, strict=True)
    ]
    assert labels.tolist() == expected
    assert set(labels) <= set(REGIMES)
    assert len(set(labels)) == len(REGIMES)  # the random batch exercises every rule
    # Boolean and string flags read the same.
    flags = np.nan_to_num(diverged) != 0
    np.testing.assert_array_equal(classify_regimes(weak, final, best, acc, corr, flags), labels)
    as_text = np.where(flags, "True", "False")
    np.testing.assert_array_equal(classify_regimes(weak, final, best, acc, corr, as_text), labels)


# --------------------------------------------------------------------------- measured boundary


def test_crossing_points_exact_on_piecewise_linear_in_log_n():
    n = np.array([10.0, 100.0, 1000.0, 10000.0])
    curves = np.array(
        [
            [0.20, 0.16, 0.04, 0.01],  # 0.10 is crossed 1/2 of the way from 100 to 1000
            [0.20, 0.12, 0.11, 0.02],  # crossed 1/9 of the way from 1000 to 10000
            [0.20, 0.18, 0.15, 0.12],  # never below 0.10
            [0.05, 0.04, 0.03, 0.02],  # below at the smallest n: not bracketed
            [0.20, 0.10, 0.05, 0.02],  # exactly on a grid point
        ]
    )
    errors = np.repeat(curves[:, :, None], 3, axis=2)  # identical seeds
    cross = crossing_points(np.arange(1.0, 6.0), n, errors, 0.10, n_boot=50)
    expected = [10**2.5, 10 ** (3 + 1 / 9), np.nan, np.nan, 100.0]
    np.testing.assert_allclose(cross.n, expected, rtol=1e-12)
    # Identical seeds: every replicate equals the point, so does the CI.
    np.testing.assert_allclose(cross.n_ci, np.stack([expected, expected], axis=1), rtol=1e-12)
    assert cross.bootstrap.shape == (50, 5)

    # The grid order does not matter.
    perm = [2, 0, 3, 1]
    shuffled = crossing_points(np.arange(1.0, 6.0), n[perm], errors[:, perm], 0.10, n_boot=0)
    np.testing.assert_allclose(shuffled.n, expected, rtol=1e-12)
    assert np.isnan(shuffled.n_ci).all()


def test_crossing_points_threshold_per_x_seeds_and_nan():
    n = np.array([10.0, 100.0, 1000.0])
    # Seed mean 0.2 -> 0.0 linearly in log n; seeds differ by +-0.02.
    curve = np.array([0.2, 0.1, 0.0])
    errors = np.stack([curve + 0.02, curve - 0.02], axis=-1)[None].repeat(2, axis=0)
    cross = crossing_points([1.0, 2.0], n, errors, np.array([0.15, 0.05]), n_boot=0)
    np.testing.assert_allclose(cross.n, [10**1.5, 10**2.5])
    # A grid point where every seed diverged is skipped; one NaN seed is left out.
    errors_nan = errors.copy()
    errors_nan[0, 1, :] = np.nan
    errors_nan[1, 2, 0] = np.nan  # the seed mean at n = 1000 becomes 0.0 - 0.02
    cross = crossing_points([1.0, 2.0], n, errors_nan, np.array([0.15, 0.05]), n_boot=0)
    np.testing.assert_allclose(cross.n[0], 10 ** (1 + 2 * (0.05 / 0.2)))
    np.testing.assert_allclose(cross.n[1], 10 ** (2 + 0.05 / 0.12))
    # A rising crossing is found with decreasing=False.
    rising = crossing_points([1.0], n, 0.2 - errors[:1], 0.15, n_boot=0, decreasing=False)
    np.testing.assert_allclose(rising.n, [10**2.5])


def test_crossing_bootstrap_ci_brackets_seed_spread():
    n = np.geomspace(10, 1e4, 13)
    log_n = np.log(n)
    shifts = np.linspace(-0.3, 0.3, 8)  # seed s crosses at log n = log 300 + shift
    errors = 0.1 - 0.03 * (log_n[None, :, None] - np.log(300.0) - shifts[None, None, :])
    cross = crossing_points([1.0], n, errors, 0.1, n_boot=400, seed=1)
    lo, hi = cross.n_ci[0]
    assert lo < cross.n[0] < hi
    np.testing.assert_allclose(cross.n[0], 300.0, rtol=1e-9)
    # The seed-mean crossing of a resample stays between the extreme seeds.
    assert 300 * np.exp(-0.3) <= lo and hi <= 300 * np.exp(0.3)
    again = crossing_points([1.0], n, errors, 0.1, n_boot=400, seed=1)
    np.testing.assert_array_equal(again.bootstrap, cross.bootstrap)


def test_fit_boundary_slope_ignores_nan_and_needs_two_points():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    n = 50.0 * x**1.5
    n[2] = np.nan
    fit = fit_boundary_slope(x, n)
    assert fit.slope == pytest.approx(1.5) and fit.n_points == 3
    assert fit.intercept == pytest.approx(np.log(50.0))
    assert np.isnan(fit_boundary_slope(x, [np.nan, 3.0, np.nan, np.nan]).slope)
    assert np.isnan(fit_boundary_slope([2.0, 2.0], [3.0, 5.0]).slope)
    boot = np.stack([50.0 * x**1.4, 50.0 * x**1.6, np.full(4, np.nan)])
    lo, hi = fit_boundary_slope(x, n, boot, ci=0.5).slope_ci
    assert 1.4 <= lo < hi <= 1.6


def _synthetic_errors(x_key, x, C, n, num_seeds, rng):
    """Seed-noisy test errors that fall from 0.2 to 0 through 0.1 at the theory boundary."""
    log_boundary = np.log(theory_boundary_n(x, x_key, C, FIXED))
    z = np.log(n)[None, :, None] - log_boundary[:, None, None]
    clean = 0.2 / (1.0 + np.exp(2.0 * z))
    seed_shift = rng.normal(0.0, 0.01, (1, 1, num_seeds))
    return clean + seed_shift + rng.normal(0.0, 0.005, (x.size, n.size, num_seeds))


@pytest.mark.parametrize(
    ("x_key", "n_grid"),
    [("data.nu_norm", np.geomspace(30, 3e4, 31)), ("data.d", np.geomspace(30, 3e5, 41))],
)
def test_boundary_fit_recovers_known_slope(x_key, n_grid):
    x = X_RANGES[x_key]
    C = 10.0
    rng = np.random.default_rng(123)
    errors = _synthetic_errors(x_key, x, C, n_grid, 16, rng)
    report = boundary_report(x_key, x, n_grid, errors, 0.1, FIXED, n_boot=300, seed=7)
    json.dumps(report, allow_nan=False)
    assert set(report) == {
        "x",
        "y",
        "threshold",
        "slope",
        "slope_ci",
        "theory_slope",
        "C_fit",
        "points",
    }
    assert (report["x"], report["y"], report["threshold"]) == (x_key, "strong.n", 0.1)
    truth = theory_slope(x_key)
    assert report["theory_slope"] == truth
    assert report["slope"] == pytest.approx(truth, abs=0.1)
    lo, hi = report["slope_ci"]
    assert lo <= truth <= hi
    assert report["C_fit"] == pytest.approx(C, rel=0.1)
    assert len(report["points"]) == x.size
    for point, x_i, n_true in zip(
        report["points"], x, theory_boundary_n(x, x_key, C, FIXED), strict=True
    ):
        assert point["x"] == x_i
        assert point["n"] == pytest.approx(n_true, rel=0.1)
        assert point["n_ci"][0] <= point["n"] <= point["n_ci"][1]


def test_boundary_report_without_crossings_is_null():
    n = np.array([10.0, 100.0])
    errors = np.full((3, 2, 4), 0.2)
    report = boundary_report("data.p_hard", [0.2, 0.3, 0.4], n, errors, [0.1, 0.1, 0.1], FIXED)
    json.dumps(report, allow_nan=False)
    assert report["slope"] is None and report["slope_ci"] == [None, None]
    assert report["theory_slope"] is None and report["C_fit"] is None
    assert report["threshold"] == [0.1, 0.1, 0.1]
    assert all(p["n"] is None and p["n_ci"] == [None, None] for p in report["points"])
