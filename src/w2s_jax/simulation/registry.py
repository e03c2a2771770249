"""Named ingredients: activations, losses and optimizers, selectable by name or object.

Adding an entry is one function and one line in its table. Every entry is a pure
function of JAX arrays, so it runs under ``vmap`` and its parameters can be traced.

* activation ``(z, param) -> a``: ``param`` is the traced ``strong.activation_param``
  (NaN means the entry's default).
* loss ``(margin) -> loss`` where ``margin = y f(X)``.
* optimizer ``(learning_rate, momentum) -> optax.GradientTransformation``; both
  arguments are traced scalars, so a step size stays sweepable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class Activation(NamedTuple):
    fn: Callable  # (z, param) -> activation
    default_param: float


def _relu(z, param):
    return jax.nn.relu(z)  # jax.nn.relu has ReLU'(0) = 0, as docs/MODEL.md states


def _leaky_relu(z, slope):
    return jnp.where(z > 0, z, slope * z)


def _relu_pow(z, power):
    # ReLU^q of the benign-overfitting CNN literature; the where keeps grad finite at 0.
    positive = z > 0
    return jnp.where(positive, jnp.where(positive, z, 1.0) ** power, 0.0)


def _smooth_relu(z, width, power=3.0):
    """Polynomial below ``width``, linear above: z^q/(q w^{q-1}) then z - w(1 - 1/q)."""
    zc = jnp.clip(z, 0.0, width)
    return jnp.where(
        z >= width, z - width * (1 - 1 / power), zc**power / (power * width ** (power - 1))
    )


ACTIVATIONS: dict[str, Activation] = {
    "identity": Activation(lambda z, param: z, 0.0),
    "relu": Activation(_relu, 0.0),
    "leaky_relu": Activation(_leaky_relu, 0.01),
    "relu_pow": Activation(_relu_pow, 3.0),
    "smooth_relu": Activation(_smooth_relu, 1.0),
}

LOSSES: dict[str, Callable] = {
    "logistic": lambda margin: jax.nn.softplus(-margin),  # log(1 + e^{-z}), stable
    "exponential": lambda margin: jnp.exp(-margin),
    "hinge": lambda margin: jax.nn.relu(1.0 - margin),
    "squared": lambda margin: 0.5 * (1.0 - margin) ** 2,  # (y - f)^2 / 2 for y = ±1
}

OPTIMIZERS: dict[str, Callable] = {
    "sgd": lambda lr, momentum: optax.sgd(lr),
    "momentum": lambda lr, momentum: optax.sgd(lr, momentum=momentum),
    "adam": lambda lr, momentum: optax.adam(lr, b1=momentum),
}
# Optimizers whose update is a linear function of the past gradients alone (no
# dependence on the parameters): the dual form of GD (training.train_in_span) is exact
# for these and only these.
LINEAR_OPTIMIZERS: set = {"sgd", "momentum"}


def _lookup(table: dict, name, what: str):
    if callable(name) or isinstance(name, Activation):
        return name
    try:
        return table[name]
    except KeyError:
        raise KeyError(f"unknown {what} {name!r}; known: {', '.join(table)}") from None


def activation(name) -> Activation:
    entry = _lookup(ACTIVATIONS, name, "activation")
    return entry if isinstance(entry, Activation) else Activation(entry, 0.0)


def loss(name) -> Callable:
    return _lookup(LOSSES, name, "loss")


def optimizer(name) -> Callable:
    return _lookup(OPTIMIZERS, name, "optimizer")
