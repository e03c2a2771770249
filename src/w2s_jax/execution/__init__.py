"""Running grids into directories: a grid (``grid``, ``boundary_section``) is planned
into programs and chunks (``planner``, ``chunking``, ``work_schedule``, ``memory``),
compiled and run (``engine``, ``compile_cache``, ``executable_store``, ``jax_settings``)
by the runner (``runner``, one pass down: ``run_state`` reads the directory,
``run_plan`` plans, ``run_execute`` runs, ``run_outputs`` assembles and writes;
``run_lock``, ``progress``, ``provenance``), across processes (``distributed``), or
round by round (``boundary_search``).
"""
