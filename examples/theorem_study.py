"""The theorem's boundary under the compliant protocol (docs/REPRODUCTION.md §9): reads
the runs of sweeps/theorem_boundary.toml, theorem_d_scan.toml and theorem_float64.toml
and prints the tables quoted there. Reads saved results only.

    python examples/theorem_study.py runs/theorem_boundary runs/theorem_d_scan \
        runs/theorem_float64
"""

from __future__ import annotations

import sys

import numpy as np

import w2s_jax
from w2s_jax.analysis.boundary import crossing_points
from w2s_jax.analysis.theory import benign_score

P_BOTH = 0.25


def _mean_se(values: np.ndarray) -> str:
    values = values[np.isfinite(values)]
    return f"{values.mean():.3f} ± {values.std(ddof=1) / np.sqrt(len(values)):.3f}"


def boundary(path: str) -> None:
    run = w2s_jax.load_run(path)
    stops = run.summary.get("strong.stop_loss")
    for stop in np.unique(stops) if stops is not None else [None]:
        rows = np.ones(len(run), bool) if stop is None else stops == stop
        print(f"\n# strong.stop_loss = {stop}\n")
        boundary_at(run, path, rows)


def boundary_at(run, path: str, keep: np.ndarray) -> None:
    s = {k: v[keep] for k, v in run.summary.items()}
    curves = {k: v[keep] for k, v in run.curves.items()}
    n, nu = s["strong.n"], s["data.nu_norm"]
    d = float(run.manifest["grid"]["parameters"]["data.d"])
    score = benign_score(n, P_BOTH, nu, 1.0, d)
    weak = float(np.nanmean(s["weak_test_error"]))
    print(f"## {path}: weak error {weak:.3f}; threshold (half of it) {weak / 2:.3f}\n")
    print(
        "| B | n | final error (mean ± s.e.) | median | seeds benign | hard-only median "
        "| gamma/tau median | init/tau | other/own hard coefficient (median) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for b in np.unique(np.round(score, 6)):
        for size in np.unique(n):
            rows = (np.round(score, 6) == b) & (n == size)
            if not rows.any():
                continue
            final = s["strong_test_error"][rows]
            cross = np.nan
            if "race_nu_other_abs" in curves:
                other = curves["race_nu_other_abs"][rows, -1]
                own = curves["race_nu_abs"][rows, -1]
                cross = np.median(other / own)
            print(
                f"| {b:.4g} | {int(size)} | {_mean_se(final)} | {np.median(final):.3f} | "
                f"{int((final <= weak / 2).sum())}/{rows.sum()} | "
                f"{np.median(s['strong_hard_error'][rows]):.3f} | "
                f"{np.median(s['race_gamma_over_tau'][rows]):.3g} | "
                f"{np.median(s['race_init_over_tau'][rows]):.3g} | {cross:.3g} |"
            )
    # The race: log(gamma/tau) against log B, every configuration (heuristic: 1/2, 1/2).
    ratio = s["race_gamma_over_tau"]
    ok = np.isfinite(ratio) & (ratio > 0)
    x, y = np.log(score[ok]), np.log(ratio[ok])
    slope, intercept = np.polyfit(x, y, 1)
    rng = np.random.default_rng(0)
    boot = [np.polyfit(x[i], y[i], 1)[0] for i in rng.integers(0, len(x), (2000, len(x)))]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    print(
        f"\ngamma/tau = {np.exp(intercept):.2f} B^{slope:.3f} (exponent 95% CI [{lo:.3f}, "
        f"{hi:.3f}], {ok.sum()} configurations); heuristic 0.5 B^0.5"
    )
    fail = s["strong_test_error"] > weak / 2
    other = curves["race_nu_other_abs"][:, -1] / curves["race_nu_abs"][:, -1]
    large = score >= 32
    print(
        f"B >= 32: {int((large & fail).sum())}/{int(large.sum())} configurations above the "
        f"threshold; other/own hard coefficient median {np.median(other[large & fail]):.2f} "
        f"there against {np.median(other[large & ~fail]):.2f} below it; flip rate "
        f"{np.mean(s['flip_rate'][large & fail]):.3f} against "
        f"{np.mean(s['flip_rate'][large & ~fail]):.3f}"
    )
    # The boundary in nu at each n: where the seed-mean (and seed-median) final error
    # falls to half the weak error as nu grows; then log n regressed on log nu*.
    sizes, nus = np.unique(n), np.unique(nu)
    seeds = int(s["seed"].max()) + 1
    cube = np.full((len(sizes), len(nus), seeds), np.nan)
    for i, size in enumerate(sizes):
        for j, value in enumerate(nus):
            rows = (n == size) & (nu == value)
            cube[i, j, s["seed"][rows].astype(int)] = s["strong_test_error"][rows]
    crossings = crossing_points(sizes, nus, cube, weak / 2, n_boot=2000, seed=0)
    print("\n| n | nu* (seed mean) | 95% CI | B at nu* |")
    print("|---|---|---|---|")
    for i, size in enumerate(sizes):
        star = crossings.n[i]
        b = benign_score(size, P_BOTH, star, 1.0, d)
        lo, hi = crossings.n_ci[i]
        print(f"| {int(size)} | {star:.4g} | [{lo:.4g}, {hi:.4g}] | {b:.3g} |")
    slopes = []
    for replicate in crossings.bootstrap:
        ok = np.isfinite(replicate)
        if ok.sum() >= 2:
            slopes.append(np.polyfit(np.log(replicate[ok]), np.log(sizes[ok]), 1)[0])
    ok = np.isfinite(crossings.n)
    if ok.sum() >= 2:
        slope = np.polyfit(np.log(crossings.n[ok]), np.log(sizes[ok]), 1)[0]
        lo, hi = np.percentile(slopes, [2.5, 97.5])
        print(
            f"\nexponent of nu in n*(nu): {slope:.2f}, 95% CI [{lo:.2f}, {hi:.2f}] "
            f"({len(slopes)} bootstrap replicates with >= 2 crossings); theory -4"
        )


def by_group(path: str, keys: tuple[str, ...]) -> None:
    run = w2s_jax.load_run(path)
    s = run.summary
    groups = list(dict.fromkeys(zip(*(s[k] for k in keys))))
    print(f"\n## {path}\n")
    print(
        "| " + " | ".join(keys) + " | final error | seeds benign | hard-only | gamma/tau "
        "| init/tau |"
    )
    print("|" + "---|" * (len(keys) + 5))
    for group in groups:
        rows = np.logical_and.reduce([s[k] == v for k, v in zip(keys, group)])
        weak = np.nanmean(s["weak_test_error"][rows])
        final = s["strong_test_error"][rows]
        print(
            "| "
            + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in group)
            + f" | {_mean_se(final)} | "
            f"{int((final <= weak / 2).sum())}/{rows.sum()} | "
            f"{_mean_se(s['strong_hard_error'][rows])} | "
            f"{np.median(s['race_gamma_over_tau'][rows]):.3g} | "
            f"{np.median(s['race_init_over_tau'][rows]):.3g} |"
        )


if __name__ == "__main__":
    boundary(sys.argv[1])
    by_group(sys.argv[2], ("data.d", "theorem_init_ratio", "data.nu_norm_scaled"))
    if len(sys.argv) > 3:
        by_group(sys.argv[3], ("run.dtype", "data.nu_norm_scaled"))
