"""A run directory's chunk files: one finished chunk each (configuration ids, steps,
curves, scalars, the versions that made it), written atomically; read back as a whole,
as a listing (ids and stamps only), or scattered row by row into a grid's arrays
(NumPy only).

Chunk files are the record of what is done: each is written to a temporary name and
renamed, so a killed process leaves either a whole chunk or none. Several processes
(``--shard``) may write chunks into the same directory; names are digests of the
configurations they hold, so they never collide.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from w2s_jax.analysis import run_files

CURVE_PREFIX, SCALAR_PREFIX, STAMP_PREFIX = "curve/", "scalar/", "stamp/"
GRID_SEED = "grid_seed"  # in a chunk: the base seed of the grid that made it


def write_chunk(
    directory: Path,
    ids,
    steps: np.ndarray,
    curves: dict,
    scalars: dict,
    stamp: dict[str, str],
    seed: int | None = None,
) -> Path:
    """Save one finished chunk atomically, with the ``stamp`` of the versions that made
    it (``provenance.stamp``) and the grid's base ``seed`` (configuration ids do not hold
    it: with it a lost manifest can be rebuilt from the chunks); returns its path.
    ``ids``: a list of text or an ``S24`` array (stored as text either way)."""
    text = np.asarray(ids).astype("U24") if len(ids) else np.asarray(ids)
    digest = hashlib.sha256(run_files.ids_text(np.asarray(ids))[:-1]).hexdigest()[:20]
    path = Path(directory) / "chunks" / f"{digest}.npz"
    arrays = {"ids": text, "steps": np.asarray(steps)}
    if seed is not None:
        arrays[GRID_SEED] = np.asarray(seed)
    arrays.update({STAMP_PREFIX + k: np.asarray(v) for k, v in stamp.items()})
    arrays.update({CURVE_PREFIX + k: np.asarray(v) for k, v in curves.items()})
    arrays.update({SCALAR_PREFIX + k: np.asarray(v) for k, v in scalars.items()})
    run_files.atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


@dataclass
class ChunkRecord:
    steps: np.ndarray
    curves: dict[str, np.ndarray]  # name -> (E,)
    scalars: dict[str, Any]


def chunk_paths(directory: Path) -> list[Path]:
    return sorted((Path(directory) / "chunks").glob("*.npz"))


def load_chunk(
    path: Path, digest: str | None = None, digests: dict[str, str] | None = None
) -> tuple[dict | None, str | None]:
    """A chunk file's arrays, all read (so every zip checksum is checked), and None; or
    None and why it cannot be used: unreadable, not a chunk, rows that do not match, or
    bytes that do not match ``digest`` (its SHA-256 as recorded). Nothing is unpickled.
    ``digests``: where the SHA-256 of the bytes read is put (as ``chunks/<name>``), so
    that a reader that seals the run need not read the file again."""
    try:
        blob = Path(path).read_bytes()
    except OSError as error:
        return None, f"unreadable ({error.strerror or error})"
    if digest is not None or digests is not None:
        actual = hashlib.sha256(blob).hexdigest()
        if digest is not None and actual != digest:
            return None, "its bytes do not match the digest recorded in manifest.json"
        if digests is not None:
            digests[f"chunks/{Path(path).name}"] = actual
    try:
        with np.load(io.BytesIO(blob)) as data:  # allow_pickle=False: never unpickles
            arrays = {k: data[k] for k in data.files}
    except Exception as error:  # damaged bytes raise whatever the zip reader meets
        return None, f"not a readable chunk ({run_files.error_text(error)})"
    ids, steps = arrays.get("ids"), arrays.get("steps")
    if ids is None or steps is None or ids.ndim != 1 or ids.dtype.kind != "U":
        return None, "not a chunk (no configuration ids or steps)"
    rows = [v for k, v in arrays.items() if k.startswith((CURVE_PREFIX, SCALAR_PREFIX))]
    if steps.ndim == 2:
        rows.append(steps)
    if any(v.ndim == 0 or len(v) != len(ids) for v in rows):
        return None, "not a chunk (its arrays do not have one row per configuration)"
    return arrays, None


def readable_chunks(directory: Path, members: tuple[str, ...] | None = None):
    """``(path, arrays)`` of every usable chunk file (only ``members`` and the stamps read,
    when given: the ids of a run are read often); damaged ones are skipped, their
    configurations simply not done (:mod:`integrity` checks and sets them aside first).
    With ``members``, ``arrays["names"]`` lists the file's members."""
    for path in chunk_paths(directory):
        if members is None:
            data, _ = load_chunk(path)
        else:
            try:
                with np.load(path) as file:
                    names = [k for k in file.files if k in members or k.startswith(STAMP_PREFIX)]
                    data = {k: file[k] for k in names}
                    data["names"] = list(file.files)
            except Exception:  # damaged bytes raise whatever the zip reader meets
                continue
            data = data if set(members) <= set(data) else None
        if data is not None:
            yield path, data


def read_chunks(directory: Path, wanted: set[str] | None = None) -> dict[str, ChunkRecord]:
    """Every finished configuration in ``DIR/chunks`` (restricted to ``wanted`` ids)."""
    found: dict[str, ChunkRecord] = {}
    for _, data in readable_chunks(directory):
        curves, scalars = members(data, CURVE_PREFIX), members(data, SCALAR_PREFIX)
        found.update(chunk_records(data["ids"].tolist(), data["steps"], curves, scalars, wanted))
    return found


def members(data: dict, prefix: str) -> dict[str, np.ndarray]:
    """A chunk's arrays under ``prefix`` (curves, scalars, stamps), the prefix removed."""
    return {k[len(prefix) :]: v for k, v in data.items() if k.startswith(prefix)}


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


@dataclass(frozen=True)
class ChunkEntry:
    """One usable chunk file as listed: its ``ids`` (text array), version ``stamp``
    (``{}`` for a chunk written before chunks were stamped) and curve names."""

    path: Path
    ids: np.ndarray
    stamp: dict[str, str]
    curves: tuple[str, ...]


def chunk_listing(directory: Path) -> list[ChunkEntry]:
    """Every usable chunk file of ``DIR``, its ids and stamp read (not its curves)."""
    return [
        ChunkEntry(
            path,
            data["ids"],
            {k: str(v) for k, v in members(data, STAMP_PREFIX).items()},
            tuple(
                sorted(k[len(CURVE_PREFIX) :] for k in data["names"] if k.startswith(CURVE_PREFIX))
            ),
        )
        for path, data in readable_chunks(directory, ("ids",))
    ]


def chunk_index(directory: Path) -> list[tuple[list[str], dict[str, str]]]:
    """Every usable chunk file of ``DIR`` (one listing): its configuration ids and the
    version stamp it was written with (``{}`` for a chunk written before chunks were
    stamped)."""
    return [(entry.ids.tolist(), entry.stamp) for entry in chunk_listing(directory)]


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


# ------------------------------------------------------------------ chunks into arrays


class IdRows:
    """Where configuration ids sit in a grid: ``rows(ids)`` gives each id's row (-1:
    not in the grid), by a binary search in the sorted ids (no dict of a million
    strings)."""

    def __init__(self, ids):
        self.ids = np.asarray(ids).astype("S24")
        self.order = np.argsort(self.ids, kind="stable")
        self.sorted = self.ids[self.order]

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, ids) -> np.ndarray:
        wanted = np.asarray(ids).astype("S24")
        if not len(self.sorted) or not len(wanted):
            return np.full(len(wanted), -1, np.int64)
        at = np.minimum(np.searchsorted(self.sorted, wanted), len(self.sorted) - 1)
        return np.where(self.sorted[at] == wanted, self.order[at], -1).astype(np.int64)


def first_of_each_step(steps: np.ndarray) -> np.ndarray:
    """``(C, E)`` mask of each row's first entry of each distinct step (the repeats that
    pad a configuration's steps to ``eval.points`` dropped: :func:`unique_steps`)."""
    order = np.argsort(steps, axis=1, kind="stable")
    ordered = np.take_along_axis(steps, order, axis=1)
    first = np.ones(steps.shape, bool)
    first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    keep = np.empty(steps.shape, bool)
    np.put_along_axis(keep, order, first, axis=1)
    return keep


def scatter_chunk(
    data: dict, rows: np.ndarray, steps: np.ndarray, curves: dict, scalars: dict
) -> None:
    """Write a chunk's configurations (``data``: :func:`load_chunk`'s arrays; ``rows``:
    their rows, -1 for those left out) into ``curves`` name -> ``(configs, E)`` on the
    union ``steps (E,)`` and ``scalars`` name -> ``(configs,)``: what
    :func:`chunk_records` and ``summary.gather`` give, without a record per row."""
    mine = rows >= 0
    if not mine.any():
        return
    own = data["steps"]
    own = own if own.ndim == 2 else np.broadcast_to(own, (len(rows), len(own)))
    own = own[mine]
    keep = first_of_each_step(own)
    where = np.searchsorted(steps, own)
    row_of = np.broadcast_to(rows[mine][:, None], own.shape)
    target = (row_of[keep], where[keep])
    for name, values in members(data, CURVE_PREFIX).items():
        curves[name][target] = values[mine][keep]
    for name, values in members(data, SCALAR_PREFIX).items():
        scalars[name][rows[mine]] = values[mine]
