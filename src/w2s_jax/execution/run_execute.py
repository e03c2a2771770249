"""A run's third step: compile the plan's programs and run its chunks.

:func:`execute` runs every chunk of a :class:`~w2s_jax.execution.run_plan.RunPlan`,
saves each as it finishes (a chunk file is the record of what is done: a killed run
resumes from them, and the assembly reads them), and returns the run's compile
records (:class:`~w2s_jax.execution.engine.CompileRecord`, from the run's own
:class:`~w2s_jax.execution.engine.Compiler`).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from w2s_jax.analysis import storage
from w2s_jax.execution import compile_cache, distributed, engine, provenance
from w2s_jax.execution.progress import Progress
from w2s_jax.execution.run_plan import RunPlan


@dataclass(frozen=True)
class Execution:
    """What running a plan did: how many configurations it ``ran`` (each saved in a
    chunk file, which is where assembly reads them), the ``compiles`` of the run, and
    the processes ``lost`` before the end-of-shares barrier."""

    ran: int
    program_seconds: float  # the compiled programs' own time, every chunk's together
    compile_wait_seconds: float  # how long the runs waited for compiles
    compiles: tuple[engine.CompileRecord, ...]
    lost: tuple[int, ...]


def execute(plan: RunPlan, out: Path, cache: compile_cache.Cache, progress: Progress) -> Execution:
    """Run this process's share of ``plan`` into ``out``, then meet the other processes
    (a no-op alone)."""
    compiler = engine.Compiler(cache)
    ran = []
    stamp = provenance.stamp()

    def save(result: engine.ChunkResult) -> None:
        storage.write_chunk(
            out, result.ids, result.steps, result.curves, result.scalars, stamp, plan.grid.seed
        )
        ran.append((len(result.ids), result.seconds))
        progress.update(len(result.ids))

    waited = run_work(plan, compiler, progress, save)
    lost = tuple(distributed.wait_for_shares())
    count, seconds = (sum(column) for column in zip(*ran)) if ran else (0, 0.0)
    return Execution(count, seconds, waited, compiler.records, lost)


def run_work(plan: RunPlan, compiler: engine.Compiler, progress: Progress, save) -> float:
    """Run every chunk of ``plan.work`` and ``save`` its result. Each program's first chunk
    is compiled ahead, ``plan.parallel`` at a time, in parallel with the running of the
    programs before it (XLA compiles outside Python's lock): on a grid of several
    programs the compiles overlap each other and the runs. The program with the most
    work goes first, so that its long run overlaps the others' compiles instead of
    following them (results do not depend on the order: chunks are saved by
    configuration and assembled in grid order). Returns the seconds spent waiting for
    compiles."""
    prepare = lambda item, chunk: engine.prepare_rows(  # noqa: E731
        item.program.static, plan.grid.columns, chunk, plan.grid.seed, item.chunk
    )
    items = sorted(
        (item for item in plan.work if len(item.pending)),
        key=lambda item: -len(item.pending) * item.program.cost.flops,
    )
    pool = ThreadPoolExecutor(max_workers=plan.parallel)

    def compile_and_say(k: int, prepared: engine.PreparedChunk) -> None:
        # Say when a program is ready: on a first run compiling is most of the wait.
        record = compiler.compile(prepared)[1]
        if record is not None:
            how = "loaded from the compilation cache" if record.from_cache else "compiled"
            progress.message(
                f"program {k + 1}/{len(items)} {how} in {record.seconds:.1f} s: "
                f"{items[k].program.label}"
            )

    waited = 0.0
    try:
        ahead = [prepare(item, item.chunks[0]) for item in items]
        futures = [pool.submit(compile_and_say, k, prepared) for k, prepared in enumerate(ahead)]
        for item, first, future in zip(items, ahead, futures):
            start = time.perf_counter()
            future.result()
            waited += time.perf_counter() - start
            progress.set_steps_per_config(item.program.steps)
            for k, chunk in enumerate(item.chunks):
                save(engine.run_prepared(first if k == 0 else prepare(item, chunk), compiler))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return waited
