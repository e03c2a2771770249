"""The built-in default grid shows what its comments and the README say it shows: harmful
overfitting at n = 8, benign overfitting at n = 256, label correction then overtraining
at n = 8192, every seed agreeing.

A reduced-size run of that very grid (2 seeds, 1000 test points, 13 evaluation steps;
same d, n, step budgets and physics) is held to the engine's regime thresholds with a
statistical margin: each deciding quantity must clear its threshold by at least three
binomial standard errors of a test error measured on 1000 points (``3 · sqrt(0.25 /
1000) ≈ 0.047`` at worst, ``≈ 0.02`` at the errors involved) rather than merely land on
the right side of it. The full grid's own margins (docs/REPRODUCTION.md §8) are wider.
"""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from w2s_jax import api
from w2s_jax.analysis.regimes import RegimeThresholds
from w2s_jax.sweep import DEFAULT_GRID

N_TEST = 1000


def _margin(error: np.ndarray) -> np.ndarray:
    """Three binomial standard errors of a test error measured on ``N_TEST`` points."""
    return 3 * np.sqrt(np.clip(error * (1 - error), 0.01, None) / N_TEST)


@pytest.fixture(scope="module")
def reduced_default(tmp_path_factory):
    raw = tomllib.loads(DEFAULT_GRID.read_text())
    raw["eval"].update(n_test=N_TEST, points=13)
    raw["sweep"]["seeds"] = 2
    run = api.run(raw, tmp_path_factory.mktemp("default") / "run", quiet=True)
    columns = {k: np.asarray(v) for k, v in run.summary.items()}
    return {
        int(n): {k: v[columns["strong.n"] == n] for k, v in columns.items()}
        for n in np.unique(columns["strong.n"])
    }


def test_default_grid_is_the_documented_one():
    raw = tomllib.loads(DEFAULT_GRID.read_text())
    assert raw["sweep"]["strong.n"] == [8, 256, 8192]
    assert raw["sweep"]["seeds"] >= 4
    assert raw["data"]["hard_sign"] == "paired"


def test_small_n_overfits_harmfully(reduced_default):
    t, p = RegimeThresholds(), reduced_default[8]
    assert (p["regime"] == "harmful").all(), p["regime"]
    assert (p["train_acc_pseudo"] >= t.interpolation_threshold).all()
    final = p["strong_test_error"]
    assert (final - t.benign_fraction * p["weak_test_error"] > _margin(final)).all(), final
    # it never learns the hard signal: a coin flip on hard-only data
    assert (p["strong_hard_error"] > 0.35).all(), p["strong_hard_error"]


def test_middle_n_overfits_benignly(reduced_default):
    t, p = RegimeThresholds(), reduced_default[256]
    assert (p["regime"] == "benign").all(), p["regime"]
    assert (p["train_acc_pseudo"] >= t.interpolation_threshold).all()
    final = p["strong_test_error"]
    assert (t.benign_fraction * p["weak_test_error"] - final > _margin(final)).all(), final
    # it interpolates the wrong labels and still learns the hard signal
    assert (p["strong_hard_error"] < 0.25).all(), p["strong_hard_error"]


def test_large_n_corrects_labels_then_overtrains(reduced_default):
    t, p = RegimeThresholds(), reduced_default[8192]
    assert (p["regime"] == "overtraining").all(), p["regime"]
    best, final, weak = p["strong_best_test_error"], p["strong_test_error"], p["weak_test_error"]
    assert (t.benign_fraction * weak - best > _margin(best)).all(), best
    assert (p["label_correction_at_best"] >= t.correction_threshold + 0.05).all()
    rise = final - best
    assert (rise - t.overtraining_fraction * weak > _margin(final)).all(), rise
