"""A user-defined equinox student: the built-in ReLU CNN written as an eqx.Module, swept
by the engine, gives the built-in student's curves; grid checks for the key."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array, Float

import w2s_jax
from conftest import tiny_config
from w2s_jax.execution import engine
from w2s_jax.simulation import config
from w2s_jax.simulation.custom_student import FILTER_CURVES
from w2s_jax.simulation.identity import identity


class ReluCNN(eqx.Module):
    """f(X) = (1/m) sum_r sum_p [ReLU(<w_{+1,r}, x_p>) - ReLU(<w_{-1,r}, x_p>)]."""

    signal: Float[Array, "F 4"]
    noise: Float[Array, "F D"]
    m: int = eqx.field(static=True)

    def __call__(self, patches: Float[Array, "2 4"], xi: Float[Array, " D"]) -> Float[Array, ""]:
        pre = jnp.concatenate([patches @ self.signal.T, (self.noise @ xi)[None]])  # (3, 2m)
        second_layer = jnp.concatenate([jnp.ones(self.m), -jnp.ones(self.m)]) / self.m
        return jax.nn.relu(pre).sum(0) @ second_layer.astype(pre.dtype)


def make_cnn(key, static, params, init):
    return ReluCNN(init.signal, init.noise, static.m)


def signal_norm(model, train, test):
    """A user metric that reads the same field of the built-in Filters and of ReluCNN."""
    return jnp.sum(model.signal**2)


def run_two(**overrides):
    """Two configurations (two step sizes) of one program, vmapped by the engine."""
    configs = [
        tiny_config(
            **{
                "strong.gd_form": "primal",
                "strong.ceiling": True,
                "run.metrics": (("signal_norm", signal_norm),),
                "strong.lr": lr,
                **overrides,
            }
        )
        for lr in (0.5, 2.0)
    ]
    return engine.run_chunk(config.split(configs[0])[0], configs, 0, 2)


def test_relu_cnn_module_reproduces_the_builtin_student():
    builtin = run_two()
    custom = run_two(**{"strong.student": make_cnn})
    np.testing.assert_array_equal(builtin.steps, custom.steps)
    assert set(custom.curves) == set(builtin.curves)
    for name, values in builtin.curves.items():
        if name in FILTER_CURVES:
            assert np.all(np.isnan(custom.curves[name])), name
            continue
        assert np.all(np.isfinite(values)), name
        np.testing.assert_allclose(custom.curves[name], values, rtol=2e-5, atol=2e-6, err_msg=name)
    for name, values in builtin.scalars.items():
        np.testing.assert_array_equal(custom.scalars[name], values, err_msg=name)
    # the student learned: the two step sizes give different runs, both lowering the loss
    loss = custom.curves["train_loss"]
    assert np.all(loss[:, -1] < loss[:, 0]) and not np.allclose(loss[0], loss[1])


def test_student_key_checks():
    with pytest.raises(w2s_jax.GridError, match="'strong.student'.*must be a function"):
        w2s_jax.make_grid(strong={"student": "cnn"})
    with pytest.raises(w2s_jax.GridError, match="'strong.student' needs run.backend = 'dense'"):
        w2s_jax.make_grid(strong={"student": make_cnn}, run={"backend": "reduced"})
    # auto picks dense for a user module even where the reduced backend is smaller
    grid = w2s_jax.make_grid(data={"d": 20000}, strong={"n": 50, "student": make_cnn})
    assert config.static_part(grid.configurations()[0]).backend == "dense"
    auto = tiny_config(**{"data.d": 20000, "run.backend": "auto"})
    assert config.static_part(auto).backend == "reduced"


def test_an_unset_student_leaves_configuration_identities_unchanged():
    c = tiny_config()
    assert c["strong.student"] is None
    without = {k: v for k, v in c.items() if k != "strong.student"}
    assert identity(c) == identity(without)
    assert identity({**c, "strong.student": make_cnn}) != identity(c)
