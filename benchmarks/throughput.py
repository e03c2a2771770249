"""Throughput: the same configurations run four ways, side by side, in one process.

(a) w2s_jax's chunked sweep (``common.Sweep``: ``planner.plan`` / ``engine.run_chunk``,
    compiled chunks of many configurations, of the size the sweep command picks unless
    ``--chunk``), in the dense backend and in the backend ``auto`` picks (reduced where
    it is smaller than ``d``, docs/MODEL.md); ``--primal`` adds the same with the
    student's GD forced into the primal form (``strong.gd_form = "primal"``), to show
    what the dual form buys;
(b) a Python loop of ``engine.run_configuration`` (``w2s_jax.run_one``'s path: one
    configuration per compiled call), same two backends;
(c) a per-configuration loop in PyTorch (``baselines.run_torch``: float32, autograd);
(d) the same in NumPy (``baselines.run_numpy``: float64, hand-written gradients).

Every method runs the whole pipeline of a configuration (draw data, train the teacher,
pseudo-label, train the student, score the test set at the evaluation steps). The
sweep runs all configurations each repeat; the loops, whose cost is linear in the
number of configurations, run a different slice of ``--loop-configs`` of them each
repeat. Repeats are interleaved (one of each method per round); compile times are
reported apart. The figure of merit is configuration-steps per second: strong GD steps
of whole configurations per wall-clock second (``strong.steps / seconds per config``).
Other chunk sizes: ``scaling.py --axis chunk``.

    python benchmarks/throughput.py                  # both cases, ~6 minutes on 2 cores
    python benchmarks/throughput.py --case small --repeats 3
    python benchmarks/throughput.py --case large --skip numpy
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import baselines
import common


def run_case(name: str, base: dict, args) -> str:
    count = args.configs if name == "small" else args.large_configs
    loop_count = args.loop_configs if name == "small" else 1
    configs = {b: common.configurations(base, count, b) for b in ("dense", "auto")}
    sweeps = {b: common.Sweep(c, args.chunk) for b, c in configs.items()}
    if sweeps["auto"].static.backend == "dense":  # auto kept the dense backend: one column
        del configs["auto"], sweeps["auto"]
    steps = int(base["strong.steps"])
    common.log(f"[{name}] {count} configurations, base {base}")

    methods: dict = {}  # name -> (runner, backend or None for "all configurations")
    compile_seconds, reference = {}, {}
    for backend, sweep in sweeps.items():
        label = f"{backend} ({sweep.static.backend})"
        variants = [("", sweep)]
        if args.primal:
            primal = [{**c, "strong.gd_form": "primal"} for c in configs[backend]]
            variants.append((", primal GD", common.Sweep(primal, args.chunk)))
        for suffix, runner in variants:
            method = f"w2s_jax vmapped, {label}, chunk {runner.chunk}{suffix}"
            reference.setdefault(backend, method)
            compile_seconds[method] = runner.compile()
            methods[method] = (runner, None)
        if "loop" not in args.skip:
            method = f"run_configuration loop, {label}"
            compile_seconds[method] = common.one_by_one(configs[backend][:1])[0]
            methods[method] = (common.one_by_one, backend)
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

    warm = {**common.baseline_config(configs["dense"][0]), "steps": 1, "eval_steps": [0, 1]}
    for threads in thread_counts:
        if "torch" not in args.skip:
            common.set_baseline_threads(threads)
            baselines.run_torch({**warm, "weak_steps": 1}, seed=0)  # warm-up
            method = f"PyTorch loop (float32, {threads} thr.)"
            methods[method] = (baseline(baselines.run_torch, threads), "dense")
        if "numpy" not in args.skip:
            method = f"NumPy loop (float64, {threads} thr.)"
            methods[method] = (baseline(baselines.run_numpy, threads), "dense")
    for method, seconds in compile_seconds.items():
        common.log(f"  compile {method}: {seconds:.1f} s")

    finals: dict[str, list] = {m: [] for m in methods}

    def task(method):
        runner, backend = methods[method]

        def timed(repeat):
            if backend is None:
                seconds, out = runner()
                units = count
            else:  # a different slice of the configurations each repeat
                lo = (repeat * loop_count) % count
                part = configs[backend][lo : lo + loop_count]
                seconds, out = runner(part)
                units = len(part)
            finals[method].extend(out.tolist())
            return seconds / units

        return timed

    times = common.interleaved({m: task(m) for m in methods}, args.repeats, common.log)
    rows = []
    for method, values in times.items():
        per_config = float(np.median(values))
        row = {
            "method": method,
            "configs / repeat": count if methods[method][1] is None else loop_count,
            "s / config (median)": f"{per_config:.4g}",
            "range": common.spread(values),
            "config-steps/s": f"{steps / per_config:,.0f}",
        }
        for backend, ref in reference.items():
            row[f"× vs vmapped {backend}"] = f"{per_config / np.median(times[ref]):.2f}"
        row["final error (mean)"] = f"{np.mean(finals[method]):.3f}"
        rows.append(row)
    s = sweeps["dense"].static
    return (
        f"\n### {name}: {count} configurations, d={s.d}, n={base['strong.n']} "
        f"(n_pad={s.n_pad}), m={s.m}, strong steps={steps}, n_weak={s.weak_n}, "
        f"weak steps={base['weak.steps']}, n_test={s.n_test}, eval points={s.eval_points}; "
        f"{args.repeats} interleaved repeats\n\n"
        + common.table(rows)
        + "\n\n`× vs vmapped X` = (method's seconds per configuration) / (vmapped X's): "
        "how many times faster w2s_jax's vmapped sweep is.\nCompile (not in the "
        "times above): " + ", ".join(f"{m}: {v:.1f} s" for m, v in compile_seconds.items())
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=("small", "large", "all"), default="all")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--configs", type=int, default=256, help="small grid size")
    parser.add_argument(
        "--loop-configs", type=int, default=4, help="configurations per repeat of the loops"
    )
    parser.add_argument("--large-configs", type=int, default=2)
    parser.add_argument("--large-n", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--large-d", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, help="default: what the sweep command picks")
    parser.add_argument("--skip", nargs="*", default=[], choices=("loop", "torch", "numpy"))
    parser.add_argument(
        "--baseline-threads",
        default="auto",
        help="threads of PyTorch and OpenBLAS: a number, auto (the faster "
        "of 1 and all cores, probed per case), or both (a row for each)",
    )
    parser.add_argument("--primal", action="store_true", help="add rows with primal GD")
    args = parser.parse_args(argv)

    print(common.header("throughput"))
    cases = [("small", common.SMALL)] if args.case in ("small", "all") else []
    if args.case in ("large", "all"):
        for n in args.large_n:
            cases.append(("large", {**common.LARGE, "strong.n": n, "data.d": args.large_d}))
    for name, base in cases:
        print(run_case(name, base, args), flush=True)
    print(f"\n# load at end: {common.load_now()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
