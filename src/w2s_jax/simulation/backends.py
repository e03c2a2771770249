"""How the noise patches and the initial filters are drawn: dense or reduced
(docs/MODEL.md, "The reduced backend").

The backend is the only thing that changes between the two representations; the
models and the training never know which one produced their inputs.

* ``dense``: noise lives in the ``d - 4`` coordinates orthogonal to the signals (``d - P``
  with images of ``P`` pixels, :mod:`w2s_jax.simulation.images`),
  i.i.d. ``N(0, sigma_p^2)``; initial filters i.i.d. ``N(0, sigma_0^2)``.
* ``reduced``: an exact-in-law representation in a space whose size is set by
  ``n`` and ``m`` alone (see :mod:`w2s_jax.simulation.reduced`).
"""

from __future__ import annotations

import jax
from jaxtyping import Array, Float, PRNGKeyArray

from w2s_jax.simulation import reduced
from w2s_jax.simulation.data import StrongNoise, gaussian_rows

BACKENDS = ("dense", "reduced")


def noise_dim_weak(backend: str, d: int, n_weak: int, signal_dim: int = 4) -> int:
    """Number of noise coordinates of the weak phase (``signal_dim``: 4 signal
    coordinates, or an image's pixel count)."""
    return d - signal_dim if backend == "dense" else n_weak


def noise_dim_strong(backend: str, d: int, m: int, n_pad: int, signal_dim: int = 4) -> int:
    """Number of noise coordinates of the strong phase."""
    return d - signal_dim if backend == "dense" else 1 + 2 * m + n_pad


def reduced_dimension(m: int, n: int, n_weak: int) -> int:
    """``D`` of the reduced representation: the larger of its two phases."""
    return max(5 + 2 * m + n, 4 + n_weak)


def weak_noise(
    key: PRNGKeyArray,
    backend: str,
    d: int,
    n_weak: int,
    d_traced: Float[Array, ""],
    sigma_p: Float[Array, ""],
    dtype,
    signal_dim: int = 4,
) -> Float[Array, "n D"]:
    """The weak training set's noise patches ``(n_weak, D_weak)``."""
    if backend == "dense":
        return gaussian_rows(key, n_weak, d - signal_dim, dtype, sigma_p)
    return reduced.weak_bartlett_noise(key, n_weak, d_traced, sigma_p, dtype)


def strong_noise(
    key: PRNGKeyArray,
    backend: str,
    d: int,
    m: int,
    n_pad: int,
    n_test: int,
    teacher_noise: Float[Array, " Dw"],
    d_traced: Float[Array, ""],
    sigma_p: Float[Array, ""],
    sigma_0: Float[Array, ""],
    dtype,
    signal_dim: int = 4,
) -> StrongNoise:
    """Training / test noise, initial filters and teacher direction of the strong phase
    (dense: in the ``d - signal_dim`` coordinates outside the signals or images)."""
    if backend == "dense":
        k_train, k_test, k_init = (jax.random.fold_in(key, i) for i in range(3))
        noise_dim = d - signal_dim
        return StrongNoise(
            train_xi=gaussian_rows(k_train, n_pad, noise_dim, dtype, sigma_p),
            test_xi=gaussian_rows(k_test, n_test, noise_dim, dtype, sigma_p),
            init_noise=gaussian_rows(k_init, 2 * m, noise_dim, dtype, sigma_0),
            teacher_noise=teacher_noise,
        )
    return reduced.strong_bartlett_noise(
        key, teacher_noise, m, n_pad, n_test, d_traced, sigma_p, sigma_0, dtype
    )
