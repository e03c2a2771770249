"""A configuration's identity: a stable digest of its values, which names its chunk
rows (resume, extension, shards) and, restricted to what fixes its draws (seed, data,
weak, run), seeds its random key (:func:`teacher_identity`). Stable across processes,
machines and versions: functions enter by module and name, keys added to the schema
later enter only away from their defaults.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from w2s_jax.simulation.fields import FIELD_BY_KEY, OMITTED_AT_DEFAULT

IMAGE_CLASS_KEYS = ("data.easy_classes", "data.hard_classes")
IMAGE_KEYS = ("data.source", *IMAGE_CLASS_KEYS, "data.image_dir", "data.image_hash")


def stable_text(value: Any) -> str:
    """A process-independent text for a value: functions by module and name."""
    if type(value) in (int, float, str, bool):
        return repr(value)
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{value.__module__}.{value.__qualname__}"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(stable_text(v) for v in value) + "]"
    return repr(value)


def identity(config: dict[str, Any], keys=None) -> str:
    """A stable digest of a configuration's values (all keys, or those under ``keys``)."""
    # A key at None (strong.student unset), or a later key at its default, is left out:
    # adding such a key to the schema keeps every existing configuration's identity.
    names = _selected(tuple(k for k, v in config.items() if v is not None), keys)
    names = [k for k in names if not (k in OMITTED_AT_DEFAULT and _is_default(k, config[k]))]
    if config.get("data.source", "synthetic") == "synthetic":  # ids as before images existed
        names = [k for k in names if k not in IMAGE_KEYS]
    text = "\n".join(f"{k}={stable_text(config[k])}" for k in names)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _is_default(key: str, value: Any) -> bool:
    return value == FIELD_BY_KEY[key].default


def included(key: str, value: Any, keys=None) -> bool:
    """Whether a (non-None) value enters an identity restricted to ``keys``: the rule
    :func:`identity` applies, for callers that build the text in parts."""
    if keys is not None and not _in(key, keys):
        return False
    return not (key in OMITTED_AT_DEFAULT and _is_default(key, value))


@functools.lru_cache(maxsize=256)
def _selected(names: tuple[str, ...], prefixes) -> tuple[str, ...]:
    return tuple(sorted(k for k in names if prefixes is None or _in(k, prefixes)))


def _in(key: str, prefixes) -> bool:
    return key in prefixes or any(key.startswith(p) for p in prefixes if p.endswith("."))


TEACHER_KEYS = ("seed", "data.", "weak.", "run.")


RECORDING_KEYS = ("run.race",)  # what is recorded, not what is drawn


def teacher_identity(config: dict[str, Any]) -> str:
    """What fixes a configuration's randomness: seed, data, weak and run parameters
    (but not what is recorded: a run with the race curves draws the same numbers)."""
    drawn = {k: v for k, v in config.items() if k not in RECORDING_KEYS}
    return identity(drawn, TEACHER_KEYS)
