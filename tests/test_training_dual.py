"""training.train_in_span (the dual, kernel form of GD) equals training.train."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from w2s_jax import registry
from w2s_jax.models import Filters, cnn_output, cnn_output_from_noise, strong_second_layer
from w2s_jax.training import mean_loss, train, train_in_span


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
