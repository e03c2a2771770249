"""Every grid key: its default, kind (static or traced), type and valid values, in one
table, :data:`FIELDS`, the single source of truth for the grid file, the Python API,
validation messages, ``manifest.json``, the summary columns and the key reference
(``--list-keys``, docs/KEYS.md: ``grid_checks.keys_markdown``).

A field is ``static`` when it fixes a shape or a trip count (or picks code):
configurations that differ in one are different compiled programs; ``traced`` when it is
an array leaf of :class:`w2s_jax.simulation.config.Params`. ``data.d`` is static in the
dense backend (a shape) and traced in the reduced one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


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


def defaults() -> dict[str, Any]:
    return {f.key: f.default for f in FIELDS}
