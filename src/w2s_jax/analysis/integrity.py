"""A run directory's integrity: what its files are checked against, what is repaired
from what is intact, and what is refused (NumPy only; ``docs/RUNNING.md``).

When a run's outputs are assembled, :func:`seal` records in ``manifest.json`` (its
``integrity`` entry) the SHA-256 of every chunk file, of every output derived from
them (``summary.csv``, every file of ``curves/`` (or a run's ``curves.npz`` of an earlier
version), ``report.md``) and of ``ids.txt``; later runs keep
the chunks' record until they make their own (``storage.write_manifest``). Before a run
reads a directory, :func:`repair` checks it:

* a chunk that does not match its recorded digest, or (written since the last seal)
  whose zip checksums or layout fail, is renamed aside (``<name>.damaged-<time>``, kept)
  with one warning line; its configurations are then simply not done, and run again;
* a ``manifest.json`` that is not a run's manifest is renamed aside and rebuilt from the
  grid when the chunks make that unambiguous: there are none, or they all carry this
  grid's base seed (configuration ids do not hold it) and every configuration of the
  grid is done (a partial run's manifest also held each program's padding, which fixes
  the last bits of what is still to run). Otherwise :class:`~storage.DamagedFileError`,
  naming the file and ``--force`` (exit 2 on the command line).

Outputs missing or not matching their digests are rebuilt from the chunks by the run
(``storage.assembled`` says they are not there); ``ids.txt`` is rewritten from the
grid by every run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from w2s_jax.analysis import storage

DAMAGED = ".damaged-"  # infix of a file renamed aside


def say(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr)


def set_aside(path: Path) -> Path:
    """Rename the damaged file ``path`` to ``<name>.damaged-<UTC time>`` beside it (never
    deleted: it may be worth a look); returns the new path."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}{DAMAGED}{stamp}")
    for k in range(1, 1000):
        if not target.exists():
            break
        target = path.with_name(f"{path.name}{DAMAGED}{stamp}-{k}")
    try:
        path.rename(target)
    except FileNotFoundError:  # another process of the run set it aside first
        pass
    return target


def _manifest(directory: Path) -> tuple[dict | None, str | None]:
    """The manifest, or None and why it is damaged (None, None: there is none)."""
    try:
        return storage.read_manifest(directory), None
    except storage.DamagedFileError as error:
        if not (Path(directory) / "manifest.json").exists():
            return None, None
        return None, error.problem


def repair(directory: Path, ids, seed: int, warn: Callable[[str], None] = say) -> None:
    """Check ``directory`` before a run of the grid with configuration ``ids`` and base
    ``seed``: set damaged chunks aside, rebuild a damaged manifest where unambiguous
    (else :class:`~storage.DamagedFileError`). One ``warn`` line per file set aside."""
    directory = Path(directory)
    manifest, manifest_problem = _manifest(directory)
    recorded = storage.recorded_digests(manifest or {}, "chunks")
    seeds, held = set(), set()
    for path in storage.chunk_paths(directory):
        data, problem = storage.load_chunk(path, recorded.get(f"chunks/{path.name}"))
        if problem is None:
            held.update(data["ids"].tolist())
            seeds.add(int(data[storage.GRID_SEED]) if storage.GRID_SEED in data else None)
            continue
        aside = set_aside(path)
        warn(f"{path}: {problem}; set aside as {aside.name}, its configurations run again")
    path = directory / "manifest.json"
    if manifest is not None or (manifest_problem is None and not held):
        return
    manifest_problem = manifest_problem or "missing"  # beside chunks: as ambiguous
    if held and seeds != {seed}:
        why = "its chunks do not all record this grid's base seed"
    elif held and not set(np.asarray(ids).astype("U24").tolist()) <= held:
        why = "the run is partial, and its programs' paddings are not in the chunks"
    else:
        aside = "" if not path.exists() else f"; set aside as {set_aside(path).name}"
        warn(f"{path}: {manifest_problem}{aside}, rebuilt from the grid and the chunks")
        return
    raise storage.DamagedFileError(
        path,
        f"{manifest_problem}, not rebuilt: {why}",
        "run the grid that made it again first (that rebuilds it), or --force to start over",
    )


def run_digests(directory: Path, known: dict[str, str] | None = None) -> dict:
    """The ``integrity`` entry of a complete run: every chunk's and output's SHA-256
    (``known``: file -> SHA-256 of those hashed as they were written or read, so not
    read again; the others are read)."""
    directory, known = Path(directory), known or {}

    def digest(name: str) -> str:
        return known.get(name) or storage.file_digest(directory / name)

    chunks = [f"chunks/{path.name}" for path in storage.chunk_paths(directory)]
    return {
        "chunks": {name: digest(name) for name in chunks},
        "outputs": {name: digest(name) for name in storage.output_names(directory)},
    }


def seal(directory: Path, known: dict[str, str] | None = None) -> None:
    """Record the digests of a complete run's chunks and outputs in its manifest (the
    "up to date" check compares the outputs', every reader of a chunk its own);
    ``known``: the digests of files this process wrote or read whole (:func:`run_digests`)."""
    directory = Path(directory)
    manifest = storage.read_json(directory / "manifest.json")
    if manifest.get("status") != "complete":
        return
    entry = run_digests(directory, known)
    if manifest.get("integrity") != entry:
        manifest["integrity"] = entry
        storage.write_json(directory / "manifest.json", manifest)
