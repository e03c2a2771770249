"""A configuration as its compiled program and its traced parameters.

A resolved configuration is a plain ``dict`` from dotted key
(:mod:`w2s_jax.simulation.fields`) to value; :func:`split` turns it into the
``(Static, Params)`` pair the pipeline consumes: :class:`Static` (frozen, hashable: what
fixes a compiled program) and :class:`Params` (a pytree of arrays; a grid of them is one
stacked pytree). The evaluation schedule (the steps a configuration is evaluated at) is
part of its parameters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from w2s_jax.simulation import cost_model
from w2s_jax.simulation.backends import reduced_dimension


def resolve_backend(config: dict[str, Any]) -> str:
    """``auto`` picks the reduced backend whenever it is smaller than ``d``
    (docs/MODEL.md, "The reduced backend")."""
    backend = config["run.backend"]
    if backend != "auto":
        return backend
    if config.get("strong.student") is not None:
        return "dense"  # a user module sees the noise in its own coordinates
    if config.get("data.source", "synthetic") != "synthetic":
        return "dense"  # images: dense only (docs/REAL_IMAGES.md)
    dim = reduced_dimension(config["strong.m"], config["strong.n"], config["weak.n"])
    return "reduced" if dim < config["data.d"] else "dense"


# --------------------------------------------------------------------------- split


@dataclass(frozen=True)
class Static:
    """Everything that fixes a compiled program. Hashable; used as a jit static arg."""

    backend: str
    dtype: str
    precision: str
    d: int  # the dense dimension; 0 in the reduced backend (d is traced there)
    hard_sign: str
    weak_n: int
    weak_model: str
    weak_m: int
    weak_loss: str
    weak_optimizer: str
    m: int
    n_pad: int
    ceiling: bool
    activation: str
    loss: str
    optimizer: str
    gd_form: str
    n_test: int
    eval_points: int
    compile: str  # "fast" or "full" (run.compile resolved; see planner.plan)
    race: bool = False  # run.race: the race_* curves
    metrics: tuple = ()  # ((name, fn), ...): user metrics, see pipeline.Batch
    student: Any = None  # make_student(...) -> eqx.Module, or None: the ReLU CNN
    source: str = "synthetic"  # data.source; the image bank is a program argument
    easy_classes: tuple = ()  # image sources only (the bank's identity)
    hard_classes: tuple = ()
    image_dir: str = ""

    def teacher(self) -> Static:
        """The part that fixes the weak phase (strong-side fields blanked)."""
        return dataclasses.replace(
            self,
            m=0,
            n_pad=0,
            ceiling=False,
            activation="",
            loss="",
            optimizer="",
            gd_form="",
            n_test=0,
            eval_points=0,
            metrics=(),
            student=None,
            race=False,
        )


class DataParams(NamedTuple):
    d: Any
    mu_norm: Any
    nu_norm: Any
    sigma_p: Any
    p_easy: Any
    p_hard: Any


class WeakParams(NamedTuple):
    lr: Any
    sigma_0: Any
    steps: Any  # int32: GD steps (a cap when stop_loss > 0)
    stop_loss: Any


class StrongParams(NamedTuple):
    n: Any
    sigma_0: Any
    lr: Any
    activation_param: Any
    momentum: Any
    steps: Any  # int32: GD steps (a cap when stop_loss > 0)
    stop_loss: Any
    eval_steps: Any  # (eval.points,) int32: evaluation steps, the last repeated as padding


class Params(NamedTuple):
    """Traced parameters of one configuration (scalars), or of a grid (stacked)."""

    data: DataParams
    weak: WeakParams
    strong: StrongParams


def split(config: dict[str, Any]) -> tuple[Static, Params]:
    """A resolved configuration -> (its program's static part, its traced parameters)."""
    return static_part(config), traced_part(config)


def static_part(config: dict[str, Any], compile: str | None = None) -> Static:
    """The :class:`Static` (compiled program) a resolved configuration belongs to, run
    alone (``run.compile = "auto"`` decided from its own work); a grid's programs come
    from ``planner.plan``, which passes ``compile`` (``"auto"`` while grouping) and
    decides from the whole program's work."""
    c = config
    backend = resolve_backend(c)
    static = Static(
        backend=backend,
        dtype=c["run.dtype"],
        precision=c["run.precision"],
        d=int(c["data.d"]) if backend == "dense" else 0,
        hard_sign=c["data.hard_sign"],
        weak_n=int(c["weak.n"]),
        weak_model=c["weak.model"],
        weak_m=int(c["weak.m"]),
        weak_loss=c["weak.loss"],
        weak_optimizer=c["weak.optimizer"],
        m=int(c["strong.m"]),
        n_pad=cost_model.bucket(int(c["strong.n"])),
        ceiling=bool(c["strong.ceiling"]),
        activation=c["strong.activation"],
        loss=c["strong.loss"],
        optimizer=c["strong.optimizer"],
        gd_form=c["strong.gd_form"],
        n_test=int(c["eval.n_test"]),
        eval_points=int(c["eval.points"]),
        compile=compile or c["run.compile"],
        race=bool(c.get("run.race", False)),
        metrics=tuple(c["run.metrics"]),
        student=c.get("strong.student"),
        **_image_static(c),
    )
    if compile is not None or static.compile != "auto":
        return static
    mode = cost_model.compile_mode_alone(static, c["data.d"], c["strong.steps"], c["weak.steps"])
    return dataclasses.replace(static, compile=mode)


def _image_static(config: dict[str, Any]) -> dict[str, Any]:
    """The image fields of :class:`Static` (none for synthetic data: its programs and
    their manifests stay as they were)."""
    if config.get("data.source", "synthetic") == "synthetic":
        return {}
    return {
        "source": config["data.source"],
        "easy_classes": tuple(config["data.easy_classes"]),
        "hard_classes": tuple(config["data.hard_classes"]),
        "image_dir": config["data.image_dir"],
    }


def traced_part(config: dict[str, Any]) -> Params:
    """The traced parameters of a resolved configuration (NumPy scalars)."""
    c = config
    dtype = np.dtype(c["run.dtype"])
    scalar = lambda key: np.asarray(c[key], dtype)  # noqa: E731
    params = Params(
        data=DataParams(*(scalar(f"data.{k}") for k in DataParams._fields)),
        weak=WeakParams(
            lr=scalar("weak.lr"),
            sigma_0=scalar("weak.sigma_0"),
            steps=np.asarray(c["weak.steps"], np.int32),
            stop_loss=scalar("weak.stop_loss"),
        ),
        strong=StrongParams(
            n=np.asarray(c["strong.n"], np.int32),
            sigma_0=scalar("strong.sigma_0"),
            lr=scalar("strong.lr"),
            activation_param=scalar("strong.activation_param"),
            momentum=scalar("strong.momentum"),
            steps=np.asarray(c["strong.steps"], np.int32),
            stop_loss=scalar("strong.stop_loss"),
            eval_steps=padded_eval_steps(int(c["strong.steps"]), int(c["eval.points"])),
        ),
    )
    return params


def stacked_traced_part(values: Callable[[str], np.ndarray], dtype: str) -> Params:
    """:func:`traced_part` of many configurations at once, as :func:`stack` of them would
    give it (the same arrays): ``values(key)`` is every configuration's value of
    ``key``; ``dtype`` their ``run.dtype``."""
    dtype = np.dtype(dtype)
    scalar = lambda key: np.asarray(values(key)).astype(dtype)  # noqa: E731
    count = lambda key: np.asarray(values(key)).astype(np.int32)  # noqa: E731
    steps = np.asarray(values("strong.steps")).astype(np.int64)
    points = np.asarray(values("eval.points")).astype(np.int64)
    # Each distinct (steps, points) pair once, as one integer (a 1-D unique is quick).
    radix = int(points.max()) + 1
    pairs, where = np.unique(steps * radix + points, return_inverse=True)
    evaluated = np.stack([padded_eval_steps(int(p // radix), int(p % radix)) for p in pairs])
    return Params(
        data=DataParams(*(scalar(f"data.{k}") for k in DataParams._fields)),
        weak=WeakParams(
            lr=scalar("weak.lr"),
            sigma_0=scalar("weak.sigma_0"),
            steps=count("weak.steps"),
            stop_loss=scalar("weak.stop_loss"),
        ),
        strong=StrongParams(
            n=count("strong.n"),
            sigma_0=scalar("strong.sigma_0"),
            lr=scalar("strong.lr"),
            activation_param=scalar("strong.activation_param"),
            momentum=scalar("strong.momentum"),
            steps=count("strong.steps"),
            stop_loss=scalar("strong.stop_loss"),
            eval_steps=evaluated[where.reshape(-1)],
        ),
    )


def stack(params: list[Params]) -> Params:
    """Stack per-configuration parameters along a new leading axis (the grid axis)."""
    import jax

    return jax.tree.map(lambda *leaves: np.stack(leaves), *params)


def eval_steps(steps: int, points: int) -> np.ndarray:
    """Evaluation steps: log-uniform over ``1..steps`` plus 0 (duplicates merged; at
    most ``points`` of them)."""
    if steps == 0:
        return np.zeros(1, int)
    # geomspace of one point is its start: with 2 points, the grid is the last step alone
    grid = np.rint(np.geomspace(1, steps, points - 1)).astype(int) if points > 2 else []
    return np.unique(np.concatenate([[0], grid, [steps]])).astype(int)


def padded_eval_steps(steps: int, points: int) -> np.ndarray:
    """:func:`eval_steps` padded to exactly ``points`` entries by repeating the last:
    the step count is traced, so every configuration of a program evaluates ``points``
    times (a repeated step repeats its values; storage drops the repeats)."""
    unique = eval_steps(steps, points)
    return np.concatenate([unique, np.full(points - len(unique), unique[-1])]).astype(np.int32)
