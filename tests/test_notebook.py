"""examples/real_images.ipynb runs top to bottom at a small size (W2S_NOTEBOOK_SMALL)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from w2s_jax import load_run
from w2s_jax.simulation import images

NOTEBOOK = Path(__file__).parents[1] / "examples" / "real_images.ipynb"


def test_real_images_notebook_executes(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    source = str(Path(__file__).parents[1] / "src")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([source, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("W2S_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("W2S_NOTEBOOK_OUT", str(tmp_path / "run"))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel draws inline
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3")
    client.execute(cwd=str(tmp_path))  # raises CellExecutionError on any failing cell
    figures = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert len(figures) == 3  # samples, phase diagram, trajectories
    run = load_run(tmp_path / "run")
    assert len(run) == 2 * 2 * 2  # n x nu_norm x seeds
    (entry,) = run.manifest["images"]
    assert entry["content_hash"] == images.bank("digits", (0, 1), (3, 8), "")[1]
