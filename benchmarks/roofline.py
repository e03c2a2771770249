"""Roofline: the strong training step against this machine's measured limits.

For each case the step is the pipeline's own: ``training.train`` over
``mean_loss(logistic, models.cnn_output(...))`` with plain GD, on noise drawn by the
case's backend (``backends.strong_noise``), jitted (and vmapped over the batch of
configurations for the small case), run for ``--steps`` steps with nothing else in the
program. In the same run, interleaved with the step timings, it measures

* the float32 matrix-product rate (a 2048 x 2048 x 2048 product through JAX), and
* the memory bandwidth (a donated in-place ``x + 1`` over 512 MiB through JAX: every
  byte read once and written once),

and reports, per configuration-step, the FLOPs and bytes counted analytically
(``common.step_counts``), the achieved GFLOP/s and GB/s, and the percentage of the
roofline bound ``max(FLOPs / matmul rate, bytes / bandwidth)``, the fastest the step
could run on this machine. The bound uses the minimum traffic (the noise matrix read
once); the implementation's own traffic (read twice: forward and gradient) is shown
beside it.

    python benchmarks/roofline.py                       # small batch + two large, ~2 min
    python benchmarks/roofline.py --case large --large-n 2048 --large-d 20000
"""

from __future__ import annotations

import argparse
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import common
from w2s_jax import backends, config, registry
from w2s_jax.data import Samples, draw_labels, signal_patches
from w2s_jax.models import Filters, cnn_output, strong_second_layer
from w2s_jax.training import mean_loss, train


def step_program(static: config.Static, steps: int):
    """``(data, run)``: ``data(params, key)`` draws one configuration's student inputs
    ``(init, patches, xi, labels)`` with the case's backend; ``run(*inputs, lr, n)``
    returns the filters after ``steps`` GD steps on the student's objective, built
    exactly as ``pipeline.run_student`` builds it."""
    m, n_pad, dtype = static.m, static.n_pad, jnp.dtype(static.dtype)

    def data(params: config.Params, key):
        d_traced, sigma_p = params.data.d, params.data.sigma_p
        dim = backends.noise_dim_weak(static.backend, static.d, static.weak_n)
        teacher = jnp.zeros((dim,), dtype).at[0].set(1.0)
        noise = backends.strong_noise(
            key,
            static.backend,
            static.d,
            m,
            n_pad,
            1,
            teacher,
            d_traced,
            sigma_p,
            params.strong.sigma_0,
            dtype,
        )
        y, kind, eps = draw_labels(
            jax.random.fold_in(key, 9), n_pad, params.data.p_easy, params.data.p_hard
        )
        samples = Samples(y, kind, eps, noise.train_xi)
        patches = signal_patches(
            samples, params.data.mu_norm, params.data.nu_norm, static.hard_sign
        )
        init = Filters(
            params.strong.sigma_0 * jax.random.normal(key, (2 * m, 4), dtype), noise.init_noise
        )
        return init, patches, noise.train_xi, y.astype(dtype)

    def run(init, patches, xi, labels, lr, n):
        return step_program_run(init, patches, xi, labels, lr, n, steps, m)

    return data, run


def step_program_run(init, patches, xi, labels, lr, n, steps: int, m: int, cnn=cnn_output):
    """``steps`` GD steps of ``mean_loss(logistic, cnn(...))`` from ``init`` (one config)."""
    layer = strong_second_layer(m, xi.dtype)
    mask = jnp.arange(xi.shape[0]) < n
    loss = registry.loss("logistic")

    def objective(f):
        return mean_loss(loss, cnn(f, layer, jax.nn.relu, patches, xi), labels, mask)

    final, _ = train(init, objective, optax.sgd(lr), jnp.array([0, steps]), 0.0)
    return final.filters


def batch_inputs(configs: list[dict]):
    """Stacked traced parameters and one PRNG key per configuration."""
    params = config.stack([config.split(c)[1] for c in configs])
    keys = jax.vmap(jax.random.key)(np.arange(len(configs), dtype=np.uint32))
    return params, keys


def batched(function, batch: int):
    """``jit(vmap(function))`` for a batch, plain ``jit`` for one configuration (a batch
    of one would compile a different, squeezed program)."""
    return jax.jit(jax.vmap(function) if batch > 1 else function)


def unbatch(tree, batch: int):
    return jax.tree.map(lambda x: x[0], tree) if batch == 1 else tree


class StepCase:
    """Inputs drawn once; ``__call__`` times ``steps`` GD steps of the whole batch."""

    def __init__(self, configs: list[dict], steps: int):
        self.static = common.static_of(configs)
        self.batch, self.steps = len(configs), steps
        data, run = step_program(self.static, steps)
        params, keys = batch_inputs(configs)
        with jax.default_matmul_precision(self.static.precision):
            inputs = jax.block_until_ready(jax.jit(jax.vmap(data))(params, keys))
            self.args = unbatch((*inputs, params.strong.lr, params.strong.n), self.batch)
            start = time.perf_counter()
            self.compiled = batched(run, self.batch).lower(*self.args).compile()
            self.compile_seconds = time.perf_counter() - start
        jax.block_until_ready(self.compiled(*self.args))
        self.dim = inputs[2].shape[-1]

    def __call__(self, repeat: int) -> float:
        """Seconds per configuration-step."""
        start = time.perf_counter()
        jax.block_until_ready(self.compiled(*self.args))
        return (time.perf_counter() - start) / (self.steps * self.batch)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=("small", "large", "all"), default="all")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--small-batch", type=int, default=256)
    parser.add_argument("--small-steps", type=int, default=10)
    parser.add_argument("--large-n", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--large-d", type=int, default=10_000)
    parser.add_argument("--large-steps", type=int, default=10)
    parser.add_argument("--backends", nargs="+", default=["dense", "auto"])
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("--copy-mib", type=int, default=512)
    args = parser.parse_args(argv)
    print(common.header("roofline"))

    cases: dict[str, StepCase] = {}
    for backend in args.backends:
        if args.case in ("small", "all"):
            configs = common.configurations(common.SMALL, args.small_batch, backend)
            case = StepCase(configs, args.small_steps)
            cases[f"small x{args.small_batch}, {case.static.backend}"] = case
        if args.case in ("large", "all"):
            for n in args.large_n:
                base = {**common.LARGE, "strong.n": n, "data.d": args.large_d}
                case = StepCase(common.configurations(base, 1, backend), args.large_steps)
                cases[f"large n={n} d={args.large_d}, {case.static.backend}"] = case
    for name, case in cases.items():
        common.log(f"  compiled {name}: {case.compile_seconds:.1f} s")

    tasks = {
        "matmul": lambda r: 1.0 / common.matmul_rate(args.matmul_size, repeats=1),
        "copy": lambda r: 1.0 / common.copy_bandwidth(args.copy_mib, repeats=1),
        **cases,
    }
    common.matmul_rate(args.matmul_size, repeats=1)  # warm-up (compile) of the probes
    common.copy_bandwidth(args.copy_mib, repeats=1)
    times = common.interleaved(tasks, args.repeats, common.log)
    peak_flops = 1.0 / float(np.median(times["matmul"]))
    bandwidth = 1.0 / float(np.median(times["copy"]))

    rows = []
    for name, case in cases.items():
        s = case.static
        counts = common.step_counts(s.n_pad, case.dim, 2 * s.m, np.dtype(s.dtype).itemsize)
        seconds = float(np.median(times[name]))
        bound = max(counts["flops"] / peak_flops, counts["bytes"] / bandwidth)
        bound_two = max(counts["flops"] / peak_flops, counts["bytes_two_reads"] / bandwidth)
        limited = (
            "compute" if counts["flops"] / peak_flops >= counts["bytes"] / bandwidth else "memory"
        )
        rows.append(
            {
                "case": name,
                "n_pad x D": f"{s.n_pad} x {case.dim}",
                "MFLOP / step": f"{counts['flops'] / 1e6:.2f}",
                "MB / step (min / impl.)": f"{counts['bytes'] / 1e6:.2f} / "
                f"{counts['bytes_two_reads'] / 1e6:.2f}",
                "FLOP/B (min)": f"{counts['flops'] / counts['bytes']:.1f}",
                "µs / config-step": f"{seconds * 1e6:.1f}",
                "range": common.spread([t * 1e6 for t in times[name]]),
                "GFLOP/s": f"{counts['flops'] / seconds / 1e9:.1f}",
                "% of matmul rate": f"{100 * counts['flops'] / seconds / peak_flops:.0f}%",
                "GB/s (impl.)": f"{counts['bytes_two_reads'] / seconds / 1e9:.1f}",
                "bound": limited,
                "% of roofline": f"{100 * bound / seconds:.0f}%",
                "% (2-read bound)": f"{100 * bound_two / seconds:.0f}%",
            }
        )
    columns = list(rows[0]) if rows else []
    print(
        f"\nMeasured in this run (medians of {args.repeats} interleaved repeats): float32 "
        f"matmul {peak_flops / 1e9:.1f} GFLOP/s ({args.matmul_size}^3; range "
        f"{common.spread([1e-9 / t for t in times['matmul']])}), memory bandwidth "
        f"{bandwidth / 1e9:.1f} GB/s (in-place {args.copy_mib} MiB update; range "
        f"{common.spread([1e-9 / t for t in times['copy']])}); machine balance "
        f"{peak_flops / bandwidth:.1f} FLOP/B.\n"
    )
    print(common.table(rows, columns))
    print(
        "\n`% of roofline` = (roofline bound time) / (measured time), bound = max(FLOPs / "
        "matmul rate, minimum bytes / bandwidth)."
    )
    print(f"\n# load at end: {common.load_now()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
