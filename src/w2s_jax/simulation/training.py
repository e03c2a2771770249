"""Full-batch gradient descent as ``init`` + ``step``, looped by ``jax.lax.scan``
(docs/MODEL.md, "Training").

The trajectory is cut at the evaluation steps: an outer ``lax.scan`` over them records
the metrics, an inner ``lax.while_loop`` runs the steps up to the next one. Metrics are
therefore computed only at the evaluation steps, never at every step (under ``vmap`` a
``lax.cond`` would evaluate both branches at every step). The step counts and the
evaluation steps are traced values, so configurations that differ only in their number
of steps share one program, and a run may stop early at a target training loss
(``stop_loss``): from then on it is frozen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float

from w2s_jax.simulation.models import Filters

ANCHOR_EVERY = 128  # the dual form re-anchors its filters every this many steps


class TrainState(NamedTuple):
    """The scan carry: current filters, the optimizer's state, the number of steps taken
    (int32) and whether the run has stopped at its target loss (bool)."""

    filters: Filters
    opt_state: optax.OptState
    step: Array
    stopped: Array


def mean_loss(
    loss: Callable, outputs: Float[Array, " n"], labels: Array, mask: Array
) -> Float[Array, ""]:
    """Mean of ``loss(y f)`` over the real (unmasked) points only."""
    return masked_mean(loss(labels * outputs), mask)


def masked_mean(values: Array, where: Array) -> Float[Array, ""]:
    """Mean of ``values`` over the entries where ``where`` holds (NaN where none does)."""
    return jnp.sum(jnp.where(where, values, 0.0)) / jnp.sum(where)


def init(filters: Filters, optimizer: optax.GradientTransformation) -> TrainState:
    return TrainState(filters, optimizer.init(filters), jnp.int32(0), jnp.bool_(False))


def reached(loss: Array, stop_loss: Array) -> Array:
    """Whether a run stops here: ``stop_loss > 0`` and the loss is at or below it."""
    return (stop_loss > 0) & (loss <= stop_loss)


def _keep_if(stop: Array, old, new):
    """``old`` where the run stops at this step, else ``new`` (a stopped run is frozen)."""
    return jax.tree.map(lambda a, b: jnp.where(stop, a, b), old, new)


def step(
    state: TrainState,
    objective: Callable[[Filters], Float[Array, ""]],
    optimizer: optax.GradientTransformation,
    stop_loss: Array,
) -> TrainState:
    """One full-batch step on ``objective`` (filters -> scalar loss), unless the loss at
    the current filters is already at ``stop_loss``: then the state is kept, marked
    stopped."""
    loss, grads = jax.value_and_grad(objective)(state.filters)
    stop = reached(loss, stop_loss)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.filters)
    moved = TrainState(
        optax.apply_updates(state.filters, updates), opt_state, state.step + 1, state.stopped
    )
    return _keep_if(stop, state._replace(stopped=jnp.bool_(True)), moved)


def _running(state, end) -> Array:
    return (state.step < end) & ~state.stopped


def train(
    filters: Filters,
    objective: Callable[[Filters], Float[Array, ""]],
    optimizer: optax.GradientTransformation,
    evaluation_steps: Array,
    stop_loss: Array,
    metrics: Callable[[Filters], dict] | None = None,
) -> tuple[TrainState, dict]:
    """GD until ``evaluation_steps[-1]`` or the first step whose loss is ``<= stop_loss``.

    ``evaluation_steps (E,)`` is a traced, non-decreasing integer array starting at 0
    (repeats allowed): the number of steps is data, so runs of different lengths share
    one compiled program (under ``vmap`` the loops run to the longest and finished runs
    are frozen). Returns the final :class:`TrainState` and the metrics, arrays of shape
    ``(E,)`` taken after ``evaluation_steps[k]`` steps (or at the stop, if earlier);
    ``{}`` when ``metrics`` is None.
    """

    def advance(state: TrainState, end):
        state = jax.lax.while_loop(
            lambda s: _running(s, end), lambda s: step(s, objective, optimizer, stop_loss), state
        )
        return state, (metrics(state.filters) if metrics else {})

    return _over_evaluations(advance, init(filters, optimizer), evaluation_steps, metrics)


def _over_evaluations(advance: Callable, state, evaluation_steps: Array, metrics):
    """``advance`` to each evaluation step in turn (one traced copy of the metrics); with
    no metrics, straight to the last step."""
    if metrics is None:
        return advance(state, evaluation_steps[-1])
    return jax.lax.scan(advance, state, evaluation_steps)


class SpanState(NamedTuple):
    """The carry of :func:`train_in_span`: noise filters ``anchor + coef @ xi``.

    ``signal (F, 4)``, ``anchor (F, D)``, ``anchor_preactivations (F, n)`` (``anchor @
    xi.T``), ``coef (F, n)``, the optimizer's state (over ``(signal, coef)``), the
    number of steps taken and whether the run has stopped."""

    signal: Array
    anchor: Array
    anchor_preactivations: Array
    coef: Array
    opt_state: optax.OptState
    step: Array
    stopped: Array


def train_in_span(
    filters: Filters,
    xi: Float[Array, "n D"],
    objective: Callable[[Array, Array], Float[Array, ""]],
    optimizer: optax.GradientTransformation,
    evaluation_steps: Array,
    stop_loss: Array,
    metrics: Callable[[Filters], dict] | None = None,
) -> tuple[TrainState, dict]:
    """:func:`train` for an objective that sees the noise filters only through
    ``xi @ noise.T``, run in the dual ("kernel") form: the same trajectory at
    ``2 n^2 F`` FLOPs per step instead of ``4 n D F``, a gain whenever ``n < 2 D``
    (always in the reduced backend, whose ``D = 1 + 2m + n_pad``; the choice:
    ``cost_model.use_dual_form``).

    ``objective(signal (F, 4), noise_preactivations (n, F)) -> loss``. The gradient with
    respect to the noise filters is ``G^T xi`` (``G = dloss/dpreactivations``), so GD
    keeps every filter in ``anchor + span(rows of xi)``: ``W = W_a + A xi``, whose
    preactivations are ``xi W_a^T + K A^T`` with the Gram matrix ``K = xi xi^T`` (once per
    run); the optimizer runs on ``A`` with ``G^T``. Exact only for optimizers whose
    update is linear in past gradients and ignores the parameters (GD, momentum; NOT
    Adam or weight decay). Every ``ANCHOR_EVERY`` steps the filters are rebuilt and
    become the new anchor (``A = 0``), so a float32 error in ``K`` acts within a block
    of steps only. The anchors sit at fixed steps, not at the evaluation steps, so the
    trajectory does not depend on where (or how often) it is evaluated, nor on the cap:
    a run stopped at step ``s`` ends in the state of the same run capped at ``s``.
    """
    gram = jnp.matmul(xi, xi.T, precision=jax.lax.Precision.HIGHEST)
    value_and_gradient = jax.value_and_grad(objective, argnums=(0, 1))

    def step_in_span(state: SpanState) -> SpanState:
        # Filter-major (F, n) = (F, n) @ (n, n): the Gram matrix, the one large operand,
        # is the right-hand side read row by row (K is symmetric, so this is K A^T
        # transposed); benchmarks/RESULTS.md has the rates of both layouts.
        preactivations = state.anchor_preactivations + state.coef @ gram
        loss, (grad_signal, grad_preactivations) = value_and_gradient(
            state.signal, preactivations.T
        )
        stop = reached(loss, stop_loss)
        coords = Filters(state.signal, state.coef)
        updates, opt_state = optimizer.update(
            Filters(grad_signal, grad_preactivations.T), state.opt_state, coords
        )
        coords = optax.apply_updates(coords, updates)
        moved = state._replace(
            signal=coords.signal, coef=coords.noise, opt_state=opt_state, step=state.step + 1
        )
        return _keep_if(stop, state._replace(stopped=jnp.bool_(True)), moved)

    def current(state: SpanState) -> Filters:
        return Filters(state.signal, state.anchor + state.coef @ xi)

    def reanchor(state: SpanState) -> SpanState:
        noise = current(state).noise
        return state._replace(
            anchor=noise, anchor_preactivations=noise @ xi.T, coef=jnp.zeros_like(state.coef)
        )

    def block(end):
        """Steps up to the next anchor (or ``end``), then re-anchor there."""

        def run(state: SpanState) -> SpanState:
            anchor_step = jnp.minimum(end, (state.step // ANCHOR_EVERY + 1) * ANCHOR_EVERY)
            state = jax.lax.while_loop(lambda s: _running(s, anchor_step), step_in_span, state)
            at_anchor = state.step % ANCHOR_EVERY == 0
            return _keep_if(at_anchor, reanchor(state), state)

        return run

    def advance(state: SpanState, end):
        state = jax.lax.while_loop(lambda s: _running(s, end), block(end), state)
        return state, (metrics(current(state)) if metrics else {})

    coef = jnp.zeros((filters.noise.shape[0], xi.shape[0]), xi.dtype)
    opt_state = optimizer.init(Filters(filters.signal, coef))
    state = SpanState(
        filters.signal, filters.noise, filters.noise @ xi.T, coef, opt_state,
        jnp.int32(0), jnp.bool_(False),
    )  # fmt: skip
    final, curves = _over_evaluations(advance, state, evaluation_steps, metrics)
    filters = current(final)
    return TrainState(filters, final.opt_state, final.step, final.stopped), curves
