"""Identity digests of a grid's configurations, from its columns: exactly
:func:`w2s_jax.simulation.identity.identity` of each configuration's dict, without the
dicts. The digest is the SHA-256 of the configuration's lines ``key=value`` in sorted
key order; the dimensions are walked in the order the lines need them, so that the hash
of a prefix shared by many configurations (the fixed lines, the lines of the outer
dimensions) is computed once and copied (``hashlib``'s ``copy``).
"""

from __future__ import annotations

import hashlib
from typing import Any

from w2s_jax.simulation.identity import IMAGE_KEYS, included, stable_text


def _slots(columns, prefixes, dropped) -> list[tuple[str, tuple[int, ...], Any]]:
    """The identity text's lines in key order: ``(key, dimensions it depends on,
    its text)`` (a constant, or a list per position or per resolved point)."""

    def line(key, value) -> bytes:
        if value is None or not included(key, value, prefixes):
            return b""
        return f"\n{key}={stable_text(value)}".encode()

    seeds_dim = {k: j for j, (keys, _) in enumerate(columns.dimensions) for k in keys}
    slots = []
    keys = [k for k in columns.keys() if k not in dropped and k not in IMAGE_KEYS]
    for key in sorted(k for k in keys if prefixes is None or included(k, None, prefixes)):
        if key in seeds_dim:
            j = seeds_dim[key]
            keys, rows = columns.dimensions[j]
            at = keys.index(key)
            if getattr(rows, "positions", False):  # rows (p,): an integer's text is its repr
                lines = [b"\n%s=%d" % (key.encode(), p) for p in range(len(rows))]
            else:
                lines = [line(key, row[at]) for row in rows]
            slots.append((key, (j,), lines))
        elif key in columns.fixed:
            slots.append((key, (), line(key, columns.fixed[key])))
        else:
            slots.append((key, columns.resolved_by, [line(key, d[key]) for d in columns._derived]))
    if not slots or slots[0][0] != "data.d":
        raise AssertionError("an identity's text starts with data.d")
    key, dims, text = slots[0]  # never None nor omitted: the text's first line
    slots[0] = (key, dims, [t[1:] for t in text] if dims else text[1:])
    return slots


def digests(columns, prefixes=None, dropped=()) -> tuple[list[str], tuple[int, ...]]:
    """Every distinct digest of the identity restricted to ``prefixes`` (minus
    ``dropped``), indexed by the point of the dimensions it depends on (returned)."""
    slots = _slots(columns, prefixes, dropped)
    levels: list[int] = []  # dimensions by the first line that needs them
    first: list[int] = []
    for s, (_, dims, _) in enumerate(slots):
        for j in sorted(dims, key=lambda j: j):
            if j not in levels:
                levels.append(j)
                first.append(s)
    bounds = [*first, len(slots)]
    head = hashlib.sha256(_text(slots[: bounds[0]], {}, columns))
    out: list[str] = []
    chosen: dict[int, int] = {}
    fixed_texts: dict[int, list[bytes]] = {}  # a level's texts when they read only it

    def texts_of(level: int, dim: int, lines) -> list[bytes] | None:
        if level not in fixed_texts:
            if {j for _, dims, _ in lines for j in dims} - {dim}:
                return None  # its lines read the positions above it
            size = columns.sizes[dim]
            parts = [[text] * size if not dims else text for _, dims, text in lines]
            parts = parts or [[b""] * size]  # a level whose lines come with the next
            fixed_texts[level] = [b"".join(row) for row in zip(*parts)]
        return fixed_texts[level]

    spans = [_merged(slots[bounds[k] : bounds[k + 1]]) for k in range(len(levels))]

    def walk(level: int, state) -> None:
        dim, lines = levels[level], spans[level]
        texts = texts_of(level, dim, lines)
        if texts is None:
            texts = []
            for position in range(columns.sizes[dim]):
                chosen[dim] = position
                texts.append(_text(lines, chosen, columns))
        if level == len(levels) - 1:
            for text in texts:
                hasher = state.copy()
                hasher.update(text)
                out.append(hasher.hexdigest()[:24])
            return
        for position, text in enumerate(texts):
            chosen[dim] = position
            hasher = state.copy()
            hasher.update(text)
            walk(level + 1, hasher)

    if levels:
        walk(0, head)
    else:
        out.append(head.hexdigest()[:24])
    return out, tuple(levels)


def _merged(lines: list) -> list:
    """``lines`` with each run of constant lines joined into one."""
    merged: list = []
    for key, dims, text in lines:
        if not dims and merged and not merged[-1][1]:
            merged[-1] = (key, (), merged[-1][2] + text)
        else:
            merged.append((key, dims, text))
    return merged


def _text(lines, chosen: dict[int, int], columns) -> bytes:
    parts = []
    for _, dims, text in lines:
        if not dims:
            parts.append(text)
            continue
        cell = 0
        for j in dims:
            cell = cell * columns.sizes[j] + chosen[j]
        parts.append(text[cell])
    return b"".join(parts)
