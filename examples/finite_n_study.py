"""The test error's boundary at finite n (docs/REPRODUCTION.md §10): reads the runs of
sweeps/finite_n_*.toml and prints the error surface in (B, n) and the decision rule's
verdict. Reads saved results only.

    python examples/finite_n_study.py runs/finite_n_small runs/finite_n_1024 \
        runs/finite_n_2048 --figure docs/figures/finite_n_error.png

The decision rule, fixed before the runs: at a fixed benign score B the seed-mean
final error *converges* between n = 1024 and n = 2048 if the 95% bootstrap interval of
its change contains 0 and is no wider than ±0.02; it *does not converge* if the
interval excludes 0; otherwise (an interval containing 0 but wider than ±0.02) the
seeds *cannot tell*, and the width says how many seeds would.
"""

from __future__ import annotations

import sys

import numpy as np

import w2s_jax
from w2s_jax.analysis.theory import benign_score

P_BOTH = 0.25
RESAMPLES = 4000
HALF_WIDTH = 0.02  # the rule's precision


def bootstrap_mean(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``RESAMPLES`` means of ``values`` resampled with replacement."""
    picks = rng.integers(0, len(values), size=(RESAMPLES, len(values)))
    return values[picks].mean(axis=1)


def interval(samples: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(samples, [2.5, 97.5])
    return float(low), float(high)


def rows_of(paths: list[str]) -> dict[str, np.ndarray]:
    """Every configuration of every run: B, n and the columns the tables use."""
    columns: dict[str, list] = {}
    for path in paths:
        run = w2s_jax.load_run(path)
        s = run.summary
        d = float(run.manifest["grid"]["parameters"]["data.d"])
        other = run.curves["race_nu_other_abs"][:, -1] / run.curves["race_nu_abs"][:, -1]
        fixed = run.manifest["grid"]["parameters"]
        n = s["strong.n"] if "strong.n" in s else np.full(len(run), float(fixed["strong.n"]))
        table = {
            "B": np.round(benign_score(n, P_BOTH, s["data.nu_norm"], 1.0, d), 2),
            "n": n,
            "lr_scaled": np.round(s["theorem_lr_ratio"], 6),  # lr sigma_p^2 d
            "error": s["strong_test_error"],
            "hard": s["strong_hard_error"],
            "weak": s["weak_test_error"],
            "gamma_over_tau": s["race_gamma_over_tau"],
            "other_over_own": other,
            "stop_step": s["strong_stop_step"],
            "stopped": s["stopped"].astype(bool),
            "seed": s["seed"],
        }
        for key, value in table.items():
            columns.setdefault(key, []).append(np.asarray(value, float))
    return {k: np.concatenate(v) for k, v in columns.items()}


def surface(t: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    weak = float(np.nanmean(t["weak"]))
    print(f"weak error {weak:.3f}; a seed is benign when its final error <= {weak / 2:.3f}\n")
    print(
        "| B | n | seeds | final error mean [95% CI] | median | benign seeds | hard-only "
        "(mean) | γ/τ (median) | other/own hard (median) | stop step (median) | stopped |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for b in np.unique(t["B"]):
        for n in np.unique(t["n"][t["B"] == b]):
            r = (t["B"] == b) & (t["n"] == n)
            e = t["error"][r]
            low, high = interval(bootstrap_mean(e, rng))
            print(
                f"| {b:g} | {n:.0f} | {r.sum()} | {e.mean():.3f} [{low:.3f}, {high:.3f}] "
                f"| {np.median(e):.3f} | {(e <= weak / 2).sum()}/{r.sum()} "
                f"| {t['hard'][r].mean():.3f} | {np.median(t['gamma_over_tau'][r]):.2f} "
                f"| {np.median(t['other_over_own'][r]):.2f} "
                f"| {np.median(t['stop_step'][r]):.0f} | {int(t['stopped'][r].sum())}/{r.sum()} |"
            )


def verdict(t: dict[str, np.ndarray], rng: np.random.Generator, small: int, large: int) -> None:
    print(f"\nDecision rule, n = {small} -> {large} (change of the seed-mean final error):\n")
    print("| B | mean at n small | mean at n large | change [95% CI] | verdict |")
    print("|---|---|---|---|---|")
    for b in np.unique(t["B"]):
        a, c = (t["error"][(t["B"] == b) & (t["n"] == size)] for size in (small, large))
        if len(a) < 2 or len(c) < 2:
            continue
        change = bootstrap_mean(c, rng) - bootstrap_mean(a, rng)
        low, high = interval(change)
        if low > 0 or high < 0:
            word = "does not converge"
        elif max(-low, high) <= HALF_WIDTH:
            word = "converges"
        else:  # the interval's half-width shrinks like 1/sqrt(seeds)
            half, room = (high - low) / 2, HALF_WIDTH - abs(change.mean())
            seeds = int(np.ceil(min(len(a), len(c)) * (half / room) ** 2)) if room > 0 else 0
            need = f"~{seeds} seeds a size would" if seeds else "more seeds would"
            word = f"cannot tell ({need} decide)"
        print(
            f"| {b:g} | {a.mean():.3f} ({len(a)}) | {c.mean():.3f} ({len(c)}) "
            f"| {change.mean():+.3f} [{low:+.3f}, {high:+.3f}] | {word} |"
        )


def figure(t: dict[str, np.ndarray], path: str) -> None:
    """At each fixed B: the final error (seed mean with its 95% interval, and the
    median) and the fraction of benign seeds against n."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(1)
    weak = float(np.nanmean(t["weak"]))
    fig, (ax_error, ax_benign) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(np.unique(t["B"]))))
    for colour, b in zip(colours, np.unique(t["B"])):
        sizes = np.unique(t["n"][t["B"] == b])
        mean, low, high, median, benign = [], [], [], [], []
        for n in sizes:
            e = t["error"][(t["B"] == b) & (t["n"] == n)]
            lo, hi = interval(bootstrap_mean(e, rng))
            mean.append(e.mean()), low.append(lo), high.append(hi)
            median.append(np.median(e)), benign.append(np.mean(e <= weak / 2))
        mean, low, high = np.array(mean), np.array(low), np.array(high)
        ax_error.errorbar(sizes, mean, yerr=[mean - low, high - mean], color=colour,
                          marker="o", capsize=2, label=f"B = {b:g}")  # fmt: skip
        ax_error.plot(sizes, median, color=colour, ls=":", marker="x")
        ax_benign.plot(sizes, benign, color=colour, marker="o", label=f"B = {b:g}")
    ax_error.axhline(weak / 2, color="grey", ls="--", lw=0.8, label="half the weak error")
    for ax in (ax_error, ax_benign):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("n (student's training set)")
    ax_error.set_ylabel("final test error (seed mean, 95% CI; dotted: median)")
    ax_benign.set_ylabel("fraction of seeds benign (error ≤ weak / 2)")
    ax_error.legend(fontsize=7, ncol=2)
    setting = f"d = 1e9, trained to loss 0.05; {len(t['n'])} configurations"
    fig.suptitle(f"The error at fixed benign score B as n grows ({setting})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def step_sizes(t: dict[str, np.ndarray], rng: np.random.Generator) -> None:
    """lr sigma_p^2 d = 4 against 1 at each (B, n) both ran, paired by seed: the same
    draws (a configuration's key does not depend on the step size)."""
    rates = np.unique(t["lr_scaled"])
    if len(rates) < 2:
        return
    big, small = rates.max(), rates.min()
    print(f"\nStep size: lr sigma_p^2 d = {big:g} against {small:g}, paired by seed:\n")
    print("| B | n | seeds | error at " + f"{big:g} | error at {small:g} | difference [95% CI] "
          "| benign seeds | stop step (median) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for b in np.unique(t["B"]):
        for n in np.unique(t["n"][t["B"] == b]):
            at = {}
            for lr in (big, small):
                r = (t["B"] == b) & (t["n"] == n) & (t["lr_scaled"] == lr)
                order = np.argsort(t["seed"][r])
                at[lr] = {k: t[k][r][order] for k in ("error", "stop_step", "weak")}
            diff = at[big]["error"] - at[small]["error"]
            low, high = interval(bootstrap_mean(diff, rng))
            weak = at[big]["weak"] / 2
            benign = [int((at[lr]["error"] <= weak).sum()) for lr in (big, small)]
            print(
                f"| {b:g} | {n:.0f} | {len(diff)} | {at[big]['error'].mean():.3f} "
                f"| {at[small]['error'].mean():.3f} | {diff.mean():+.3f} [{low:+.3f}, {high:+.3f}] "
                f"| {benign[0]} / {benign[1]} | {np.median(at[big]['stop_step']):.0f} / "
                f"{np.median(at[small]['stop_step']):.0f} |"
            )


def main(paths: list[str], figure_path: str | None = None) -> None:
    rng = np.random.default_rng(0)
    t = rows_of(paths)
    if figure_path:
        keep = t["lr_scaled"] == 4.0
        figure({k: v[keep] for k, v in t.items()}, figure_path)
    step_sizes(t, rng)
    for lr in np.unique(t["lr_scaled"]):
        keep = t["lr_scaled"] == lr
        print(f"\n## lr sigma_p^2 d = {lr:g}\n")
        part = {k: v[keep] for k, v in t.items()}
        surface(part, rng)
        sizes = np.unique(part["n"])
        if len(sizes) >= 2:
            verdict(part, rng, int(sizes[-2]), int(sizes[-1]))


if __name__ == "__main__":
    args = sys.argv[1:]
    where = args.index("--figure") if "--figure" in args else None
    if where is None:
        main(args)
    else:
        main(args[:where] + args[where + 2 :], args[where + 1])
