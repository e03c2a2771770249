"""What makes a result fast to get: the persistent compilation cache (on, off, shared,
broken), figures drawn only when the results changed, and a finished grid re-run that
does nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import curve_bytes, tiny_grid_text

GRID = tiny_grid_text(
    'name = "cached"\nseed = 3',
    tail="""[sweep]
"strong.n" = [20, 22]  # one padded size (24): one program, one compile per process
seeds = 2""",
)


def sweep(tmp: Path, out: str, *options: str, wait: bool = True, quiet: bool = True):
    command = [sys.executable, "-m", "w2s_jax.sweep", str(tmp / "grid.toml"), "--out"]
    command += [str(tmp / out), *(["--quiet"] if quiet else []), *options]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ
    )
    if not wait:
        return process
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    return stdout, stderr


def compiles(tmp: Path, out: str) -> list[dict]:
    manifest = json.loads((tmp / out / "manifest.json").read_text())
    return [c for p in manifest["programs"] for c in p["compiles"]]


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ttr")
    (path / "grid.toml").write_text(GRID)
    return path


def test_cache_serves_a_second_process_with_identical_results(tmp):
    cache = str(tmp / "cache")
    # Two processes start together on an empty cache: both compile, both succeed.
    first = [sweep(tmp, f"first{k}", "--compile-cache", cache, wait=False) for k in (0, 1)]
    for process in first:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr
    _, warm = sweep(tmp, "warm", "--compile-cache", cache, quiet=False)
    _, off = sweep(tmp, "off", "--compile-cache", "off", quiet=False)
    assert [c["from_cache"] for c in compiles(tmp, "warm")] == [True]
    # ... as stored executables: nothing traced or lowered
    assert [c["source"] for c in compiles(tmp, "warm")] == ["executable store"]
    assert json.loads((tmp / "warm" / "manifest.json").read_text())["timing"]["traces"] == 0
    assert [c["from_cache"] for c in compiles(tmp, "off")] == [False]
    # the user is told as each program becomes ready, and how
    assert warm.count("loaded from the compilation cache in") == 1, warm
    assert off.count(" compiled in ") == 1 and "program 1/1" in off, off
    reference = (tmp / "first0" / "summary.csv").read_bytes()
    for out in ("first1", "warm", "off"):
        assert (tmp / out / "summary.csv").read_bytes() == reference, out
        assert curve_bytes(tmp / out) == curve_bytes(tmp / "first0") != {}


def test_an_extension_by_a_seed_traces_and_compiles_nothing(tmp):
    cache = str(tmp / "extension-cache")
    sweep(tmp, "extended", "--compile-cache", cache)
    (tmp / "grid.toml").rename(tmp / "two-seeds.toml")
    (tmp / "grid.toml").write_text(GRID.replace("seeds = 2", "seeds = 3"))
    try:
        sweep(tmp, "extended", "--compile-cache", cache)
    finally:
        (tmp / "two-seeds.toml").replace(tmp / "grid.toml")
    manifest = json.loads((tmp / "extended" / "manifest.json").read_text())
    assert manifest["completed"] == 6 and manifest["timing"]["traces"] == 0
    assert [c["source"] for c in compiles(tmp, "extended")] == ["executable store"]


def test_a_broken_cache_costs_a_compile_and_one_warning(tmp):
    cache = tmp / "broken"
    sweep(tmp, "before", "--compile-cache", str(cache))
    # Programs the store holds are cached there only (JAX's own cache stays off).
    assert not [p for p in cache.iterdir() if p.name.endswith("-cache")]
    entries = list((cache / "executables").glob("*.pkl"))
    assert len(entries) == 1
    for entry in entries:
        entry.write_bytes(b"not an executable")
    _, stderr = sweep(tmp, "corrupt", "--compile-cache", str(cache))
    assert stderr.count("warning:") == 1 and "Traceback" not in stderr
    assert compiles(tmp, "corrupt")[0]["from_cache"] is False
    # A path under a regular file cannot be a directory.
    _, stderr = sweep(tmp, "unusable", "--compile-cache", str(tmp / "grid.toml" / "cache"))
    assert stderr.count("warning:") == 1 and "not usable" in stderr
    for out in ("corrupt", "unusable"):
        assert (tmp / out / "summary.csv").read_bytes() == (
            tmp / "before" / "summary.csv"
        ).read_bytes()


def test_a_finished_grid_rerun_does_nothing_and_draws_nothing(tmp):
    sweep(tmp, "again")
    figures = tmp / "again" / "figures"
    drawn = {p.name: p.stat().st_mtime_ns for p in figures.iterdir()}
    assert {Path(n).suffix for n in drawn} == {".png", ".json"}  # PNG only by default
    stdout, _ = sweep(tmp, "again")
    assert "up to date" in stdout
    assert {p.name: p.stat().st_mtime_ns for p in figures.iterdir()} == drawn
    # Asking for PDF draws PDF (the PNGs stay as they were).
    sweep(tmp, "again", "--format", "pdf")
    pdfs = sorted(figures.glob("*.pdf"))
    assert pdfs and all(p.read_bytes().startswith(b"%PDF") for p in pdfs)
    assert all(
        figures.joinpath(n).stat().st_mtime_ns == t for n, t in drawn.items() if n.endswith(".png")
    )
    assert not list(figures.glob(".*.tmp"))


def test_bad_format_exits_2(tmp):
    result = subprocess.run(
        [sys.executable, "-m", "w2s_jax.sweep", str(tmp / "grid.toml"), "--format", "gif"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "--format" in result.stderr


def test_dry_run_shows_the_compile_plan(tmp, capsys):
    from w2s_jax.sweep import main

    assert main([str(tmp / "grid.toml"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    # One n bucket (24): one small program, compiled fast.
    assert "compile plan: 1 fast + 0 full program(s)" in out and "from the cache" in out
