"""Planning a sweep: configurations -> programs, their cost, chunks, shares (nothing
compiled or run here but :func:`measured_flop_rate`'s one matmul, for the dry-run's
estimate; the engine runs what this plans).

Configurations that share their :class:`~w2s_jax.simulation.config.Static` part form one *program*
(:func:`plan`), with the compile mode and the padding chosen from their work
(:mod:`w2s_jax.simulation.cost_model`, the one cost model); a
program runs in chunks sized to the memory budget and the CPU caches
(:func:`chunk_size`); shards and processes split the work by FLOPs (:func:`share`).
"""

from __future__ import annotations

import functools
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import jax
import numpy as np

from w2s_jax.execution import column_identity, memory
from w2s_jax.execution.columns import Columns
from w2s_jax.simulation import config as cfg
from w2s_jax.simulation import cost_model
from w2s_jax.simulation.cost_model import COMPILE_SECONDS, Cost, compile_mode, cost, run_seconds
from w2s_jax.simulation.pipeline import CURVES

DEFAULT_MAX_CHUNK = 1024
CPU_MAX_PER_DEVICE = 8  # configurations per CPU device and chunk (see chunk_size)
CPU_L2_FACTOR = 4  # a CPU device's batch reads at most this many L2 caches per step
# A chunk keeps its program's standard size, padding a little pending work up to it,
# while the padding costs fewer FLOPs than this (seconds on a CPU core, about one
# compile): the program's shapes then do not depend on how much work is pending, so a
# re-run or an extended grid finds it in the compilation cache.
PAD_FLOPS = 1e11


@dataclass
class Program:
    """Configurations that share one compiled program."""

    static: cfg.Static
    indices: np.ndarray  # into the grid's configurations, sorted by teacher (int64)
    cost: Cost  # of its most expensive configuration (the longest run)
    steps: int  # the most strong steps of its configurations (a chunk runs that long)
    paddings: tuple[int, ...] = ()  # its configurations' own padded n (static.n_pad: the largest)

    @property
    def label(self) -> str:
        s = self.static
        joined = f" (holds n_pad {', '.join(map(str, self.paddings))})" * (len(self.paddings) > 1)
        return (
            f"{s.backend} d={s.d or 'traced'} n_pad={s.n_pad}{joined} m={s.m} "
            f"steps<={self.steps} n_weak={s.weak_n} n_test={s.n_test} compile={s.compile}"
        )


def plan(
    configs: Sequence[dict] | Columns,
    recorded: Callable[[cfg.Static], cfg.Static | None] | None = None,
) -> list[Program]:
    """Group configurations (a grid's columns, or a list of resolved dicts) into
    programs (in order of first appearance).

    Configurations sharing their static part share a program. With ``run.compile =
    "auto"`` the planner also decides, from the work of all a program's configurations
    in the grid (:mod:`w2s_jax.simulation.cost_model`): the compile mode (fast or full), and
    whether programs that differ only in their padded ``strong.n`` run as one, padded to
    the largest, when the padding costs less run time than a compile
    (:func:`_pad_together`). So a configuration's program — and its results' last bits —
    depend on the grid it is run in, never on what is pending: a resumed run or another
    shard decides alike. ``recorded(static)`` (a configuration's own static part, with
    ``compile="auto"``) is the program an earlier run in the same directory put it in:
    an extended grid keeps it, so old and new configurations share one program (and its
    stored executable) even when the extension tips a decision.

    Static parts are computed once per point of the dimensions holding static keys,
    costs once per distinct shape: the work is arrays over the configurations."""
    columns = configs if isinstance(configs, Columns) else Columns.of_dicts(configs)
    owns, codes = columns.statics(lambda c: cfg.static_part(c, compile=c["run.compile"]))
    number = {static: k for k, static in enumerate(dict.fromkeys(owns))}
    of_config = np.array([number[s] for s in owns], np.int64)[codes]
    order = np.argsort(of_config, kind="stable")
    bounds = np.cumsum(np.bincount(of_config, minlength=len(number)))[:-1]
    groups = dict(zip(number, np.split(order, bounds)))  # own static -> indices, ascending
    shapes = _Shapes(columns)
    placed: dict[cfg.Static, cfg.Static] = {}  # own static -> its program's static
    families: dict[cfg.Static, list[cfg.Static]] = defaultdict(list)
    for static in groups:
        before = recorded(static) if recorded and static.compile == "auto" else None
        if static.compile != "auto" or before is not None:
            placed[static] = before or static
        else:
            families[replace(static, n_pad=0)].append(static)
    for members in families.values():
        members.sort(key=lambda s: s.n_pad, reverse=True)
        placed.update(_pad_together(members, groups, shapes))
    programs: dict[cfg.Static, list[np.ndarray]] = defaultdict(list)
    paddings: dict[cfg.Static, set[int]] = defaultdict(set)
    for static, indices in groups.items():
        programs[placed[static]].append(indices)
        paddings[placed[static]].add(static.n_pad)
    teachers, teacher_of = columns.teachers()
    rank = column_identity.ranks(teachers)
    return [
        _program(static, np.concatenate(parts), shapes, rank[teacher_of], paddings[static])
        for static, parts in programs.items()
    ]


class _Shapes:
    """What a configuration's cost depends on besides its program: ``(data.d,
    strong.steps, weak.steps)``, as a code per configuration into its distinct rows."""

    def __init__(self, columns: Columns):
        keys = ("data.d", "strong.steps", "weak.steps")
        self.d, self.steps, self.weak_steps = (columns.column(k) for k in keys)
        _, first, self.code = np.unique(
            columns.code(columns.dims_holding(keys)), return_index=True, return_inverse=True
        )
        self.code = self.code.reshape(-1)
        self.rows = [(self.d[i].item(), int(self.steps[i]), int(self.weak_steps[i])) for i in first]

    def work(self, static: cfg.Static, indices: np.ndarray) -> float:
        """The FLOPs of ``indices`` in ``static``'s program, summed in index order."""
        flops = np.array([_flops(static, *row) for row in self.rows])
        return sum(flops[self.code[indices]].tolist())


def _program(
    static: cfg.Static,
    indices: np.ndarray,
    shapes: _Shapes,
    teacher_rank: np.ndarray,
    paddings: set[int],
) -> Program:
    indices = np.sort(indices)
    indices = indices[np.argsort(teacher_rank[indices], kind="stable")]  # by teacher, then i
    d = shapes.d[indices].max().item()
    steps = int(shapes.steps[indices].max())
    weak_steps = int(shapes.weak_steps[indices].max())
    return Program(
        static, indices, cost(static, d, steps, weak_steps), steps, tuple(sorted(paddings))
    )


def _pad_together(
    members: list[cfg.Static], groups: dict[cfg.Static, np.ndarray], shapes: _Shapes
) -> dict[cfg.Static, cfg.Static]:
    """Programs of ``members`` (``compile="auto"``, alike but for ``n_pad``, largest
    first): each joins the next larger one when running its configurations padded to
    that size costs less time than compiling it apart would; then each program's
    compile mode from its whole work. Returns ``own static -> program static``."""
    work = shapes.work
    targets: list[tuple[cfg.Static, list[cfg.Static], list[np.ndarray]]] = []
    for static in members:
        own = groups[static]
        if targets:
            target, joined, indices = targets[-1]
            own_mode = compile_mode("auto", work(static, own))
            padded = work(target, own)
            mode = compile_mode("auto", work(target, np.concatenate(indices)) + padded)
            extra = run_seconds(padded, mode) - run_seconds(work(static, own), own_mode)
            if extra < COMPILE_SECONDS[own_mode]:
                joined.append(static)
                indices.append(own)
                continue
        targets.append((static, [static], [own]))
    placed = {}
    for target, joined, indices in targets:
        whole = work(target, np.concatenate(indices))
        program = replace(target, compile=compile_mode("auto", whole))
        placed.update({static: program for static in joined})
    return placed


@functools.lru_cache(maxsize=4096)
def _flops(static: cfg.Static, d: float, steps: int, weak_steps: int) -> float:
    return cost(static, d, steps, weak_steps).flops


def chunk_size(
    program: Program,
    pending: int,
    requested: int | None,
    max_memory: float | None,
    budget: memory.Budget | None = None,
) -> int:
    """Configurations per chunk: the request, or what fits the memory ``budget`` (of
    everything in flight, across devices: :func:`w2s_jax.execution.memory.budget`) at most
    ``DEFAULT_MAX_CHUNK`` and not more than the work pending and, on CPU devices, what
    fits in the cache: every operation of a batched step streams the whole batch's
    matrices (``Cost.hot_bytes`` per configuration), so a device's batch is what
    ``CPU_L2_FACTOR`` times its core's L2 cache holds, between 2 and
    ``CPU_MAX_PER_DEVICE``. The factor is empirical (benchmarks/RESULTS.md, "CPU chunk
    size"): it picks the fastest measured chunk for both small benchmark cases, 2 per
    device at 1 MB per configuration and 8 at 160 kB. Raises
    :class:`~w2s_jax.execution.memory.DoesNotFit` when pending work cannot fit at all."""
    devices = jax.local_device_count()
    alone = alone_for(program.static)
    if requested:
        return chunk_size_for(requested, alone)
    budget = budget or memory.budget(max_memory)
    fits = functools.partial(_fits, program.cost.bytes, budget, alone)
    if pending and not fits(chunk_size_for(1, alone)):
        raise memory.DoesNotFit(_refusal(program, budget))
    size = max(1, int((budget.bytes - budget.reserved) // program.cost.bytes))
    if jax.local_devices()[0].platform == "cpu":
        per_device = CPU_L2_FACTOR * l2_cache_bytes() / max(program.cost.hot_bytes, 1.0)
        least = 1 if alone else 2
        size = min(size, devices * min(CPU_MAX_PER_DEVICE, max(least, int(per_device))))
    size = min(size, DEFAULT_MAX_CHUNK)
    padding = -pending % size  # the last chunk's empty slots at the standard size
    if not pending or padding * program.cost.flops > PAD_FLOPS:
        size = min(size, max(pending, 1))
        size = math.ceil(pending / math.ceil(pending / size)) if pending else size  # balance
    # Fewer configurations, hence fewer devices (never fewer than 2 per device), until
    # the chunk fits: rounding up to a multiple of the devices may not.
    while size > 1 and not fits(chunk_size_for(size, alone)):
        size -= 1
    return chunk_size_for(size, alone)


def _fits(bytes_per_configuration: float, budget: memory.Budget, alone: bool, size: int) -> bool:
    """Whether a chunk of ``size`` fits ``budget`` in all and on each device it uses."""
    per_device = size // devices_for(size, alone)
    return (
        size * bytes_per_configuration + budget.reserved <= budget.bytes
        and per_device * bytes_per_configuration <= budget.per_device
    )


def _refusal(program: Program, budget: memory.Budget) -> str:
    """Why a program cannot run within ``budget``, and what would make it fit."""
    s = program.static
    smallest = chunk_size_for(1, alone_for(s))
    needed = smallest * program.cost.bytes + budget.reserved
    if budget.source == "--max-memory":
        remedy = f"raise --max-memory to at least {needed / 1e9:.3g} GB"
    else:
        more = (needed - budget.bytes) / 1e9
        remedy = f"it fits with {more:.3g} GB more budget: give the run more memory (--mem)"
    if s.backend == "dense":
        remedy += ', or use backend = "reduced" (memory independent of d)'
    return (
        f"program {s.backend} d={s.d or 'traced'} n_pad={s.n_pad} m={s.m} needs "
        f"{needed / 1e9:.3g} GB for its smallest exact chunk ({smallest} configurations "
        f"x {program.cost.bytes / 1e9:.3g} GB + {budget.reserved / 1e9:.2g} GB for XLA); "
        f"the memory budget is {budget.describe()}; "
        f"{remedy}"
    )


def alone_for(static: cfg.Static) -> bool:
    """Whether ``static``'s students train one at a time on this process's devices
    (``cost_model.students_alone``)."""
    return cost_model.students_alone(static, jax.default_backend())


def chunk_size_for(configurations: int, alone: bool = False) -> int:
    """The chunk that holds ``configurations``: a multiple of the devices it runs on,
    at least 2 per device (XLA compiles a batch of one differently, the vmapped axis
    squeezed away, which would change results in the last bits; from 2 up every batch
    size gives bitwise the same numbers, so results do not depend on chunking). A
    program whose students train ``alone`` (``cost_model.students_alone``) never
    batches them, so 1 per device is exact."""
    least = 1 if alone else 2
    devices = max(1, min(jax.local_device_count(), configurations // least))
    return max(least, math.ceil(configurations / devices)) * devices


def devices_for(size: int, alone: bool = False) -> int:
    """How many local devices a chunk of ``size`` runs on: the most that divide it with
    at least 2 configurations each (1 for a program whose students train ``alone``), so
    small chunks are not padded to every device."""
    most = max(1, min(jax.local_device_count(), size // (1 if alone else 2)))
    return max(k for k in range(1, most + 1) if size % k == 0)


def l2_cache_bytes() -> float:
    """Size of the host CPU's level-2 (data or unified) cache as seen by core 0 (Linux
    sysfs; 512 KiB when unknown)."""
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            if int((index / "level").read_text()) != 2:
                continue
            if (index / "type").read_text().strip() == "Instruction":
                continue
            text = (index / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)
    return 512.0 * 2**10


@dataclass
class Work:
    """What is left to do for one program: its pending configurations (indices, in
    program order) and chunk size; ``chunks`` are consecutive slices of them."""

    program: Program
    pending: np.ndarray
    chunk: int

    @property
    def chunks(self) -> list[np.ndarray]:
        return [self.pending[i : i + self.chunk] for i in range(0, len(self.pending), self.chunk)]

    @property
    def chunk_count(self) -> int:
        return -(-len(self.pending) // self.chunk)


def _parts(programs: list[Program], count: int) -> np.ndarray:
    """Each configuration's part of ``count``, in program order: consecutive, with
    about equal FLOPs (a configuration goes to the part holding its midpoint)."""
    weights = np.concatenate([np.full(len(p.indices), p.cost.flops, float) for p in programs])
    middle = np.cumsum(weights) - weights / 2
    return np.minimum((middle * count // max(weights.sum(), 1e-300)).astype(int), count - 1)


def share(programs: list[Program], index: int, count: int) -> set[int]:
    """The configurations of part ``index`` of ``count``: consecutive in program order,
    with about equal FLOPs (a configuration goes to the part holding its midpoint), so
    a process given the large-n program is not given as many configurations as one
    given the small-n one."""
    order = np.concatenate([p.indices for p in programs])
    return set(order[_parts(programs, count) == index].tolist())


def schedule(
    programs: list[Program],
    done: set[str],
    ids: Sequence[str] | None,
    shard: tuple[int, int] | None,
    chunk: int | None,
    max_memory: float | None,
    budget: memory.Budget | None = None,
) -> list[Work]:
    """Pending configurations per program (this shard's part) and their chunking
    (``ids`` may be None when nothing is ``done``)."""
    parts = _parts(programs, shard[1]) if shard is not None else None
    work, start = [], 0
    for program in programs:
        pending = program.indices
        if parts is not None:
            pending = pending[parts[start : start + len(pending)] == shard[0]]
        start += len(program.indices)
        if done:
            pending = pending[[ids[i] not in done for i in pending.tolist()]]
        size = chunk_size(program, len(pending), chunk, max_memory, budget)
        work.append(Work(program, pending, size))
    return work


def union_steps(configs: Sequence[dict] | Columns) -> np.ndarray:
    """Every evaluation step of any configuration, sorted."""
    columns = configs if isinstance(configs, Columns) else Columns.of_dicts(configs)
    steps, points = columns.column("strong.steps"), columns.column("eval.points")
    pairs = set(zip(steps.tolist(), points.tolist()))
    return np.unique(np.concatenate([cfg.eval_steps(int(s), int(p)) for s, p in pairs]))


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


EFFICIENCY = 0.8  # achieved fraction of the matmul rate (measured on CPU), for estimates only


def measured_flop_rate() -> float:
    """Effective FLOP/s for estimates: a float32 matmul on the first device, x EFFICIENCY
    (the training step is memory-bound: a few FLOPs per byte of noise matrix)."""
    size = 1024
    a = jax.device_put(np.ones((size, size), np.float32))
    matmul = jax.jit(lambda x: x @ x)
    matmul(a).block_until_ready()
    start, repeats = time.perf_counter(), 5
    for _ in range(repeats):
        matmul(a).block_until_ready()
    return EFFICIENCY * repeats * 2 * size**3 / (time.perf_counter() - start)
