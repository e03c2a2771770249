"""Checks of the NumPy reference: hand-written gradient vs central finite differences."""

from __future__ import annotations

import itertools
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import numpy_reference as ref


def _problem(relu: bool, seed: int = 0):
    """A tiny random problem: F filters, D noise coords, n samples (one masked out)."""
    rng = np.random.default_rng(seed)
    m, D, n = 3, 5, 7
    F = 2 * m if relu else 1
    second_layer = (
        np.concatenate([np.full(m, 1.0 / m), np.full(m, -1.0 / m)]) if relu else np.ones(1)
    )
    signal = rng.normal(size=(F, 4))
    noise = rng.normal(size=(F, D))
    S = rng.normal(size=(n, 2, 4)) * 2.0
    xi = rng.normal(size=(n, D))
    labels = rng.choice([-1.0, 1.0], size=n)
    mask = np.ones(n, bool)
    mask[-1] = False
    return signal, noise, second_layer, S, xi, labels, mask


@pytest.mark.parametrize("relu", [True, False])
def test_gradient_matches_finite_differences(relu):
    signal, noise, a, S, xi, y, mask = _problem(relu)
    gs, gn = ref.loss_gradient(signal, noise, a, S, xi, y, mask, relu)
    h = 1e-6

    def num_grad(which):
        base = signal if which == "signal" else noise
        out = np.zeros_like(base)
        for idx in np.ndindex(base.shape):
            plus, minus = base.copy(), base.copy()
            plus[idx] += h
            minus[idx] -= h
            if which == "signal":
                lp = ref.loss(plus, noise, a, S, xi, y, mask, relu)
                lm = ref.loss(minus, noise, a, S, xi, y, mask, relu)
            else:
                lp = ref.loss(signal, plus, a, S, xi, y, mask, relu)
                lm = ref.loss(signal, minus, a, S, xi, y, mask, relu)
            out[idx] = (lp - lm) / (2 * h)
        return out

    np.testing.assert_allclose(gs, num_grad("signal"), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gn, num_grad("noise"), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("relu", [True, False])
def test_masked_points_have_no_influence(relu):
    signal, noise, a, S, xi, y, mask = _problem(relu)
    y2 = y.copy()
    y2[~mask] *= -1
    xi2 = xi.copy()
    xi2[~mask] = 100.0
    g1 = ref.loss_gradient(signal, noise, a, S, xi, y, mask, relu)
    g2 = ref.loss_gradient(signal, noise, a, S, xi2, y2, mask, relu)
    np.testing.assert_array_equal(g1[0], g2[0])
    np.testing.assert_array_equal(g1[1], g2[1])


@pytest.mark.parametrize("relu", [True, False])
def test_loss_decreases_along_trajectory(relu):
    signal, noise, a, S, xi, y, mask = _problem(relu)
    traj = ref.gd_trajectory(signal, noise, a, S, xi, y, mask, lr=0.05, steps=5, relu=relu)
    assert len(traj) == 6
    np.testing.assert_array_equal(traj[0][0], signal)
    np.testing.assert_array_equal(traj[0][1], noise)
    losses = [ref.loss(s, w, a, S, xi, y, mask, relu) for s, w in traj]
    assert all(l1 < l0 for l0, l1 in itertools.pairwise(losses)), losses


def test_weak_outputs_are_linear_sum_over_patches():
    signal, noise, a, S, xi, _y, _mask = _problem(relu=False)
    f = ref.cnn_outputs(signal, noise, a, S, xi, relu=False)
    expected = S.sum(axis=1) @ signal[0] + xi @ noise[0]
    np.testing.assert_allclose(f, expected, rtol=1e-12)


def test_loss_is_stable_for_large_margins():
    out = np.array([1e4, -1e4])
    y = np.array([1.0, 1.0])
    val = ref.logistic_loss(out, y, np.array([True, True]))
    assert np.isfinite(val)
    np.testing.assert_allclose(val, 1e4 / 2)
