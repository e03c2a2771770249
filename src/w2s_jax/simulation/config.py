"""Every parameter of a configuration: its grid key, default, kind and validity.

One table, :data:`FIELDS`, is the single source of truth for the grid file, the Python
API, validation messages, ``manifest.json`` and the summary columns. A field is

* ``static``: it fixes a shape or a trip count (or picks code); configurations that
  differ in one are different compiled programs;
* ``traced``: an array leaf of :class:`Params`; a grid of them is one stacked pytree.

``data.d`` is static in the dense backend (it is a shape) and traced in the reduced one.
A resolved configuration is a plain ``dict`` from dotted key to value;
:func:`split` turns it into the ``(Static, Params)`` pair the pipeline consumes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from w2s_jax.simulation import cost_model
from w2s_jax.simulation.backends import reduced_dimension


@dataclass(frozen=True)
class Field:
    """One grid key. ``choices`` restricts strings; ``low``/``high`` bound numbers."""

    key: str
    default: Any
    kind: str  # "static" or "traced"
    type: type
    doc: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # True: value must be > low (not >=)
    choices: tuple[str, ...] | None = None


def _f(key, default, kind, type_, doc, **checks) -> Field:
    return Field(key, default, kind, type_, doc, **checks)


FIELDS: tuple[Field, ...] = (
    _f("data.d", 8000, "static", float, "ambient dimension", low=5, low_open=True),
    _f("data.mu_norm", 8.0, "traced", float, "norm of the easy signals mu_{±1}", low=0),
    _f("data.nu_norm", 5.0, "traced", float, "norm of the hard signals nu_{±1}", low=0),
    _f("data.sigma_p", 1.0, "traced", float, "noise scale", low=0, low_open=True),
    _f("data.p_easy", 0.35, "traced", float, "probability of easy-only data", low=0, high=1),
    _f("data.p_hard", 0.30, "traced", float, "probability of hard-only data", low=0, high=1),
    _f(
        "data.hard_sign",
        "random",
        "static",
        str,
        "sign of the hard patches",
        choices=("random", "paired"),
    ),
    _f(
        "data.source",
        "synthetic",
        "static",
        str,
        "signals: the four fixed vectors, or real images (docs/REAL_IMAGES.md)",
        choices=("synthetic", "digits", "mnist"),
    ),
    _f("data.easy_classes", (0, 1), "static", tuple, "image classes of y = +1, -1: easy"),
    _f("data.hard_classes", (3, 8), "static", tuple, "image classes of y = +1, -1: hard"),
    _f("data.image_dir", "", "static", str, "directory of the MNIST IDX files"),
    _f("weak.n", 2000, "static", int, "weak training set size", low=1),
    _f("weak.lr", 0.2, "traced", float, "weak step size", low=0, low_open=True),
    _f("weak.steps", 200, "traced", int, "weak GD steps (the cap with weak.stop_loss)", low=0),
    _f(
        "weak.stop_loss",
        0.0,
        "traced",
        float,
        "stop the teacher at the first step whose training loss is <= this (0: off)",
        low=0,
    ),
    _f(
        "weak.model",
        "linear",
        "static",
        str,
        "weak model: linear CNN or ReLU CNN",
        choices=("linear", "relu"),
    ),
    _f("weak.m", 1, "static", int, "filters per sign of a ReLU weak model", low=1),
    _f("weak.sigma_0", 0.01, "traced", float, "initial filter scale of a ReLU weak model", low=0),
    _f("weak.loss", "logistic", "static", str, "weak training loss"),
    _f("weak.optimizer", "sgd", "static", str, "weak optimizer"),
    _f("strong.n", 2000, "traced", int, "strong training set size", low=1),
    _f("strong.m", 20, "static", int, "filters per sign", low=1),
    _f("strong.sigma_0", 0.01, "traced", float, "initial filter scale", low=0),
    _f("strong.lr", 1.0, "traced", float, "strong step size", low=0, low_open=True),
    _f(
        "strong.steps",
        2000,
        "traced",
        int,
        "strong GD steps (the cap with strong.stop_loss)",
        low=1,
    ),
    _f(
        "strong.stop_loss",
        0.0,
        "traced",
        float,
        "stop the student at the first step whose training loss on the pseudo-labels is "
        "<= this (0: off); strong.steps is then a cap",
        low=0,
    ),
    _f("strong.ceiling", False, "static", bool, "also train on true labels (PGR)"),
    _f("strong.activation", "relu", "static", str, "student activation"),
    _f(
        "strong.activation_param",
        math.nan,
        "traced",
        float,
        "activation parameter (leaky slope, power, smoothing width); NaN: its default",
    ),
    _f("strong.loss", "logistic", "static", str, "student training loss"),
    _f("strong.optimizer", "sgd", "static", str, "student optimizer"),
    _f("strong.momentum", 0.9, "traced", float, "momentum / Adam b1", low=0, high=1),
    _f(
        "strong.student",
        None,
        "static",
        object,
        "a user student instead of the ReLU CNN: make_student(key, static, params, init) -> "
        "eqx.Module (Python API only; dense backend; see custom_student.py)",
    ),
    _f(
        "strong.gd_form",
        "auto",
        "static",
        str,
        "train the filters (primal) or their coefficients on the training noise (dual, "
        "exact for sgd/momentum); auto: the one with fewer FLOPs",
        choices=("auto", "primal", "dual"),
    ),
    _f("eval.n_test", 4000, "static", int, "test samples per configuration", low=1),
    _f("eval.points", 40, "static", int, "evaluation steps (log-spaced, 0 and last)", low=2),
    _f(
        "run.backend",
        "auto",
        "static",
        str,
        "dense, reduced, or auto (reduced when D < d)",
        choices=("auto", "dense", "reduced"),
    ),
    _f("run.dtype", "float32", "static", str, "float dtype", choices=("float32", "float64")),
    _f(
        "run.compile",
        "auto",
        "static",
        str,
        "XLA optimisation: fast (quick compile, slower run), full, or auto (fast when "
        "the program's configurations in the grid have little work in all; then "
        "small programs differing only in strong.n may also run as one, padded)",
        choices=("auto", "fast", "full"),
    ),
    _f(
        "run.metrics",
        (),
        "static",
        tuple,
        "user metrics {name: fn(filters, train, test) -> scalar} (Python API only)",
    ),
    _f(
        "run.race",
        False,
        "static",
        bool,
        "also record the curves of the proof's race (race_*: signal and noise coefficients, "
        "the init and learned noise terms at test points, |l'| by data group)",
    ),
    _f(
        "run.precision",
        "highest",
        "static",
        str,
        "matmul precision (highest: no TF32 on GPUs)",
        choices=("default", "high", "highest"),
    ),
)
FIELD_BY_KEY: dict[str, Field] = {f.key: f for f in FIELDS}

# Keys added after results were first published: at their default they are left out of
# a configuration's identity (and so of its random key), so that earlier runs keep
# their identities and random streams.
OMITTED_AT_DEFAULT = ("weak.stop_loss", "strong.stop_loss", "run.compile", "run.race")

# Theory-normalised aliases (docs/MODEL.md, "Sweeping d"): key -> (raw key, converter).
SCALED_KEYS: dict[str, str] = {
    "strong.lr_scaled": "strong.lr",  # lr = lr_scaled / (sigma_p^2 d)
    "weak.lr_scaled": "weak.lr",
    "strong.sigma_0_scaled": "strong.sigma_0",  # sigma_0 = s / (sigma_p sqrt(d))
    # The theorem's scaling (docs/MODEL.md, "The theorem's conditions"): the init term
    # sigma_0 sigma_p sqrt(d) is c sqrt(n/d), small against what is learned at any d.
    "strong.sigma_0_theory": "strong.sigma_0",  # sigma_0 = c sqrt(n) / (sigma_p d)
    "data.nu_norm_scaled": "data.nu_norm",  # nu_norm = s sigma_p d^(1/4)
    "data.mu_norm_scaled": "data.mu_norm",
}


def unscale(key: str, value: float, d: float, sigma_p: float, n: float) -> float:
    """Raw value of a theory-normalised parameter (docs/MODEL.md, "Sweeping d")."""
    if key == "strong.sigma_0_theory":
        return value * math.sqrt(n) / (sigma_p * d)
    if key.endswith("lr_scaled"):
        return value / (sigma_p**2 * d)
    if key == "strong.sigma_0_scaled":
        return value / (sigma_p * math.sqrt(d))
    return value * sigma_p * d**0.25


# How each theory-normalised alias becomes its raw value (docs/MODEL.md, "Sweeping d").
SCALED_DOCS: dict[str, str] = {
    "strong.lr_scaled": "strong.lr = lr_scaled / (sigma_p² d)",
    "weak.lr_scaled": "weak.lr = lr_scaled / (sigma_p² d)",
    "strong.sigma_0_scaled": "strong.sigma_0 = s / (sigma_p √d)",
    "strong.sigma_0_theory": "strong.sigma_0 = c √n / (sigma_p d): the theorem's init scaling",
    "data.nu_norm_scaled": "data.nu_norm = s sigma_p d^(1/4) (keeps nu_norm⁴/d, hence B, fixed)",
    "data.mu_norm_scaled": "data.mu_norm = s sigma_p d^(1/4)",
}


def _valid(f: Field) -> str:
    if f.choices:
        return " / ".join(f.choices)
    if f.low is None and f.high is None:
        return ""
    low = "" if f.low is None else (f">{f.low:g}" if f.low_open else f"≥{f.low:g}")
    return f"[{f.low:g}, {f.high:g}]" if f.high is not None else low


def keys_markdown() -> str:
    """The grid keys as a Markdown table, from :data:`FIELDS` (``--list-keys``;
    docs/KEYS.md is this text, checked by a test)."""
    lines = [
        "# Grid keys",
        "",
        "Generated by `python -m w2s_jax.sweep --list-keys` from",
        "`src/w2s_jax/simulation/config.py`.",
        "*Static* keys fix a compiled program (configurations that differ in one compile",
        "separately); *traced* keys are swept inside one program. `data.d` is static in",
        "the dense backend and traced in the reduced one.",
        "",
        "| key | default | kind | valid | meaning |",
        "|---|---|---|---|---|",
    ]
    for f in FIELDS:
        default = "" if f.default is None else repr(f.default).replace("'", '"')
        lines.append(f"| `{f.key}` | {default} | {f.kind} | {_valid(f)} | {f.doc} |")
    lines += ["", "Theory-normalised aliases (given instead of the raw key):", ""]
    lines += ["| alias | raw value |", "|---|---|"]
    lines += [f"| `{alias}` | {text} |" for alias, text in SCALED_DOCS.items()]
    return "\n".join(lines) + "\n"


def defaults() -> dict[str, Any]:
    return {f.key: f.default for f in FIELDS}


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


def bucket(n: int) -> int:
    """Padded size for ``strong.n``: the next rung of a fixed ladder ``2^(k/4)`` (rounded
    up to a multiple of 8). At most 19% padding (never doubling the work). A
    configuration's own rung: with ``run.compile = "auto"`` the planner may run it in a
    program padded further (``planner._pad_together``); pinned, it always runs here."""
    if n <= 8:
        return 8
    rung = math.ceil(4 * math.log2(n) - 1e-9)
    return 8 * math.ceil(2 ** (rung / 4) / 8)


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
        n_pad=bucket(int(c["strong.n"])),
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
    work = cost_model.cost(static, c["data.d"], c["strong.steps"], c["weak.steps"]).flops
    return dataclasses.replace(static, compile=cost_model.compile_mode("auto", work))


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
