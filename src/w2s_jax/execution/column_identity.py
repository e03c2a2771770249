"""Identity digests of a grid's configurations, from its columns: exactly
:func:`w2s_jax.simulation.identity.identity` of each configuration's dict, without the
dicts. The digest is the SHA-256 of the configuration's lines ``key=value`` in sorted
key order; the dimensions are walked in the order the lines need them, so that the hash
of a prefix shared by many configurations (the fixed lines, the lines of the outer
dimensions) is computed once and copied (``hashlib``'s ``copy``).
"""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

import numpy as np

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
                lines = _SeedLines(key, len(rows))
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


DIGEST_BYTES = 12  # an identity is the first 24 hexadecimal digits of the SHA-256


def digests(columns, prefixes=None, dropped=()) -> tuple[np.ndarray, tuple[int, ...]]:
    """Every distinct digest of the identity restricted to ``prefixes`` (minus
    ``dropped``), as ``(count, DIGEST_BYTES)`` bytes indexed by the point of the
    dimensions it depends on (returned, outermost first)."""
    slots = _slots(columns, prefixes, dropped)
    levels: list[int] = []  # dimensions by the first line that needs them
    first: list[int] = []
    for s, (_, dims, _) in enumerate(slots):
        for j in sorted(dims):
            if j not in levels:
                levels.append(j)
                first.append(s)
    bounds = [*first, len(slots)]
    head = hashlib.sha256(_text(slots[: bounds[0]], {}, columns))
    spans = [_merged(slots[bounds[k] : bounds[k + 1]]) for k in range(len(levels))]
    joined = [_joined(span, levels[k], columns) for k, span in enumerate(spans)]
    if levels and all(texts is not None for texts in joined):
        return _joined_digests(head, joined), tuple(levels)
    out = bytearray()
    chosen: dict[int, int] = {}

    def walk(level: int, state) -> None:
        dim, lines, last = levels[level], spans[level], level == len(levels) - 1
        own = (dim,)
        for position in range(columns.sizes[dim]):
            chosen[dim] = position
            hasher = state.copy()
            for _, dims, text in lines:
                if not dims:
                    hasher.update(text)
                elif dims == own:
                    hasher.update(text[position])
                else:
                    hasher.update(text[_cell(dims, chosen, columns)])
            if last:
                out.extend(hasher.digest()[:DIGEST_BYTES])
            else:
                walk(level + 1, hasher)

    if levels:
        walk(0, head)
    else:
        out.extend(head.digest()[:DIGEST_BYTES])
    return np.frombuffer(bytes(out), np.uint8).reshape(-1, DIGEST_BYTES), tuple(levels)


def _joined(lines: list, dim: int, columns) -> list[bytes] | None:
    """The text of ``lines`` at each position of dimension ``dim``, when every line is
    constant or depends on ``dim`` alone (None otherwise)."""
    if any(dims not in ((), (dim,)) for _, dims, _ in lines):
        return None
    size = columns.sizes[dim]
    parts = [
        itertools.repeat(text, size) if not dims else _all_lines(text, size)
        for _, dims, text in lines
    ]
    return parts[0] if len(parts) == 1 else list(map(b"".join, zip(*parts)))


def _all_lines(text, size: int) -> list[bytes]:
    return text.all() if isinstance(text, _SeedLines) else [text[p] for p in range(size)]


def _joined_digests(head, joined: list[list[bytes]]) -> np.ndarray:
    """The digests of every point when each level's text is one per position
    (:func:`_joined`): one ``update`` per level and point, the loop kept lean (it
    runs once per configuration)."""
    out = bytearray()
    put, last = out.extend, len(joined) - 1

    def walk(level: int, state) -> None:
        copy = state.copy
        if level == last:
            for text in joined[level]:
                hasher = copy()
                hasher.update(text)
                put(hasher.digest())
            return
        for text in joined[level]:
            hasher = copy()
            hasher.update(text)
            walk(level + 1, hasher)

    walk(0, head)
    full = np.frombuffer(bytes(out), np.uint8).reshape(-1, head.digest_size)
    return np.ascontiguousarray(full[:, :DIGEST_BYTES])


def hexadecimal(table: np.ndarray) -> list[str]:
    """Digests (rows of bytes) as the identities' text."""
    text = table.tobytes().hex()
    width = 2 * DIGEST_BYTES
    return [text[i : i + width] for i in range(0, len(text), width)]


def from_hexadecimal(identities: list[str]) -> np.ndarray:
    return np.frombuffer(bytes.fromhex("".join(identities)), np.uint8).reshape(-1, DIGEST_BYTES)


def ranks(table: np.ndarray) -> np.ndarray:
    """Each digest's place in the sorted order of their text."""
    high = table[:, :8].copy().view(">u8").reshape(-1)
    low = table[:, 8:].copy().view(">u4").reshape(-1)
    rank = np.empty(len(table), np.int64)
    rank[np.lexsort((low, high))] = np.arange(len(table))
    return rank


def _merged(lines: list) -> list:
    """``lines`` with each run of constant lines joined into one."""
    merged: list = []
    for key, dims, text in lines:
        if not dims and merged and not merged[-1][1]:
            merged[-1] = (key, (), merged[-1][2] + text)
        else:
            merged.append((key, dims, text))
    return merged


def _cell(dims, chosen: dict[int, int], columns) -> int:
    cell = 0
    for j in dims:
        cell = cell * columns.sizes[j] + chosen[j]
    return cell


def _text(lines, chosen: dict[int, int], columns) -> bytes:
    return b"".join(
        text if not dims else text[_cell(dims, chosen, columns)] for _, dims, text in lines
    )


class _SeedLines:
    """The lines ``key=p`` of a dimension whose row p is ``(p,)``, made when read."""

    def __init__(self, key: str, count: int):
        self.key, self.count = key.encode(), count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, position: int) -> bytes:
        return b"\n%s=%d" % (self.key, position)

    def all(self) -> list[bytes]:
        line = b"\n%s=%%d" % self.key
        return [line % position for position in range(self.count)]
