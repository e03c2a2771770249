"""Where the time of a configuration goes: the small benchmark case with parts removed.

Four programs of the same batch, run interleaved through w2s_jax's sweep path: the
full pipeline; 2 evaluation points instead of 20; additionally 1 strong step instead of
500; additionally no teacher steps. Successive differences give the cost of the
evaluations, the strong steps and the teacher; the last program is data generation and
fixed costs.

    python benchmarks/breakdown.py --backend dense
    python benchmarks/breakdown.py --backend auto
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import common

PARTS = {
    "full pipeline": {},
    "2 evaluation points": {"eval.points": 2},
    "+ 1 strong step": {"eval.points": 2, "strong.steps": 1},
    "+ 0 teacher steps": {"eval.points": 2, "strong.steps": 1, "weak.steps": 0},
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("dense", "auto"), default="auto")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(common.header("breakdown"))
    runners = {
        name: common.Vmapped(
            common.configurations({**common.SMALL, **part}, args.batch, args.backend)
        )
        for name, part in PARTS.items()
    }
    for runner in runners.values():
        runner.compile()
    times = common.interleaved(
        {name: (lambda r, x=runner: x()[0] / args.batch) for name, runner in runners.items()},
        args.repeats,
        common.log,
    )
    ms = {name: 1e3 * float(np.median(values)) for name, values in times.items()}
    names = list(PARTS)
    s = common.SMALL
    parts = {
        f"evaluations ({s['eval.points'] - 2} of {s['eval.points']})": ms[names[0]] - ms[names[1]],
        f"strong steps ({s['strong.steps'] - 1})": ms[names[1]] - ms[names[2]],
        f"teacher ({s['weak.steps']} steps)": ms[names[2]] - ms[names[3]],
        "data, pseudo-labels, 2 evaluations, 1 step": ms[names[3]],
    }
    rows = [
        {"part": k, "ms / config": f"{v:.1f}", "share": f"{v / ms[names[0]]:.0%}"}
        for k, v in parts.items()
    ]
    rows.append({"part": "total", "ms / config": f"{ms[names[0]]:.1f}", "share": "100%"})
    backend = common.static_of(runners[names[0]].configs).backend
    print(
        f"\nsmall case ({backend} backend), batch {args.batch}, medians of {args.repeats} "
        "interleaved repeats\n"
    )
    print(common.table(rows, ["part", "ms / config", "share"]))
    print(f"\n# load at end: {common.load_now()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
