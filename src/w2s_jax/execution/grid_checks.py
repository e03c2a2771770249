"""Validation of grid values: one value against its field (:func:`check_value`), and a
whole configuration's cross-key constraints while resolving its aliases
(:func:`resolve`); the keys a grid accepts (:func:`valid_keys`, :func:`keys_markdown`).
Every mistake is a :class:`GridError` with one line naming where, the key and the value.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

from w2s_jax.analysis.aliases import ALIASES, SCALED_KEYS, unscale
from w2s_jax.simulation import config as cfg
from w2s_jax.simulation import registry
from w2s_jax.simulation.backends import reduced_dimension
from w2s_jax.simulation.errors import GridError
from w2s_jax.simulation.fields import FIELD_BY_KEY, FIELDS, Field
from w2s_jax.simulation.identity import IMAGE_CLASS_KEYS, stable_text

REGISTRY_KEYS = {
    "strong.activation": registry.ACTIVATIONS,
    "strong.loss": registry.LOSSES,
    "weak.loss": registry.LOSSES,
    "strong.optimizer": registry.OPTIMIZERS,
    "weak.optimizer": registry.OPTIMIZERS,
}


def suggest(key: str, valid) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def valid_keys() -> list[str]:
    return [*FIELD_BY_KEY, *SCALED_KEYS]


def check_value(key: str, value: Any, where: str) -> Any:
    """Type and range of one parameter value; returns it normalised (int/float/...)."""
    if key in SCALED_KEYS:
        field_ = Field(key, None, "traced", float, "", low=0, low_open=True)
    elif key in FIELD_BY_KEY:
        field_ = FIELD_BY_KEY[key]
    else:
        raise GridError(f"{where}: unknown key {key!r}{suggest(key, valid_keys())}")
    bad = lambda what: GridError(f"{where}: key {key!r} {what}, got {value!r}")  # noqa: E731
    if key == "run.metrics":
        return _check_metrics(value, bad)
    if key == "strong.student":
        if value is not None and not callable(value):
            raise bad("must be a function make_student(key, static, params, init) (Python API)")
        return value
    if key in IMAGE_CLASS_KEYS:
        return _check_classes(value, bad)
    if key in REGISTRY_KEYS and (callable(value) or isinstance(value, registry.Activation)):
        return value  # a Python object instead of a registry name
    if field_.type is bool:
        if not isinstance(value, bool):
            raise bad("must be true or false")
        return value
    if field_.type is str:
        if not isinstance(value, str):
            raise bad("must be a string")
        choices = field_.choices or tuple(REGISTRY_KEYS.get(key, ()))
        if choices and value not in choices:
            raise bad(f"must be one of {', '.join(choices)}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad("must be a number")
    if field_.type is int:
        if not float(value).is_integer():
            raise bad("must be an integer")
        value = int(value)
    else:
        value = float(value)
    if math.isnan(value) and key == "strong.activation_param":
        return value
    if not math.isfinite(value):
        raise bad("must be finite")
    if field_.low is not None and (value < field_.low or (field_.low_open and value == field_.low)):
        raise bad(f"must be {'>' if field_.low_open else '>='} {field_.low:g}")
    if field_.high is not None and value > field_.high:
        raise bad(f"must be <= {field_.high:g}")
    return value


def _check_metrics(value: Any, bad) -> tuple:
    from w2s_jax.simulation.pipeline import CURVES

    pairs = tuple(value.items()) if isinstance(value, dict) else tuple(value)
    for pair in pairs:
        if not (
            isinstance(pair, tuple)
            and len(pair) == 2
            and isinstance(pair[0], str)
            and pair[0].isidentifier()
            and callable(pair[1])
        ):
            raise bad("must map metric names (identifiers) to functions")
        if pair[0] in CURVES or pair[0] == "ceiling_test_error":
            raise bad(f"names a built-in curve {pair[0]!r}")
    return pairs


def _check_classes(value: Any, bad) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (list, tuple)) else ()
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise bad("must be a list of two integer class labels")
    if pair[0] == pair[1]:
        raise bad("must name two different classes")
    return pair


def resolve(config: dict[str, Any], where: str = "<dict>") -> dict[str, Any]:
    """Unscale theory-normalised keys and check cross-parameter constraints."""
    for scaled, raw_key in SCALED_KEYS.items():
        if scaled in config:
            config[raw_key] = unscale(
                scaled, config[scaled], config["data.d"], config["data.sigma_p"], config["strong.n"]
            )
    if config["data.p_easy"] + config["data.p_hard"] > 1 + 1e-12:
        raise GridError(
            f"{where}: data.p_easy + data.p_hard must be <= 1, got "
            f"{config['data.p_easy']} + {config['data.p_hard']}"
        )
    backend = config["run.backend"]
    dim = reduced_dimension(config["strong.m"], config["strong.n"], config["weak.n"])
    if backend == "reduced" and dim >= config["data.d"]:
        raise GridError(
            f"{where}: key 'run.backend' = 'reduced' needs data.d > 5 + 2m + n "
            f"and > 4 + weak.n (= {dim}), got data.d = {config['data.d']:g}"
        )
    if cfg.resolve_backend(config) == "reduced" and config["weak.model"] != "linear":
        raise GridError(
            f"{where}: key 'weak.model' = {config['weak.model']!r} needs "
            f"run.backend = 'dense' (the reduced backend carries one teacher filter)"
        )
    linear = registry.LINEAR_OPTIMIZERS
    if config["strong.gd_form"] == "dual" and config["strong.optimizer"] not in linear:
        raise GridError(
            f"{where}: key 'strong.gd_form' = 'dual' needs a linear optimizer "
            f"({', '.join(sorted(linear))}), got strong.optimizer = "
            f"{stable_text(config['strong.optimizer'])}"
        )
    if config.get("strong.student") is not None and cfg.resolve_backend(config) != "dense":
        raise GridError(
            f"{where}: key 'strong.student' needs run.backend = 'dense' (a user module "
            f"sees the noise in its own coordinates), got run.backend = 'reduced'"
        )
    if config.get("data.source", "synthetic") != "synthetic":
        from w2s_jax.simulation import (
            images,  # NumPy and the data sets only when images are asked for
        )

        images.check_configuration(config, where)
    if cfg.resolve_backend(config) == "dense" and config["data.d"] > 2**31:
        raise GridError(
            f"{where}: key 'data.d' = {config['data.d']:g} is too large for the "
            f"dense backend; use run.backend = 'reduced'"
        )
    return config


# ------------------------------------------------------------------ the key reference


def _valid(f: Field) -> str:
    if f.choices:
        return " / ".join(f.choices)
    if f.low is None and f.high is None:
        return ""
    low = "" if f.low is None else (f">{f.low:g}" if f.low_open else f"≥{f.low:g}")
    return f"[{f.low:g}, {f.high:g}]" if f.high is not None else low


def keys_markdown() -> str:
    """The grid keys as a Markdown table, from the fields and the aliases
    (``--list-keys``; docs/KEYS.md is this text, checked by a test)."""
    lines = [
        "# Grid keys",
        "",
        "Generated by `python -m w2s_jax.sweep --list-keys` from",
        "`src/w2s_jax/simulation/fields.py` and `src/w2s_jax/analysis/aliases.py`.",
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
    lines += [f"| `{alias.key}` | {alias.doc} |" for alias in ALIASES]
    return "\n".join(lines) + "\n"
