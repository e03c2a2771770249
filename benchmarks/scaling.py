"""Scaling: time of w2s_jax's chunked sweep (``common.Sweep``: ``planner.plan`` /
``engine.run_chunk``) along one axis, every point the whole pipeline of its
configurations (compile timed apart, points interleaved, medians over ``--repeats``).

* ``--axis configs``: 1, 4, ..., 4096 configurations in chunks of the size the sweep
  command would pick (``planner.chunk_size``; ``--chunk`` caps it instead), dense and
  reduced (dense stops at ``--dense-max``; one repeat above 256 configurations).
* ``--axis n``: ``n`` = 64 ... 2048 at ``d = 4000``, ``--batch`` configurations each.
* ``--axis d``: ``d`` = 250 ... 16000 (dense) and up to 10^9 (reduced), ``n = 128``.
* ``--axis chunk``: ``--configs`` configurations in chunks of ``--sizes`` and of the
  size the sweep picks (results do not depend on it, tests/test_engine.py).
* ``--axis parts``: where the time goes: the full pipeline; 3 evaluation points (0, 1,
  the last step; ``eval.points = 2`` fails in ``config.padded_eval_steps``);
  additionally 1 strong step; additionally no teacher steps. Successive differences
  are the cost of the evaluations, the strong steps and the teacher.

``--case scaling`` (default) is the small benchmark configuration shortened
(``SCALING`` below) so that an axis finishes in a few minutes on 2 cores; ``--case
small`` is ``common.SMALL`` itself.

    python benchmarks/scaling.py --axis configs      # ~4 min on 2 cores
    python benchmarks/scaling.py --axis n            # also: --axis d
    python benchmarks/scaling.py --axis chunk --case small --sizes 4 8 16
    python benchmarks/scaling.py --axis parts --case small --batch 64 --backends dense
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import common
from w2s_jax.execution import planner

SCALING = {
    **common.SMALL,
    "strong.steps": 100,
    "weak.n": 200,
    "weak.steps": 20,
    "eval.n_test": 500,
    "eval.points": 5,
}
PARTS = {
    "full pipeline": {},
    "3 evaluation points": {"eval.points": 3},
    "+ 1 strong step": {"eval.points": 3, "strong.steps": 1},
    "+ 0 teacher steps": {"eval.points": 3, "strong.steps": 1, "weak.steps": 0},
}


def points(args, base: dict) -> list[tuple[str, dict, int, int | None]]:
    """``(label, configuration base, count, chunk)`` of every point of the axis."""
    out = []
    for backend in args.backends:
        b = {**base, "run.backend": "dense" if backend == "dense" else "auto"}
        if args.axis == "configs":
            out += [
                ("", b, c, args.chunk)
                for c in args.counts
                if c <= args.dense_max or backend != "dense"
            ]
        elif args.axis == "n":
            out += [
                ("", {**b, "strong.n": n, "data.d": args.n_d}, args.batch, args.chunk)
                for n in args.ns
            ]
        elif args.axis == "d":
            ds = args.ds + (args.reduced_ds if backend == "reduced" else [])
            out += [
                ("", {**b, "data.d": d, "strong.n": n}, args.batch, args.chunk)
                for n in args.d_ns
                for d in ds
            ]
        elif args.axis == "chunk":
            out += [("", b, args.configs, size) for size in [None, *args.sizes]]
        else:
            out += [
                (part, {**b, **change}, args.batch, args.chunk) for part, change in PARTS.items()
            ]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--axis", choices=("configs", "n", "d", "chunk", "parts"), required=True)
    parser.add_argument("--case", choices=("scaling", "small"), default="scaling")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, help="strong.steps (default: the case's)")
    parser.add_argument("--chunk", type=int, help="default: the sweep's own (planner.chunk_size)")
    parser.add_argument(
        "--batch", type=int, default=8, help="configurations per point (n, d, parts)"
    )
    parser.add_argument("--counts", type=int, nargs="+", default=[1, 4, 16, 64, 256, 1024, 4096])
    parser.add_argument("--dense-max", type=int, default=1024)
    parser.add_argument("--ns", type=int, nargs="+", default=[64, 128, 256, 512, 1024, 2048])
    parser.add_argument("--d-ns", type=int, nargs="+", default=[128], help="n of the d axis")
    parser.add_argument("--n-d", type=float, default=4000, help="d of the n axis")
    parser.add_argument(
        "--ds", type=float, nargs="+", default=[250, 500, 1000, 2000, 4000, 8000, 16000]
    )
    parser.add_argument("--reduced-ds", type=float, nargs="+", default=[1e5, 1e7, 1e9])
    parser.add_argument("--configs", type=int, default=128, help="configurations (chunk axis)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 16], help="chunk axis")
    parser.add_argument("--backends", nargs="+", default=["dense", "reduced"])
    args = parser.parse_args(argv)
    base = dict(SCALING if args.case == "scaling" else common.SMALL)
    base["strong.steps"] = args.steps or base["strong.steps"]
    print(common.header(f"scaling --axis {args.axis}"))

    runners, seen = {}, set()
    for label, point, count, chunk in points(args, base):
        configs = common.configurations(point, count, point["run.backend"])
        sweep = common.Sweep(configs, min(chunk, count) if chunk else None)
        if (label, repr(point), count, sweep.chunk) in seen:
            continue  # the chunk axis: the sweep's own size is among --sizes
        seen.add((label, repr(point), count, sweep.chunk))
        if point["run.backend"] == "auto" and sweep.static.backend != "reduced":
            common.log(f"  skip d={point['data.d']} n={point['strong.n']}: D >= d, no reduction")
            continue
        sweep.label, sweep.picked = label, chunk is None and args.axis == "chunk"
        sweep.compile_seconds = sweep.compile()
        runners[len(runners)] = sweep

    def task(sweep):
        return lambda repeat: None if repeat and len(sweep.configs) > 256 else sweep()[0]

    times = common.interleaved({i: task(s) for i, s in runners.items()}, args.repeats, common.log)
    rows = []
    for i, s in runners.items():
        c, seconds = s.configs[0], float(np.median(times[i]))
        flops = planner.cost(s.static, c["data.d"], c["strong.steps"], c["weak.steps"]).flops
        rows.append(
            {
                **({"part": s.label} if s.label else {}),
                "configs": len(s.configs),
                "backend": s.static.backend,
                "n (n_pad)": f"{c['strong.n']} ({s.static.n_pad})",
                "d": f"{c['data.d']:g}",
                "D strong": common.dims(s.static, c["data.d"])[0],
                "chunk": f"{s.chunk}" + (" (the sweep's)" if s.picked else ""),
                "compile s": f"{s.compile_seconds:.1f}",
                "run s": f"{seconds:.3g}",
                "range": common.spread(times[i]),
                "ms / config": f"{1e3 * seconds / len(s.configs):.3g}",
                "config-steps/s": f"{len(s.configs) * c['strong.steps'] / seconds:,.0f}",
                "GFLOP/s": f"{len(s.configs) * flops / seconds / 1e9:.1f}",
            }
        )
    if args.axis == "parts":  # the cost of what the next row removes
        for row, after in zip(rows, [*rows[1:], None]):
            last = after is None or after["backend"] != row["backend"]
            ms = float(row["ms / config"]) - (0.0 if last else float(after["ms / config"]))
            row["ms / config of the part"] = f"{ms:.3g}"
    print(
        f"\n{args.case} case: strong steps={base['strong.steps']}, m={base['strong.m']}, "
        f"n_weak={base['weak.n']}, weak steps={base['weak.steps']}, n_test={base['eval.n_test']}, "
        f"eval points={base['eval.points']}; medians of {args.repeats} interleaved repeats "
        "(1 above 256 configs); GFLOP/s from planner.cost\n"
    )
    print(common.table(rows))
    print(f"\n# load at end: {common.load_now()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
