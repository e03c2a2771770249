"""What is left to run, and by whom: each program's pending configurations (this
process's or shard's share of them) in chunks (:func:`schedule`); shares split the grid
by FLOPs (:func:`share`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from w2s_jax.execution import memory
from w2s_jax.execution.chunking import chunk_size
from w2s_jax.execution.planner import Program


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
