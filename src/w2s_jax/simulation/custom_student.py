"""A user-defined student: any ``equinox.Module`` swept by the same engine (dense backend).

The built-in student is the paper's two-layer ReLU CNN with a fixed second layer
(docs/MODEL.md, "Teacher and student"). To sweep another architecture, give the grid
key ``strong.student`` (Python API only) a function

    make_student(key, static, params, init) -> eqx.Module

called once per configuration inside the compiled program, with

* ``key``: a PRNG key for the module's own parameters, independent of every draw of the
  data and of ``init``;
* ``static``: the configuration's :class:`~w2s_jax.simulation.config.Static` (``static.m``,
  ``static.d``, ...); ``params``: its traced :class:`~w2s_jax.simulation.config.Params`
  (``params.strong.sigma_0``, ...), scalars under the engine's ``vmap``;
* ``init``: the built-in student's initial filters for this configuration,
  :class:`~w2s_jax.simulation.models.Filters` ``signal (2m, 4), noise (2m, D)``: a module that
  starts from them starts where the ReLU CNN does, so a comparison isolates the
  architecture (or ignore them).

The module maps ONE sample to a logit: ``module(patches (2, 4), xi (D,)) -> ()``, where
``patches`` are the two signal patches' coefficients on the unit directions of
``mu_{+1}, mu_{-1}, nu_{+1}, nu_{-1}`` and ``xi`` the noise patch in the ``D = d - 4``
noise coordinates; the pipeline ``vmap``s it over samples. Its trainable parameters are
its floating-point array leaves (``eqx.is_inexact_array``); anything else (integers,
functions, ``eqx.field(static=True)``) stays fixed; wrap an array in
``jax.lax.stop_gradient`` inside ``__call__`` to freeze it.

Training is the built-in one: full-batch steps of ``strong.optimizer`` at ``strong.lr``
on the mean ``strong.loss`` against the pseudo-labels, for ``strong.steps``, always in
the primal form (the dual form needs the CNN's structure). Recorded: the test errors,
training loss and accuracies, label correction and ``|ℓ'|`` weights (docs/MODEL.md,
"What is recorded"); the filter-specific curves (``signal_*``, ``noise_*``) are NaN.
User metrics (``run.metrics``) receive the module in place of the filters.

Only the dense backend: the reduced one is exact for models that see the noise through
inner products with isotropically initialised filters (docs/MODEL.md, "The reduced
backend"), which an arbitrary module need not do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from w2s_jax.simulation.metrics import Batch, nan_after_divergence, test_curves, training_curves
from w2s_jax.simulation.models import Filters, sign
from w2s_jax.simulation.training import TrainState, mean_loss, train

if TYPE_CHECKING:
    from w2s_jax.simulation.config import Params, Static

# A stream of the configuration key that the pipeline's own streams (0..6) never use.
MODULE_INIT = 1000
# Curves that describe the CNN's filters: undefined for an arbitrary module.
FILTER_CURVES = (
    "signal_mu", "signal_nu", "signal_neg_nu", "noise_clean", "noise_flipped",
)  # fmt: skip


def logits(module: eqx.Module, batch: Batch) -> Float[Array, " n"]:
    """The module's output on every sample of ``batch``."""
    return jax.vmap(module)(batch.patches, batch.xi)


def module_test_errors(module: eqx.Module, test: Batch) -> dict[str, Float[Array, ""]]:
    """Test error against the true labels, overall and per sample type."""
    return test_curves(sign(logits(module, test)), test)


def fit_and_record(
    static: Static,
    params: Params,
    key: PRNGKeyArray,
    init: Filters,
    train_batch: Batch,
    test_batch: Batch,
    loss: Callable,
    optimizer: optax.GradientTransformation,
    steps,
) -> tuple[TrainState, dict[str, Float[Array, " E"]]]:
    """Build the user's module, train it on the pseudo-labels (and, with
    ``strong.ceiling``, on the true labels); returns its final ``TrainState`` and curves
    ``{name: (E,)}``."""
    dtype = train_batch.xi.dtype
    module = static.student(jax.random.fold_in(key, MODULE_INIT), static, params, init)
    trainable, fixed = eqx.partition(module, eqx.is_inexact_array)
    mask, y, pseudo = train_batch.mask, train_batch.y, train_batch.labels

    def fit(labels, metrics):
        labels = labels.astype(dtype)

        def objective(p) -> Float[Array, ""]:
            return mean_loss(loss, logits(eqx.combine(p, fixed), train_batch), labels, mask)

        return train(trainable, objective, optimizer, steps, params.strong.stop_loss, metrics)

    def metrics(p) -> dict:
        model = eqx.combine(p, fixed)
        values, _ = training_curves(logits(model, train_batch), train_batch, loss)
        values.update(module_test_errors(model, test_batch))
        values.update({name: jnp.asarray(jnp.nan) for name in FILTER_CURVES})
        values.update({name: fn(model, train_batch, test_batch) for name, fn in static.metrics})
        finite = jnp.isfinite(values["train_loss"])
        for leaf in jax.tree.leaves(p):
            finite &= jnp.all(jnp.isfinite(leaf))
        return nan_after_divergence(values, finite, dtype)

    final, curves = fit(pseudo, metrics)
    if static.ceiling:

        def ceiling_metrics(p):
            error = module_test_errors(eqx.combine(p, fixed), test_batch)["test_error"]
            return {"ceiling_test_error": error.astype(dtype)}

        _, ceiling = fit(y, ceiling_metrics)
        curves.update(ceiling)
    return final, curves
