"""The CNNs of the paper's Definitions 2 and 3 (docs/MODEL.md), for ONE batch of samples.

Both models are ``f(W, X) = sum_f a_f sum_p act(<w_f, x_p>)`` with a fixed second
layer ``a``:

* weak linear CNN: one filter, ``a = (1,)``, identity activation;
* strong ReLU CNN: ``2m`` filters, the first ``m`` with sign ``s = +1`` and the last
  ``m`` with ``s = -1``, ``a_f = s/m``, ReLU.

So the weak and strong models are one code path. A filter bank is stored as its
coefficients on the four signal directions and on the ``D`` noise coordinates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
from jaxtyping import Array, Float


class Filters(NamedTuple):
    """``F`` filters: ``signal (F, 4)`` on ``mu_{+1}, mu_{-1}, nu_{+1}, nu_{-1}``
    (unit directions) and ``noise (F, D)`` on the noise coordinates."""

    signal: Float[Array, "F 4"]
    noise: Float[Array, "F D"]


def preactivations(
    filters: Filters, patches: Float[Array, "n 2 4"], xi: Float[Array, "n D"]
) -> Float[Array, "n 3 F"]:
    """``<w_f, x_p>`` for the two signal patches and the noise patch of every sample."""
    return _stack_preactivations(filters.signal, patches, xi @ filters.noise.T)


def _stack_preactivations(signal_filters, patches, noise_preactivations):
    signal = jnp.einsum("npk,fk->npf", patches, signal_filters)
    return jnp.concatenate([signal, noise_preactivations[:, None, :]], axis=1)


def cnn_output(
    filters: Filters,
    second_layer: Float[Array, " F"],
    activation: Callable,
    patches: Float[Array, "n 2 4"],
    xi: Float[Array, "n D"],
) -> Float[Array, " n"]:
    """``f(W, X_i)`` for every sample; ``activation`` maps preactivations elementwise."""
    return cnn_output_from_noise(
        filters.signal, second_layer, activation, patches, xi @ filters.noise.T
    )


def cnn_output_from_noise(
    signal_filters: Float[Array, "F 4"],
    second_layer: Float[Array, " F"],
    activation: Callable,
    patches: Float[Array, "n 2 4"],
    noise_preactivations: Float[Array, "n F"],
) -> Float[Array, " n"]:
    """:func:`cnn_output` given the noise patches' preactivations ``xi @ noise.T``
    instead of ``xi`` and the noise filters (the form :func:`training.train_in_span`
    trains in)."""
    pre = _stack_preactivations(signal_filters, patches, noise_preactivations)
    return activation(pre).sum(axis=1) @ second_layer


def strong_second_layer(m: int, dtype) -> Float[Array, " F"]:
    """``a = (+1/m, ..., +1/m, -1/m, ..., -1/m)``: ``F_{+1} - F_{-1}``."""
    return jnp.concatenate([jnp.ones(m, dtype), -jnp.ones(m, dtype)]) / m


def filter_signs(m: int) -> Float[Array, " F"]:
    """The sign ``s`` of each filter (``+1`` for the first ``m``)."""
    return jnp.concatenate([jnp.ones(m), -jnp.ones(m)])


def sign(z: Float[Array, "..."]) -> Float[Array, "..."]:
    """``sign`` with ``sign(0) = +1`` (docs/MODEL.md, "Training")."""
    return jnp.where(z >= 0, 1, -1)
