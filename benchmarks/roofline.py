"""Roofline: the strong training step against this machine's measured limits.

The step is timed inside the library's own run: each case runs the whole pipeline
through ``common.Sweep`` (``engine.run_chunk``, the batch in one chunk, ``run.compile =
"full"``) with ``S`` and ``2 S`` strong steps and everything else the same (3
evaluation points); the difference of the two medians over ``S`` is the steady-state
step, free of data, teacher, evaluations and set-up (the dual form's Gram matrix).
``--forms`` times the student's GD in the primal form, the dual form
(``training.train_in_span``: ``2 n^2 F`` FLOPs a step instead of the primal's
``4 n D F``) or the form ``auto`` picks. In the same run, interleaved with the steps,
it measures

* the float32 matrix-product rate (``planner.measured_flop_rate``, without its
  efficiency factor), and
* the memory bandwidth (a donated in-place ``x + 1`` over ``--copy-mib`` MiB through
  JAX: every byte read once and written once),

and reports, per configuration-step, the FLOPs of the library's cost model
(``planner.cost``) and the minimum bytes (the matrix the step streams, read once:
``common.step_counts``), the achieved GFLOP/s and GB/s, and the percentage of the
roofline bound ``max(FLOPs / matmul rate, bytes / bandwidth)``, the fastest the step
could run on this machine.

    python benchmarks/roofline.py                       # small batch + two large, ~3 min
    python benchmarks/roofline.py --case large --large-n 2048 --large-d 20000
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import common


class StepCase:
    """The pipeline of ``configs`` at ``S`` and ``2 S`` strong steps; a call times both."""

    def __init__(self, base: dict, count: int, backend: str, form: str, steps: int):
        short = {**base, "eval.points": 3, "strong.gd_form": form, "run.compile": "full"}
        self.sweeps = [
            common.Sweep(common.configurations({**short, "strong.steps": s}, count, backend), count)
            for s in (steps, 2 * steps)
        ]
        self.static, self.d = self.sweeps[0].static, base["data.d"]
        self.count, self.steps = count, steps
        self.compile_seconds = sum(s.compile() for s in self.sweeps)

    def __call__(self, repeat: int) -> list[float]:
        return [sweep()[0] for sweep in self.sweeps]

    def per_step(self, times: list[list[float]]) -> float:
        """Seconds per configuration-step: the median difference of ``2 S`` and ``S``."""
        short, long = (float(np.median([t[i] for t in times])) for i in (0, 1))
        return (long - short) / (self.steps * self.count)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=("small", "large", "all"), default="all")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--small-batch", type=int, default=256)
    parser.add_argument("--small-steps", type=int, default=100, help="S of the small case")
    parser.add_argument("--large-n", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--large-d", type=int, default=10_000)
    parser.add_argument("--large-steps", type=int, default=20, help="S of the large cases")
    parser.add_argument("--backends", nargs="+", default=["dense", "auto"])
    parser.add_argument("--forms", nargs="+", default=["primal", "dual"])
    parser.add_argument("--copy-mib", type=int, default=512)
    args = parser.parse_args(argv)
    print(common.header("roofline"))

    cases: dict[str, StepCase] = {}
    for backend in args.backends:
        for form in args.forms:
            if args.case in ("small", "all"):
                case = StepCase(common.SMALL, args.small_batch, backend, form, args.small_steps)
                cases[f"small x{args.small_batch}, {case.static.backend}, {form}"] = case
            if args.case in ("large", "all"):
                for n in args.large_n:
                    base = {**common.LARGE, "strong.n": n, "data.d": args.large_d}
                    case = StepCase(base, 1, backend, form, args.large_steps)
                    cases[f"large n={n} d={args.large_d}, {case.static.backend}, {form}"] = case
    for name, case in cases.items():
        common.log(f"  compiled {name}: {case.compile_seconds:.1f} s")

    tasks = {
        "matmul": lambda r: 1.0 / common.matmul_rate(),
        "copy": lambda r: 1.0 / common.copy_bandwidth(args.copy_mib, repeats=1),
        **cases,
    }
    common.copy_bandwidth(args.copy_mib, repeats=1)  # warm-up (compile) of the probe
    times = common.interleaved(tasks, args.repeats, common.log)
    peak_flops = 1.0 / float(np.median(times["matmul"]))
    bandwidth = 1.0 / float(np.median(times["copy"]))

    rows = []
    for name, case in cases.items():
        counts = common.step_counts(case.static, case.d)
        seconds = case.per_step(times[name])
        compute, memory = counts["flops"] / peak_flops, counts["bytes"] / bandwidth
        spread = [(t[1] - t[0]) / (case.steps * case.count) * 1e6 for t in times[name]]
        rows.append(
            {
                "case": name,
                "n_pad x D": f"{case.static.n_pad} x {common.dims(case.static, case.d)[0]}",
                "MFLOP / step": f"{counts['flops'] / 1e6:.2f}",
                "MB / step (min)": f"{counts['bytes'] / 1e6:.2f}",
                "FLOP/B": f"{counts['flops'] / counts['bytes']:.1f}",
                "µs / config-step": f"{seconds * 1e6:.1f}",
                "range": common.spread(spread),
                "GFLOP/s": f"{counts['flops'] / seconds / 1e9:.1f}",
                "% of matmul rate": f"{100 * counts['flops'] / seconds / peak_flops:.0f}%",
                "GB/s (min)": f"{counts['bytes'] / seconds / 1e9:.1f}",
                "bound": "compute" if compute >= memory else "memory",
                "% of roofline": f"{100 * max(compute, memory) / seconds:.0f}%",
            }
        )
    print(
        f"\nMeasured in this run (medians of {args.repeats} interleaved repeats): float32 "
        f"matmul {peak_flops / 1e9:.1f} GFLOP/s (planner.measured_flop_rate / EFFICIENCY; "
        f"range {common.spread([1e-9 / t for t in times['matmul']])}), memory bandwidth "
        f"{bandwidth / 1e9:.1f} GB/s (in-place {args.copy_mib} MiB update; range "
        f"{common.spread([1e-9 / t for t in times['copy']])}); machine balance "
        f"{peak_flops / bandwidth:.1f} FLOP/B.\n"
    )
    print(common.table(rows))
    print(
        "\n`% of roofline` = (roofline bound time) / (measured time), bound = max(FLOPs / "
        "matmul rate, minimum bytes / bandwidth); FLOPs from planner.cost, per step: "
        "(2 S steps - S steps) / S."
    )
    print(f"\n# load at end: {common.load_now()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
