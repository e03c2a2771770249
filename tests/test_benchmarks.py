"""The benchmarks' baselines (benchmarks/baselines.py) simulate what w2s_jax simulates:
the check that ``python benchmarks/baselines.py`` used to print, as assertions."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import baselines  # noqa: E402
import common  # noqa: E402

TINY = {"data.d": 300, "strong.n": 40, "strong.m": 5, "strong.steps": 100, "weak.n": 200}
TINY |= {"weak.steps": 50, "eval.n_test": 500, "eval.points": 5}


def test_numpy_baseline_agrees_with_w2s_jax_on_average():
    configs = common.configurations(TINY, 16)
    _, finals = common.Sweep(configs)()
    cfgs = [common.baseline_config(c) for c in configs]
    runs = [baselines.run_numpy(c, 1000 + i) for i, c in enumerate(cfgs)]
    assert [len(r["test_error"]) for r in runs] == [len(c["eval_steps"]) for c in cfgs]
    # seed-to-seed spread of the final error ~0.065: a standard error of 0.016 a side
    assert abs(np.mean([r["test_error"][-1] for r in runs]) - finals.mean()) < 0.06
    # the teacher errs on about half the hard-only data: p_hard / 2 = 0.15
    assert abs(np.mean([r["weak_test_error"] for r in runs]) - 0.15) < 0.03


def test_torch_baseline_follows_numpy_on_the_same_draws():
    pytest.importorskip("torch")
    config = common.baseline_config(common.configurations(TINY, 1)[0])
    numpy_run, torch_run = baselines.run_numpy(config, 7), baselines.run_torch(config, 7)
    assert abs(numpy_run["weak_test_error"] - torch_run["weak_test_error"]) <= 0.01
    np.testing.assert_allclose(torch_run["test_error"], numpy_run["test_error"], atol=0.02)
