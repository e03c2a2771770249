"""A grid's configurations as columns: its fixed values, its dimensions (the swept
axes, zipped axes as one, and the seeds, innermost) and what resolving adds, instead
of a dict per configuration.

Configuration ``i`` sits at one position of every dimension (mixed radix, the last
dimension fastest: grid order). What depends on a few dimensions is computed once per
point of those dimensions: resolving and its checks once per point of the dimensions
that resolving reads (``RESOLVE_KEYS``; the seeds never), a program's static part once
per point of the dimensions holding static keys, and an identity digest by walking the
dimensions in the order its sorted text needs them, so that the SHA-256 of the shared
prefix is computed once (``hashlib``'s ``copy``): the digests are exactly those of
:func:`w2s_jax.simulation.identity.identity` on the configuration's dict.

A configuration's dict is built on demand (:meth:`Columns.config`): for a chunk, for
``run_one``, for anything that still wants one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from w2s_jax.analysis.aliases import SCALED_KEYS
from w2s_jax.execution import column_identity
from w2s_jax.simulation.fields import FIELD_BY_KEY
from w2s_jax.simulation.identity import RECORDING_KEYS, TEACHER_KEYS, identity, teacher_identity

# What resolving a configuration reads (grid_checks.resolve, config.resolve_backend and
# images.check_configuration): a dimension that holds none of these is resolved once.
RESOLVE_KEYS = frozenset(
    {
        "strong.n",
        "strong.m",
        "weak.n",
        "weak.model",
        "strong.gd_form",
        "strong.optimizer",
        "strong.student",
        "run.backend",
        *SCALED_KEYS,
    }
)
RESOLVE_PREFIXES = ("data.",)

Dimension = tuple[tuple[str, ...], tuple[tuple, ...]]  # (keys, one row of values per position)


def _reads(keys: tuple[str, ...], wanted: Callable[[str], bool]) -> bool:
    return any(wanted(k) for k in keys)


def _resolve_reads(key: str) -> bool:
    return key in RESOLVE_KEYS or key.startswith(RESOLVE_PREFIXES)


def _static_reads(key: str) -> bool:
    field = FIELD_BY_KEY.get(key)
    return key == "strong.n" or (field is not None and field.kind == "static")


class Columns:
    """The configurations of a grid: ``fixed`` values and ``dimensions`` (each its keys
    and its rows), in grid order. ``resolve(config, where)`` resolves and checks one
    configuration's dict (None: the dicts are resolved already)."""

    def __init__(
        self,
        fixed: dict[str, Any],
        dimensions: Sequence[Dimension],
        resolve: Callable[[dict, str], dict] | None,
        where: str = "<dict>",
    ):
        self.fixed = fixed
        self.dimensions = tuple((tuple(k), rows) for k, rows in dimensions)
        self.sizes = tuple(len(rows) for _, rows in self.dimensions)
        self.size = math.prod(self.sizes)
        strides, stride = [], 1
        for size in reversed(self.sizes):
            strides.append(stride)
            stride *= size
        self.strides = tuple(reversed(strides))
        self.where = where
        self._resolve = resolve
        images = fixed.get("data.source", "synthetic") != "synthetic"
        images = images or any("data.source" in keys for keys, _ in self.dimensions)
        self.synthetic = not images
        # Images: every dimension counts (the bank's hash is read per configuration).
        reads = (lambda key: True) if images else _resolve_reads
        self.resolved_by = self._dims_reading(reads) if resolve else ()
        self._derived: list[dict[str, Any]] = []
        self._ids: list[str] | None = None
        self._id_array: np.ndarray | None = None
        self._teachers: tuple[np.ndarray, np.ndarray] | None = None
        self._per_position: dict[tuple, np.ndarray] = {}
        self._cache: dict[str, Any] = {}
        if self.size and resolve is not None:
            self._derived = [self._resolved_extra(p) for p in self._points(self.resolved_by)]

    @classmethod
    def of_dicts(cls, configs: Sequence[dict]) -> Columns:
        """Columns over resolved configuration dicts (one dimension, every key in it)."""
        if isinstance(configs, ConfigurationList):
            return configs.columns
        keys = tuple(configs[0]) if configs else ()
        if any(tuple(c) != keys for c in configs):
            keys = tuple(dict.fromkeys(k for c in configs for k in c))
        rows = tuple(tuple(c.get(k) for k in keys) for c in configs)
        return cls({}, [(keys, rows)], None)

    def without_seeds(self) -> Columns:
        """The same columns with one seed: a configuration per point of the axes."""
        keys, rows = self.dimensions[-1]
        return Columns(
            self.fixed, [*self.dimensions[:-1], (keys, rows[:1])], self._resolve, self.where
        )

    # ------------------------------------------------------------ positions and dicts

    def dims_holding(self, keys) -> tuple[int, ...]:
        """The dimensions along which any of ``keys`` changes (resolved ones included)."""
        derived = set(self._derived[0]) if self._derived else set()
        dims = set(self._dims_reading(lambda k: k in keys))
        if derived & set(keys):
            dims |= set(self.resolved_by)
        return tuple(sorted(dims))

    def _dims_reading(self, wanted: Callable[[str], bool]) -> tuple[int, ...]:
        return tuple(j for j, (keys, _) in enumerate(self.dimensions) if _reads(keys, wanted))

    def _points(self, dims: tuple[int, ...]):
        """Every point of ``dims`` (positions, the others at 0), in grid order."""
        positions = [0] * len(self.dimensions)
        for point in np.ndindex(*(self.sizes[j] for j in dims)):
            for j, p in zip(dims, point):
                positions[j] = p
            yield tuple(positions)

    def position(self, dim: int, indices: np.ndarray) -> np.ndarray:
        """Each configuration's position along dimension ``dim``."""
        return (indices // self.strides[dim]) % self.sizes[dim]

    def code(self, dims: tuple[int, ...], indices: np.ndarray | None = None) -> np.ndarray:
        """Each configuration's point of ``dims`` as one number (mixed radix, in order)."""
        indices = np.arange(self.size) if indices is None else np.asarray(indices)
        code = np.zeros(len(indices), np.int64)
        for j in dims:
            code = code * self.sizes[j] + self.position(j, indices)
        return code

    def _unresolved(self, positions: tuple[int, ...]) -> dict[str, Any]:
        config = dict(self.fixed)
        for (keys, rows), p in zip(self.dimensions, positions):
            config.update(zip(keys, rows[p]))
        return config

    def _resolved_extra(self, positions: tuple[int, ...]) -> dict[str, Any]:
        """What resolving adds to the configuration at ``positions`` (raises GridError)."""
        config = self._unresolved(positions)
        before = set(config)
        resolved = self._resolve(config, self.where)
        return {k: v for k, v in resolved.items() if k not in before}

    def _positions(self, index: int) -> tuple[int, ...]:
        return tuple((index // s) % n for s, n in zip(self.strides, self.sizes))

    def config(self, index: int) -> dict[str, Any]:
        """The resolved dict of configuration ``index`` (the same as expanding it alone)."""
        positions = self._positions(index)
        config = self._unresolved(positions)
        if self._resolve is not None:
            cell = 0
            for j in self.resolved_by:
                cell = cell * self.sizes[j] + positions[j]
            config.update(self._derived[cell])
        return config

    # ------------------------------------------------------------ columns

    def keys(self) -> list[str]:
        derived = self._derived[0] if self._derived else {}
        return list(
            dict.fromkeys([*self.fixed, *(k for ks, _ in self.dimensions for k in ks), *derived])
        )

    def column(self, key: str) -> np.ndarray:
        """Every configuration's value of ``key``, as one array (grid order)."""
        if key not in self._cache:
            self._cache[key] = self._column(key)
        return self._cache[key]

    def _column(self, key: str) -> np.ndarray:
        for j, (keys, rows) in enumerate(self.dimensions):
            if key in keys:
                k = keys.index(key)
                return np.asarray([row[k] for row in rows])[self.position(j, np.arange(self.size))]
        if key in self.fixed:
            return np.full(self.size, self.fixed[key], dtype=np.asarray(self.fixed[key]).dtype)
        values = np.asarray([d[key] for d in self._derived])
        return values[self.code(self.resolved_by)]

    def at(self, key: str, indices: np.ndarray) -> np.ndarray:
        """The values of ``key`` of the configurations at ``indices``: :meth:`column`'s,
        without making the whole column (a chunk reads a few of a million)."""
        if key in self._cache:
            return self._cache[key][indices]
        for j, (keys, _) in enumerate(self.dimensions):
            if key in keys:
                return self._values(j, key)[self.position(j, indices)]
        if key in self.fixed:
            value = self.fixed[key]
            return np.full(len(indices), value, dtype=np.asarray(value).dtype)
        return self._values(None, key)[self.code(self.resolved_by, indices)]

    def _values(self, dim: int | None, key: str) -> np.ndarray:
        """The values of ``key`` per position of dimension ``dim`` (None: per resolved
        point), kept."""
        name = (dim, key)
        if name not in self._per_position:
            if dim is None:
                values = np.asarray([d[key] for d in self._derived])
            else:
                keys, rows = self.dimensions[dim]
                k = keys.index(key)
                values = np.asarray([row[k] for row in rows])
            self._per_position[name] = values
        return self._per_position[name]

    def distinct(self, key: str) -> list:
        """The values ``key`` takes in the grid (each once, first appearance order)."""
        if key in self.fixed:
            return [self.fixed[key]]
        for keys, rows in self.dimensions:
            if key in keys:
                return list(dict.fromkeys(row[keys.index(key)] for row in rows))
        return list(dict.fromkeys(d[key] for d in self._derived))

    def groups_of(self, reads: Callable[[str], bool], make: Callable[[dict], Any]):
        """``make(config)`` once per point of the dimensions holding a key that ``reads``
        accepts, and each configuration's point: ``(values, codes)`` (grid order)."""
        dims = (
            self._dims_reading(reads)
            if self._resolve is not None
            else tuple(range(len(self.sizes)))
        )
        values = [make(self.config(self._index(p))) for p in self._points(dims)]
        return values, self.code(dims)

    def _index(self, positions: tuple[int, ...]) -> int:
        return sum(p * s for p, s in zip(positions, self.strides))

    def statics(self, make: Callable[[dict], Any]):
        """``make(config)`` (a program's static part) per point of the static dimensions."""
        return self.groups_of(_static_reads, make)

    # ------------------------------------------------------------ identities

    def ids(self) -> list[str]:
        """Every configuration's identity digest, grid order (a string each: for the
        callers that want them so; a run uses :meth:`id_array`)."""
        if self._ids is None:
            self._ids = self.id_array().astype("U24").tolist()
        return self._ids

    def id_array(self) -> np.ndarray:
        """Every configuration's identity digest as ``S24`` text, grid order: one array,
        gathered from the distinct digests (no Python string per configuration)."""
        if self._id_array is None:
            if not self.synthetic or self._resolve is None:
                ids = [identity(self.config(i)) for i in range(self.size)]
                self._id_array = np.array(ids, "S24").reshape(-1)
            else:
                table, dims = column_identity.digests(self)
                text = np.frombuffer(table.tobytes().hex().encode(), "S24")
                self._id_array = text[self.code(dims)]
        return self._id_array

    def teachers(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct teacher identities (rows of ``column_identity.DIGEST_BYTES``
        bytes: ``column_identity.hexadecimal`` gives their text) and each
        configuration's row (computed once)."""
        if self._teachers is None:
            self._teachers = self._teacher_digests()
        return self._teachers

    def _teacher_digests(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.synthetic or self._resolve is None:
            digests = [teacher_identity(self.config(i)) for i in range(self.size)]
            table = list(dict.fromkeys(digests))
            where = {t: k for k, t in enumerate(table)}
            codes = np.array([where[t] for t in digests], np.int64)
            return column_identity.from_hexadecimal(table), codes
        table, dims = column_identity.digests(self, TEACHER_KEYS, RECORDING_KEYS)
        return table, self.code(dims)


class _Seeds(Sequence):
    """The rows of the seeds dimension, ``(seed,)``, without a tuple per seed."""

    positions = True  # row p is (p,) (column_identity writes their lines at once)

    def __init__(self, count: int, keys: tuple[str, ...] = ("seed",)):
        self.count, self.keys = count, keys

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, position):
        if isinstance(position, slice):
            return [self[p] for p in range(*position.indices(self.count))]
        if not 0 <= position < self.count:
            raise IndexError(position)
        return (int(position),) if self.keys else ()


def seeds_dimension(count: int, seed_swept: bool) -> Dimension:
    """The innermost dimension: ``count`` seeds (no key when a dimension holds ``seed``)."""
    keys = () if seed_swept else ("seed",)
    return keys, _Seeds(count, keys)


class ConfigurationList(Sequence):
    """A grid's configurations as a sequence of dicts, built when read (a million
    configurations are not a million dicts at once)."""

    def __init__(self, columns: Columns):
        self.columns = columns

    def __len__(self) -> int:
        return self.columns.size

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self.columns.config(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.columns.config(int(index))

    def __eq__(self, other) -> bool:
        return list(self) == list(other)
