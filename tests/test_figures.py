"""Figures from synthetic run directories (no JAX): files, boundary.json, CLI, JAX-free.

The synthetic run has a known boundary: the final error falls from the weak error to
0.2 × weak around ``n*(nu) = N0 (nu / 2)^-4``, crossing half the weak error at
``n = sqrt(5/3) n*``, so the measured boundary has slope −4 in ``(log nu, log n)``.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import matplotlib.colors
import numpy as np
import pytest

import w2s_jax.analysis.figures as figures
from w2s_jax.analysis import run_boundary, storage
from w2s_jax.analysis.curve_figures import NOISE, SIGNAL
from w2s_jax.analysis.figure_helper import FigureHelper
from w2s_jax.analysis.figure_plan import format_value
from w2s_jax.analysis.figure_style import REGIME_COLOURS
from w2s_jax.analysis.theory import benign_score
from w2s_jax.plot import main

FIXED = {"data.d": 8000.0, "data.sigma_p": 1.0, "data.p_easy": 0.35, "data.p_hard": 0.30,
         "data.nu_norm": 5.0, "strong.n": 2000, "strong.lr": 1.0}  # fmt: skip
N0, WEAK = 3000.0, 0.15
STEPS = np.array([0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000])
CURVES = ("test_error", "train_acc_pseudo", "label_correction", "signal_mu", "signal_nu",
          "signal_neg_nu", "noise_clean", "noise_flipped")  # fmt: skip


def crossing_n(nu):
    return np.sqrt(5 / 3) * N0 * (np.asarray(nu) / 2.0) ** -4


def make_run(directory: Path, axes: dict, seeds=3, spacing=None, status="complete", zipped=()):
    """A run directory whose final error depends on strong.n and data.nu_norm as above.

    Diverged (NaN): seed 1 at strong.lr = 10, and every seed with strong.activation = "gelu".
    """
    keys = list(axes)
    groups = list(dict.fromkeys(next((z for z in zipped if k in z), (k,)) for k in keys))
    positions = itertools.product(*(range(len(axes[g[0]])) for g in groups), range(seeds))
    configs = [{**{k: axes[k][i] for g, i in zip(groups, ix[:-1], strict=True) for k in g},
                "seed": ix[-1]} for ix in positions]  # fmt: skip
    rng = np.random.default_rng(0)
    rows = {name: [] for name in CURVES}
    summary = {k: np.array([c[k] for c in configs]) for k in [*keys, "seed"]}
    weak, final, regime = [], [], []
    for c in configs:
        n, nu = c.get("strong.n", FIXED["strong.n"]), c.get("data.nu_norm", FIXED["data.nu_norm"])
        w = WEAK + 0.004 * rng.standard_normal()
        r = n / (N0 * (nu / 2.0) ** -4)
        f = w * (0.2 + 0.8 / (1 + r**2)) + 0.002 * rng.standard_normal()
        ramp = 1 - np.exp(-STEPS / 50)
        curves = {"test_error": w + (f - w) * ramp, "train_acc_pseudo": 0.7 + 0.3 * ramp,
                  "label_correction": 0.6 * np.exp(-STEPS / 200) * (r > 1),
                  "signal_mu": 3 * ramp, "signal_nu": 2 * ramp * min(r, 1),
                  "signal_neg_nu": 0.5 * ramp, "noise_clean": ramp / (1 + r),
                  "noise_flipped": 2 * ramp / (1 + r)}  # fmt: skip
        if (c["seed"] == 1 and c.get("strong.lr") == 10.0) or c.get("strong.activation") == "gelu":
            f, curves = np.nan, {k: np.full(len(STEPS), np.nan) for k in curves}
        if c.get("data.nu_norm") == max(axes.get("data.nu_norm", [0])):  # not evaluated late
            curves["test_error"][-2:] = np.nan
        for name in CURVES:
            rows[name].append(curves[name])
        weak.append(w)
        final.append(f)
        regime.append("diverged" if np.isnan(f) else "benign" if f <= 0.5 * w else "harmful")
    weak, final = np.array(weak), np.array(final)
    summary.update(weak_test_error=weak, strong_test_error=final, w2s_gain=weak - final,
                   regime=np.array(regime), diverged=np.isnan(final))  # fmt: skip
    spacing = spacing or {k: "geomspace" for k in keys}
    grid = {"name": "synthetic", "seed": 0, "parameters": FIXED, "axes": axes,
            "spacing": spacing, "zip": [list(z) for z in zipped], "seeds": seeds}  # fmt: skip
    storage.write_json(directory / "manifest.json", {"grid": grid, "status": status})
    storage.write_summary(directory / "summary.csv", summary)
    storage.write_curves(directory, STEPS, {k: np.array(v, float) for k, v in rows.items()})
    return directory


N_AXIS = [float(v) for v in np.round(np.geomspace(30, 30000, 10))]
NU_AXIS = [float(v) for v in np.geomspace(2.0, 4.0, 4)]


@pytest.fixture(scope="module")
def phase_run(tmp_path_factory):
    """The synthetic (strong.n x data.nu_norm) run, drawn by the CLI in a fresh process
    that must end with no JAX module loaded."""
    directory = make_run(tmp_path_factory.mktemp("phase"),
                         {"strong.n": N_AXIS, "data.nu_norm": NU_AXIS})  # fmt: skip
    code = (
        "import sys\n"
        "from w2s_jax.plot import main\n"
        f"assert main([{str(directory)!r}]) == 0\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib'))\n"
        "assert not loaded, loaded\n"
    )
    src = str(Path(figures.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return directory, result


def assert_figures(directory: Path, names) -> None:
    """Each of ``names`` drawn as a PNG (PNG only by default), no two the same image."""
    drawn = {}
    for name in names:
        path = directory / "figures" / f"{name}.png"
        assert path.is_file(), path
        drawn[name] = path.read_bytes()
        assert len(drawn[name]) > 1000 and drawn[name][:4] == b"\x89PNG", path
    assert len(set(drawn.values())) == len(drawn)


def test_plotting_never_imports_jax(phase_run):
    _, result = phase_run
    assert result.returncode == 0, result.stderr[-2000:]


def test_phase_run_draws_every_figure(phase_run):
    directory, _ = phase_run
    assert_figures(
        directory,
        [
            "test_error",
            "phase_data_nu_norm_strong_n",
            "regimes",
            "phase_data_nu_norm_strong_n_gain",
            "trajectories",
            "signal_noise",
        ],
    )


def test_boundary_json_recovers_the_synthetic_boundary(phase_run):
    directory, _ = phase_run
    report = json.loads((directory / "boundary.json").read_text())
    assert {"x", "y", "slope", "slope_ci", "theory_slope", "points"} <= set(report)
    assert (report["x"], report["y"], report["theory_slope"]) == ("data.nu_norm", "strong.n", -4)
    assert report["slope"] == pytest.approx(-4.0, abs=0.4)
    # The joint fit, with one parameter of the law swept, is the same slope.
    assert report["exponents"]["data.nu_norm"] == pytest.approx(report["slope"], abs=1e-6)
    assert report["theory_exponents"] == {"data.nu_norm": -4.0}
    lo, hi = report["slope_ci"]
    assert lo <= report["slope"] <= hi
    measured = np.array([p["n"] for p in report["points"]])
    np.testing.assert_allclose(measured, crossing_n(NU_AXIS), rtol=0.25)
    # The threshold is half the seed-mean weak error at each x; C is the score at the boundary.
    assert np.allclose(report["threshold"], 0.5 * WEAK, atol=0.01)
    truth_c = benign_score(crossing_n(2.0), 0.35, 2.0, 1.0, 8000.0)
    assert report["C_fit"] == pytest.approx(float(truth_c), rel=0.3)
    assert run_boundary.write_boundary(directory) == report
    # Every threshold and statistic: the error w (0.2 + 0.8 / (1 + r^2)) crosses q w at
    # r^2 = 0.8 / (q - 0.2) - 1; the floor 0.12 p_hard = 0.036 is q = 0.24 of w = 0.15.
    rules = {(e["rule"], e["statistic"]): e for e in report["thresholds"]}
    names = ("0.5 x weak error", "0.25 x weak error", "0.12 x p_hard")
    assert set(rules) == {(r, s) for r in names for s in ("mean", "median")}
    for (rule, _), entry in rules.items():
        q = {"0.5 x weak error": 0.5, "0.25 x weak error": 0.25, "0.12 x p_hard": 0.24}[rule]
        r = np.sqrt(0.8 / (q - 0.2) - 1)
        assert entry["slope"] == pytest.approx(-4.0, abs=0.5), (rule, entry["slope"])
        assert entry["exponents"]["data.nu_norm"] == pytest.approx(entry["slope"], abs=1e-6)
        measured = np.array([p["n"] for p in entry["points"]], float)
        # (rtol: linear interpolation between n a factor 2.15 apart)
        np.testing.assert_allclose(measured, r * N0 * (np.array(NU_AXIS) / 2) ** -4, rtol=0.4)
    assert rules["0.12 x p_hard", "mean"]["threshold"] == pytest.approx([0.036] * 4)
    assert run_boundary.read_boundary(directory) == report  # current: the figures read it


def test_cli_on_one_axis_grid_draws_a_strip_and_no_boundary(tmp_path, capsys):
    run = make_run(tmp_path, {"strong.n": N_AXIS[:5]})
    assert main([str(run), "--points", "strong.n=30", "strong.n=300"]) == 0
    assert "trajectories" in capsys.readouterr().out
    assert_figures(run, ["test_error", "regimes", "trajectories", "signal_noise"])
    assert not list((run / "figures").glob("phase_*")) and not (run / "boundary.json").exists()
    assert run_boundary.write_boundary(run) is None


def test_cli_refuses_missing_or_incomplete_runs(tmp_path, capsys):
    partial = make_run(tmp_path / "partial", {"strong.n": [10.0, 20.0]}, status="partial")
    no_summary = make_run(tmp_path / "nosummary", {"strong.n": [10.0, 20.0]})
    (no_summary / "summary.csv").unlink()
    complete = make_run(tmp_path / "complete", {"strong.n": [10.0, 20.0]})
    for bad, argv in [(tmp_path / "nowhere", []), (partial, []), (no_summary, []),
                      (complete, ["--points", "data.d=1"])]:  # fmt: skip
        assert main([str(bad), *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert not (complete / "figures").exists()


def test_no_axis_grid_still_gets_curves(tmp_path):
    run = make_run(tmp_path, {}, seeds=2)
    figures.draw_run(run)
    assert_figures(run, ["test_error", "trajectories", "signal_noise"])
    assert not (run / "figures" / "regimes.png").exists()


def test_three_axes_fix_the_third_and_survive_nan(tmp_path):
    axes = {"data.nu_norm": NU_AXIS[:2], "strong.lr": [1.0, 10.0], "strong.n": N_AXIS[::4]}
    run = make_run(tmp_path, axes, spacing={"strong.lr": "list", "strong.n": "list"})
    figures.draw_run(run)
    assert not (run / "boundary.json").exists()  # drawing never writes the boundary
    run_boundary.write_boundary(run)
    assert_figures(run, ["phase_data_nu_norm_strong_n", "regimes", "test_error"])
    # strong.n against two other axes: no two-axis slope, but the boundary law's fit
    # over the cells (each (nu_norm, lr) pair a cell).
    report = json.loads((run / "boundary.json").read_text())
    assert "slope" not in report and set(report["exponents"]) == {"data.nu_norm"}


def test_zipped_and_categorical_axes_with_an_all_diverged_slice(tmp_path):
    axes = {"strong.activation": ["gelu", "relu"], "strong.n": N_AXIS[::3],
            "strong.lr": [0.1, 0.2, 0.5, 1.0]}  # fmt: skip
    run = make_run(tmp_path, axes, seeds=2, zipped=[("strong.n", "strong.lr")])
    layout = figures.Layout(storage.load_run(run))
    assert layout.keys == ["strong.activation", "strong.n"] and layout.shape == (2, 4)
    figures.draw_run(run, points={"strong.lr": ["0.5"]})  # a zipped key picks its group
    assert_figures(run, ["phase_strong_activation_strong_n", "regimes", "trajectories"])
    assert run_boundary.write_boundary(run) is None  # a categorical x has no boundary slope
    assert not (run / "boundary.json").exists()


def test_a_zipped_axis_may_repeat_a_value(tmp_path):
    """Zipping d with the init (today's against the theorem's, at each d) repeats each d:
    every row must find its own position on the group, not the first equal d."""
    axes = {"data.d": [1e6, 1e8, 1e6, 1e8], "strong.lr": [0.1, 0.1, 1.0, 1.0],
            "strong.n": N_AXIS[:2]}  # fmt: skip
    run = make_run(tmp_path, axes, seeds=2, zipped=[("data.d", "strong.lr")])
    layout = figures.Layout(storage.load_run(run))
    assert layout.shape == (4, 2) and (layout.index >= 0).all()
    assert sorted(np.bincount(layout.index[:, 0])) == [4, 4, 4, 4]
    figures.draw_run(run)
    assert_figures(run, ["test_error", "regimes"])


def test_layout_and_point_choice(phase_run):
    run = storage.load_run(phase_run[0])
    layout = figures.Layout(run)
    assert layout.shape == (10, 4) and len(layout.seeds) == 3
    cube = layout.cube(run.summary["strong_test_error"])
    i, j = 7, 2
    rows = layout.rows((i, j))
    assert np.allclose(np.sort(cube[i, j]), np.sort(run.summary["strong_test_error"][rows]))
    assert np.all(run.summary["strong.n"][rows] == N_AXIS[i])
    assert len(figures.representative(layout)) <= figures.MAX_LINES
    assert figures.choose_points(layout) == [(0, 0), (3, 0), (6, 0), (9, 0)]
    chosen = figures.choose_points(layout, {"strong.n": ["30", "30000"], "data.nu_norm": ["2"]})
    assert chosen == [(0, 0), (9, 0)]
    with pytest.raises(figures.PlotError, match="data.d"):
        figures.choose_points(layout, {"data.d": ["1"]})
    with pytest.raises(figures.PlotError, match="strong.n takes one of"):
        figures.choose_points(layout, {"strong.n": ["31"]})


def test_report_table_pools_seeds_per_point(phase_run, capsys):
    from w2s_jax import report

    directory = phase_run[0]
    assert report.main([str(directory)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    run = storage.load_run(directory)
    points = {tuple(run.summary[k][i] for k in run.axes if k != "seed") for i in range(len(run))}
    assert len(lines) == 2 + len(points)  # header, rule, one row per swept point
    first = lines[2].split(" | ")
    rows = np.flatnonzero(
        [
            all(run.summary[k][i] == run.summary[k][0] for k in run.axes if k != "seed")
            for i in range(len(run))
        ]
    )
    mean = np.nanmean(run.summary["strong_test_error"][rows])
    header = lines[0].split(" | ")
    assert first[header.index("strong_test_error")].startswith(f"{mean:.3f}")
    assert report.main([str(directory / "missing")]) == 2


def test_a_helper_process_draws_half_the_figures_the_same_bytes(tmp_path):
    axes = {"data.nu_norm": NU_AXIS[:2], "strong.n": N_AXIS[::4]}
    run = make_run(tmp_path, axes, seeds=2)
    drawn_alone = {p.name: p.read_bytes() for p in figures.draw_run(run)}
    helper = FigureHelper.start()
    if helper is None:
        pytest.skip("one core: no helper")
    try:
        together = figures.draw_run(run, helper=helper)
        assert sorted(p.name for p in together) == sorted(drawn_alone)
        assert {p.name: p.read_bytes() for p in together} == drawn_alone
        # It draws from the results it is sent, not from files: into a directory that
        # holds none of the run's outputs, the same bytes (two figures: the check).
        loaded, bare = storage.load_run(run), tmp_path / "bare"
        bare.mkdir()
        sent = storage.RunResults(bare, loaded.manifest, loaded.summary, loaded.curves,
                                  loaded.steps)  # fmt: skip
        names = ["test_error", "phase_data_nu_norm_strong_n"]
        job = {"directory": str(bare), "names": names, "points": None, "formats": ["png"],
               "boundary": run_boundary.boundary_of(loaded)}  # fmt: skip
        assert helper.send(job, sent)
        assert sorted(Path(p).name for p in helper.receive()["paths"]) == sorted(
            f"{name}.png" for name in names
        )
        assert {p.name: p.read_bytes() for p in (bare / "figures").iterdir()} == {
            f"{name}.png": drawn_alone[f"{name}.png"] for name in names
        }
        assert [p.name for p in bare.iterdir()] == ["figures"]
        # A helper that died: the figures are drawn here all the same.
        helper.process.kill()
        helper.process.wait()
        assert sorted(p.name for p in figures.draw_run(run, helper=helper)) == sorted(drawn_alone)
    finally:
        helper.close()


def test_a_users_unguarded_script_runs_once_with_its_figure_helper(tmp_path):
    """The helper is a plain subprocess: a script calling w2s_jax.run at its top level
    (no ``if __name__ == "__main__"``) is not run again in it (multiprocessing's spawn
    would)."""
    script = tmp_path / "experiment.py"
    script.write_text(
        "import sys, w2s_jax\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from conftest import TINY\n"
        "grid = w2s_jax.make_grid(TINY, sweep={'seeds': 2})\n"
        "w2s_jax.run(grid, sys.argv[2], quiet=True, figures=True)\n"
        "print('ran once')\n"
    )
    tests = str(Path(__file__).parent)
    result = subprocess.run(
        [sys.executable, str(script), tests, str(tmp_path / "run")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ran once") == 1 and "already being run" not in result.stderr
    assert len(list((tmp_path / "run" / "figures").glob("*.png"))) >= 3


# ----------------------------------------------------------------- what is drawn


def drawn_jobs(directory: Path) -> dict:
    run = storage.load_run(directory)
    layout = figures.Layout(run)
    boundary = run_boundary.boundary_of(run)
    return run, layout, dict(figures.figure_jobs(run, layout, figures.choose_points(layout),
                                                 boundary))  # fmt: skip


def test_the_phase_map_draws_the_measured_boundary_and_the_theory_line(phase_run):
    run, layout, jobs = drawn_jobs(phase_run[0])
    report = run_boundary.read_boundary(phase_run[0])
    fig = jobs["phase_data_nu_norm_strong_n"]()
    ax = fig.axes[0]
    # The heatmap: the seed-mean final error per (nu, n) cell.
    mesh = ax.collections[0]
    cube = layout.cube(run.summary["strong_test_error"])  # (n, nu, seed)
    np.testing.assert_allclose(mesh.get_array().reshape(len(N_AXIS), len(NU_AXIS)),
                               np.nanmean(cube, axis=2))  # fmt: skip
    # The crossings with their CIs, as boundary.json has them.
    points = [p for p in report["points"] if p["n"] is not None]
    bars = [c for c in ax.containers if hasattr(c, "lines")][0]
    x, y = bars.lines[0].get_data()
    np.testing.assert_allclose(x, [p["x"] for p in points])
    np.testing.assert_allclose(y, [p["n"] for p in points])
    # The theory's line B = C at the fitted C: n = C sigma_p^4 d / (p_both^2 nu^4).
    line = next(line for line in ax.get_lines() if line.get_linestyle() == "--")
    nu, n = line.get_data()
    p_both = 1 - FIXED["data.p_easy"] - FIXED["data.p_hard"]
    np.testing.assert_allclose(n, report["C_fit"] * FIXED["data.d"] / (p_both**2 * nu**4))
    assert nu.min() < min(NU_AXIS) and nu.max() > max(NU_AXIS)


def test_the_curves_drawn_are_the_seed_means(phase_run):
    run, layout, jobs = drawn_jobs(phase_run[0])
    ax = jobs["test_error"]().axes[0]  # the first panel: the second axis' first value
    solid = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    points = [p for p in figures.representative(layout) if p[1] == 0]
    assert len(solid) == len(points)
    for line, point in zip(solid, points, strict=True):
        rows = layout.rows(point)
        mean = np.nanmean(run.curves["test_error"][rows], axis=0)
        ok = np.isfinite(mean)
        np.testing.assert_allclose(line.get_ydata(), mean[ok])
    dashed = [line.get_ydata()[0] for line in ax.get_lines() if line.get_linestyle() == "--"]
    weak = [np.mean(run.summary["weak_test_error"][layout.rows(p)]) for p in points]
    np.testing.assert_allclose(dashed, weak)


def test_the_gain_map_is_the_seed_mean_gain_centred_at_zero(phase_run):
    run, layout, jobs = drawn_jobs(phase_run[0])
    mesh = jobs["phase_data_nu_norm_strong_n_gain"]().axes[0].collections[0]
    mean = np.nanmean(layout.cube(run.summary["w2s_gain"]), axis=2)  # (n, nu)
    np.testing.assert_allclose(mesh.get_array().reshape(len(N_AXIS), len(NU_AXIS)), mean)
    assert mesh.norm.vmax == -mesh.norm.vmin == pytest.approx(np.nanmax(np.abs(mean)))


def test_the_regimes_map_colours_each_cell_by_its_seeds_majority(phase_run):
    run, layout, jobs = drawn_jobs(phase_run[0])
    ax = jobs["regimes"]().axes[0]
    cube = layout.cube(run.summary["regime"])  # (n, nu, seed)
    cells = {}
    for patch in ax.patches:  # x: nu, y: n; a cell's centre is nearest its value in log
        x, y = patch.get_x() + patch.get_width() / 2, patch.get_y() + patch.get_height() / 2
        cell = (np.abs(np.log(N_AXIS) - np.log(y)).argmin(),
                np.abs(np.log(NU_AXIS) - np.log(x)).argmin())  # fmt: skip
        cells[cell] = (patch.get_facecolor(), patch.get_hatch())
    assert len(cells) == len(ax.patches) == len(N_AXIS) * len(NU_AXIS)
    for (i, j), (colour, hatch) in cells.items():
        seeds = Counter(str(v) for v in cube[i, j])
        majority = seeds.most_common(1)[0][0]
        assert colour == matplotlib.colors.to_rgba(REGIME_COLOURS[majority])
        assert (hatch is not None) == (len(seeds) > 1)
    assert {"benign", "harmful"} <= set(run.summary["regime"])  # both sides are drawn


def test_signal_and_noise_are_drawn_as_seed_means(phase_run):
    run, layout, jobs = drawn_jobs(phase_run[0])
    fig = jobs["signal_noise"]()
    points = figures.choose_points(layout)
    axes = np.array(fig.axes).reshape(len(points), 2)
    for (signal, noise), point in zip(axes, points, strict=True):
        rows = layout.rows(point)
        for ax, names in ((signal, SIGNAL), (noise, NOISE)):
            lines = ax.get_lines()
            assert len(lines) == len(names)
            for line, (name, _, style) in zip(lines, names, strict=True):
                np.testing.assert_allclose(line.get_ydata(), run.curves[name][rows].mean(0))
                assert line.get_linestyle() == style


def test_drawing_reads_the_boundary_and_never_measures_it_again(phase_run, monkeypatch):
    """boundary.json is measured once (run end or the plot CLI); drawing reads it."""

    def measure(run):
        raise AssertionError("measured while drawing")

    monkeypatch.setattr(run_boundary, "measure_boundary", measure)
    assert run_boundary.boundary_of(storage.load_run(phase_run[0]))["points"]


def test_the_scaled_axis_gets_the_theory_line_too(tmp_path):
    """data.nu_norm_scaled on x (nu_norm = s sigma_p d^(1/4), so B = n p_both^2 s^4): the
    boundary's slope is -4 in s and the theory's line is n = C / (p_both^2 s^4)."""
    run = make_run(tmp_path, {"strong.n": N_AXIS, "data.nu_norm": NU_AXIS})
    manifest = storage.read_json(run / "manifest.json")
    grid = manifest["grid"]
    scale = FIXED["data.sigma_p"] * FIXED["data.d"] ** 0.25
    grid["axes"] = {"strong.n": N_AXIS, "data.nu_norm_scaled": [v / scale for v in NU_AXIS]}
    grid["spacing"] = {k: "geomspace" for k in grid["axes"]}
    grid["parameters"] = {k: v for k, v in FIXED.items() if k != "data.nu_norm"}
    storage.write_json(run / "manifest.json", manifest)
    summary = storage.read_summary(run / "summary.csv")
    summary["data.nu_norm_scaled"] = summary["data.nu_norm"] / scale  # the raw column stays
    storage.write_summary(run / "summary.csv", summary)
    report = run_boundary.write_boundary(run)
    assert report["x"] == "data.nu_norm_scaled" and report["theory_slope"] == -4
    assert report["slope"] == pytest.approx(-4.0, abs=0.4)
    p_both = 1 - FIXED["data.p_easy"] - FIXED["data.p_hard"]
    s_star = np.array([p["x"] for p in report["points"]])
    n_star = np.array([p["n"] for p in report["points"]])
    c_fit = float(np.exp(np.mean(np.log(n_star * p_both**2 * s_star**4))))
    assert report["C_fit"] == pytest.approx(c_fit, rel=1e-9)  # the score at the crossings
    _, _, jobs = drawn_jobs(run)
    ax = jobs["phase_data_nu_norm_scaled_strong_n"]().axes[0]
    line = next(line for line in ax.get_lines() if line.get_linestyle() == "--")
    s, n = line.get_data()
    np.testing.assert_allclose(n, report["C_fit"] / (p_both**2 * s**4))
    assert "sigma_p" in ax.get_xlabel()


def test_the_collapse_figure_colours_by_n_draws_medians_and_the_benign_fraction(tmp_path):
    run = make_run(tmp_path, {"strong.n": N_AXIS[::3], "data.nu_norm": NU_AXIS}, seeds=3)
    run_boundary.write_boundary(run)
    loaded, _, jobs = drawn_jobs(run)
    fig = jobs["collapse"]()
    left, right = fig.axes[:2]
    assert "d = 8000" in fig._suptitle.get_text() and "every n falls" in fig._suptitle.get_text()
    medians = [line for line in left.get_lines() if line.get_marker() == "o"]
    shares = [line for line in right.get_lines() if line.get_marker() == "o"]
    assert len(medians) == len(shares) == len(N_AXIS[::3])  # one per n
    summary = loaded.summary
    for n, median, share in zip(N_AXIS[::3], medians, shares, strict=True):
        rows = summary["strong.n"] == n
        nus = np.unique(summary["data.nu_norm"][rows])
        pick = [rows & (summary["data.nu_norm"] == nu) for nu in nus]
        want = [np.median(summary["strong_test_error"][r]) for r in pick]
        benign = summary["strong_test_error"] <= 0.5 * summary["weak_test_error"]
        np.testing.assert_allclose(median.get_ydata(), want)
        np.testing.assert_allclose(share.get_ydata(), [benign[r].mean() for r in pick])
        assert median.get_label() == f"$n = {format_value(n)}$"


def test_an_older_boundary_json_is_measured_again_not_trusted(tmp_path):
    """A run directory from before boundary.json had a digest (or whose results changed
    since) still plots: its file is not current, so the boundary is measured again."""
    run = make_run(tmp_path, {"strong.n": N_AXIS[::3], "data.nu_norm": NU_AXIS[:2]}, seeds=2)
    storage.write_json(run / "boundary.json", {"x": "data.nu_norm", "points": []})  # version 1
    assert run_boundary.read_boundary(run) is None
    measured = run_boundary.boundary_of(storage.load_run(run))
    assert measured["points"] and measured["version"] == run_boundary.VERSION
    assert main([str(run)]) == 0  # the plot CLI rewrites it
    assert run_boundary.read_boundary(run) == measured
