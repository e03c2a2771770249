"""The end-of-sweep report: mean ± standard error over seeds and the seed agreement of
the regime, per swept point."""

from __future__ import annotations

import numpy as np

from w2s_jax.analysis.regimes import RegimeThresholds
from w2s_jax.analysis.storage import RunResults
from w2s_jax.analysis.tables import findings


def test_findings_pool_seeds_per_point_and_count_regime_agreement():
    n = np.array([75, 75, 75, 2000, 2000, 2000])
    final = np.array([0.08, 0.10, 0.12, 0.05, 0.05, 0.05])
    summary = {
        "strong.n": n,
        "seed": np.array([0, 1, 2, 0, 1, 2]),
        "weak_test_error": np.full(6, 0.15),
        "strong_test_error": final,
        "strong_best_test_error": final - 0.01,
        "strong_best_step": np.full(6, 10.0),
        "strong_hard_error": np.full(6, 0.3),
        "label_correction_at_best": np.zeros(6),
        "regime": np.array(["harmful", "benign", "harmful", "benign", "benign", "benign"]),
    }
    grid = {"name": "g", "axes": {"strong.n": [75, 2000]}, "seeds": 3}
    run = RunResults(None, {"grid": grid}, summary, {}, np.arange(2))
    text = findings(run, RegimeThresholds(benign_fraction=0.4))
    rows = [
        line for line in text.splitlines() if line.startswith("| 75") or line.startswith("| 2000")
    ]
    # mean 0.10, s.e. = std(ddof=1) / sqrt(3) = 0.02 / sqrt(3) = 0.0115
    assert "| 0.100 ± 0.012 |" in rows[0] and rows[0].endswith("| harmful 2/3 |")
    assert "| 0.050 ± 0.000 |" in rows[1] and rows[1].endswith("| benign 3/3 |")
    assert "benign_fraction = 0.4" in text
