"""Digits against their synthetic twin: trajectories of one nu_norm, side by side.

    python -m w2s_jax.sweep sweeps/digits.toml --out runs/digits
    python -m w2s_jax.sweep sweeps/digits_synthetic.toml --out runs/digits_synthetic
    python examples/real_images_compare.py runs/digits runs/digits_synthetic out.png

Reads the two saved runs (no recomputation) and draws, for each, the student's test
error (all and hard-only) and its label correction along training, one line per n.
"""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from w2s_jax import load_run  # noqa: E402


def main(images_dir: str, synthetic_dir: str, out: str, nu_norm: float = 10.0) -> None:
    runs = {"digits (images)": load_run(images_dir), "synthetic twin": load_run(synthetic_dir)}
    rows = ("test_error", "test_error_hard", "label_correction")
    fig, axes = plt.subplots(len(rows), 2, figsize=(9, 8), sharex=True, sharey="row")
    for column, (title, run) in enumerate(runs.items()):
        weak = run.column("weak_test_error", **{"data.nu_norm": nu_norm}).values.mean()
        for row, name in enumerate(rows):
            ax = axes[row, column]
            for n in run.axes["strong.n"]:
                selection = {"strong.n": n, "data.nu_norm": nu_norm}
                curve = run.curve(name, **selection).mean("seed").values
                after = run.steps >= 1  # step 0 is the random initialisation
                ax.plot(run.steps[after], curve[after], label=f"n={n}")
            if row < 2:
                ax.axhline(weak if row == 0 else 0.5, ls="--", c="k", lw=1)
            ax.set_xscale("log")
            ax.set_ylabel(name if column == 0 else "")
        axes[0, column].set_title(f"{title}, nu_norm = {nu_norm:g}")
        axes[-1, column].set_xlabel("step")
    axes[0, 1].legend(fontsize=8)
    fig.suptitle("dashed: weak teacher's error (top), coin flip (middle); mean of seeds")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main(*sys.argv[1:4])
