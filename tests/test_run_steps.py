"""A run is one pass down: its directory read once into a state, a plan, the execution,
the outputs written once, from results held in memory (docs/DESIGN.md, "A run, step by
step")."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from w2s_jax.analysis import run_files, storage, tables
from w2s_jax.analysis.figure_helper import FigureHelper
from w2s_jax.execution import run_plan, run_state
from w2s_jax.execution.grid import grid_from_dict
from w2s_jax.execution.runner import RunOptions, describe_grid, run_grid
from w2s_jax.simulation.identity import identity

SMALL = {
    "data": {"d": 160},
    "weak": {"n": 40, "steps": 20},
    "strong": {"n": 30, "m": 2, "steps": 30},
    "eval": {"n_test": 200, "points": 6},
    "run": {"backend": "dense"},
    "sweep": {"strong.lr": [0.5, 1.0], "seeds": 2},
}


def test_a_run_reads_back_nothing_it_wrote(tmp_path, monkeypatch):
    """The report and the figures are made from the results in memory: reading the
    outputs, or the chunks just written, fails the run; what was made from memory is
    what the files give back."""
    grid, out = grid_from_dict(SMALL), tmp_path / "run"

    def refuse(*args, **kwargs):
        raise AssertionError("read back what the run wrote")

    # Nor hashed again: each file's digest is taken as it is written (the curves' once,
    # as their writer syncs them), and the seal and the figures' stamp both use those.
    for module, name in [
        (storage, "read_chunks"), (storage, "read_summary"), (storage, "load_run"),
        (tables, "load_run"), (storage, "results_digest"), (storage, "file_digest"),
        (run_files, "file_digest"),
    ]:  # fmt: skip
        monkeypatch.setattr(module, name, refuse)
    # The figure helper process is sent the results (test_figures: it draws them into a
    # directory holding no output); here, that it drew its half of the figures.
    answers, receive = [], FigureHelper.receive

    def recorded(self):
        answers.append(receive(self))
        return answers[-1]

    monkeypatch.setattr(FigureHelper, "receive", recorded)
    assert run_grid(grid, out, RunOptions(quiet=True))
    monkeypatch.undo()
    if os.cpu_count() > 1:  # one core: no helper
        assert len(answers) == 1 and answers[0]["paths"]
        assert {Path(p).parent for p in answers[0]["paths"]} == {out / "figures"}
    report = (out / "report.md").read_text()
    assert tables.write_report(out) == report.rstrip("\n")  # the same from the files
    drawn = json.loads((out / "figures" / storage.FIGURES_STAMP).read_text())
    assert drawn["results"] == storage.results_digest(out)
    assert list((out / "figures").glob("test_error.png"))
    # The digests recorded without reading are the files' own.
    manifest = json.loads((out / "manifest.json").read_text())
    for kind in ("chunks", "outputs"):
        recorded = manifest["integrity"][kind]
        assert recorded and all(storage.file_digest(out / k) == v for k, v in recorded.items())
    assert set(manifest["integrity"]["outputs"]) == set(storage.output_names(out))


def test_the_state_is_read_once_and_the_dry_run_prints_the_plan(tmp_path):
    grid, out = grid_from_dict(SMALL), tmp_path / "run"
    ids = [identity(c) for c in grid.configurations()]
    empty = run_state.read_state(run_state.open_directory(out), grid, ids)
    assert (empty.manifest, empty.done, empty.assembled) == ({}, frozenset(), False)
    outcome = run_grid(grid, out, RunOptions(quiet=True, figures=False, shard=(0, 2)))
    assert not outcome and outcome.lost == ()
    state = run_state.read_state(out, grid, ids)
    assert 0 < len(state.done) < len(ids) and not state.assembled
    assert state.stamps and all(s == state.stamps[0] for s in state.stamps)
    plan = run_plan.make_plan(grid, state, RunOptions())
    assert plan.pending == len(ids) - len(state.done)
    text = describe_grid(grid, RunOptions(), out)
    assert f"{len(state.done)} already done in the directory, {plan.pending} to run" in text
    assert all(p.label in text for p in plan.programs)
    assert run_grid(grid, out, RunOptions(quiet=True, figures=False))
    assert run_state.read_state(out, grid, ids).assembled


def test_frozen_options_and_plan():
    options = RunOptions()
    with pytest.raises(AttributeError):
        options.shard = (0, 2)
    grid = grid_from_dict(SMALL)
    plan = run_plan.make_plan(grid, run_state.RunState(Path(".")), options)
    with pytest.raises(AttributeError):
        plan.parallel = 3
    assert plan.parallel >= 1 and plan.pending == len(plan.ids) == 4
    assert np.all(np.diff(sorted(i for w in plan.work for i in w.pending)) >= 1)


def test_the_manifest_records_what_the_run_did(tmp_path):
    """The compile records and the memory record hold together: one compile per program
    built, its seconds summed in the timing, and each program's bytes in flight its
    chunk times its bytes per configuration."""
    grid, out = grid_from_dict(SMALL), tmp_path / "run"
    assert run_grid(grid, out, RunOptions(quiet=True, figures=False, chunk_size=2))
    manifest = json.loads((out / "manifest.json").read_text())
    timing, programs, memory = manifest["timing"], manifest["programs"], manifest["memory"]
    compiles = [c for p in programs for c in p["compiles"]]
    assert timing["compiles"] == len(compiles) <= len(programs)
    assert timing["traces"] <= timing["compiles"]
    assert abs(timing["compile_seconds"] - sum(c["seconds"] for c in compiles)) < 1e-2
    assert all(c["configurations_per_chunk"] == 2 for c in compiles)
    per_program = [p["bytes_per_configuration"] * 2 for p in programs]
    assert memory["in_flight_bytes"] == per_program
    assert memory["peak_rss_bytes"] >= memory["rss_at_start_bytes"] > 0
    assert max(memory["in_flight_bytes"]) <= memory["budget_bytes"]  # the planner's bound
    assert manifest["completed"] == manifest["configurations"] == 4
