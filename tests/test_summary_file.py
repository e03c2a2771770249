"""``summary.csv``'s bytes are those of the ``csv`` module over the cells formatted one
at a time (``f"{v:.8g}"``, NaN blank, ``true``/``false``, integers, words quoted where
they must be), whatever the writer does to go faster; and what it returns is what
reading the file gives back."""

from __future__ import annotations

import csv
import io

import numpy as np

from w2s_jax.analysis import storage, summary_file


def reference_bytes(columns: dict[str, np.ndarray]) -> bytes:
    def cell(value) -> str:
        if isinstance(value, (bool, np.bool_)):
            return "true" if value else "false"
        if isinstance(value, (float, np.floating)):
            return "" if np.isnan(value) else f"{float(value):.8g}"
        if isinstance(value, (int, np.integer)):
            return str(int(value))
        return str(value)

    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(list(columns))
    rows = len(next(iter(columns.values())))
    for row in range(rows):
        writer.writerow([cell(np.asarray(values)[row]) for values in columns.values()])
    return text.getvalue().encode()


def varied_columns(rows: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, 1.7976931348623157e308,
                        1e16, 12345678.5, 0.1, 1 / 3, -2.5e-7, 1e21, 123456789.0])  # fmt: skip
    floats = rng.standard_normal(rows) * 10.0 ** rng.integers(-30, 30, rows)
    chosen = rng.random(rows) < 0.2
    floats[chosen] = rng.choice(special, rows)[chosen]
    blank = np.full(rows, np.nan)
    blank[::7] = 1.5
    words = np.array(["recovers", "fails", "a, b", 'say "x"', "two\nlines", "nan", ""])
    return {
        "strong.n": np.repeat(np.array([8, 16]), rows)[:rows],
        "seed": np.arange(rows, dtype=np.int64),
        "ratio": rng.random(rows),
        "float32": rng.standard_normal(rows).astype(np.float32),
        "floats": floats,
        "mostly_nan": blank,
        "all_nan": np.full(rows, np.nan),
        "holds": rng.random(rows) < 0.5,
        "unsigned": rng.integers(0, 2**63, rows, dtype=np.uint64),
        "regime": np.array(["recovers", "fails"])[rng.integers(0, 2, rows)],
        "words": words[rng.integers(0, len(words), rows)],
        "mixed": np.array([1.5, "x", True, 3, np.nan] * rows, dtype=object)[:rows],
    }


def test_the_bytes_are_the_csv_modules_over_each_cell(tmp_path, monkeypatch):
    monkeypatch.setattr(summary_file, "BLOCK", 37)  # blocks end mid-column, some odd
    for rows, seed in [(1, 0), (37, 1), (500, 2), (2000, 3)]:
        columns = varied_columns(rows, seed)
        path = tmp_path / f"summary_{rows}.csv"
        read_back = storage.write_summary(path, columns)
        assert path.read_bytes() == reference_bytes(columns)
        again = storage.read_summary(path)
        assert list(read_back) == list(again) == list(columns)
        for name in columns:
            np.testing.assert_array_equal(read_back[name], again[name], err_msg=name)


def test_numeric_columns_read_back_as_the_digits_written(tmp_path):
    columns = {k: v for k, v in varied_columns(3000, 4).items() if v.dtype.kind in "biuf"}
    path = tmp_path / "summary.csv"
    read_back = storage.write_summary(path, columns)
    assert path.read_bytes() == reference_bytes(columns)
    text = path.read_text().splitlines()[1:]
    floats = list(columns).index("floats")
    written = np.array([float(line.split(",")[floats] or "nan") for line in text])
    np.testing.assert_array_equal(read_back["floats"], written)
    assert read_back["holds"].dtype == bool
    np.testing.assert_array_equal(read_back["holds"], columns["holds"])
