"""training.train_in_span (the dual, kernel form of GD) equals training.train."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from w2s_jax.simulation import registry
from w2s_jax.simulation.models import (
    Filters,
    cnn_output,
    cnn_output_from_noise,
    strong_second_layer,
)
from w2s_jax.simulation.training import mean_loss, train, train_in_span


def test_dual_form_follows_the_primal_trajectory(x64):
    rng = np.random.default_rng(0)
    n, d, m = 12, 30, 3
    patches = jnp.asarray(rng.normal(size=(n, 2, 4)))
    xi = jnp.asarray(rng.normal(size=(n, d)))
    labels = jnp.asarray(np.where(rng.random(n) < 0.5, 1.0, -1.0))
    mask = jnp.asarray(np.arange(n) < n - 2)  # two padded points
    layer = strong_second_layer(m, jnp.float64)
    loss = registry.loss("logistic")
    init = Filters(
        jnp.asarray(0.1 * rng.normal(size=(2 * m, 4))),
        jnp.asarray(0.1 * rng.normal(size=(2 * m, d))),
    )
    steps = jnp.array([0, 1, 5, 20, 300, 300])  # past an anchor (128, 256); a repeat

    def primal(f):
        return mean_loss(loss, cnn_output(f, layer, jax.nn.relu, patches, xi), labels, mask)

    def dual(signal, noise_pre):
        out = cnn_output_from_noise(signal, layer, jax.nn.relu, patches, noise_pre)
        return mean_loss(loss, out, labels, mask)

    record = lambda f: {"loss": primal(f), "noise": f.noise}  # noqa: E731
    for optimizer in (optax.sgd(0.5), optax.sgd(0.5, momentum=0.9)):
        final_a, curves_a = train(init, primal, optimizer, steps, 0.0, record)
        final_b, curves_b = train_in_span(init, xi, dual, optimizer, steps, 0.0, record)
        assert int(final_a.step) == int(final_b.step) == 300
        np.testing.assert_allclose(curves_b["loss"], curves_a["loss"], rtol=1e-9)
        a, b = final_a.filters, final_b.filters
        np.testing.assert_allclose(b.noise, a.noise, rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(b.signal, a.signal, rtol=1e-7, atol=1e-10)
        assert curves_a["loss"][-1] < curves_a["loss"][0]  # it did train


def test_dual_form_adds_no_float32_error(x64):
    """In float32 both forms deviate from a float64 primal run by the same order: the
    dual form (its Gram matrix, re-anchoring) adds no rounding error of its own."""
    rng = np.random.default_rng(1)
    n, d, m = 24, 200, 4
    arrays = {
        "patches": rng.normal(size=(n, 2, 4)),
        "xi": rng.normal(size=(n, d)),
        "signal": 0.1 * rng.normal(size=(2 * m, 4)),
        "noise": 0.1 * rng.normal(size=(2 * m, d)),
    }
    labels = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    steps = jnp.array([0, 300])  # past two anchors

    def final_noise(form, dtype):
        a = {k: jnp.asarray(v, dtype) for k, v in arrays.items()}
        layer, y = strong_second_layer(m, dtype), jnp.asarray(labels, dtype)
        loss, mask = registry.loss("logistic"), jnp.ones(n, bool)
        init = Filters(a["signal"], a["noise"])
        if form == "primal":
            out = lambda f: cnn_output(f, layer, jax.nn.relu, a["patches"], a["xi"])  # noqa: E731
            objective = lambda f: mean_loss(loss, out(f), y, mask)  # noqa: E731
            return train(init, objective, optax.sgd(0.5), steps, 0.0)[0].filters.noise

        def objective(signal, noise_pre):
            out = cnn_output_from_noise(signal, layer, jax.nn.relu, a["patches"], noise_pre)
            return mean_loss(loss, out, y, mask)

        final = train_in_span(init, a["xi"], objective, optax.sgd(0.5), steps, 0.0)[0]
        return final.filters.noise

    reference = np.asarray(final_noise("primal", jnp.float64))
    scale = np.max(np.abs(reference))
    error = {
        form: np.max(np.abs(np.asarray(final_noise(form, jnp.float32)) - reference)) / scale
        for form in ("primal", "dual")
    }
    assert error["primal"] < 1e-4 and error["dual"] < 1e-4, error
    assert error["dual"] < 10 * error["primal"] + 1e-6, error
