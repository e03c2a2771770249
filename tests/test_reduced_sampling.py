"""The reduced backend (docs/MODEL.md) samples the right laws: chi, Wishart, strong-phase Gram."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from w2s_jax.simulation import reduced

F32 = jnp.float32
Z = 5.0  # tolerance in standard errors


def _chi_square(dof: float, num: int, seed: int = 0) -> np.ndarray:
    dofs = jnp.full((num,), dof, F32)
    roots = jax.jit(reduced.sqrt_chi_square_rows, static_argnums=2)(jax.random.key(seed), dofs, F32)
    return np.asarray(roots, np.float64) ** 2


def _assert_mean_var(x: np.ndarray, mean: float, var: float) -> None:
    """Sample mean and variance within ``Z`` standard errors (SEs estimated from ``x``)."""
    n = x.shape[0]
    centered = x - x.mean()
    se_mean = np.sqrt(var / n)
    se_var = np.sqrt(np.mean(centered**4) - np.mean(centered**2) ** 2) / np.sqrt(n)
    assert abs(x.mean() - mean) < Z * se_mean, (x.mean(), mean, se_mean)
    assert abs(x.var() - var) < Z * se_var, (x.var(), var, se_var)


@pytest.mark.parametrize("dof", [3.0, 1e3, 1e6, 1e9])
def test_chi_square_standardized_moments(dof):
    chi2 = _chi_square(dof, 20_000)
    assert np.all(np.isfinite(chi2))
    _assert_mean_var((chi2 - dof) / np.sqrt(2 * dof), 0.0, 1.0)


@pytest.mark.parametrize("dof", [1.0, 1.5, 3.0, 1e6])
def test_chi_square_ks(dof):
    # dof < 2 takes the Gamma(a + 1) U^(1/a) boost; 1e6 checks the shape, not just moments
    chi2 = _chi_square(dof, 20_000, seed=1)
    assert scipy.stats.kstest(chi2, scipy.stats.chi2(dof).cdf).pvalue > 1e-3


def test_chi_square_degenerate_dof_is_zero_and_rows_use_fold_in():
    key, one_draw = jax.random.key(3), jax.jit(reduced.sqrt_chi_square, static_argnums=2)
    assert float(one_draw(key, jnp.asarray(-2.0), F32)) == 0.0
    dofs = jnp.asarray([2.0, 7.0, 1e5], F32)
    rows = jax.jit(reduced.sqrt_chi_square_rows, static_argnums=2)(key, dofs, F32)
    for i in range(3):
        one = one_draw(jax.random.fold_in(key, i), dofs[i], F32)
        np.testing.assert_allclose(rows[i], one, rtol=1e-6)


def test_acceptance_remainder_is_accurate_in_float32():
    """Marsaglia–Tsang's test reduces to ``log U < 3 (a - 1/3) R(t)``; at dof = 1e9,
    ``|t| ~ 1e-5`` and ``R ~ -t^4/4 ~ 1e-21``: it must keep its relative accuracy there."""
    t = np.concatenate([-np.logspace(-7, np.log10(0.999), 60), np.logspace(-7, 0.5, 60)])
    reference = np.where(
        np.abs(t) < 0.5,
        sum((-1.0) ** (k + 1) * t**k / k for k in range(4, 80)),
        np.log1p(t) - t + t**2 / 2 - t**3 / 3,
    )
    got = np.asarray(reduced._log1p_remainder(jnp.asarray(t, F32)), np.float64)
    series = np.abs(t) < reduced._SERIES_RADIUS
    np.testing.assert_allclose(got[series], reference[series], rtol=1e-6)
    np.testing.assert_allclose(got[~series], reference[~series], rtol=2e-5)


def _assert_gram_law(vectors: np.ndarray, scales: np.ndarray, p: float) -> None:
    """Gram of ``(N, K, D)`` draws vs that of ``K`` independent ``N(0, s_k^2 I_p)`` vectors:
    ``E G_ij = delta_ij s_i^2 p``, ``Cov(G_ij, G_kl) = p s_i s_j s_k s_l (d_ik d_jl + d_il d_jk)``
    for every pair of upper-triangle entries."""
    vectors = vectors.astype(np.float64)
    gram = np.einsum("nid,njd->nij", vectors, vectors)
    rows, cols = np.triu_indices(len(scales))
    feats = gram[:, rows, cols]
    n = feats.shape[0]
    mean = np.where(rows == cols, scales[rows] ** 2 * p, 0.0)
    s = scales
    ii, jj, kk, ll = rows[:, None], cols[:, None], rows[None, :], cols[None, :]
    pairings = ((ii == kk) & (jj == ll)).astype(float) + ((ii == ll) & (jj == kk))
    cov = p * s[ii] * s[jj] * s[kk] * s[ll] * pairings
    centered = feats - feats.mean(0)
    prods = centered[:, :, None] * centered[:, None, :]
    se_cov = prods.std(0) / np.sqrt(n)
    se_mean = np.sqrt(np.diag(cov) / n)
    np.testing.assert_array_less(np.abs(feats.mean(0) - mean), Z * se_mean)
    np.testing.assert_array_less(np.abs(prods.mean(0) - cov), Z * se_cov + 1e-9)


def test_bartlett_gram_is_wishart():
    num_keys, size, p = 20_000, 4, 10.0
    keys = jax.random.split(jax.random.key(4), num_keys)
    draw = jax.jit(jax.vmap(lambda k: reduced.bartlett_factor(k, jnp.ones(size), p, F32)))
    lower = np.asarray(draw(keys))
    assert np.all(np.triu(lower, 1) == 0) and np.all(np.diagonal(lower, 0, 1, 2) > 0)
    _assert_gram_law(lower, np.ones(size), p)


def test_bartlett_rows_are_prefix_consistent():
    key, dof0 = jax.random.key(5), jnp.asarray(30.0)
    draw = jax.jit(reduced.bartlett_factor, static_argnums=3)
    small = draw(key, jnp.arange(1.0, 6.0), dof0, F32)
    large = draw(key, jnp.arange(1.0, 10.0), dof0, F32)
    np.testing.assert_array_equal(small, large[:5, :5])
    assert np.all(large[:5, 5:] == 0)


STRONG = dict(m=2, n_test=3, sigma_p=0.7, sigma_0=0.3)


@functools.partial(jax.jit, static_argnames="n_pad")
def _strong(key, teacher, n_pad, d, sigma_p=STRONG["sigma_p"]):
    return reduced.strong_bartlett_noise(
        key, teacher, STRONG["m"], n_pad, STRONG["n_test"], d, sigma_p, STRONG["sigma_0"], F32
    )


def test_strong_noise_is_prefix_consistent_in_n_pad():
    key, teacher, d = jax.random.key(6), jnp.ones(5), jnp.asarray(1e4)
    small, large = _strong(key, teacher, 6, d), _strong(key, teacher, 10, d)
    width = 1 + 2 * STRONG["m"] + 6
    np.testing.assert_array_equal(small.init_noise, large.init_noise[:, :width])
    np.testing.assert_array_equal(small.train_xi, large.train_xi[:6, :width])
    np.testing.assert_array_equal(small.test_xi, large.test_xi[:, :width])
    assert np.all(large.init_noise[:, width:] == 0) and np.all(large.train_xi[:6, width:] == 0)


def test_strong_noise_has_the_dense_gram_law():
    """With the weak filter's noise part ``t`` fixed, the filters' noise parts and the
    training noise are independent Gaussians in ``d - 4`` dimensions: their Gram, their
    products with ``t`` (``N(0, |t|^2 s_i^2)``) and with a test vector all match."""
    num_keys, d, n_pad, m = 20_000, 40.0, 3, STRONG["m"]
    sp, s0 = STRONG["sigma_p"], STRONG["sigma_0"]
    teacher = jnp.asarray([0.6, -1.2, 0.4])
    tnorm = float(np.linalg.norm(teacher))
    keys = jax.random.split(jax.random.key(7), num_keys)
    out = jax.jit(jax.vmap(lambda k: _strong(k, teacher, n_pad, jnp.asarray(d))))(keys)
    vectors = np.concatenate([out.init_noise, out.train_xi], axis=1)
    scales = np.array([s0] * (2 * m) + [sp] * n_pad)
    _assert_gram_law(vectors, scales, d - 4)
    np.testing.assert_allclose(out.teacher_noise[:, 0], tnorm, rtol=1e-6)
    assert np.all(out.teacher_noise[:, 1:] == 0)
    # <t, a_i> and <test_0, a_i>: independent across i, variances |t|^2 s_i^2, sp^2 s_i^2 (d-4)
    for probe, var in [
        (out.teacher_noise, tnorm**2 * scales**2),
        (out.test_xi[:, 0], sp**2 * scales**2 * (d - 4)),
    ]:
        prods = np.einsum("nd,nkd->nk", np.asarray(probe, np.float64), vectors)
        for i in range(len(scales)):
            _assert_mean_var(prods[:, i] / np.sqrt(var[i]), 0.0, 1.0)
        corr = np.corrcoef(prods.T)[np.triu_indices(len(scales), 1)]
        assert np.all(np.abs(corr) < Z / np.sqrt(num_keys))


def test_weak_noise_has_the_dense_gram_law():
    num_keys, n_weak, d, sp = 20_000, 4, 12.0, 1.3
    keys = jax.random.split(jax.random.key(8), num_keys)
    draw = jax.jit(
        jax.vmap(lambda k: reduced.weak_bartlett_noise(k, n_weak, jnp.asarray(d), sp, F32))
    )
    _assert_gram_law(np.asarray(draw(keys)), np.full(n_weak, sp), d - 4)


def test_jit_vmap_over_traced_d_and_sigma_up_to_1e9():
    ds = jnp.asarray([40.0, 1e3, 1e6, 1e9], F32)
    sps = jnp.asarray([0.5, 1.0, 2.0, 3.0], F32)
    keys = jax.random.split(jax.random.key(9), 4)
    teacher = jnp.ones(6)
    strong = jax.jit(jax.vmap(functools.partial(_strong, teacher=teacher, n_pad=5)))
    out = strong(keys, d=ds, sigma_p=sps)
    weak = jax.jit(jax.vmap(lambda k, d, s: reduced.weak_bartlett_noise(k, 6, d, s, F32)))(
        keys, ds, sps
    )
    for arr in (*out, weak):
        assert np.all(np.isfinite(np.asarray(arr)))
    # at d = 1e9, |xi|^2 / (sp^2 (d - 4)) = 1 +- 4.5e-5 and <xi_i, xi_j> = O(sp^2 sqrt(d))
    for xi in (out.train_xi[-1], weak[-1]):
        gram = np.asarray(xi, np.float64) @ np.asarray(xi, np.float64).T / 9.0
        np.testing.assert_allclose(np.diag(gram) / 1e9, 1.0, atol=5e-4)
        assert np.all(np.abs(gram[np.triu_indices(len(gram), 1)]) < 6 * np.sqrt(1e9))
