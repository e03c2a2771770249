"""Figures against the theory's coordinate, the benign score ``B`` (docs/MODEL.md,
"Theory" and "The race").

* ``collapse``: final error against ``B`` for every configuration (seed medians per
  ``n``) and the fraction of seeds benign, with the finite-n law's curves.
* ``race``: the proof's race at the stop, ``γ/τ`` against ``B`` beside ``√B/2``.
"""

from __future__ import annotations

import warnings

import numpy as np
from matplotlib.figure import Figure

from w2s_jax.analysis.figure_plan import format_value
from w2s_jax.analysis.figure_style import line_colours
from w2s_jax.analysis.finite_n_law import BENIGN_FRACTION, LAWS, observations, probability
from w2s_jax.analysis.storage import RunResults
from w2s_jax.analysis.theory import N_KEY


def _groups(values: np.ndarray) -> list[float]:
    return [float(v) for v in np.unique(values[np.isfinite(values)])]


def _benign(run: RunResults) -> np.ndarray:
    """Per configuration: final error at most half its weak error (NaN where diverged)."""
    final = np.asarray(run.summary["strong_test_error"], float)
    weak = np.asarray(run.summary["weak_test_error"], float)
    ok = np.isfinite(final) & np.isfinite(weak)
    return np.where(ok, (final <= BENIGN_FRACTION * weak).astype(float), np.nan)


def collapse_figure(
    run: RunResults, score: np.ndarray, d: np.ndarray, law: dict | None = None
) -> Figure:
    """Left: final error against the benign score ``B`` for every configuration, coloured
    by ``n`` when the run has one ``d`` (by ``d`` otherwise), with the seed median per
    ``B`` joined for each ``n`` (each ``d``). Right: the fraction of seeds benign (final
    error at most half the weak error) at each ``B``, with the finite-n law's
    probability (``law``: ``boundary.json``'s ``finite_n_law``) where it was fitted.
    Where ``B`` alone decides, every group falls on one curve."""
    n = np.asarray(run.summary[N_KEY], float)
    by_n = np.unique(d).size == 1
    group, name = (n, "n") if by_n else (d, "d")
    values = _groups(group)
    colours = dict(zip(values, line_colours(len(values), ordered=True), strict=True))
    fig = Figure(figsize=(6.4, 2.8), layout="constrained")
    left, right = fig.subplots(1, 2, sharex=True)
    final = np.asarray(run.summary["strong_test_error"], float)
    benign = _benign(run)
    for value in values:
        rows = group == value
        colour = colours[value]
        left.scatter(score[rows], final[rows], color=colour, s=7, alpha=0.45, linewidths=0)
        cells = _groups(score[rows])
        per_cell = [np.flatnonzero(rows & (score == b)) for b in cells]
        with warnings.catch_warnings():  # a cell whose seeds all diverged: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            medians = [np.nanmedian(final[r]) for r in per_cell]
            shares = [np.nanmean(benign[r]) for r in per_cell]
        label = f"${name} = {format_value(value)}$"
        left.plot(cells, medians, "-o", color=colour, ms=2.5, lw=1, label=label)
        right.plot(cells, shares, "-o", color=colour, ms=2.5, lw=1)
        if law is not None and by_n:
            _draw_law(right, law, value, cells, colour, run)
    weak = np.nanmean(run.summary["weak_test_error"])
    left.axhline(weak, color="0.4", ls=":", lw=1, label=f"weak ({weak:.3f})")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel(r"benign score $B = n\,p_b^2\|\nu\|^4/(\sigma_p^4 d)$")
    left.set_ylabel("final test error (dots: seeds; line: median)")
    right.set_ylabel(f"fraction of seeds benign (≤ {BENIGN_FRACTION:g} weak)")
    right.set_ylim(-0.03, 1.03)
    handles, labels = left.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=6.5)
    seeds = len(np.unique(run.summary["seed"]))
    what = (f"d = {format_value(float(d[0]))}, {len(values)} values of n" if by_n
            else f"{len(values)} values of d")  # fmt: skip
    one = "n" if by_n else "d"
    note = f"; dashed: finite-n law ({law['law']})" if law is not None and by_n else ""
    fig.suptitle(f"{what}, {seeds} seed(s): where B alone decides, every {one} falls on one "
                 f"curve{note}", fontsize=7)  # fmt: skip
    return fig


def _draw_law(ax, law: dict, n: float, scores: list[float], colour, run: RunResults) -> None:
    """The law's probability along ``B`` at this ``n`` (the run's fixed p_easy, p_hard)."""
    fixed = run.manifest["grid"].get("parameters", {})
    p_easy, p_hard = fixed.get("data.p_easy"), fixed.get("data.p_hard")
    if not isinstance(p_easy, int | float) or not isinstance(p_hard, int | float):
        return
    grid = np.geomspace(min(scores), max(scores), 60)
    obs = observations(n, 1.0 - p_easy - p_hard, p_hard, 1.0, 1.0, 1.0, 0.0, 0.0)
    obs = obs._replace(score=grid, n=np.full(len(grid), n), p_both=np.full(len(grid),
                       1.0 - p_easy - p_hard), p_hard=np.full(len(grid), p_hard))  # fmt: skip
    theta = np.array([law["parameters"][k] for k in LAWS[law["law"]]], float)
    ax.plot(grid, probability(law["law"], theta, obs), color=colour, ls="--", lw=0.9)


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
