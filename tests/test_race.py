"""The race curves (``run.race``) on cases with a known answer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import tiny_config
from w2s_jax.execution import engine
from w2s_jax.simulation.identity import teacher_identity


def _race(**overrides):
    config = tiny_config(**{"run.race": True, **overrides})
    result = engine.run_alone(config)
    return config, result.steps[0], {k: v[0] for k, v in result.curves.items()}


def test_at_step_zero_nothing_is_learned_and_the_init_term_is_sigma_0_sigma_p_sqrt_d():
    config, steps, curves = _race(**{"strong.sigma_0": 0.01, "data.sigma_p": 2.0})
    assert steps[0] == 0
    assert curves["race_noise_test"][0] == 0.0 and curves["race_rho_mean"][0] == 0.0
    # <w_r(0), xi> ~ N(0, sigma_0^2 sigma_p^2 (d - 4)): its RMS over 300 x 6 pairs.
    expected = 0.01 * 2.0 * math.sqrt(config["data.d"] - 4)
    assert curves["race_init_test"][0] == pytest.approx(expected, rel=0.1)
    np.testing.assert_allclose(curves["race_init_test"], curves["race_init_test"][0])
    assert curves["race_noise_test"][-1] > 0


def test_first_step_noise_coefficient_and_loss_derivatives_match_the_formula():
    """From a negligible init every output is 0, so |l'| = 1/2 in every data group, and
    one GD step adds lr / (2 n m) xi_i to each own filter active on xi_i (about half of
    them): the own-filter mean coefficient is lr / (4 n m). Large d (reduced backend)
    keeps the noise vectors orthogonal to within 1e-3."""
    n, m, lr = 40, 3, 0.5
    config, steps, curves = _race(
        **{
            "run.backend": "reduced",
            "data.d": 1e7,
            "strong.sigma_0": 1e-9,
            "strong.lr": lr,
            "strong.n": n,
            "strong.m": m,
        }
    )
    for group in ("easy", "both", "hard_right", "hard_wrong"):
        assert curves[f"race_grad_{group}"][0] == pytest.approx(0.5, abs=1e-6), group
    first = int(np.flatnonzero(steps == 1)[0])
    assert curves["race_rho_mean"][first] == pytest.approx(lr / (4 * n * m), rel=0.2)
    assert curves["race_rho_std"][first] > 0


def test_race_changes_no_random_draw():
    plain = tiny_config()
    raced = tiny_config(**{"run.race": True})
    assert teacher_identity(plain) == teacher_identity(raced)
    a = engine.run_alone(plain)
    b = engine.run_alone(raced)
    # Other programs (extra outputs): XLA may fuse differently, so allow one test point.
    np.testing.assert_allclose(a.curves["test_error"], b.curves["test_error"], atol=1.01 / 300)
    assert "race_rho_mean" not in a.curves
