"""ReLU vs ReLU^3 on the paper's table: does the polynomial activation of the
benign-overfitting CNN literature change the weak-to-strong picture?

The student's activation is a registry entry (``strong.activation = "relu_pow"``, power
``strong.activation_param``, default 3). Reference scales, shortened. With the default
initialisation (sigma_0 = 0.01) a ReLU^3 student barely moves in 300 steps: its
gradient is ~ sigma_0^2 smaller than ReLU's at initialisation. So ReLU^3 runs twice,
at sigma_0 = 0.01 and at sigma_0 = 0.3 (a zipped axis). About 5 minutes on a 2-core CPU.

Observed here (2 seeds): ReLU 0.083 / 0.089 final error at n = 75 / 2000; ReLU^3 at
sigma_0 = 0.01 stays at chance (0.49 / 0.48); ReLU^3 at sigma_0 = 0.3 with lr = 1
diverges (flagged ``diverged``, NaN from that step on — the sweep goes on). With
sigma_0 = 0.3 and lr in 0.003 ... 0.1 it diverges at n = 75 for lr >= 0.03 and learns
little in 300 steps (best 0.38 at n = 2000, lr = 0.1): the polynomial student needs its
own step-size schedule, one more swept key.

    python examples/relu_cubed.py            # -> examples/figures/relu_cubed.png
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import w2s_jax  # noqa: E402

HERE = Path(__file__).parent


def main() -> None:
    grid = w2s_jax.make_grid(
        name="relu_cubed",
        strong={"steps": 300},
        eval={"n_test": 2000, "points": 20},
        sweep={
            "strong.activation": ["relu", "relu_pow", "relu_pow"],
            "strong.sigma_0": [0.01, 0.01, 0.3],
            "zip": [["strong.activation", "strong.sigma_0"]],
            "strong.n": [75, 2000],
            "seeds": 2,
        },
    )
    run = w2s_jax.run(grid, HERE / "runs" / "relu_cubed")
    fig, ax = plt.subplots(figsize=(4.5, 3.2), constrained_layout=True)
    steps = np.maximum(run.steps, 0.7)
    # The zipped (activation, sigma_0) group is one dimension: index it by position.
    variants = (
        ("ReLU, sigma_0 = 0.01", "-"),
        ("ReLU^3, sigma_0 = 0.01", ":"),
        ("ReLU^3, sigma_0 = 0.3", "--"),
    )
    for index, (label, style) in enumerate(variants):
        for n, colour in ((75, "tab:blue"), (2000, "tab:orange")):
            curve = run.curve("test_error", **{"strong.n": n}).values[index]  # (seed, step)
            with np.errstate(all="ignore"):
                mean = np.nanmean(np.where(np.isnan(curve), np.inf, curve), 0)
            ax.plot(
                steps,
                np.where(np.isfinite(mean), mean, np.nan),
                style,
                color=colour,
                label=f"{label}, n = {n}",
            )
            final = run.column("strong_test_error", **{"strong.n": n}).values[index]
            if np.isnan(final).all():
                print(f"{label:22s} n = {n:5d}: diverged (all seeds)")
                continue
            print(
                f"{label:22s} n = {n:5d}: final strong error {final.mean():.3f} "
                f"(seeds {np.round(final, 3)})"
            )
    ax.axhline(np.nanmean(run.summary["weak_test_error"]), color="grey", ls=":", label="weak")
    ax.set_xscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("strong test error")
    ax.legend(fontsize=7)
    fig.savefig(HERE / "figures" / "relu_cubed.png", dpi=150)


if __name__ == "__main__":
    main()
