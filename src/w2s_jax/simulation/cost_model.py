"""The one cost model: FLOPs and bytes of a configuration, counted from its program's
shapes, the run time it stands for, and the decisions taken from them: primal or dual
GD, fast or full compile (the planner's choice of padding weighs the same numbers).

Everything that weighs work — the planner's chunks, shares and programs, the engine's
teacher slots, ``--dry-run`` and the benchmarks — reads these numbers, so a decision
never rests on a second, different count. Nothing is compiled here: a plan is made
before. ``static`` is always a :class:`w2s_jax.simulation.config.Static` (not imported: the
configuration module reads this one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from w2s_jax.simulation.backends import noise_dim_strong, noise_dim_weak
from w2s_jax.simulation.registry import LINEAR_OPTIMIZERS
from w2s_jax.simulation.training import ANCHOR_EVERY

MEMORY_SAFETY = 1.1  # XLA's buffers / the arrays counted in `cost`: 0.85-0.96 measured

# run.compile = "auto": XLA's fast (unoptimised) compile or its full one, whichever
# makes a program's compile plus run the shorter, judged from the program's whole work
# (every configuration of it in the grid): a few small configurations are done before a
# full compile would finish, but 256 of them run ~3x slower unoptimised, which costs
# more than the full compile saves (benchmarks/RESULTS.md, "Time to result, second
# round"). Measured on a 2-core CPU:
COMPILE_SECONDS = {"fast": 4.3, "full": 9.5}  # one small sweep program
FAST_SLOWDOWN = 3.0  # run time unoptimised / optimised, small configurations
# cost().flops per second, optimised, of the 256 small configurations (5.5e10 in ~4 s):
# small programs are latency-bound, well below the matmul rate. A constant, not a
# measurement, so that a plan depends on the grid alone, never on the machine.
WORK_FLOPS_PER_SECOND = 1.37e10
# students_alone: a student's step that reads this many bytes trains alone (lax.map).
STUDENTS_ALONE_BYTES = 1 * 2**20


@dataclass(frozen=True)
class Cost:
    """Per-configuration estimate: peak bytes and FLOPs of one run, and the bytes its
    training loops read at every step (the largest noise matrix and Gram matrix)."""

    bytes: float
    flops: float
    hot_bytes: float


def primal_step_flops(n: int, dim: int, filters: int) -> float:
    """One GD step on an ``(n, dim)`` noise matrix with ``filters`` filters: the
    preactivations, the gradient's product with the noise and the update."""
    return 6.0 * n * dim * filters


def dual_step_flops(n: int, filters: int) -> float:
    """One step of the dual form (``training.train_in_span``): the Gram matrix's
    product with the coefficients and its gradient."""
    return 3.0 * n * n * filters


def anchor_flops(n: int, dim: int, filters: int) -> float:
    """Rebuilding the filters from the dual coefficients and their preactivations."""
    return 4.0 * n * dim * filters


def step_hot_bytes(static, dim: int) -> float:
    """Bytes one student's training step reads in full: its Gram matrix (dual form) or
    its ``(n, dim)`` noise matrix (primal form)."""
    n, item = static.n_pad, np.dtype(static.dtype).itemsize
    dual = use_dual_form(static, n, dim)
    return float(item * (n * n if dual else n * dim))


def students_alone(static, platform: str) -> bool:
    """Whether a program trains its students one at a time (``lax.map``) rather than
    side by side (``vmap``), on a CPU: once one student's step reads
    ``STUDENTS_ALONE_BYTES``, a batched product of several such matrices streams every
    student's matrix through the caches at every step and runs at a fraction of one
    unbatched product's rate (2-3x slower per student at n = 512-2048), and a student
    alone needs no padding partner (benchmarks/RESULTS.md, "Large n"). An accelerator
    batches them efficiently: side by side there. Decided from the program's shapes and
    the platform alone, so a result never depends on its chunk."""
    if platform != "cpu" or static.student is not None or static.n_pad == 0:
        return False
    dim = noise_dim_strong(static.backend, static.d, static.m, static.n_pad)
    return step_hot_bytes(static, dim) >= STUDENTS_ALONE_BYTES


def dual_is_cheaper(n: int, dim: int, filters: int) -> bool:
    """Whether a dual step (with its share of re-anchoring) needs fewer FLOPs than a
    primal one. The number of steps is not part of the choice: it is traced, and a
    result must not depend on the other configurations of its program."""
    dual = dual_step_flops(n, filters) + anchor_flops(n, dim, filters) / ANCHOR_EVERY
    return dual < primal_step_flops(n, dim, filters)


def use_dual_form(static, n: int, dim: int) -> bool:
    """Whether the student trains in the dual form (``strong.gd_form``; ``auto``: when
    the optimizer allows it and a step needs fewer FLOPs). A static decision: one
    program, one form."""
    if static.student is not None:
        return False  # a user module trains in the primal form only
    if static.gd_form != "auto":
        return static.gd_form == "dual"
    return static.optimizer in LINEAR_OPTIMIZERS and dual_is_cheaper(n, dim, 2 * static.m)


def teacher_flops(static, d: float, weak_steps: int) -> float:
    """FLOPs of training one teacher for ``weak_steps`` steps."""
    d_weak = noise_dim_weak(static.backend, int(d), static.weak_n)
    return weak_steps * primal_step_flops(static.weak_n, d_weak, max(2 * static.weak_m, 1))


def cost(static, d: float, steps: int, weak_steps: int) -> Cost:
    """Memory and FLOPs of one configuration of ``steps`` strong and ``weak_steps`` weak
    steps, counted from the shapes (not guessed)."""
    item = np.dtype(static.dtype).itemsize
    d_strong = noise_dim_strong(static.backend, int(d), static.m, static.n_pad)
    d_weak = noise_dim_weak(static.backend, int(d), static.weak_n)
    filters, samples, n = 2 * static.m, static.n_pad + static.n_test, static.n_pad
    runs = 2 if static.ceiling else 1
    student = samples * (d_strong + 9) + 6 * filters * d_strong + 8 * samples * 3 * filters
    teacher = 2 * static.weak_n * (d_weak + 5) + 4 * max(2 * static.weak_m, 1) * d_weak
    if static.backend == "reduced":
        student += 2 * (filters + n) ** 2
        teacher += 2 * static.weak_n**2
    evals = static.eval_points
    if use_dual_form(static, n, d_strong):  # Gram, steps, re-anchoring
        anchors = steps // ANCHOR_EVERY + evals
        student_steps = 2 * n * n * d_strong + steps * dual_step_flops(n, filters)
        student_steps += anchors * anchor_flops(n, d_strong, filters)
    else:
        student_steps = steps * primal_step_flops(n, d_strong, filters)
    evaluations = evals * 2 * samples * d_strong * filters
    flops = runs * (student_steps + evaluations) + teacher_flops(static, d, weak_steps)
    hot = max(static.weak_n * d_weak, n * (d_strong + n))
    return Cost(item * (student + teacher) * MEMORY_SAFETY, float(flops), float(item * hot))


def run_seconds(flops: float, mode: str) -> float:
    """A rough run time of ``flops`` of small-program work compiled in ``mode``."""
    return flops / WORK_FLOPS_PER_SECOND * (FAST_SLOWDOWN if mode == "fast" else 1.0)


def compile_mode(choice: str, work: float) -> str:
    """``run.compile`` as ``"fast"`` or ``"full"``: ``"auto"`` from ``work``, the
    :func:`cost` FLOPs of every configuration of the program in its run: full when the
    time the fast program would lose running exceeds what the full compile costs more."""
    if choice != "auto":
        return choice
    lost = run_seconds(work, "fast") - run_seconds(work, "full")
    return "full" if lost > COMPILE_SECONDS["full"] - COMPILE_SECONDS["fast"] else "fast"


def compile_mode_alone(static, d: float, steps: int, weak_steps: int) -> str:
    """``run.compile = "auto"`` of a configuration run alone (``run_one``): from its own
    work (a grid's programs decide from all their configurations, ``planner.plan``)."""
    return compile_mode("auto", cost(static, d, steps, weak_steps).flops)


# ------------------------------------------------------------------ the padding ladder


def bucket(n: int) -> int:
    """Padded size for ``strong.n``: the next rung of a fixed ladder ``2^(k/4)`` (rounded
    up to a multiple of 8). At most 19% padding (never doubling the work). A
    configuration's own rung: with ``run.compile = "auto"`` the planner may run it in a
    program padded further (``planner._pad_together``, :func:`run_seconds` against
    :data:`COMPILE_SECONDS`); pinned, it always runs here."""
    if n <= 8:
        return 8
    rung = math.ceil(4 * math.log2(n) - 1e-9)
    return 8 * math.ceil(2 ** (rung / 4) / 8)
