"""Which data the figures draw: a saved run's grid, points and planes (NumPy only).

Never imports JAX (only :mod:`.storage` and :mod:`.theory`), so drawing a run needs no
accelerator stack. :func:`load_complete` refuses a missing, partial or inconsistent run
directory; :class:`Layout` places each ``summary.csv`` row on the swept
axes (zipped axes collapse to one); :func:`representative` and :func:`choose_points` pick
the points whose curves are drawn; :func:`phase_plane`, :func:`plane_slice` and
:func:`cell_edges` map two swept axes onto heatmap cells; :func:`benign_scores` gives
each configuration's benign score. The boundary is measured once per run, not here
(:mod:`.run_boundary`).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from w2s_jax.analysis import aliases, storage
from w2s_jax.analysis.storage import RunResults
from w2s_jax.analysis.theory import N_KEY, SCORE_KEYS, benign_score, raw_key, raw_parameters

MAX_LINES, MAX_CHOSEN = 8, 4
NEEDED = ("seed", "weak_test_error", "strong_test_error", "w2s_gain", "regime")
LABELS = {"strong.n": "$n$", "data.nu_norm": r"$\|\nu\|$",
          "data.nu_norm_scaled": r"$\|\nu\|/(\sigma_p d^{1/4})$", "data.mu_norm": r"$\|\mu\|$",
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
    for name in ("manifest.json", "summary.csv"):
        if not (directory / name).is_file():
            raise PlotError(f"{directory}: not a complete run ({name} is missing)")
    if not storage.curve_files(directory):
        raise PlotError(f"{directory}: not a complete run (curves/ is missing)")
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
        raise PlotError(f"{directory}: summary.csv and the curves do not match")
    missing = [k for k in [*axes, *NEEDED] if k not in run.summary]
    if missing:
        raise PlotError(f"{directory}: summary.csv lacks column(s) {', '.join(missing)}")
    return run


# ----------------------------------------------------------------- grid layout


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _matches(column: np.ndarray, values) -> np.ndarray:
    """``(rows, len(values))``: whether each row's value is each of ``values``."""
    hits = np.zeros((len(column), len(values)), bool)
    for j, value in enumerate(values):
        if _is_number(value) and column.dtype.kind in "fiu":
            hits[:, j] = np.isclose(column.astype(float), float(value), rtol=1e-6, atol=1e-12)
        else:
            hits[:, j] = [str(c).lower() == str(value).lower() for c in column]
    return hits


def _first(hits: np.ndarray) -> np.ndarray:
    return np.where(hits.any(1), np.argmax(hits, 1), -1)


def _positions(column: np.ndarray, values) -> np.ndarray:
    """Index of each row's value in ``values`` (-1 where none matches)."""
    return _first(_matches(column, values))


def _group_positions(summary: dict, group: tuple, all_values: dict) -> np.ndarray:
    """Index of each row on a zipped group of axes: where every key of the group
    matches (one key's values may repeat along the group)."""
    hits = np.logical_and.reduce([_matches(summary[k], all_values[k]) for k in group])
    return _first(hits)


def format_value(value) -> str:
    """Short tick/legend text: 2000, 16k, 1.28M, 3.97 (geomspace values are rarely exact
    integers: 3999.9999 is written 4000)."""
    if not _is_number(value):
        return str(value)
    v = float(value)
    if abs(v - round(v)) > 1e-6 * max(1.0, abs(v)):
        return f"{v:.3g}"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e4, "k")):
        if abs(v) >= scale:
            return f"{v / (1e3 if suffix == 'k' else scale):.3g}{suffix}"
    return str(int(round(v)))


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
        columns = [_group_positions(run.summary, g, self.all_values) for g in self.groups]
        # Seeds are exact integers, as many as the rows: found by a binary search (a
        # (rows x seeds) table of matches is quadratic: 5e9 cells at 10^5 configurations).
        seeds = np.searchsorted(self.seeds, run.summary["seed"])
        self.index = np.stack([*columns, seeds], 1)
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
        # point may be a prefix of the axes
        parts = [f"{LABELS.get(k, k)}={format_value(self.all_values[k][i])}"
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
        found = set(_positions(np.asarray(parsed, float if all_numeric(parsed) else str), values))
        if -1 in found or not parsed:
            raise PlotError(f"--points: {key} takes one of {', '.join(map(format_value, values))}, "
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


def all_numeric(values) -> bool:
    return all(_is_number(v) for v in values)


# ----------------------------------------------------------------- planes and boundary


def nan_stats(block: np.ndarray, axis: int = 0):
    """Mean, min and max over ``axis`` ignoring NaN; NaN where nothing is finite."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(block, axis), np.nanmin(block, axis), np.nanmax(block, axis)


def phase_plane(layout: Layout) -> tuple[int, int] | None:
    """The two axes of the phase maps: ``strong.n`` on y when swept."""
    if len(layout.keys) < 2:
        return None
    if N_KEY in layout.keys:
        y = layout.keys.index(N_KEY)
        return next(a for a in range(len(layout.keys)) if a != y), y
    return 0, 1


def plane_slice(layout: Layout, cube: np.ndarray, x: int, y: int) -> np.ndarray:
    """``cube (*shape, S)`` at the others' first values, as ``(X, Y, S)``."""
    sub = cube[tuple(slice(None) if a in (x, y) else 0 for a in range(len(layout.keys)))]
    return sub if x < y else np.swapaxes(sub, 0, 1)


def cell_edges(layout: Layout, a: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Cell centres and edges of axis ``a`` (index positions if not numeric), log flag."""
    values = layout.values[a]
    if not all_numeric(values):
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


def score_parameters(layout: Layout, x_key: str) -> dict | None:
    """The benign score's parameters other than ``x_key`` (``data.nu_norm_scaled``
    stands for ``data.nu_norm``) from the fixed ones, or None."""
    fixed = dict(layout.fixed)
    if "data.nu_norm" not in fixed and "data.nu_norm_scaled" in fixed:
        given = ("data.nu_norm_scaled", "data.sigma_p", "data.d")
        known = all(_is_number(fixed.get(k)) for k in given)
        fixed["data.nu_norm"] = aliases.raw_value(fixed, "data.nu_norm") if known else None
    need = [k for k in SCORE_KEYS if k != raw_key(x_key)]
    if raw_key(x_key) not in SCORE_KEYS or any(not _is_number(fixed.get(k)) for k in need):
        return None
    return {k: fixed[k] for k in need}


def benign_scores(run: RunResults) -> tuple[np.ndarray, np.ndarray] | None:
    """Every configuration's benign score ``B`` and its ``d`` (for the collapse figure),
    when ``strong.n`` and a parameter of the score are swept; None otherwise."""
    grid = run.manifest["grid"]
    swept = list(grid["axes"])
    if N_KEY not in swept or not any(k.startswith("data.") for k in swept):
        return None
    raw = raw_parameters(run.summary, grid.get("parameters", {}))
    if not all(k in raw for k in SCORE_KEYS):
        return None
    p_both = 1 - raw["data.p_easy"] - raw["data.p_hard"]
    n = np.asarray(run.summary[N_KEY], float)
    score = benign_score(n, p_both, raw["data.nu_norm"], raw["data.sigma_p"], raw["data.d"])
    return score, raw["data.d"]
