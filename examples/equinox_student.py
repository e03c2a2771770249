"""Your own student architecture as an equinox Module: the paper's ReLU CNN with a
TRAINABLE second layer, against the built-in CNN whose second layer is fixed at
``a = (+1/m, ..., -1/m)``.

``strong.student`` takes ``make_student(key, static, params, init) -> eqx.Module``
(``w2s_jax.simulation.custom_student``); the module maps one sample's signal patches ``(2, 4)`` and
noise patch ``(D,)`` to a logit, and the engine sweeps it like the built-in student
(dense backend). Both runs start from the same first-layer filters (``init``), so the
difference is the trainable second layer alone. About 3 minutes on a 2-core CPU.

    python examples/equinox_student.py       # -> examples/figures/equinox_student.png
"""

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from jaxtyping import Array, Float  # noqa: E402

import w2s_jax  # noqa: E402

HERE = Path(__file__).parent
NS = (75, 500, 2000)
COMMON = {
    "data": {"d": 3000},
    "weak": {"n": 1000, "steps": 100},
    "strong": {"m": 10, "steps": 300, "gd_form": "primal"},
    "eval": {"n_test": 2000, "points": 20},
    "run": {"backend": "dense"},
    "sweep": {"strong.n": list(NS), "seeds": 2},
}


class TrainableSecondLayerCNN(eqx.Module):
    """``f(X) = sum_r a_r sum_p ReLU(<w_r, x_p>)`` with the ``a_r`` trained too."""

    signal: Float[Array, "F 4"]  # filters on the unit signal directions
    noise: Float[Array, "F D"]  # filters on the noise coordinates
    second_layer: Float[Array, " F"]

    def __call__(self, patches: Float[Array, "2 4"], xi: Float[Array, " D"]) -> Float[Array, ""]:
        pre = jnp.concatenate([patches @ self.signal.T, (self.noise @ xi)[None]])  # (3, F)
        return jax.nn.relu(pre).sum(0) @ self.second_layer


def make_student(key, static, params, init):
    """Start where the built-in CNN starts: its filters and its second layer."""
    m = static.m
    second_layer = jnp.concatenate([jnp.ones(m), -jnp.ones(m)]) / m
    return TrainableSecondLayerCNN(init.signal, init.noise, second_layer.astype(init.noise.dtype))


def main() -> None:
    runs = {
        "fixed second layer (built-in)": w2s_jax.run(
            w2s_jax.make_grid(COMMON, name="equinox_fixed"), HERE / "runs" / "equinox_fixed"
        ),
        "trainable second layer (eqx.Module)": w2s_jax.run(
            w2s_jax.make_grid(COMMON, name="equinox_trainable", strong={"student": make_student}),
            HERE / "runs" / "equinox_trainable",
        ),
    }
    fig, axes = plt.subplots(1, len(NS), figsize=(9, 3), sharey=True, constrained_layout=True)
    for (label, run), style in zip(runs.items(), ("-", "--")):
        steps = np.maximum(run.steps, 0.7)
        for ax, n in zip(axes, NS):
            curve = run.curve("test_error", **{"strong.n": n}).mean("seed").values
            ax.plot(steps, curve, style, label=label)
            ax.set_title(f"n = {n}", fontsize=9)
            ax.set_xscale("log")
            ax.set_xlabel("step")
            print(f"{label:38s} n = {n:5d}: final {curve[-1]:.3f}, best {np.nanmin(curve):.3f}")
    weak = np.nanmean(next(iter(runs.values())).summary["weak_test_error"])
    for ax in axes:
        ax.axhline(weak, color="grey", lw=0.8, ls=":")
    axes[0].set_ylabel("strong test error")
    axes[0].legend(fontsize=7)
    fig.savefig(HERE / "figures" / "equinox_student.png", dpi=150)


if __name__ == "__main__":
    main()
