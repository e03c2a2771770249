"""The CLI: the output contract on a tiny grid, and clear errors for bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import run_curves, tiny_grid_text
from w2s_jax.sweep import main

TINY_GRID = tiny_grid_text(
    'name = "tiny"\nseed = 1',
    strong="ceiling = true",
    tail="""[sweep]
"strong.n" = [20, 24]
"data.nu_norm" = { geomspace = [3.0, 6.0, 2] }
seeds = 2""",
)

CONTRACT_COLUMNS = (
    "weak_test_error, weak_hard_error, flip_rate, strong_test_error, strong_best_test_error, "
    "strong_best_step, train_acc_pseudo, label_correction, label_correction_at_best, "
    "w2s_gain, pgr, regime, diverged"
).split(", ")
CURVES = (
    "test_error",
    "test_error_easy",
    "test_error_hard",
    "test_error_both",
    "train_loss",
    "train_acc_pseudo",
    "train_acc_true",
    "label_correction",
    "grad_weight_clean",
    "grad_weight_flipped",
    "signal_mu",
    "signal_nu",
    "signal_neg_nu",
    "noise_clean",
    "noise_flipped",
)


def write(tmp_path: Path, text: str, name: str = "grid.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_tiny_grid_writes_every_output(tmp_path, capsys):
    grid = write(tmp_path, TINY_GRID)
    out = tmp_path / "run"
    assert main([str(grid), "--out", str(out), "--quiet"]) == 0
    assert "summary.csv" in capsys.readouterr().out

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["grid"]["parameters"]["data.d"] == 200
    assert manifest["grid"]["axes"] == {"strong.n": [20, 24], "data.nu_norm": [3.0, 6.0]}
    assert manifest["configurations"] == 8 and manifest["status"] == "complete"
    for key in ("versions", "device", "dtype", "matmul_precision", "timing"):
        assert key in manifest
    assert {"jax", "w2s_jax"} <= set(manifest["versions"])
    timing, programs = manifest["timing"], manifest["programs"]
    assert timing["compiles"] == sum(len(p["compiles"]) for p in programs) >= 1
    logged = sum(c["seconds"] for p in programs for c in p["compiles"])
    assert abs(timing["compile_seconds"] - logged) <= 1e-3 * timing["compiles"]
    assert 0 < timing["compile_seconds"] < timing["wall_seconds"]

    with open(out / "summary.csv") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 8
    assert {"strong.n", "data.nu_norm", "seed", *CONTRACT_COLUMNS} <= set(rows[0])
    # Grid order: axes in file order, seeds innermost.
    order = [(int(r["strong.n"]), float(r["data.nu_norm"]), int(r["seed"])) for r in rows]
    assert order == [(n, nu, s) for n in (20, 24) for nu in (3.0, 6.0) for s in (0, 1)]
    assert all(r["pgr"] != "" for r in rows)  # the ceiling ran
    assert all(r["regime"] for r in rows)

    curves = run_curves(out)
    steps = curves["steps"]
    assert steps[0] == 0 and steps[-1] == 40
    for name in (*CURVES, "ceiling_test_error"):
        assert curves[name].shape == (8, len(steps)), name
    final = [float(r["strong_test_error"]) for r in rows]
    np.testing.assert_allclose(curves["test_error"][:, -1], final, rtol=1e-6)

    figures = {p.name for p in (out / "figures").iterdir()}
    assert "test_error.png" in figures and "test_error.pdf" not in figures  # PNG by default
    assert any(name.startswith("phase_") and name.endswith(".png") for name in figures)


BAD_INPUTS = {
    "malformed": ("[data\nd = 3", "malformed TOML"),
    "unknown key": ("[data]\nnu_nrom = 3.0", "nu_nrom"),
    "suggestion": ("[data]\nnu_nrom = 3.0", "did you mean 'data.nu_norm'"),
    "wrong type": ('[strong]\nn = "many"', "strong.n"),
    "probabilities": ("[data]\np_easy = 0.8\np_hard = 0.5", "p_easy + data.p_hard"),
    "n below one": ("[strong]\nn = 0", "strong.n"),
    "d too small": ("[data]\nd = 4", "data.d"),
    "negative norm": ("[data]\nnu_norm = -1.0", "data.nu_norm"),
    "negative step size": ("[strong]\nlr = -0.1", "strong.lr"),
    "zero count": ('[sweep]\n"data.nu_norm" = { geomspace = [1.0, 2.0, 0] }', "data.nu_norm"),
    "unequal zip": (
        '[sweep]\n"strong.n" = [1, 2]\n"strong.lr" = [1.0]\nzip = [["strong.n", "strong.lr"]]',
        "sweep.zip",
    ),
    "unknown swept key": ('[sweep]\n"strong.nn" = [1, 2]', "strong.nn"),
    "empty list": ('[sweep]\n"strong.n" = []', "strong.n"),
    "bad choice": ('[data]\nhard_sign = "sometimes"', "data.hard_sign"),
    "unknown activation": ('[strong]\nactivation = "gelu"', "strong.activation"),
    "unknown section": ("[dat]\nd = 10", "dat"),
    "dual form with adam": ('[strong]\noptimizer = "adam"\ngd_form = "dual"', "strong.gd_form"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_exits_2_naming_the_key(case, tmp_path, capsys):
    text, expected = BAD_INPUTS[case]
    grid = write(tmp_path, text)
    assert main([str(grid), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert expected in err and str(grid) in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_file_and_unwritable_directory(tmp_path, capsys):
    assert main([str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml" in capsys.readouterr().err
    grid = write(tmp_path, "[strong]\nn = 10")
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main([str(grid), "--out", str(blocker / "sub"), "--quiet"]) == 2
    assert "not writable" in capsys.readouterr().err


def test_no_traceback_from_the_real_process(tmp_path):
    grid = write(tmp_path, "[weak]\nsteps = -3")
    result = subprocess.run(
        [sys.executable, "-m", "w2s_jax.sweep", str(grid)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "weak.steps" in result.stderr and "Traceback" not in result.stderr


def test_key_table_is_generated_from_the_fields_and_docs_keys_md_is_current(capsys):
    from w2s_jax.analysis import aliases
    from w2s_jax.execution.grid_checks import keys_markdown
    from w2s_jax.simulation import fields

    assert main(["--list-keys"]) == 0
    text = capsys.readouterr().out
    assert text == keys_markdown()
    for field in fields.FIELDS:
        assert f"| `{field.key}` |" in text, field.key
    for alias in aliases.ALIASES:
        assert f"| `{alias.key}` | {alias.doc} |" in text, alias.key
    docs = Path(__file__).parents[1] / "docs" / "KEYS.md"
    assert docs.read_text() == text, (
        "regenerate: python -m w2s_jax.sweep --list-keys > docs/KEYS.md"
    )


@pytest.mark.parametrize("where", ["before", "after", "both sides"])
def test_overrides_go_before_or_after_the_options(where, tmp_path, capsys):
    grid = write(tmp_path, TINY_GRID)
    options = ["--out", str(tmp_path / "run"), "--dry-run", "--no-figures"]
    pairs = ["seeds=3", "strong.n=[20, 24, 28]"]
    argv = {
        "before": [str(grid), *pairs, *options],
        "after": [str(grid), *options, *pairs],
        "both sides": [str(grid), pairs[0], *options, pairs[1]],
    }[where]
    assert main(argv) == 0
    # 3 n x 2 nu_norm x 3 seeds: both overrides applied, wherever they stood.
    assert "18 configurations" in capsys.readouterr().out


@pytest.mark.parametrize("bad", ["seeds4", "=4", " =4"])
def test_a_malformed_override_exits_2_with_one_line(bad, tmp_path, capsys):
    grid = write(tmp_path, TINY_GRID)
    assert main([str(grid), "--out", str(tmp_path / "run"), "--quiet", bad]) == 2
    err = capsys.readouterr().err
    assert repr(bad) in err and "KEY=VALUE" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
