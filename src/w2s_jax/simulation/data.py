"""The data distribution of the paper's Definition 1 (docs/MODEL.md, "Data"), for ONE configuration.

A sample is ``(y, kind, eps, xi)``: the label, its type (easy-only, hard-only, both),
the random sign of its hard signal, and its noise patch. The two signal patches are
never stored as dense ``d``-vectors: they are coefficient arrays on the four signal
directions ``mu_{+1}, mu_{-1}, nu_{+1}, nu_{-1}`` (the unit vectors ``e1..e4``), built
on demand by :func:`signal_patches`.

Every per-sample draw uses its own key ``fold_in(key, i)`` so that the first ``n``
samples of a padded draw of ``n_pad > n`` equal a draw of exactly ``n``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

EASY, HARD, BOTH = 0, 1, 2
KIND_NAMES = ("easy", "hard", "both")
HARD_SIGNS = ("random", "paired")


class Samples(NamedTuple):
    """``n`` samples: ``y (n,)`` in {+1, -1}, ``kind (n,)`` in {EASY, HARD, BOTH},
    ``eps (n,)`` in {+1, -1}, ``xi (n, D)`` the noise patches in backend coordinates."""

    y: Int[Array, " n"]
    kind: Int[Array, " n"]
    eps: Int[Array, " n"]
    xi: Float[Array, "n D"]


class StrongNoise(NamedTuple):
    """What a backend draws for the strong phase, all in the same ``D`` coordinates.

    ``train_xi (n_pad, D)``, ``test_xi (n_test, D)``, ``init_noise (2m, D)`` (the
    initial filters' noise parts) and ``teacher_noise (D,)`` (the weak filter's noise
    part carried into these coordinates)."""

    train_xi: Float[Array, "n D"]
    test_xi: Float[Array, "t D"]
    init_noise: Float[Array, "f D"]
    teacher_noise: Float[Array, " D"]


def row_keys(key: PRNGKeyArray, num_rows: int) -> PRNGKeyArray:
    """One key per row, ``fold_in(key, i)``: row ``i`` never depends on ``num_rows``."""
    return jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.arange(num_rows))


ROW_BLOCK_ELEMENTS = 2**23  # numbers gaussian_rows draws at once (32 MB of float32)


def gaussian_rows(
    key: PRNGKeyArray,
    num_rows: int,
    dim: int,
    dtype,
    scale: Float[Array, ""] | float = 1.0,
    block_elements: int = ROW_BLOCK_ELEMENTS,
) -> Float[Array, "r c"]:
    """``scale`` times a standard normal ``(num_rows, dim)``; row ``i`` is a 1-D draw
    from ``fold_in(key, i)``.

    Large draws go in blocks of rows written in place: XLA:CPU runs the Threefry rounds
    on whole arrays, four ``uint32`` copies of everything drawn at once, which made the
    draw, not the training, the peak memory of a dense configuration (4x its noise
    matrix). The last block overlaps the one before (its rows drawn twice, identically)
    so that no remainder has to be concatenated, which would copy the whole matrix.
    Rows are independent, and ``scale`` is applied inside the per-row draw so that XLA
    fuses the same kernel either way: blocks give the same numbers bit for bit.
    """
    draw = jax.vmap(lambda k: scale * jax.random.normal(k, (dim,), dtype))
    keys = row_keys(key, num_rows)
    block = max(1, block_elements // dim)
    if block >= num_rows:
        return draw(keys)

    def fill(i, out):
        start = jnp.minimum(i * block, num_rows - block)
        rows = draw(jax.lax.dynamic_slice_in_dim(keys, start, block))
        return jax.lax.dynamic_update_slice_in_dim(out, rows, start, 0)

    out = jnp.zeros((num_rows, dim), jnp.result_type(dtype))
    return jax.lax.fori_loop(0, -(-num_rows // block), fill, out)


def draw_labels(
    key: PRNGKeyArray, n: int, p_easy: Float[Array, ""], p_hard: Float[Array, ""]
) -> tuple[Int[Array, " n"], Int[Array, " n"], Int[Array, " n"]]:
    """Labels ``y``, types ``kind`` and hard signs ``eps`` of ``n`` samples."""

    def one(k):
        # One 3-vector per sample (label, type, sign): a single PRNG call keeps compiles small.
        u = jax.random.uniform(k, (3,), dtype=jnp.asarray(p_easy).dtype)
        y = jnp.where(u[0] < 0.5, 1, -1)
        kind = jnp.where(u[1] < p_easy, EASY, jnp.where(u[1] < p_easy + p_hard, HARD, BOTH))
        eps = jnp.where(u[2] < 0.5, 1, -1)
        return y, kind, eps

    return jax.vmap(one)(row_keys(key, n))


def signal_patches(
    samples: Samples, mu_norm: Float[Array, ""], nu_norm: Float[Array, ""], hard_sign: str
) -> Float[Array, "n 2 4"]:
    """Coefficients of the patches ``x1, x2`` on ``(mu_{+1}, mu_{-1}, nu_{+1}, nu_{-1})``.

    easy-only: ``x1 = x2 = mu_y``; hard-only: ``x1 = x2 = eps nu_y`` (``"paired"``:
    ``x1 = nu_y, x2 = -nu_y``); both: ``x1 = mu_y, x2 = eps nu_y`` (``"paired"``:
    ``x2 = nu_y``).
    """
    y, kind, eps = samples.y, samples.kind, samples.eps
    dtype = samples.xi.dtype
    is_easy, is_hard, is_both = kind == EASY, kind == HARD, kind == BOTH
    eps = eps.astype(dtype)
    if hard_sign == "random":
        nu_sign_1 = jnp.where(is_hard, eps, 0.0)
        nu_sign_2 = jnp.where(is_easy, 0.0, eps)
    elif hard_sign == "paired":
        nu_sign_1 = jnp.where(is_hard, 1.0, 0.0)
        nu_sign_2 = jnp.where(is_hard, -1.0, jnp.where(is_both, 1.0, 0.0))
    else:
        raise ValueError(f"hard_sign must be one of {HARD_SIGNS}, got {hard_sign!r}")
    mu_1 = jnp.where(is_hard, 0.0, mu_norm).astype(dtype)
    mu_2 = jnp.where(is_easy, mu_norm, 0.0).astype(dtype)
    label_index = jnp.where(y == 1, 0, 1)
    mu_axis = jax.nn.one_hot(label_index, 4, dtype=dtype)
    nu_axis = jax.nn.one_hot(label_index + 2, 4, dtype=dtype)
    x1 = mu_1[:, None] * mu_axis + (nu_norm * nu_sign_1)[:, None] * nu_axis
    x2 = mu_2[:, None] * mu_axis + (nu_norm * nu_sign_2)[:, None] * nu_axis
    return jnp.stack([x1, x2], axis=1)


def signal_directions(
    mu_norm: Float[Array, ""], nu_norm: Float[Array, ""], dtype
) -> Float[Array, "4 4"]:
    """Rows: ``mu_{+1}, mu_{-1}, nu_{+1}, nu_{-1}`` as coefficient vectors."""
    return jnp.diag(jnp.stack([mu_norm, mu_norm, nu_norm, nu_norm]).astype(dtype))
