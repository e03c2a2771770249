"""Figures over the plane of two swept axes: the phase maps and the regimes.

* ``phase_<x>_<y>`` and ``phase_<x>_<y>_gain`` (two or more swept axes; the others fixed
  at their first value): mean final error and W2S gain; with ``strong.n`` on ``y`` the
  measured boundary with its CI and the theory's ``B = C`` (``C`` fitted), read from the
  run's boundary (:mod:`.run_boundary`), never measured here.
* ``regimes``: majority regime over seeds per grid point (map or strip).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import NullLocator

from w2s_jax.analysis.figure_plan import (
    LABELS,
    Layout,
    all_numeric,
    cell_edges,
    format_value,
    nan_stats,
    phase_plane,
    plane_slice,
    score_parameters,
)
from w2s_jax.analysis.figure_style import REGIME_COLOURS, fixed_note
from w2s_jax.analysis.storage import RunResults
from w2s_jax.analysis.theory import theory_boundary_n


def decorate_axis(ax, layout: Layout, a: int, which: str) -> None:
    """Scale, limits, label and (up to 8) ticks of axis ``a`` drawn as ``which`` (x/y)."""
    _, edges, log = cell_edges(layout, a)
    key, values = layout.keys[a], layout.values[a]
    getattr(ax, f"set_{which}scale")("log" if log else "linear")
    getattr(ax, f"set_{which}lim")(edges[0], edges[-1])
    getattr(ax, f"set_{which}label")(LABELS.get(key, key))
    if len(values) <= 8:
        ticks = values if all_numeric(values) else range(len(values))
        getattr(ax, f"set_{which}ticks")(list(ticks), [format_value(v) for v in values])
        getattr(ax, f"{which}axis").set_minor_locator(NullLocator())


def overlay_boundary(ax, report: dict, layout: Layout, x: int) -> None:
    """The measured crossings with their CIs and, with ``C`` fitted, the theory's line."""
    pts = [p for p in report["points"] if p["n"] is not None]
    if pts:
        xs, ns = np.array([p["x"] for p in pts]), np.array([p["n"] for p in pts])
        ci = np.array([[np.nan if v is None else v for v in p["n_ci"]] for p in pts])
        err = np.nan_to_num(np.abs(np.stack([ns - ci[:, 0], ci[:, 1] - ns])), nan=0.0)
        ax.errorbar(xs, ns, yerr=err, fmt="o", ms=4, mfc="white", mec="black", ecolor="black",
                    elinewidth=0.9, capsize=2, label="measured boundary (95% CI)")  # fmt: skip
    if report.get("C_fit"):
        lo, hi = cell_edges(layout, x)[1][[0, -1]]
        grid = np.geomspace(lo, hi, 100) if layout.log_axis(x) else np.linspace(lo, hi, 100)
        fixed = score_parameters(layout, report["x"])
        n = theory_boundary_n(grid, report["x"], report["C_fit"], fixed)
        slope = report["theory_slope"]
        label = "theory $B=C$" + (f" (slope {slope:+d})" if slope is not None else "")
        ax.plot(grid, n, color="black", ls="--", lw=1.0, label=label + ", $C$ fitted")
    if pts or report.get("C_fit"):
        ax.figure.legend(loc="outside lower center", ncol=2, fontsize=6.5)


def phase_figure(
    run: RunResults, layout: Layout, quantity: str = "error", boundary: dict | None = None
) -> Figure:
    """Heatmap over the plane of :func:`phase_plane` of the mean final strong error
    (``quantity="error"``, cividis) or mean W2S gain (``"gain"``, RdBu centred at 0);
    ``boundary``: the plane's measured boundary (:func:`.run_boundary.drawn_boundary`)."""
    x, y = phase_plane(layout)
    column = "strong_test_error" if quantity == "error" else "w2s_gain"
    mean = nan_stats(plane_slice(layout, layout.cube(run.summary[column]), x, y), axis=2)[0]
    fig = Figure(figsize=(3.6, 2.9), layout="constrained")
    ax = fig.subplots()
    ax.set_facecolor("0.85")  # grey: no finite value (diverged everywhere)
    if quantity == "error":
        options, label = {"cmap": "cividis"}, "final strong test error"
    else:
        top = float(np.nanmax(np.abs(mean))) if np.isfinite(mean).any() else 1.0
        options = {"cmap": "RdBu", "vmin": -(top or 1.0), "vmax": top or 1.0}
        label = "W2S gain (weak $-$ strong error)"
    xe, ye = cell_edges(layout, x)[1], cell_edges(layout, y)[1]
    x_order, y_order = np.argsort(cell_edges(layout, x)[0]), np.argsort(cell_edges(layout, y)[0])
    grid = np.ma.masked_invalid(mean[np.ix_(x_order, y_order)].T)
    mesh = ax.pcolormesh(xe, ye, grid, shading="flat", **options)
    fig.colorbar(mesh, ax=ax, label=label + (" (seed mean)" if len(layout.seeds) > 1 else ""))
    if boundary is not None:
        overlay_boundary(ax, boundary, layout, x)
    decorate_axis(ax, layout, x, "x")
    decorate_axis(ax, layout, y, "y")
    title = "final error" if quantity == "error" else "weak-to-strong gain"
    title += " (grey: diverged)" if np.isnan(mean).any() else ""
    ax.set_title(title + fixed_note(layout, (x, y)))
    return fig


def majority_regime(labels: np.ndarray) -> tuple[str, bool]:
    """Most common regime among the seeds (ties: first seed's) and whether all agree."""
    counts = Counter(str(v) for v in labels if str(v) not in ("", "nan"))
    if not counts:
        return "", True
    best = counts.most_common(1)[0][0]
    return best, len(counts) == 1


def regimes_figure(run: RunResults, layout: Layout) -> Figure:
    """Majority regime per point over the phase plane (or a strip for one axis)."""
    plane = phase_plane(layout) or (0, None)
    x, y = plane
    cube = layout.cube(run.summary["regime"])
    if y is None:
        cube = cube[(slice(None),) + (0,) * (len(layout.keys) - 1)][:, None, :]
    else:
        cube = plane_slice(layout, cube, x, y)
    fig = Figure(figsize=(3.6, 3.0 if y is not None else 1.5), layout="constrained")
    ax = fig.subplots()
    xc, xe, _ = cell_edges(layout, x)
    yc, ye = cell_edges(layout, y)[:2] if y is not None else (np.zeros(1), np.array([0.0, 1.0]))
    xe_of = {i: (xe[r], xe[r + 1]) for r, i in enumerate(np.argsort(xc))}
    ye_of = {j: (ye[r], ye[r + 1]) for r, j in enumerate(np.argsort(yc))}
    present, mixed = set(), False
    for i, j in np.ndindex(cube.shape[:2]):
        regime, agree = majority_regime(cube[i, j])
        (x0, x1), (y0, y1) = xe_of[i], ye_of[j]
        colour = REGIME_COLOURS.get(regime, "0.85")
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor=colour, edgecolor="white",
                               lw=0.6, hatch=None if agree else "////"))  # fmt: skip
        present.add(regime)
        mixed |= not agree
    decorate_axis(ax, layout, x, "x")
    if y is not None:
        decorate_axis(ax, layout, y, "y")
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
    ax.set_title("majority regime over seeds" + fixed_note(layout, (x,) if y is None else plane))
    return fig
