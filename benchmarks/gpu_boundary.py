"""The finite-n boundary study (docs/REPRODUCTION.md §10) at n = 2048 ... 8192 on one
accelerator, as one prepared script that fits a 6-minute device budget.

Stages run in order of n (the theorem's protocol of sweeps/finite_n_*.toml: d = 1e9,
stop at loss 0.05); before each stage the time of the last one, scaled by the work
(steps grow like n and a step's product like n^2), says whether it fits what is left
of ``--budget`` seconds: a stage that would not is skipped and said so. Every stage is
an ordinary run directory under ``--out`` (resumable; ``examples/finite_n_study.py``
prints its tables), and its error table is printed as it lands.

    python benchmarks/gpu_boundary.py --out $OUT/runs              # H100/H200, ~6 min
    python benchmarks/gpu_boundary.py --n 64 128 --seeds 2 --budget 120   # CPU smoke test
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import common
import w2s_jax

P_BOTH = 0.25
PROTOCOL = {
    "data": {"d": 1e9, "p_easy": 0.35, "p_hard": 0.4, "hard_sign": "paired",
             "mu_norm_scaled": 1.0811},
    "weak": {"n": 200, "lr_scaled": 600.0},
    "strong": {"m": 10, "steps": 1_600_000, "stop_loss": 0.05, "lr_scaled": 4.0,
               "sigma_0_theory": 0.03},
    "eval": {"n_test": 2000, "points": 30},
    "run": {"backend": "reduced", "race": True, "precision": "highest"},
}  # fmt: skip


def stage_grid(n: int, scores: list[float], seeds: int):
    """One stage: ``n`` at each benign score ``B``, ``seeds`` seeds each."""
    nu = [(b / (n * P_BOTH**2)) ** 0.25 for b in scores]
    return w2s_jax.make_grid(
        {**PROTOCOL, "name": f"finite_n_{n}", "strong": {**PROTOCOL["strong"], "n": n}},
        sweep={"data.nu_norm_scaled": nu, "seeds": seeds},
    )


def table(results, n: int, scores: list[float]) -> str:
    s = results.summary
    weak = float(np.nanmean(s["weak_test_error"]))
    rows = []
    for b, nu in zip(scores, np.unique(s["data.nu_norm"])):
        r = s["data.nu_norm"] == nu
        e = s["strong_test_error"][r]
        rows.append({
            "n": n, "B": b, "seeds": int(r.sum()),
            "final error mean ± s.e.": f"{e.mean():.3f} ± {e.std(ddof=1) / np.sqrt(len(e)):.3f}",
            "median": f"{np.median(e):.3f}", "benign": f"{(e <= weak / 2).sum()}/{r.sum()}",
            "stop step (median)": f"{np.median(s['strong_stop_step'][r]):.0f}",
        })  # fmt: skip
    return common.table(rows)


def main(argv=None) -> int:
    parser = common.parser(__doc__)
    parser.add_argument("--out", default="runs/gpu_boundary")
    parser.add_argument("--n", type=int, nargs="+", default=[2048, 4096, 8192])
    parser.add_argument("--scores", type=float, nargs="+", default=[1.0, 4.0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--budget", type=float, default=330.0, help="seconds for all stages")
    args = parser.parse_args(argv)
    print(common.header("gpu_boundary"))
    start, last = time.perf_counter(), None
    for n in sorted(args.n):
        left = args.budget - (time.perf_counter() - start)
        if last is not None:
            (n_last, seconds) = last
            expected = seconds * (n / n_last) ** 3
            if expected > left:
                print(f"\nn = {n}: skipped, ~{expected:.0f} s expected, {left:.0f} s left")
                continue
        began = time.perf_counter()
        grid = stage_grid(n, args.scores, args.seeds)
        results = w2s_jax.run(grid, Path(args.out) / f"n{n}", figures=False)
        last = (n, time.perf_counter() - began)
        print(f"\nn = {n}: {last[1]:.0f} s whole stage (compile included)\n")
        print(table(results, n, args.scores), flush=True)
    print(f"\n# total {time.perf_counter() - start:.0f} s; load at end: {common.load_now()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
