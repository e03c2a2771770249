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
    run_grid(grid, out, RunOptions(...))     -> bool   (the runner under run())

Pieces (one configuration, unbatched; vmap happens only in ``engine``)
    config.split(config) -> (Static, Params)
    pipeline.train_teacher / pipeline.run_student / pipeline.run_configuration
    custom_student: strong.student = make_student(...) -> eqx.Module (dense backend)
    registry.ACTIVATIONS / LOSSES / OPTIMIZERS
    theory.benign_score, regimes.classify_regimes, boundary.boundary_report
    boundary_search.search(grid, out)        -> dict   (a [boundary] grid: n* per cell)
    figures.draw_run(out)

Attributes are imported lazily, so ``import w2s_jax.figures`` never imports JAX.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"  # the release; provenance.code_version() adds the source digest

_API = {
    "make_grid": "w2s_jax.api",
    "run": "w2s_jax.api",
    "run_one": "w2s_jax.api",
    "Batch": "w2s_jax.metrics",
    "load_grid": "w2s_jax.grid",
    "grid_from_dict": "w2s_jax.grid",
    "Grid": "w2s_jax.grid",
    "GridError": "w2s_jax.errors",
    "run_grid": "w2s_jax.runner",
    "describe": "w2s_jax.api",
    "RunOptions": "w2s_jax.runner",
    "RunError": "w2s_jax.runner",
    "load_run": "w2s_jax.storage",
    "use_all_cores": "w2s_jax.jax_settings",
    "RunResults": "w2s_jax.storage",
}
_MODULES = (
    "config",
    "data",
    "images",
    "backends",
    "reduced",
    "models",
    "registry",
    "custom_student",
    "training",
    "pipeline",
    "planner",
    "engine",
    "storage",
    "runner",
    "summary",
    "theory",
    "regimes",
    "boundary",
    "boundary_search",
    "boundary_section",
    "figures",
    "grid",
    "results",
    "api",
    "provenance",
    "metrics",
    "conditions",
    "identity",
    "jax_settings",
)

__all__ = sorted([*_API, *_MODULES])


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    if name in _MODULES:
        return importlib.import_module(f"w2s_jax.{name}")
    raise AttributeError(f"module 'w2s_jax' has no attribute {name!r}")
