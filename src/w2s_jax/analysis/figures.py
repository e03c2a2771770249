"""Figures from a saved run directory (NumPy + matplotlib only; never JAX).

Plots read ``manifest.json``, ``summary.csv`` and ``curves.npz`` through
:mod:`w2s_jax.analysis.figure_plan`, which decides *which* data is drawn (grid layout, chosen
points, the measured boundary of docs/MODEL.md, "Theory"); this module decides *how*.
Figures go to ``DIR/figures`` as PNG (PDF or SVG on request), one paper column wide
(3.5–4.5 in, fonts ≥ 7 pt),
colour-blind-safe maps (viridis / cividis, RdBu centred at 0, Okabe–Ito for categories):

* ``test_error``: strong test error vs step for up to 8 representative points, weak
  error dashed in the same colour (a second swept axis becomes panels).
* ``phase_<x>_<y>`` and ``phase_<x>_<y>_gain`` (two or more swept axes; the others fixed
  at their first value): mean final error and W2S gain; with ``strong.n`` on ``y`` the
  measured boundary with its CI and the theory's ``B = C`` (``C`` fitted).
* ``regimes``: majority regime over seeds per grid point (map or strip).
* ``trajectories`` and ``signal_noise``: curves for a few chosen points.

Figures are built on :class:`matplotlib.figure.Figure` (no pyplot): importing this
module never switches the caller's backend.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import NullFormatter, NullLocator

from w2s_jax.analysis import storage
from w2s_jax.analysis.figure_plan import (
    LABELS,
    MAX_LINES,
    Layout,
    PlotError,
    _all_num,
    _boundary,
    _edges,
    _fmt,
    _plane,
    _score_fixed,
    _slice,
    _stats,
    benign_scores,
    choose_points,
    load_complete,
    representative,
    write_boundary,
)
from w2s_jax.analysis.results import labelled
from w2s_jax.analysis.storage import RunResults
from w2s_jax.analysis.theory import theory_boundary_n

__all__ = ["MAX_LINES", "Layout", "PlotError", "choose_points", "draw_run", "load_complete",
           "representative", "write_boundary"]  # fmt: skip

RC = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7,
      "ytick.labelsize": 7, "legend.fontsize": 7, "legend.frameon": False, "pdf.fonttype": 42,
      "axes.spines.top": False, "axes.spines.right": False, "lines.linewidth": 1.2}  # fmt: skip
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
REGIME_COLOURS = {"benign": "#0072B2", "label_correction": "#009E73", "overtraining": "#CC79A7",
                  "harmful": "#D55E00", "underfit": "#F0E442", "diverged": "#000000"}  # fmt: skip


# ----------------------------------------------------------------- drawing helpers


def _step_x(steps: np.ndarray) -> np.ndarray:
    """Steps on a log axis: step 0 drawn at half the first positive step."""
    x = steps.astype(float)
    positive = x[x > 0]
    x[x <= 0] = positive.min() / 2 if positive.size else 0.5
    return x


def _step_axis(ax, steps: np.ndarray) -> None:
    x = _step_x(steps)
    ax.set_xscale("log")
    top = int(math.floor(math.log10(x.max()))) if x.max() >= 1 else -1
    decades = [10.0**k for k in range(0, top + 1) if 10.0**k > x.min()]
    ticks = [x.min(), *decades] if (steps <= 0).any() else decades
    labels = ["0"] * (len(ticks) - len(decades)) + [
        f"{d:g}" if d < 100 else f"$10^{int(math.log10(d))}$" for d in decades]  # fmt: skip
    ax.set_xticks(ticks, labels)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(x.min() / 1.3, x.max() * 1.3)
    ax.set_xlabel("step")


def _band(ax, steps, block, colour, label=None, **line) -> None:
    """Seed mean of ``block (seeds, E)`` with a min–max band, at its finite steps."""
    mean, low, high = _stats(block)
    ok = np.isfinite(mean)
    x = _step_x(steps)[ok]
    if not ok.any() and label:  # keep a diverged point in the legend
        ax.plot([], [], color=colour, label=f"{label} (diverged)", **line)
    if ok.any():
        ax.plot(x, mean[ok], color=colour, label=label, **line)
        if block.shape[0] > 1:
            ax.fill_between(x, low[ok], high[ok], color=colour, alpha=0.2, lw=0)


def _weak(ax, run, rows, colour) -> None:
    weak = _stats(run.summary["weak_test_error"][rows])[0]
    if np.isfinite(weak):
        ax.axhline(weak, color=colour, ls="--", lw=0.9)


def _colours(count: int, ordered: bool) -> list:
    if not ordered:
        return [OKABE_ITO[i % len(OKABE_ITO)] for i in range(count)]
    return list(matplotlib.colormaps["viridis"](np.linspace(0.0, 0.85, count)))


def _ncol(labels: list[str], most: int, fig: Figure) -> int:
    """Legend columns that fit the figure width (about 4.5 pt per character at 7 pt)."""
    longest = max((len(t) - 2 * t.count("$") - 3 * t.count("\\") for t in labels), default=1)
    return max(1, min(most, len(labels), int(fig.get_figwidth() * 72 // (4.5 * longest + 30))))


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


def _seeds_note(layout: Layout) -> str:
    return f"; band: min–max over {len(layout.seeds)} seeds" if len(layout.seeds) > 1 else ""


def _save(fig: Figure, directory: Path, name: str, formats: tuple[str, ...]) -> list[Path]:
    paths = [directory / f"{name}.{ext}" for ext in formats]
    for path in paths:
        kind = path.suffix[1:]
        storage.atomic_write(path, lambda f, kind=kind: fig.savefig(f, format=kind, dpi=150))
    return paths


# ----------------------------------------------------------------- figures


def test_error_figure(run: RunResults, layout: Layout) -> Figure:
    """Strong test error vs step, colour by the first axis, panels by the second."""
    points = representative(layout)
    firsts = sorted({p[0] for p in points}) if layout.keys else [None]
    panels = sorted({p[1] for p in points}) if len(layout.keys) > 1 else [None]
    fig = Figure(figsize=(3.5 if len(panels) == 1 else 4.5, 2.5), layout="constrained")
    axs = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    colours = dict(zip(firsts, _colours(len(firsts), ordered=True), strict=True))
    for ax, panel in zip(axs, panels, strict=True):
        for point in (p for p in points if panel is None or p[1] == panel):
            rows = layout.rows(point)
            colour = colours[point[0] if point else None]
            label = layout.label(point[:1]) if point else "student"
            _band(ax, run.steps, run.curves["test_error"][rows], colour, label)
            _weak(ax, run, rows, colour)
        _step_axis(ax, run.steps)
        if panel is not None:
            ax.set_title(layout.label((0, panel), skip=(0,)))
    axs[0].set_ylabel("strong test error")
    handles, labels = axs[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=_ncol(labels, 4, fig))
    note = _fixed_note(layout, (0, 1)).replace("\n", " ")
    fig.suptitle(f"student (solid) vs weak teacher (dashed){_seeds_note(layout)}{note}", fontsize=7)
    return fig


def _decorate(ax, layout: Layout, a: int, which: str) -> None:
    _, edges, log = _edges(layout, a)
    key, values = layout.keys[a], layout.values[a]
    getattr(ax, f"set_{which}scale")("log" if log else "linear")
    getattr(ax, f"set_{which}lim")(edges[0], edges[-1])
    getattr(ax, f"set_{which}label")(LABELS.get(key, key))
    if len(values) <= 8:
        ticks = values if _all_num(values) else range(len(values))
        getattr(ax, f"set_{which}ticks")(list(ticks), [_fmt(v) for v in values])
        getattr(ax, f"{which}axis").set_minor_locator(NullLocator())


def _fixed_note(layout: Layout, plane: tuple[int, int]) -> str:
    others = [a for a in range(len(layout.keys)) if a not in plane]
    return (
        ("\n(fixed: " + layout.label((0,) * len(layout.keys), skip=plane) + ")") if others else ""
    )


def _overlay_boundary(ax, report: dict, layout: Layout, x: int) -> None:
    pts = [p for p in report["points"] if p["n"] is not None]
    if pts:
        xs, ns = np.array([p["x"] for p in pts]), np.array([p["n"] for p in pts])
        ci = np.array([[np.nan if v is None else v for v in p["n_ci"]] for p in pts])
        err = np.nan_to_num(np.abs(np.stack([ns - ci[:, 0], ci[:, 1] - ns])), nan=0.0)
        ax.errorbar(xs, ns, yerr=err, fmt="o", ms=4, mfc="white", mec="black", ecolor="black",
                    elinewidth=0.9, capsize=2, label="measured boundary (95% CI)")  # fmt: skip
    if report.get("C_fit"):
        lo, hi = _edges(layout, x)[1][[0, -1]]
        grid = np.geomspace(lo, hi, 100) if layout.log_axis(x) else np.linspace(lo, hi, 100)
        fixed = _score_fixed(layout, report["x"])
        n = theory_boundary_n(grid, report["x"], report["C_fit"], fixed)
        slope = report["theory_slope"]
        label = "theory $B=C$" + (f" (slope {slope:+d})" if slope is not None else "")
        ax.plot(grid, n, color="black", ls="--", lw=1.0, label=label + ", $C$ fitted")
    if pts or report.get("C_fit"):
        ax.figure.legend(loc="outside lower center", ncol=2, fontsize=6.5)


def phase_figure(run: RunResults, layout: Layout, quantity: str = "error") -> Figure:
    """Heatmap over the plane of :func:`_plane` of the mean final strong error
    (``quantity="error"``, cividis) or mean W2S gain (``"gain"``, RdBu centred at 0)."""
    x, y = _plane(layout)
    column = "strong_test_error" if quantity == "error" else "w2s_gain"
    mean = _stats(_slice(layout, layout.cube(run.summary[column]), x, y), axis=2)[0]
    fig = Figure(figsize=(3.6, 2.9), layout="constrained")
    ax = fig.subplots()
    ax.set_facecolor("0.85")  # grey: no finite value (diverged everywhere)
    if quantity == "error":
        options, label = {"cmap": "cividis"}, "final strong test error"
    else:
        top = float(np.nanmax(np.abs(mean))) if np.isfinite(mean).any() else 1.0
        options = {"cmap": "RdBu", "vmin": -(top or 1.0), "vmax": top or 1.0}
        label = "W2S gain (weak $-$ strong error)"
    xe, ye = _edges(layout, x)[1], _edges(layout, y)[1]
    x_order, y_order = np.argsort(_edges(layout, x)[0]), np.argsort(_edges(layout, y)[0])
    grid = np.ma.masked_invalid(mean[np.ix_(x_order, y_order)].T)
    mesh = ax.pcolormesh(xe, ye, grid, shading="flat", **options)
    fig.colorbar(mesh, ax=ax, label=label + (" (seed mean)" if len(layout.seeds) > 1 else ""))
    report = _boundary(run, layout, (x, y))
    if report is not None:
        _overlay_boundary(ax, report, layout, x)
    _decorate(ax, layout, x, "x")
    _decorate(ax, layout, y, "y")
    title = "final error" if quantity == "error" else "weak-to-strong gain"
    title += " (grey: diverged)" if np.isnan(mean).any() else ""
    ax.set_title(title + _fixed_note(layout, (x, y)))
    return fig


def _majority(labels: np.ndarray) -> tuple[str, bool]:
    """Most common regime among the seeds (ties: first seed's) and whether all agree."""
    counts = Counter(str(v) for v in labels if str(v) not in ("", "nan"))
    if not counts:
        return "", True
    best = counts.most_common(1)[0][0]
    return best, len(counts) == 1


def regimes_figure(run: RunResults, layout: Layout) -> Figure:
    """Majority regime per point over the phase plane (or a strip for one axis)."""
    plane = _plane(layout) or (0, None)
    x, y = plane
    cube = layout.cube(run.summary["regime"])
    if y is None:
        cube = cube[(slice(None),) + (0,) * (len(layout.keys) - 1)][:, None, :]
    else:
        cube = _slice(layout, cube, x, y)
    fig = Figure(figsize=(3.6, 3.0 if y is not None else 1.5), layout="constrained")
    ax = fig.subplots()
    xc, xe, _ = _edges(layout, x)
    yc, ye = _edges(layout, y)[:2] if y is not None else (np.zeros(1), np.array([0.0, 1.0]))
    xe_of = {i: (xe[r], xe[r + 1]) for r, i in enumerate(np.argsort(xc))}
    ye_of = {j: (ye[r], ye[r + 1]) for r, j in enumerate(np.argsort(yc))}
    present, mixed = set(), False
    for i, j in np.ndindex(cube.shape[:2]):
        regime, agree = _majority(cube[i, j])
        (x0, x1), (y0, y1) = xe_of[i], ye_of[j]
        colour = REGIME_COLOURS.get(regime, "0.85")
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor=colour, edgecolor="white",
                               lw=0.6, hatch=None if agree else "////"))  # fmt: skip
        present.add(regime)
        mixed |= not agree
    _decorate(ax, layout, x, "x")
    if y is not None:
        _decorate(ax, layout, y, "y")
    else:
        ax.set_ylim(0, 1)
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
    handles = [Patch(facecolor=c, label=r.replace("_", " ")) for r, c in REGIME_COLOURS.items()
               if r in present]  # fmt: skip
    if mixed:
        handles.append(Patch(facecolor="white", edgecolor="0.4", hatch="////",
                             label="seeds disagree"))  # fmt: skip
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=6.5)
    ax.set_title("majority regime over seeds" + _fixed_note(layout, (x,) if y is None else plane))
    return fig


def _point_labels(layout: Layout, points: list[tuple]) -> tuple[list[str], str]:
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
    colours = _colours(len(points), ordered=False)
    labels, note = _point_labels(layout, points)
    for ax, (name, ylabel) in zip(axs, TRAJECTORY_PANELS, strict=True):
        for point, colour, label in zip(points, colours, labels, strict=True):
            rows = layout.rows(point)
            if name in run.curves:
                _band(ax, run.steps, run.curves[name][rows], colour, label or None)
            if name == "test_error":
                _weak(ax, run, rows, colour)
        ax.set_ylabel(ylabel)
        _step_axis(ax, run.steps)
    for ax in axs[:-1]:
        ax.set_xlabel("")
    axs[0].set_title(f"dashed: weak error{_seeds_note(layout)}" + (f"\n{note}" if note else ""))
    if axs[0].get_legend_handles_labels()[0]:
        handles, labels = axs[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncol=_ncol(labels, 2, fig))
    return fig


SIGNAL = (("signal_mu", r"$\mu$", "-"), ("signal_nu", r"$\nu$", "--"),
          ("signal_neg_nu", r"$-\nu$", ":"))  # fmt: skip
NOISE = (("noise_clean", "clean", "-"), ("noise_flipped", "flipped", "--"))


def signal_noise_figure(run: RunResults, layout: Layout, points: list[tuple]) -> Figure:
    """Signal learning and noise memorisation vs step: one row per chosen point."""
    fig = Figure(figsize=(4.5, 0.6 + 1.35 * len(points)), layout="constrained")
    axs = fig.subplots(len(points), 2, sharex=True, sharey="col", squeeze=False)
    labels, note = _point_labels(layout, points)
    for row, point, point_label in zip(axs, points, labels, strict=True):
        rows = layout.rows(point)
        for ax, curves, offset in ((row[0], SIGNAL, 0), (row[1], NOISE, 3)):
            for k, (name, label, style) in enumerate(curves):
                if name in run.curves:
                    _band(ax, run.steps, run.curves[name][rows], OKABE_ITO[offset + k],
                          label, ls=style)  # fmt: skip
            _step_axis(ax, run.steps)
        row[0].set_ylabel(point_label.replace(", ", "\n"), fontsize=7)
    for ax in axs[:-1].ravel():
        ax.set_xlabel("")
    axs[0, 0].set_title(r"signal $\mathrm{max}_r\langle w_{s,r}, \cdot\rangle$")
    axs[0, 1].set_title(r"noise $\mathrm{max}_r\langle w_{\hat y_i,r}, \xi_i\rangle$")
    if note or _seeds_note(layout):
        fig.suptitle(note + _seeds_note(layout).removeprefix("; " * (not note)), fontsize=7)
    for ax in axs[0]:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", fontsize=6.5, handlelength=1.8)
    return fig


def _errors_along_applies(run: RunResults) -> bool:
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
    if not _errors_along_applies(run):
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
        label = "" if value is None else f"{keys[1]} = {_fmt(value)}"
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


def figure_jobs(run: RunResults, layout: Layout, chosen) -> list[tuple[str, Callable]]:
    """Every figure that applies to ``run``: ``(file name, function drawing it)``."""
    jobs: list[tuple[str, Callable]] = [("test_error", lambda: test_error_figure(run, layout))]
    plane = _plane(layout)
    if plane is not None:
        name = "phase_" + "_".join(layout.keys[a].replace(".", "_") for a in plane)
        jobs.append((name, lambda: phase_figure(run, layout, "error")))
        jobs.append((name + "_gain", lambda: phase_figure(run, layout, "gain")))
    if layout.keys:
        jobs.append(("regimes", lambda: regimes_figure(run, layout)))
    jobs.append(("trajectories", lambda: trajectories_figure(run, layout, chosen)))
    jobs.append(("signal_noise", lambda: signal_noise_figure(run, layout, chosen)))
    scores = benign_scores(run)
    if scores is not None:
        jobs.append(("collapse", lambda: collapse_figure(run, *scores)))
        if "race_gamma_over_tau" in run.summary:
            jobs.append(("race", lambda: race_figure(run, *scores)))
    if _errors_along_applies(run):
        name = "errors_along_" + layout.keys[0].replace(".", "_")
        jobs.append((name, lambda: errors_along_figure(run)))
    return jobs


def draw_run(
    directory: str | Path,
    points: dict[str, list[str]] | None = None,
    formats: tuple[str, ...] = ("png",),
    helper=None,
) -> list[Path]:
    """Draw every figure that applies into ``DIR/figures`` (and write ``boundary.json``).

    ``points``: ``KEY -> [VALUE, ...]`` filters choosing the trajectory points (see
    :func:`choose_points`); ``formats``: any of ``storage.FIGURE_FORMATS`` (PNG by
    default: a vector format costs several times longer to write); ``helper``: a
    :class:`~w2s_jax.analysis.figure_helper.FigureHelper` that draws every other figure
    meanwhile (the same bytes). Every file is written to a temporary name and renamed.
    Returns the paths written. Raises :class:`PlotError`.
    """
    run = load_complete(directory)
    layout = Layout(run)
    jobs = figure_jobs(run, layout, choose_points(layout, points))
    # The helper (a fresh process: ~20% quicker) takes the first figure of each pair.
    theirs = [name for name, _ in jobs[0::2]] if helper is not None else []
    job = {"directory": str(directory), "names": theirs, "points": points, "formats": formats}
    if theirs and not helper.send(job):
        theirs = []  # the helper is gone: draw everything here
    answer = None
    try:
        paths = _draw(directory, [(n, draw) for n, draw in jobs if n not in theirs], formats)
    finally:  # also on an error here (a full disk): the helper's files are whole or gone
        if theirs:
            answer = helper.receive()
    if answer is not None and "errno" in answer:
        raise OSError(answer["errno"], answer["error"])
    if answer is not None and "paths" in answer:
        paths += [Path(p) for p in answer["paths"]]
    elif theirs:  # the helper died or failed otherwise: draw its figures here
        paths += _draw(directory, [(n, draw) for n, draw in jobs if n in theirs], formats)
    if write_boundary(run) is not None:
        paths.append(Path(directory) / "boundary.json")
    return paths


def draw_figures(directory: str, names: list[str], points, formats) -> list[Path]:
    """The figures ``names`` of a run (what a helper process draws)."""
    run = load_complete(directory)
    layout = Layout(run)
    jobs = dict(figure_jobs(run, layout, choose_points(layout, points)))
    return _draw(directory, [(name, jobs[name]) for name in names], formats)


def _draw(directory, jobs: list[tuple[str, Callable]], formats) -> list[Path]:
    out = Path(directory) / "figures"
    paths: list[Path] = []
    with matplotlib.rc_context(RC):
        for name, job in jobs:
            paths += _save(job(), out, name, formats)
    return paths


def draw_if_changed(
    directory: str | Path, formats: tuple[str, ...] = ("png",), helper=None
) -> list[Path]:
    """:func:`draw_run`, unless ``DIR/figures`` already holds these formats drawn from
    the same results (a finished grid run again draws nothing). Returns the paths
    written."""
    digest = storage.results_digest(directory)
    if storage.figures_current(directory, formats, digest):
        return []
    paths = draw_run(directory, formats=formats, helper=helper)
    storage.record_figures(directory, digest, formats)
    return paths
