"""The simulator (docs/MODEL.md) against independent implementations and invariants."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import numpy_reference as ref
from conftest import tiny_config
from w2s_jax.execution import engine
from w2s_jax.simulation import backends, config, pipeline, registry
from w2s_jax.simulation.data import BOTH, EASY, HARD, Samples, draw_labels, signal_patches
from w2s_jax.simulation.models import Filters, cnn_output, sign, strong_second_layer
from w2s_jax.simulation.training import mean_loss


def _stream(key, stream):
    return jax.random.fold_in(key, stream)


def _dense_patches(y, kind, eps, xi, mu_norm, nu_norm, d, hard_sign):
    """X (n, 3, d) written out from Definition 1, signals on e1..e4 (NumPy, no lookups)."""
    n = len(y)
    X = np.zeros((n, 3, d))
    for i in range(n):
        mu = np.zeros(d)
        nu = np.zeros(d)
        mu[0 if y[i] == 1 else 1] = mu_norm
        nu[2 if y[i] == 1 else 3] = nu_norm
        if kind[i] == EASY:
            X[i, 0], X[i, 1] = mu, mu
        elif kind[i] == HARD:
            X[i, 0], X[i, 1] = (eps[i] * nu, eps[i] * nu) if hard_sign == "random" else (nu, -nu)
        else:
            X[i, 0], X[i, 1] = (mu, eps[i] * nu) if hard_sign == "random" else (mu, nu)
        X[i, 2, 4:] = xi[i]
    return X


@pytest.mark.parametrize("hard_sign", ["random", "paired"])
def test_gradients_equal_autodiff_of_direct_implementation(hard_sign, x64):
    d, m, n = 12, 3, 9
    key = jax.random.key(1)
    y, kind, eps = (np.asarray(a) for a in draw_labels(key, n, 0.3, 0.3))
    xi = np.random.default_rng(0).normal(size=(n, d - 4))
    X = _dense_patches(y, kind, eps, xi, 2.0, 1.5, d, hard_sign)
    samples = Samples(*(jnp.asarray(a) for a in (y, kind, eps, xi)))
    patches = signal_patches(samples, jnp.float64(2.0), jnp.float64(1.5), hard_sign)
    W = np.random.default_rng(1).normal(size=(2 * m, d))
    labels = np.where(np.arange(n) % 3 == 0, -y, y).astype(float)

    def direct_strong(W):  # Definition 3 written out: F_{+1} - F_{-1}
        pre = jnp.einsum("npd,fd->npf", X, W)
        out = (
            jax.nn.relu(pre[:, :, :m]).sum((1, 2)) / m - jax.nn.relu(pre[:, :, m:]).sum((1, 2)) / m
        )
        return jnp.mean(jnp.log1p(jnp.exp(-labels * out)))

    def direct_weak(w):  # Definition 2: sum_p <w, x_p>
        return jnp.mean(jnp.log1p(jnp.exp(-labels * jnp.einsum("npd,d->n", X, w[0]))))

    mask = jnp.ones(n, bool)
    for direct, layer, act, F in (
        (direct_strong, strong_second_layer(m, jnp.float64), jax.nn.relu, 2 * m),
        (direct_weak, jnp.ones(1), lambda z: z, 1),
    ):

        def ours(f, layer=layer, act=act):
            outputs = cnn_output(f, layer, act, patches, samples.xi)
            return mean_loss(registry.loss("logistic"), outputs, labels, mask)

        grad_ours = jax.grad(ours)(Filters(jnp.asarray(W[:F, :4]), jnp.asarray(W[:F, 4:])))
        grad_direct = np.asarray(jax.grad(direct)(jnp.asarray(W[:F])))
        np.testing.assert_allclose(grad_ours.signal, grad_direct[:, :4], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(grad_ours.noise, grad_direct[:, 4:], rtol=1e-10, atol=1e-12)
        assert np.abs(grad_direct).max() > 1e-3  # a non-trivial gradient was compared


def _reference_trajectory(filters, layer, relu, patches, xi, labels, mask, lr, steps):
    return ref.gd_trajectory(
        np.asarray(filters.signal),
        np.asarray(filters.noise),
        np.asarray(layer),
        np.asarray(patches),
        np.asarray(xi),
        np.asarray(labels, float),
        np.asarray(mask),
        lr,
        steps,
        relu,
    )


@pytest.mark.parametrize("gd_form", ["primal", "dual"])
def test_pipeline_matches_numpy_float64_gd(gd_form, x64):
    """Teacher and student trajectories equal a plain NumPy float64 GD on the same data,
    with the student trained in either form (primal filters or dual coefficients)."""
    c = tiny_config(
        **{
            "strong.gd_form": gd_form,
            "run.dtype": "float64",
            "strong.n": 30,
            "strong.steps": 25,
            "eval.points": 6,
            "weak.steps": 20,
        }
    )
    static, params = config.split(c)
    key = jax.random.key(7)
    dtype, data = jnp.float64, params.data
    # Teacher: the same samples the pipeline draws, then NumPy GD from w = 0.
    y, kind, eps = draw_labels(
        _stream(key, pipeline.WEAK_LABELS), static.weak_n, data.p_easy, data.p_hard
    )
    xi = backends.weak_noise(
        _stream(key, pipeline.WEAK_NOISE),
        "dense",
        static.d,
        static.weak_n,
        data.d,
        data.sigma_p,
        dtype,
    )
    weak_patches = signal_patches(
        Samples(y, kind, eps, xi), data.mu_norm, data.nu_norm, static.hard_sign
    )
    zero = Filters(jnp.zeros((1, 4)), jnp.zeros((1, xi.shape[1])))
    expected = _reference_trajectory(
        zero,
        np.ones(1),
        False,
        weak_patches,
        xi,
        y,
        np.ones(len(y), bool),
        c["weak.lr"],
        c["weak.steps"],
    )[-1]
    teacher = jax.jit(pipeline.train_teacher, static_argnums=0)(static, params, key)
    np.testing.assert_allclose(teacher.signal, expected[0], rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(teacher.noise, expected[1], rtol=1e-5, atol=1e-8)

    # Student: reconstruct its data and init, run NumPy GD, compare the loss curve.
    noise = backends.strong_noise(
        _stream(key, pipeline.STRONG_NOISE),
        "dense",
        static.d,
        static.m,
        static.n_pad,
        static.n_test,
        teacher.noise,
        data.d,
        data.sigma_p,
        params.strong.sigma_0,
        dtype,
    )
    labels = draw_labels(
        _stream(key, pipeline.STRONG_LABELS), static.n_pad, data.p_easy, data.p_hard
    )
    train_set = Samples(*labels, noise.train_xi)
    patches = signal_patches(train_set, data.mu_norm, data.nu_norm, static.hard_sign)
    pseudo = np.where(
        np.asarray(patches.sum(1) @ teacher.signal[0] + noise.train_xi @ teacher.noise[0]) >= 0,
        1.0,
        -1.0,
    )
    mask = np.arange(static.n_pad) < c["strong.n"]
    init = Filters(
        params.strong.sigma_0
        * jax.random.normal(_stream(key, pipeline.STRONG_INIT), (2 * static.m, 4), dtype),
        noise.init_noise,
    )
    layer = np.asarray(strong_second_layer(static.m, dtype))
    trajectory = _reference_trajectory(
        init,
        layer,
        True,
        patches,
        noise.train_xi,
        pseudo,
        mask,
        c["strong.lr"],
        c["strong.steps"],
    )
    steps = config.eval_steps(c["strong.steps"], static.eval_points)
    expected_loss = [
        ref.loss(
            *trajectory[t],
            layer,
            np.asarray(patches),
            np.asarray(noise.train_xi),
            pseudo,
            mask,
            True,
        )
        for t in steps
    ]
    curves, scalars = jax.jit(pipeline.run_student, static_argnums=0)(static, params, key, teacher)
    padded = config.padded_eval_steps(c["strong.steps"], static.eval_points)
    _, keep = np.unique(padded, return_index=True)
    np.testing.assert_allclose(curves["train_loss"][keep], expected_loss, rtol=1e-5)
    assert float(scalars["flip_rate"]) == pytest.approx(np.mean((pseudo != labels[0])[mask]))


def test_vmapped_program_equals_loop_of_single_runs():
    configs = [
        tiny_config(**{"strong.n": n, "strong.lr": lr, "seed": s})
        for n, lr, s in ((57, 1.0, 0), (64, 0.5, 0), (60, 1.0, 1), (62, 2.0, 2))
    ]
    static = config.split(configs[0])[0]
    assert all(config.split(c)[0] == static for c in configs)  # one program
    batch = engine.run_chunk(static, configs, base_seed=3, size=len(configs))
    single = jax.jit(pipeline.run_configuration, static_argnums=0)
    for row, c in enumerate(configs):
        key = engine._key(jnp.asarray(engine.key_words(3, c)))
        curves, scalars = single(static, config.split(c)[1], key)
        for name, values in curves.items():
            np.testing.assert_allclose(
                batch.curves[name][row], values, rtol=2e-6, atol=1e-7, err_msg=name
            )
        for name, value in scalars.items():
            np.testing.assert_allclose(batch.scalars[name][row], value, rtol=2e-6, err_msg=name)


@pytest.mark.parametrize("hard_sign", ["random", "paired"])
def test_weak_model_is_a_coin_flip_on_hard_data(hard_sign):
    """Proposition 2.1: no linear model beats a coin flip on hard-only data."""
    seeds = 4
    configs = [
        tiny_config(
            **{
                "data.hard_sign": hard_sign,
                "eval.n_test": 4000,
                "strong.steps": 1,
                "eval.points": 2,
                "seed": s,
            }
        )
        for s in range(seeds)
    ]
    result = engine.run_chunk(config.split(configs[0])[0], configs, 0, seeds)
    hard_count = 4000 * 0.30 * seeds
    hard_error = result.scalars["weak_hard_error"].mean()
    assert abs(hard_error - 0.5) < 4 * np.sqrt(0.25 / hard_count)
    overall = result.scalars["weak_test_error"].mean()
    assert abs(overall - 0.30 / 2) < 4 * np.sqrt(0.15 * 0.85 / (4000 * seeds)) + 0.01
    assert result.scalars["weak_easy_error"].max() < 0.01  # it does learn the easy signal


@pytest.mark.parametrize("backend", ["dense", "reduced"])
def test_padding_inside_a_larger_program_changes_nothing(backend):
    c = tiny_config(**{"strong.n": 37, "run.backend": backend, "data.d": 400})
    static, params = config.split(c)
    assert static.n_pad == 40
    run = jax.jit(pipeline.run_configuration, static_argnums=0)
    key = jax.random.key(5)
    alone = run(static, params, key)
    padded = run(dataclasses.replace(static, n_pad=256), params, key)
    for a, b in zip(jax.tree.leaves(alone), jax.tree.leaves(padded)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_kinds_and_signs_follow_definition_1():
    n = 4000
    y, kind, eps = (np.asarray(a) for a in draw_labels(jax.random.key(0), n, 0.35, 0.30))
    for k, p in ((EASY, 0.35), (HARD, 0.30), (BOTH, 0.35)):
        assert abs(np.mean(kind == k) - p) < 4 * np.sqrt(p * (1 - p) / n)
    assert abs(np.mean(y == 1) - 0.5) < 4 * np.sqrt(0.25 / n)
    assert abs(np.mean(eps == 1) - 0.5) < 4 * np.sqrt(0.25 / n)
    assert np.all(sign(jnp.zeros(3)) == 1)  # sign(0) = +1
