"""Roofline: the strong training step against this machine's measured limits.

Each case runs the whole pipeline (``common.Sweep``, one chunk, ``run.compile = "full"``,
3 evaluation points) at ``S`` and ``2 S`` strong steps: the difference over ``S`` is the
step. ``--forms``: the student's GD in the primal form, the dual form or ``auto``'s.
Interleaved with the steps: the matmul rate and the memory bandwidth; per step, FLOPs
(``cost_model.cost``), minimum bytes, and the % of
``max(FLOPs / rate, bytes / bandwidth)``.

    python benchmarks/roofline.py                       # small batch + two large, ~3 min
    python benchmarks/roofline.py --case large --large-n 2048 --large-d 20000
"""

from __future__ import annotations

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

    def per_step(self, times: list[list[float]]) -> list[float]:
        """Seconds per configuration-step: the median difference of ``2 S`` and ``S``,
        then each repeat's."""
        pairs = [tuple(float(np.median([t[i] for t in times])) for i in (0, 1)), *times]
        return [(long - short) / (self.steps * self.count) for short, long in pairs]


def main(argv=None) -> int:
    parser = common.parser(__doc__, repeats=5, cases=True)
    parser.add_argument("--small-batch", type=int, default=256)
    parser.add_argument("--small-steps", type=int, default=100, help="S of the small case")
    parser.add_argument("--large-steps", type=int, default=20, help="S of the large cases")
    parser.add_argument("--backends", nargs="+", default=["dense", "auto"])
    parser.add_argument("--forms", nargs="+", default=["primal", "dual"])
    parser.add_argument("--copy-mib", type=int, default=512)
    args = parser.parse_args(argv)
    print(common.header("roofline"))

    cases: dict[str, StepCase] = {}
    for backend in args.backends:
        for form in args.forms:
            for kind, base in common.cases(args):
                small = kind == "small"
                case = StepCase(base, args.small_batch if small else 1, backend, form,
                                args.small_steps if small else args.large_steps)  # fmt: skip
                what = f"x{args.small_batch}" if small else f"n={base['strong.n']} d={args.large_d}"
                cases[f"{kind} {what}, {case.static.backend}, {form}"] = case
    for name, case in cases.items():
        common.log(f"  compiled {name}: {case.compile_seconds:.1f} s")

    tasks = {
        "matmul": lambda r: 1.0 / common.matmul_rate(),
        "copy": lambda r: 1.0 / common.copy_bandwidth(args.copy_mib, repeats=1),
        **cases,
    }
    common.copy_bandwidth(args.copy_mib, repeats=1)  # warm-up (compile) of the probe
    times = common.interleaved(tasks, args.repeats)
    peak_flops = 1.0 / float(np.median(times["matmul"]))
    bandwidth = 1.0 / float(np.median(times["copy"]))

    rows = []
    for name, case in cases.items():
        flops = common.step_flops(case.static, case.d)
        step_bytes = common.step_bytes(case.static, case.d)
        seconds, *each = case.per_step(times[name])
        compute, memory = flops / peak_flops, step_bytes / bandwidth
        rows.append(
            {
                "case": name,
                "n_pad x D": f"{case.static.n_pad} x {common.dims(case.static, case.d)[0]}",
                "MFLOP / step": f"{flops / 1e6:.2f}",
                "MB / step (min)": f"{step_bytes / 1e6:.2f}",
                "FLOP/B": f"{flops / step_bytes:.1f}",
                "µs / config-step": f"{seconds * 1e6:.1f}",
                "range": common.spread([1e6 * s for s in each]),
                "GFLOP/s": f"{flops / seconds / 1e9:.1f}",
                "% of matmul rate": f"{100 * flops / seconds / peak_flops:.0f}%",
                "GB/s (min)": f"{step_bytes / seconds / 1e9:.1f}",
                "bound": "compute" if compute >= memory else "memory",
                "% of roofline": f"{100 * max(compute, memory) / seconds:.0f}%",
            }
        )
    print(
        f"\nMeasured in this run (medians of {args.repeats} interleaved repeats): float32 "
        f"matmul {peak_flops / 1e9:.1f} GFLOP/s (engine.measured_flop_rate / EFFICIENCY; "
        f"range {common.spread([1e-9 / t for t in times['matmul']])}), memory bandwidth "
        f"{bandwidth / 1e9:.1f} GB/s (in-place {args.copy_mib} MiB update; range "
        f"{common.spread([1e-9 / t for t in times['copy']])}); machine balance "
        f"{peak_flops / bandwidth:.1f} FLOP/B.\n"
    )
    print(common.table(rows))
    print(
        "\n`% of roofline` = (roofline bound time) / (measured time), bound = max(FLOPs / "
        "matmul rate, minimum bytes / bandwidth); FLOPs from cost_model.cost, per step: "
        "(2 S steps - S steps) / S."
    )
    print(f"\n# load at end: {common.load_now()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
