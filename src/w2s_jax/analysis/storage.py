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
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

CURVE_PREFIX, SCALAR_PREFIX, STAMP_PREFIX = "curve/", "scalar/", "stamp/"


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


def write_json(path: Path, data: dict) -> None:
    text = json.dumps(data, indent=2, default=_json_default, allow_nan=False)
    atomic_write(path, lambda f: f.write(text.encode() + b"\n"))


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


# ------------------------------------------------------------------ chunks


def write_chunk(
    directory: Path,
    ids: list[str],
    steps: np.ndarray,
    curves: dict,
    scalars: dict,
    stamp: dict[str, str],
) -> Path:
    """Save one finished chunk atomically, with the ``stamp`` of the versions that made
    it (``provenance.stamp``); returns its path."""
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:20]
    path = Path(directory) / "chunks" / f"{digest}.npz"
    arrays = {"ids": np.asarray(ids), "steps": np.asarray(steps)}
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


def read_chunks(directory: Path, wanted: set[str] | None = None) -> dict[str, ChunkRecord]:
    """Every finished configuration in ``DIR/chunks`` (restricted to ``wanted`` ids)."""
    found: dict[str, ChunkRecord] = {}
    for path in sorted((Path(directory) / "chunks").glob("*.npz")):
        try:
            data = dict(np.load(path))
        except (OSError, ValueError, EOFError):
            continue  # a foreign or damaged file: its configurations are simply not done
        for row, config_id in enumerate(data["ids"].tolist()):
            if wanted is not None and config_id not in wanted:
                continue
            steps, keep = unique_steps(data["steps"], row)
            found[config_id] = ChunkRecord(
                steps=steps,
                curves={
                    k[len(CURVE_PREFIX) :]: v[row][keep]
                    for k, v in data.items()
                    if k.startswith(CURVE_PREFIX)
                },
                scalars={
                    k[len(SCALAR_PREFIX) :]: v[row]
                    for k, v in data.items()
                    if k.startswith(SCALAR_PREFIX)
                },
            )
    return found


def unique_steps(steps: np.ndarray, row: int) -> tuple[np.ndarray, np.ndarray]:
    """A configuration's evaluation steps without the repeats that pad them to
    ``eval.points``, and where they are in its curves. ``steps`` is ``(C, E)``, or
    ``(E,)`` for all rows (chunk files written before step counts were traced)."""
    own = steps[row] if steps.ndim == 2 else steps
    return np.unique(own, return_index=True)


def completed_ids(directory: Path) -> set[str]:
    done: set[str] = set()
    for path in (Path(directory) / "chunks").glob("*.npz"):
        try:
            with np.load(path) as data:
                done.update(data["ids"].tolist())
        except (OSError, ValueError, EOFError, KeyError):
            continue
    return done


def chunk_stamps(directory: Path, wanted: set[str]) -> list[dict[str, str]]:
    """The distinct version stamps of the chunks holding any of the ``wanted`` ids
    (``{}`` for a chunk written before chunks were stamped)."""
    stamps: list[dict[str, str]] = []
    for path in sorted((Path(directory) / "chunks").glob("*.npz")):
        try:
            with np.load(path) as data:
                if wanted.isdisjoint(data["ids"].tolist()):
                    continue
                stamp = {
                    k[len(STAMP_PREFIX) :]: str(data[k])
                    for k in data.files
                    if k.startswith(STAMP_PREFIX)
                }
        except (OSError, ValueError, EOFError, KeyError):
            continue
        if stamp not in stamps:
            stamps.append(stamp)
    return stamps


# ------------------------------------------------------------------ up to date?

FIGURES_STAMP = ".drawn.json"  # in DIR/figures: the results and formats drawn there
FIGURE_FORMATS = ("png", "pdf", "svg")  # what --format accepts; PNG is the default


def fingerprint(ids: list[str]) -> str:
    """A run's identity: its configurations' identities in grid order."""
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:24]


def _complete_manifest(directory: Path, outputs: tuple[str, ...]) -> dict:
    """The manifest of a complete run whose ``outputs`` all exist; ``{}`` otherwise."""
    try:
        manifest = read_json(Path(directory) / "manifest.json")
    except (OSError, ValueError):
        return {}
    present = all((Path(directory) / name).is_file() for name in outputs)
    return manifest if present and manifest.get("status") == "complete" else {}


def assembled(directory: Path, expected: str) -> bool:
    """Whether ``DIR`` holds the assembled outputs of the grid with this fingerprint."""
    manifest = _complete_manifest(directory, ("summary.csv", "curves.npz"))
    return bool(manifest) and manifest.get("fingerprint") == expected


def results_digest(directory: Path) -> str:
    """A digest of what the figures show: ``summary.csv`` and ``curves.npz``."""
    digest = hashlib.sha256()
    for name in ("summary.csv", "curves.npz"):
        digest.update((Path(directory) / name).read_bytes())
    return digest.hexdigest()


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
    manifest = _complete_manifest(directory, ("summary.csv", "curves.npz", "report.md"))
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


def write_summary(path: Path, columns: dict[str, np.ndarray]) -> None:
    names = list(columns)
    rows = len(next(iter(columns.values()))) if columns else 0

    def write(file):
        import io

        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(names)
        for i in range(rows):
            writer.writerow([_cell(columns[name][i]) for name in names])
        file.write(text.getvalue().encode())

    atomic_write(path, write)


def read_summary(path: Path) -> dict[str, np.ndarray]:
    """``summary.csv`` back as columns: numbers as float arrays, words as str arrays."""
    with open(path, newline="") as file:
        rows = list(csv.reader(file))
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


def write_curves(path: Path, steps: np.ndarray, curves: dict[str, np.ndarray]) -> None:
    atomic_write(path, lambda f: np.savez(f, steps=steps, **curves))


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
    if not path.is_file() or path.read_text() != text:
        atomic_write(path, lambda f: f.write(text.encode()))


def load_run(directory: str | Path) -> RunResults:
    """Load ``manifest.json``, ``summary.csv`` and ``curves.npz`` of a run directory; a
    partial or still running one is read from its chunk files instead: every row of the
    grid, the summary blank (NaN) and ``done`` false where a configuration is not done
    yet (axis and seed columns only: no derived raw values)."""
    directory = Path(directory)
    manifest = read_json(directory / "manifest.json")
    if not _complete_manifest(directory, ("summary.csv", "curves.npz")):
        return _load_partial(directory, manifest)
    summary = read_summary(directory / "summary.csv")
    with np.load(directory / "curves.npz") as data:
        curves = {k: data[k] for k in data.files if k != "steps"}
        steps = data["steps"]
    return RunResults(directory, manifest, summary, curves, steps)


def _load_partial(directory: Path, manifest: dict) -> RunResults:
    from w2s_jax.analysis.results import grid_rows
    from w2s_jax.analysis.summary import gather, summarize_done

    try:
        ids = (directory / IDS_FILE).read_text().split()
    except OSError:
        raise OSError(f"{directory}: no {IDS_FILE}: not a run directory of this version") from None
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
