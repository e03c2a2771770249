"""The library API: registries, user optimizers and metrics, labelled results, CLI parity."""

from __future__ import annotations

import tomllib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import w2s_jax
from conftest import TINY, tiny_config, tiny_grid_text
from w2s_jax.execution import engine, planner
from w2s_jax.execution.runner import RunOptions, run_grid
from w2s_jax.simulation import config, registry
from w2s_jax.sweep import main

TABLES = {
    "data": {"d": 200},
    "weak": {"n": 60, "steps": 30},
    "strong": {"n": 40, "m": 3, "steps": 40},
    "eval": {"n_test": 300, "points": 8},
    "run": {"backend": "dense"},
}


def run_pair(**overrides):
    """Two configurations (two seeds) of one program, vmapped."""
    configs = [tiny_config(**{**overrides, "seed": s}) for s in (0, 1)]
    return engine.run_chunk(config.split(configs[0])[0], configs, 0, 2)


@pytest.fixture(scope="module")
def baseline():
    return run_pair()


def test_activation_functions_are_what_they_say():
    z = jnp.array([-2.0, 0.0, 0.5, 2.0])
    act = lambda name, p=None: registry.ACTIVATIONS[name].fn(  # noqa: E731
        z, registry.ACTIVATIONS[name].default_param if p is None else p
    )
    np.testing.assert_allclose(act("relu"), [0, 0, 0.5, 2])
    np.testing.assert_allclose(act("leaky_relu", 0.1), [-0.2, 0, 0.5, 2])
    np.testing.assert_allclose(act("relu_pow", 3.0), [0, 0, 0.125, 8])
    np.testing.assert_allclose(act("identity"), z)
    # smooth ReLU: z^3 / (3 w^2) below the width w = 1, then z - 2/3; C^1 at w.
    np.testing.assert_allclose(act("smooth_relu", 1.0), [0, 0, 0.125 / 3, 2 - 2 / 3], rtol=1e-6)
    for name in ("relu", "relu_pow", "smooth_relu"):  # derivative 0 at 0 (MODEL.md: ReLU'(0)=0)
        fn, p = registry.ACTIVATIONS[name]
        assert jax.grad(lambda x, fn=fn, p=p: fn(x, p))(0.0) == 0.0


@pytest.mark.parametrize("name", ["leaky_relu", "relu_pow", "smooth_relu", "identity"])
def test_every_activation_runs_under_vmap_and_changes_the_run(name, baseline):
    result = run_pair(**{"strong.activation": name})
    assert np.all(np.isfinite(result.curves["train_loss"]))
    assert not np.allclose(result.curves["train_loss"], baseline.curves["train_loss"])


def test_identity_activation_makes_the_student_linear():
    """A linear student cannot beat a coin flip on hard-only data (Proposition 2.1)."""
    seeds = 4
    configs = [
        tiny_config(**{"strong.activation": "identity", "eval.n_test": 4000, "seed": s})
        for s in range(seeds)
    ]
    result = engine.run_chunk(config.split(configs[0])[0], configs, 0, seeds)
    hard = result.curves["test_error_hard"][:, -1].mean()
    assert abs(hard - 0.5) < 4 * np.sqrt(0.25 / (4000 * 0.3 * seeds))


@pytest.mark.parametrize("name", ["exponential", "hinge", "squared"])
def test_every_loss_runs_under_vmap_and_changes_the_run(name, baseline):
    result = run_pair(**{"strong.loss": name, "strong.lr": 0.1})
    assert np.all(np.isfinite(result.curves["train_loss"]))
    assert not np.allclose(result.curves["grad_weight_clean"], baseline.curves["grad_weight_clean"])


def test_optimizers(baseline):
    adam = run_pair(**{"strong.optimizer": "adam", "strong.lr": 0.01})
    momentum = run_pair(**{"strong.optimizer": "momentum"})
    no_momentum = run_pair(**{"strong.optimizer": "momentum", "strong.momentum": 0.0})
    assert not np.allclose(adam.curves["train_loss"], baseline.curves["train_loss"])
    assert not np.allclose(momentum.curves["train_loss"], baseline.curves["train_loss"])
    # Heavy ball with momentum 0 is plain GD, to the last bit.
    np.testing.assert_array_equal(no_momentum.curves["train_loss"], baseline.curves["train_loss"])


def test_relu_teacher_of_its_own_width(baseline):
    result = run_pair(**{"weak.model": "relu", "weak.m": 4})
    assert np.all(np.isfinite(result.scalars["weak_test_error"]))
    assert not np.allclose(result.scalars["weak_test_error"], baseline.scalars["weak_test_error"])


def clipped_sgd(learning_rate, momentum):
    return optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(learning_rate))


def test_user_optax_optimizer_with_a_swept_step_size_compiles_once(tmp_path):
    grid = w2s_jax.make_grid(
        TABLES, strong={"optimizer": clipped_sgd}, sweep={"strong.lr": [0.05, 0.2, 0.8]}
    )
    assert len(planner.plan(grid.configurations())) == 1
    run = w2s_jax.run(grid, tmp_path, quiet=True)
    assert run.manifest["timing"]["compiles"] == 1
    (program,) = run.manifest["programs"]
    assert [c["compile"] for c in program["compiles"]] == [program["static"]["compile"]]
    losses = run.curves["train_loss"][:, -1]
    assert len(set(losses.tolist())) == 3  # the step size really varied


def test_user_metric_lands_in_the_curves(tmp_path):
    def test_accuracy(filters, train, test):
        layer = jnp.concatenate([jnp.ones(3), -jnp.ones(3)]) / 3
        out = w2s_jax.models.cnn_output(filters, layer, jax.nn.relu, test.patches, test.xi)
        return jnp.mean(jnp.where(out >= 0, 1, -1) == test.y)

    def flipped_share(filters, train, test):
        return jnp.sum(train.mask & (train.labels != train.y)) / jnp.sum(train.mask)

    grid = w2s_jax.make_grid(
        TABLES,
        run={"metrics": {"test_accuracy": test_accuracy, "flipped": flipped_share}},
        sweep={"seeds": 3},
    )
    run = w2s_jax.run(grid, tmp_path, quiet=True)
    assert run.curves["test_accuracy"].shape == run.curves["test_error"].shape == (3, 8)
    np.testing.assert_allclose(run.curves["test_accuracy"], 1 - run.curves["test_error"], atol=1e-6)
    np.testing.assert_allclose(run.curves["flipped"][:, 0], run.summary["flip_rate"])
    assert "test_accuracy" in run.manifest["grid"]["parameters"]["run.metrics"]


def test_python_api_and_cli_give_identical_results(tmp_path):
    text = tiny_grid_text(run="", tail='[sweep]\n"strong.n" = [30, 40]\nseeds = 2')
    path = tmp_path / "grid.toml"
    path.write_text(text)
    assert main([str(path), "--out", str(tmp_path / "cli"), "--quiet", "--no-figures"]) == 0
    grid = w2s_jax.make_grid(tomllib.loads(path.read_text()), name="grid")
    api = w2s_jax.run(grid, tmp_path / "api", quiet=True)
    cli = w2s_jax.load_run(tmp_path / "cli")
    assert (tmp_path / "cli" / "summary.csv").read_text() == (
        tmp_path / "api" / "summary.csv"
    ).read_text()
    for name in cli.curves:
        np.testing.assert_array_equal(cli.curves[name], api.curves[name])

    # Labelled access: (strong.n, seed, step) dimensions, selection by coordinate.
    curve = api.curve("test_error")
    assert curve.dims == ("strong.n", "seed", "step") and curve.values.shape == (2, 2, 8)
    np.testing.assert_array_equal(
        api.curve("test_error", **{"strong.n": 40}).values, api.curves["test_error"][2:]
    )
    mean = api.curve("test_error", **{"strong.n": 30}).mean("seed")
    np.testing.assert_allclose(mean.values, api.curves["test_error"][:2].mean(0))
    assert api.column("strong_test_error", seed=1).values.shape == (2,)
    single = w2s_jax.run_one({**TINY, "strong.n": 40, "run.backend": "auto"}, seed=1)
    np.testing.assert_array_equal(single["curves"]["test_error"], api.curves["test_error"][3])


def test_load_run_reads_a_partial_directory_and_to_xarray_names_its_makers(tmp_path):
    grid = w2s_jax.make_grid(
        TINY, sweep={"strong.n": [20, 30], "seeds": 2}, run={"backend": "dense"}
    )
    out = tmp_path / "run"
    assert not run_grid(grid, out, RunOptions(shard=(0, 2), quiet=True, figures=False))
    partial = w2s_jax.load_run(out)  # half the grid, straight from the chunk files
    done = partial.summary["done"]
    assert len(partial) == 4 and done.sum() == 2
    assert np.isnan(partial.summary["strong_test_error"][~done]).all()
    np.testing.assert_array_equal(partial.summary["strong.n"], [20, 20, 30, 30])
    np.testing.assert_array_equal(partial.summary["seed"], [0, 1, 0, 1])
    full = w2s_jax.run(grid, out, quiet=True)
    for name in ("strong_test_error", "weak_test_error", "strong_best_step"):
        # summary.csv keeps 8 significant digits; the partial summary is in memory
        np.testing.assert_allclose(partial.summary[name][done], full.summary[name][done], rtol=1e-7)
    np.testing.assert_array_equal(
        partial.curves["test_error"][done], full.curves["test_error"][done]
    )
    xarray = pytest.importorskip("xarray")
    dataset = full.to_xarray()
    assert isinstance(dataset, xarray.Dataset)
    assert dataset.attrs["data.d"] == TINY["data.d"] and dataset.attrs["status"] == "complete"
    assert dataset.attrs["version.jax"] == jax.__version__
    assert dataset.attrs["code_version"] == w2s_jax.execution.provenance.code_version()
