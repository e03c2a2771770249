"""Students trained one at a time (``cost_model.students_alone``: ``lax.map`` over a
chunk instead of ``vmap``): exact under any chunking, a chunk of one needs no padding
partner, and the same draws and trajectories as side by side up to rounding."""

from __future__ import annotations

import numpy as np
import pytest

from test_engine import assert_chunkings_agree, outputs, run, write_grid
from w2s_jax.execution import chunking
from w2s_jax.simulation import config as cfg
from w2s_jax.simulation import cost_model

# Sizes of no other test, so no program compiled under the other lane mode is reused.
GRID = """
name = "alone"
seed = 2
[data]
d = 1e5
[weak]
n = 36
steps = 20
[strong]
n = 26
m = 2
steps = 40
[eval]
n_test = 220
points = 5
[run]
backend = "reduced"
[sweep]
"strong.lr" = [0.5, 2.0]
seeds = 2
"""


@pytest.fixture
def everyone_alone(monkeypatch):
    monkeypatch.setattr(cost_model, "STUDENTS_ALONE_BYTES", 0)


def test_students_alone_are_exact_under_any_chunking(tmp_path, everyone_alone):
    assert_chunkings_agree(tmp_path, write_grid(tmp_path, GRID), ("1", "3", "64"), row=3)


def test_students_alone_follow_the_same_trajectories_as_side_by_side(tmp_path, monkeypatch):
    grid = write_grid(tmp_path, GRID)
    assert run(grid, tmp_path / "vmap") == 0
    monkeypatch.setattr(cost_model, "STUDENTS_ALONE_BYTES", 0)
    assert run(grid, tmp_path / "map") == 0
    _, side_by_side = outputs(tmp_path / "vmap")
    _, alone = outputs(tmp_path / "map")
    for name in ("train_loss", "race_gamma_over_tau", "signal_nu"):
        if name in side_by_side:
            np.testing.assert_allclose(alone[name], side_by_side[name], rtol=2e-4, atol=1e-6)
    # Errors are counts over 220 test points: at most one point apart.
    diff = np.abs(alone["test_error"] - side_by_side["test_error"])
    assert np.nanmax(diff) <= 1 / 220 + 1e-6


def test_a_lone_student_runs_in_a_chunk_of_one(everyone_alone):
    assert chunking.chunk_size_for(1, alone=True) == 1
    assert chunking.chunk_size_for(1, alone=False) == 2
    assert chunking.devices_for(1, alone=True) == 1


def test_large_gram_matrices_train_alone_and_small_ones_side_by_side():
    from conftest import tiny_config

    def static(**overrides):
        c = tiny_config(**{"run.backend": "reduced", "data.d": 1e9, **overrides})
        return cfg.static_part(c, compile="full")

    assert not cost_model.students_alone(static(**{"strong.n": 40}), "cpu")
    assert cost_model.students_alone(static(**{"strong.n": 2048}), "cpu")
    # The rule is the Gram matrix's size: 512 x 512 float32 is 1 MiB.
    assert cost_model.students_alone(static(**{"strong.n": 512}), "cpu")
    assert not cost_model.students_alone(static(**{"strong.n": 400}), "cpu")  # n_pad 432


def test_an_accelerator_keeps_large_students_side_by_side():
    from conftest import tiny_config

    c = tiny_config(**{"run.backend": "reduced", "data.d": 1e9, "strong.n": 2048})
    assert not cost_model.students_alone(cfg.static_part(c, compile="full"), "gpu")
