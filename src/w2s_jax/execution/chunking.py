"""How many configurations a chunk holds and on how many devices it runs: the memory
budget, the CPU caches, students trained alone or side by side (nothing compiled or run
here; the engine runs the chunks this sizes).

A program runs in chunks sized to the memory budget and the CPU caches
(:func:`chunk_size`), each a multiple of the devices it runs on with at least 2
configurations per device (:func:`chunk_size_for`, :func:`devices_for`), or 1 when the
program's students train alone (:func:`alone_for`).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import jax

from w2s_jax.execution import memory
from w2s_jax.execution.planner import Program
from w2s_jax.simulation import config as cfg
from w2s_jax.simulation import cost_model

DEFAULT_MAX_CHUNK = 1024
CPU_MAX_PER_DEVICE = 8  # configurations per CPU device and chunk (see chunk_size)
CPU_L2_FACTOR = 4  # a CPU device's batch reads at most this many L2 caches per step
# A CPU chunk also holds at least this much work per device (about 0.1 s of a core), so
# that its fixed cost (laying it out, writing and syncing its file: ~10 ms) stays small
# for tiny configurations, which the cache rule alone would put 8 to a chunk; only where
# the pending work fills such chunks (a small grid keeps the cache rule's chunks).
CPU_CHUNK_FLOPS = 2e9
# A chunk keeps its program's standard size, padding a little pending work up to it,
# while the padding costs fewer FLOPs than this (seconds on a CPU core, about one
# compile): the program's shapes then do not depend on how much work is pending, so a
# re-run or an extended grid finds it in the compilation cache.
PAD_FLOPS = 1e11


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
    device at 1 MB per configuration and 8 at 160 kB; a CPU device's batch still holds
    ``CPU_CHUNK_FLOPS`` of work where the configurations are tiny. Raises
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
        cached = min(CPU_MAX_PER_DEVICE, max(least, int(per_device)))
        enough = math.ceil(CPU_CHUNK_FLOPS / max(program.cost.flops, 1.0))
        enough = min(enough, DEFAULT_MAX_CHUNK // devices)
        if pending >= devices * enough:  # only where such chunks fill: no padding to them
            cached = max(cached, enough)
        size = min(size, devices * cached)
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
