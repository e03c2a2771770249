"""``python -m w2s_jax.report RUN_DIR`` (also ``w2s-report``): a Markdown table of a run,
mean ± standard error over seeds for every swept point (NumPy only; reads
``summary.csv``, recomputes nothing)."""

from __future__ import annotations

import argparse
import sys

from w2s_jax.analysis.storage import load_run
from w2s_jax.analysis.tables import table


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
