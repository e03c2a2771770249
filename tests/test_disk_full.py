"""A full disk: one line saying what is saved and that the same command resumes, exit
1, and no partial file anywhere (every output goes through a temporary file and a
rename). On a real small tmpfs where the platform allows mounting one, else with an
injected ``OSError(ENOSPC)``."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from test_cli import TINY_GRID, write
from w2s_jax.analysis import run_files, storage
from w2s_jax.sweep import main


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def leftovers(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.name.endswith(".tmp")]


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")

    def half_then_full(file):
        file.write(b"new, partial")
        no_space()

    with pytest.raises(OSError):
        storage.atomic_write(path, half_then_full)
    assert path.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_figures_are_written_atomically(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from w2s_jax.analysis.figure_style import save_figure

    (tmp_path / "errors.png").write_bytes(b"previous figure")

    def partial_savefig(self, file, **kwargs):
        file.write(b"\x89PNG truncated")
        no_space()

    monkeypatch.setattr(Figure, "savefig", partial_savefig)
    with pytest.raises(OSError):
        save_figure(Figure(), tmp_path, "errors", ("png", "pdf"))
    assert (tmp_path / "errors.png").read_bytes() == b"previous figure"
    assert not (tmp_path / "errors.pdf").exists() and leftovers(tmp_path) == []


def test_disk_full_while_writing_chunks_then_resume(tmp_path, monkeypatch, capsys):
    grid = write(tmp_path, TINY_GRID)
    out = tmp_path / "run"
    argv = [str(grid), "--out", str(out), "--quiet", "--no-figures", "--chunk-size", "4"]
    calls = []

    def fsync_until_full(fd):  # the first chunk is written, then the disk is full
        if "/chunks/" in os.readlink(f"/proc/self/fd/{fd}"):
            calls.append(fd)
            if len(calls) >= 2:
                no_space()

    monkeypatch.setattr(run_files.os, "fsync", fsync_until_full)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "No space left on device" in err and "4 configurations are saved" in err
    assert "run the same command again" in err
    assert leftovers(out) == [] and len(list((out / "chunks").iterdir())) == 1
    monkeypatch.undo()
    assert main(argv) == 0
    assert len(storage.read_summary(out / "summary.csv")["seed"]) == 8


def mount_tmpfs(point: Path, size: str) -> bool:
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("mount"):
        return False
    point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)])
    return done.returncode == 0


def test_real_full_tmpfs_while_drawing_figures(tmp_path, capsys):
    point = tmp_path / f"tmpfs-{uuid.uuid4().hex[:8]}"
    if not mount_tmpfs(point, "160k"):  # the results fit, the figures do not
        pytest.skip("cannot mount a tmpfs here (needs Linux and root)")
    try:
        grid = write(tmp_path, TINY_GRID)
        argv = [str(grid), "--out", str(point / "run"), "--quiet", "--chunk-size", "4"]
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "No space left on device" in err and "8 configurations are saved" in err
        assert (point / "run" / "summary.csv").exists() and leftovers(point) == []
        for figure in (point / "run" / "figures").glob("*"):  # whole files only
            data = figure.read_bytes()
            assert data.rstrip().endswith(
                b"%%EOF" if figure.suffix == ".pdf" else b"IEND\xaeB`\x82"
            )
    finally:
        if subprocess.run(["umount", str(point)]).returncode:  # busy: detach it anyway, or
            subprocess.run(["umount", "--lazy", str(point)])  # pytest's clean-up fails later
