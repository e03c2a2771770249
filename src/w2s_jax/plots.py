"""Figures from a saved run directory (NumPy + matplotlib only; never JAX).

Plots read ``manifest.json``, ``summary.csv`` and ``curves.npz``; the only things
computed here are seed statistics (mean, min–max band) and the measured boundary of
SPEC §5 (:func:`w2s_jax.theory.boundary_report`). Figures go to ``DIR/figures`` as PNG
and PDF, one paper column wide (3.5–4.5 in, fonts ≥ 7 pt), colour-blind-safe maps
(viridis / cividis, RdBu centred at 0, Okabe–Ito for categories):

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
import warnings
from collections import Counter
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import NullFormatter, NullLocator

from w2s_jax import storage
from w2s_jax.storage import RunResults
from w2s_jax.theory import N_KEY, SCORE_KEYS, boundary_report, theory_boundary_n

BOUNDARY_FRACTION = 0.5  # boundary threshold: this fraction of the mean weak error per x
MAX_LINES, MAX_CHOSEN = 8, 4
NEEDED = ("seed", "weak_test_error", "strong_test_error", "w2s_gain", "regime")
RC = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7,
      "ytick.labelsize": 7, "legend.fontsize": 7, "legend.frameon": False, "pdf.fonttype": 42,
      "axes.spines.top": False, "axes.spines.right": False, "lines.linewidth": 1.2}  # fmt: skip
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
REGIME_COLOURS = {"benign": "#0072B2", "label_correction": "#009E73", "overtraining": "#CC79A7",
                  "harmful": "#D55E00", "underfit": "#F0E442", "diverged": "#000000"}  # fmt: skip
LABELS = {"strong.n": "$n$", "data.nu_norm": r"$\|\nu\|$", "data.mu_norm": r"$\|\mu\|$",
          "data.d": "$d$", "data.sigma_p": r"$\sigma_p$", "data.p_hard": r"$p_\mathrm{hard}$",
          "data.p_easy": r"$p_\mathrm{easy}$", "strong.lr": r"$\eta$", "strong.m": "$m$",
          "strong.sigma_0": r"$\sigma_0$", "weak.n": r"$n_\mathrm{weak}$"}  # fmt: skip


class PlotError(ValueError):
    """A run directory that cannot be drawn, or a bad point choice (one-line message)."""


def load_complete(directory: str | Path) -> RunResults:
    """:func:`storage.load_run`, refusing a missing, partial or inconsistent run."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PlotError(f"{directory}: no such run directory")
    for name in ("manifest.json", "summary.csv", "curves.npz"):
        if not (directory / name).is_file():
            raise PlotError(f"{directory}: not a complete run ({name} is missing)")
    try:
        run = storage.load_run(directory)
        status = run.manifest.get("status", "complete")
        rows = {len(run)} | {len(c) for c in run.curves.values()}
        axes = run.manifest["grid"]["axes"]
    except (OSError, ValueError, KeyError, IndexError, StopIteration) as error:
        raise PlotError(f"{directory}: unreadable run ({type(error).__name__}: {error})") from None
    if status != "complete":
        raise PlotError(f"{directory}: run is {status!r}, not complete; resume it first")
    if len(rows) != 1 or "test_error" not in run.curves:
        raise PlotError(f"{directory}: summary.csv and curves.npz do not match")
    missing = [k for k in [*axes, *NEEDED] if k not in run.summary]
    if missing:
        raise PlotError(f"{directory}: summary.csv lacks column(s) {', '.join(missing)}")
    return run


# ----------------------------------------------------------------- grid layout


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _positions(column: np.ndarray, values) -> np.ndarray:
    """Index of each row's value in ``values`` (-1 where none matches)."""
    out = np.full(len(column), -1)
    for j, value in enumerate(values):
        if _is_number(value) and column.dtype.kind in "fiu":
            hit = np.isclose(column.astype(float), float(value), rtol=1e-6, atol=1e-12)
        else:
            hit = np.array([str(c).lower() == str(value).lower() for c in column], bool)
        out[hit & (out < 0)] = j
    return out


def _fmt(value) -> str:
    if _is_number(value) and float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.3g}" if _is_number(value) else str(value)


class Layout:
    """The swept axes of a run (zipped axes collapse to one, ``strong.n`` representing
    its group) and each summary row's position on them: ``index (configs, A + 1)``,
    seed last. A *point* is a tuple of ``A`` axis positions."""

    def __init__(self, run: RunResults):
        grid = run.manifest["grid"]
        zipped = {k: tuple(z) for z in grid.get("zip", []) for k in z}
        groups = list(dict.fromkeys(zipped.get(k, (k,)) for k in grid["axes"]))
        self.keys = [N_KEY if N_KEY in g else g[0] for g in groups]
        self.groups = [
            (k, *(o for o in g if o != k)) for k, g in zip(self.keys, groups, strict=True)
        ]
        self.group_of = {k: a for a, g in enumerate(groups) for k in g}
        self.all_values = {k: list(v) for k, v in grid["axes"].items()}
        self.values = [self.all_values[k] for k in self.keys]
        self.spacing = grid.get("spacing", {})
        self.fixed = grid.get("parameters", {})
        self.seeds = np.unique(run.summary["seed"])
        columns = [
            _positions(run.summary[k], v) for k, v in zip(self.keys, self.values, strict=True)
        ]
        self.index = np.stack([*columns, _positions(run.summary["seed"], self.seeds)], 1)
        self.shape = tuple(len(v) for v in self.values)

    def rows(self, point: tuple) -> np.ndarray:
        return np.flatnonzero((self.index[:, :-1] == np.asarray(point, int)).all(1))

    def cube(self, column: np.ndarray) -> np.ndarray:
        """``column (configs,)`` as ``(*shape, seeds)``; NaN (or "") where missing."""
        text = column.dtype.kind in "USO"
        out = np.full(
            (*self.shape, len(self.seeds)), "" if text else np.nan, object if text else float
        )
        ok = (self.index >= 0).all(1)
        out[tuple(self.index[ok].T)] = column[ok]
        return out

    def label(self, point: tuple, skip: tuple = ()) -> str:
        parts = [f"{LABELS.get(k, k)}={_fmt(self.all_values[k][i])}"  # point may be a prefix
                 for a, i in enumerate(point) if a not in skip for k in self.groups[a]]  # fmt: skip
        return ", ".join(parts) or "run"

    def log_axis(self, a: int) -> bool:
        values = self.values[a]
        if not all(_is_number(v) and v > 0 for v in values) or len(values) < 2:
            return False
        spacing = self.spacing.get(self.keys[a], "list")
        if spacing != "list":
            return spacing == "geomspace"
        v = np.sort(np.asarray(values, float))
        cv = lambda d: np.std(d) / np.mean(d) if np.mean(d) > 0 else 0.0  # noqa: E731
        if len(v) < 3:
            return v[-1] / v[0] >= 4
        return bool(cv(np.diff(np.log(v))) < cv(np.diff(v)))


def _spread(count: int, k: int) -> list[int]:
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, min(k, count))})


def representative(layout: Layout, cap: int = MAX_LINES) -> list[tuple]:
    """Up to ``cap`` points: spread over the first axis, then the second; rest at 0."""
    if not layout.keys:
        return [()]
    first = _spread(layout.shape[0], cap if len(layout.keys) == 1 else cap // 2)
    second = _spread(layout.shape[1], cap // len(first)) if len(layout.keys) > 1 else [0]
    rest = (0,) * max(len(layout.keys) - 2, 0)
    return [(i, j, *rest)[: len(layout.keys)] for j in second for i in first]


def choose_points(layout: Layout, filters: dict[str, list[str]] | None = None) -> list[tuple]:
    """Points for the trajectory figures: those matching every ``KEY=VALUE`` filter (several
    values of one key: any of them), at most 8; default up to 4 over the first axis."""
    if not filters:
        return [(i,) + (0,) * (len(layout.keys) - 1) for i in
                _spread(layout.shape[0], MAX_CHOSEN)] if layout.keys else [()]  # fmt: skip
    allowed = [set(range(n)) for n in layout.shape]
    for key, texts in filters.items():
        if key not in layout.group_of:
            raise PlotError(
                f"--points: {key!r} is not swept (swept: {', '.join(layout.all_values)})"
            )
        values = layout.all_values[key]
        parsed = [float(t) if _looks_numeric(t) else t for t in texts]
        found = set(_positions(np.asarray(parsed, float if _all_num(parsed) else str), values))
        if -1 in found or not parsed:
            raise PlotError(f"--points: {key} takes one of {', '.join(map(_fmt, values))}, "
                            f"got {', '.join(texts)}")  # fmt: skip
        allowed[layout.group_of[key]] &= found
    points = [
        p for p in np.ndindex(*layout.shape) if all(i in s for i, s in zip(p, allowed, strict=True))
    ]
    return [points[i] for i in _spread(len(points), MAX_LINES)]


def _looks_numeric(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _all_num(values) -> bool:
    return all(_is_number(v) for v in values)


# ----------------------------------------------------------------- drawing helpers


def _stats(block: np.ndarray, axis: int = 0):
    """Mean, min and max over ``axis`` ignoring NaN; NaN where nothing is finite."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(block, axis), np.nanmin(block, axis), np.nanmax(block, axis)


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


def _seeds_note(layout: Layout) -> str:
    return f"; band: min–max over {len(layout.seeds)} seeds" if len(layout.seeds) > 1 else ""


def _save(fig: Figure, directory: Path, name: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{name}.{ext}" for ext in ("png", "pdf")]
    for path in paths:
        fig.savefig(path, dpi=200)
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


def _plane(layout: Layout) -> tuple[int, int] | None:
    """The two axes of the phase maps: ``strong.n`` on y when swept."""
    if len(layout.keys) < 2:
        return None
    if N_KEY in layout.keys:
        y = layout.keys.index(N_KEY)
        return next(a for a in range(len(layout.keys)) if a != y), y
    return 0, 1


def _slice(layout: Layout, cube: np.ndarray, x: int, y: int) -> np.ndarray:
    """``cube (*shape, S)`` at the others' first values, as ``(X, Y, S)``."""
    sub = cube[tuple(slice(None) if a in (x, y) else 0 for a in range(len(layout.keys)))]
    return sub if x < y else np.swapaxes(sub, 0, 1)


def _edges(layout: Layout, a: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Cell centres and edges of axis ``a`` (index positions if not numeric), log flag."""
    values = layout.values[a]
    if not _all_num(values):
        centres = np.arange(len(values), dtype=float)
        return centres, np.arange(len(values) + 1) - 0.5, False
    log = layout.log_axis(a)
    v = np.log(np.asarray(values, float)) if log else np.asarray(values, float)
    order = np.argsort(v)
    s = v[order]
    half = np.diff(s) / 2 if len(s) > 1 else np.array([math.log(2) / 2 if log else 0.5])
    edges = np.concatenate([[s[0] - half[0]], s[:-1] + half, [s[-1] + half[-1]]])
    edges = np.exp(edges) if log else edges
    return np.asarray(values, float), edges, log


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


def _score_fixed(layout: Layout, x_key: str) -> dict | None:
    """The benign score's other parameters from the fixed ones (SPEC §5), or None."""
    fixed = dict(layout.fixed)
    if "data.nu_norm" not in fixed and "data.nu_norm_scaled" in fixed:
        s, sp, d = (fixed.get(k) for k in ("data.nu_norm_scaled", "data.sigma_p", "data.d"))
        fixed["data.nu_norm"] = s * sp * d**0.25 if None not in (s, sp, d) else None
    need = [k for k in SCORE_KEYS if k != x_key]
    if x_key not in SCORE_KEYS or any(not _is_number(fixed.get(k)) for k in need):
        return None
    return {k: fixed[k] for k in need}


def _boundary(run: RunResults, layout: Layout, plane: tuple[int, int]) -> dict | None:
    """``boundary_report`` on the plane ``(x, strong.n)``, threshold
    ``BOUNDARY_FRACTION ×`` the mean weak error at each ``x``."""
    x, y = plane
    if layout.keys[y] != N_KEY or not _all_num(layout.values[x]) or layout.shape[y] < 2:
        return None
    errors = _slice(layout, layout.cube(run.summary["strong_test_error"]), x, y)
    weak = _slice(layout, layout.cube(run.summary["weak_test_error"]), x, y)
    threshold = BOUNDARY_FRACTION * _stats(weak.reshape(len(weak), -1), axis=1)[0]
    key = layout.keys[x]
    report = boundary_report(key, layout.values[x], layout.values[y], errors, threshold,
                             fixed=_score_fixed(layout, key))  # fmt: skip
    report["threshold_fraction"] = BOUNDARY_FRACTION
    return report


def write_boundary(run: RunResults) -> dict | None:
    """Write ``DIR/boundary.json`` when ``strong.n`` is swept against exactly one other
    axis; returns the report (``None``, writing nothing, otherwise)."""
    layout = Layout(run)
    if len(layout.keys) != 2 or N_KEY not in layout.keys:
        return None
    report = _boundary(run, layout, _plane(layout))
    if report is not None:
        storage.write_json(Path(run.path) / "boundary.json", report)
    return report


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
        row[0].set_ylabel(point_label, fontsize=7)
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


def draw_run(directory: str | Path, points: dict[str, list[str]] | None = None) -> list[Path]:
    """Draw every figure that applies into ``DIR/figures`` (and write ``boundary.json``).

    ``points``: ``KEY -> [VALUE, ...]`` filters choosing the trajectory points (see
    :func:`choose_points`). Returns the paths written. Raises :class:`PlotError`.
    """
    run = load_complete(directory)
    layout = Layout(run)
    chosen = choose_points(layout, points)
    out = Path(directory) / "figures"
    paths: list[Path] = []
    with matplotlib.rc_context(RC):
        paths += _save(test_error_figure(run, layout), out, "test_error")
        plane = _plane(layout)
        if plane is not None:
            name = "phase_" + "_".join(layout.keys[a].replace(".", "_") for a in plane)
            paths += _save(phase_figure(run, layout, "error"), out, name)
            paths += _save(phase_figure(run, layout, "gain"), out, name + "_gain")
        if layout.keys:
            paths += _save(regimes_figure(run, layout), out, "regimes")
        paths += _save(trajectories_figure(run, layout, chosen), out, "trajectories")
        paths += _save(signal_noise_figure(run, layout, chosen), out, "signal_noise")
    if write_boundary(run) is not None:
        paths.append(Path(directory) / "boundary.json")
    return paths
