"""Why the student does not learn the hard digits: the teacher's errors are structured.

    python examples/teacher_hard_labels.py

Trains the weak (linear) teacher of the digits study and of its synthetic twin, then
labels fresh hard-only test samples and asks how often the pseudo-label is the sign of
the image part of the teacher's output, ``sign(<w, x1 + x2>)``, rather than being set by
the noise patch. Synthetic: the hard signals are orthogonal to what the teacher learned,
the image part is tiny and the label is noise (about 50%). Digits: a 3 or an 8 projects
onto the teacher's 0-versus-1 direction, so the teacher labels ``eps b`` by which easy
digit it resembles, a linear function of the input that a student can imitate.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from w2s_jax.execution.grid_checks import resolve
from w2s_jax.simulation import config, fields, images, pipeline
from w2s_jax.simulation.data import HARD, Samples, signal_patches
from w2s_jax.simulation.models import sign

STUDY = {  # the fixed settings of sweeps/digits.toml
    "data.d": 1000, "data.mu_norm": 8.0, "weak.n": 1000, "weak.steps": 200,
    "strong.m": 10, "strong.steps": 500, "eval.n_test": 2000, "run.backend": "dense",
}  # fmt: skip


def hard_label_share(source: str, nu_norm: float, n: int = 4000) -> tuple[float, float]:
    """(share of hard-only pseudo-labels equal to the sign of the image term,
    std of the image term / std of the noise term)."""
    c = resolve({**fields.defaults(), **STUDY, "data.source": source,
                 "data.nu_norm": nu_norm, "seed": 0})  # fmt: skip
    static, params = config.split(c)
    bank = images.device_bank(static)
    teacher = jax.jit(pipeline.train_teacher, static_argnums=0)(
        static, params, jax.random.key(0), bank
    )
    keys = jax.random.split(jax.random.key(1), 4)
    y = jnp.where(jax.random.uniform(keys[0], (n,)) < 0.5, 1, -1)
    eps = jnp.where(jax.random.uniform(keys[1], (n,)) < 0.5, 1, -1)
    samples = Samples(y, jnp.full(n, HARD), eps, jnp.zeros((n, 1), jnp.float32))
    mu, nu = jnp.float32(STUDY["data.mu_norm"]), jnp.float32(nu_norm)
    if bank is None:
        patches = signal_patches(samples, mu, nu, "random")
    else:
        pool, counts = bank.test, bank.test_count
        patches = images.image_patches(keys[2], samples, pool, counts, mu, nu, "random")
    xi = jax.random.normal(keys[3], (n, teacher.noise.shape[1]))
    image_term = (patches @ teacher.signal[0]).sum(1)
    noise_term = xi @ teacher.noise[0]
    share = jnp.mean(sign(image_term + noise_term) == sign(image_term))
    return float(share), float(jnp.std(image_term) / jnp.std(noise_term))


if __name__ == "__main__":
    for source in ("digits", "synthetic"):
        for nu_norm in (3.5, 10.0):
            share, ratio = hard_label_share(source, nu_norm)
            print(
                f"{source:9s} nu_norm = {nu_norm:4}: pseudo-label = sign(image term) on "
                f"{share:.3f} of hard-only samples; std image / std noise = {ratio:.2f}"
            )
