"""Throughput: the same configurations run four ways, side by side, in one process.

(a) w2s_jax's vmapped sweep (``engine.run_chunk``: compiled chunks of many
    configurations, of the size the sweep command picks unless ``--chunk``), in the
    dense backend and in the backend ``auto`` picks (reduced where it is smaller than
    ``d``, docs/MODEL.md); ``--primal`` adds the same with the student's GD forced into the
    primal form (``strong.gd_form = "primal"``), to show what the dual form buys;
(b) a Python loop calling a jitted single-configuration w2s_jax run
    (``jax.jit(pipeline.run_configuration)``), same two backends;
(c) a per-configuration loop in PyTorch (``baselines.run_torch``: float32, autograd);
(d) the same in NumPy (``baselines.run_numpy``: float64, hand-written gradients).

Every method runs the whole pipeline of a configuration (draw data, train the teacher,
pseudo-label, train the student, score the test set at the evaluation steps). The
vmapped sweep runs all configurations each repeat; the loops, whose cost is linear in
the number of configurations, run a different slice of ``--loop-configs`` of them each
repeat. Repeats are interleaved (one of each method per round); compile times are
reported apart. The figure of merit is configuration-steps per second: strong GD steps
of whole configurations per wall-clock second (``strong.steps / seconds per config``).

    python benchmarks/throughput.py                  # both cases, ~6 minutes on 2 cores
    python benchmarks/throughput.py --case small --repeats 3
    python benchmarks/throughput.py --case large --skip numpy
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

import baselines
import common
from w2s_jax import grid


def run_case(name: str, base: dict, args) -> dict:
    count = args.configs if name == "small" else args.large_configs
    loop_count = args.loop_configs if name == "small" else 1
    configs = {b: common.configurations(base, count, b) for b in ("dense", "auto")}
    static = {b: common.static_of(c) for b, c in configs.items()}
    if static["auto"].backend == "dense":  # auto kept the dense backend: no second column
        del configs["auto"], static["auto"]
    steps = int(base["strong.steps"])
    common.log(f"[{name}] {count} configurations, base {base}")

    methods: dict = {}  # name -> (kind, runner, backend); kind "all" or "loop"
    compile_seconds = {}
    reference = {}  # backend -> the method the ratios are taken against
    for backend in configs:
        label = f"{backend} ({static[backend].backend})"
        variants = [(chunk, "") for chunk in [args.chunk, *args.chunks]]
        if args.primal:
            variants.append((args.chunk, "primal"))
        for chunk, form in variants:
            part = configs[backend]
            if form:
                part = [grid.resolve({**c, "strong.gd_form": form}) for c in part]
            vmapped = common.Vmapped(part, chunk)
            method = f"w2s_jax vmapped, {label}, chunk {vmapped.chunk}"
            method += f", {form} GD" if form else ""
            reference.setdefault(backend, method)
            compile_seconds[method] = vmapped.compile()
            methods[method] = ("all", vmapped, backend)
        loop = common.JittedLoop(configs[backend])
        compile_seconds[f"jitted loop, {label}"] = loop.compile()
        methods[f"jitted loop, {label}"] = ("loop", loop, backend)
    if args.baseline_threads == "auto":
        thread_counts = [common.pick_baseline_threads(configs["dense"][0])]
    elif args.baseline_threads == "both":  # one row per setting, interleaved
        thread_counts = sorted({1, os.cpu_count() or 1})
    else:
        thread_counts = [int(args.baseline_threads)]

    def baseline(function, threads):
        def run(cs):
            common.set_baseline_threads(threads)
            return common.baseline_loop(function, cs)

        return run

    for threads in thread_counts:
        if "torch" not in args.skip:
            common.set_baseline_threads(threads)
            baselines.run_torch(
                {
                    **common.baseline_config(configs["dense"][0]),
                    "steps": 1,
                    "eval_steps": [0, 1],
                    "weak_steps": 1,
                },
                seed=0,
            )  # warm-up
            methods[f"PyTorch loop (float32, {threads} thr.)"] = (
                "loop",
                baseline(baselines.run_torch, threads),
                "dense",
            )
        if "numpy" not in args.skip:
            methods[f"NumPy loop (float64, {threads} thr.)"] = (
                "loop",
                baseline(baselines.run_numpy, threads),
                "dense",
            )
    for method, seconds in compile_seconds.items():
        common.log(f"  compile {method}: {seconds:.1f} s")

    finals: dict[str, list] = {m: [] for m in methods}

    def task(method):
        kind, runner, backend = methods[method]

        def timed(repeat):
            if kind == "all":
                seconds, out = runner()
                units = count
            else:  # a different slice of the configurations each repeat
                lo = (repeat * loop_count) % count
                part = configs[backend][lo : lo + loop_count]
                seconds, out = runner(part)
                units = len(part)
            finals[method].extend(out["final"].tolist())
            return seconds / units

        return timed

    times = common.interleaved({m: task(m) for m in methods}, args.repeats, common.log)
    rows = []
    for method, values in times.items():
        per_config = float(np.median(values))
        row = {
            "method": method,
            "configs / repeat": count if methods[method][0] == "all" else loop_count,
            "s / config (median)": f"{per_config:.4g}",
            "range": common.spread(values),
            "config-steps/s": f"{steps / per_config:,.0f}",
            "final error (mean)": f"{np.mean(finals[method]):.3f}",
        }
        for backend, ref in reference.items():
            row[f"× vs vmapped {backend}"] = f"{per_config / np.median(times[ref]):.2f}"
        rows.append(row)
    columns = [
        "method",
        "configs / repeat",
        "s / config (median)",
        "range",
        "config-steps/s",
        *(f"× vs vmapped {b}" for b in configs),
        "final error (mean)",
    ]
    s = static["dense"]
    text = (
        f"\n### {name}: {count} configurations, d={s.d}, n={base['strong.n']} "
        f"(n_pad={s.n_pad}), m={s.m}, strong steps={steps}, n_weak={s.weak_n}, "
        f"weak steps={base['weak.steps']}, n_test={s.n_test}, eval points={s.eval_points}; "
        f"{args.repeats} interleaved repeats\n\n"
        + common.table(rows, columns)
        + "\n\n`× vs vmapped X` = (method's seconds per configuration) / (vmapped X's): "
        "how many times faster w2s_jax's vmapped sweep is.\nCompile (not in the "
        "times above): " + ", ".join(f"{m}: {v:.1f} s" for m, v in compile_seconds.items())
    )
    return {
        "name": name,
        "text": text,
        "rows": rows,
        "times": times,
        "compile_seconds": compile_seconds,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=("small", "large", "all"), default="all")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--configs", type=int, default=256, help="small grid size")
    parser.add_argument(
        "--loop-configs",
        type=int,
        default=4,
        help="configurations per repeat for the loops (small grid)",
    )
    parser.add_argument("--large-configs", type=int, default=2)
    parser.add_argument("--large-n", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--large-d", type=int, default=10_000)
    parser.add_argument(
        "--chunk",
        type=int,
        default=None,
        help="vmapped chunk size (default: what the sweep command picks)",
    )
    parser.add_argument("--skip", nargs="*", default=[], choices=("torch", "numpy"))
    parser.add_argument(
        "--baseline-threads",
        default="auto",
        help="threads of PyTorch and OpenBLAS: a number, auto (the faster "
        "of 1 and all cores, probed per case), or both (a row for each)",
    )
    parser.add_argument(
        "--chunks",
        type=int,
        nargs="*",
        default=[],
        help="extra vmapped rows with these chunk sizes (dense and auto)",
    )
    parser.add_argument(
        "--primal",
        action="store_true",
        help="extra vmapped rows with the student's GD in the primal form",
    )
    parser.add_argument("--json", help="also write every measurement to this file")
    args = parser.parse_args(argv)

    print(common.header("throughput"))
    cases = []
    if args.case in ("small", "all"):
        cases.append(("small", common.SMALL))
    if args.case in ("large", "all"):
        for n in args.large_n:
            cases.append(("large", {**common.LARGE, "strong.n": n, "data.d": args.large_d}))
    results = []
    for name, base in cases:
        result = run_case(name, base, args)
        print(result["text"], flush=True)
        results.append(result)
    print(f"\n# load at end: {common.load_now()}")
    if args.json:
        with open(args.json, "w") as file:
            json.dump(
                [{k: v for k, v in r.items() if k != "text"} for r in results], file, indent=1
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
