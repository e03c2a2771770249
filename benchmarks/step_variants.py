"""Experiments: other ways to compute the strong GD step, timed against the library's.

Each variant runs the same full-batch GD trajectory as ``training.train`` over
``models.cnn_output`` (ReLU student, logistic loss, plain GD) on the same inputs as
``roofline.py``; the script checks every variant's final filters against the
library's, then times them interleaved (medians, µs per configuration-step):

* ``library``: ``jax.grad`` of the pipeline's objective (what w2s_jax runs).
* ``custom_vjp``: a hand-written VJP for the CNN: ``act'`` computed once in the
  forward pass, no ``(n, 3, F)`` concatenation / split in the backward pass.
* ``custom_vjp_FxN``: the same, with the gradient's coefficient matrix materialised
  as ``(F, n)`` so that XLA:CPU runs the gradient GEMM through YNNPACK ("NN") rather
  than Eigen with a transposed left operand.
* ``single_read``: rows in blocks of ``--block``; per block the forward product, the
  per-sample loss derivative and the gradient product, so the noise matrix streams
  from memory once per step instead of twice (the loss of sample ``i`` depends on
  row ``i`` only, so this is exact).
* ``dual``: ``training.train_in_span``. Gradient descent keeps ``W = W0 + A xi``
  (docs/MODEL.md), so with the Gram matrix ``K = xi xi^T`` (once per run) a step is
  ``Z = Z0 + K A^T`` and ``A <- A - lr G^T``: ``2 n^2 F`` FLOPs instead of ``4 n D F``;
  exact for GD and momentum (not Adam). Filters are rebuilt as ``W0 + A xi`` at the
  evaluation steps.

    python benchmarks/step_variants.py                 # small batch and one large, ~3 min
    python benchmarks/step_variants.py --case large --large-n 2048
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

import common
import roofline
from w2s_jax import registry
from w2s_jax.models import Filters, cnn_output, cnn_output_from_noise, strong_second_layer
from w2s_jax.training import mean_loss, train_in_span


def _derivative(function, z):
    """``(function(z), function'(z))`` elementwise (``jax.nn.relu``: ``relu'(0) = 0``)."""
    return jax.jvp(function, (z,), (jnp.ones_like(z),))


def _make_cnn(coef_f_by_n: bool):
    """``cnn_output`` with a hand-written VJP (cotangents for every array argument)."""

    @partial(jax.custom_vjp, nondiff_argnums=(2,))
    def cnn(filters, second_layer, activation, patches, xi):
        return forward(filters, second_layer, activation, patches, xi)[0]

    def forward(filters, second_layer, activation, patches, xi):
        z_noise = xi @ filters.noise.T  # (n, F)
        z_signal = jnp.einsum("npk,fk->npf", patches, filters.signal)  # (n, 2, F)
        a_signal, da_signal = _derivative(activation, z_signal)
        a_noise, da_noise = _derivative(activation, z_noise)
        hidden = a_signal.sum(1) + a_noise
        residuals = (filters, second_layer, hidden, da_signal, da_noise, patches, xi)
        return hidden @ second_layer, residuals

    def backward(activation, residuals, cotangent):
        filters, second_layer, hidden, da_signal, da_noise, patches, xi = residuals
        weight = cotangent[:, None] * second_layer[None, :]  # (n, F)
        coef_signal = weight[:, None, :] * da_signal
        if coef_f_by_n:  # the barrier keeps XLA from folding the transpose into the dot
            coef_noise = jax.lax.optimization_barrier((weight * da_noise).T)  # (F, n)
            grad_noise, grad_xi = coef_noise @ xi, coef_noise.T @ filters.noise
        else:
            coef_noise = weight * da_noise  # (n, F)
            grad_noise, grad_xi = coef_noise.T @ xi, coef_noise @ filters.noise
        grads = Filters(jnp.einsum("npf,npk->fk", coef_signal, patches), grad_noise)
        grad_patches = jnp.einsum("npf,fk->npk", coef_signal, filters.signal)
        return grads, cotangent @ hidden, grad_patches, grad_xi

    cnn.defvjp(forward, backward)
    return cnn


def _per_sample(init, patches, labels, mask, m):
    layer = strong_second_layer(m, init.noise.dtype)
    loss_derivative = jax.vmap(jax.grad(registry.loss("logistic")))
    scale = mask / jnp.sum(mask)
    return layer, loss_derivative, scale


def library(init, patches, xi, labels, lr, n, steps, m, block):
    return roofline.step_program_run(init, patches, xi, labels, lr, n, steps, m, cnn_output)


def custom_vjp(init, patches, xi, labels, lr, n, steps, m, block):
    return roofline.step_program_run(init, patches, xi, labels, lr, n, steps, m, _make_cnn(False))


def custom_vjp_fxn(init, patches, xi, labels, lr, n, steps, m, block):
    return roofline.step_program_run(init, patches, xi, labels, lr, n, steps, m, _make_cnn(True))


def single_read(init, patches, xi, labels, lr, n, steps, m, block):
    mask = (jnp.arange(xi.shape[0]) < n).astype(xi.dtype)
    layer, loss_derivative, scale = _per_sample(init, patches, labels, mask, m)
    blocks = xi.shape[0] // block
    split = lambda a: a.reshape(blocks, block, *a.shape[1:])  # noqa: E731
    data = (split(xi), split(patches), split(labels), split(scale))

    def gradient(filters):
        def body(grads, part):
            x, p, y, s = part
            z_noise = x @ filters.noise.T
            z_signal = jnp.einsum("npk,fk->npf", p, filters.signal)
            out = (jax.nn.relu(z_signal).sum(1) + jax.nn.relu(z_noise)) @ layer
            weight = (s * y * loss_derivative(y * out))[:, None] * layer[None, :]
            coef_noise = weight * (z_noise > 0)
            coef_signal = weight[:, None, :] * (z_signal > 0)
            return Filters(
                grads.signal + jnp.einsum("npf,npk->fk", coef_signal, p),
                grads.noise + coef_noise.T @ x,
            ), None

        zeros = jax.tree.map(jnp.zeros_like, filters)
        return jax.lax.scan(body, zeros, data)[0]

    step = lambda _, f: jax.tree.map(lambda w, g: w - lr * g, f, gradient(f))  # noqa: E731
    return jax.lax.fori_loop(0, steps, step, init)


def dual(init, patches, xi, labels, lr, n, steps, m, block):
    """``training.train_in_span``: the library's dual form of the same GD run."""
    layer = strong_second_layer(m, xi.dtype)
    mask = jnp.arange(xi.shape[0]) < n
    loss = registry.loss("logistic")

    def objective(signal, noise_preactivations):
        out = cnn_output_from_noise(signal, layer, jax.nn.relu, patches, noise_preactivations)
        return mean_loss(loss, out, labels, mask)

    final, _ = train_in_span(init, xi, objective, optax.sgd(lr), jnp.array([0, steps]), 0.0)
    return final.filters


VARIANTS = {
    "library": library,
    "custom_vjp": custom_vjp,
    "custom_vjp_FxN": custom_vjp_fxn,
    "single_read": single_read,
    "dual": dual,
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=("small", "large", "all"), default="all")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--backends", nargs="+", default=["dense", "auto"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--small-batch", type=int, default=64)
    parser.add_argument("--small-steps", type=int, default=20)
    parser.add_argument("--large-n", type=int, nargs="+", default=[2048])
    parser.add_argument("--large-d", type=int, default=10_000)
    parser.add_argument("--large-steps", type=int, default=5)
    parser.add_argument("--block", type=int, default=128, help="rows per block (single_read)")
    args = parser.parse_args(argv)
    print(common.header("step_variants"))

    cases = []
    for backend in args.backends:
        if args.case in ("small", "all"):
            configs = common.configurations(common.SMALL, args.small_batch, backend)
            cases.append((configs, args.small_steps))
        if args.case in ("large", "all"):
            for n in args.large_n:
                base = {**common.LARGE, "strong.n": n, "data.d": args.large_d}
                cases.append((common.configurations(base, 1, backend), args.large_steps))

    rows, tasks, errors, steps_of = [], {}, {}, {}
    for configs, steps in cases:
        static = common.static_of(configs)
        data, _ = roofline.step_program(static, steps)
        params, keys = roofline.batch_inputs(configs)
        inputs = jax.block_until_ready(jax.jit(jax.vmap(data))(params, keys))
        call_args = roofline.unbatch((*inputs, params.strong.lr, params.strong.n), len(configs))
        name = (
            f"{'small' if len(configs) > 1 else 'large'} x{len(configs)} "
            f"n={static.n_pad} D={inputs[2].shape[-1]} {static.backend}"
        )
        block = min(args.block, static.n_pad)
        reference = None
        for variant in args.variants:
            # Two programs, S and 2S steps: their difference is the steady-state step,
            # free of per-run set-up (the dual's Gram matrix, the initial copies).
            programs = [
                roofline.batched(
                    partial(VARIANTS[variant], steps=s, m=static.m, block=block), len(configs)
                )
                for s in (steps, 2 * steps)
            ]
            out = jax.block_until_ready(programs[1](*call_args))
            jax.block_until_ready(programs[0](*call_args))
            reference = out if reference is None else reference
            errors[(name, variant)] = max(
                float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))
                for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(reference))
            )

            def timed(repeat, programs=programs, call_args=call_args):
                seconds = []
                for program in programs:
                    start = time.perf_counter()
                    jax.block_until_ready(program(*call_args))
                    seconds.append(time.perf_counter() - start)
                return seconds

            tasks[(name, variant)] = timed
            steps_of[(name, variant)] = (len(configs), steps)
        common.log(f"  compiled {name}")
    raw = common.interleaved(tasks, args.repeats, common.log)
    for (name, variant), values in raw.items():
        batch, steps = steps_of[(name, variant)]
        short, long = (float(np.median([v[i] for v in values])) for i in (0, 1))
        per_step = (long - short) / (steps * batch)
        setup = max(short - steps * batch * per_step, 0.0) / batch
        first = raw[(name, args.variants[0])]
        base = float(np.median([v[1] for v in first])) - float(np.median([v[0] for v in first]))
        base /= steps * batch
        rows.append(
            {
                "case": name,
                "variant": variant,
                "µs / config-step": f"{per_step * 1e6:.1f}",
                "set-up ms / config": f"{setup * 1e3:.2f}",
                f"step speed-up vs {args.variants[0]}": f"{base / per_step:.2f}",
                "max rel. diff. of final filters": f"{errors[(name, variant)]:.1e}",
            }
        )
    print(
        f"\nmedians of {args.repeats} interleaved repeats of S and 2S steps (per step: "
        "the difference / S); small: vmapped over the batch, large: one configuration\n"
    )
    print(common.table(rows, list(rows[0])))
    print(f"\n# load at end: {common.load_now()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
