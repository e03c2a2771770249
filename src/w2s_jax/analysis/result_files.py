"""A run's curves on disk: one ``.npy`` file per curve in ``curves/`` (memory-mapped
when read), or the single ``curves.npz`` of runs made before; which of the results
(``summary.csv`` (:mod:`~w2s_jax.analysis.summary_file`) and the curves) are complete and
match the digests the manifest records; and what the figures were drawn from (NumPy
only).

``curves/`` is written into a temporary directory beside it, one preallocated file per
curve filled chunk by chunk (:class:`CurveWriter`), and renamed into place whole: a
killed or failed write leaves the earlier results as they were.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from w2s_jax.analysis import run_files

CURVES = "curves"  # DIR/curves/<name>.npy and DIR/curves/steps.npy
LEGACY_CURVES = "curves.npz"  # what runs made before curves/ existed hold
STEPS = "steps"
FIGURES_STAMP = ".drawn.json"  # in DIR/figures: the results and formats drawn there
FIGURE_FORMATS = ("png", "pdf", "svg")  # what --format accepts; PNG is the default
DERIVED = ("report.md", "ids.txt")  # recorded beside the results, checked by up_to_date


# ------------------------------------------------------------------ curves


class CurveWriter:
    """``DIR/curves`` being written: ``curves`` name -> a ``(rows, E)`` float64 array
    mapped onto its preallocated ``.npy`` file (NaN until written), in a temporary
    directory until :meth:`commit` renames it into place (:meth:`discard`: removed);
    ``digests``: each file's SHA-256 once committed (``curves/<name>.npy`` -> hex)."""

    def __init__(self, directory: Path, steps: np.ndarray, names, rows: int):
        self.directory = Path(directory)
        for stale in self.directory.glob(".curves-*.tmp"):  # of a killed run (under its lock)
            shutil.rmtree(stale, ignore_errors=True)
        self.staging = Path(tempfile.mkdtemp(dir=directory, prefix=".curves-", suffix=".tmp"))
        self.steps = np.asarray(steps)
        self.digests: dict[str, str] = {}
        try:
            np.save(self.staging / f"{STEPS}.npy", self.steps)
            self.curves = {
                name: _allocate(self.staging / f"{_file_name(name)}.npy", (rows, len(steps)))
                for name in names
            }
        except BaseException:
            self.discard()
            raise

    def commit(self) -> dict[str, np.ndarray]:
        """Write the files out and put them in place of ``DIR/curves`` (and of a
        ``curves.npz`` of an earlier version); returns the curves read back, mapped.
        Each file is hashed once here, as it is synced (:attr:`digests`)."""
        try:
            for array in self.curves.values():
                array.flush()
            for path in sorted(self.staging.iterdir()):
                with open(path, "rb") as file:
                    os.fsync(file.fileno())
                    digest = hashlib.file_digest(file, "sha256").hexdigest()
                self.digests[f"{CURVES}/{path.name}"] = digest
        except BaseException:
            self.discard()
            raise
        names = list(self.curves)
        self.curves = {}
        target = self.directory / CURVES
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(dir=self.directory, prefix=".curves-old-", suffix=".tmp"))
            os.replace(target, old / CURVES)
        os.replace(self.staging, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        (self.directory / LEGACY_CURVES).unlink(missing_ok=True)
        return {name: np.load(target / f"{_file_name(name)}.npy", mmap_mode="r") for name in names}

    def discard(self) -> None:
        self.curves = {}
        shutil.rmtree(self.staging, ignore_errors=True)


def _file_name(name: str) -> str:
    if not name or name == STEPS or not all(c.isalnum() or c in "_-." for c in name):
        raise ValueError(f"curve name {name!r} cannot name a file of curves/")
    return name


def _allocate(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A ``.npy`` file of ``shape`` float64 NaN, its blocks reserved (a full disk fails
    here, with an OSError, not later in a write to the mapping), mapped for writing."""
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=shape)
    size = os.path.getsize(path)
    with open(path, "r+b") as file:
        reserve(file.fileno(), size)
    array[:] = np.nan
    return array


def reserve(fd: int, size: int) -> None:
    """Reserve ``size`` bytes of disk for the open file ``fd`` (ENOSPC: OSError)."""
    if size > 0 and hasattr(os, "posix_fallocate"):
        os.posix_fallocate(fd, 0, size)


def write_curves(
    directory: Path, steps: np.ndarray, curves: dict[str, np.ndarray]
) -> dict[str, str]:
    """Write ``DIR/curves`` from arrays in memory (``(configs, E)`` each on ``steps``);
    returns the files' digests (:attr:`CurveWriter.digests`)."""
    rows = len(next(iter(curves.values()))) if curves else 0
    writer = CurveWriter(directory, steps, list(curves), rows)
    for name, values in curves.items():
        writer.curves[name][:] = values
    writer.commit()
    return writer.digests


def curve_files(directory: Path) -> list[str]:
    """The curve files of ``DIR`` (relative names): ``curves/*.npy`` sorted, else
    ``curves.npz`` (a run of an earlier version), else none."""
    folder = Path(directory) / CURVES
    if folder.is_dir():
        return sorted(f"{CURVES}/{p.name}" for p in folder.glob("*.npy"))
    return [LEGACY_CURVES] if (Path(directory) / LEGACY_CURVES).is_file() else []


def read_curves(directory: Path, names: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The ``steps`` and the curves of the curve files ``names`` (:func:`curve_files`):
    those of ``curves/`` memory-mapped (read when used), those of ``curves.npz`` read.
    Raises whatever a damaged file raises."""
    directory = Path(directory)
    if names == [LEGACY_CURVES]:
        with np.load(directory / LEGACY_CURVES) as data:
            return data[STEPS], {k: data[k] for k in data.files if k != STEPS}
    arrays = {
        Path(name).stem: np.load(directory / name, mmap_mode="r", allow_pickle=False)
        for name in names
    }
    steps = np.array(arrays.pop(STEPS))
    return steps, arrays


# ------------------------------------------------------------------ complete and current?


def result_names(directory: Path, manifest: dict) -> list[str]:
    """What the figures show: ``summary.csv`` and the curve files the manifest recorded
    (those on disk when it recorded none)."""
    recorded = run_files.recorded_digests(manifest, "outputs")
    curves = sorted(k for k in recorded if k == LEGACY_CURVES or k.startswith(f"{CURVES}/"))
    return ["summary.csv", *(curves or curve_files(directory))]


def output_names(directory: Path) -> list[str]:
    """The outputs of ``DIR`` whose digests a complete run records (those present)."""
    names = ["summary.csv", *curve_files(directory), *DERIVED]
    return [name for name in names if (Path(directory) / name).is_file()]


def output_problem(directory: Path, manifest: dict, name: str) -> str | None:
    """Why the output ``name`` is not the one the manifest recorded (None: it is)."""
    path = Path(directory) / name
    if not path.is_file():
        return "missing"
    expected = run_files.recorded_digests(manifest, "outputs").get(name)
    try:
        if expected is not None and run_files.file_digest(path) != expected:
            return "does not match the digest recorded in manifest.json (damaged or edited)"
    except OSError as error:
        return f"unreadable ({error.strerror or error})"
    return None


def _complete_manifest(directory: Path, derived: tuple[str, ...], manifest: dict | None) -> dict:
    """The manifest of a complete run whose results and ``derived`` outputs were all
    recorded and all match their digests; ``{}`` otherwise. ``manifest``: the
    directory's, when the caller has read it already."""
    if manifest is None:
        try:
            manifest = run_files.read_json(Path(directory) / "manifest.json")
        except (OSError, ValueError):
            return {}
    if not isinstance(manifest, dict) or manifest.get("status") != "complete":
        return {}
    names = [*result_names(directory, manifest), *derived]
    if len(names) < 2 + len(derived):  # no curves
        return {}
    if not set(names) <= set(run_files.recorded_digests(manifest, "outputs")):
        return {}
    intact = all(output_problem(directory, manifest, name) is None for name in names)
    return manifest if intact else {}


def assembled(directory: Path, expected: str, manifest: dict | None = None) -> bool:
    """Whether ``DIR`` holds the assembled outputs of the grid with this fingerprint
    (``manifest``: its manifest, when the caller has read it already)."""
    manifest = _complete_manifest(directory, (), manifest)
    return bool(manifest) and manifest.get("fingerprint") == expected


STAMP_OF = "file digests"  # the stamp's "of": its digest is results_digest_of's


def results_digest_of(digests: dict[str, str]) -> str:
    """A digest of what the figures show, from the SHA-256 of each file (``digests``:
    file -> hex, as the manifest's ``integrity`` records them): ``summary.csv`` and the
    curve files in order, so that nothing is read again to stamp the figures."""
    names = sorted(k for k in digests if k == LEGACY_CURVES or k.startswith(f"{CURVES}/"))
    text = "".join(f"{name} {digests[name]}\n" for name in ["summary.csv", *names])
    return hashlib.sha256(text.encode()).hexdigest()


def results_digest(directory: Path) -> str:
    """:func:`results_digest_of` the files of ``DIR`` (``summary.csv`` and the curve
    files, each read and hashed; for a run of an earlier version, its ``curves.npz``)."""
    names = ["summary.csv", *curve_files(directory)]
    digests = {name: run_files.file_digest(Path(directory) / name) for name in names}
    return results_digest_of(digests)


def _concatenated_digest(directory: Path) -> str:
    """The digest stamps made before :data:`STAMP_OF` held: of the files' bytes, one
    after the other."""
    digest = hashlib.sha256()
    for name in ["summary.csv", *curve_files(directory)]:
        with open(Path(directory) / name, "rb") as file:
            while block := file.read(1 << 22):
                digest.update(block)
    return digest.hexdigest()


def figures_stamp(directory: Path) -> dict:
    """``{"results": digest, "of": STAMP_OF, "formats": [...]}``: what ``DIR/figures``
    was drawn from."""
    try:
        stamp = json.loads((Path(directory) / "figures" / FIGURES_STAMP).read_text())
    except (OSError, ValueError):
        return {}
    return stamp if isinstance(stamp, dict) else {}


def _drawn_from(directory: Path, stamp: dict, digest: str) -> bool:
    """Whether ``stamp`` says the figures were drawn from the results of ``digest``
    (a stamp of an earlier version: from the files' bytes, read for it)."""
    if "results" not in stamp:
        return False
    if stamp.get("of") == STAMP_OF:
        return stamp["results"] == digest
    try:
        return stamp["results"] == _concatenated_digest(directory)
    except OSError:
        return False


def figures_current(directory: Path, formats: tuple[str, ...], digest: str | None = None) -> bool:
    """Whether ``DIR/figures`` holds ``formats`` drawn from the current results
    (``digest``: theirs, :func:`results_digest_of`; None: the files are read)."""
    stamp = figures_stamp(directory)
    if not set(formats) <= set(stamp.get("formats", ())):
        return False
    return _drawn_from(directory, stamp, digest or results_digest(directory))


def record_figures(directory: Path, digest: str, formats: tuple[str, ...]) -> None:
    """Stamp ``DIR/figures`` as drawn from ``digest`` in ``formats`` (and in the formats
    stamped before, when those were drawn from the same results)."""
    stamp = figures_stamp(directory)
    kept = set(stamp.get("formats", ())) if _drawn_from(directory, stamp, digest) else set()
    formats = sorted(kept | set(formats))
    text = json.dumps({"results": digest, "of": STAMP_OF, "formats": formats}) + "\n"
    path = Path(directory) / "figures" / FIGURES_STAMP
    run_files.atomic_write(path, lambda f: f.write(text.encode()))


def up_to_date(directory: Path, request: dict, formats: tuple[str, ...] | None) -> bool:
    """Whether the CLI's request (``request``: its grid file's digest and the package
    version) was already carried out completely in ``DIR``, figures in ``formats``
    included (None: no figures wanted). Reads no configuration and imports no JAX, so
    a finished grid run again returns at once."""
    manifest = _complete_manifest(directory, DERIVED, None)  # their digests compared
    if not manifest or manifest.get("request") != request:
        return False
    digests = run_files.recorded_digests(manifest, "outputs")  # of the files, as compared
    return formats is None or figures_current(directory, formats, results_digest_of(digests))
