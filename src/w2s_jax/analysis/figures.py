"""Figures from a saved run directory (NumPy + matplotlib only; never JAX).

Plots read ``manifest.json``, ``summary.csv``, ``curves.npz`` and the run's boundary
(``boundary.json``, :mod:`.run_boundary`) through :mod:`.figure_plan`, which decides
*which* data is drawn (grid layout, chosen points); the drawing is cut by job:

* :mod:`.figure_style`: sizes, fonts, colours, the step axis, saving;
* :mod:`.curve_figures`: ``test_error``, ``trajectories``, ``signal_noise``,
  ``errors_along_<axis>``;
* :mod:`.phase_figures`: ``phase_<x>_<y>`` (+ ``_gain``) with the measured boundary and the
  theory's line, ``regimes``;
* :mod:`.theory_figures`: ``collapse`` and ``race``, against the benign score ``B``.

This module decides which figures apply and draws them into ``DIR/figures`` (PNG by
default, PDF or SVG on request), half of them in a helper process when one is given.
Figures are built on :class:`matplotlib.figure.Figure` (no pyplot): importing this
module never switches the caller's backend.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

from w2s_jax.analysis import storage
from w2s_jax.analysis.curve_figures import (
    errors_along_applies,
    errors_along_figure,
    signal_noise_figure,
    test_error_figure,
    trajectories_figure,
)
from w2s_jax.analysis.figure_plan import (
    MAX_LINES,
    Layout,
    PlotError,
    benign_scores,
    choose_points,
    load_complete,
    phase_plane,
    representative,
)
from w2s_jax.analysis.figure_style import RC, save_figure
from w2s_jax.analysis.phase_figures import phase_figure, regimes_figure
from w2s_jax.analysis.run_boundary import boundary_of, drawn_boundary
from w2s_jax.analysis.storage import RunResults
from w2s_jax.analysis.theory_figures import collapse_figure, race_figure

__all__ = ["MAX_LINES", "Layout", "PlotError", "choose_points", "draw_run", "figure_jobs",
           "load_complete", "representative"]  # fmt: skip

Job = Callable[[], "matplotlib.figure.Figure"]


def boundary_applies(run: RunResults, layout: Layout) -> bool:
    """Whether a figure draws the run's boundary: a phase plane or the collapse figure."""
    return phase_plane(layout) is not None or benign_scores(run) is not None


def figure_jobs(
    run: RunResults, layout: Layout, chosen: list[tuple], boundary: dict | None = None
) -> list[tuple[str, Job]]:
    """Every figure that applies to ``run``: ``(file name, function returning the
    Figure)``; ``boundary``: the run's boundary report (``boundary.json``), drawn on the
    phase maps."""
    jobs: list[tuple[str, Job]] = [("test_error", lambda: test_error_figure(run, layout))]
    plane = phase_plane(layout)
    if plane is not None:
        name = "phase_" + "_".join(layout.keys[a].replace(".", "_") for a in plane)
        drawn = drawn_boundary(boundary)
        jobs.append((name, lambda: phase_figure(run, layout, "error", drawn)))
        jobs.append((name + "_gain", lambda: phase_figure(run, layout, "gain", drawn)))
    if layout.keys:
        jobs.append(("regimes", lambda: regimes_figure(run, layout)))
    jobs.append(("trajectories", lambda: trajectories_figure(run, layout, chosen)))
    jobs.append(("signal_noise", lambda: signal_noise_figure(run, layout, chosen)))
    scores = benign_scores(run)
    if scores is not None:
        law = (boundary or {}).get("finite_n_law")
        jobs.append(("collapse", lambda: collapse_figure(run, *scores, law)))
        if "race_gamma_over_tau" in run.summary:
            jobs.append(("race", lambda: race_figure(run, *scores)))
    if errors_along_applies(run):
        name = "errors_along_" + layout.keys[0].replace(".", "_")
        jobs.append((name, lambda: errors_along_figure(run)))
    return jobs


def draw_run(
    directory: str | Path,
    points: dict[str, list[str]] | None = None,
    formats: tuple[str, ...] = ("png",),
    helper=None,
    run: RunResults | None = None,
) -> list[Path]:
    """Draw every figure that applies into ``DIR/figures`` (``run``: the directory's
    results when the caller holds them already).

    ``points``: ``KEY -> [VALUE, ...]`` filters choosing the trajectory points (see
    :func:`choose_points`); ``formats``: any of ``storage.FIGURE_FORMATS`` (PNG by
    default: a vector format costs several times longer to write); ``helper``: a
    :class:`~w2s_jax.analysis.figure_helper.FigureHelper` that draws every other figure
    meanwhile (the same bytes). The boundary is read from ``boundary.json`` when it is
    current (:func:`.run_boundary.write_boundary` writes it), else measured once here
    without writing it. Every file is written to a temporary name and renamed.
    Returns the paths written. Raises :class:`PlotError`.
    """
    run = run if run is not None else load_complete(directory)
    layout = Layout(run)
    boundary = boundary_of(run) if boundary_applies(run, layout) else None
    jobs = figure_jobs(run, layout, choose_points(layout, points), boundary)
    # The helper (a fresh process: ~20% quicker) takes the first figure of each pair.
    theirs = [name for name, _ in jobs[0::2]] if helper is not None else []
    job = {"directory": str(directory), "names": theirs, "points": points, "formats": formats,
           "boundary": boundary}  # fmt: skip
    if theirs and not helper.send(job, run):  # the results themselves: it reads no file
        theirs = []  # the helper is gone: draw everything here
    answer = None
    try:
        paths = _draw(directory, [(n, draw) for n, draw in jobs if n not in theirs], formats)
    finally:  # also on an error here (a full disk): the helper's files are whole or gone
        if theirs:
            answer = helper.receive()
    if answer is not None and "errno" in answer:
        raise OSError(answer["errno"], answer["error"])
    if answer is not None and "paths" in answer:
        paths += [Path(p) for p in answer["paths"]]
    elif theirs:  # the helper died or failed otherwise: draw its figures here
        paths += _draw(directory, [(n, draw) for n, draw in jobs if n in theirs], formats)
    return paths


def draw_figures(
    run: RunResults, names: list[str], points, formats, boundary: dict | None = None
) -> list[Path]:
    """The figures ``names`` of ``run`` into ``run.path / "figures"`` (what a helper
    process draws, from the results the parent sent), with the run's ``boundary`` as the
    parent read or measured it."""
    layout = Layout(run)
    jobs = dict(figure_jobs(run, layout, choose_points(layout, points), boundary))
    return _draw(run.path, [(name, jobs[name]) for name in names], formats)


def _draw(directory, jobs: list[tuple[str, Job]], formats) -> list[Path]:
    out = Path(directory) / "figures"
    paths: list[Path] = []
    with matplotlib.rc_context(RC):
        for name, job in jobs:
            paths += save_figure(job(), out, name, formats)
    return paths


def draw_if_changed(
    directory: str | Path,
    formats: tuple[str, ...] = ("png",),
    helper=None,
    run: RunResults | None = None,
    digest: str | None = None,
) -> list[Path]:
    """:func:`draw_run`, unless ``DIR/figures`` already holds these formats drawn from
    the same results (a finished grid run again draws nothing). ``run`` and ``digest``:
    the results and their :func:`storage.results_digest_of`, when the caller holds them.
    Returns the paths written."""
    digest = digest or storage.results_digest(directory)
    if storage.figures_current(directory, formats, digest):
        return []
    paths = draw_run(directory, formats=formats, helper=helper, run=run)
    storage.record_figures(directory, digest, formats)
    return paths
