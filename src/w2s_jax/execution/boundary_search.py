"""Adaptive boundary search: the crossing sample size ``n*`` per cell, by bisection in log n.

A grid with a ``[boundary]`` section does not sweep ``strong.n``. For every *cell* (one
point of the other swept axes) it looks for the ``n*`` at which the seed mean (or, with
``statistic = "median"``, the seed median) of ``metric`` (default the final strong test
error) falls to ``fraction ×`` the cell's mean weak error, or to an absolute
``threshold``: the estimator of ``boundary.json``
(:func:`~w2s_jax.analysis.boundary.crossing_points`: interpolation in ``log n`` between
the bracketing points, percentile bootstrap over seeds). Per cell, after each round,
the first rule that applies:

1. no crossing inside ``[n_low, n_high]``: stop, ``below`` (already under the
   threshold at ``n_low``) or ``above`` (still over it at ``n_high``);
2. a point of the bracket or next to it has fewer seeds than the cell: run them;
3. the bracket ``(n_i, n_j)`` is wider than ``ci_factor``: add its geometric midpoint
   (rounded; a bracket of adjacent integers cannot be split and counts as narrow);
4. the bootstrap CI's ``hi / lo`` exceeds ``ci_factor``: double the cell's seeds (at most
   ``max_seeds``) and run them at the bracketing pair and the next ``n`` on either side
   (with more seeds the crossing may move next door); already at ``max_seeds``: stop;
5. otherwise stop, ``converged``.

Each round is an ordinary grid of every ``(cell, n, seed)`` chosen so far, zipped into one
axis (the seed included), run by :func:`w2s_jax.execution.runner.run_grid` into the same directory.
Configurations are identified by their values and seed, so earlier rounds are found done:
an interrupted search resumes by running the same command again, its decisions replayed
from the saved results (they are bit-identical, and the bootstrap is seeded). The logic
(:func:`bisect`) takes the running of a round as a function, so it is tested without JAX.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from w2s_jax.analysis.boundary import crossing_points, json_float, seed_mean, seed_statistic
from w2s_jax.execution.boundary_section import METRICS, BoundaryOptions
from w2s_jax.execution.grid import Point, cells, round_grid

SEARCH_FILE = "boundary_search.json"

# Runs the points (every one chosen so far, in order) -> (metric, reference) per point.
Evaluate = Callable[[list[Point]], tuple[np.ndarray, np.ndarray]]


# ------------------------------------------------------------------ the bisection


@dataclass
class Cell:
    """One cell's search: its seed count, the seeds run at each ``n``, its latest
    estimate and, once stopped, why."""

    seeds: int
    runs: dict[int, int]  # n -> seeds run there (seeds 0..k-1)
    stop: str | None = None
    estimate: dict = field(default_factory=dict)
    rounds: int = 0

    def points(self, index: int) -> list[Point]:
        return [(index, n, s) for n in sorted(self.runs) for s in range(self.runs[n])]


def analyse(
    n_values: np.ndarray, errors: np.ndarray, threshold: float, options: BoundaryOptions, seed: int
) -> dict[str, Any]:
    """The crossing of one cell: ``n_values (N,)`` ascending, ``errors (N, S)`` (NaN
    where a seed did not run). Returns ``n_star``, ``n_ci``, ``bracket`` (the pair the
    point estimate interpolates between), ``side`` (None; ``below`` or ``above`` where
    there is no crossing inside the range, ``diverged`` where no seed-mean is finite)
    and ``closed`` (whether enough bootstrap replicates cross inside the range for
    ``n_ci`` to be an interval at all)."""
    mean = seed_statistic(errors, options.statistic)
    cross = crossing_points([0.0], n_values, errors[None], threshold, options.n_boot, seed,
                            options.ci, statistic=options.statistic)  # fmt: skip
    n_star, n_ci = float(cross.n[0]), [float(v) for v in cross.n_ci[0]]
    # crossing_points' interval leaves out the replicates that do not cross inside the
    # range; when more than the interval's tail does not, the interval is open.
    share = float(np.isfinite(cross.bootstrap[:, 0]).mean()) if options.n_boot else 0.0
    finite = np.isfinite(mean)
    low = finite & (mean <= threshold)
    out = {"n_star": n_star, "n_ci": n_ci, "threshold": float(threshold), "bracket": None,
           "side": None, "mean": mean.tolist(), "bootstrap_crossing": share,
           "closed": share >= 1 - (1 - options.ci) / 2}  # fmt: skip
    if not math.isfinite(n_star):
        out["side"] = "below" if low.any() else "above" if finite.any() else "diverged"
        return out
    j = int(np.argmax(low))
    i = int(np.flatnonzero(finite[:j])[-1])
    out["bracket"] = [int(n_values[i]), int(n_values[j])]
    return out


def ratio(interval) -> float:
    """``hi / lo`` of an interval; inf where it is not finite and positive."""
    lo, hi = interval
    return hi / lo if lo > 0 and math.isfinite(lo) and math.isfinite(hi) else math.inf


def propose(cell: Cell, estimate: dict, options: BoundaryOptions) -> tuple[str, dict, int]:
    """The next step for one cell (rules 1-5 of the module): ``(what, runs to add or
    raise {n: seeds}, new seed count)``; ``what`` is a stop reason when nothing is added."""
    if estimate["side"] is not None:
        return estimate["side"], {}, cell.seeds
    lo, hi = estimate["bracket"]
    near = local(cell, lo, hi)
    short = {n: cell.seeds for n in near if cell.runs[n] < cell.seeds}
    if short:
        return f"top up n = {', '.join(map(str, short))} to {cell.seeds} seeds", short, cell.seeds
    mid = round(math.sqrt(lo * hi))
    if hi / lo > options.ci_factor and mid not in cell.runs:
        return f"add the midpoint n = {mid}", {mid: cell.seeds}, cell.seeds
    if not estimate["closed"] or ratio(estimate["n_ci"]) > options.ci_factor:
        if cell.seeds >= options.max_seeds:
            return "max_seeds", {}, cell.seeds
        seeds = min(2 * cell.seeds, options.max_seeds)
        where = ", ".join(map(str, near))
        return f"CI too wide: {seeds} seeds at n = {where}", dict.fromkeys(near, seeds), seeds
    return "converged", {}, cell.seeds


def local(cell: Cell, lo: int, hi: int) -> list[int]:
    """The bracketing pair and the next ``n`` run on either side: where more seeds
    matter (with more seeds the crossing may move to a neighbouring pair)."""
    ns = sorted(cell.runs)
    i, j = ns.index(lo), ns.index(hi)
    return ns[max(i - 1, 0) : j + 2]


def bisect(
    n_cells: int, options: BoundaryOptions, evaluate: Evaluate, say: Callable[[str], None]
) -> tuple[list[Cell], list[dict]]:
    """Run the search over ``n_cells`` cells with ``evaluate`` running each round.
    Returns the cells (stopped, with their last estimate) and one record per round."""
    state = [
        Cell(options.seeds, {n: options.seeds for n in options.initial_n()}) for _ in range(n_cells)
    ]
    history: list[dict] = []
    done_before = 0
    for number in range(1, options.max_rounds + 1):
        points = [p for c, cell in enumerate(state) for p in cell.points(c)]
        active = [c for c, cell in enumerate(state) if cell.stop is None]
        say(
            f"boundary round {number}/{options.max_rounds}: {len(active)} active cell(s), "
            f"{len(points) - done_before} new configuration(s), {len(points)} in all"
        )
        start = time.perf_counter()
        metric, reference = (np.asarray(a, float) for a in evaluate(points))
        history.append({"round": number, "active_cells": len(active),
                        "new_configurations": len(points) - done_before,
                        "configurations": len(points),
                        "seconds": round(time.perf_counter() - start, 3)})  # fmt: skip
        done_before = len(points)
        rows = np.array([c for c, _, _ in points])
        for c in active:
            cell = state[c]
            cell.rounds = number
            cell.estimate = _estimate(cell, points, rows == c, metric, reference, options, c)
            what, runs, seeds = propose(cell, cell.estimate, options)
            if runs and number == options.max_rounds:
                what, runs = "max_rounds", {}
            if runs:
                cell.runs.update(runs)
                cell.seeds = seeds
            else:
                cell.stop = what
            say(f"  cell {c}: {_describe_estimate(cell.estimate)}: {what}")
        if all(cell.stop is not None for cell in state):
            break
    return state, history


def _estimate(
    cell: Cell,
    points: list[Point],
    mine: np.ndarray,
    metric: np.ndarray,
    reference: np.ndarray,
    options: BoundaryOptions,
    index: int,
) -> dict:
    """A cell's crossing from its rows: the threshold is ``options.threshold``, or
    ``fraction ×`` the mean over its seeds of the reference (the weak error, the same at
    every ``n`` of a seed)."""
    n_values = np.array(sorted(cell.runs))
    errors = np.full((len(n_values), max(cell.runs.values())), np.nan)
    per_seed: dict[int, list[float]] = {}
    for k in np.flatnonzero(mine):
        _, n, s = points[k]
        errors[np.searchsorted(n_values, n), s] = metric[k]
        per_seed.setdefault(s, []).append(reference[k])
    weak = seed_mean(np.array([np.mean(v) for v in per_seed.values()]))
    threshold = options.threshold
    if threshold is None:
        threshold = options.fraction * float(weak)
    estimate = analyse(n_values, errors, threshold, options, seed=index)
    estimate["n_values"] = n_values.tolist()
    estimate["seeds"] = [cell.runs[n] for n in n_values.tolist()]
    return estimate


def _describe_estimate(estimate: dict) -> str:
    if estimate["side"] is not None:
        return f"no crossing ({estimate['side']} the range)"
    lo, hi = estimate["n_ci"]
    width = f"x{ratio((lo, hi)):.3g}" if estimate["closed"] else "open: replicates miss"
    return (
        f"n* = {estimate['n_star']:.4g} [{lo:.4g}, {hi:.4g}] ({width}), "
        f"bracket {estimate['bracket'][0]}-{estimate['bracket'][1]}"
    )


# ------------------------------------------------------------------ the report


def search_record(
    grid, cell_values: list[dict], state: list[Cell], history: list[dict], status: str, request
) -> dict[str, Any]:
    """``boundary_search.json``: the options, per cell ``n*`` with its CI, the ``n`` and
    seeds used, the configurations run and the stop reason; the rounds."""
    options = grid.boundary
    return {
        "name": grid.name,
        "status": status,
        "request": request,
        "options": asdict(options),
        "metric": options.metric,
        "threshold": (
            f"{options.threshold:g}"
            if options.threshold is not None
            else f"{options.fraction:g} x the cell's mean {METRICS[options.metric]}"
        ),
        "statistic": options.statistic,
        "configurations": sum(sum(cell.runs.values()) for cell in state),
        "rounds": len(history),
        "cells": [
            {
                "cell": values,
                "n_star": json_float(cell.estimate.get("n_star", math.nan)),
                "n_ci": [json_float(v) for v in cell.estimate.get("n_ci", [math.nan] * 2)],
                "ci_ratio": json_float(
                    ratio(cell.estimate["n_ci"]) if cell.estimate.get("closed") else math.inf
                ),
                "bootstrap_crossing": cell.estimate.get("bootstrap_crossing"),
                "bracket": cell.estimate.get("bracket"),
                "threshold": json_float(cell.estimate.get("threshold", math.nan)),
                "stop": cell.stop,
                "n_values": sorted(cell.runs),
                "seeds": [cell.runs[n] for n in sorted(cell.runs)],
                "seed_mean": [json_float(v) for v in cell.estimate.get("mean", [])],
                "configurations": sum(cell.runs.values()),
                "rounds": cell.rounds,
            }
            for values, cell in zip(cell_values, state)
        ],
        "history": history,
    }


def summary_lines(result: dict) -> list[str]:
    """One line per cell: ``n*`` and its CI, or why there is none."""
    lines = []
    for entry in result["cells"]:
        where = ", ".join(f"{k}={v:g}" for k, v in entry["cell"].items()) or "(one cell)"
        if entry["n_star"] is None:
            what = {"below": "below n_low", "above": "above n_high"}.get(entry["stop"], "none")
            lines.append(f"{where}: no crossing in range ({what}); stop: {entry['stop']}")
            continue
        lo, hi = entry["n_ci"]
        open_ = "" if entry["ci_ratio"] is not None else " (open: too few replicates cross)"
        lines.append(
            f"{where}: n* = {entry['n_star']:.4g}, {result['options']['ci']:.0%} CI "
            f"[{lo:.4g}, {hi:.4g}]{open_}, {entry['configurations']} configurations, "
            f"stop: {entry['stop']}"
        )
    lines.append(f"{result['configurations']} configurations in {result['rounds']} round(s)")
    return lines


# ------------------------------------------------------------------ running


def search(grid, out: str | Path, options=None, evaluate: Evaluate | None = None) -> dict:
    """Run (or resume) the boundary search of ``grid`` into ``out``; returns the content
    of ``out/boundary_search.json``. ``options`` are the runner's
    :class:`~w2s_jax.execution.runner.RunOptions` (``force`` starts over; no ``shard``);
    ``evaluate`` replaces the running of a round (tests)."""
    from w2s_jax.analysis import storage
    from w2s_jax.execution import run_lock
    from w2s_jax.execution.run_outputs import collect
    from w2s_jax.execution.run_state import clear_directory, open_directory
    from w2s_jax.execution.runner import RunError, RunOptions, run_grid

    options = options or RunOptions()
    if grid.boundary is None:
        raise RunError(f"{grid.source}: the grid has no [boundary] section")
    if options.shard is not None:
        raise RunError("--shard does not apply to a boundary search (each round needs the last)")
    out = Path(out)
    open_directory(out)
    if options.force:  # once, before the first round: the rounds themselves extend
        with run_lock.acquire(out, None):
            clear_directory(out)
            (out / SEARCH_FILE).unlink(missing_ok=True)
    each = dataclasses.replace(options, force=False, figures=False, request=None)
    say = (lambda text: None) if options.quiet else (lambda text: print(text, file=sys.stderr))
    values = cells(grid)
    column, reference = grid.boundary.metric, METRICS[grid.boundary.metric]

    def run_round(points: list[Point]) -> tuple[np.ndarray, np.ndarray]:
        this = round_grid(grid, values, points)
        from w2s_jax.simulation.identity import identity

        ids = {identity(c) for c in this.configurations()}
        if not ids <= storage.completed_ids(out):
            run_grid(this, out, each)
        columns = collect(out, this, options.thresholds).columns
        return columns[column], columns[reference]

    evaluate = evaluate or run_round
    state, history = bisect(len(values), grid.boundary, evaluate, say)
    final = round_grid(grid, values, [p for c, cell in enumerate(state) for p in cell.points(c)])
    if evaluate is run_round:  # summary.csv, curves.npz and report.md of every configuration
        run_grid(final, out, each)
    result = search_record(grid, values, state, history, "complete", options.request)
    storage.write_json(out / SEARCH_FILE, result)
    return result


def describe_search(grid, options=None) -> str:
    """The ``--dry-run`` plan of a search: its cells, rule, cost bound and the first
    round's programs."""
    from w2s_jax.execution.runner import describe_grid

    b = grid.boundary
    values = cells(grid)
    swept = ", ".join(grid.axis_keys) or "nothing else swept"
    first = len(values) * len(b.initial_n()) * b.seeds
    later = len(values) * 4 * b.max_seeds
    # Each round adds at most one n per cell, and no n runs more than max_seeds seeds.
    bound = min(first + (b.max_rounds - 1) * later,
                len(values) * (len(b.initial_n()) + b.max_rounds - 1) * b.max_seeds)  # fmt: skip
    dense = math.ceil(math.log(b.n_high / b.n_low) / math.log(b.ci_factor) - 1e-9) + 1
    points = [(c, n, s) for c in range(len(values)) for n in b.initial_n() for s in range(b.seeds)]
    lines = [
        f"boundary search {grid.name!r}: n* where {b.threshold_text()}, strong.n in "
        f"[{b.n_low}, {b.n_high}] by bisection in log n, in {len(values)} cell(s) ({swept})",
        f"stop per cell: bracket and {b.ci:.0%} bootstrap CI within x{b.ci_factor:g}; seeds "
        f"{b.seeds}, doubled while the CI is wider, up to {b.max_seeds}",
        f"cost: round 1 runs {first} configurations ({len(values)} cell(s) x "
        f"{len(b.initial_n())} n x {b.seeds} seeds); each later round at most {later} "
        f"({len(values)} x 4 n x {b.max_seeds} seeds); at most {b.max_rounds} rounds, "
        f"{bound} configurations in all",
        f"(a dense log-spaced n axis at spacing x{b.ci_factor:g} has {dense} values: "
        f"{dense * len(values) * b.max_seeds} configurations at {b.max_seeds} seeds)",
        "round 1:",
        describe_grid(round_grid(grid, values, points), options or _run_options()),
    ]
    return "\n".join(lines)


def _run_options():
    from w2s_jax.execution.runner import RunOptions

    return RunOptions()
