"""Figures of curves against the step, and of the error along one axis.

* ``test_error``: strong test error vs step for up to 8 representative points, weak
  error dashed in the same colour (a second swept axis becomes panels).
* ``trajectories`` and ``signal_noise``: curves for a few chosen points.
* ``errors_along_<axis>``: final and best error against the first swept axis.

Each function returns the :class:`~matplotlib.figure.Figure`; :mod:`.figures` saves it.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from w2s_jax.analysis.figure_plan import Layout, format_value, representative
from w2s_jax.analysis.figure_style import (
    OKABE_ITO,
    fixed_note,
    legend_columns,
    line_colours,
    seed_band,
    seeds_note,
    step_axis,
    weak_line,
)
from w2s_jax.analysis.results import labelled
from w2s_jax.analysis.storage import RunResults


def test_error_figure(run: RunResults, layout: Layout) -> Figure:
    """Strong test error vs step, colour by the first axis, panels by the second."""
    points = representative(layout)
    firsts = sorted({p[0] for p in points}) if layout.keys else [None]
    panels = sorted({p[1] for p in points}) if len(layout.keys) > 1 else [None]
    fig = Figure(figsize=(3.5 if len(panels) == 1 else 4.5, 2.5), layout="constrained")
    axs = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    colours = dict(zip(firsts, line_colours(len(firsts), ordered=True), strict=True))
    for ax, panel in zip(axs, panels, strict=True):
        for point in (p for p in points if panel is None or p[1] == panel):
            rows = layout.rows(point)
            colour = colours[point[0] if point else None]
            label = layout.label(point[:1]) if point else "student"
            seed_band(ax, run.steps, run.curves["test_error"][rows], colour, label)
            weak_line(ax, run, rows, colour)
        step_axis(ax, run.steps)
        if panel is not None:
            ax.set_title(layout.label((0, panel), skip=(0,)))
    axs[0].set_ylabel("strong test error")
    handles, labels = axs[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=legend_columns(labels, 4, fig))
    note = fixed_note(layout, (0, 1)).replace("\n", " ")
    fig.suptitle(f"student (solid) vs weak teacher (dashed){seeds_note(layout)}{note}", fontsize=7)
    return fig


def point_labels(layout: Layout, points: list[tuple]) -> tuple[list[str], str]:
    """Labels naming the axes that vary among ``points``; a note naming the others."""
    same = tuple(a for a in range(len(layout.keys)) if len({p[a] for p in points}) == 1)
    labels = [layout.label(p, skip=same) if len(same) < len(p) else "" for p in points]
    shown = tuple(a for a in range(len(layout.keys)) if a not in same or layout.shape[a] == 1)
    note = layout.label(points[0], skip=shown) if len(shown) < len(layout.keys) else ""
    return labels, note


TRAJECTORY_PANELS = (("test_error", "test error"),
                     ("train_acc_pseudo", r"train acc. vs $\hat y$"),
                     ("label_correction", "label correction"))  # fmt: skip


def trajectories_figure(run: RunResults, layout: Layout, points: list[tuple]) -> Figure:
    """Test error (weak error dashed), training accuracy against the pseudo-labels and
    the label-correction rate vs step, one colour per chosen point."""
    fig = Figure(figsize=(3.5, 5.0), layout="constrained")
    axs = fig.subplots(len(TRAJECTORY_PANELS), 1, sharex=True)
    colours = line_colours(len(points), ordered=False)
    labels, note = point_labels(layout, points)
    for ax, (name, ylabel) in zip(axs, TRAJECTORY_PANELS, strict=True):
        for point, colour, label in zip(points, colours, labels, strict=True):
            rows = layout.rows(point)
            if name in run.curves:
                seed_band(ax, run.steps, run.curves[name][rows], colour, label or None)
            if name == "test_error":
                weak_line(ax, run, rows, colour)
        ax.set_ylabel(ylabel)
        step_axis(ax, run.steps)
    for ax in axs[:-1]:
        ax.set_xlabel("")
    axs[0].set_title(f"dashed: weak error{seeds_note(layout)}" + (f"\n{note}" if note else ""))
    if axs[0].get_legend_handles_labels()[0]:
        handles, labels = axs[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncol=legend_columns(labels, 2, fig))
    return fig


SIGNAL = (("signal_mu", r"$\mu$", "-"), ("signal_nu", r"$\nu$", "--"),
          ("signal_neg_nu", r"$-\nu$", ":"))  # fmt: skip
NOISE = (("noise_clean", "clean", "-"), ("noise_flipped", "flipped", "--"))


def signal_noise_figure(run: RunResults, layout: Layout, points: list[tuple]) -> Figure:
    """Signal learning and noise memorisation vs step: one row per chosen point."""
    fig = Figure(figsize=(4.5, 0.6 + 1.35 * len(points)), layout="constrained")
    axs = fig.subplots(len(points), 2, sharex=True, sharey="col", squeeze=False)
    labels, note = point_labels(layout, points)
    for row, point, point_label in zip(axs, points, labels, strict=True):
        rows = layout.rows(point)
        for ax, curves, offset in ((row[0], SIGNAL, 0), (row[1], NOISE, 3)):
            for k, (name, label, style) in enumerate(curves):
                if name in run.curves:
                    seed_band(ax, run.steps, run.curves[name][rows], OKABE_ITO[offset + k],
                          label, ls=style)  # fmt: skip
            step_axis(ax, run.steps)
        row[0].set_ylabel(point_label.replace(", ", "\n"), fontsize=7)
    for ax in axs[:-1].ravel():
        ax.set_xlabel("")
    axs[0, 0].set_title(r"signal $\mathrm{max}_r\langle w_{s,r}, \cdot\rangle$")
    axs[0, 1].set_title(r"noise $\mathrm{max}_r\langle w_{\hat y_i,r}, \xi_i\rangle$")
    if note or seeds_note(layout):
        fig.suptitle(note + seeds_note(layout).removeprefix("; " * (not note)), fontsize=7)
    for ax in axs[0]:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", fontsize=6.5, handlelength=1.8)
    return fig


def errors_along_applies(run: RunResults) -> bool:
    grid = run.manifest["grid"]
    keys = list(grid["axes"])
    needed = ("strong_test_error", "strong_best_test_error", "weak_test_error")
    if not 1 <= len(keys) <= 2 or grid.get("zip") or not all(c in run.summary for c in needed):
        return False
    final = labelled(run.summary["strong_test_error"], grid)
    return bool(np.issubdtype(np.asarray(final.coords[keys[0]]).dtype, np.number))


def errors_along_figure(run: RunResults) -> Figure | None:
    """Final (solid) and best (dashed) strong test error against the first swept axis,
    one colour per value of the second, mean ± s.e. over seeds; the weak error dotted.
    For one- or two-axis numeric grids (e.g. the d-limit sweep)."""
    if not errors_along_applies(run):
        return None
    grid = run.manifest["grid"]
    keys = list(grid["axes"])
    final = labelled(run.summary["strong_test_error"], grid)
    best = labelled(run.summary["strong_best_test_error"], grid)
    weak = labelled(run.summary["weak_test_error"], grid)
    x = np.asarray(final.coords[keys[0]], float)
    others = final.coords[keys[1]] if len(keys) == 2 else [None]
    fig = Figure(figsize=(4.2, 3.0), layout="constrained")
    ax = fig.subplots()
    for k, value in enumerate(others):
        select = {} if value is None else {keys[1]: value}
        colour = OKABE_ITO[k % len(OKABE_ITO)]
        label = "" if value is None else f"{keys[1]} = {format_value(value)}"
        for item, style, what in ((final, "-", "final"), (best, "--", "best")):
            values = item.sel(**select).values  # (x, seed)
            mean = np.nanmean(values, axis=1)
            seeds = values.shape[1]  # one seed: no error bar (not a warning)
            error = np.nanstd(values, axis=1, ddof=1) / np.sqrt(seeds) if seeds > 1 else None
            ax.errorbar(
                x,
                mean,
                error,
                ls=style,
                color=colour,
                marker="o",
                ms=3,
                capsize=2,
                label=f"{what}, {label}".rstrip(", "),
            )
        ax.plot(x, np.nanmean(weak.sel(**select).values, axis=1), ":", color=colour, lw=1)
    if grid.get("spacing", {}).get(keys[0]) == "geomspace":
        ax.set_xscale("log")
    ax.set_xlabel(keys[0])
    ax.set_ylabel("strong test error")
    ax.set_title("final (solid), best (dashed), weak (dotted); ± s.e.", fontsize=7)
    ax.legend(fontsize=6.5)
    return fig
