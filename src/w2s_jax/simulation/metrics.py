"""What every student records at an evaluation step (docs/MODEL.md, "What is
recorded"): the data a metric sees (:class:`Batch`), test errors by sample type and the
training curves against the pseudo-labels. Shared by the built-in CNN (``pipeline``)
and a user's module (``custom_student``), so both record the same quantities the same
way. One configuration, unbatched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from w2s_jax.simulation.data import BOTH, EASY, HARD
from w2s_jax.simulation.models import sign
from w2s_jax.simulation.training import masked_mean, mean_loss


class Batch(NamedTuple):
    """One data set as a user metric sees it (``n`` samples, strong-phase coordinates):
    ``patches (n, 2, P)`` signal-patch coefficients (``P = 4``; with images, their
    ``P`` pixels), ``xi (n, D)`` noise patches,
    ``y (n,)`` true labels, ``labels (n,)`` training labels (pseudo-labels for the
    training set, true labels for the test set), ``mask (n,)`` real (unpadded) points,
    ``kind (n,)`` sample types (``data.EASY/HARD/BOTH``)."""

    patches: Float[Array, "n 2 P"]
    xi: Float[Array, "n D"]
    y: Array
    labels: Array
    mask: Array
    kind: Array


def errors_by_kind(pred: Array, y: Array, kind: Array) -> dict[str, Float[Array, ""]]:
    """Error of predictions ``pred (n,)`` against ``y``: ``""`` overall, ``"_easy"``,
    ``"_hard"``, ``"_both"`` per sample type."""
    wrong = pred != y
    out = {"": jnp.mean(wrong)}
    for name, value in (("_easy", EASY), ("_hard", HARD), ("_both", BOTH)):
        out[name] = masked_mean(wrong, kind == value)
    return out


def test_curves(pred: Array, test: Batch) -> dict[str, Float[Array, ""]]:
    """``test_error`` and its ``_easy``/``_hard``/``_both`` parts."""
    return {f"test_error{k}": v for k, v in errors_by_kind(pred, test.y, test.kind).items()}


def training_curves(
    out_train: Float[Array, " n"], train: Batch, loss: Callable
) -> tuple[dict[str, Float[Array, ""]], Float[Array, " n"]]:
    """The curves of the training set against its pseudo-labels ``train.labels``, and
    each point's loss-derivative size ``|l'(ŷ f)|`` (for further curves)."""
    pseudo, mask, y = train.labels, train.mask, train.y
    flipped, clean = mask & (pseudo != y), mask & (pseudo == y)
    pred_train = sign(out_train)
    grad_weight = jnp.abs(jax.vmap(jax.grad(loss))(pseudo * out_train))
    curves = {
        "train_loss": mean_loss(loss, out_train, pseudo.astype(out_train.dtype), mask),
        "train_acc_pseudo": masked_mean(pred_train == pseudo, mask),
        "train_acc_true": masked_mean(pred_train == y, mask),
        "label_correction": masked_mean(pred_train == y, flipped),
        "grad_weight_clean": masked_mean(grad_weight, clean),
        "grad_weight_flipped": masked_mean(grad_weight, flipped),
    }
    return curves, grad_weight


def nan_after_divergence(values: dict, finite: Array, dtype) -> dict:
    """Divergence is data: from the first non-finite step on, every metric is NaN."""
    return {k: jnp.where(finite, v.astype(dtype), jnp.nan) for k, v in values.items()}
