"""One-table benchmark for an accelerator (GPU/TPU; runs on a CPU too, scaled down).

``--configs`` configurations of one program through ``common.Sweep`` (chunks of
``--chunk``; compile apart); the fraction of the memory-bandwidth floor is the minimum
bytes of the whole sweep (``common.traffic``) over the bandwidth measured in the same
process, over the sweep's time. The issue-6 grid on one H200, and a CPU smoke test:

    python benchmarks/gpu.py --configs 100000 --n 200 --d 1000 --m 20 --steps 1000 \\
        --chunk 2048 --precision default
    python benchmarks/gpu.py --configs 64 --n 200 --d 1000 --m 20 --steps 50 --chunk 32
"""

from __future__ import annotations

import math
import sys
import time

import jax
import numpy as np

import common
from w2s_jax.simulation import cost_model, fields

OPTIONS = {  # option -> (grid key, type, default; None: the library's default)
    "--d": ("data.d", float, 1000),
    "--n": ("strong.n", int, 200),
    "--m": ("strong.m", int, 20),
    "--steps": ("strong.steps", int, 1000),
    "--n-weak": ("weak.n", int, None),
    "--weak-steps": ("weak.steps", int, None),
    "--n-test": ("eval.n_test", int, None),
    "--eval-points": ("eval.points", int, None),
}


def main(argv=None) -> int:
    parser = common.parser(__doc__)
    parser.add_argument("--configs", type=int, default=100_000)
    for option, (key, kind, default) in OPTIONS.items():
        default = fields.defaults()[key] if default is None else default
        parser.add_argument(option, type=kind, default=default, help=key)
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
    base = {key: getattr(args, o[2:].replace("-", "_")) for o, (key, _, _) in OPTIONS.items()}
    base |= {"run.precision": args.precision, "run.dtype": args.dtype}
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

    flops = cost_model.cost(static, args.d, args.steps, args.weak_steps).flops
    traffic = common.traffic(static, args.d, args.steps, args.weak_steps)
    padded = math.ceil(len(configs) / chunk) * chunk  # the last chunk runs padded
    floor = padded * traffic / bandwidth
    row = {
        "device": str(jax.devices()[0]).replace("|", "/"),
        "configs": f"{len(configs):,}" + (f" ({done:,} run)" if done < len(configs) else ""),
        "backend (D strong, D weak)": f"{static.backend} {common.dims(static, args.d)}",
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
    print(f"\n{common.table([row])}")
    print(
        f"\nper configuration: {flops / 1e9:.2f} GFLOP (cost_model.cost), {traffic / 1e9:.3f} GB "
        f"minimum traffic (common.traffic); mean final test error {np.mean(errors):.3f}"
    )
    print(f"# load at end: {common.load_now()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
