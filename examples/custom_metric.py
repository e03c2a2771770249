"""A user metric evaluated inside the compiled program: how well the filters align with
the hard signal nu.

A metric is a pure function ``fn(filters, train, test) -> scalar`` (see
``w2s_jax.Batch``); it runs at every evaluation step, under ``vmap``, and is saved in
``curves.npz`` next to the built-in curves. Here: the cosine between the best-aligned
filter of each sign and its own hard signal, ``max_r <w_{s,r}, nu_s> / ||w_{s,r}||``,
averaged over the two signs. About 2 minutes on a 2-core CPU.

    python examples/custom_metric.py         # -> examples/figures/custom_metric.png
"""

from pathlib import Path

import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import w2s_jax  # noqa: E402

HERE = Path(__file__).parent


def nu_alignment(filters, train, test):
    """Filters are coefficients on (mu_+1, mu_-1, nu_+1, nu_-1) and the noise coordinates;
    filters 0..m-1 have sign +1, m..2m-1 sign -1 (docs/DESIGN.md)."""
    m = filters.signal.shape[0] // 2
    norms = jnp.sqrt(jnp.sum(filters.signal**2, 1) + jnp.sum(filters.noise**2, 1))
    plus = jnp.max(filters.signal[:m, 2] / norms[:m])
    minus = jnp.max(filters.signal[m:, 3] / norms[m:])
    return (plus + minus) / 2


def main() -> None:
    grid = w2s_jax.make_grid(
        name="custom_metric",
        strong={"steps": 300},
        eval={"n_test": 2000, "points": 20},
        run={"metrics": {"nu_alignment": nu_alignment}},
        sweep={"strong.n": [75, 500, 2000], "seeds": 2},
    )
    run = w2s_jax.run(grid, HERE / "runs" / "custom_metric")
    fig, ax = plt.subplots(figsize=(4.5, 3.2), constrained_layout=True)
    steps = np.maximum(run.steps, 0.7)
    for n in (75, 500, 2000):
        curve = run.curve("nu_alignment", **{"strong.n": n}).mean("seed").values
        ax.plot(steps, curve, label=f"n = {n}")
        print(f"n = {n:5d}: nu alignment at the end {curve[-1]:.3f}, max {np.nanmax(curve):.3f}")
    ax.set_xscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("cosine(best filter, nu_s)")
    ax.legend(fontsize=7)
    fig.savefig(HERE / "figures" / "custom_metric.png", dpi=150)


if __name__ == "__main__":
    main()
