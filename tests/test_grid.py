"""Grid expansion: order, zip, ranges, defaults, overrides and theory-normalised keys."""

from __future__ import annotations

import math

import numpy as np
import pytest

from w2s_jax.execution.grid import GridError, grid_from_dict
from w2s_jax.simulation import config, fields
from w2s_jax.simulation.identity import identity, teacher_identity


def test_product_zip_and_seed_order():
    grid = grid_from_dict(
        {
            "strong": {"n": 2000},  # overridden by the sweep, as in the README's example
            "sweep": {
                "strong.n": [75, 2000, 20000],
                "strong.steps": [2000, 2000, 300],
                "data.nu_norm": {"linspace": [2.0, 4.0, 2]},
                "seeds": 2,
                "zip": [["strong.n", "strong.steps"]],
            },
        }
    )
    rows = [
        (c["strong.n"], c["strong.steps"], c["data.nu_norm"], c["seed"])
        for c in grid.configurations()
    ]
    assert rows == [
        (n, t, nu, s)
        for n, t in ((75, 2000), (2000, 2000), (20000, 300))
        for nu in (2.0, 4.0)
        for s in (0, 1)
    ]
    assert "strong.n" not in grid.fixed and grid.fixed["data.d"] == 8000


def test_geomspace_of_an_integer_key_rounds_and_merges_duplicates():
    grid = grid_from_dict({"sweep": {"strong.n": {"geomspace": [10, 12, 5]}}})
    assert grid.axes[0].values == (10, 11, 12)
    assert grid.axes[0].spacing == "geomspace"


def test_every_default_is_spec_section_7():
    d = fields.defaults()
    expected = {
        "data.d": 8000,
        "data.mu_norm": 8.0,
        "data.nu_norm": 5.0,
        "data.sigma_p": 1.0,
        "data.p_easy": 0.35,
        "data.p_hard": 0.30,
        "strong.m": 20,
        "strong.sigma_0": 0.01,
        "strong.lr": 1.0,
        "strong.steps": 2000,
        "weak.n": 2000,
        "weak.lr": 0.2,
        "weak.steps": 200,
        "eval.n_test": 4000,
    }
    assert {k: d[k] for k in expected} == expected


def test_theory_normalised_keys_resolve_per_configuration():
    grid = grid_from_dict(
        {
            "sweep": {"data.d": [1e4, 1e6]},
            "strong": {"lr_scaled": 3000.0, "sigma_0_scaled": 0.5},
            "data": {"nu_norm_scaled": 0.5, "sigma_p": 2.0},
        }
    )
    for c in grid.configurations():
        d = c["data.d"]
        assert c["strong.lr"] == pytest.approx(3000.0 / (4.0 * d))
        assert c["strong.sigma_0"] == pytest.approx(0.5 / (2.0 * math.sqrt(d)))
        assert c["data.nu_norm"] == pytest.approx(0.5 * 2.0 * d**0.25)
    with pytest.raises(GridError, match="both given"):
        grid_from_dict({"strong": {"lr_scaled": 1.0, "lr": 1.0}})


def test_randomness_is_shared_across_the_strong_side_only():
    a, b = grid_from_dict({"sweep": {"strong.n": [75, 2000]}}).configurations()
    assert identity(a) != identity(b)
    assert teacher_identity(a) == teacher_identity(b)  # paired across n
    c = grid_from_dict({"data": {"nu_norm": 4.0}}).configurations()[0]
    assert teacher_identity(c) != teacher_identity(a)


def test_flat_dotted_keys_are_accepted_from_python():
    grid = grid_from_dict({"data.d": 500, "strong.n": 10})
    assert grid.fixed["data.d"] == 500 and grid.fixed["strong.n"] == 10
    with pytest.raises(GridError, match="strong.nn"):
        grid_from_dict({"strong.nn": 10})


def test_auto_gd_form_is_dual_only_where_exact_and_cheaper():
    from w2s_jax.simulation.pipeline import use_dual_form

    def dual(n, dim, **overrides):
        c = grid_from_dict({"strong.steps": 500, **overrides}).configurations()[0]
        return use_dual_form(config.static_part(c), n, dim)

    assert dual(128, 1000)  # small n: 2 n^2 F per step instead of 4 n D F
    assert dual(128, 1000, **{"strong.optimizer": "momentum"})
    assert not dual(128, 1000, **{"strong.optimizer": "adam"})  # not exact for Adam
    assert not dual(4000, 1000)  # n > 2D: the primal products are smaller
    assert not dual(128, 1000, **{"strong.gd_form": "primal"})
    assert dual(4000, 1000, **{"strong.gd_form": "dual"})


def test_command_line_overrides_fix_sweep_or_name_keys():
    from w2s_jax.execution.grid import apply_overrides

    raw = {"strong": {"lr": 1.0}, "sweep": {"strong.n": [8, 16], "seeds": 2}}
    out = apply_overrides(
        raw, ("strong.lr=0.3", "strong.n=64", "data.d=[1e3, 1e4]", "seeds=5",
              "strong.activation=leaky_relu", "name=mine"), "<cli>"
    )  # fmt: skip
    assert out["strong"] == {"lr": 0.3, "n": 64, "activation": "leaky_relu"}
    assert out["sweep"] == {"seeds": 5, "data.d": [1e3, 1e4]} and out["name"] == "mine"
    assert raw["sweep"]["strong.n"] == [8, 16]  # the loaded grid itself is untouched
    grid = grid_from_dict(out)
    assert len(grid.configurations()) == 10 and grid.axis_keys == ("data.d",)
    for bad, named in (("strong.lr", "KEY=VALUE"), ("lr=0.3", "SECTION.NAME")):
        with pytest.raises(GridError, match=named):
            apply_overrides({}, (bad,), "<cli>")


def test_command_line_overrides_set_the_boundary_searchs_options():
    from w2s_jax.execution.boundary_section import parse_boundary
    from w2s_jax.execution.grid import apply_overrides

    raw = {"boundary": {"n_low": 32, "n_high": 1024, "seeds": 4}}
    out = apply_overrides(raw, ("boundary.n_low=512", "boundary.ci_factor=1.3"), "<cli>")
    assert out["boundary"] == {"n_low": 512, "n_high": 1024, "seeds": 4, "ci_factor": 1.3}
    assert raw["boundary"]["n_low"] == 32 and out["sweep"] == {}  # never an axis
    options = parse_boundary(out["boundary"], {}, set(), "<cli>")
    assert (options.n_low, options.n_high, options.ci_factor) == (512, 1024, 1.3)
    with pytest.raises(GridError, match="did you mean 'boundary.n_low'"):
        typo = apply_overrides(raw, ("boundary.n_lo=8",), "<cli>")["boundary"]
        parse_boundary(typo, {}, set(), "<cli>")
    for grid in ({}, {"boundary": 5}):  # no search to set an option of
        with pytest.raises(GridError, match="needs a \\[boundary\\] table"):
            apply_overrides(grid, ("boundary.seeds=4",), "<cli>")


@pytest.mark.parametrize("points", [2, 3, 8, 40])
@pytest.mark.parametrize("steps", [1, 7, 2000])
def test_evaluation_steps_start_at_zero_end_at_the_last_and_fit_their_budget(points, steps):
    from w2s_jax.simulation import config

    chosen = config.eval_steps(steps, points)
    assert chosen[0] == 0 and chosen[-1] == steps and len(chosen) <= points
    assert (np.diff(chosen) > 0).all()
    padded = config.padded_eval_steps(steps, points)
    assert len(padded) == points and set(padded) == set(chosen)


def test_run_one_is_validated_like_a_grid():
    from w2s_jax.api import run_one

    with pytest.raises(GridError, match="'strong.lr' and 'strong.lr_scaled' both given"):
        run_one({"strong.lr": 0.1, "strong.lr_scaled": 1.0})
    with pytest.raises(GridError, match="runs one configuration, got 2"):
        run_one({"sweep": {"strong.n": [10, 20]}})


def test_one_alias_table_gives_the_raw_values():
    from w2s_jax.analysis import aliases

    d, sigma_p, n = 2000.0, 1.5, 100.0
    assert aliases.unscale("data.nu_norm_scaled", 2.0, d, sigma_p) == 2.0 * sigma_p * d**0.25
    assert aliases.unscale("strong.lr_scaled", 3.0, d, sigma_p) == 3.0 / (sigma_p**2 * d)
    theory = aliases.unscale("strong.sigma_0_theory", 0.1, d, sigma_p, n)
    assert theory == 0.1 * math.sqrt(n) / (sigma_p * d)
    fixed = {"data.d": d, "data.sigma_p": sigma_p, "data.nu_norm_scaled": 2.0}
    assert aliases.raw_value(fixed, "data.nu_norm") == 2.0 * sigma_p * d**0.25
    assert aliases.raw_value({**fixed, "data.nu_norm": 7.0}, "data.nu_norm") == 7.0
    assert aliases.raw_value(fixed, "data.mu_norm") is None
    grid = grid_from_dict({"data.d": d, "data.sigma_p": sigma_p, "data.nu_norm_scaled": 2.0})
    assert grid.configurations()[0]["data.nu_norm"] == aliases.raw_value(fixed, "data.nu_norm")
