"""A run's ``summary.csv``: one row per configuration, in grid order (NumPy only).

Written and parsed ``BLOCK`` rows at a time, so that a cell is a Python string only
while its block is handled (10^6 rows of ~45 columns as strings would be gigabytes);
the bytes are those of the ``csv`` module and the columns those it reads back (a file
with quoted cells, or not as written, is read by the ``csv`` module itself).
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import math
from pathlib import Path

import numpy as np

from w2s_jax.analysis import run_files


def _cell(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else f"{float(value):.8g}"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


BLOCK = 8192  # rows of summary.csv formatted or parsed at once (bounded memory)


_BOOLEANS = np.array(["false", "true"], dtype=object)


def _texts(values) -> list[str]:
    """A column's cells as ``summary.csv`` writes them, unquoted."""
    return _block(values)[0]


def _block(values) -> tuple[list[str], np.ndarray]:
    """A block of a column: its cells as ``summary.csv`` writes them, unquoted, and the
    column :func:`_column` reads back from them. By dtype: a float column's distinct
    values (by their bits: ``-0.0`` is not ``0.0``) are formatted in one ``%``, the
    text ``f"{v:.8g}"`` gives each, NaN blank, and parsed back once each (a summary
    column holds few distinct values: errors are counts over the test set, the
    theorem's conditions repeat over the seeds)."""
    values = np.asarray(values)
    kind = values.dtype.kind
    if kind == "b":
        return _BOOLEANS[values.astype(np.intp)].tolist(), values.astype(bool)
    if kind == "f" and len(values):
        bits = np.ascontiguousarray(values).view(f"u{values.dtype.itemsize}")
        _, first, inverse = np.unique(bits, return_index=True, return_inverse=True)
        distinct = values[first]
        texts = ("%.8g\n" * len(distinct) % tuple(distinct.tolist())).split("\n")[:-1]
        for row in np.flatnonzero(np.isnan(distinct)).tolist():
            texts[row] = ""  # NaN: blank
        numbers = np.array([text or "nan" for text in texts], dtype=float)
        return np.array(texts, dtype=object)[inverse].tolist(), numbers[inverse]
    if kind in "iu":
        cells = list(map(str, values.tolist()))
    elif kind == "U":
        cells = values.tolist()
    else:
        cells = [_cell(v) for v in values.tolist()]
    return cells, _column(cells)


def _quoting(values: np.ndarray, cells: list[str]) -> list[str]:
    """``cells`` as csv writes them (quoted where they hold a comma, quote or newline;
    booleans and numbers never do)."""
    if values.dtype.kind in "biuf":
        return cells
    if any(c in cell for cell in set(cells) for c in ',"\r\n'):
        return [_quoted(cell) for cell in cells]
    return cells


def _quoted(cell: str) -> str:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerow([cell, ""])
    return text.getvalue()[:-2]


def write_summary(
    path: Path, columns: dict[str, np.ndarray], digests: dict[str, str] | None = None
) -> dict[str, np.ndarray]:
    """Write ``summary.csv`` (formatted ``BLOCK`` rows at a time); returns its columns
    as :func:`read_summary` reads them back (numbers at the 8 digits written).
    ``digests``: where the file's SHA-256 is put (under its name), hashed as written."""
    names = list(columns)
    rows = len(next(iter(columns.values()))) if columns else 0
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(names)
    read_back: dict[str, list] = {name: [] for name in names}
    digest = hashlib.sha256()

    def write(file) -> None:
        text = header.getvalue().encode()
        file.write(text)
        digest.update(text)
        for first in range(0, rows, BLOCK):
            values = [np.asarray(columns[n])[first : first + BLOCK] for n in names]
            texts = []
            for name, part in zip(names, values):
                cells, numbers = _block(part)
                texts.append(cells)
                read_back[name].append(numbers)
            cells = [_quoting(v, c) for v, c in zip(values, texts)]
            text = ("\n".join(map(",".join, zip(*cells))) + "\n").encode()
            file.write(text)
            digest.update(text)

    run_files.atomic_write(path, write)
    if digests is not None:
        digests[Path(path).name] = digest.hexdigest()
    out = {}
    for name, parts in read_back.items():
        if len({part.dtype.kind for part in parts}) > 1:  # as the whole column reads
            out[name] = _column(_texts(columns[name]))
        else:
            out[name] = np.concatenate(parts) if parts else np.array([], float)
    return out


def read_summary(path: Path) -> dict[str, np.ndarray]:
    """``summary.csv`` back as columns: numbers as float arrays, words as str arrays
    (read ``BLOCK`` lines at a time)."""
    with open(path, newline="") as file:
        columns = _parse(file)
    return columns if columns is not None else summary_columns(Path(path).read_bytes())


def summary_columns(data: bytes) -> dict[str, np.ndarray]:
    """The columns of a ``summary.csv`` whose bytes are ``data``."""
    columns = _parse(io.StringIO(data.decode(), newline=""))
    return columns if columns is not None else _summary_columns_csv(data.decode())


def _parse(lines) -> dict[str, np.ndarray] | None:
    """The columns of the lines of a ``summary.csv`` as written (a cell is a Python
    string only while its block of ``BLOCK`` rows is parsed); None where the ``csv``
    module must decide (quoted cells, rows of another length, no final newline)."""
    first = next(lines, "")
    if not first.endswith("\n") or '"' in first or "\r" in first:
        return None
    header = first[:-1].split(",")
    blocks: dict[str, list[np.ndarray]] = {name: [] for name in header}
    while part := list(itertools.islice(lines, BLOCK)):
        if not part[-1].endswith("\n"):
            return None
        part = [line[:-1] for line in part]
        if any(line.count(",") != len(header) - 1 or '"' in line or "\r" in line for line in part):
            return None
        for name, cells in zip(header, zip(*(line.split(",") for line in part))):
            blocks[name].append(_column(cells))
    columns: dict[str, np.ndarray] = {}
    for name, parts in blocks.items():
        if len({part.dtype.kind for part in parts}) > 1:  # words in one block, numbers in
            return None  # another: the column is words
        columns[name] = np.concatenate(parts) if parts else np.array([], float)
    return columns


def _column(cells) -> np.ndarray:
    """A column's cells (text) as :func:`read_summary` gives it: booleans, numbers
    (blank: NaN; parsed by ``float``, as the ``csv`` reading did) or words."""
    if not cells:
        return np.array([], float)
    if cells[0] in ("true", "false") and set(cells) <= {"true", "false"}:
        return np.array([c == "true" for c in cells])
    try:
        return np.array(cells, dtype=float)  # float() on each cell
    except ValueError:
        pass
    try:
        return np.array([c or "nan" for c in cells], dtype=float)
    except ValueError:
        return np.array(cells)


def _summary_columns_csv(text: str) -> dict[str, np.ndarray]:
    rows = list(csv.reader(io.StringIO(text, newline="")))
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
