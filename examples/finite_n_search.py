"""The boundary's exponent along the boundary (docs/REPRODUCTION.md §10, "The crossing's
exponent"): reads the adaptive searches of sweeps/finite_n_search.toml, one run
directory per nu cell, and prints per threshold each cell's crossing n*, its benign
score B* = n* p_both² nu⁴ (in theory-normalised units), the local exponent between
neighbouring cells and the exponent fitted over all of them, with 95% bootstrap
intervals (seeds resampled, one draw shared by the cells: a seed's configurations are
paired; a replicate that does not cross inside a cell's searched range is censored, so
an interval it reaches is printed open). The theory's exponent is -4: B* the same in
every cell. Reads saved results only.

    python examples/finite_n_search.py runs/search_nu0.25 runs/search_nu0.35 ... \
        --figure docs/figures/finite_n_search.png
"""

from __future__ import annotations

import argparse

import numpy as np

import w2s_jax
from w2s_jax.analysis.boundary import crossing_points, fit_boundary_slope
from w2s_jax.analysis.exponent_trend import local_exponents

P_BOTH = 0.25
N_BOOT = 2000
# (statistic, threshold): a fraction of the cell's mean weak error, or absolute.
THRESHOLDS = (("mean", 0.5), ("median", 0.5), ("mean", 0.25), ("mean", "0.12 p_hard"))


def cell_errors(paths: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``nu (X,)``, ``n (N,)`` the union of the cells' n values, ``errors (X, N, S)``
    (NaN where a seed did not run at that n) and the cells' mean weak errors ``(X,)``."""
    runs = [w2s_jax.load_run(path) for path in paths]
    nu = np.array([run.manifest["grid"]["parameters"]["data.nu_norm_scaled"] for run in runs])
    n_values = np.unique(np.concatenate([run.summary["strong.n"] for run in runs]))
    seeds = int(max(run.summary["seed"].max() for run in runs)) + 1
    errors = np.full((len(runs), len(n_values), seeds), np.nan)
    for x, run in enumerate(runs):
        s = run.summary
        errors[x, np.searchsorted(n_values, s["strong.n"]), s["seed"].astype(int)] = s[
            "strong_test_error"
        ]
    weak = np.array([np.mean(run.summary["weak_test_error"]) for run in runs])
    return nu, n_values, errors, weak


def threshold_of(level, weak: np.ndarray, p_hard: float) -> tuple[str, np.ndarray]:
    if isinstance(level, str):  # the theorem's harmful floor
        return level, np.full_like(weak, 0.12 * p_hard)
    return f"{level:g} x weak", level * weak


def ci_text(low: float, high: float, digits: int = 2) -> str:
    """An interval; a bound that censored replicates reach (a crossing outside the
    searched range: 0, ±inf) is printed ``open``."""
    if np.isnan(low) or np.isnan(high):
        return "[none]"
    left = f"{low:.{digits}f}" if np.isfinite(low) and low != 0 else "open"
    right = f"{high:.{digits}f}" if np.isfinite(high) else "open"
    return f"[{left}, {right}]"


def analyse(nu, n_values, errors, weak, p_hard: float) -> list[dict]:
    """One record per threshold: the crossings, B*, the local and the fitted exponent."""
    records = []
    for statistic, level in THRESHOLDS:
        name, threshold = threshold_of(level, weak, p_hard)
        cross = crossing_points(
            nu, n_values, errors, threshold, N_BOOT, 0, 0.95, True, statistic, censored=True
        )
        local = local_exponents(nu, cross.n, cross.bootstrap)
        fit = fit_boundary_slope(nu, cross.n, cross.bootstrap)
        records.append(dict(statistic=statistic, threshold=name, cross=cross, local=local,
                            fit=fit, b_star=cross.n * P_BOTH**2 * nu**4))  # fmt: skip
    return records


def print_tables(nu, records, n_values) -> None:
    order = np.argsort(nu)
    for r in records:
        cross, local, fit = r["cross"], r["local"], r["fit"]
        print(f"\n### {r['statistic']} error at {r['threshold']}\n")
        print("| nu_norm_scaled | n* [95% CI] | B* = n* p_both² nu⁴ [95% CI] |")
        print("|---|---|---|")
        for x in order:
            if not np.isfinite(cross.n[x]):
                print(f"| {nu[x]:g} | none in the searched range | |")
                continue
            b_ci = cross.n_ci[x] * P_BOTH**2 * nu[x] ** 4
            print(f"| {nu[x]:g} | {cross.n[x]:.0f} {ci_text(*cross.n_ci[x], 0)} "
                  f"| {r['b_star'][x]:.2f} {ci_text(*b_ci)} |")  # fmt: skip
        print("\n| cells (nu) | n* where measured (geometric mean) | local exponent [95% CI] |")
        print("|---|---|---|")
        for p in range(len(local.x)):
            if not np.isfinite(local.exponent[p]):
                continue
            pair = f"{nu[order[p]]:g}-{nu[order[p + 1]]:g}"
            print(f"| {pair} | {local.n[p]:.0f} | {local.exponent[p]:.2f} "
                  f"{ci_text(*local.exponent_ci[p])} |")  # fmt: skip
        print(f"\nfitted over {fit.n_points} cells: exponent {fit.slope:.2f} "
              f"{ci_text(*fit.slope_ci)} (theory -4); n from {n_values.min():.0f} "
              f"to {n_values.max():.0f}")  # fmt: skip


def draw(path: str, nu, n_values, errors, weak, records) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.4))
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(nu)))
    for x in np.argsort(nu):
        ran = np.isfinite(errors[x]).any(axis=1)
        mean = np.nansum(errors[x][ran], axis=1) / np.isfinite(errors[x][ran]).sum(axis=1)
        left.plot(n_values[ran], mean / weak[x], "o-", color=colours[x], ms=3,
                  label=f"nu_scaled = {nu[x]:g}")  # fmt: skip
    left.axhline(0.5, color="k", lw=0.8, ls="--", label="half the weak error")
    left.set(xscale="log", xlabel="strong.n", ylabel="seed-mean final error / weak error",
             title="Each cell's error against n (its searched points)")  # fmt: skip
    left.legend(fontsize=7)
    main = records[0]
    cross = main["cross"]
    # Open bounds (censored replicates) drawn to the edge of the searched n.
    lo, hi = np.clip(cross.n_ci, n_values.min() / 1.5, n_values.max() * 1.5).T
    middle.errorbar(nu, cross.n, yerr=[cross.n - lo, hi - cross.n], fmt="o", capsize=3,
                    label=f"n*, {main['statistic']} at {main['threshold']}")  # fmt: skip
    top = np.nanargmax(cross.n)
    grid = np.geomspace(nu.min(), nu.max(), 50)
    middle.plot(grid, cross.n[top] * (grid / nu[top]) ** -4.0, "k--", lw=0.8,
                label="theory: n* ∝ nu⁻⁴ through the largest n*")  # fmt: skip
    middle.set(xscale="log", yscale="log", xlabel="nu_norm_scaled", ylabel="n*",
               title="Crossing per cell, 95% bootstrap CI (open: to the edge)")  # fmt: skip
    middle.set_xticks(np.sort(nu), [f"{v:g}" for v in np.sort(nu)])
    middle.legend(fontsize=7)
    for k, r in enumerate(records[:3]):
        local = r["local"]
        lo, hi = np.clip(local.exponent_ci, -8.0, 3.0).T  # open bounds to the plot's edge
        shift = 1.0 + 0.04 * (k - 1)
        right.errorbar(local.n * shift, local.exponent,
                       yerr=[local.exponent - lo, hi - local.exponent], fmt="os^"[k],
                       capsize=3, label=f"{r['statistic']} at {r['threshold']}")  # fmt: skip
    right.axhline(-4.0, color="k", lw=0.8, ls="--", label="theory -4")
    right.set(xscale="log", xlabel="n* (geometric mean of the two cells)",
              ylabel="local exponent d log n* / d log nu",
              title="Exponent between neighbouring cells")  # fmt: skip
    right.legend(fontsize=7)
    for axis in (left.xaxis, middle.yaxis, right.xaxis):
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(NullFormatter())
    middle.xaxis.set_minor_formatter(NullFormatter())
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"\nfigure: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="one search directory per nu cell")
    parser.add_argument("--figure", help="where to draw the figure (PNG)")
    args = parser.parse_args()
    nu, n_values, errors, weak = cell_errors(args.runs)
    p_hard = float(w2s_jax.load_run(args.runs[0]).manifest["grid"]["parameters"]["data.p_hard"])
    counts = ", ".join(f"{v:g}: {int(np.isfinite(e).sum())}" for v, e in zip(nu, errors))
    print(f"cells (nu_norm_scaled: configurations): {counts}")
    records = analyse(nu, n_values, errors, weak, p_hard)
    print_tables(nu, records, n_values)
    if args.figure:
        draw(args.figure, nu, n_values, errors, weak, records)


if __name__ == "__main__":
    main()
