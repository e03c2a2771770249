"""The adaptive boundary search: bisection on a known error curve (NumPy only, no JAX),
the [boundary] section's validation, and one tiny real search that resumes."""

from __future__ import annotations

import json
import math
import textwrap

import numpy as np
import pytest

from conftest import tiny_grid_text
from w2s_jax.analysis.boundary import crossing_points
from w2s_jax.execution.boundary_search import Cell, bisect, propose
from w2s_jax.execution.boundary_section import BoundaryOptions

WEAK = 0.15
SLOPE = 2.0  # steepness of the error's fall in log n
# The known crossings: cell 2 never falls below the threshold inside [10, 1e5] and
# cell 3 is already below it at n = 10.
TRUE_N = (300.0, 3000.0, 1e7, 2.0)


def synthetic_error(cell: int, n: int, seed: int) -> float:
    """A seed-mean error ``WEAK / (1 + (n / n*)^SLOPE)``, crossing ``WEAK / 2`` at exactly
    ``n*``, plus a per-seed offset (seeds differ in their data) and per-point noise, both
    fixed by ``(cell, n, seed)`` as a rerun's are."""
    mean = WEAK / (1.0 + (n / TRUE_N[cell]) ** SLOPE)
    offset = np.random.default_rng([cell, seed, 7]).normal(0.0, 0.02)
    noise = np.random.default_rng([cell, n, seed]).normal(0.0, 0.004)
    return float(mean + offset + noise)


def fake_evaluate(points):
    calls.append(len(points))
    metric = [synthetic_error(c, n, s) for c, n, s in points]
    return np.array(metric), np.full(len(points), WEAK)


calls: list[int] = []
OPTIONS = BoundaryOptions(
    n_low=10, n_high=100_000, ci_factor=1.25, seeds=4, max_seeds=64, max_rounds=20
)


def test_bisection_finds_the_known_crossing_with_fewer_configurations_than_a_dense_axis():
    calls.clear()
    lines: list[str] = []
    cells, history = bisect(len(TRUE_N), OPTIONS, fake_evaluate, lines.append)
    assert [cell.stop for cell in cells] == ["converged", "converged", "above", "below"]
    assert len(history) == len(calls) <= OPTIONS.max_rounds
    assert any("boundary round 1/" in line for line in lines)

    for c in (0, 1):
        cell, estimate = cells[c], cells[c].estimate
        lo, hi = estimate["n_ci"]
        assert lo <= TRUE_N[c] <= hi, (c, estimate)
        assert hi / lo <= OPTIONS.ci_factor
        bracket = estimate["bracket"]
        assert bracket[0] <= estimate["n_star"] <= bracket[1]
        assert bracket[1] / bracket[0] <= OPTIONS.ci_factor
        # A dense log-spaced n axis at the same resolution, with the seeds the search
        # ended with, meets the same width, at >= 3x the configurations.
        seeds = max(cell.runs.values())
        count = math.ceil(math.log(OPTIONS.n_high / OPTIONS.n_low) / math.log(1.25)) + 1
        dense_n = np.unique(np.round(np.geomspace(OPTIONS.n_low, OPTIONS.n_high, count)))
        errors = np.array([[synthetic_error(c, int(n), s) for s in range(seeds)] for n in dense_n])
        dense = crossing_points([0.0], dense_n, errors[None], WEAK / 2, n_boot=1000)
        dense_lo, dense_hi = dense.n_ci[0]
        assert dense_hi / dense_lo <= OPTIONS.ci_factor
        assert dense_lo <= hi and lo <= dense_hi  # the two intervals agree
        adaptive = sum(cell.runs.values())
        assert 3 * adaptive <= len(dense_n) * seeds, (adaptive, len(dense_n) * seeds)

    # Cells without a crossing stop after the first round, at 3 n values.
    for c in (2, 3):
        assert cells[c].rounds == 1 and sorted(cells[c].runs) == [10, 1000, 100_000]
    # Every point asked for is evaluated once per round, cumulatively, and the totals add up.
    assert calls[-1] == sum(sum(cell.runs.values()) for cell in cells)
    assert [h["configurations"] for h in history] == calls


def test_the_rules_in_order():
    options = BoundaryOptions(n_low=10, n_high=1000, ci_factor=1.5, seeds=2, max_seeds=4)
    cell = Cell(2, {10: 2, 100: 2, 1000: 2})
    side = {"side": "above", "bracket": None, "n_ci": [math.nan] * 2}
    assert propose(cell, side, options) == ("above", {}, 2)
    wide = {"side": None, "bracket": [100, 1000], "n_ci": [200.0, 400.0], "closed": True}
    assert propose(cell, wide, options)[1:] == ({316: 2}, 2)  # the geometric midpoint
    # A narrow bracket with a wide CI doubles the seeds at the bracketing pair and the
    # next n on either side.
    cell.runs = {10: 2, 50: 2, 100: 2, 120: 2, 300: 2, 1000: 2}
    narrow = {"side": None, "bracket": [100, 120], "n_ci": [90.0, 150.0], "closed": True}
    assert propose(cell, narrow, options)[1:] == (dict.fromkeys([50, 100, 120, 300], 4), 4)
    cell.seeds = 4  # ... a point there still short of them is topped up first
    cell.runs.update({50: 4, 100: 4, 120: 4})
    assert propose(cell, narrow, options)[1:] == ({300: 4}, 4)
    cell.runs[300] = 4
    assert propose(cell, narrow, options) == ("max_seeds", {}, 4)
    assert propose(cell, {**narrow, "n_ci": [100.0, 140.0]}, options)[0] == "converged"
    # ... unless too many bootstrap replicates miss the range: the interval is open.
    cell.seeds = 2
    assert propose(cell, {**narrow, "n_ci": [100.0, 140.0], "closed": False}, options)[2] == 4
    # Adjacent integers cannot be split: the bracket counts as narrow.
    cell = Cell(4, {2: 4, 3: 4})
    adjacent = {"side": None, "bracket": [2, 3], "n_ci": [2.2, 2.8], "closed": True}
    assert propose(cell, adjacent, options)[0] == "converged"


def test_the_median_and_an_absolute_threshold_find_the_known_crossing():
    """An absolute threshold of WEAK / 2 is the default fraction's; the seed median of
    a curve with symmetric seed offsets crosses it at the same n*."""
    options = BoundaryOptions(n_low=10, n_high=100_000, ci_factor=1.25, seeds=8, max_seeds=64,
                              max_rounds=20, threshold=WEAK / 2, statistic="median")  # fmt: skip
    assert "seed-median" in options.threshold_text() and "0.075" in options.threshold_text()
    cells, _ = bisect(2, options, fake_evaluate, lambda text: None)
    for c in (0, 1):
        lo, hi = cells[c].estimate["n_ci"]
        assert cells[c].stop == "converged" and lo <= TRUE_N[c] <= hi, cells[c].estimate
        assert cells[c].estimate["threshold"] == WEAK / 2
    # The estimate's curve is the seed median at each n.
    estimate = cells[0].estimate
    n = estimate["n_values"][0]
    median = np.median([synthetic_error(0, n, s) for s in range(estimate["seeds"][0])])
    assert estimate["mean"][0] == pytest.approx(median)


def test_a_search_stopped_by_its_round_limit_reports_it():
    options = BoundaryOptions(n_low=10, n_high=100_000, ci_factor=1.01, seeds=2, max_rounds=2)
    cells, history = bisect(1, options, fake_evaluate, lambda text: None)
    assert cells[0].stop == "max_rounds" and len(history) == 2
    # Nothing is left unevaluated: the last round's proposal was not added.
    assert history[-1]["configurations"] == sum(cells[0].runs.values())


# ------------------------------------------------------------------ grid validation

BASE = {"boundary": {"n_low": 8, "n_high": 64}, "sweep": {"data.nu_norm": [3.0, 6.0]}}
BAD = {
    "strong.n swept": ({"sweep": {"strong.n": [8, 16]}}, "'strong.n'"),
    "strong.n fixed": ({"strong": {"n": 20}}, "'strong.n'"),
    "sweep seeds": ({"sweep": {"seeds": 3}}, "'sweep.seeds'"),
    "unknown key": ({"boundary": {"n_lo": 3}}, "'boundary.n_lo' (did you mean 'boundary.n_low'"),
    "missing n_high": ({"boundary": {"n_low": 8}}, "'boundary.n_high' is required"),
    "high below low": ({"boundary": {"n_low": 64, "n_high": 8}}, "'boundary.n_high'"),
    "factor": ({"boundary": {"ci_factor": 1.0}}, "'boundary.ci_factor'"),
    "seeds": ({"boundary": {"seeds": 0}}, "'boundary.seeds'"),
    "max seeds": ({"boundary": {"seeds": 8, "max_seeds": 4}}, "'boundary.max_seeds'"),
    "rounds": ({"boundary": {"max_rounds": 1.5}}, "'boundary.max_rounds'"),
    "metric": ({"boundary": {"metric": "pgr"}}, "'boundary.metric'"),
    "statistic": ({"boundary": {"statistic": "mode"}}, "'boundary.statistic' must be one of"),
    "two thresholds": ({"boundary": {"fraction": 0.5, "threshold": 0.05}}, "give one"),
    "absolute threshold": ({"boundary": {"threshold": 5}}, "'boundary.threshold' must be in"),
    "type": ({"boundary": {"n_low": "8"}}, "'boundary.n_low'"),
    "backend": (
        {"run": {"backend": "reduced"}, "data": {"d": 100}, "weak": {"n": 20}},
        "'run.backend'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_boundary_sections_name_the_key(case):
    from w2s_jax.execution.grid import GridError, grid_from_dict

    change, expected = BAD[case]
    raw = {k: dict(v) for k, v in BASE.items()}
    for section, table in change.items():
        raw.setdefault(section, {}).update(table)
    if case == "missing n_high":
        raw["boundary"].pop("n_high")
    with pytest.raises(GridError, match=None) as error:
        grid_from_dict(raw, source="g.toml")
    message = str(error.value)
    assert expected in message and message.startswith("g.toml: ") and "\n" not in message


def test_a_valid_section_and_the_cli_exit_code(tmp_path, capsys):
    from w2s_jax.execution.grid import cells, grid_from_dict
    from w2s_jax.sweep import main

    grid = grid_from_dict({**BASE, "sweep": {"data.nu_norm": [3.0, 6.0], "data.d": [500, 900],
                                             "zip": [["data.nu_norm", "data.d"]]}})  # fmt: skip
    assert grid.boundary.n_low == 8 and grid.boundary.ci_factor == 1.5
    assert cells(grid) == [
        {"data.nu_norm": 3.0, "data.d": 500},
        {"data.nu_norm": 6.0, "data.d": 900},
    ]
    path = tmp_path / "g.toml"
    path.write_text('[boundary]\nn_low = 8\nn_high = 64\n[sweep]\n"strong.n" = [8, 16]\n')
    assert main([str(path), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "'strong.n'" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------ a real search

SEARCH = tiny_grid_text(
    'name = "tiny_search"',
    tail="""[sweep]
"data.nu_norm" = [5.0]
[boundary]
n_low = 2
n_high = 8
seeds = 2
max_seeds = 4
max_rounds = 2
ci_factor = 1.3""",
)


def test_a_tiny_real_search_resumes_without_running_anything(tmp_path, capsys):
    from w2s_jax.analysis.storage import read_summary
    from w2s_jax.sweep import main

    grid = tmp_path / "search.toml"
    grid.write_text(textwrap.dedent(SEARCH))
    out = tmp_path / "run"
    assert main([str(grid), "--out", str(out), "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "round 1 runs 6 configurations" in plan and "at most 2 rounds" in plan

    assert main([str(grid), "--out", str(out), "--quiet", "--no-figures"]) == 0
    assert "configurations in" in capsys.readouterr().out  # the search's summary lines
    chunks = sorted(p.name for p in (out / "chunks").iterdir())
    record = json.loads((out / "boundary_search.json").read_text())
    (cell,) = record["cells"]
    assert record["status"] == "complete" and record["rounds"] <= 2
    assert cell["cell"] == {"data.nu_norm": 5.0} and cell["stop"]
    assert cell["n_values"][0] == 2 and cell["n_values"][-1] == 8
    assert cell["configurations"] == sum(cell["seeds"]) == record["configurations"]
    summary = read_summary(out / "summary.csv")
    assert len(summary["seed"]) == record["configurations"]  # every configuration run
    runs = sorted(zip(summary["strong.n"].astype(int), summary["seed"].astype(int)))
    assert runs == sorted((n, s) for n, k in zip(cell["n_values"], cell["seeds"]) for s in range(k))
    if cell["n_star"] is not None:
        assert 2 <= cell["n_star"] <= 8 and cell["bracket"][0] <= cell["n_star"]

    # The same command again finds the search done; a library rerun (no request: no
    # shortcut) replays the rounds from the saved results and runs nothing.
    assert main([str(grid), "--out", str(out), "--quiet", "--no-figures"]) == 0
    assert "up to date" in capsys.readouterr().out
    from w2s_jax.execution.boundary_search import search
    from w2s_jax.execution.grid import load_grid
    from w2s_jax.execution.runner import RunOptions

    assert search(load_grid(grid), out, RunOptions(quiet=True, figures=False))
    assert sorted(p.name for p in (out / "chunks").iterdir()) == chunks
    again = json.loads((out / "boundary_search.json").read_text())
    assert (
        again["cells"] == record["cells"]
        and again["history"][-1]["configurations"] == (record["configurations"])
    )
