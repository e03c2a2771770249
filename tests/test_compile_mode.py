"""run.compile = "auto": decided per program from the work of all its configurations in
the grid, kept by a resumed or extended run in the same directory."""

from __future__ import annotations

import json

from w2s_jax import config as cfg
from w2s_jax import engine, planner
from w2s_jax.grid import grid_from_dict
from w2s_jax.runner import RunOptions, run_grid

SMALL = {  # the small configuration: d = 300, n = 50, m = 10, 500 steps
    "data": {"d": 300},
    "weak": {"n": 200, "steps": 100},
    "strong": {"n": 50, "m": 10, "steps": 500},
    "eval": {"n_test": 1000, "points": 20},
}


def modes(seeds: int, recorded=None) -> list[str]:
    sweep = {"data.nu_norm": [3.0, 4.0, 5.0, 6.0], "seeds": seeds}
    grid = grid_from_dict({**SMALL, "sweep": sweep})
    return [p.static.compile for p in planner.plan(grid.configurations(), recorded)]


def test_few_small_configurations_compile_fast_and_many_fully():
    assert modes(1) == ["fast"]  # 4 configurations: done before a full compile would be
    assert modes(64) == ["full"]  # 256: ~3x slower unoptimised costs more than compiling
    # the decision is the break-even of compile plus run time
    configuration = grid_from_dict(SMALL).configurations()[0]
    work = cfg.configuration_flops(configuration, "reduced")
    extra_run = (cfg.FAST_SLOWDOWN - 1) * 256 * work / cfg.WORK_FLOPS_PER_SECOND
    assert extra_run > cfg.COMPILE_SECONDS["full"] - cfg.COMPILE_SECONDS["fast"]
    # a configuration run alone is its own whole program
    assert cfg.static_part(configuration).compile == "fast"


def test_an_explicit_or_recorded_mode_wins():
    assert modes(64, recorded=lambda static: "fast") == ["fast"]
    assert modes(1, recorded=lambda static: "full") == ["full"]
    assert modes(1, recorded=lambda static: None) == ["fast"]
    grid = grid_from_dict({**SMALL, "run": {"compile": "full"}})
    assert planner.plan(grid.configurations())[0].static.compile == "full"


def test_auto_and_explicit_fast_share_one_program():
    grid = grid_from_dict({**SMALL, "sweep": {"run.compile": ["auto", "fast"]}})
    (program,) = planner.plan(grid.configurations())
    assert program.static.compile == "fast" and len(program.indices) == 2


def test_an_extension_keeps_the_recorded_mode_and_compiles_nothing(tmp_path, monkeypatch):
    tiny = {
        "data": {"d": 120},
        "weak": {"n": 30, "steps": 10},
        "strong": {"n": 20, "m": 2, "steps": 10},
        "eval": {"n_test": 100, "points": 4},
        "run": {"backend": "dense"},
    }
    two = grid_from_dict({**tiny, "sweep": {"seeds": 2}})
    work = cfg.configuration_flops(two.configurations()[0], "dense")
    # Two configurations' work is under the threshold, three are over it.
    monkeypatch.setattr(cfg, "FULL_COMPILE_WORK", 2.5 * work)
    options = RunOptions(quiet=True, figures=False)
    run_grid(two, tmp_path, options)
    three = grid_from_dict({**tiny, "sweep": {"seeds": 3}})
    assert [p.static.compile for p in planner.plan(three.configurations())] == ["full"]
    compiles = engine.COMPILE_STATS["compiles"]
    run_grid(three, tmp_path, options)
    assert engine.COMPILE_STATS["compiles"] == compiles  # the program of the first run
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [p["static"]["compile"] for p in manifest["programs"]] == ["fast"]
    assert manifest["completed"] == 3
