"""A run's second step: what it will do, decided once, before anything compiles.

:func:`make_plan` turns a grid and its directory's :class:`~w2s_jax.execution.run_state.RunState`
into a frozen :class:`RunPlan`: the programs (keeping those the directory recorded), this
process's share, the chunking under the memory budget, and how many programs compile at
once. The run executes the plan; ``--dry-run`` prints it (:func:`describe_plan`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import jax
import numpy as np

from w2s_jax.analysis import conditions
from w2s_jax.execution import chunking, engine, executable_store, memory, planner, work_schedule
from w2s_jax.execution.columns import Columns, ConfigurationList
from w2s_jax.execution.grid import Grid
from w2s_jax.execution.run_state import RunError, RunState
from w2s_jax.simulation import config as cfg
from w2s_jax.simulation import cost_model
from w2s_jax.simulation.pipeline import CURVES


@dataclass(frozen=True)
class RunPlan:
    """What a run does: ``configs`` in grid order, those ``done`` before, its ``programs``, this
    process's ``work`` (pending configurations per program and their chunks), its
    ``shard``, the memory ``budget`` and how many programs compile at once
    (``parallel``). ``stored``: every program can go in the executable store (JAX's own
    cache stays off)."""

    grid: Grid
    configs: ConfigurationList  # dicts built when read
    done: frozenset[str]
    programs: tuple[planner.Program, ...]
    work: tuple[work_schedule.Work, ...]
    shard: tuple[int, int] | None
    budget: memory.Budget
    parallel: int

    @property
    def ids(self) -> list[str]:
        """The configurations' identities in grid order (computed once, by the grid)."""
        return self.grid.ids()

    @property
    def pending(self) -> int:
        return sum(len(w.pending) for w in self.work)

    @property
    def stored(self) -> bool:
        return all(executable_store.storable(p.static) for p in self.programs)

    def headline(self) -> str:
        """The run's first line: programs, what is done, what is left."""
        return (
            f"{self.grid.name}: {self.grid.columns.size} configurations in {len(self.programs)} "
            f"program(s); {len(self.done)} already done, {self.pending} to run"
            + (f" (shard {self.shard[0]}/{self.shard[1]})" if self.shard else "")
        )


def process_shard(shard: tuple[int, int] | None) -> tuple[int, int] | None:
    """The share of this process: ``shard``, or under ``jax.distributed`` its own part."""
    if shard is None and jax.process_count() > 1:
        return jax.process_index(), jax.process_count()
    return shard


RACE_CURVES = 11  # the race_* curves run.race records (pipeline.run_student)


def host_need(columns: Columns, shard: tuple[int, int] | None) -> memory.HostNeed:
    """What the grid's plan and assembled results take on the host (an upper bound on
    the curves and evaluation points), computed from the columns without planning."""
    metrics = max((len(m) for m in columns.distinct("run.metrics")), default=0)
    curves = len(CURVES) + any(columns.distinct("strong.ceiling")) + metrics
    curves += RACE_CURVES * any(columns.distinct("run.race"))
    steps, points = columns.distinct("strong.steps"), columns.distinct("eval.points")
    if len(steps) * len(points) <= 1000:
        pairs = [(int(s), int(p)) for s in steps for p in points]
        count = len(np.unique(np.concatenate([cfg.eval_steps(*pair) for pair in pairs])))
    else:
        count = len(steps) * max(int(p) for p in points)
    return memory.HostNeed(columns.size, curves, count, assembles=shard is None)


def check_host_memory(grid: Grid, options) -> None:
    """Refuse, before planning, a grid whose plan and results do not fit the host."""
    max_memory = options.max_memory_gb * 1e9 if options.max_memory_gb else None
    need = host_need(grid.columns, process_shard(options.shard))
    try:
        memory.check_host(need, memory.host_budget(max_memory))
    except memory.DoesNotFit as error:
        raise RunError(f"{grid.source}: {error}") from None


def make_plan(grid: Grid, state: RunState, options) -> RunPlan:
    """The plan of running ``grid`` into the directory ``state`` describes, with the
    runner's ``options`` (chunk size, memory, shard). Raises RunError when a program
    cannot fit the memory budget."""
    configs = grid.configurations()
    ids = grid.ids() if state.done else None  # only to tell what is done
    programs = tuple(planner.plan(grid.columns, state.recorded))
    shard = process_shard(options.shard)
    max_memory = options.max_memory_gb * 1e9 if options.max_memory_gb else None
    budget = memory.budget(max_memory)
    try:
        work = work_schedule.schedule(
            list(programs), set(state.done), ids, shard, options.chunk_size, max_memory,
            budget,
        )  # fmt: skip
    except memory.DoesNotFit as error:
        raise RunError(str(error)) from None
    parallel = parallel_compiles(budget, work)
    return RunPlan(grid, configs, state.done, programs, tuple(work), shard, budget, parallel)


def parallel_compiles(budget: memory.Budget, work: list) -> int:
    """How many programs may compile at once: one per core, as far as the memory budget
    holds XLA's compiler (``memory.COMPILER_BYTES`` each, one already reserved) beside
    the largest chunk in flight."""
    items = [w for w in work if len(w.pending)]
    in_flight = max((w.chunk * w.program.cost.bytes for w in items), default=0.0)
    spare = budget.bytes - budget.reserved - in_flight
    extra = int(max(spare, 0.0) // memory.COMPILER_BYTES)
    return max(1, min(len(items), os.cpu_count() or 1, 1 + extra))


# Seconds to compile one program on a 2-core CPU (measured on the sweep programs of
# benchmarks/time_to_result.py): XLA fast / full, and loading a stored executable.
COMPILE_SECONDS = {**cost_model.COMPILE_SECONDS, "cached": 1.0}


def describe_plan(plan: RunPlan, compile_cache: str | None = None) -> str:
    """The ``--dry-run`` report of a plan: programs, padding, chunking, memory, FLOPs,
    compiles, time (a ``[boundary]`` grid's: ``boundary_search.describe_search``)."""
    columns = plan.grid.columns
    rate = engine.measured_flop_rate()
    lines = [
        f"grid {plan.grid.name!r}: {columns.size} configurations, {len(plan.programs)} "
        f"program(s) to compile; devices: {jax.local_device_count()} x "
        f"{jax.local_devices()[0].device_kind}"
    ]
    if plan.done:
        lines.append(f"{len(plan.done)} already done in the directory, {plan.pending} to run")
    total_flops = 0.0
    strong_n = columns.column("strong.n")
    for item in plan.work:
        program = item.program
        alone = chunking.alone_for(program.static)
        real = float(strong_n[item.pending].sum())
        padded = program.static.n_pad * len(item.pending)
        waste = 1 - real / padded if padded else 0.0
        chunks = item.chunk_count
        chunk_waste = (chunks * item.chunk - len(item.pending)) / max(chunks * item.chunk, 1)
        flops = program.cost.flops * chunks * item.chunk
        total_flops += flops
        lines.append(
            f"  program [{program.label}]: {len(item.pending)} configurations, "
            f"n padding waste {100 * waste:.0f}%, chunk {item.chunk} x {chunks} "
            f"(last-chunk waste {100 * chunk_waste:.0f}%), "
            f"{program.cost.bytes / 1e6:.3g} MB/configuration, "
            f"{program.cost.flops:.3g} FLOP/configuration, "
            f"{item.chunk * program.cost.bytes / 1e9:.3g} GB in flight on "
            f"{chunking.devices_for(item.chunk, alone)} device(s)"
            + (", students one at a time" if alone else "")
        )
    seconds = total_flops / rate
    lines.append(f"memory budget {plan.budget.describe()}")
    if plan.grid.seeds > 1:  # the conditions do not read the seed: counted per point
        lines.append(
            f"(the theorem's conditions per point of the axes, {plan.grid.seeds} seeds each)"
        )
    lines.append(conditions.dry_run_section(ConfigurationList(columns.without_seeds())))
    lines.append(compile_plan(plan, compile_cache))
    lines.append(
        f"total {total_flops:.3g} FLOP; at the measured {rate / 1e9:.3g} GFLOP/s "
        f"(x{engine.EFFICIENCY} efficiency) about {seconds / 60:.3g} min, plus compiling"
    )
    return "\n".join(lines)


def compile_plan(plan: RunPlan, compile_cache: str | None = None) -> str:
    """``--dry-run``'s compile plan: how many programs compile fast or fully, how many
    at once, and the rough cold and warm (cached) cost."""
    modes = [w.program.static.compile for w in plan.work if len(w.pending)]
    cold = sum(COMPILE_SECONDS[m] for m in modes) / plan.parallel
    warm = COMPILE_SECONDS["cached"] * len(modes)
    cache = "off" if compile_cache == "off" else "on"
    return (
        f"compile plan: {modes.count('fast')} fast + {modes.count('full')} full program(s), "
        f"{plan.parallel} at a time; about {cold:.0f} s cold, {warm:.0f} s from the cache "
        f"(compilation cache {cache})"
    )
