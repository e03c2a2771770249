"""A strict, fast test environment.

* A persistent compilation cache in a fresh temporary directory, shared by the tests
  and their subprocesses.
* XLA's LLVM backend at optimisation level 0: compiles take a third of the time and the
  test sizes are tiny (set before JAX is imported).
* ``jax_numpy_rank_promotion = "raise"``: no silent broadcasting between ranks.
* ``x64``: a fixture for the float64 reference checks, restored afterwards.
"""

from __future__ import annotations

import os
import tempfile

# A fresh persistent compilation cache for this session (never the user's): programs
# compiled by one test, or by a CLI subprocess, are read back by the others.
# pytest-xdist workers inherit the controller's directory (W2S_TEST_CACHE marks it).
if "W2S_TEST_CACHE" not in os.environ:
    os.environ["W2S_TEST_CACHE"] = tempfile.mkdtemp(prefix="w2s_jax-test-cache-")
os.environ["XDG_CACHE_HOME"] = os.environ["W2S_TEST_CACHE"]
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
).strip()

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")

TINY = {
    "data.d": 200,
    "weak.n": 60,
    "weak.steps": 30,
    "weak.lr": 0.2,
    "strong.n": 40,
    "strong.m": 3,
    "strong.steps": 40,
    "eval.n_test": 300,
    "eval.points": 8,
    "run.backend": "dense",
}


def tiny_grid_text(head="", strong="", run='backend = "dense"', tail="") -> str:
    """A grid file with TINY's sizes: ``head`` (name, seed) first, extra lines of
    ``[strong]`` and ``[run]``, then ``tail`` (``[sweep]``, ``[boundary]``)."""
    return f"""{head}
[data]
d = 200
[weak]
n = 60
steps = 30
[strong]
m = 3
steps = 40
{strong}
[eval]
n_test = 300
points = 8
[run]
{run}
{tail}"""


def tiny_config(**overrides) -> dict:
    """A resolved configuration with tiny sizes (keys with dots passed via **{...})."""
    from w2s_jax.execution.grid_checks import resolve
    from w2s_jax.simulation import fields

    c = {**fields.defaults(), **TINY, "seed": 0}
    c.update(overrides)
    return resolve(c)


@pytest.fixture
def x64():
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", False)


def run_curves(directory) -> dict:
    """A run directory's ``steps`` and curves, read into memory (from ``curves/``)."""
    from w2s_jax.analysis import storage

    steps, curves = storage.read_curves(directory, storage.curve_files(directory))
    return {"steps": steps, **{name: np.array(values) for name, values in curves.items()}}


def curve_bytes(directory) -> dict:
    """Every curve file of a run directory, as bytes (``curves/<name>.npy``)."""
    from pathlib import Path

    from w2s_jax.analysis import storage

    return {name: (Path(directory) / name).read_bytes() for name in storage.curve_files(directory)}
