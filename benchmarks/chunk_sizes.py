"""CPU chunk size: the same configurations through the sweep path in chunks of several
sizes, interleaved, against the size the sweep command picks (``engine.chunk_size``).

Results do not depend on the chunk size (bitwise, tests/test_engine.py); only the
speed does. Cases: ``small`` (the throughput benchmark's small configuration, ~1 MB
per configuration read at every step) and ``scaling`` (``scaling.py``'s shortened
configuration, ``n_weak = 200``: ~160 kB).

    python benchmarks/chunk_sizes.py --case small
    python benchmarks/chunk_sizes.py --case scaling --sizes 4 6 8 16
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import common
from scaling import SCALING
from w2s_jax import engine

CASES = {"small": common.SMALL, "scaling": SCALING}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=tuple(CASES), default="small")
    parser.add_argument("--backend", choices=("dense", "auto"), default="auto")
    parser.add_argument("--configs", type=int, default=128)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 16])
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args(argv)
    print(common.header("chunk_sizes"))
    configs = common.configurations(CASES[args.case], args.configs, args.backend)
    program = engine.plan(configs)[0]
    picked = engine.chunk_size(program, len(configs), None, None)
    runners = {size: common.Vmapped(configs, size) for size in sorted({*args.sizes, picked})}
    for runner in runners.values():
        runner.compile()
    times = common.interleaved(
        {size: (lambda r, x=runner: x()[0] / len(configs)) for size, runner in runners.items()},
        args.repeats,
        common.log,
    )
    rows = [
        {
            "chunk": f"{size}" + (" (the sweep's)" if size == picked else ""),
            "per device": size // engine.devices_for(size),
            "ms / config (median)": f"{1e3 * np.median(values):.2f}",
            "range": common.spread([1e3 * v for v in values]),
        }
        for size, values in times.items()
    ]
    print(
        f"\n{args.case} case ({program.static.backend} backend), {args.configs} "
        f"configurations, {engine.jax.local_device_count()} devices, "
        f"{program.cost.hot_bytes / 1e3:.0f} kB read per configuration-step "
        f"(Cost.hot_bytes); medians of {args.repeats} interleaved repeats\n"
    )
    print(common.table(rows, ["chunk", "per device", "ms / config (median)", "range"]))
    print(f"\n# load at end: {common.load_now()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
