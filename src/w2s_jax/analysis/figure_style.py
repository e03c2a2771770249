"""How every figure looks: sizes, fonts, colours, the step axis, seed bands, saving.

One paper column wide (3.5–4.5 in, fonts ≥ 7 pt), colour-blind-safe maps (viridis /
cividis, RdBu centred at 0, Okabe–Ito for categories). Built on
:class:`matplotlib.figure.Figure` (no pyplot): importing this never switches the
caller's backend.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from w2s_jax.analysis import storage
from w2s_jax.analysis.figure_plan import Layout, nan_stats
from w2s_jax.analysis.storage import RunResults

RC = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7,
      "ytick.labelsize": 7, "legend.fontsize": 7, "legend.frameon": False, "pdf.fonttype": 42,
      "axes.spines.top": False, "axes.spines.right": False, "lines.linewidth": 1.2}  # fmt: skip
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
REGIME_COLOURS = {"benign": "#0072B2", "label_correction": "#009E73", "overtraining": "#CC79A7",
                  "harmful": "#D55E00", "underfit": "#F0E442", "diverged": "#000000"}  # fmt: skip


def step_x(steps: np.ndarray) -> np.ndarray:
    """Steps on a log axis: step 0 drawn at half the first positive step."""
    x = steps.astype(float)
    positive = x[x > 0]
    x[x <= 0] = positive.min() / 2 if positive.size else 0.5
    return x


def step_axis(ax, steps: np.ndarray) -> None:
    """A log step axis with decade ticks (and ``0`` where step 0 is drawn)."""
    x = step_x(steps)
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


def seed_band(ax, steps, block, colour, label=None, **line) -> None:
    """Seed mean of ``block (seeds, E)`` with a min–max band, at its finite steps."""
    mean, low, high = nan_stats(block)
    ok = np.isfinite(mean)
    x = step_x(steps)[ok]
    if not ok.any() and label:  # keep a diverged point in the legend
        ax.plot([], [], color=colour, label=f"{label} (diverged)", **line)
    if ok.any():
        ax.plot(x, mean[ok], color=colour, label=label, **line)
        if block.shape[0] > 1:
            ax.fill_between(x, low[ok], high[ok], color=colour, alpha=0.2, lw=0)


def weak_line(ax, run: RunResults, rows, colour) -> None:
    """The seed-mean weak error of ``rows``, dashed."""
    weak = nan_stats(run.summary["weak_test_error"][rows])[0]
    if np.isfinite(weak):
        ax.axhline(weak, color=colour, ls="--", lw=0.9)


def line_colours(count: int, ordered: bool) -> list:
    """Viridis for an ordered axis, Okabe–Ito for categories."""
    if not ordered:
        return [OKABE_ITO[i % len(OKABE_ITO)] for i in range(count)]
    return list(matplotlib.colormaps["viridis"](np.linspace(0.0, 0.85, count)))


def legend_columns(labels: list[str], most: int, fig: Figure) -> int:
    """Legend columns that fit the figure width (about 4.5 pt per character at 7 pt)."""
    longest = max((len(t) - 2 * t.count("$") - 3 * t.count("\\") for t in labels), default=1)
    return max(1, min(most, len(labels), int(fig.get_figwidth() * 72 // (4.5 * longest + 30))))


def seeds_note(layout: Layout) -> str:
    return f"; band: min–max over {len(layout.seeds)} seeds" if len(layout.seeds) > 1 else ""


def fixed_note(layout: Layout, plane: tuple[int, ...]) -> str:
    """``(fixed: ...)`` naming the swept axes outside ``plane`` at their first value."""
    others = [a for a in range(len(layout.keys)) if a not in plane]
    return (
        ("\n(fixed: " + layout.label((0,) * len(layout.keys), skip=plane) + ")") if others else ""
    )


def save_figure(fig: Figure, directory: Path, name: str, formats: tuple[str, ...]) -> list[Path]:
    """``directory/name.<format>`` for each format, each written atomically."""
    paths = [directory / f"{name}.{ext}" for ext in formats]
    for path in paths:
        kind = path.suffix[1:]
        storage.atomic_write(path, lambda f, kind=kind: fig.savefig(f, format=kind, dpi=150))
    return paths
