"""Host memory of a large grid (issue 32): planning 10^6 configurations holds columns,
not a dict per configuration, and a grid whose plan or results cannot fit the budget is
refused in one line before anything is planned."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from w2s_jax.execution import column_identity, memory, planner, run_plan
from w2s_jax.execution.grid import grid_from_dict
from w2s_jax.execution.runner import RunError, RunOptions, describe_grid

TINY = {  # benchmarks/overhead.py's grid
    "data.d": 400,
    "weak.n": 50,
    "weak.steps": 20,
    "strong.m": 4,
    "strong.steps": 20,
    "eval.n_test": 100,
    "eval.points": 8,
}


def tiny(configurations: int) -> dict:
    return {**TINY, "sweep": {"strong.n": [40, 100], "seeds": configurations // 2}}


def test_planning_a_million_configurations_stays_bounded():
    tracemalloc.start()
    try:
        grid = grid_from_dict(tiny(10**6))
        programs = planner.plan(grid.columns)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 300e6  # a dict per configuration took ~2.5 KB each (2.5 GB)
    # Each n its program; together every configuration once, each program's sorted by
    # teacher (n is the outer axis and a seed's teacher is shared by both n: the same
    # order of seeds in both).
    assert [p.static.n_pad for p in programs] == [48, 112]
    assert [len(p.indices) for p in programs] == [500_000, 500_000]
    assert np.array_equal(np.sort(np.concatenate([p.indices for p in programs])), np.arange(10**6))
    assert np.array_equal(programs[0].indices + 500_000, programs[1].indices)
    teachers, of = grid.columns.teachers()
    ranks = np.array(column_identity.hexadecimal(teachers))[of[programs[0].indices[:1000]]]
    assert list(ranks) == sorted(ranks)


def test_host_need_counts_plan_and_results():
    grid = grid_from_dict({**tiny(1000), "run.race": True, "strong.ceiling": True})
    need = run_plan.host_need(grid.columns, None)
    assert need.configurations == 1000
    assert need.curves == 15 + 1 + run_plan.RACE_CURVES
    assert need.points == 8  # 0, 1, 2, 3, 5, 9, 14, 20 of 20 steps
    expected = 1000 * (memory.PLAN_BYTES + memory.IDS_BYTES)
    expected += 1000 * (memory.CURVE_COPIES * 27 * 8 * 8 + memory.SUMMARY_BYTES)
    assert need.bytes == pytest.approx(expected)
    assert run_plan.host_need(grid.columns, (0, 2)).result_bytes == 0  # a shard assembles nothing


def test_a_grid_that_cannot_fit_is_refused_before_planning():
    grid = grid_from_dict(tiny(10**7))  # 10^7: about 5 GB of plan and results
    with pytest.raises(RunError) as error:
        describe_grid(grid, RunOptions(max_memory_gb=2.0))
    text = str(error.value)
    assert "\n" not in text and "10000000 configurations need" in text
    assert "--max-memory" in text and "eval.points" in text and "run.race" in text
    assert "columns" not in vars(grid) or len(grid.columns.dimensions[-1][1]) == 5 * 10**6


def test_the_command_line_refuses_in_one_line(tmp_path):
    path = tmp_path / "big.toml"
    path.write_text(
        'name = "big"\n[data]\nd = 400\n[strong]\nm = 4\nsteps = 20\n'
        '[sweep]\n"strong.n" = [40, 100]\nseeds = 5000000\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "w2s_jax.sweep", str(path), "--dry-run", "--max-memory", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "host memory" in done.stderr
