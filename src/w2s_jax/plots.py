"""Figures from a saved run directory (NumPy + matplotlib only; never JAX).

Plots read ``summary.csv``, ``curves.npz`` and ``manifest.json`` and recompute nothing.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from w2s_jax.storage import RunResults, load_run  # noqa: E402


def _save(fig, directory: Path, name: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{name}.{ext}" for ext in ("png", "pdf")]
    for path in paths:
        fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return paths


def test_error_curves(run: RunResults) -> plt.Figure:
    """Strong test error vs step (log x), one line per swept point (mean over seeds),
    with the weak error dashed in the same colour."""
    axes = [k for k in run.axes if k != "seed"]
    keys = [tuple(run.summary[k][i] for k in axes) for i in range(len(run))]
    points = list(dict.fromkeys(keys))
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    x = np.maximum(run.steps, 0.7)
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, max(len(points), 1)))
    for point, colour in zip(points, colours):
        rows = [i for i, k in enumerate(keys) if k == point]
        label = ", ".join(f"{k}={v:g}" for k, v in zip(axes, point)) or "run"
        ax.plot(x, np.nanmean(run.curves["test_error"][rows], 0), color=colour, label=label)
        ax.axhline(np.nanmean(run.summary["weak_test_error"][rows]), color=colour, ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("step (0 drawn at the left edge)")
    ax.set_ylabel("strong test error")
    ax.set_title("student (solid) vs weak teacher (dashed)", fontsize=9)
    if len(points) <= 12:
        ax.legend(fontsize=7)
    return fig


def draw_run(directory: str | Path) -> list[Path]:
    """Draw every figure of a run directory into ``DIR/figures``."""
    run = load_run(directory)
    out = Path(directory) / "figures"
    return _save(test_error_curves(run), out, "test_error")
