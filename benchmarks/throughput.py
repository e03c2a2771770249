"""Throughput: the same configurations run four ways, side by side, in one process.

w2s_jax's chunked sweep (``common.Sweep``; dense and ``auto``'s backend; ``--primal``: also
with primal GD), a loop of ``engine.run_alone`` (``run_one``'s path), and PyTorch
and NumPy loops (``baselines``); the sweep runs every configuration each repeat, the loops
a different slice of ``--loop-configs``. Configuration-steps per second = ``strong.steps
/ seconds per configuration``.

    python benchmarks/throughput.py --case small --repeats 3
    python benchmarks/throughput.py --case large --skip numpy
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import numpy as np
import threadpoolctl

import common
from baselines import run_numpy, run_torch
from w2s_jax.execution import engine


def loop(run_one: Callable) -> Callable:
    """A Python loop of ``run_one(index, configuration) -> final test error`` over a list
    of configurations, returning (seconds, final test errors)."""

    def run(configs: list[dict]) -> tuple[float, np.ndarray]:
        seconds, finals = common.timed(lambda: [run_one(i, c) for i, c in enumerate(configs)])
        return seconds, np.array(finals)

    return run


# engine.run_alone: run_one's path, one configuration per compiled call
one_by_one = loop(lambda i, c: engine.run_alone(c).curves["test_error"][0, -1])


def set_threads(threads: int) -> None:
    """Threads of the baselines' libraries: PyTorch's intra-op pool and NumPy's BLAS."""
    threadpoolctl.threadpool_limits(threads, user_api="blas")
    if common.has("torch"):
        import torch

        torch.set_num_threads(threads)


def pick_threads(configuration: dict, steps: int = 20) -> int:
    """1 or ``os.cpu_count()`` threads, whichever runs a short PyTorch + NumPy run of
    ``configuration`` faster now (best of 2 tries each); sets it."""
    short = {**common.baseline_config(configuration), "steps": steps, "eval_steps": [0, steps]}
    functions = [run_numpy] + [run_torch] * common.has("torch")
    run = lambda: [f({**short, "weak_steps": 2}, seed=0) for f in functions]
    best = {}
    for threads in sorted({1, os.cpu_count() or 1}):
        set_threads(threads)
        best[threads] = min(common.timed(run)[0] for _ in range(2))
    choice = min(best, key=best.get)
    common.log(f"  baseline threads: {best} s for a short run -> {choice}")
    set_threads(choice)
    return choice


def run_case(name: str, base: dict, args) -> str:
    count = args.configs if name == "small" else args.large_configs
    loop_count = args.loop_configs if name == "small" else 1
    configs = {b: common.configurations(base, count, b) for b in ("dense", "auto")}
    sweeps = {b: common.Sweep(c, args.chunk) for b, c in configs.items()}
    if sweeps["auto"].static.backend == "dense":  # auto kept the dense backend: one column
        del configs["auto"], sweeps["auto"]
    steps = int(base["strong.steps"])
    common.log(f"[{name}] {count} configurations, base {base}")

    # name -> (runner of a list of configurations, the configurations, how many a repeat)
    methods, compile_seconds, reference = {}, {}, {}
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
            methods[method] = (runner, runner.configs, count)
        if "loop" not in args.skip:
            method = f"run_alone loop, {label}"
            compile_seconds[method] = one_by_one(configs[backend][:1])[0]
            methods[method] = (one_by_one, configs[backend], loop_count)
    if args.baseline_threads == "auto":
        thread_counts = [pick_threads(configs["dense"][0])]
    elif args.baseline_threads == "both":  # one row per setting, interleaved
        thread_counts = sorted({1, os.cpu_count() or 1})
    else:
        thread_counts = [int(args.baseline_threads)]

    def baseline(function, threads):
        run = loop(lambda i, c: function(common.baseline_config(c), 1000 + i)["test_error"][-1])

        def with_threads(cs):
            set_threads(threads)
            return run(cs)

        return with_threads, configs["dense"], loop_count

    warm = {**common.baseline_config(configs["dense"][0]), "steps": 1, "eval_steps": [0, 1]}
    for threads in thread_counts:
        if "torch" not in args.skip:
            set_threads(threads)
            run_torch({**warm, "weak_steps": 1}, seed=0)  # warm-up
            methods[f"PyTorch loop (float32, {threads} thr.)"] = baseline(run_torch, threads)
        if "numpy" not in args.skip:
            methods[f"NumPy loop (float64, {threads} thr.)"] = baseline(run_numpy, threads)
    for method, seconds in compile_seconds.items():
        common.log(f"  compile {method}: {seconds:.1f} s")

    finals: dict[str, list] = {m: [] for m in methods}

    def task(method):
        def timed(repeat):  # the loops run a different slice of the configurations each repeat
            runner, source, size = methods[method]
            part = source[(repeat * size) % count :][:size]
            seconds, out = runner(part)
            finals[method].extend(out.tolist())
            return seconds / len(part)

        return timed

    times = common.interleaved({m: task(m) for m in methods}, args.repeats)
    rows = []
    for method, values in times.items():
        per_config = float(np.median(values))
        row = {
            "method": method,
            "configs / repeat": methods[method][2],
            "s / config (median)": f"{per_config:.4g}",
            "range": common.spread(values),
            "config-steps/s": f"{steps / per_config:,.0f}",
        }
        for backend, ref in reference.items():
            row[f"× vs vmapped {backend}"] = f"{per_config / np.median(times[ref]):.2f}"
        rows.append(row | {"final error (mean)": f"{np.mean(finals[method]):.3f}"})
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
    parser = common.parser(__doc__, repeats=3, cases=True)
    parser.add_argument("--configs", type=int, default=256, help="small grid size")
    parser.add_argument("--loop-configs", type=int, default=4, help="per repeat of the loops")
    parser.add_argument("--large-configs", type=int, default=2)
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
    if not common.has("torch") and "torch" not in args.skip:
        common.log("PyTorch not installed: its loop is skipped (pip install torch)")
        args.skip.append("torch")
    print(common.header("throughput"))
    for name, base in common.cases(args):
        print(run_case(name, base, args), flush=True)
    print(f"\n# load at end: {common.load_now()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
