"""w2s_jax: JAX-vectorised sweeps of weak-to-strong generalisation.

Simulates Oh, Song & Yun (2025), "From Linear to Nonlinear: Provable Weak-to-Strong
Generalization through Feature Learning": a linear CNN teacher labels data for a
two-layer ReLU CNN student (``docs/MODEL.md``). The public API, on one screen:

Grids and runs
    make_grid(tables, **tables) / load_grid(path) -> Grid (validated; GridError on mistakes)
    run(grid, out, **options)                -> RunResults (resumable; same engine as the CLI)
    run_one({"strong.n": 75, ...})           -> dict   (one configuration alone)
    describe(grid)                           -> str    (the --dry-run plan)
    use_all_cores()                          (a JAX CPU device per core; before JAX starts)
    load_run(out)                            -> RunResults: .summary, .curves, .steps,
                                                .curve(name, **select), .column(...),
                                                .to_pandas(), .to_xarray()
                                             (DamagedFileError: a damaged file, named)
    run_grid(grid, out, RunOptions(...))     -> RunOutcome (the runner under run(); true
                                                when complete)
    predict_benign(out, n=..., nu_norm=..., d=...) -> Prediction (the finite-n law a run
                                                fitted: P(a seed is benign) with its CI)

Pieces (one configuration, unbatched; vmap happens only in ``engine``)
    config.split(config) -> (Static, Params)
    pipeline.train_teacher / pipeline.run_student / pipeline.run_configuration
    custom_student: strong.student = make_student(...) -> eqx.Module (dense backend)
    registry.ACTIVATIONS / LOSSES / OPTIMIZERS
    theory.benign_score, regimes.classify_regimes, boundary.boundary_report
    boundary_search.search(grid, out)        -> dict   (a [boundary] grid: n* per cell)
    figures.draw_run(out)

Attributes are imported lazily, so ``import w2s_jax.analysis.figures`` never imports JAX.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"  # the release; provenance.code_version() adds the source digest

_API = {
    "make_grid": "w2s_jax.api",
    "run": "w2s_jax.api",
    "run_one": "w2s_jax.api",
    "Batch": "w2s_jax.simulation.metrics",
    "load_grid": "w2s_jax.execution.grid",
    "grid_from_dict": "w2s_jax.execution.grid",
    "Grid": "w2s_jax.execution.grid",
    "GridError": "w2s_jax.simulation.errors",
    "run_grid": "w2s_jax.execution.runner",
    "describe": "w2s_jax.api",
    "RunOptions": "w2s_jax.execution.runner",
    "RunError": "w2s_jax.execution.runner",
    "RunOutcome": "w2s_jax.execution.runner",
    "load_run": "w2s_jax.analysis.storage",
    "use_all_cores": "w2s_jax.execution.jax_settings",
    "RunResults": "w2s_jax.analysis.storage",
    "predict_benign": "w2s_jax.analysis.run_law",
    "DamagedFileError": "w2s_jax.analysis.storage",
}
# The package's modules by short name (``w2s_jax.config``, ``from w2s_jax import engine``),
# wherever they live: simulation/ (one configuration: the model, its data, training
# and metrics, its configuration and cost), execution/ (grids run into directories:
# planning, compiling, running, resuming, processes) and analysis/ (what results mean:
# theory, regimes, the boundary, summaries, tables, figures; NumPy and matplotlib only).
_MODULES = {
    **dict.fromkeys(
        "errors data reduced backends models registry training metrics images config "
        "cost_model identity custom_student pipeline".split(),
        "simulation",
    ),
    **dict.fromkeys(
        "grid boundary_section boundary_search planner chunking work_schedule memory engine "
        "compile_cache executable_store jax_settings distributed run_lock progress provenance "
        "runner run_state run_plan run_execute run_outputs".split(),
        "execution",
    ),
    **dict.fromkeys(
        "theory regimes boundary run_boundary finite_n_law run_law conditions summary results "
        "storage integrity tables figure_plan figure_style curve_figures phase_figures "
        "theory_figures figures".split(),
        "analysis",
    ),
}

__all__ = sorted([*_API, *_MODULES])


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    if name in _MODULES:
        return importlib.import_module(f"w2s_jax.{_MODULES[name]}.{name}")
    if name in ("simulation", "execution", "analysis"):
        return importlib.import_module(f"w2s_jax.{name}")
    raise AttributeError(f"module 'w2s_jax' has no attribute {name!r}")
