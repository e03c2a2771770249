"""Where a cold compile goes: tracing + lowering and XLA's compile, in seconds, of a
grid's first program as the engine builds it (``whole``: teachers and students, one
chunk) and of its two halves alone (``teachers``: the shared weak models; ``students``:
pseudo-labels, noise draws, the student's GD and its metrics), in both compile modes.
Each row is a fresh process with JAX's compilation cache off.

    python benchmarks/compile_parts.py                 # the tiny and small256 grids
    python benchmarks/compile_parts.py --grids tiny --modes fast
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import time
import tomllib

import common
import time_to_result

PARTS = ("whole", "teachers", "students")


def measure(grid_name: str, part: str, mode: str) -> tuple[float, float]:
    """``(trace + lower, compile)`` seconds of ``part`` of the grid's first program."""
    import jax

    from w2s_jax.execution import engine, planner
    from w2s_jax.execution.grid import grid_from_dict
    from w2s_jax.simulation import pipeline

    jax.config.update("jax_enable_compilation_cache", False)
    configs = grid_from_dict(tomllib.loads(time_to_result.GRIDS[grid_name])).configurations()
    program = planner.plan(configs)[0]
    static = dataclasses.replace(program.static, compile=mode)
    chunk = engine.prepare_chunk(static, [configs[i] for i in program.indices], 0, 16)
    bank, teacher_params, teacher_words, params, words, slot = chunk.args

    def teachers(p, w):
        return jax.vmap(lambda p, w: pipeline.train_teacher(static, p, engine._key(w)))(p, w)

    def students(p, w, slot, trained):
        def one(p, w, s):
            teacher = jax.tree.map(lambda x: x[s], trained)
            return pipeline.run_student(static, p, engine._key(w), teacher)

        return jax.vmap(one)(p, w, slot)

    if part == "whole":
        function, args = (
            (lambda *a: engine._chunk_program(lambda: None, static, None, *a)),
            chunk.args,
        )
    elif part == "teachers":
        function, args = teachers, (teacher_params, teacher_words)
    else:  # the teachers trained beforehand, through another jit
        trained = jax.jit(lambda p, w: teachers(p, w))(teacher_params, teacher_words)
        function, args = students, (params, words, slot, trained)
    jax.jit(lambda x: x + 1)(1.0)  # XLA's own start-up, outside the timing
    start = time.perf_counter()
    lowered = jax.jit(function).trace(*args).lower()
    traced = time.perf_counter()
    lowered.compile(compiler_options=engine.FAST_OPTIONS if mode == "fast" else {})
    return traced - start, time.perf_counter() - traced


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--grids", nargs="+", default=["tiny", "small256"])
    parser.add_argument("--modes", nargs="+", default=["fast", "full"])
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)  # GRID PART MODE, in-process
    args = parser.parse_args(argv)
    if args.one:
        print(*measure(*args.one))
        return 0
    print(common.header("compile time by part (fresh processes, compilation cache off)"))
    rows = []
    for grid in args.grids:
        for mode in args.modes:
            for part in PARTS:
                command = [sys.executable, __file__, "--one", grid, part, mode]
                out = subprocess.run(command, capture_output=True, text=True, check=True)
                trace, compile_ = map(float, out.stdout.split()[-2:])
                seconds = {"trace + lower s": f"{trace:.2f}", "compile s": f"{compile_:.2f}"}
                rows.append({"grid": grid, "mode": mode, "part": part, **seconds})
                common.log(f"{grid} {mode} {part}: {trace:.2f} + {compile_:.2f} s")
    print(common.table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
