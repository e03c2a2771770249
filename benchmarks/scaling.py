"""Scaling: time of w2s_jax's chunked sweep (``common.Sweep``) along one axis.

``--axis configs`` (1 ... 4096 configurations; dense up to ``--dense-max``, one repeat
above 256), ``n`` (at ``d = --n-d``), ``d`` (dense; reduced up to 10^9), ``chunk``
(``--sizes`` and the sweep's own), or ``parts`` (the full pipeline; 3 evaluation points;
+ 1 strong step; + no teacher steps: the differences are the evaluations, the strong
steps and the teacher). ``--case scaling`` (default): ``common.SMALL`` shortened
(``SCALING``); ``--case small``: ``common.SMALL``.

    python benchmarks/scaling.py --axis configs      # also: --axis n, d, chunk, parts
    python benchmarks/scaling.py --axis parts --case small --batch 64 --backends dense
"""

from __future__ import annotations

import sys

import numpy as np

import common
from w2s_jax.simulation import cost_model

SCALING = {**common.SMALL, "strong.steps": 100, "weak.n": 200, "weak.steps": 20}
SCALING |= {"eval.n_test": 500, "eval.points": 5}
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
            counts = [c for c in args.counts if c <= args.dense_max or backend != "dense"]
            out += [("", b, c, args.chunk) for c in counts]
        elif args.axis == "n":
            out += [("", {**b, "strong.n": n, "data.d": args.n_d}, args.batch, args.chunk)
                    for n in args.ns]  # fmt: skip
        elif args.axis == "d":
            ds = args.ds + (args.reduced_ds if backend == "reduced" else [])
            out += [("", {**b, "data.d": d, "strong.n": n}, args.batch, args.chunk)
                    for n in args.d_ns for d in ds]  # fmt: skip
        elif args.axis == "chunk":
            out += [("", b, args.configs, size) for size in [None, *args.sizes]]
        else:
            out += [(part, {**b, **c}, args.batch, args.chunk) for part, c in PARTS.items()]
    return out


def main(argv=None) -> int:
    parser = common.parser(__doc__, repeats=3)
    add = parser.add_argument
    add("--axis", choices=("configs", "n", "d", "chunk", "parts"), required=True)
    add("--case", choices=("scaling", "small"), default="scaling")
    add("--steps", type=int, help="strong.steps (default: the case's)")
    add("--chunk", type=int, help="default: the sweep's own (chunking.chunk_size)")
    add("--batch", type=int, default=8, help="configurations per point (n, d, parts)")
    add("--counts", type=int, nargs="+", default=[1, 4, 16, 64, 256, 1024, 4096])
    add("--dense-max", type=int, default=1024)
    add("--ns", type=int, nargs="+", default=[64, 128, 256, 512, 1024, 2048])
    add("--d-ns", type=int, nargs="+", default=[128], help="n of the d axis")
    add("--n-d", type=float, default=4000, help="d of the n axis")
    add("--ds", type=float, nargs="+", default=[250, 500, 1000, 2000, 4000, 8000, 16000])
    add("--reduced-ds", type=float, nargs="+", default=[1e5, 1e7, 1e9])
    add("--configs", type=int, default=128, help="configurations (chunk axis)")
    add("--sizes", type=int, nargs="+", default=[4, 8, 16], help="chunk axis")
    add("--backends", nargs="+", default=["dense", "reduced"])
    args = parser.parse_args(argv)
    base = dict(SCALING if args.case == "scaling" else common.SMALL)
    base["strong.steps"] = args.steps or base["strong.steps"]
    print(common.header(f"scaling --axis {args.axis}"))

    runners, seen = [], set()
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
        runners.append(sweep)

    def task(sweep):
        return lambda repeat: None if repeat and len(sweep.configs) > 256 else sweep()[0]

    times = common.interleaved(dict(enumerate(map(task, runners))), args.repeats)
    rows = []
    for i, s in enumerate(runners):
        c, seconds, count = s.configs[0], float(np.median(times[i])), len(s.configs)
        flops = cost_model.cost(s.static, c["data.d"], c["strong.steps"], c["weak.steps"]).flops
        rows.append({
            **({"part": s.label} if s.label else {}),
            "configs": count,
            "backend": s.static.backend,
            "n (n_pad)": f"{c['strong.n']} ({s.static.n_pad})",
            "d": f"{c['data.d']:g}",
            "D strong": common.dims(s.static, c["data.d"])[0],
            "chunk": f"{s.chunk}" + (" (the sweep's)" if s.picked else ""),
            "compile s": f"{s.compile_seconds:.1f}",
            "run s": f"{seconds:.3g}",
            "range": common.spread(times[i]),
            "ms / config": f"{1e3 * seconds / count:.3g}",
            "config-steps/s": f"{count * c['strong.steps'] / seconds:,.0f}",
            "GFLOP/s": f"{count * flops / seconds / 1e9:.1f}",
        })  # fmt: skip
    if args.axis == "parts":  # the cost of what the next row removes
        for row, after in zip(rows, [*rows[1:], None]):
            last = after is None or after["backend"] != row["backend"]
            ms = float(row["ms / config"]) - (0.0 if last else float(after["ms / config"]))
            row["ms / config of the part"] = f"{ms:.3g}"
    print(
        f"\n{args.case} case: strong steps={base['strong.steps']}, m={base['strong.m']}, "
        f"n_weak={base['weak.n']}, weak steps={base['weak.steps']}, n_test={base['eval.n_test']}, "
        f"eval points={base['eval.points']}; medians of {args.repeats} interleaved repeats "
        "(1 above 256 configs); GFLOP/s from cost_model.cost\n"
    )
    print(common.table(rows))
    print(f"\n# load at end: {common.load_now()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
