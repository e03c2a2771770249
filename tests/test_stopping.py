"""Training to a target loss (``strong.stop_loss``) and traced step counts: a stopped run
is exact and frozen, and configurations that differ only in their steps share a program."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import tiny_config
from w2s_jax import api
from w2s_jax.execution import engine, planner
from w2s_jax.execution.grid import GridError, grid_from_dict
from w2s_jax.simulation import config

FINAL_COLUMNS = (
    "strong_test_error", "strong_hard_error", "train_acc_pseudo", "train_acc_true",
    "label_correction", "w2s_gain", "weak_test_error", "flip_rate",
)  # fmt: skip


@pytest.mark.parametrize("gd_form", ["primal", "dual"])
def test_a_stopped_run_equals_the_run_capped_at_its_stop(gd_form):
    """Exactness: stopping at step s (first loss <= stop_loss) ends in the state of the
    same configuration run for exactly s steps; the curves repeat that state after s."""
    base = {"strong.gd_form": gd_form, "strong.steps": 300, "strong.n": 24}
    stopped = api.run_one(**{**base, "strong.stop_loss": 0.3})
    s = stopped["summary"]["strong_stop_step"]
    assert stopped["summary"]["stopped"] and 0 < s < 300
    capped = api.run_one(**{**base, "strong.steps": int(s)})
    assert not capped["summary"]["stopped"] and capped["summary"]["strong_stop_step"] == s
    for column in FINAL_COLUMNS:
        assert stopped["summary"][column] == capped["summary"][column], column
    for name, curve in stopped["curves"].items():
        assert curve[-1] == capped["curves"][name][-1] or np.isnan(curve[-1]), name
    # Frozen: every evaluation at or after the stop sees the same state.
    after = stopped["steps"] >= s
    for name, curve in stopped["curves"].items():
        np.testing.assert_array_equal(curve[after], curve[after][-1], err_msg=name)
    # The loss at the stop is at the target; one evaluation before it, above.
    loss = stopped["curves"]["train_loss"]
    assert loss[after][0] <= 0.3 + 1e-6 and loss[~after][-1] > 0.3
    assert stopped["summary"]["strong_best_step"] <= s


def test_no_stop_loss_runs_every_step():
    result = api.run_one(**{"strong.steps": 7, "strong.n": 24})
    assert result["summary"]["strong_stop_step"] == 7 and not result["summary"]["stopped"]
    assert result["steps"][-1] == 7


def test_configurations_differing_in_steps_share_one_program():
    grid = grid_from_dict(
        {
            "data": {"d": 200},
            "weak": {"n": 60},
            "strong": {"m": 3, "n": 40},
            "eval": {"n_test": 300, "points": 8},
            "run": {"backend": "dense"},
            "sweep": {
                "strong.steps": [10, 40, 25],
                "weak.steps": [5, 30, 20],
                "strong.stop_loss": [0.0, 0.1, 0.5],
                "zip": [["strong.steps", "weak.steps", "strong.stop_loss"]],
            },
        }
    )
    configs = grid.configurations()
    assert len(planner.plan(configs)) == 1
    # Each configuration in the shared program equals the same configuration alone.
    static = config.split(configs[0])[0]
    together = engine.run_chunk(static, configs, 0, 4)
    for row, c in enumerate(configs):
        alone = engine.run_chunk(static, [c], 0, 2)
        for name, curve in together.curves.items():
            np.testing.assert_array_equal(curve[row], alone.curves[name][0], err_msg=name)
        assert together.steps[row][-1] == c["strong.steps"]


def test_teacher_stop_loss_is_exact():
    """weak.stop_loss: the teacher stopped at its target equals the one capped there."""
    c = tiny_config(**{"weak.stop_loss": 0.5, "weak.steps": 200})
    static, params = config.split(c)
    import jax

    from w2s_jax.simulation import pipeline

    key = jax.random.key(0)
    train = jax.jit(pipeline.train_teacher, static_argnums=0)
    stopped = train(static, params, key)
    losses = []
    for steps in range(0, 201, 1):
        capped = train(
            static, params._replace(weak=params.weak._replace(steps=np.int32(steps))), key
        )
        if np.array_equal(capped.signal, stopped.signal) and np.array_equal(
            capped.noise, stopped.noise
        ):
            losses.append(steps)
            break
    assert losses and 0 < losses[0] < 200


@pytest.mark.parametrize("value", [-0.1, float("nan")])
def test_bad_stop_loss_names_the_key(value):
    with pytest.raises(GridError, match="strong.stop_loss"):
        grid_from_dict({"strong": {"stop_loss": value}})
