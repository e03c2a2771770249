"""Full-batch gradient descent as ``init`` + ``step``, looped by ``jax.lax.scan`` (SPEC §3).

The trajectory is cut into segments between evaluation steps: an outer ``lax.scan``
over segments records the metrics, an inner ``lax.fori_loop`` runs the segment's
steps. Metrics are therefore computed only at the evaluation steps, never at every
step (under ``vmap`` a ``lax.cond`` would evaluate both branches at every step).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from w2s_jax.models import Filters


class TrainState(NamedTuple):
    """The scan carry: current filters and the optimizer's state."""

    filters: Filters
    opt_state: optax.OptState


def mean_loss(
    loss: Callable, outputs: Float[Array, " n"], labels: Array, mask: Array
) -> Float[Array, ""]:
    """Mean of ``loss(y f)`` over the real (unmasked) points only."""
    per_sample = loss(labels * outputs)
    return jnp.sum(jnp.where(mask, per_sample, 0.0)) / jnp.sum(mask)


def init(filters: Filters, optimizer: optax.GradientTransformation) -> TrainState:
    return TrainState(filters, optimizer.init(filters))


def step(
    state: TrainState,
    objective: Callable[[Filters], Float[Array, ""]],
    optimizer: optax.GradientTransformation,
) -> TrainState:
    """One full-batch step on ``objective`` (filters -> scalar loss)."""
    grads = jax.grad(objective)(state.filters)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.filters)
    return TrainState(optax.apply_updates(state.filters, updates), opt_state)


def train(
    filters: Filters,
    objective: Callable[[Filters], Float[Array, ""]],
    optimizer: optax.GradientTransformation,
    evaluation_steps: np.ndarray,
    metrics: Callable[[Filters], dict] | None = None,
) -> tuple[Filters, dict]:
    """Run ``evaluation_steps[-1]`` steps; return the final filters and the metrics.

    ``evaluation_steps`` is a static, increasing integer array starting at 0; the
    metrics dict holds arrays of shape ``(E,)`` (empty dict when ``metrics`` is None).
    """
    lengths = np.diff(np.asarray(evaluation_steps))

    def run_segment(state: TrainState, length):
        state = jax.lax.fori_loop(0, length, lambda _, s: step(s, objective, optimizer), state)
        return state, (metrics(state.filters) if metrics else {})

    state = init(filters, optimizer)
    if len(lengths) == 0:
        return filters, jax.tree.map(lambda x: x[None], metrics(filters)) if metrics else {}
    if len(lengths) == 1:  # no intermediate evaluation: one plain loop
        final, last = run_segment(state, int(lengths[0]))
        curves = jax.tree.map(lambda x: x[None], last)
    else:
        final, curves = jax.lax.scan(run_segment, state, jnp.asarray(lengths))
    if metrics:
        first = metrics(filters)
        curves = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), first, curves)
    return final.filters, curves
