"""Results that scale (docs/RUNNING.md, "The run directory"): the curves are written into
``curves/`` chunk by chunk and loaded memory-mapped; a run of the earlier layout
(``curves.npz``) still loads, resumes and extends; the results of 10^5 configurations are
assembled, written and loaded within a bound on the Python heap that holding the curves
in memory would break."""

from __future__ import annotations

import hashlib
import json
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from conftest import run_curves
from w2s_jax.analysis import integrity, storage
from w2s_jax.analysis.regimes import RegimeThresholds
from w2s_jax.execution import run_outputs
from w2s_jax.execution.grid import grid_from_dict
from w2s_jax.execution.runner import RunOptions, run_grid

SMALL = {
    "data": {"d": 160},
    "weak": {"n": 40, "steps": 20},
    "strong": {"m": 2, "steps": 30},
    "eval": {"n_test": 200, "points": 6},
    "run": {"backend": "dense"},
    "sweep": {"strong.n": [20, 30], "seeds": 2},
}
OPTIONS = RunOptions(quiet=True, figures=False)


def small(seeds: int = 2):
    return grid_from_dict({**SMALL, "sweep": {**SMALL["sweep"], "seeds": seeds}})


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("results") / "run"
    assert run_grid(small(), out, OPTIONS)
    return out


def test_the_curves_are_files_loaded_memory_mapped(finished):
    run = storage.load_run(finished)
    curve = run.curves["test_error"]
    assert isinstance(curve, np.memmap) and Path(curve.filename) == (
        finished / "curves" / "test_error.npy"
    )
    assert not curve.flags.writeable
    assert sorted(storage.curve_files(finished)) == sorted(
        f"curves/{name}.npy" for name in [*run.curves, "steps"]
    )
    # The curve at each configuration's last step is the summary's final error, and a
    # configuration's row is where its chunk put it (its identity's place in ids.txt).
    assert run.steps[-1] == 30  # strong.steps: every configuration's last step
    np.testing.assert_allclose(curve[:, -1], run.summary["strong_test_error"], rtol=1e-7)
    ids = (finished / "ids.txt").read_text().split()
    for path in storage.chunk_paths(finished):
        data, problem = storage.load_chunk(path)
        assert problem is None
        for row, config_id in enumerate(data["ids"].tolist()):
            where = ids.index(config_id)
            own = data["curve/test_error"][row]
            assert curve[where, -1] == np.float64(own[-1])
    # to_xarray keeps the grid's dimensions and the values
    dataset = run.to_xarray()
    assert dataset["test_error"].dims == ("strong.n", "seed", "step")
    np.testing.assert_array_equal(dataset["test_error"].values.reshape(len(run), -1), curve)


def test_the_integrity_record_covers_every_curve_file(finished, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    recorded = storage.recorded_digests(storage.read_json(out / "manifest.json"), "outputs")
    assert set(recorded) == set(storage.output_names(out))
    assert {"curves/steps.npy", "curves/test_error.npy", "summary.csv"} <= set(recorded)
    (out / ".curves-killed.tmp").mkdir()  # what a run killed while assembling leaves
    edited = np.load(out / "curves" / "train_loss.npy")
    edited[0, 0] += 1.0
    np.save(out / "curves" / "train_loss.npy", edited)
    with pytest.raises(storage.DamagedFileError, match="train_loss.npy"):
        storage.load_run(out)
    assert run_grid(small(), out, OPTIONS)  # rebuilt from the chunks, nothing recomputed
    assert not list(out.glob("*.tmp"))
    np.testing.assert_array_equal(
        storage.load_run(out).curves["train_loss"], storage.load_run(finished).curves["train_loss"]
    )


def test_the_figures_stamp_is_of_the_recorded_digests_and_an_earlier_one_is_honoured(
    finished, tmp_path
):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    manifest = storage.read_json(out / "manifest.json")
    recorded = storage.recorded_digests(manifest, "outputs")
    digest = storage.results_digest(out)  # the files read and hashed
    assert digest == storage.results_digest_of(recorded)  # as the run stamps them, unread
    # A stamp made before (a digest of the files' bytes one after the other) still says
    # the figures are current, and only while the results are those it was made from.
    concatenated = hashlib.sha256()
    for name in ["summary.csv", *storage.curve_files(out)]:
        concatenated.update((out / name).read_bytes())
    stamp = out / "figures" / storage.FIGURES_STAMP
    stamp.parent.mkdir()
    stamp.write_text(json.dumps({"results": concatenated.hexdigest(), "formats": ["png"]}))
    assert storage.figures_current(out, ("png",), digest)
    assert storage.up_to_date(out, manifest["request"], ("png",))
    assert not storage.figures_current(out, ("png", "pdf"), digest)
    storage.record_figures(out, digest, ("pdf",))  # restamped as now, png kept
    assert json.loads(stamp.read_text()) == {
        "results": digest, "of": "file digests", "formats": ["pdf", "png"]
    }  # fmt: skip
    assert storage.figures_current(out, ("png", "pdf"), digest)
    stamp.write_text(json.dumps({"results": hashlib.sha256(b"other").hexdigest(),
                                 "formats": ["png"]}))  # fmt: skip
    assert not storage.figures_current(out, ("png",), digest)


def to_earlier_layout(out: Path) -> None:
    """Rewrite a run directory as the code before ``curves/`` left it: ``curves.npz``
    (steps and every curve) and its digest in the manifest."""
    steps, curves = storage.read_curves(out, storage.curve_files(out))
    np.savez(out / "curves.npz", steps=steps, **{k: np.array(v) for k, v in curves.items()})
    shutil.rmtree(out / "curves")
    manifest = storage.read_json(out / "manifest.json")
    outputs = {
        k: v for k, v in manifest["integrity"]["outputs"].items() if not k.startswith("curves/")
    }
    outputs["curves.npz"] = storage.file_digest(out / "curves.npz")
    manifest["integrity"]["outputs"] = outputs
    storage.write_json(out / "manifest.json", manifest)


def test_a_run_of_the_earlier_layout_loads_resumes_and_extends(finished, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    before = run_curves(finished)
    to_earlier_layout(out)
    loaded = storage.load_run(out)  # read from curves.npz
    assert not isinstance(loaded.curves["test_error"], np.memmap)
    for name, values in before.items():
        np.testing.assert_array_equal(loaded.steps if name == "steps" else loaded.curves[name],
                                      values)  # fmt: skip
    assert run_grid(small(), out, OPTIONS)  # up to date: nothing rewritten
    assert (out / "curves.npz").is_file() and not (out / "curves").exists()
    assert storage.results_digest(out) == storage.results_digest(out)
    # Extended by a seed: assembled into curves/, the old file gone, the bits of a
    # fresh run of the extended grid.
    assert run_grid(small(seeds=3), out, OPTIONS)
    assert (out / "curves").is_dir() and not (out / "curves.npz").exists()
    fresh = tmp_path / "fresh"
    assert run_grid(small(seeds=3), fresh, OPTIONS)
    assert (out / "summary.csv").read_bytes() == (fresh / "summary.csv").read_bytes()
    extended, expected = run_curves(out), run_curves(fresh)
    assert extended.keys() == expected.keys()
    for name, values in expected.items():
        np.testing.assert_array_equal(extended[name], values, err_msg=name)
    integrity.repair(out, small(seeds=3).ids(), small().seed)  # nothing damaged
    assert storage.assembled(out, json.loads((out / "manifest.json").read_text())["fingerprint"])


def test_results_of_1e5_configurations_stay_off_the_heap(finished, tmp_path):
    """Chunks of 10^5 configurations (the rows of a real chunk, tiled under the big
    grid's ids) assembled into curves/, summary.csv written, and loaded back. The curves
    live in files: the Python heap holds the summary's columns (twice while they are
    written: as computed and as read back), one block of its cells and at most half of
    the curves' size besides (before, the curves were held twice, and a record per
    configuration beside them)."""
    (chunk,) = [storage.load_chunk(p)[0] for p in storage.chunk_paths(finished)][:1]
    grid = grid_from_dict({**SMALL, "sweep": {"strong.n": [20, 30], "seeds": 50_000}})
    count = grid.columns.size
    ids = grid.id_array()
    out = tmp_path / "big"
    (out / "chunks").mkdir(parents=True)
    template = {k: v for k, v in chunk.items() if k.startswith(("curve/", "scalar/"))}
    size = 10_000
    for first in range(0, count, size):
        take = np.arange(first, min(first + size, count)) % len(chunk["ids"])
        curves = {k[6:]: v[take] for k, v in template.items() if k.startswith("curve/")}
        scalars = {k[7:]: v[take] for k, v in template.items() if k.startswith("scalar/")}
        steps = chunk["steps"][take]
        storage.write_chunk(out, ids[first : first + size], steps, curves, scalars, {}, grid.seed)
    tracemalloc.start()
    found = run_outputs.done_in(out, grid)
    assert found.complete
    results = run_outputs.assemble(grid, found, RegimeThresholds(), out)
    summary = storage.write_summary(out / "summary.csv", results.columns)
    curves = results.writer.commit()
    _, peak_writing = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    held, _ = tracemalloc.get_traced_memory()  # the results written, still referenced
    steps, loaded = storage.read_curves(out, storage.curve_files(out))
    read = storage.read_summary(out / "summary.csv")
    _, peak_loading = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    curve_bytes = sum(values.nbytes for values in curves.values())
    summary_bytes = sum(values.nbytes for values in read.values())
    block = 32e6  # a block of summary.csv's cells as Python strings, and what NumPy adds
    assert peak_writing < 2 * summary_bytes + 0.5 * curve_bytes + block
    assert peak_loading - held < summary_bytes + 0.5 * curve_bytes + block
    # What was written is what the chunks hold, row for row.
    rows = np.arange(count) % len(chunk["ids"])
    for name in ("test_error", "train_loss"):
        assert np.array_equal(loaded[name], chunk[f"curve/{name}"][rows].astype(np.float64))
        assert isinstance(curves[name], np.memmap)
    assert len(read["seed"]) == count and np.array_equal(read["seed"], summary["seed"])
