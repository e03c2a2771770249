"""run.compile = "auto": the compile mode and the padding decided per program from the work
of all its configurations in the grid, kept by a resumed or extended run in the same
directory."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from w2s_jax.execution import chunking, engine, planner
from w2s_jax.execution.grid import grid_from_dict
from w2s_jax.execution.runner import RunOptions, describe_grid, run_grid
from w2s_jax.simulation import config as cfg
from w2s_jax.simulation import cost_model

SMALL = {  # the small configuration: d = 300, n = 50, m = 10, 500 steps
    "data": {"d": 300},
    "weak": {"n": 200, "steps": 100},
    "strong": {"n": 50, "m": 10, "steps": 500},
    "eval": {"n_test": 1000, "points": 20},
}


TINY = {  # tiny sizes, for runs
    "data": {"d": 120},
    "weak": {"n": 30, "steps": 10},
    "strong": {"n": 20, "m": 2, "steps": 10},
    "eval": {"n_test": 100, "points": 4},
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
    static = cfg.static_part(configuration, compile="auto")
    work = cost_model.cost(static, 300, 500, 100).flops
    extra_run = (cost_model.FAST_SLOWDOWN - 1) * 256 * work / cost_model.WORK_FLOPS_PER_SECOND
    assert extra_run > cost_model.COMPILE_SECONDS["full"] - cost_model.COMPILE_SECONDS["fast"]
    assert extra_run / 256 * 4 < 1.0  # 4 configurations lose under a second unoptimised
    # a configuration run alone is its own whole program
    assert cfg.static_part(configuration).compile == "fast"


def test_an_explicit_or_recorded_mode_wins():
    assert modes(64, recorded=lambda static: replace(static, compile="fast")) == ["fast"]
    assert modes(1, recorded=lambda static: replace(static, compile="full")) == ["full"]
    assert modes(1, recorded=lambda static: None) == ["fast"]
    grid = grid_from_dict({**SMALL, "run": {"compile": "full"}})
    assert planner.plan(grid.configurations())[0].static.compile == "full"


def test_auto_and_explicit_fast_share_one_program():
    grid = grid_from_dict({**SMALL, "sweep": {"run.compile": ["auto", "fast"]}})
    (program,) = planner.plan(grid.configurations())
    assert program.static.compile == "fast" and len(program.indices) == 2


def test_an_extension_keeps_the_recorded_mode_and_compiles_nothing(tmp_path, monkeypatch):
    tiny = {**TINY, "run": {"backend": "dense"}}
    two = grid_from_dict({**tiny, "sweep": {"seeds": 2}})
    c = two.configurations()[0]
    work = cost_model.cost(cfg.static_part(c, compile="auto"), 120, 10, 10).flops
    # Two configurations' work is under the threshold, three are over it.
    threshold = (cost_model.COMPILE_SECONDS["full"] - cost_model.COMPILE_SECONDS["fast"]) / 2
    monkeypatch.setattr(cost_model, "WORK_FLOPS_PER_SECOND", 2.5 * work / threshold)
    options = RunOptions(quiet=True, figures=False)
    run_grid(two, tmp_path, options)
    three = grid_from_dict({**tiny, "sweep": {"seeds": 3}})
    assert [p.static.compile for p in planner.plan(three.configurations())] == ["full"]
    plan = describe_grid(three, options, tmp_path)  # the dry-run: the recorded program
    assert "compile=fast" in plan and "compile=full" not in plan
    assert "2 already done in the directory, 1 to run" in plan
    run_grid(three, tmp_path, options)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["timing"]["compiles"] == 0  # the program of the first run, in memory
    assert [p["static"]["compile"] for p in manifest["programs"]] == ["fast"]
    assert manifest["completed"] == 3


def paddings(grid: dict) -> list[tuple[int, ...]]:
    return [p.paddings for p in planner.plan(grid_from_dict(grid).configurations())]


def test_small_programs_differing_only_in_padding_run_as_one():
    # Two sizes of 4 configurations each: padding n = 40 to 112 costs well under a
    # second, a second compile ~4 s: one program, at the larger padding.
    few = {**SMALL, "sweep": {"strong.n": [40, 100], "seeds": 4}}
    (program,) = planner.plan(grid_from_dict(few).configurations())
    assert program.paddings == (48, 112) and program.static.n_pad == 112
    # Long runs of the small size: the padding would cost more than a compile.
    many = {**SMALL, "sweep": {"strong.n": [16, 1000], "seeds": 64}}
    assert paddings(many) == [(1024,), (16,)] or paddings(many) == [(16,), (1024,)]
    # A pinned compile mode keeps each configuration in its own program (reproducible
    # alone, bit for bit).
    pinned = {**few, "run": {"compile": "fast"}}
    assert sorted(paddings(pinned)) == [(48,), (112,)]


def test_a_padded_configuration_gives_the_result_of_its_own_program():
    strong = {"n": 20, "m": 2, "steps": 30}
    grid = grid_from_dict({**TINY, "strong": strong, "sweep": {"strong.n": [10, 20]}})
    configs = grid.configurations()
    (program,) = planner.plan(configs)
    assert program.paddings == (16, 24)
    together = engine.run_chunk(program.static, configs, 0, 2)
    alone = engine.run_chunk(replace(program.static, n_pad=16), configs[:1], 0, 2)
    for name, curve in alone.curves.items():
        np.testing.assert_allclose(together.curves[name][0], curve[0], rtol=2e-5, atol=1e-6)


def test_pending_work_of_any_size_runs_in_the_programs_standard_chunk():
    # An extension pads its few new configurations up to the first run's chunk (cheap
    # padding), so it finds the first run's compiled program.
    few = {**SMALL, "sweep": {"strong.n": [40, 100], "seeds": 4}}
    (program,) = planner.plan(grid_from_dict(few).configurations())
    sizes = {chunking.chunk_size(program, pending, None, None) for pending in (1, 6, 24, 30)}
    assert len(sizes) == 1
