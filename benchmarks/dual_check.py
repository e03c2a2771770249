"""Check ``training.train_in_span`` (the dual form) against ``training.train``.

Same inputs as ``roofline.py`` (the student's data drawn by the case's backend); the
objective and the metrics are the pipeline's kind (``mean_loss`` of the CNN; training
loss, a test error and the noise filters' norm at log-spaced evaluation steps). For
plain GD and momentum it reports the largest deviation, over configurations and
evaluation steps, of the float32 runs of both forms, and of a float64 run of the dual
form, from a float64 run of ``train`` (x64 mode is switched on for this script only).
The float64 dual run must agree to rounding (the two forms are the same mathematics);
both float32 runs should deviate by the same order (the dual form adds no error).

    python benchmarks/dual_check.py            # ~1 minute
"""

from __future__ import annotations

import argparse
import sys

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

import common  # noqa: E402
import roofline  # noqa: E402
from w2s_jax import config, registry  # noqa: E402
from w2s_jax.models import (  # noqa: E402
    cnn_output,
    cnn_output_from_noise,
    sign,
    strong_second_layer,
)
from w2s_jax.training import mean_loss, train, train_in_span  # noqa: E402


def run(form, optimizer, evaluation_steps, m, init, patches, xi, labels, n, test_xi):
    layer = strong_second_layer(m, xi.dtype)
    mask = jnp.arange(xi.shape[0]) < n
    loss = registry.loss("logistic")
    test_patches, test_labels = patches[::-1], labels[::-1]

    def metrics(f):
        out = cnn_output(f, layer, jax.nn.relu, patches, xi)
        test = cnn_output(f, layer, jax.nn.relu, test_patches, test_xi)
        return {
            "train_loss": mean_loss(loss, out, labels, mask),
            "test_error": jnp.mean(sign(test) != test_labels),
            "noise_norm": jnp.sqrt(jnp.sum(f.noise**2)),
        }

    if form == "primal":

        def objective(f):
            return mean_loss(loss, cnn_output(f, layer, jax.nn.relu, patches, xi), labels, mask)

        return train(init, objective, optimizer, evaluation_steps, 0.0, metrics)

    def objective_dual(signal, noise_preactivations):
        out = cnn_output_from_noise(signal, layer, jax.nn.relu, patches, noise_preactivations)
        return mean_loss(loss, out, labels, mask)

    return train_in_span(init, xi, objective_dual, optimizer, evaluation_steps, 0.0, metrics)


def batched(form, make, m, params, evaluation_steps, inputs):
    """``run`` vmapped over the configurations (step sizes from ``params``)."""

    def one(lr, *rest):
        return run(form, make(lr), evaluation_steps, m, *rest)

    return jax.jit(jax.vmap(one))(params.strong.lr.astype(inputs[2].dtype), *inputs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--points", type=int, default=8)
    args = parser.parse_args(argv)
    print(common.header("dual_check"))
    evaluation_steps = config.eval_steps(args.steps, args.points)
    rows = []
    for backend in ("dense", "auto"):
        configs = common.configurations(common.SMALL, args.configs, backend)
        static = common.static_of(configs)
        data, _ = roofline.step_program(static, args.steps)
        params, keys = roofline.batch_inputs(configs)
        init, patches, xi, labels = jax.jit(jax.vmap(data))(params, keys)
        test_xi = jax.random.normal(jax.random.key(5), xi.shape, xi.dtype)
        inputs = (init, patches, xi, labels, params.strong.n, test_xi)
        wide = jax.tree.map(
            lambda x: x.astype(jnp.float64) if x.dtype == jnp.float32 else x, inputs
        )
        for name, make in (
            ("GD", optax.sgd),
            ("momentum 0.9", lambda lr: optax.sgd(lr, momentum=0.9)),
        ):
            reference = batched("primal", make, static.m, params, evaluation_steps, wide)
            for form, dtype in (("primal", "float32"), ("dual", "float32"), ("dual", "float64")):
                chosen = inputs if dtype == "float32" else wide
                final, curves = batched(form, make, static.m, params, evaluation_steps, chosen)
                row = {"backend": static.backend, "optimizer": name, "form": f"{form} {dtype}"}
                scale = jnp.max(jnp.abs(reference[0].noise), axis=(1, 2))
                deviation = jnp.max(jnp.abs(final.noise - reference[0].noise), axis=(1, 2))
                row["final filters: max / median rel. dev."] = (
                    f"{float(jnp.max(deviation / scale)):.1e} / "
                    f"{float(jnp.median(deviation / scale)):.1e}"
                )
                for key in ("train_loss", "noise_norm"):
                    rel = jnp.abs(curves[key] - reference[1][key]) / jnp.abs(reference[1][key])
                    row[f"{key} max rel. dev."] = f"{float(jnp.max(rel)):.1e}"
                flips = jnp.abs(curves["test_error"] - reference[1]["test_error"])
                row["test_error max abs. dev."] = f"{float(jnp.max(flips)):.1e}"
                rows.append(row)
    print(
        f"\n{args.configs} configurations of the small benchmark case, {args.steps} steps, "
        f"evaluation steps {[int(s) for s in evaluation_steps]}; deviations from a float64 "
        "`train` run\n"
    )
    print(common.table(rows, list(rows[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
