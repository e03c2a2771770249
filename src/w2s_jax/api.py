"""The Python API for custom sweeps: build a grid, run it, read results as arrays.

The same engine, chunking, resume and outputs as the CLI (``python -m w2s_jax.sweep``);
the CLI is a thin shell over these calls.

    grid = w2s_jax.make_grid(data={"d": 2000}, sweep={"strong.n": [75, 500], "seeds": 2})
    run = w2s_jax.run(grid, "runs/mine")
    run.curve("test_error", **{"strong.n": 500}).mean("seed").values   # (E,)
    w2s_jax.run_one({"strong.n": 500, "data.d": 2000})["summary"]["strong_test_error"]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from w2s_jax.analysis.storage import RunResults, load_run
from w2s_jax.execution import jax_settings
from w2s_jax.execution.grid import Grid, grid_from_dict
from w2s_jax.execution.runner import RunOptions, RunOutcome, run_grid


def make_grid(tables: dict[str, Any] | None = None, /, **keywords) -> Grid:
    """A validated grid from nested tables (as in TOML) and/or dotted keys, e.g.
    ``make_grid({"strong.n": 75}, data={"d": 2000}, sweep={"seeds": 4})``. User metrics
    go in ``run={"metrics": {"name": fn}}``; registry keys accept objects as well as names."""
    merged: dict[str, Any] = {}
    for source in (tables or {}, keywords):
        for key, value in source.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    return grid_from_dict(merged, source="<python>", default_name=merged.get("name", "grid"))


def run(grid: Grid | dict, out: str | Path | None = None, **options) -> RunResults:
    """Run (or resume) a grid into ``out`` (default ``runs/<name>``) and load the results.
    ``options`` are :class:`~w2s_jax.execution.runner.RunOptions` fields (``chunk_size``,
    ``max_memory_gb``, ``shard``, ``force``, ``quiet``, ``figures``, ``figure_formats``,
    ``compile_cache``: a directory, None for the default one, ``"off"``)."""
    if isinstance(grid, dict):
        grid = make_grid(grid)
    out = Path(out) if out is not None else Path("runs") / grid.name
    options.setdefault("figures", False)
    if not run_into(grid, out, RunOptions(**options)):
        raise RuntimeError(f"{out}: only a shard ran; run without shard to assemble")
    return load_run(out)


def run_into(grid: Grid, out: Path, options: RunOptions, figure_helper=None) -> RunOutcome:
    """Run or resume ``grid`` into ``out`` (a ``[boundary]`` grid by its adaptive search,
    in rounds of ordinary grids); true when complete, false when only a shard ran. What
    :func:`run` and the command line call (``figure_helper``: one the command line
    started early)."""
    if grid.boundary is not None:
        from w2s_jax.execution import boundary_search

        return RunOutcome(bool(boundary_search.search(grid, out, options)))
    return run_grid(grid, out, options, figure_helper)


def describe(grid: Grid, options: RunOptions | None = None, out: str | Path | None = None) -> str:
    """The ``--dry-run`` plan of a grid run into ``out`` (None: an empty directory; of a
    ``[boundary]`` grid: its search's plan and cost bound, then its first round's)."""
    options = options or RunOptions()
    if grid.boundary is not None:
        from w2s_jax.execution import boundary_search

        return boundary_search.describe_search(grid, options)
    from w2s_jax.execution.runner import describe_grid

    return describe_grid(grid, options, out)


def run_one(
    parameters: dict[str, Any] | None = None, *, seed: int = 0, base_seed: int = 0, **dotted
) -> dict[str, Any]:
    """One configuration alone, through the same compiled path as a sweep (so it
    reproduces its row of a grid bit for bit when ``run.compile`` is pinned; with
    ``"auto"`` the grid's compile mode and padding may change the last bits).
    Unspecified keys take the defaults.

    Returns ``{"steps": (E,), "curves": {name: (E,)}, "scalars": {name: float},
    "summary": {column: value}}``."""
    from w2s_jax.analysis.storage import unique_steps
    from w2s_jax.analysis.summary import summarize
    from w2s_jax.execution.engine import run_alone
    from w2s_jax.simulation.errors import GridError

    # Validated as a grid of one configuration (the same checks, both forms of a key
    # refused); the seed does not enter resolving, so it is set after.
    grid = grid_from_dict({**(parameters or {}), **dotted}, source="<run_one>")
    if grid.columns.size != 1:
        raise GridError(f"<run_one>: runs one configuration, got {grid.columns.size}: use run")
    config = {**grid.configurations()[0], "seed": seed}
    with jax_settings.scoped(jax_settings.dtype_settings([config])):
        result = run_alone(config, base_seed)
    steps, keep = unique_steps(result.steps, 0)
    curves = {k: v[:, keep] for k, v in result.curves.items()}
    summary = summarize(curves, result.scalars, steps, np.array([config["strong.steps"]]))
    return {
        "steps": steps,
        "curves": {k: v[0] for k, v in curves.items()},
        "scalars": {k: v[0].item() for k, v in result.scalars.items()},
        "summary": {k: np.asarray(v)[0].item() for k, v in summary.items()},
    }
