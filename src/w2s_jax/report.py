"""``python -m w2s_jax.report RUN_DIR``: a Markdown table of a run, mean ± standard error
over seeds for every swept point (NumPy only; reads ``summary.csv``, recomputes nothing).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

import numpy as np

from w2s_jax.storage import RunResults, load_run

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m w2s_jax.report", description=__doc__)
    parser.add_argument("run_dir")
    args = parser.parse_args(argv)
    try:
        run = load_run(args.run_dir)
    except (OSError, KeyError, ValueError) as error:
        print(f"error: {args.run_dir}: not a finished run directory ({error})", file=sys.stderr)
        return 2
    print(table(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
