"""A run's results as Markdown: :func:`table`, mean ± standard error over seeds for
every swept point (NumPy only; reads ``summary.csv``, recomputes nothing), and
:func:`findings`, what a sweep prints when it ends and writes to ``DIR/report.md``:
per swept point the weak error, the student's final and best error, its error on
hard-only data and the regime with its seed agreement, under the thresholds used.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import numpy as np

from w2s_jax.analysis import conditions, storage
from w2s_jax.analysis.regimes import RegimeThresholds
from w2s_jax.analysis.storage import RunResults, load_run

COLUMNS = (
    "weak_test_error",
    "strong_test_error",
    "strong_best_test_error",
    "strong_best_step",
    "label_correction_at_best",
    "train_acc_pseudo",
    "w2s_gain",
)


def _cell(values: np.ndarray) -> str:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.4g}"
    digits = 0 if abs(values.mean()) >= 10 else 3
    error = values.std(ddof=1) / np.sqrt(len(values))
    return f"{values.mean():.{digits}f} ± {error:.{digits}f}"


def table(run: RunResults, columns: tuple[str, ...] = COLUMNS) -> str:
    """One row per swept point (seeds pooled), in grid order."""
    axes = [k for k in run.axes if k != "seed"]
    keys = [tuple(run.summary[k][i] for k in axes) for i in range(len(run))]
    columns = tuple(c for c in columns if c in run.summary)
    header = [*axes, *columns, "regimes (seeds)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for point in dict.fromkeys(keys):
        rows = np.array([k == point for k in keys])
        cells = [f"{v:g}" if isinstance(v, (float, np.floating)) else str(v) for v in point]
        cells += [_cell(run.summary[c][rows].astype(float)) for c in columns]
        regimes = Counter(run.summary["regime"][rows].tolist())
        cells.append(", ".join(f"{name} {count}" for name, count in regimes.most_common()))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


FINDINGS = (
    ("weak", "weak_test_error"),
    ("student final", "strong_test_error"),
    ("student best", "strong_best_test_error"),
    ("best step", "strong_best_step"),
    ("hard-only (final)", "strong_hard_error"),
    ("corrected at best", "label_correction_at_best"),
)


def _points(run: RunResults, axes: list[str]):
    """``(first row, rows)`` of each distinct point of the ``axes`` columns, in the order
    they first appear (the seeds of a point share it): one ``np.unique`` per column
    rather than a tuple per configuration."""
    code = np.zeros(len(run), np.int64)
    for key in axes:
        _, inverse = np.unique(np.asarray(run.summary[key]), return_inverse=True)
        code = code * (int(inverse.max(initial=0)) + 1) + inverse.ravel()
        code = np.unique(code, return_inverse=True)[1].ravel()  # kept small: no overflow
    _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    for group in np.argsort(first, kind="stable"):
        yield int(first[group]), inverse.ravel() == group


def findings(run: RunResults, thresholds: RegimeThresholds = RegimeThresholds()) -> str:
    """The end-of-sweep report: one line per swept point (mean ± s.e. over seeds), the
    majority regime with how many seeds agree (``benign 4/4``), and the thresholds."""
    axes = [k for k in run.axes if k != "seed"]
    header = [*axes, *(name for name, _ in FINDINGS), "regime (seeds agreeing)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for first, rows in _points(run, axes):
        point = tuple(run.summary[k][first] for k in axes)
        cells = [f"{v:g}" if isinstance(v, (float, np.floating)) else str(v) for v in point]
        cells += [_cell(run.summary[column][rows].astype(float)) for _, column in FINDINGS]
        regime, count = Counter(run.summary["regime"][rows].tolist()).most_common(1)[0]
        cells.append(f"{regime} {count}/{int(rows.sum())}")
        lines.append("| " + " | ".join(cells) + " |")
    settings = ", ".join(f"{k} = {v:g}" for k, v in dataclasses.asdict(thresholds).items())
    lines += ["", f"Regime thresholds (relative to the weak error): {settings}."]
    return "\n".join(lines)


def write_report(
    directory: str | Path,
    thresholds: RegimeThresholds = RegimeThresholds(),
    run: RunResults | None = None,
) -> str:
    """Write ``DIR/report.md`` (:func:`findings`) and return its text (``run``: the
    directory's results when the caller holds them already)."""
    directory = Path(directory)
    run = run if run is not None else load_run(directory)
    text = f"# {run.manifest['grid']['name']}: what the run found\n\n" + findings(run, thresholds)
    theorem = conditions.report_section(run.summary)
    text += f"\n\n{theorem}" if theorem else ""
    storage.atomic_write(directory / "report.md", lambda f: f.write(text.encode() + b"\n"))
    return text
