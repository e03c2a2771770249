"""A run directory's files that are neither chunks nor results: writing any file
atomically, the manifest (JSON), the grid's configuration ids (``ids.txt``) and the
digests the manifest records (NumPy only).

A file that cannot be used as it is raises :class:`DamagedFileError`, naming it, what is
wrong and what to do (:mod:`w2s_jax.analysis.integrity` repairs what it can).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np


class DamagedFileError(ValueError):
    """A file of a run directory that cannot be used as it is: the message names the
    file, what is wrong and what to do (``path``: the file)."""

    def __init__(self, path: Path, problem: str, remedy: str):
        self.path, self.problem = Path(path), problem
        super().__init__(f"{path}: {problem}; {remedy}")


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex), read in blocks (curves of 10^6
    configurations are a gigabyte)."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def atomic_write(path: Path, write) -> None:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        if os.path.exists(tmp):
            os.unlink(tmp)
        cause = _write_error(error)
        if cause is not None and cause is not error:
            raise cause from None  # a writer that failed while cleaning up hid it
        raise


def _write_error(error: BaseException | None) -> OSError | None:
    """The first ``OSError`` in ``error``'s chain (matplotlib's PDF writer, for one,
    raises an ``AttributeError`` of its own on the way out of a full disk)."""
    while error is not None and not isinstance(error, OSError):
        error = error.__context__
    return error


def write_json(path: Path, data: dict) -> dict:
    """Write ``data`` as JSON; returns it as :func:`read_json` would read it back."""
    text = json.dumps(data, indent=2, default=_json_default, allow_nan=False)
    atomic_write(path, lambda f: f.write(text.encode() + b"\n"))
    return json.loads(text)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def write_manifest(directory: Path, manifest: dict) -> dict:
    """Write ``DIR/manifest.json``, keeping the chunk digests the last one recorded for
    the chunks still there (a resumed run checks them until it records its own);
    returns it as written."""
    path = Path(directory) / "manifest.json"
    try:
        before = recorded_digests(read_json(path), "chunks")
    except (OSError, ValueError):
        before = {}
    kept = {name: d for name, d in before.items() if (Path(directory) / name).is_file()}
    return write_json(path, {**manifest, "integrity": {"chunks": kept}} if kept else manifest)


def read_manifest(directory: Path) -> dict:
    """``DIR/manifest.json``, or a :class:`DamagedFileError` (missing, not JSON, or not a
    run's manifest)."""
    path = Path(directory) / "manifest.json"
    try:
        manifest = read_json(path)
    except FileNotFoundError:
        raise DamagedFileError(path, "missing", "not a run directory (or run the grid)") from None
    except (OSError, ValueError) as error:
        raise DamagedFileError(path, f"unreadable ({error_text(error)})", REBUILD) from None
    problem = manifest_problem(manifest)
    if problem is not None:
        raise DamagedFileError(path, problem, REBUILD)
    return manifest


REBUILD = "run the same command again to rebuild it (or --force to start over)"


def manifest_problem(manifest) -> str | None:
    """Why ``manifest`` (parsed JSON) is not a run's manifest (None: it is)."""
    grid = manifest.get("grid") if isinstance(manifest, dict) else None
    if not isinstance(grid, dict) or not isinstance(grid.get("axes"), dict):
        return "not a run's manifest (no grid)"
    if not isinstance(grid.get("seeds"), int) or not isinstance(grid.get("name"), str):
        return "not a run's manifest (no seeds or name)"
    return None


def error_text(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error)[:80]}" if str(error) else type(error).__name__


# ------------------------------------------------------------------ identities

IDS_FILE = "ids.txt"  # the grid's configuration ids in grid order, one a line


def fingerprint(ids) -> str:
    """A run's identity: its configurations' identities in grid order (a list of text, or
    an array of ``S24`` ids)."""
    return hashlib.sha256(ids_text(ids)[:-1]).hexdigest()[:24]


def ids_text(ids) -> bytes:
    """``ids.txt``'s bytes: one id a line (built at once from an ``S24`` array)."""
    if isinstance(ids, np.ndarray):
        lines = np.empty((len(ids), 25), np.uint8)
        lines[:, :24] = np.frombuffer(ids.astype("S24").tobytes(), np.uint8).reshape(-1, 24)
        lines[:, 24] = ord("\n")
        return lines.tobytes()
    return ("\n".join(ids) + "\n").encode()


def write_ids(directory: Path, ids) -> None:
    """Record the grid's configuration ids (skipped when already there)."""
    path, text = Path(directory) / IDS_FILE, ids_text(ids)
    if not path.is_file() or path.read_bytes() != text:  # garbage is rewritten
        atomic_write(path, lambda f: f.write(text))


def read_ids(directory: Path, manifest: dict) -> list[str]:
    """``DIR/ids.txt``: the grid's configuration ids (a :class:`DamagedFileError` when
    missing, not a list of ids, or not the ``manifest``'s grid: its fingerprint)."""
    path = Path(directory) / IDS_FILE
    try:
        ids = path.read_text().split()
    except (OSError, ValueError) as error:
        raise DamagedFileError(path, f"unreadable ({error_text(error)})", REBUILD) from None
    if not ids or any(len(i) != 24 or not set(i) <= set("0123456789abcdef") for i in ids):
        raise DamagedFileError(path, "not a list of configuration ids", REBUILD)
    if manifest.get("fingerprint", fingerprint(ids)) != fingerprint(ids):
        raise DamagedFileError(path, "not the ids of the grid in manifest.json", REBUILD)
    return ids


def recorded_digests(manifest: dict, kind: str) -> dict[str, str]:
    """The manifest's ``integrity`` record of ``kind`` ("chunks": ``chunks/<name>.npz``,
    or "outputs"): file -> SHA-256 (``{}`` when none was recorded)."""
    record = manifest.get("integrity") if isinstance(manifest, dict) else None
    found = record.get(kind) if isinstance(record, dict) else None
    return {k: v for k, v in found.items() if isinstance(v, str)} if isinstance(found, dict) else {}
