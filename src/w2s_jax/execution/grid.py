"""Grid files: TOML (or a dict) parsed into a :class:`Grid`, whose values are checked by
:mod:`w2s_jax.execution.grid_checks` and whose configurations are expanded as columns
(:mod:`w2s_jax.execution.columns`).

The grid file's contract is in the README. Every key is a dotted parameter name from
:data:`w2s_jax.simulation.fields.FIELDS` (or a theory-normalised alias from
:data:`w2s_jax.analysis.aliases.ALIASES`). ``[sweep]`` turns keys into axes; the set of
configurations is the cartesian product of the axes (zipped axes move together) times
the seeds, in *grid order*: axes in the order the file gives them, seeds innermost.

Every user mistake raises :class:`GridError` with one line naming the file, the key and
the value; the CLI turns it into exit code 2 without a traceback.
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from w2s_jax.analysis.aliases import SCALED_KEYS
from w2s_jax.analysis.theory import N_KEY
from w2s_jax.execution.boundary_section import parse_boundary
from w2s_jax.execution.columns import Columns, ConfigurationList, seeds_dimension
from w2s_jax.execution.grid_checks import check_value, resolve, suggest
from w2s_jax.simulation.errors import GridError
from w2s_jax.simulation.fields import FIELD_BY_KEY, defaults

SECTIONS = ("data", "weak", "strong", "eval", "run")
TOP_LEVEL = ("name", "seed", "sweep", "boundary", *SECTIONS)


@dataclass(frozen=True)
class Axis:
    """One swept parameter: its dotted key, its values, and how they were spaced."""

    key: str
    values: tuple
    spacing: str = "list"  # "list", "geomspace" or "linspace"


@dataclass(frozen=True)
class Grid:
    name: str
    seed: int
    fixed: dict[str, Any]  # every parameter not swept (defaults filled in)
    axes: tuple[Axis, ...]  # in file order; the seed axis is added by `seeds`
    zip: tuple[tuple[str, ...], ...] = ()
    seeds: int = 1
    source: str = "<dict>"
    boundary: Any = None  # boundary_search.BoundaryOptions of a [boundary] section

    @property
    def axis_keys(self) -> tuple[str, ...]:
        return tuple(a.key for a in self.axes)

    @cached_property
    def columns(self) -> Columns:
        """The configurations as columns (expanded, resolved and checked once)."""
        dimensions = [
            (group, list(zip(*(self.axis(k).values for k in group))))
            for group in zipped_groups(self.axis_keys, self.zip)
        ]
        swept_seed = any("seed" in group for group, _ in dimensions)
        dimensions.append(seeds_dimension(self.seeds, swept_seed))
        return Columns(self.fixed, dimensions, resolve, self.source)

    def axis(self, key: str) -> Axis:
        return next(a for a in self.axes if a.key == key)

    def configurations(self) -> ConfigurationList:
        """Every configuration in grid order, as resolved dicts (with ``"seed"``), each
        built when read."""
        return ConfigurationList(self.columns)

    def ids(self) -> list[str]:
        """Every configuration's identity digest, in grid order."""
        return self.columns.ids()

    def id_array(self) -> np.ndarray:
        """The identity digests as one ``S24`` array (no string per configuration)."""
        return self.columns.id_array()

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "seed": self.seed,
            "parameters": self.fixed,
            "axes": {a.key: list(a.values) for a in self.axes},
            "spacing": {a.key: a.spacing for a in self.axes},
            "zip": [list(z) for z in self.zip],
            "seeds": self.seeds,
            **({"boundary": vars(self.boundary)} if self.boundary is not None else {}),
        }


# ------------------------------------------------------------------ loading


def load_grid(path: str | Path, overrides: tuple[str, ...] = ()) -> Grid:
    """Read and validate a TOML grid file, with ``KEY=VALUE`` ``overrides`` applied
    (:func:`apply_overrides`)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise GridError(f"{path}: cannot read grid file ({error.strerror})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise GridError(f"{path}: malformed TOML: {error}") from None
    raw = apply_overrides(raw, overrides, str(path))
    return grid_from_dict(raw, source=str(path), default_name=path.stem)


def apply_overrides(raw: dict[str, Any], overrides: tuple[str, ...], where: str) -> dict:
    """The grid ``raw`` with command-line ``KEY=VALUE`` pairs applied: a TOML value (a
    bare word is a string); a list makes ``KEY`` an axis, a single value fixes it (and
    removes it from ``[sweep]``). ``seeds=N`` and ``name=...`` act on those entries;
    ``boundary.NAME=VALUE`` sets an option of the adaptive search."""
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    sweep = raw.setdefault("sweep", {})
    for text in overrides:
        key, sep, value_text = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise GridError(f"{where}: override {text!r} is not KEY=VALUE")
        try:
            value = tomllib.loads(f"v = {value_text}")["v"]
        except tomllib.TOMLDecodeError:
            value = value_text.strip()  # a bare word: relu, paired, ...
        if key == "seeds":
            sweep["seeds"] = value
            continue
        if key in ("name", "seed"):
            raw[key] = value
            continue
        section, dot, name = key.partition(".")
        if dot and section == "boundary":  # the search's options: never an axis
            if not isinstance(raw.get("boundary"), dict):
                raise GridError(
                    f"{where}: override {key!r} needs a [boundary] table in the grid file "
                    "(an override sets an option of a search, it does not start one)"
                )
            raw["boundary"] = {**raw["boundary"], name: value}
            continue
        if not dot or section not in SECTIONS:
            raise GridError(
                f"{where}: override key {key!r} must be SECTION.NAME, SECTION one of "
                f"{', '.join(SECTIONS)}, boundary"
            )
        table = raw.get(section) if isinstance(raw.get(section), dict) else {}
        raw[section] = table
        table.pop(name, None)
        sweep.pop(key, None)
        if isinstance(value, list):
            sweep[key] = value
        else:
            table[name] = value
    return raw


def grid_from_dict(raw: dict[str, Any], source: str = "<dict>", default_name: str = "grid") -> Grid:
    """Validate a grid given as nested tables (as in TOML) or with dotted keys."""
    where = source
    raw = dict(raw)
    nested: dict[str, Any] = {}
    for key, value in raw.items():
        if "." in key:  # dotted key at top level: the Python API's flat form
            section, _, name = key.partition(".")
            nested.setdefault(section, {})[name] = value
        else:
            if isinstance(value, dict) and isinstance(nested.get(key), dict):
                nested[key].update(value)
            else:
                nested[key] = value
    for key in nested:
        if key not in TOP_LEVEL:
            raise GridError(f"{where}: unknown top-level key {key!r}{suggest(key, TOP_LEVEL)}")
    name = nested.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise GridError(f"{where}: key 'name' must be a non-empty string, got {name!r}")
    seed = nested.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise GridError(f"{where}: key 'seed' must be a non-negative integer, got {seed!r}")

    given: dict[str, Any] = {}
    for section in SECTIONS:
        table = nested.get(section, {})
        if not isinstance(table, dict):
            raise GridError(f"{where}: [{section}] must be a table, got {table!r}")
        for name_, value in table.items():
            given[f"{section}.{name_}"] = value
    for key, value in given.items():
        given[key] = check_value(key, value, where)

    sweep = dict(nested.get("sweep", {}))
    boundary = None
    if "boundary" in nested:  # the adaptive search of strong.n (boundary_search.py)
        boundary = parse_boundary(nested["boundary"], sweep, set(given), where)
    seeds = sweep.pop("seeds", 1)
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise GridError(f"{where}: key 'sweep.seeds' must be an integer >= 1, got {seeds!r}")
    zips = sweep.pop("zip", [])
    axes = []
    for key, spec in sweep.items():
        values, spacing = _axis_values(key, spec, where)
        axes.append(Axis(key, tuple(check_value(key, v, where) for v in values), spacing))
    zips = _check_zip(zips, {a.key: a for a in axes}, where)

    swept = {a.key for a in axes}
    given = {k: v for k, v in given.items() if k not in swept}  # a sweep overrides its table
    for raw_key in set(SCALED_KEYS.values()):
        forms = {k for k, v in SCALED_KEYS.items() if v == raw_key} | {raw_key}
        both = sorted(forms & (set(given) | swept))
        if len(both) >= 2:
            raise GridError(f"{where}: keys {both[0]!r} and {both[1]!r} both given; keep one")
    fixed = {k: v for k, v in {**defaults(), **given}.items() if k not in swept}
    for scaled, raw_key in SCALED_KEYS.items():
        if scaled in given or scaled in swept:
            fixed.pop(raw_key, None)  # derived per configuration from the scaled value
    grid = Grid(name, seed, fixed, tuple(axes), zips, seeds, source, boundary)
    if not grid.columns.size:
        raise GridError(f"{where}: the grid is empty")
    if boundary is not None:
        check_search(grid)  # n_low and n_high resolve in every cell (backend limits)
    return grid


def _axis_values(key: str, spec: Any, where: str) -> tuple[list, str]:
    if isinstance(spec, list):
        if not spec:
            raise GridError(f"{where}: sweep key {key!r} has an empty list")
        return spec, "list"
    if isinstance(spec, dict) and len(spec) == 1:
        ((kind, args),) = spec.items()
        if kind in ("geomspace", "linspace"):
            ok = isinstance(args, list) and len(args) == 3
            ok = ok and all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args)
            if not ok:
                raise GridError(
                    f"{where}: sweep key {key!r}: {kind} takes [lo, hi, count], got {args!r}"
                )
            lo, hi, count = args
            if not float(count).is_integer() or count < 1:
                raise GridError(
                    f"{where}: sweep key {key!r}: count must be an integer >= 1, got {count!r}"
                )
            if kind == "geomspace" and (lo <= 0 or hi <= 0):
                raise GridError(
                    f"{where}: sweep key {key!r}: geomspace needs lo, hi > 0, got {args!r}"
                )
            values = getattr(np, kind)(lo, hi, int(count)).tolist()
            if key in FIELD_BY_KEY and FIELD_BY_KEY[key].type is int:
                values = list(dict.fromkeys(int(round(v)) for v in values))
            return values, kind
    raise GridError(
        f"{where}: sweep key {key!r} must be a list or {{geomspace|linspace = "
        f"[lo, hi, count]}}, got {spec!r}"
    )


def _check_zip(zips: Any, axes: dict[str, Axis], where: str) -> tuple[tuple[str, ...], ...]:
    if not isinstance(zips, list) or not all(isinstance(z, list) for z in zips):
        raise GridError(f"{where}: key 'sweep.zip' must be a list of lists of keys, got {zips!r}")
    seen: set[str] = set()
    for group in zips:
        for key in group:
            if key not in axes:
                raise GridError(f"{where}: key 'sweep.zip' names {key!r}, which is not swept")
            if key in seen:
                raise GridError(f"{where}: key 'sweep.zip' names {key!r} twice")
            seen.add(key)
        lengths = {len(axes[k].values) for k in group}
        if len(lengths) > 1:
            sizes = ", ".join(f"{k}: {len(axes[k].values)}" for k in group)
            raise GridError(f"{where}: key 'sweep.zip' has axes of unequal lengths ({sizes})")
    return tuple(tuple(z) for z in zips)


# ------------------------------------------------------------------ expansion


def zipped_groups(keys: Sequence[str], zips) -> list[tuple[str, ...]]:
    """The swept ``keys`` (file order) grouped as they move: zipped keys together, each
    group at its first key's place."""
    zipped = {k: tuple(z) for z in zips for k in z}
    return list(dict.fromkeys(zipped.get(key, (key,)) for key in keys))


# ------------------------------------------------------------------ [boundary] rounds


Point = tuple[int, int, int]  # (cell, n, seed) of a [boundary] search


def cells(grid: Grid) -> list[dict[str, Any]]:
    """The points of the swept axes (zipped axes together), in grid order; ``[{}]``
    when nothing else is swept."""
    groups = zipped_groups(grid.axis_keys, grid.zip)
    columns = [list(zip(*(grid.axis(k).values for k in group))) for group in groups]
    return [
        {k: v for group, values in zip(groups, point) for k, v in zip(group, values)}
        for point in itertools.product(*columns)
    ]


def round_grid(grid: Grid, cell_values: list[dict[str, Any]], points: list[Point]):
    """The ordinary grid of ``points``: every swept key, ``strong.n`` and the seed as
    one zipped axis (configurations in the order of ``points``)."""
    keys = (*grid.axis_keys, N_KEY, "seed")
    columns = {k: [cell_values[c][k] for c, _, _ in points] for k in grid.axis_keys}
    columns[N_KEY] = [n for _, n, _ in points]
    columns["seed"] = [s for _, _, s in points]
    axes = tuple(Axis(k, tuple(columns[k])) for k in keys)
    fixed = {k: v for k, v in grid.fixed.items() if k != N_KEY}
    return Grid(grid.name, grid.seed, fixed, axes, (keys,), 1, grid.source)


def check_search(grid: Grid) -> None:
    """Every cell of a ``[boundary]`` grid resolves at the first round's ``n``
    (GridError otherwise: e.g. the reduced backend needs ``d > 5 + 2m + n``)."""
    options = grid.boundary
    values = cells(grid)
    points = [(c, n, 0) for c in range(len(values)) for n in options.initial_n()]
    _ = round_grid(grid, values, points).columns  # resolving checks every configuration
