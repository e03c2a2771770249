"""Run directories: chunk files, manifest, ``summary.csv``, ``curves.npz`` (NumPy only).

Layout of ``DIR``::

    manifest.json         resolved grid, versions, device, timings, progress
    chunks/<digest>.npz   one finished chunk: configuration ids, steps, curves, scalars
    summary.csv           one row per configuration, in grid order
    curves.npz            steps (E,) and one (configs, E) array per curve
    figures/              PNG and PDF

Chunk files are the record of what is done: each is written to a temporary name and
renamed, so a killed process leaves either a whole chunk or none. Several processes
(``--shard``) may write chunks into the same directory; names are digests of the
configurations they hold, so they never collide.

What is checked when a file is read (``docs/RUNNING.md``): a chunk against the SHA-256
recorded for it in the manifest's ``integrity`` entry (else its zip checksums and
layout), the outputs against theirs; a file that fails is a :class:`DamagedFileError`
naming it and what to do (:mod:`w2s_jax.analysis.integrity` repairs what it can).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CURVE_PREFIX, SCALAR_PREFIX, STAMP_PREFIX = "curve/", "scalar/", "stamp/"
GRID_SEED = "grid_seed"  # in a chunk: the base seed of the grid that made it
# What a complete run's manifest records the digests of, beside its chunks: the outputs
# derived from the chunks, and the grid's configuration ids (from the grid file).
OUTPUTS = ("summary.csv", "curves.npz", "report.md", "ids.txt")


class DamagedFileError(ValueError):
    """A file of a run directory that cannot be used as it is: the message names the
    file, what is wrong and what to do (``path``: the file)."""

    def __init__(self, path: Path, problem: str, remedy: str):
        self.path, self.problem = Path(path), problem
        super().__init__(f"{path}: {problem}; {remedy}")


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


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
        raise DamagedFileError(path, f"unreadable ({_why(error)})", REBUILD) from None
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


def _why(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error)[:80]}" if str(error) else type(error).__name__


# ------------------------------------------------------------------ chunks


def write_chunk(
    directory: Path,
    ids: list[str],
    steps: np.ndarray,
    curves: dict,
    scalars: dict,
    stamp: dict[str, str],
    seed: int | None = None,
) -> Path:
    """Save one finished chunk atomically, with the ``stamp`` of the versions that made
    it (``provenance.stamp``) and the grid's base ``seed`` (configuration ids do not hold
    it: with it a lost manifest can be rebuilt from the chunks); returns its path."""
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:20]
    path = Path(directory) / "chunks" / f"{digest}.npz"
    arrays = {"ids": np.asarray(ids), "steps": np.asarray(steps)}
    if seed is not None:
        arrays[GRID_SEED] = np.asarray(seed)
    arrays.update({STAMP_PREFIX + k: np.asarray(v) for k, v in stamp.items()})
    arrays.update({CURVE_PREFIX + k: np.asarray(v) for k, v in curves.items()})
    arrays.update({SCALAR_PREFIX + k: np.asarray(v) for k, v in scalars.items()})
    atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


@dataclass
class ChunkRecord:
    steps: np.ndarray
    curves: dict[str, np.ndarray]  # name -> (E,)
    scalars: dict[str, Any]


def chunk_paths(directory: Path) -> list[Path]:
    return sorted((Path(directory) / "chunks").glob("*.npz"))


def load_chunk(path: Path, digest: str | None = None) -> tuple[dict | None, str | None]:
    """A chunk file's arrays, all read (so every zip checksum is checked), and None; or
    None and why it cannot be used: unreadable, not a chunk, rows that do not match, or
    bytes that do not match ``digest`` (its SHA-256 as recorded). Nothing is unpickled."""
    try:
        blob = Path(path).read_bytes()
    except OSError as error:
        return None, f"unreadable ({error.strerror or error})"
    if digest is not None and hashlib.sha256(blob).hexdigest() != digest:
        return None, "its bytes do not match the digest recorded in manifest.json"
    try:
        with np.load(io.BytesIO(blob)) as data:  # allow_pickle=False: never unpickles
            arrays = {k: data[k] for k in data.files}
    except Exception as error:  # damaged bytes raise whatever the zip reader meets
        return None, f"not a readable chunk ({_why(error)})"
    ids, steps = arrays.get("ids"), arrays.get("steps")
    if ids is None or steps is None or ids.ndim != 1 or ids.dtype.kind != "U":
        return None, "not a chunk (no configuration ids or steps)"
    rows = [v for k, v in arrays.items() if k.startswith((CURVE_PREFIX, SCALAR_PREFIX))]
    if steps.ndim == 2:
        rows.append(steps)
    if any(v.ndim == 0 or len(v) != len(ids) for v in rows):
        return None, "not a chunk (its arrays do not have one row per configuration)"
    return arrays, None


def _readable_chunks(directory: Path, members: tuple[str, ...] | None = None):
    """``(path, arrays)`` of every usable chunk file (only ``members`` and the stamps read,
    when given: the ids of a run are read often); damaged ones are skipped, their
    configurations simply not done (:mod:`integrity` checks and sets them aside first)."""
    for path in chunk_paths(directory):
        if members is None:
            data, _ = load_chunk(path)
        else:
            try:
                with np.load(path) as file:
                    names = [k for k in file.files if k in members or k.startswith(STAMP_PREFIX)]
                    data = {k: file[k] for k in names}
            except Exception:  # damaged bytes raise whatever the zip reader meets
                continue
            data = data if set(members) <= set(data) else None
        if data is not None:
            yield path, data


def read_chunks(directory: Path, wanted: set[str] | None = None) -> dict[str, ChunkRecord]:
    """Every finished configuration in ``DIR/chunks`` (restricted to ``wanted`` ids)."""
    found: dict[str, ChunkRecord] = {}
    for _, data in _readable_chunks(directory):
        curves = {k[len(CURVE_PREFIX) :]: v for k, v in data.items() if k.startswith(CURVE_PREFIX)}
        scalars = {
            k[len(SCALAR_PREFIX) :]: v for k, v in data.items() if k.startswith(SCALAR_PREFIX)
        }
        found.update(chunk_records(data["ids"].tolist(), data["steps"], curves, scalars, wanted))
    return found


def chunk_records(
    ids: list[str], steps: np.ndarray, curves: dict, scalars: dict, wanted: set[str] | None = None
) -> dict[str, ChunkRecord]:
    """A chunk's configurations (restricted to ``wanted`` ids) as :class:`ChunkRecord`:
    what :func:`read_chunks` reads back from the file :func:`write_chunk` writes."""
    found: dict[str, ChunkRecord] = {}
    for row, config_id in enumerate(ids):
        if wanted is not None and config_id not in wanted:
            continue
        own, keep = unique_steps(np.asarray(steps), row)
        found[config_id] = ChunkRecord(
            steps=own,
            curves={k: np.asarray(v)[row][keep] for k, v in curves.items()},
            scalars={k: np.asarray(v)[row] for k, v in scalars.items()},
        )
    return found


def unique_steps(steps: np.ndarray, row: int) -> tuple[np.ndarray, np.ndarray]:
    """A configuration's evaluation steps without the repeats that pad them to
    ``eval.points``, and where they are in its curves. ``steps`` is ``(C, E)``, or
    ``(E,)`` for all rows (chunk files written before step counts were traced)."""
    own = steps[row] if steps.ndim == 2 else steps
    return np.unique(own, return_index=True)


def chunk_index(directory: Path) -> list[tuple[list[str], dict[str, str]]]:
    """Every usable chunk file of ``DIR`` (one listing): its configuration ids and the
    version stamp it was written with (``{}`` for a chunk written before chunks were
    stamped)."""
    return [
        (
            data["ids"].tolist(),
            {k[len(STAMP_PREFIX) :]: str(v) for k, v in data.items() if k.startswith(STAMP_PREFIX)},
        )
        for _, data in _readable_chunks(directory, ("ids",))
    ]


def completed_ids(directory: Path) -> set[str]:
    return {i for ids, _ in chunk_index(directory) for i in ids}


def chunk_stamps(directory: Path, wanted: set[str]) -> list[dict[str, str]]:
    """The distinct version stamps of the chunks holding any of the ``wanted`` ids."""
    return distinct_stamps(chunk_index(directory), wanted)


def distinct_stamps(index: list, wanted: set[str]) -> list[dict[str, str]]:
    """The distinct stamps in a :func:`chunk_index` of the chunks holding ``wanted`` ids."""
    stamps: list[dict[str, str]] = []
    for ids, stamp in index:
        if not wanted.isdisjoint(ids) and stamp not in stamps:
            stamps.append(stamp)
    return stamps


# ------------------------------------------------------------------ up to date?

FIGURES_STAMP = ".drawn.json"  # in DIR/figures: the results and formats drawn there
FIGURE_FORMATS = ("png", "pdf", "svg")  # what --format accepts; PNG is the default


def fingerprint(ids: list[str]) -> str:
    """A run's identity: its configurations' identities in grid order."""
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:24]


def recorded_digests(manifest: dict, kind: str) -> dict[str, str]:
    """The manifest's ``integrity`` record of ``kind`` ("chunks": ``chunks/<name>.npz``,
    or "outputs"): file -> SHA-256 (``{}`` when none was recorded)."""
    record = manifest.get("integrity") if isinstance(manifest, dict) else None
    found = record.get(kind) if isinstance(record, dict) else None
    return {k: v for k, v in found.items() if isinstance(v, str)} if isinstance(found, dict) else {}


def output_problem(directory: Path, manifest: dict, name: str) -> str | None:
    """Why the output ``name`` is not the one the manifest recorded (None: it is)."""
    path = Path(directory) / name
    if not path.is_file():
        return "missing"
    expected = recorded_digests(manifest, "outputs").get(name)
    try:
        if expected is not None and file_digest(path) != expected:
            return "does not match the digest recorded in manifest.json (damaged or edited)"
    except OSError as error:
        return f"unreadable ({error.strerror or error})"
    return None


def _complete_manifest(
    directory: Path, outputs: tuple[str, ...], sealed: bool = True, manifest: dict | None = None
) -> dict:
    """The manifest of a complete run whose ``outputs`` all exist and match the digests
    it recorded (``sealed``: a record is required); ``{}`` otherwise. ``manifest``: the
    directory's, when the caller has read it already."""
    if manifest is None:
        try:
            manifest = read_json(Path(directory) / "manifest.json")
        except (OSError, ValueError):
            return {}
    if not isinstance(manifest, dict) or manifest.get("status") != "complete":
        return {}
    if sealed and not set(outputs) <= set(recorded_digests(manifest, "outputs")):
        return {}
    intact = all(output_problem(directory, manifest, name) is None for name in outputs)
    return manifest if intact else {}


def assembled(directory: Path, expected: str, manifest: dict | None = None) -> bool:
    """Whether ``DIR`` holds the assembled outputs of the grid with this fingerprint
    (``manifest``: its manifest, when the caller has read it already)."""
    manifest = _complete_manifest(directory, RESULTS, manifest=manifest)
    return bool(manifest) and manifest.get("fingerprint") == expected


RESULTS = ("summary.csv", "curves.npz")  # what the figures show, in digest order


def results_digest(directory: Path) -> str:
    """A digest of what the figures show: ``summary.csv`` and ``curves.npz``."""
    return digest_of(*((Path(directory) / name).read_bytes() for name in RESULTS))


def digest_of(summary: bytes, curves: bytes) -> str:
    """:func:`results_digest` of these file contents."""
    return hashlib.sha256(summary + curves).hexdigest()


def figures_stamp(directory: Path) -> dict:
    """``{"results": digest, "formats": [...]}``: what ``DIR/figures`` was drawn from."""
    try:
        return json.loads((Path(directory) / "figures" / FIGURES_STAMP).read_text())
    except (OSError, ValueError):
        return {}


def figures_current(directory: Path, formats: tuple[str, ...], digest: str | None = None) -> bool:
    """Whether ``DIR/figures`` holds ``formats`` drawn from the current results."""
    stamp = figures_stamp(directory)
    digest = digest or results_digest(directory)
    return stamp.get("results") == digest and set(formats) <= set(stamp.get("formats", ()))


def record_figures(directory: Path, digest: str, formats: tuple[str, ...]) -> None:
    """Stamp ``DIR/figures`` as drawn from ``digest`` in ``formats`` (and in the formats
    stamped before, when those were drawn from the same results)."""
    stamp = figures_stamp(directory)
    kept = set(stamp.get("formats", ())) if stamp.get("results") == digest else set()
    text = json.dumps({"results": digest, "formats": sorted(kept | set(formats))}) + "\n"
    atomic_write(Path(directory) / "figures" / FIGURES_STAMP, lambda f: f.write(text.encode()))


def up_to_date(directory: Path, request: dict, formats: tuple[str, ...] | None) -> bool:
    """Whether the CLI's request (``request``: its grid file's digest and the package
    version) was already carried out completely in ``DIR``, figures in ``formats``
    included (None: no figures wanted). Reads no configuration and imports no JAX, so
    a finished grid run again returns at once."""
    manifest = _complete_manifest(directory, OUTPUTS)  # their digests compared
    if not manifest or manifest.get("request") != request:
        return False
    return formats is None or figures_current(directory, formats)


# ------------------------------------------------------------------ outputs


def _cell(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else f"{float(value):.8g}"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def write_summary(path: Path, columns: dict[str, np.ndarray]) -> bytes:
    """Write ``summary.csv``; returns its bytes (:func:`summary_columns` reads them)."""
    names = list(columns)
    rows = len(next(iter(columns.values()))) if columns else 0
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(names)
    for i in range(rows):
        writer.writerow([_cell(columns[name][i]) for name in names])
    data = text.getvalue().encode()
    atomic_write(path, lambda file: file.write(data))
    return data


def read_summary(path: Path) -> dict[str, np.ndarray]:
    """``summary.csv`` back as columns: numbers as float arrays, words as str arrays."""
    return summary_columns(Path(path).read_bytes())


def summary_columns(data: bytes) -> dict[str, np.ndarray]:
    """The columns of a ``summary.csv`` whose bytes are ``data``."""
    rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
    header, body = rows[0], rows[1:]
    columns: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        cells = [row[j] for row in body]
        if all(c in ("true", "false") for c in cells) and cells:
            columns[name] = np.array([c == "true" for c in cells])
            continue
        try:
            columns[name] = np.array([float(c) if c else np.nan for c in cells])
        except ValueError:
            columns[name] = np.array(cells)
    return columns


def write_curves(path: Path, steps: np.ndarray, curves: dict[str, np.ndarray]) -> bytes:
    """Write ``curves.npz``; returns its bytes."""
    buffer = io.BytesIO()
    np.savez(buffer, steps=steps, **curves)
    data = buffer.getvalue()
    atomic_write(path, lambda file: file.write(data))
    return data


@dataclass
class RunResults:
    """A finished run directory loaded back: ``summary`` columns (configs,), ``curves``
    ``(configs, E)`` arrays on ``steps (E,)``, and the ``manifest``."""

    path: Path
    manifest: dict
    summary: dict[str, np.ndarray]
    curves: dict[str, np.ndarray]
    steps: np.ndarray
    extra: dict = field(default_factory=dict)

    @property
    def axes(self) -> dict[str, list]:
        """Swept parameters and their values, plus ``seed``, in grid order."""
        grid = self.manifest["grid"]
        axes = dict(grid["axes"])
        axes["seed"] = list(range(grid["seeds"]))
        return axes

    def __len__(self) -> int:
        return len(next(iter(self.summary.values())))

    def curve(self, name: str, **selection):
        """A curve as a labelled array over ``(axis..., seed, step)``; keyword arguments
        select along dimensions by any coordinate, e.g.
        ``run.curve("test_error", **{"strong.n": 2000}).mean("seed").values``."""
        from w2s_jax.analysis.results import labelled

        return labelled(self.curves[name], self.manifest["grid"], self.steps).sel(**selection)

    def column(self, name: str, **selection):
        """A ``summary.csv`` column as a labelled array over ``(axis..., seed)``."""
        from w2s_jax.analysis.results import labelled

        return labelled(self.summary[name], self.manifest["grid"]).sel(**selection)

    def to_pandas(self):
        """``summary.csv`` as a ``pandas.DataFrame`` (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install pandas") from None
        return pd.DataFrame(self.summary)

    def to_xarray(self):
        """Curves and summary as an ``xarray.Dataset`` (needs xarray)."""
        from w2s_jax.analysis.results import attributes, to_xarray

        grid = self.manifest["grid"]
        return to_xarray(self.summary, self.curves, self.steps, grid, attributes(self.manifest))


IDS_FILE = "ids.txt"  # the grid's configuration ids in grid order, one a line


def write_ids(directory: Path, ids: list[str]) -> None:
    """Record the grid's configuration ids (skipped when already there)."""
    path, text = Path(directory) / IDS_FILE, "\n".join(ids) + "\n"
    if not path.is_file() or path.read_bytes() != text.encode():  # garbage is rewritten
        atomic_write(path, lambda f: f.write(text.encode()))


REASSEMBLE = "run the same command again to rebuild it from the chunks (nothing is recomputed)"
RERUN_CHUNK = "run the same command again: it is set aside and its configurations run again"


def load_run(directory: str | Path) -> RunResults:
    """Load ``manifest.json``, ``summary.csv`` and ``curves.npz`` of a run directory; a
    partial or still running one is read from its chunk files instead: every row of the
    grid, the summary blank (NaN) and ``done`` false where a configuration is not done
    yet (axis and seed columns only: no derived raw values). A damaged, missing or
    edited file raises :class:`DamagedFileError` naming it and what to do."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    if manifest.get("status") != "complete":
        return _load_partial(directory, manifest)
    for name in ("summary.csv", "curves.npz"):
        problem = output_problem(directory, manifest, name)
        if problem is not None:
            raise DamagedFileError(directory / name, problem, REASSEMBLE)
    try:
        summary = read_summary(directory / "summary.csv")
    except (OSError, ValueError, IndexError) as error:
        raise DamagedFileError(directory / "summary.csv", _why(error), REASSEMBLE) from None
    try:
        with np.load(directory / "curves.npz") as data:
            curves = {k: data[k] for k in data.files if k != "steps"}
            steps = data["steps"]
    except Exception as error:  # damaged bytes raise whatever the zip reader meets
        raise DamagedFileError(directory / "curves.npz", _why(error), REASSEMBLE) from None
    rows = {len(v) for v in summary.values()} | {len(v) for v in curves.values()}
    if len(rows) > 1:
        raise DamagedFileError(directory / "summary.csv", "rows differ from curves.npz", REASSEMBLE)
    return RunResults(directory, manifest, summary, curves, steps)


def read_ids(directory: Path, manifest: dict) -> list[str]:
    """``DIR/ids.txt``: the grid's configuration ids (a :class:`DamagedFileError` when
    missing, not a list of ids, or not the ``manifest``'s grid: its fingerprint)."""
    path = Path(directory) / IDS_FILE
    try:
        ids = path.read_text().split()
    except (OSError, ValueError) as error:
        raise DamagedFileError(path, f"unreadable ({_why(error)})", REBUILD) from None
    if not ids or any(len(i) != 24 or not set(i) <= set("0123456789abcdef") for i in ids):
        raise DamagedFileError(path, "not a list of configuration ids", REBUILD)
    if manifest.get("fingerprint", fingerprint(ids)) != fingerprint(ids):
        raise DamagedFileError(path, "not the ids of the grid in manifest.json", REBUILD)
    return ids


def _load_partial(directory: Path, manifest: dict) -> RunResults:
    from w2s_jax.analysis.results import grid_rows
    from w2s_jax.analysis.summary import gather, summarize_done

    ids = read_ids(directory, manifest)
    recorded = recorded_digests(manifest, "chunks")
    for path in chunk_paths(directory):
        _, problem = load_chunk(path, recorded.get(f"chunks/{path.name}"))
        if problem is not None:
            raise DamagedFileError(path, problem, RERUN_CHUNK)
    records = read_chunks(directory, set(ids))
    own = [r.steps for r in records.values()]
    steps = np.unique(np.concatenate(own)) if own else np.zeros(0, np.int64)
    curves, scalars = gather(records, ids, steps)
    done = np.array([i in records for i in ids], bool)
    final = np.array([records[i].steps[-1] if i in records else -1 for i in ids])
    summary = grid_rows(manifest["grid"])
    if done.any():
        summary.update(summarize_done(curves, scalars, steps, final, done))
    summary["done"] = done
    return RunResults(directory, manifest, summary, curves, steps)
