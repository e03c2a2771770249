"""Results name what made them, resuming never mixes versions, and w2s_jax leaves
JAX's settings as it found them (on import, and after a run)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import jax
import pytest

from w2s_jax.analysis import storage
from w2s_jax.execution import provenance
from w2s_jax.sweep import main

GRID = """
name = "versions"
[data]
d = 200
[weak]
n = 40
steps = 20
[strong]
m = 2
steps = 20
[eval]
n_test = 100
points = 4
[run]
backend = "dense"
dtype = "{dtype}"
[sweep]
"strong.n" = [16, 20]
seeds = {seeds}
"""

WATCHED = (
    "jax_enable_x64",
    "jax_enable_compilation_cache",
    "jax_compilation_cache_dir",
    "jax_compilation_cache_max_size",
    "jax_persistent_cache_min_compile_time_secs",
    "jax_num_cpu_devices",
    "jax_default_matmul_precision",
)


def grid_file(tmp_path, seeds: int = 1, dtype: str = "float32"):
    path = tmp_path / f"grid{seeds}.toml"
    path.write_text(textwrap.dedent(GRID.format(seeds=seeds, dtype=dtype)))
    return str(path)


def test_importing_every_module_changes_no_jax_setting():
    code = f"""
import importlib, pkgutil, jax, w2s_jax
watched = {WATCHED!r}
before = {{k: getattr(jax.config, k) for k in watched}}
modules = list(pkgutil.walk_packages(w2s_jax.__path__, "w2s_jax."))
assert len(modules) > 40, modules
for module in modules:
    if module.name != "w2s_jax.__main__":
        importlib.import_module(module.name)
after = {{k: getattr(jax.config, k) for k in watched}}
print(before == after, before, after)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("True"), result.stdout


def test_a_float64_run_gives_back_jax_settings_as_they_were(tmp_path):
    import w2s_jax

    before = {k: getattr(jax.config, k) for k in WATCHED}
    assert before["jax_enable_x64"] is False
    grid = w2s_jax.load_grid(grid_file(tmp_path, dtype="float64"))
    run = w2s_jax.run(grid, tmp_path / "run", quiet=True, compile_cache=str(tmp_path / "cache"))
    assert run.manifest["dtype"] == ["float64"]
    assert run.manifest["provenance"]["jax_settings"]["jax_enable_x64"] is True  # during
    assert {k: getattr(jax.config, k) for k in WATCHED} == before  # and restored after
    assert jax.numpy.ones(2).dtype == jax.numpy.float32


def test_manifest_names_code_versions_git_and_jax_settings(tmp_path):
    out = tmp_path / "run"
    overrides = ["strong.n=[16, 24]", "weak.steps=10", "seeds=1"]  # recorded as asked
    assert main([grid_file(tmp_path, seeds=2), *overrides, "--out", str(out), "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["request"]["overrides"] == overrides
    assert manifest["grid"]["axes"] == {"strong.n": [16, 24]} and manifest["grid"]["seeds"] == 1
    assert manifest["grid"]["parameters"]["weak.steps"] == 10
    record = manifest["provenance"]
    assert record["code_version"] == provenance.code_version()
    assert record["code_version"].startswith(__import__("w2s_jax").__version__ + "+src.")
    assert set(record["git"]) == {"commit", "dirty"}
    declared = {"jax", "jaxlib", "optax", "equinox", "numpy", "matplotlib", "tqdm"}
    assert declared | {"python", "scikit-learn", "filelock"} <= set(record["versions"])
    assert "not installed" not in {record["versions"][name] for name in declared}
    assert {"XLA_FLAGS", "jax_enable_x64", "jax_default_matmul_precision"} <= set(
        record["jax_settings"]
    )
    assert manifest["request"]["w2s_jax"] == provenance.code_version()
    (stamp,) = storage.chunk_stamps(out, storage.completed_ids(out))
    assert stamp == provenance.stamp()


def test_resuming_with_another_version_is_refused_unless_forced(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    common = ["--out", str(out), "--quiet", "--no-figures"]
    assert main([grid_file(tmp_path, seeds=1), *common]) == 0
    other = {**provenance.stamp(), "jax": "0.0.1"}
    monkeypatch.setattr(provenance, "stamp", lambda: other)
    capsys.readouterr()
    assert main([grid_file(tmp_path, seeds=2), *common]) == 2  # extending: would mix
    err = capsys.readouterr().err
    assert "jax 0.0.1" in err and f"jax {jax.__version__}" in err and "--force" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main([grid_file(tmp_path, seeds=2), *common, "--force"]) == 0
    assert storage.chunk_stamps(out, storage.completed_ids(out)) == [other]


def test_code_version_follows_the_source(tmp_path, monkeypatch):
    for name, text in (("a.py", "x = 1\n"), ("grid.toml", "n = 2\n"), ("notes.md", "")):
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(provenance, "PACKAGE", tmp_path)
    provenance.code_digest.cache_clear()
    try:
        first = provenance.code_digest()
        (tmp_path / "notes.md").write_text("not code")
        provenance.code_digest.cache_clear()
        assert provenance.code_digest() == first
        (tmp_path / "a.py").write_text("x = 2\n")
        provenance.code_digest.cache_clear()
        assert provenance.code_digest() != first
    finally:
        provenance.code_digest.cache_clear()


@pytest.mark.parametrize("flag", ["--version"])
def test_version_flag(flag, capsys):
    with pytest.raises(SystemExit) as stop:
        main([flag])
    assert stop.value.code == 0
    assert provenance.code_version() in capsys.readouterr().out
