"""The sweep engine: determinism under chunking, devices and shards; resume; extension;
refusal to mix results; divergence as data; no recompilation for same-shaped grids."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import run_curves
from w2s_jax.analysis import storage
from w2s_jax.execution import engine
from w2s_jax.execution.grid import grid_from_dict, load_grid
from w2s_jax.execution.runner import RunError, RunOptions, run_grid
from w2s_jax.sweep import main

GRID = """
name = "engine"
seed = 4
[data]
d = 160
[weak]
n = 40
steps = 20
[strong]
n = 30
m = 2
steps = 30
[eval]
n_test = 200
points = 6
[run]
backend = "dense"
[sweep]
"strong.lr" = [0.5, 1.0, 2.0, 4.0]
seeds = 3
"""


def write_grid(tmp_path: Path, text: str = GRID, name: str = "grid.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def outputs(directory: Path) -> tuple[str, dict]:
    summary = (directory / "summary.csv").read_text()
    return summary, run_curves(directory)


def assert_same_outputs(a: Path, b: Path) -> None:
    summary_a, curves_a = outputs(a)
    summary_b, curves_b = outputs(b)
    assert summary_a == summary_b
    assert curves_a.keys() == curves_b.keys()
    for name in curves_a:
        assert np.array_equal(curves_a[name], curves_b[name], equal_nan=True), name


def run(grid_path: Path, out: Path, *flags: str) -> int:
    return main([str(grid_path), "--out", str(out), "--quiet", "--no-figures", *flags])


def assert_chunkings_agree(tmp_path: Path, grid: Path, sizes: tuple[str, ...], row: int) -> None:
    """The grid run with each chunk size gives the same outputs, and configuration
    ``row`` re-run alone through the library reproduces its row of the second run."""
    for size in sizes:
        assert run(grid, tmp_path / size, "--chunk-size", size) == 0
    for size in sizes[1:]:
        assert_same_outputs(tmp_path / sizes[0], tmp_path / size)
    loaded = load_grid(grid)
    alone = engine.run_alone(loaded.configurations()[row], base_seed=loaded.seed)
    _, curves = outputs(tmp_path / sizes[1])
    assert np.array_equal(alone.curves["test_error"][0], curves["test_error"][row])


def test_chunk_sizes_give_identical_results(tmp_path):
    assert_chunkings_agree(tmp_path, write_grid(tmp_path), ("1", "7", "64"), row=5)


def _subprocess_env(devices: int) -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        f"--xla_force_host_platform_device_count={devices} --xla_backend_optimization_level=0"
    )
    return env


def sweep_command(grid: Path, out: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "w2s_jax.sweep", str(grid), "--out", str(out), *flags]


def test_one_and_four_devices_give_identical_results(tmp_path):
    grid = write_grid(tmp_path)
    for devices in (1, 4):
        out = tmp_path / f"devices{devices}"
        command = sweep_command(grid, out, "--quiet", "--no-figures", "--chunk-size", "8")
        subprocess.run(command, check=True, env=_subprocess_env(devices), timeout=600)
    manifest = json.loads((tmp_path / "devices4" / "manifest.json").read_text())
    assert manifest["device"]["local_devices"] == 4
    assert_same_outputs(tmp_path / "devices1", tmp_path / "devices4")


def test_shards_then_merge_equal_a_single_run(tmp_path):
    grid = write_grid(tmp_path)
    assert run(grid, tmp_path / "single") == 0
    merged = tmp_path / "merged"
    assert run(grid, merged, "--shard", "0/2") == 0
    assert not (merged / "summary.csv").exists()  # half the grid: nothing assembled yet
    assert run(grid, merged, "--shard", "1/2") == 0
    assert (merged / "summary.csv").exists()  # the second part completed the grid
    (merged / "summary.csv").unlink()
    assert run(grid, merged) == 0  # the plain run finds everything done and assembles
    assert json.loads((merged / "manifest.json").read_text())["timing"]["compiles"] == 0
    assert_same_outputs(tmp_path / "single", merged)


def test_killed_run_resumes_and_computes_only_what_is_missing(tmp_path):
    grid = write_grid(tmp_path)
    out = tmp_path / "killed"
    # Long enough chunks (~0.3 s each here) that the kill lands between the second chunk
    # and the last: with the grid's 30 steps a fast machine finished all six first.
    steps = "strong.steps=100000"
    command = sweep_command(grid, out, "--no-figures", "--chunk-size", "2", steps)
    process = subprocess.Popen(
        command, env=_subprocess_env(1), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while len(list((out / "chunks").glob("*.npz"))) < 2 and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(storage.completed_ids(out))
    assert 4 <= done_before < 12, done_before
    assert not (out / "summary.csv").exists()

    result = subprocess.run(
        command, env=_subprocess_env(1), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    assert f"{done_before} already done, {12 - done_before} to run" in result.stderr
    assert run(grid, tmp_path / "clean", "--chunk-size", "2", steps) == 0
    assert_same_outputs(out, tmp_path / "clean")


def test_extended_grid_reuses_finished_rows(tmp_path, capsys):
    out = tmp_path / "run"
    assert run(write_grid(tmp_path), out) == 0
    before = storage.read_summary(out / "summary.csv")
    extended = GRID.replace("seeds = 3", "seeds = 4").replace("4.0]", "4.0, 8.0]")
    capsys.readouterr()
    extended_grid = write_grid(tmp_path, extended, "extended.toml")
    assert main([str(extended_grid), "--out", str(out), "--no-figures"]) == 0
    assert "12 already done, 8 to run" in capsys.readouterr().err
    after = storage.read_summary(out / "summary.csv")
    old_rows = [i for i in range(20) if after["seed"][i] < 3 and after["strong.lr"][i] < 8]
    for name in ("strong_test_error", "weak_test_error", "strong_best_step"):
        np.testing.assert_array_equal(after[name][old_rows], before[name])


def test_changed_fixed_parameter_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert run(write_grid(tmp_path), out) == 0
    changed = write_grid(tmp_path, GRID.replace("d = 160", "d = 170"), "changed.toml")
    assert run(changed, out) == 2
    err = capsys.readouterr().err
    assert "data.d" in err and "--force" in err and "Traceback" not in err
    assert run(changed, out, "--force") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["grid"]["parameters"]["data.d"] == 170


def test_diverging_step_size_is_flagged_without_stopping_the_others(tmp_path):
    grid = grid_from_dict({**_small(), "sweep": {"strong.lr": [1.0, 3e38], "seeds": 2}})
    out = tmp_path / "run"
    assert run_grid(grid, out, RunOptions(quiet=True, figures=False))
    summary = storage.read_summary(out / "summary.csv")
    diverged = summary["diverged"]
    assert list(diverged) == [False, False, True, True]
    assert np.all(np.isfinite(summary["strong_test_error"][:2]))
    assert np.all(np.isnan(summary["strong_test_error"][2:]))
    assert list(summary["regime"][2:]) == ["diverged", "diverged"]
    loss = run_curves(out)["train_loss"]
    assert np.all(np.isfinite(loss[:2])) and np.isfinite(loss[2:, 0]).all()
    assert np.isnan(loss[2:, -1]).all()  # NaN from the divergence on


def _small() -> dict:
    return {
        "data": {"d": 160},
        "weak": {"n": 40, "steps": 20},
        "strong": {"n": 30, "m": 2, "steps": 30},
        "eval": {"n_test": 200, "points": 6},
        "run": {"backend": "dense"},
    }


def test_second_grid_of_same_shapes_compiles_nothing_new(tmp_path):
    first = grid_from_dict({**_small(), "sweep": {"data.nu_norm": [3.0, 4.0], "seeds": 2}})
    run_grid(first, tmp_path / "a", RunOptions(quiet=True, figures=False, chunk_size=4))
    second = grid_from_dict(
        {**_small(), "seed": 9, "sweep": {"strong.lr": [0.3, 0.7], "data.mu_norm": [5.0, 6.0]}}
    )
    run_grid(second, tmp_path / "b", RunOptions(quiet=True, figures=False, chunk_size=4))
    timing = [json.loads((tmp_path / d / "manifest.json").read_text())["timing"] for d in "ab"]
    assert timing[0]["compiles"] >= 1 and timing[1]["compiles"] == 0


def test_run_error_for_a_changed_base_seed(tmp_path):
    grid = grid_from_dict(_small())
    run_grid(grid, tmp_path, RunOptions(quiet=True, figures=False))
    with pytest.raises(RunError, match="seed"):
        run_grid(grid_from_dict({**_small(), "seed": 1}), tmp_path, RunOptions(quiet=True))


def test_shares_are_balanced_by_cost_not_count():
    from w2s_jax.execution.planner import Program
    from w2s_jax.execution.work_schedule import share
    from w2s_jax.simulation.cost_model import Cost

    cheap = Program(None, list(range(0, 30)), Cost(1.0, 1.0, 1.0), 10)
    dear = Program(None, list(range(30, 40)), Cost(1.0, 9.0, 1.0), 10)
    parts = [share([cheap, dear], k, 2) for k in range(2)]
    assert parts[0] | parts[1] == set(range(40)) and not parts[0] & parts[1]
    flops = [sum(1.0 if i < 30 else 9.0 for i in part) for part in parts]
    assert abs(flops[0] - flops[1]) <= 9.0  # within one configuration (total 120)
    assert len(parts[0]) > len(parts[1])  # the cheap configurations share one part
