"""Adam vs gradient descent: the (n, nu_norm) phase diagram of the student, side by side.

"Adam vs GD" feature-learning papers ask whether an adaptive optimizer changes which
features a network learns. Here: the same weak-to-strong grid trained once with GD and
once with Adam (its step size a traced, sweepable value like GD's), and the mean final
strong test error over (n, nu_norm). About 3 minutes on a 2-core CPU.

    python examples/adam_vs_gd.py            # -> examples/figures/adam_vs_gd.png
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import w2s_jax  # noqa: E402

HERE = Path(__file__).parent
COMMON = {
    "data": {"d": 4000},
    "weak": {"n": 500, "steps": 100},
    "strong": {"steps": 300},
    "eval": {"n_test": 2000, "points": 15},
    "sweep": {"strong.n": [16, 64, 256, 1024], "data.nu_norm": [2.5, 4.0, 6.3, 10.0], "seeds": 2},
}
OPTIMIZERS = {
    "GD (lr = 1)": {"optimizer": "sgd", "lr": 1.0},
    "Adam (lr = 0.01)": {"optimizer": "adam", "lr": 0.01},
}


def main() -> None:
    fig, axes = plt.subplots(1, 2, figsize=(7, 3), sharey=True, constrained_layout=True)
    for ax, (label, strong) in zip(axes, OPTIMIZERS.items()):
        name = f"adam_vs_gd_{strong['optimizer']}"
        grid = w2s_jax.make_grid(COMMON, name=name, strong=strong)
        run = w2s_jax.run(grid, HERE / "runs" / name)
        error = run.column("strong_test_error").mean("seed")  # dims (strong.n, data.nu_norm)
        image = ax.imshow(
            error.values, origin="lower", cmap="cividis", vmin=0, vmax=0.25, aspect="auto"
        )
        ax.set_xticks(range(4), [f"{v:g}" for v in error.coords["data.nu_norm"]])
        ax.set_yticks(range(4), [f"{v:g}" for v in error.coords["strong.n"]])
        ax.set_xlabel("nu_norm")
        ax.set_title(label, fontsize=9)
        weak = np.nanmean(run.summary["weak_test_error"])
        print(f"{label}: mean weak error {weak:.3f}; final strong error by (n, nu):")
        print(np.round(error.values, 3))
    axes[0].set_ylabel("strong n")
    fig.colorbar(image, ax=axes, label="final strong test error")
    fig.savefig(HERE / "figures" / "adam_vs_gd.png", dpi=150)


if __name__ == "__main__":
    main()
