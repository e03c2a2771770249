"""Full-batch gradient descent as ``init`` + ``step``, looped by ``jax.lax.scan``
(docs/MODEL.md, "Training").

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

    def run_segment(state: TrainState, length):
        state = jax.lax.fori_loop(0, length, lambda _, s: step(s, objective, optimizer), state)
        return state, (metrics(state.filters) if metrics else {})

    final, curves = _segments(run_segment, init(filters, optimizer), evaluation_steps)
    return _with_first(None if final is None else final.filters, filters, curves, metrics)


def _segments(run_segment: Callable, state, evaluation_steps: np.ndarray):
    """``run_segment`` over the gaps between evaluation steps; ``(final state, curves)``
    (``final`` is None when there is no step to run)."""
    lengths = np.diff(np.asarray(evaluation_steps))
    if len(lengths) == 0:
        return None, None
    if len(lengths) == 1:  # no intermediate evaluation: one plain loop
        final, last = run_segment(state, int(lengths[0]))
        return final, jax.tree.map(lambda x: x[None], last)
    return jax.lax.scan(run_segment, state, jnp.asarray(lengths))


def _with_first(final: Filters | None, start: Filters, curves, metrics) -> tuple[Filters, dict]:
    """Prepend the metrics at step 0 to the curves."""
    if final is None:
        return start, jax.tree.map(lambda x: x[None], metrics(start)) if metrics else {}
    if metrics:
        first = metrics(start)
        curves = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), first, curves)
    return final, curves


def dual_is_cheaper(n: int, dim: int, num_filters: int, steps: int, segments: int) -> bool:
    """Whether :func:`train_in_span` needs fewer FLOPs than :func:`train` for a run of
    ``steps`` steps in ``segments`` evaluation segments on an ``(n, dim)`` noise matrix
    with ``num_filters`` filters (the products only: everything else is the same).

    primal: ``4 n D F`` per step (forward and gradient products); dual: the Gram matrix
    ``2 n^2 D`` once, ``2 n^2 F`` per step, and ``4 n D F`` per segment to rebuild the
    filters and their preactivations."""
    primal = 4 * n * dim * num_filters * steps
    dual = 2 * n * n * dim + 2 * n * n * num_filters * steps + 4 * n * dim * num_filters * segments
    return dual < primal


class SpanState(NamedTuple):
    """The carry of :func:`train_in_span`: noise filters ``anchor + coef @ xi``.

    ``signal (F, 4)``, ``anchor (F, D)``, ``anchor_preactivations (n, F)`` (``xi @
    anchor.T``), ``coef (F, n)`` and the optimizer's state (over ``(signal, coef)``)."""

    signal: Array
    anchor: Array
    anchor_preactivations: Array
    coef: Array
    opt_state: optax.OptState


def train_in_span(
    filters: Filters,
    xi: Float[Array, "n D"],
    objective: Callable[[Array, Array], Float[Array, ""]],
    optimizer: optax.GradientTransformation,
    evaluation_steps: np.ndarray,
    metrics: Callable[[Filters], dict] | None = None,
) -> tuple[Filters, dict]:
    """:func:`train` for an objective that sees the noise filters only through
    ``xi @ noise.T``, run in the dual ("kernel") form: the same trajectory at
    ``2 n^2 F`` FLOPs per step instead of ``4 n D F``, a gain whenever ``n < 2 D``
    (always in the reduced backend, whose ``D = 1 + 2m + n_pad``).

    ``objective(signal (F, 4), noise_preactivations (n, F)) -> loss``. The gradient with
    respect to the noise filters is ``G^T xi`` (``G = dloss/dpreactivations``), so GD
    keeps every filter in ``anchor + span(rows of xi)``: ``W = W_a + A xi``, whose
    preactivations are ``xi W_a^T + K A^T`` with the Gram matrix ``K = xi xi^T`` (once per
    run); the optimizer runs on ``A`` with ``G^T``. Exact only for optimizers whose
    update is linear in past gradients and ignores the parameters (GD, momentum; NOT
    Adam or weight decay). At every evaluation step the filters are rebuilt for the
    metrics and become the new anchor (``A = 0``): a float32 error in ``K`` then acts
    within one segment only, not over the whole run.
    """
    gram = jnp.matmul(xi, xi.T, precision=jax.lax.Precision.HIGHEST)
    gradient = jax.grad(objective, argnums=(0, 1))

    def step_in_span(_, state: SpanState) -> SpanState:
        preactivations = state.anchor_preactivations + gram @ state.coef.T
        grad_signal, grad_preactivations = gradient(state.signal, preactivations)
        coords = Filters(state.signal, state.coef)
        updates, opt_state = optimizer.update(
            Filters(grad_signal, grad_preactivations.T), state.opt_state, coords
        )
        coords = optax.apply_updates(coords, updates)
        return state._replace(signal=coords.signal, coef=coords.noise, opt_state=opt_state)

    def anchored(signal, noise, coef, opt_state) -> SpanState:
        return SpanState(signal, noise, xi @ noise.T, jnp.zeros_like(coef), opt_state)

    def run_segment(state: SpanState, length):
        state = jax.lax.fori_loop(0, length, step_in_span, state)
        current = Filters(state.signal, state.anchor + state.coef @ xi)
        state = anchored(current.signal, current.noise, state.coef, state.opt_state)
        return state, (metrics(current) if metrics else {})

    coef = jnp.zeros((filters.noise.shape[0], xi.shape[0]), xi.dtype)
    opt_state = optimizer.init(Filters(filters.signal, coef))
    state = anchored(filters.signal, filters.noise, coef, opt_state)
    final, curves = _segments(run_segment, state, evaluation_steps)
    final = None if final is None else Filters(final.signal, final.anchor)
    return _with_first(final, filters, curves, metrics)
