"""One-table benchmark for an accelerator (GPU/TPU; runs on a CPU too, scaled down).

Runs ``--configs`` configurations of one program through w2s_jax's sweep path
(``common.Sweep``: ``engine.run_chunk``, chunks of ``--chunk``), times compilation
apart from the run, measures the device's memory bandwidth in the same process (a
donated in-place update of ``--copy-mib`` MiB), and prints one table: wall time,
configuration-steps per second, achieved FLOP/s and bytes/s, and the fraction of the
memory-bandwidth floor (the minimum bytes of the whole sweep, ``common.traffic``,
divided by the measured bandwidth: no implementation could finish faster); FLOPs from
``planner.cost``.

The issue-6 grid, on one H200 (10^5 configurations of n = 200, d = 1000, m = 20,
T = 1000, everything else at its default):

    python benchmarks/gpu.py --configs 100000 --n 200 --d 1000 --m 20 --steps 1000 \
        --chunk 4096 --precision default

A CPU smoke test of the same command, scaled down:

    python benchmarks/gpu.py --configs 64 --n 200 --d 1000 --m 20 --steps 50 --chunk 32
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import jax
import numpy as np

import common
from w2s_jax.execution import planner
from w2s_jax.simulation import config as cfg


def main(argv=None) -> int:
    defaults = cfg.defaults()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", type=int, default=100_000)
    parser.add_argument("--n", type=int, default=200, help="strong.n")
    parser.add_argument("--d", type=float, default=1000, help="data.d")
    parser.add_argument("--m", type=int, default=20, help="strong.m")
    parser.add_argument("--steps", type=int, default=1000, help="strong.steps")
    parser.add_argument("--n-weak", type=int, default=defaults["weak.n"])
    parser.add_argument("--weak-steps", type=int, default=defaults["weak.steps"])
    parser.add_argument("--n-test", type=int, default=defaults["eval.n_test"])
    parser.add_argument("--eval-points", type=int, default=defaults["eval.points"])
    parser.add_argument("--backend", choices=("auto", "dense", "reduced"), default="auto")
    parser.add_argument(
        "--precision",
        choices=("default", "high", "highest"),
        default="highest",
        help="matmul precision (GPU: default/high allow TF32, highest not)",
    )
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--chunk", type=int, help="configurations per chunk (default: engine's)")
    parser.add_argument("--max-chunks", type=int, help="run only so many chunks, extrapolate")
    parser.add_argument("--copy-mib", type=int, default=2048)
    args = parser.parse_args(argv)
    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)

    print(common.header("gpu"))
    base = {
        "data.d": args.d,
        "strong.n": args.n,
        "strong.m": args.m,
        "strong.steps": args.steps,
        "weak.n": args.n_weak,
        "weak.steps": args.weak_steps,
        "eval.n_test": args.n_test,
        "eval.points": args.eval_points,
        "run.precision": args.precision,
        "run.dtype": args.dtype,
    }
    configs = common.configurations(base, args.configs, args.backend)
    sweep = common.Sweep(configs, args.chunk)
    static, chunk = sweep.static, sweep.chunk
    ran = configs[: args.max_chunks * chunk] if args.max_chunks else configs

    bandwidth = common.copy_bandwidth(args.copy_mib)
    start = time.perf_counter()
    compile_seconds = sweep.compile()
    sweep(ran[:chunk])  # one untimed chunk
    first = time.perf_counter() - start  # compile and one chunk
    seconds, errors = sweep(ran)
    done = len(ran)
    total = seconds * len(configs) / done  # extrapolated when --max-chunks cut the run

    flops = planner.cost(static, args.d, args.steps, args.weak_steps).flops
    traffic = common.traffic(static, args.d, args.steps, args.weak_steps)
    padded = math.ceil(len(configs) / chunk) * chunk  # the last chunk runs padded
    floor = padded * traffic / bandwidth
    D, Dw = common.dims(static, args.d)
    row = {
        "device": str(jax.devices()[0]).replace("|", "/"),
        "configs": f"{len(configs):,}" + (f" ({done:,} run)" if done < len(configs) else ""),
        "backend (D strong, D weak)": f"{static.backend} ({D}, {Dw})",
        "n_pad": static.n_pad,
        "chunk": chunk,
        "precision": static.precision,
        "compile s": f"{compile_seconds:.1f}",
        "first chunk s": f"{first:.1f}",
        "sweep s": f"{total:.1f}" + (" (extrapolated)" if done < len(configs) else ""),
        "config-steps/s": f"{len(configs) * args.steps / total:.3g}",
        "TFLOP/s": f"{padded * flops / total / 1e12:.2f}",
        "GB/s (min bytes)": f"{padded * traffic / total / 1e9:.0f}",
        "bandwidth GB/s": f"{bandwidth / 1e9:.0f}",
        "floor s": f"{floor:.1f}",
        "floor / sweep": f"{floor / total:.1%}",
    }
    print()
    print(common.table([row]))
    print(
        f"\nper configuration: {flops / 1e9:.2f} GFLOP (planner.cost), {traffic / 1e9:.3f} GB "
        f"minimum traffic (common.traffic); mean final test error {np.mean(errors):.3f}"
    )
    print(f"# load at end: {common.load_now()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
