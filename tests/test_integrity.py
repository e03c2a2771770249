"""Fault injection: every file of a run directory damaged in every way, then the same
command run again, then the grid extended by a seed. What is damaged is found and
named; chunks are set aside and their configurations run again, outputs rebuilt from
the chunks, the manifest rebuilt where unambiguous (else exit 2, naming it and
--force); and the results are then those of an undamaged run, bit for bit.

One finished run of a tiny grid (4 configurations in 2 chunks) is made once and copied
per case; the runs are in-process calls of the command line's ``main``."""

from __future__ import annotations

import errno
import json
import os
import pickle
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

from conftest import run_curves, tiny_grid_text
from w2s_jax.analysis import integrity, result_files, run_files, storage
from w2s_jax.execution import engine, executable_store
from w2s_jax.sweep import main

GRID = tiny_grid_text(
    'name = "faults"\nseed = 5',
    tail='[sweep]\n"strong.n" = [20, 24]\nseeds = 2',
)
KINDS = (
    "chunk",
    "manifest",
    "ids",
    "summary",
    "curves",
    "report",
    "lock",
    "executable",
    "cache",
)
MODES = ("truncated", "emptied", "garbage", "missing", "foreign")


class _Touch:
    """A foreign pickle: unpickling it creates ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def sweep(root: Path, out: Path, *overrides: str) -> int:
    argv = [str(root / "grid.toml"), "--out", str(out), "--quiet", "--no-figures"]
    argv += ["--chunk-size", "2", "--compile-cache", str(out.parent / "cache"), *overrides]
    return main(argv)


def results(out: Path) -> tuple[str, dict[str, np.ndarray]]:
    return (out / "summary.csv").read_text(), run_curves(out)


def assert_same_results(out: Path, reference: tuple[str, dict]) -> None:
    summary, curves = results(out)
    assert summary == reference[0]
    assert curves.keys() == reference[1].keys()
    for name, values in curves.items():
        assert np.array_equal(values, reference[1][name], equal_nan=True), name


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished run (``base/run``, with its cache) and the reference results of the
    run and of its extension by a seed."""
    root = tmp_path_factory.mktemp("faults")
    (root / "grid.toml").write_text(GRID)
    base = root / "base"
    base.mkdir()
    assert sweep(root, base / "run") == 0
    reference = results(base / "run")
    extended = root / "extended"
    shutil.copytree(base, extended)
    assert sweep(root, extended / "run", "seeds=3") == 0
    return root, base, reference, results(extended / "run")


@pytest.fixture
def case(finished, tmp_path):
    """A copy of the finished run for one case (and its own executable store)."""
    root, base, reference, extended = finished
    shutil.copytree(base, tmp_path / "case")
    return root, tmp_path / "case" / "run", reference, extended


def foreign_bytes(kind: str, out: Path) -> bytes:
    """A well-formed file of the right kind that is not this one."""
    if kind == "chunk":  # the other chunk's bytes under this chunk's name
        return storage.chunk_paths(out)[1].read_bytes()
    if kind == "manifest":
        return json.dumps({"name": "another tool's manifest"}).encode()
    if kind == "ids":
        return ("0123456789abcdef01234567\n" * 3).encode()
    if kind == "summary":
        return b"a,b\n1,2\n"
    if kind == "curves":  # another run's curve, well formed
        path = out.parent / "other.npy"
        np.save(path, np.zeros((4, 3)))
        return path.read_bytes()
    if kind == "report":
        return b"# another run\n"
    if kind == "lock":  # a live holder named in the file: the kernel lock is what counts
        return json.dumps({"pid": 1, "host": socket.gethostname()}).encode()
    if kind == "executable":  # a foreign pickle under a stored program's name
        return pickle.dumps(_Touch(out.parent / "marker"))
    raise AssertionError(kind)


def target(kind: str, out: Path) -> Path:
    cache = out.parent / "cache"
    return {
        "chunk": lambda: storage.chunk_paths(out)[0],
        "manifest": lambda: out / "manifest.json",
        "ids": lambda: out / storage.IDS_FILE,
        "summary": lambda: out / "summary.csv",
        "curves": lambda: out / "curves" / "test_error.npy",
        "report": lambda: out / "report.md",
        "lock": lambda: out / ".lock",
        "executable": lambda: next((cache / executable_store.SUBDIRECTORY).glob("*.pkl")),
        "cache": lambda: cache,
    }[kind]()


def damage(kind: str, mode: str, out: Path) -> Path:
    path = target(kind, out)
    if kind == "cache":  # the directory: entries damaged, emptied, a file, gone, shared
        entries = sorted((path / executable_store.SUBDIRECTORY).glob("*.pkl"))
        if mode == "truncated":
            for entry in entries:
                entry.write_bytes(entry.read_bytes()[:100])
        elif mode == "emptied":
            shutil.rmtree(path)
            path.mkdir(mode=0o700)
        elif mode in ("garbage", "missing"):
            shutil.rmtree(path)
            if mode == "garbage":
                path.write_bytes(b"\x00garbage")
        else:
            os.chmod(path, 0o777)  # others may write it: not trusted, not used
        return path
    if mode == "missing":
        path.unlink(missing_ok=True)
        return path
    data = path.read_bytes() if path.exists() else b""
    new = {
        "truncated": data[: len(data) // 2],
        "emptied": b"",
        "garbage": b"\x00\xffgarbage\n" * 64,
        "foreign": foreign_bytes(kind, out) if mode == "foreign" else b"",
    }[mode]
    path.write_bytes(new)
    return path


def forget_compiled_programs() -> None:
    """Make the next run find its program in the store, as a new process would."""
    engine.IN_MEMORY.clear()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_file_is_found_repaired_and_the_grid_extends(kind, mode, case, capsys):
    root, out, reference, extended = case
    chunks_before = {p.name: p.stat().st_mtime_ns for p in storage.chunk_paths(out)}
    path = damage(kind, mode, out)
    damaged = path.read_bytes() if path.is_file() else None
    capsys.readouterr()
    if kind in ("executable", "cache"):
        forget_compiled_programs()
    if kind in ("summary", "curves", "report"):
        request = storage.read_json(out / "manifest.json")["request"]
        assert not storage.up_to_date(out, request, None)  # digests compared, no JAX
    if kind in ("summary", "curves"):
        with pytest.raises(storage.DamagedFileError, match=path.name):
            storage.load_run(out)

    assert sweep(root, out) == 0
    said, err = capsys.readouterr()
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert "Traceback" not in err
    assert_same_results(out, reference)
    chunks_after = {p.name: p.stat().st_mtime_ns for p in storage.chunk_paths(out)}
    if kind in ("chunk", "executable", "cache"):  # outputs whole: up to date, nothing read
        assert not warnings and "up to date" in said
    else:  # nothing ran: every chunk is the one written before
        assert chunks_after == chunks_before
    if kind == "manifest":
        assert len(warnings) == 1 and str(path) in warnings[0]
        assert len(list(out.glob(f"manifest.json{integrity.DAMAGED}*"))) == (mode != "missing")
    if kind in ("ids", "summary", "curves", "report", "lock"):
        assert not warnings
    assert not (out.parent / "marker").exists()  # no foreign pickle was loaded
    manifest = storage.read_json(out / "manifest.json")
    assert set(manifest["integrity"]["outputs"]) == set(storage.output_names(out))
    assert "curves/test_error.npy" in manifest["integrity"]["outputs"]
    assert len(manifest["integrity"]["chunks"]) == 2

    # The repaired run is a run like any other: a no-op when repeated, and extensible.
    assert storage.up_to_date(out, manifest["request"], None)
    capsys.readouterr()
    assert sweep(root, out, "seeds=3") == 0
    assert_same_results(out, extended)
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert not (out.parent / "marker").exists()  # no foreign pickle was loaded
    if kind == "executable":  # an entry that fails its check, named; compiled instead
        assert len(warnings) == (mode != "missing") and all(path.name in w for w in warnings)
    if kind == "cache":  # entries that fail; a directory that is a file, or shared
        assert len(warnings) == (mode in ("truncated", "garbage", "foreign")), err
    if kind == "chunk":  # read by the extension: set aside, named, kept, run again
        asides = list(out.joinpath("chunks").glob(f"{path.name}{integrity.DAMAGED}*"))
        assert len(warnings) == len(asides) == (mode != "missing")
        assert all(str(path) in line for line in warnings)
        assert all(aside.read_bytes() == damaged for aside in asides)
        assert path.is_file()  # written again


def test_a_partial_run_with_a_damaged_manifest_is_refused_naming_it_and_force(case, capsys):
    root, out, _, extended = case
    damage("manifest", "garbage", out)
    capsys.readouterr()
    assert sweep(root, out, "seeds=3") == 2  # the extension's programs are not recoverable
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "manifest.json" in err and "--force" in err
    assert (out / "manifest.json").read_bytes().startswith(b"\x00")  # left as it was
    assert sweep(root, out) == 0  # the grid that made it rebuilds it; then it extends
    assert sweep(root, out, "seeds=3") == 0
    assert_same_results(out, extended)


def test_chunks_of_another_seed_are_refused(case, capsys):
    root, out, _, _ = case
    other = root / "other.toml"
    other.write_text(GRID.replace("seed = 5", "seed = 6"))
    capsys.readouterr()
    argv = [str(other), "--out", str(out), "--quiet", "--no-figures"]
    assert main(argv) == 2  # the manifest says seed 5
    assert "seed" in capsys.readouterr().err
    damage("manifest", "missing", out)
    assert main(argv) == 2  # the chunks say seed 5
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "base seed" in err and "--force" in err


@pytest.mark.parametrize("kind", ["chunk", "ids"])
def test_load_run_names_a_damaged_file_of_a_partial_run(kind, case):
    _, out, _, _ = case
    manifest = storage.read_json(out / "manifest.json")
    storage.write_json(out / "manifest.json", {**manifest, "status": "partial"})
    path = damage(kind, "truncated", out)
    with pytest.raises(storage.DamagedFileError, match=path.name) as error:
        storage.load_run(out)
    assert "run the same command again" in str(error.value)


@pytest.mark.parametrize("mode", ["garbage", "truncated", "foreign"])
def test_load_run_and_to_xarray_name_a_damaged_manifest(mode, case):
    import w2s_jax

    _, out, _, _ = case
    w2s_jax.load_run(out).to_xarray()  # the undamaged run loads
    damage("manifest", mode, out)
    with pytest.raises(w2s_jax.DamagedFileError, match="manifest.json") as error:
        w2s_jax.load_run(out).to_xarray()
    assert "--force" in str(error.value) and error.value.path == out / "manifest.json"


WRITTEN = {
    "chunk": lambda path: path.parent.name == "chunks",
    "manifest": lambda path: path.name == "manifest.json",
    "ids": lambda path: path.name == storage.IDS_FILE,
    "summary": lambda path: path.name == "summary.csv",
    "curves": lambda path: path.parent.name == "curves",
    "report": lambda path: path.name == "report.md",
}


class _FailingFile:
    """A file that takes ``limit`` bytes, then fails as a full disk would."""

    def __init__(self, file, limit: int):
        self.file, self.limit = file, limit

    def write(self, data) -> int:
        data = bytes(data)
        if len(data) > self.limit:
            self.file.write(data[: self.limit])
            raise OSError(errno.ENOSPC, "No space left on device (injected)")
        self.limit -= len(data)
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)


@pytest.mark.parametrize("kind", sorted(WRITTEN))
def test_a_failure_in_the_middle_of_writing_then_the_same_command(kind, case, monkeypatch, capsys):
    root, out, _, extended = case
    real = run_files.atomic_write
    failed = []

    def failing(path, write):
        if WRITTEN[kind](Path(path)) and not failed:
            failed.append(path)
            return real(path, lambda file: write(_FailingFile(file, 64)))
        return real(path, write)

    def no_room(fd, size):  # the curves' files are reserved whole, then mapped
        failed.append(fd)
        raise OSError(errno.ENOSPC, "No space left on device (injected)")

    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and WRITTEN[kind](p)}
    if kind == "curves":
        monkeypatch.setattr(result_files, "reserve", no_room)
    else:  # the package writes through storage's name and the module that holds it
        monkeypatch.setattr(run_files, "atomic_write", failing)
        monkeypatch.setattr(storage, "atomic_write", failing)
    assert sweep(root, out, "seeds=3") == 1  # a full disk: exit 1, one line, how to resume
    assert failed and "run the same command again" in capsys.readouterr().err
    for path, data in before.items():  # the file it was replacing is whole
        assert path.read_bytes() == data
    assert not list(out.rglob("*.tmp"))
    monkeypatch.undo()
    assert sweep(root, out, "seeds=3") == 0
    assert_same_results(out, extended)


def test_a_resumed_run_still_checks_the_chunks_against_their_digests(case, monkeypatch, capsys):
    root, out, _, extended = case
    real = run_files.atomic_write

    def full_disk(path, write):
        if Path(path).parent.name == "chunks":
            raise OSError(errno.ENOSPC, "No space left on device (injected)")
        return real(path, write)

    monkeypatch.setattr(run_files, "atomic_write", full_disk)
    assert sweep(root, out, "seeds=3") == 1  # the extension stops: manifest "running"
    monkeypatch.setattr(run_files, "atomic_write", real)
    manifest = storage.read_json(out / "manifest.json")
    assert manifest["status"] == "running" and len(manifest["integrity"]["chunks"]) == 2
    # Another well-formed chunk under this one's name: only its digest tells.
    first, second = storage.chunk_paths(out)
    first.write_bytes(second.read_bytes())
    capsys.readouterr()
    assert sweep(root, out, "seeds=3") == 0
    warnings = [x for x in capsys.readouterr().err.splitlines() if x.startswith("warning:")]
    assert len(warnings) == 1 and str(first) in warnings[0] and "digest" in warnings[0]
    assert_same_results(out, extended)
