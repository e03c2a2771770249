"""``python -m w2s_jax.plot RUN_DIR``: draw the figures of a saved run directory.

A thin shell over :func:`w2s_jax.analysis.run_boundary.write_boundary` and
:func:`w2s_jax.analysis.figures.draw_run` (NumPy + matplotlib, never JAX). A
missing or incomplete run directory, or a bad ``--points`` choice, exits with code 2
and one line on stderr.
"""

from __future__ import annotations

import argparse
import sys

from w2s_jax.sweep import add_format_option


def _point(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key or not value:
        raise argparse.ArgumentTypeError(f"--points takes KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m w2s_jax.plot",
        description="Draw DIR/figures (PNG; --format for PDF/SVG) and DIR/boundary.json "
        "from a finished run.",
    )
    p.add_argument("run_dir", help="a run directory written by python -m w2s_jax.sweep")
    p.add_argument(
        "--points",
        type=_point,
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="points for the trajectory figures: swept KEY=VALUE filters; "
        "repeat a key for several values (default: up to 4 over the first axis)",
    )
    add_format_option(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # after argparse: --help stays instant
    from w2s_jax.analysis.figures import PlotError, draw_run, load_complete
    from w2s_jax.analysis.run_boundary import write_boundary

    filters: dict[str, list[str]] = {}
    for key, value in args.points:
        filters.setdefault(key, []).append(value)
    try:
        load_complete(args.run_dir)  # refused before anything is written
        if write_boundary(args.run_dir) is not None:
            print(f"wrote {args.run_dir}/boundary.json")
        paths = draw_run(args.run_dir, points=filters or None, formats=args.format)
    except PlotError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    figures = sorted({p.stem for p in paths if p.parent.name == "figures"})
    print(f"wrote {len(figures)} figures to {args.run_dir}/figures: {', '.join(figures)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
