"""Configurations -> programs: which configurations share one compiled program, padded
to which ``strong.n``, compiled in which mode (nothing compiled or run here).

Configurations that share their :class:`~w2s_jax.simulation.config.Static` part form one
*program* (:func:`plan`), with the compile mode and the padding chosen from their work
(:mod:`w2s_jax.simulation.cost_model`, the one cost model). How a program's pending
configurations are cut into chunks is :mod:`.chunking`'s job; which of them run here,
:mod:`.work_schedule`'s.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from w2s_jax.execution import column_identity
from w2s_jax.execution.columns import Columns
from w2s_jax.simulation import config as cfg
from w2s_jax.simulation.cost_model import COMPILE_SECONDS, Cost, compile_mode, cost, run_seconds


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


def union_steps(configs: Sequence[dict] | Columns) -> np.ndarray:
    """Every evaluation step of any configuration, sorted."""
    columns = configs if isinstance(configs, Columns) else Columns.of_dicts(configs)
    steps, points = columns.column("strong.steps"), columns.column("eval.points")
    pairs = set(zip(steps.tolist(), points.tolist()))
    return np.unique(np.concatenate([cfg.eval_steps(int(s), int(p)) for s, p in pairs]))
