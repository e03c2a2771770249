"""The exact dimension-free ("reduced") backend (docs/MODEL.md, "The reduced backend").

Everything the model computes (activations, losses, gradients, test margins) depends
on the noise vectors only through their inner products with one another and with the
filters, and gradient descent keeps every filter in ``w(0) + span(training patches)``.
So a run is a function of the joint law of the Gram matrix of a handful of Gaussian
vectors, and any vectors with that law give the same run in distribution.

For ``K`` i.i.d. ``N(0, I_p)`` vectors stacked as ``X (K, p)``, the LQ decomposition
``X = L Q`` has ``Q`` orthonormal rows and ``L`` lower triangular with independent
entries: ``L_ii ~ sqrt(chi^2(p - i))`` (0-based ``i``) and ``L_ij ~ N(0, 1)`` for
``j < i`` (Bartlett). ``X X^T = L L^T``, so the rows of ``L`` in ``K`` coordinates are
exact in law, whatever ``p``. ``d`` enters only as a chi-square parameter.

* Weak phase: ``n_weak`` training noise vectors in the ``d - 4`` noise dimensions.
* Strong phase: the direction ``u`` of the weak filter's noise part is fixed before
  the strong phase draws anything, so each new vector splits into an independent
  ``N(0, s^2)`` coordinate along ``u`` and a part in the ``d - 5`` dimensions
  orthogonal to ``u``: coordinate 0 is ``u``, coordinates ``1..K`` are a Bartlett
  factor with ``p = d - 5``. A test vector is independent of all of them; only its
  projection onto their span (i.i.d. ``N(0, sigma_p^2)`` in an orthonormal basis of
  it) ever meets a filter.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from w2s_jax.simulation.data import StrongNoise, gaussian_rows, row_keys

_MAX_PROPOSALS = 100  # acceptance rate >= 0.95 per proposal: only a NaN/inf dof gets here
_SERIES_RADIUS = 0.25
# log1p(t) - t + t^2/2 - t^3/3 = t^4 * sum_j (-1)^(j+1) t^j / (j + 4); 26 terms leave a
# relative truncation error 0.25^26 ~ 2e-16 (float64 resolution). Beyond the radius the
# direct formula loses ~1e-5 relative in float32, i.e. ~1e-6 in the log-acceptance
# threshold (|t| >= 0.25 needs a - 1/3 <= 2 x^2): negligible.
_SERIES_COEFFS = tuple((-1.0) ** (j + 1) / (j + 4) for j in range(26))


def _log1p_remainder(t: Float[Array, "..."]) -> Float[Array, "..."]:
    """``log1p(t) - t + t^2/2 - t^3/3`` for ``t > -1``, accurate also for tiny ``|t|``."""
    poly = jnp.zeros_like(t)
    for coeff in reversed(_SERIES_COEFFS):
        poly = poly * t + coeff
    series = t**4 * poly
    direct = jnp.log1p(t) - t + t * t / 2 - t**3 / 3
    return jnp.where(jnp.abs(t) < _SERIES_RADIUS, series, direct)


def sqrt_chi_square(key: PRNGKeyArray, dof: Float[Array, ""], dtype) -> Float[Array, ""]:
    """One draw of ``sqrt(chi^2(dof))``, exact for any traced ``dof > 0`` (0 for ``dof <= 0``).

    Marsaglia–Tsang for ``Gamma(a)``, ``a = dof / 2``: with ``c = 1 / (3 sqrt(a - 1/3))``,
    ``x ~ N(0, 1)`` and ``t = c x``, accept ``(a - 1/3)(1 + t)^3`` iff
    ``log U < x^2/2 + (a - 1/3)(1 - v + log v)``, ``v = (1 + t)^3``. jax.random.gamma
    evaluates that literally in the sample dtype: at ``a ~ 5e8`` in float32,
    ``t ~ 1e-5`` is rounded inside ``1 + t`` (relative error ~1e-2 on ``t``), the bracket
    (``~ -x^2/2a``) no longer cancels ``x^2/2`` and, times ``a``, the threshold is off by
    up to ~3e-2 (~0.07% of decisions flip vs a float64 reference); the sample ``a v``
    is also quantized on ``v``'s 1.2e-7 grid. Expanding ``log v = 3 log1p(t)``, the
    ``x^2/2`` cancels exactly and the test becomes
    ``log U < 3 (a - 1/3) R(t)`` with ``R(t) = log1p(t) - t + t^2/2 - t^3/3 ~ -t^4/4``,
    evaluated by its series near 0; the result is returned as
    ``sqrt(2 (a - 1/3)) (1 + ((1 + t)^{3/2} - 1))``, never forming ``chi^2 - dof``.
    ``a < 1`` uses ``Gamma(a) = Gamma(a + 1) U^{1/a}``.
    """
    dof = jnp.asarray(dof, dtype)
    positive = dof > 0
    alpha = jnp.where(positive, dof / 2, 1)
    boost = alpha < 1
    shift = jnp.where(boost, alpha + 1, alpha) - jnp.asarray(1 / 3, dtype)
    c = 1 / (3 * jnp.sqrt(shift))
    k_loop, k_boost = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)

    def body(state):
        i, _, _ = state
        k = jax.random.fold_in(k_loop, i)
        x = jax.random.normal(jax.random.fold_in(k, 0), (), dtype)
        log_u = jnp.log1p(-jax.random.uniform(jax.random.fold_in(k, 1), (), dtype))
        t = c * x
        valid = t > -1
        t = jnp.where(valid, t, 0)
        accept = valid & (log_u < 3 * shift * _log1p_remainder(t))
        # (1 + t)^{3/2} - 1: kept apart from the 1 so that the sum below rounds once
        return i + 1, jnp.expm1(1.5 * jnp.log1p(t)), accept

    def cond(state):
        i, _, accepted = state
        return ~accepted & (i < _MAX_PROPOSALS)

    init = (jnp.asarray(0, jnp.int32), jnp.asarray(jnp.nan, dtype), jnp.asarray(False))
    _, excess, accepted = jax.lax.while_loop(cond, body, init)
    scale = jnp.sqrt(2 * shift)
    sample = scale + scale * jnp.where(accepted, excess, jnp.nan)
    log_u = jnp.log1p(-jax.random.uniform(k_boost, (), dtype))
    sample = sample * jnp.where(boost, jnp.exp(log_u / (2 * alpha)), 1)
    return jnp.where(positive, sample, 0 * dof)


def sqrt_chi_square_rows(key: PRNGKeyArray, dofs: Float[Array, " k"], dtype) -> Float[Array, " k"]:
    """``sqrt(chi^2(dofs[i]))``, element ``i`` drawn from ``fold_in(key, i)``."""
    keys = row_keys(key, dofs.shape[0])
    return jax.vmap(lambda k, dof: sqrt_chi_square(k, dof, dtype))(keys, dofs)


def bartlett_factor(
    key: PRNGKeyArray, scales: Float[Array, " k"], dof0: Float[Array, ""], dtype
) -> Float[Array, "k k"]:
    """Lower-triangular ``L (K, K)``: ``scales[i] * (N(0,1), ..., chi(dof0 - i), 0, ...)``.

    Row ``i`` comes from ``fold_in(key, i)`` and 1-D draws only, so the first rows do
    not depend on ``K`` (a configuration padded in a larger program draws the same).
    """
    size = scales.shape[0]
    index = jnp.arange(size)

    def row(k, i, scale):
        chi = sqrt_chi_square(jax.random.fold_in(k, 0), dof0 - i, dtype)
        normals = jax.random.normal(jax.random.fold_in(k, 1), (size,), dtype)
        values = jnp.where(index < i, normals, jnp.where(index == i, chi, 0))
        return scale * values

    return jax.vmap(row)(row_keys(key, size), index, jnp.asarray(scales, dtype))


def weak_bartlett_noise(
    key: PRNGKeyArray, n_weak: int, d: Float[Array, ""], sigma_p: Float[Array, ""], dtype
) -> Float[Array, "n n"]:
    """The weak training noise ``(n_weak, n_weak)``: Bartlett rows, dof ``d - 4 - i``."""
    scales = jnp.full((n_weak,), sigma_p, dtype)
    return bartlett_factor(key, scales, jnp.asarray(d, dtype) - 4, dtype)


def strong_bartlett_noise(
    key: PRNGKeyArray,
    teacher_noise: Float[Array, " Dw"],
    m: int,
    n_pad: int,
    n_test: int,
    d: Float[Array, ""],
    sigma_p: Float[Array, ""],
    sigma_0: Float[Array, ""],
    dtype,
) -> StrongNoise:
    """Strong-phase noise in ``D = 1 + 2m + n_pad`` coordinates (0: ``u``, then Bartlett).

    Bartlett rows ``0..2m-1`` are the initial filters, ``2m..`` the training noise, so
    a larger ``n_pad`` only appends rows and columns.
    """
    k_bartlett, k_u, k_test = (jax.random.fold_in(key, i) for i in range(3))
    num_rows = 2 * m + n_pad
    scales = jnp.concatenate(
        [jnp.full((2 * m,), sigma_0, dtype), jnp.full((n_pad,), sigma_p, dtype)]
    )
    lower = bartlett_factor(k_bartlett, scales, jnp.asarray(d, dtype) - 5, dtype)
    u_coord = scales * jax.vmap(lambda k: jax.random.normal(k, (), dtype))(row_keys(k_u, num_rows))
    vectors = jnp.concatenate([u_coord[:, None], lower], axis=1)
    teacher_norm = jnp.linalg.norm(jnp.asarray(teacher_noise, dtype))
    e_0 = jnp.asarray(np.eye(1, 1 + num_rows)[0], dtype)
    return StrongNoise(
        train_xi=vectors[2 * m :],
        test_xi=gaussian_rows(k_test, n_test, 1 + num_rows, dtype, jnp.asarray(sigma_p, dtype)),
        init_noise=vectors[: 2 * m],
        teacher_noise=teacher_norm * e_0,
    )
