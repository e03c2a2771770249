"""Local exponents of a boundary: exact on exact laws, recovered through the seeds'
bootstrap on a noisy one whose exponent bends towards -4 as n* grows."""

from __future__ import annotations

import numpy as np
import pytest

from w2s_jax.analysis.boundary import crossing_points
from w2s_jax.analysis.exponent_trend import local_exponents


def test_a_power_law_has_one_local_exponent_everywhere():
    x = np.array([0.7, 0.25, 0.5, 0.35])  # any order
    local = local_exponents(x, 3.0 * x**-4)
    np.testing.assert_allclose(local.exponent, -4.0, rtol=1e-12)
    np.testing.assert_allclose(local.x, np.sqrt([0.25 * 0.35, 0.35 * 0.5, 0.5 * 0.7]))
    np.testing.assert_allclose(local.n, 3.0 * local.x**-4, rtol=1e-12)  # geometric means
    assert np.isnan(local.exponent_ci).all()  # no replicates, no interval


def test_a_bent_law_has_the_chord_slopes_and_nan_where_a_cell_has_no_crossing():
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    log_n = 10 - 1.0 * np.log(x) - 0.25 * np.log(x) ** 2  # slope -1 - 0.5 log x
    n = np.exp(log_n)
    n[-1] = np.nan
    local = local_exponents(x, n)
    chord = -1.0 - 0.25 * (np.log(x[1:4]) + np.log(x[:3]))  # exact for a quadratic
    np.testing.assert_allclose(local.exponent[:3], chord, rtol=1e-12)
    assert np.isnan(local.exponent[3]) and np.isnan(local.n[3])
    assert np.all(np.diff(local.exponent[:3]) < 0)  # steeper as x grows


@pytest.mark.parametrize("bad", [([1.0], [2.0]), ([1.0, 1.0], [2.0, 3.0]), ([0.0, 1.0], [1, 2])])
def test_bad_input_is_refused(bad):
    with pytest.raises(ValueError):
        local_exponents(*bad)


def test_noisy_crossings_give_intervals_that_cover_the_truth():
    """Cells whose true crossing follows log n* = 5 - 2 log x - 0.5 (log x)^2 (local
    exponent -2 - log x: shallow where x is small and n* large, steep where x is large);
    seed noise on a logistic error curve; the bootstrap intervals cover the chord slopes."""
    rng = np.random.default_rng(3)
    x = np.array([1.0, 1.6, 2.56, 4.1])
    n_star = np.exp(5 - 2 * np.log(x) - 0.5 * np.log(x) ** 2)
    n_grid = np.geomspace(1, 2000, 120)
    z = np.log(n_grid)[None, :, None] - np.log(n_star)[:, None, None]
    errors = 0.02 + 0.16 / (1 + np.exp(4 * z)) + 0.02 * rng.standard_normal((4, 120, 12))
    cross = crossing_points(x, n_grid, errors, 0.1, n_boot=400, seed=0)
    local = local_exponents(x, cross.n, cross.bootstrap)
    truth = np.diff(np.log(n_star)) / np.diff(np.log(x))
    lo, hi = local.exponent_ci.T
    assert np.all((lo <= truth) & (truth <= hi)), (local.exponent_ci, truth)
    assert np.all(hi - lo < 1.0)  # informative: narrower than the bend between pairs
    np.testing.assert_allclose(local.exponent, truth, atol=0.3)
    # The cells in another order give the same pairs, intervals included.
    shuffled = np.array([2, 0, 3, 1])
    again = crossing_points(x[shuffled], n_grid, errors[shuffled], 0.1, n_boot=400, seed=0)
    other = local_exponents(x[shuffled], again.n, again.bootstrap)
    np.testing.assert_allclose(other.exponent_ci, local.exponent_ci)
    np.testing.assert_allclose(other.exponent, local.exponent)


def test_censored_replicates_open_the_interval_on_their_side():
    """A cell whose replicates partly fail to cross inside the range: left out, they
    narrow the interval; censored (inf beyond the range), they open it."""
    x = np.array([1.0, 2.0])
    rng = np.random.default_rng(0)
    first = rng.uniform(90, 110, 1000)
    second = rng.uniform(9, 11, 1000)
    first[:100] = np.inf  # 10% of the replicates: the crossing lies beyond the range
    censored = local_exponents(x, [100.0, 10.0], np.stack([first, second], 1))
    assert censored.exponent_ci[0, 0] == -np.inf  # the steep side is open
    assert np.isfinite(censored.exponent_ci[0, 1])
    dropped = local_exponents(x, [100.0, 10.0], np.stack([np.where(np.isinf(first),
                              np.nan, first), second], 1))  # fmt: skip
    assert np.isfinite(dropped.exponent_ci).all()
    assert np.isnan(local_exponents(x, [np.nan, 10.0], np.stack([first, second], 1))
                    .exponent_ci).all()  # fmt: skip


def test_crossing_points_censor_replicates_that_do_not_cross_in_range():
    n_grid = np.array([10.0, 20.0, 40.0, 80.0])
    # Seed 0 crosses between 20 and 40; seed 1 never reaches the threshold; seed 2 is
    # below it from the start.
    errors = np.array([[[0.3, 0.3, 0.05], [0.3, 0.3, 0.05], [0.05, 0.3, 0.05],
                        [0.05, 0.3, 0.05]]])  # fmt: skip
    left_out = crossing_points([1.0], n_grid, errors, 0.1, n_boot=300, seed=1, statistic="median")
    kept = crossing_points([1.0], n_grid, errors, 0.1, n_boot=300, seed=1, statistic="median",
                           censored=True)  # fmt: skip
    np.testing.assert_array_equal(left_out.n, kept.n)  # the point estimate is the same
    replicates = kept.bootstrap[:, 0]
    assert np.isinf(replicates).any() and (replicates == 0).any()
    assert np.array_equal(np.isnan(left_out.bootstrap[:, 0]), ~np.isfinite(replicates) |
                          (replicates == 0))  # fmt: skip
    assert kept.n_ci[0, 0] == 0 and kept.n_ci[0, 1] == np.inf  # open on both sides
