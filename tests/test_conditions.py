"""The theorem's conditions per configuration, against hand-computed values, and the
theorem's init scaling (``strong.sigma_0_theory``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from w2s_jax.analysis import conditions, figures
from w2s_jax.analysis.figure_plan import benign_scores
from w2s_jax.execution.grid import GridError, grid_from_dict


def test_quantities_match_hand_computed_values():
    # d = 1e6, n = 100, sigma_p = 2, mu = 10, nu = 5, sigma_0 = 1e-6, lr = 1e-7, m = 5.
    config = {
        "strong.n": 100, "data.d": 1e6, "data.sigma_p": 2.0, "data.mu_norm": 10.0,
        "data.nu_norm": 5.0, "strong.sigma_0": 1e-6, "strong.lr": 1e-7, "strong.m": 5,
        "strong.stop_loss": 0.05,
    }  # fmt: skip
    q = conditions.quantities(config)
    assert q["d_over_n2"] == pytest.approx(100.0)  # 1e6 / 1e4
    assert q["mu_ratio"] == pytest.approx(100 * 100 / (4 * 1e6))  # 2.5e-3
    assert q["nu_ratio"] == pytest.approx(100 * 25 / (4 * 1e6))  # 6.25e-4
    # sigma_0 sigma_p sqrt(d) / sqrt(n / d) = 1e-6 * 2 * 1e3 / 1e-2 = 0.2
    assert q["init_ratio"] == pytest.approx(0.2)
    assert q["lr_ratio"] == pytest.approx(1e-7 * 4 * 1e6)  # 0.4
    assert q["m_over_log_n"] == pytest.approx(5 / math.log(100))  # 1.086
    block = conditions.columns([config])
    assert bool(block["theorem_conditions_met"][0])
    # Break two: a large init (init_ratio 2) and no stopping rule.
    worse = {**config, "strong.sigma_0": 1e-5, "strong.stop_loss": 0.0}
    block = conditions.columns([config, worse])
    np.testing.assert_array_equal(block["theorem_init_ratio_ok"], [True, False])
    np.testing.assert_array_equal(block["theorem_stop_loss_ok"], [True, False])
    np.testing.assert_array_equal(block["theorem_conditions_met"], [True, False])
    np.testing.assert_array_equal(block["theorem_lr_ratio_ok"], [True, True])
    text = conditions.report_section(block)
    assert "1/2 configurations meet all" in text and "init_ratio (1)" in text
    assert "stop_loss (1)" in text and "lr_ratio" not in text


def test_sigma_0_theory_follows_the_theorem_scaling_and_meets_the_init_condition():
    grid = grid_from_dict(
        {
            "sweep": {"data.d": [1e6, 1e8], "strong.n": [32, 128]},
            "strong": {"sigma_0_theory": 0.03, "lr_scaled": 1.0, "stop_loss": 0.05},
            "data": {"sigma_p": 2.0},
        }
    )
    for c in grid.configurations():
        n, d = c["strong.n"], c["data.d"]
        assert c["strong.sigma_0"] == pytest.approx(0.03 * math.sqrt(n) / (2.0 * d))
        assert conditions.quantities(c)["init_ratio"] == pytest.approx(0.03)
    with pytest.raises(GridError, match="both given"):
        grid_from_dict({"strong": {"sigma_0_theory": 1.0, "sigma_0_scaled": 1.0}})


def test_dry_run_section_counts_configurations_meeting_each_condition():
    grid = grid_from_dict({"sweep": {"data.d": [1e3, 1e7]}, "strong": {"n": 100, "stop_loss": 0.1}})
    text = conditions.dry_run_section(grid.configurations())
    assert "d_over_n2" in text and "met by 1/2" in text  # d/n^2 = 0.1 and 1000
    assert text.splitlines()[0].endswith("0/2 configurations meet all")  # lr = 1: 1e3..1e7


def test_dry_run_summary_and_figures_carry_the_conditions_and_the_race(tmp_path):
    import w2s_jax
    from conftest import TINY

    tables = {"sweep": {"strong.n": [20, 30], "data.nu_norm": [4.0, 6.0]}, **TINY}
    grid = w2s_jax.make_grid(tables, run={"backend": "dense", "race": True})
    assert "theorem's conditions" in w2s_jax.describe(grid)
    run = w2s_jax.run(grid, tmp_path / "run", quiet=True, figures=True)
    expected = conditions.columns(grid.configurations())
    for name, values in expected.items():
        np.testing.assert_allclose(run.summary[name].astype(float), values.astype(float))
    assert "Theorem's conditions" in (tmp_path / "run" / "report.md").read_text()
    # The race at the stop: gamma / tau from the recorded curves.
    tau = run.curves["race_noise_test"][:, -1]
    np.testing.assert_allclose(
        run.summary["race_gamma_over_tau"], run.curves["race_nu_abs"][:, -1] / tau, rtol=1e-6
    )
    assert (tmp_path / "run" / "figures" / "race.png").is_file()
    # What race.png draws: gamma / tau and the init term against B (n nu^4 times one
    # constant here), with the heuristic sqrt(B) / 2.
    score, _ = benign_scores(run)
    per_n_nu4 = score / (run.summary["strong.n"] * run.summary["data.nu_norm"] ** 4)
    np.testing.assert_allclose(per_n_nu4, per_n_nu4[0], rtol=1e-12)
    left, right = dict(figures.figure_jobs(run, figures.Layout(run), []))["race"]().axes[:2]
    for ax, column in ((left, "race_gamma_over_tau"), (right, "race_init_over_tau")):
        drawn = np.asarray(ax.collections[0].get_offsets())
        np.testing.assert_allclose(drawn, np.stack([score, run.summary[column]], axis=1))
    x, y = left.get_lines()[0].get_data()
    np.testing.assert_allclose(y, np.sqrt(x) / 2)
    assert x.min() == pytest.approx(score.min()) and x.max() == pytest.approx(score.max())
