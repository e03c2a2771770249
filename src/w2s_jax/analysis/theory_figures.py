"""Figures against the theory's coordinate, the benign score ``B`` (docs/MODEL.md,
"Theory" and "The race").

* ``collapse``: final error against ``B`` for every configuration.
* ``race``: the proof's race at the stop, ``γ/τ`` against ``B`` beside ``√B/2``.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from w2s_jax.analysis.storage import RunResults


def collapse_figure(run: RunResults, score: np.ndarray, d: np.ndarray) -> Figure:
    """Final error against the benign score ``B`` for every configuration, coloured by
    ``d``: where the theory holds, all dimensions fall on one curve in ``B``."""
    fig = Figure(figsize=(3.6, 2.8), layout="constrained")
    ax = fig.subplots()
    final = run.summary["strong_test_error"]
    colour = np.log10(d)
    dots = ax.scatter(score, final, c=colour, s=9, cmap="viridis", alpha=0.8, linewidths=0)
    weak = np.nanmean(run.summary["weak_test_error"])
    ax.axhline(weak, color="0.4", ls=":", lw=1, label=f"weak ({weak:.3f})")
    ax.set_xscale("log")
    ax.set_xlabel(r"benign score $B = n\,p_b^2\|\nu\|^4/(\sigma_p^4 d)$")
    ax.set_ylabel("final test error")
    if np.unique(d).size > 1:
        fig.colorbar(dots, ax=ax, label=r"$\log_{10} d$")
    ax.legend(loc="upper right")
    ax.set_title("if the theory holds, every d falls on one curve in B", fontsize=7)
    return fig


def race_figure(run: RunResults, score: np.ndarray, d: np.ndarray) -> Figure:
    """The proof's race at the stop (``run.race``): the hard-signal term over the learned
    noise term at a test point, γ/τ, against ``B``, coloured by ``d``, with the
    heuristic ``√B/2`` (docs/MODEL.md, "The race"); and the init term over τ, which
    the theorem needs small."""
    fig = Figure(figsize=(6.4, 2.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    colour = np.log10(d)
    for ax, column, label in (
        (left, "race_gamma_over_tau", r"$\gamma/\tau$ (hard signal / learned noise)"),
        (right, "race_init_over_tau", r"init term / $\tau$"),
    ):
        dots = ax.scatter(
            score, run.summary[column], c=colour, s=9, cmap="viridis", alpha=0.8, linewidths=0
        )
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=0.1)
        ax.set_xlabel(r"benign score $B$")
        ax.set_ylabel(label)
    grid = np.geomspace(np.nanmin(score), np.nanmax(score), 50)
    left.plot(grid, np.sqrt(grid) / 2, color="0.3", ls="--", lw=1, label=r"$\sqrt{B}/2$")
    left.legend(loc="upper left")
    right.axhline(1.0, color="0.4", ls=":", lw=1)
    if np.unique(d).size > 1:
        fig.colorbar(dots, ax=[left, right], label=r"$\log_{10} d$")
    return fig
