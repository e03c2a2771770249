"""Scaling: time of w2s_jax's vmapped sweep against the number of configurations, ``n``
and ``d``, in the dense backend and (where it exists, ``D < d``) the reduced one.

Every point is the whole pipeline of its configurations through ``engine.run_chunk``
(compile timed apart, medians over ``--repeats``). Configurations are the small
benchmark configuration shortened (``SCALING`` below) so that each axis finishes in a
few minutes on 2 cores; override with ``--steps``.

* ``--axis configs``: 1, 4, ..., 4096 configurations in chunks of the size the sweep
  command would pick (``engine.chunk_size``; ``--chunk`` caps it instead), so the
  larger counts re-use the compiled chunk (dense stops at ``--dense-max``).
* ``--axis n``: ``n`` = 64 ... 2048 at ``d = 4000``, ``--batch`` configurations each.
* ``--axis d``: ``d`` = 250 ... 16000 (dense) and up to 10^9 (reduced), ``n = 128``.

    python benchmarks/scaling.py --axis configs      # ~4 min on 2 cores
    python benchmarks/scaling.py --axis n
    python benchmarks/scaling.py --axis d
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import common
from w2s_jax import config as cfg

SCALING = {
    **common.SMALL,
    "strong.steps": 100,
    "weak.n": 200,
    "weak.steps": 20,
    "eval.n_test": 500,
    "eval.points": 5,
}


def measure(configs: list[dict], chunk: int, repeats: int) -> dict:
    runner = common.Vmapped(configs, min(chunk, len(configs)) if chunk else None)
    compile_seconds = runner.compile()
    times = common.interleaved({"run": lambda r: runner()[0]}, repeats)["run"]
    seconds = float(np.median(times))
    s = runner.static
    counts = common.pipeline_counts(
        s, configs[0]["data.d"], configs[0]["strong.steps"], configs[0]["weak.steps"]
    )
    return {
        "configs": len(configs),
        "backend": s.backend,
        "n (n_pad)": f"{configs[0]['strong.n']} ({s.n_pad})",
        "d": f"{configs[0]['data.d']:g}",
        "D strong": common.noise_dims(s, configs[0]["data.d"])[0],
        "chunk": runner.chunk,
        "compile s": f"{compile_seconds:.1f}",
        "run s": f"{seconds:.3g}",
        "range": common.spread(times),
        "ms / config": f"{1e3 * seconds / len(configs):.3g}",
        "config-steps/s": f"{len(configs) * configs[0]['strong.steps'] / seconds:,.0f}",
        "GFLOP/s": f"{len(configs) * counts['flops'] / seconds / 1e9:.1f}",
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--axis", choices=("configs", "n", "d"), required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=SCALING["strong.steps"])
    parser.add_argument(
        "--chunk", type=int, default=None, help="default: the sweep's own (engine.chunk_size)"
    )
    parser.add_argument("--batch", type=int, default=8, help="configurations per point (n, d)")
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 4, 16, 64, 256, 1024, 4096])
    parser.add_argument("--dense-max", type=int, default=1024)
    parser.add_argument("--ns", type=int, nargs="+", default=[64, 128, 256, 512, 1024, 2048])
    parser.add_argument("--d-ns", type=int, nargs="+", help="n values of the d axis")
    parser.add_argument("--n-d", type=float, default=4000, help="d of the n axis")
    parser.add_argument(
        "--ds", type=float, nargs="+", default=[250, 500, 1000, 2000, 4000, 8000, 16000]
    )
    parser.add_argument("--reduced-ds", type=float, nargs="+", default=[1e5, 1e7, 1e9])
    parser.add_argument("--backends", nargs="+", default=["dense", "reduced"])
    args = parser.parse_args(argv)
    base = {**SCALING, "strong.steps": args.steps}
    print(common.header(f"scaling --axis {args.axis}"))

    points: list[tuple[dict, int]] = []  # (base configuration, count)
    if args.axis == "configs":
        for backend in args.backends:
            for count in args.counts:
                if backend == "dense" and count > args.dense_max:
                    continue
                points.append(({**base, "run.backend": backend}, count))
    elif args.axis == "n":
        for backend in args.backends:
            for n in args.ns:
                points.append(
                    (
                        {**base, "run.backend": backend, "strong.n": n, "data.d": args.n_d},
                        args.batch,
                    )
                )
    else:
        for n in args.d_ns or [base["strong.n"]]:
            for backend in args.backends:
                ds = args.ds + (args.reduced_ds if backend == "reduced" else [])
                for d in ds:
                    point = {**base, "run.backend": backend, "data.d": d, "strong.n": n}
                    points.append((point, args.batch))

    rows = []
    for point, count in points:
        backend = point["run.backend"]
        raw = {**point, "run.backend": "dense" if backend == "dense" else "auto"}
        configs = common.configurations(raw, count, raw["run.backend"])
        if backend == "reduced" and cfg.split(configs[0])[0].backend != "reduced":
            common.log(
                f"  skip {point.get('data.d')} / n={point.get('strong.n')}: D >= d, "
                "no reduced representation"
            )
            continue
        row = measure(configs, args.chunk, args.repeats if count <= 256 else 1)
        common.log(f"  {row}")
        rows.append(row)
    print(
        f"\nstrong steps={args.steps}, m={base['strong.m']}, n_weak={base['weak.n']}, weak "
        f"steps={base['weak.steps']}, n_test={base['eval.n_test']}, eval points="
        f"{base['eval.points']}; medians of {args.repeats} repeats (1 above 256 configs); "
        "GFLOP/s from common.pipeline_counts\n"
    )
    print(common.table(rows, list(rows[0])))
    print(f"\n# load at end: {common.load_now()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
