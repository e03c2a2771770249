"""Running grids into directories: a grid (``grid``, ``boundary_section``) is planned
into programs and chunks (``planner``, ``memory``), compiled and run (``engine``,
``compile_cache``, ``executable_store``, ``jax_settings``) by the runner (``runner``:
resume, shards, manifests; ``run_lock``, ``progress``, ``provenance``), across
processes (``distributed``), or round by round (``boundary_search``).
"""
