"""The reduced backend (docs/MODEL.md): exact given the vectors, and the same law as dense."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from conftest import tiny_config
from w2s_jax.execution import engine, planner
from w2s_jax.execution.grid import GridError, grid_from_dict
from w2s_jax.simulation import backends, config, pipeline
from w2s_jax.simulation.data import StrongNoise


def test_training_in_qr_coordinates_equals_dense(x64, monkeypatch):
    """Express the dense strong-phase vectors in an orthonormal basis of their span, laid
    out as the reduced backend lays them out (u first, then the initial filters, then
    the training noise, lower triangular), and run the student in those coordinates."""
    c = tiny_config(
        **{
            "run.dtype": "float64",
            "strong.n": 30,
            "data.d": 120,
            "strong.steps": 30,
            "eval.points": 7,
        }
    )
    dense_static, params = config.split(c)
    assert dense_static.n_pad == 32  # two padded (masked) rows ride along
    key = jax.random.key(11)
    teacher = jax.jit(pipeline.train_teacher, static_argnums=0)(dense_static, params, key)
    dense_noise = backends.strong_noise(
        jax.random.fold_in(key, pipeline.STRONG_NOISE),
        "dense",
        dense_static.d,
        dense_static.m,
        dense_static.n_pad,
        dense_static.n_test,
        teacher.noise,
        params.data.d,
        params.data.sigma_p,
        params.strong.sigma_0,
        jnp.float64,
    )

    u = np.asarray(dense_noise.teacher_noise[0])
    e_u = u / np.linalg.norm(u)
    vectors = np.concatenate([dense_noise.init_noise, dense_noise.train_xi])  # (K, d - 4)
    orthogonal = vectors - np.outer(vectors @ e_u, e_u)
    q, r = np.linalg.qr(orthogonal.T)  # columns of q: basis of the span, r upper triangular
    signs = np.sign(np.diag(r))
    q, r = q * signs, r * signs[:, None]
    basis = np.concatenate([e_u[:, None], q], axis=1)  # (d - 4, 1 + K)
    coords = lambda x: np.asarray(x) @ basis  # noqa: E731
    assert np.allclose(np.triu(coords(vectors)[:, 1:], 1), 0, atol=1e-10)  # Bartlett shape
    reduced_noise = StrongNoise(
        train_xi=jnp.asarray(coords(dense_noise.train_xi)),
        test_xi=jnp.asarray(coords(dense_noise.test_xi)),
        init_noise=jnp.asarray(coords(dense_noise.init_noise)),
        teacher_noise=jnp.asarray(np.linalg.norm(u) * np.eye(1 + len(vectors))[0]),
    )

    def fake_strong_noise(key, backend, *args):
        return reduced_noise if backend == "reduced" else dense_noise

    monkeypatch.setattr(backends, "strong_noise", fake_strong_noise)
    reduced_static = dataclasses.replace(dense_static, backend="reduced", d=0)
    dense = pipeline.run_student(dense_static, params, key, teacher)
    reduced = pipeline.run_student(reduced_static, params, key, teacher)
    for name in dense[0]:
        np.testing.assert_allclose(
            reduced[0][name], dense[0][name], rtol=1e-5, atol=1e-9, err_msg=name
        )
    for name in dense[1]:
        np.testing.assert_allclose(reduced[1][name], dense[1][name], rtol=1e-5, err_msg=name)
    assert float(dense[0]["train_acc_pseudo"][-1]) > 0.9  # a real trajectory was compared


def test_dense_and_reduced_agree_in_distribution():
    """Final weak and strong test errors over many seeds at d = 200."""
    seeds = 256
    overrides = {
        "data.d": 200,
        "strong.n": 20,
        "strong.m": 2,
        "weak.n": 40,
        "strong.steps": 60,
        "eval.points": 4,
        "eval.n_test": 400,
        "data.nu_norm": 3.0,
    }
    errors = {}
    for backend in ("dense", "reduced"):
        configs = [
            tiny_config(**{**overrides, "run.backend": backend, "seed": s}) for s in range(seeds)
        ]
        static = config.split(configs[0])[0]
        assert static.backend == backend
        result = engine.run_chunk(static, configs, 0, seeds)
        errors[backend] = (result.scalars["weak_test_error"], result.curves["test_error"][:, -1])
    for which, name in enumerate(("weak", "strong")):
        a, b = errors["dense"][which], errors["reduced"][which]
        standard_error = np.sqrt(a.var(ddof=1) / seeds + b.var(ddof=1) / seeds)
        assert abs(a.mean() - b.mean()) < 3 * standard_error + 1e-9, name
        assert stats.ks_2samp(a, b).pvalue > 0.001, name
        assert not np.array_equal(a, b)  # two independent sets of draws were compared


def test_auto_backend_and_traced_d():
    grid = grid_from_dict(
        {
            "weak": {"n": 40, "steps": 5},
            "strong": {"n": 20, "m": 2, "steps": 5},
            "sweep": {"data.d": {"geomspace": [1e3, 1e9, 4]}, "strong.n": [20, 200]},
        }
    )
    programs = planner.plan(grid.configurations())
    backends_used = {(p.static.backend, p.static.n_pad): len(p.indices) for p in programs}
    # D = 5 + 2m + n_pad < 1000 <= d: reduced everywhere, one program for all four d
    # (and, this little work, for both n: n = 20 runs padded to 216).
    assert backends_used == {("reduced", 216): 8}
    assert programs[0].paddings == (24, 216)
    dense = grid_from_dict({"data": {"d": 100}, "strong": {"n": 200, "m": 2}, "weak": {"n": 40}})
    assert planner.plan(dense.configurations())[0].static.backend == "dense"


def test_reduced_backend_at_d_1e9_is_finite_and_learns():
    c = tiny_config(
        **{
            "data.d": 1e9,
            "run.backend": "reduced",
            "strong.lr_scaled": 8000.0,
            "weak.lr_scaled": 1600.0,
            "strong.sigma_0_scaled": 0.9,
            "data.nu_norm_scaled": 0.56,
            "data.mu_norm_scaled": 0.9,
            "strong.steps": 60,
        }
    )
    assert c["strong.lr"] == pytest.approx(8000.0 / 1e9)
    assert c["data.nu_norm"] == pytest.approx(0.56 * 1e9**0.25)
    result = engine.run_alone(c)
    weak = float(result.scalars["weak_test_error"][0])
    assert np.all(np.isfinite(result.curves["test_error"]))
    assert abs(weak - 0.15) < 0.06
    assert float(result.scalars["weak_easy_error"][0]) < 0.02


def test_reduced_backend_refuses_d_below_its_dimension():
    with pytest.raises(GridError, match="run.backend"):
        grid_from_dict({"data": {"d": 60}, "strong": {"n": 100}, "run": {"backend": "reduced"}})
