"""Configuration identities held fixed (issue 32): the digests below were captured from
the code before configurations became columns; existing run directories name their
chunk rows by them and seed their random keys from the teacher's, so they must never
change."""

from __future__ import annotations

import pytest

from w2s_jax.execution import column_identity, planner
from w2s_jax.execution.engine import key_words
from w2s_jax.execution.grid import Axis, Grid, grid_from_dict
from w2s_jax.simulation.identity import identity, teacher_identity

ZIPPED = {
    "data.d": 400,
    "sweep": {
        "strong.n": [10, 30],
        "strong.steps": [50, 20],
        "zip": [["strong.n", "strong.steps"]],
        "strong.lr": [0.5, 1.0],
        "seeds": 2,
    },
}
GRIDS = {
    "zipped": ZIPPED,
    "geomspace": {  # a float geomspace axis of a theory-normalised alias; stop_loss at 0
        "data.d": 400,
        "weak.n": 80,
        "sweep": {
            "data.nu_norm_scaled": {"geomspace": [0.3, 3.0, 3]},
            "strong.stop_loss": [0.0, 0.1],
        },
    },
    "seeds": {  # a seeds axis, a geomspace of an integer key, a recording key on
        "seed": 7,
        "weak.n": 50,
        "strong.n": 40,
        "strong.m": 4,
        "run.backend": "reduced",
        "run.race": True,
        "sweep": {"data.d": {"geomspace": [500, 4000, 2]}, "seeds": 3},
    },
    "strings": {
        "data.d": 300,
        "strong.sigma_0_theory": 0.5,
        "sweep": {
            "strong.activation": ["relu", "leaky_relu"],
            "weak.lr_scaled": {"linspace": [0.5, 1.5, 2]},
        },
    },
    "scaled": {  # aliases resolved from two swept axes (n, nu_norm_scaled) and fixed ones
        "data.d": 1e6,
        "data.mu_norm_scaled": 1.0811,
        "weak.n": 100,
        "weak.lr_scaled": 600.0,
        "strong.m": 4,
        "strong.lr_scaled": 4.0,
        "strong.sigma_0_theory": 0.03,
        "run.backend": "reduced",
        "sweep": {
            "strong.n": [16, 32],
            "data.nu_norm_scaled": {"geomspace": [1.0, 3.0, 3]},
            "seeds": 2,
        },
    },
}
# (identity, teacher identity) of every configuration, in grid order, before issue 32.
BEFORE = {
    "zipped": [
        ("c57870ecacc04e374d855931", "18074a1d8bddc5fbd3159934"),
        ("38e6d14adc811a0371d975f3", "31f6b3d84883fea8d43285ff"),
        ("0aab539f08db429cd0b7d8f7", "18074a1d8bddc5fbd3159934"),
        ("413985c13dc9297e3d7deff4", "31f6b3d84883fea8d43285ff"),
        ("b0a723c685353ddc497d158f", "18074a1d8bddc5fbd3159934"),
        ("acef6fab6f4c46d1eb455882", "31f6b3d84883fea8d43285ff"),
        ("6c2e1d46e83515a4c8dfef45", "18074a1d8bddc5fbd3159934"),
        ("ddb65cb33c3807eb5448ad63", "31f6b3d84883fea8d43285ff"),
    ],
    "geomspace": [
        ("73389335ed446ac9d13637a3", "e50d9c9c3437b0ac9667a2fd"),
        ("647fc84b4c67262de271014d", "e50d9c9c3437b0ac9667a2fd"),
        ("3c4ec8c6670b43cd538eddf9", "6b0def47bfdce77e00fbab82"),
        ("d7b91f40e102e5989f19b71b", "6b0def47bfdce77e00fbab82"),
        ("cd445cad7b3789e11e5a2841", "c1c6cdd25b8bfafea7ebb644"),
        ("e54c0e19317c004df6866656", "c1c6cdd25b8bfafea7ebb644"),
    ],
    "seeds": [
        ("1cd7e42c702707abea7abf9d", "8fdc599c5b35556f00b06d87"),
        ("39b8842b24bff1f60acbbd27", "54ad072426e1ed6fb3d68371"),
        ("f3ab86788dd1732882abca61", "15b323630c7d546db7c73e93"),
        ("15fef18f490fc65452e303ff", "cd6a6141704a7018dd739887"),
        ("096fb5a78b77fda9ba09458b", "014c50ba5a047e731c1a684e"),
        ("9b37178b5362e2bd0344e8c9", "45d7671ae80a5e1511f2290a"),
    ],
    "strings": [
        ("3e1bcc5adb509319f270dd92", "9b7459e7546aec1d3c695a8e"),
        ("c8447f2057e416a3cad9b931", "46ebfd766bae70b76890776d"),
        ("a111df1a0121d158d69a2cd8", "9b7459e7546aec1d3c695a8e"),
        ("5a2123c99493ef7da0f4a419", "46ebfd766bae70b76890776d"),
    ],
    "scaled": [
        ("5b609f08f786cdaeba54da64", "87d4a1197c9497674668de92"),
        ("2efdb6452c5a218c37a1a4ce", "0b4614cd0ec4e775c4c4b03f"),
        ("d55b57ec2259ca8f3c430e31", "963a0d18959a9cfea860b994"),
        ("1fd0b7f18405c776c617d87f", "f1e8c204336d76c0a2608143"),
        ("63f505dd759661d9cc41f082", "f4e906a9533726261e56cc9b"),
        ("43e173113ccdc4fb257a7ba9", "7a6aac9f7a69ed7ec8b302fe"),
        ("e4f372e9a702877f04e0d499", "87d4a1197c9497674668de92"),
        ("f6ecb47b3581669e4ca4c3dc", "0b4614cd0ec4e775c4c4b03f"),
        ("3e91bbbd58ff6faee1b13895", "963a0d18959a9cfea860b994"),
        ("deef8b8ff496b93a2700bf3a", "f1e8c204336d76c0a2608143"),
        ("f8765efa75d0e2591f4bb3af", "f4e906a9533726261e56cc9b"),
        ("0d4dedf43715f59e8889d271", "7a6aac9f7a69ed7ec8b302fe"),
    ],
}


@pytest.mark.parametrize("name", sorted(GRIDS))
def test_identities_are_those_of_before(name):
    grid = grid_from_dict(GRIDS[name])
    configs = grid.configurations()
    assert [(identity(c), teacher_identity(c)) for c in configs] == BEFORE[name]
    # The same digests from the columns (the shared prefix hashed once).
    teachers, of = grid.columns.teachers()
    teachers = column_identity.hexadecimal(teachers)
    assert list(zip(grid.ids(), [teachers[k] for k in of])) == BEFORE[name]


def round_grid() -> Grid:
    """A grid built in code as a [boundary] round builds it: the seed zipped with axes."""
    fixed = grid_from_dict(ZIPPED).fixed
    lr, n, seed = (
        Axis("strong.lr", (0.5, 1.0, 1.0)),
        Axis("strong.n", (10, 30, 30)),
        Axis("seed", (0, 0, 1)),
    )
    return Grid("r", 3, fixed, (lr, n, seed), (("strong.lr", "strong.n", "seed"),), 1)


def test_identities_of_a_grid_built_in_code():
    grid = round_grid()
    configs = grid.configurations()
    assert grid.ids() == [identity(c) for c in configs]
    assert [(identity(c), teacher_identity(c)) for c in configs] == [
        ("ba1f2a64545c82dafbaeff2d", "18074a1d8bddc5fbd3159934"),
        ("33b22ff386df21867966f4e1", "18074a1d8bddc5fbd3159934"),
        ("e6914c8bef6b644265be654c", "31f6b3d84883fea8d43285ff"),
    ]
    # The random key's words: base seed, seed, the teacher digest's two halves.
    assert key_words(3, configs[2]).tolist() == [3, 1, 838251480, 1216609960]


def test_programs_and_their_order_are_those_of_before():
    """Chunks are consecutive runs of a program's configurations, sorted by teacher."""
    zipped = planner.plan(grid_from_dict(GRIDS["zipped"]).configurations())
    assert [(p.static.n_pad, p.static.compile, p.paddings) for p in zipped] == [
        (32, "full", (16, 32))
    ]
    assert list(zipped[0].indices) == [0, 2, 4, 6, 1, 3, 5, 7]
    seeds = planner.plan(grid_from_dict(GRIDS["seeds"]).configurations())
    assert [(p.static.n_pad, p.static.compile, p.paddings) for p in seeds] == [(48, "fast", (48,))]
    assert list(seeds[0].indices) == [4, 2, 5, 1, 0, 3]


@pytest.mark.parametrize("name", sorted(GRIDS))
def test_a_chunk_laid_out_from_the_columns_is_the_per_configuration_layout(name):
    """``engine.prepare_rows`` builds a chunk's arrays from the columns at once; they are
    bit for bit those of the per-configuration layout it replaced: each configuration's
    ``traced_part``, its key words and its identity (the run's bits depend on them)."""
    import jax
    import numpy as np

    from w2s_jax.execution import engine
    from w2s_jax.simulation import config as cfg

    grid = grid_from_dict(GRIDS[name])
    configs = grid.configurations()
    for program in planner.plan(grid.columns):
        rows = np.asarray(program.indices)[:5]
        chunk = engine.prepare_rows(program.static, grid.columns, rows, 7, len(rows) + 1)
        params, words = chunk.args[3], chunk.args[4]  # args: bank, teachers, ...
        real = [configs[int(i)] for i in rows]
        expected = cfg.stack([cfg.traced_part(c) for c in [*real, real[-1]]])
        for got, want in zip(jax.tree.leaves(params), jax.tree.leaves(expected), strict=True):
            got = np.asarray(got)
            assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
        want_words = np.stack([key_words(7, c) for c in [*real, real[-1]]])
        assert np.array_equal(np.asarray(words), want_words)
        assert chunk.ids.astype("U24").tolist() == [identity(c) for c in real]
