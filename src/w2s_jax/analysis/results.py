"""Results as labelled arrays: the grid's axes become named dimensions (NumPy only).

A run's configurations are in grid order (axes in file order, zipped axes moving
together, seeds innermost), so every ``(configs,)`` column and ``(configs, E)`` curve
reshapes to ``(axis..., seed[, step])``. A zipped group is one dimension, named by its
first key, with a coordinate for each of its keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Labelled:
    """An array with named dimensions: ``values`` of shape ``[len(coords[d]) for d in
    dims]``; ``coords`` maps every dimension (and every zipped partner key) to values."""

    values: np.ndarray
    dims: tuple[str, ...]
    coords: dict[str, np.ndarray]
    partners: dict[str, str]  # coordinate key -> the dimension it lives on

    def sel(self, **selection) -> Labelled:
        """Pick one value along dimensions, by any coordinate key: ``sel(**{"strong.n":
        2000, "seed": 0})``. Dimensions selected are dropped."""
        values, dims, coords = self.values, list(self.dims), dict(self.coords)
        for key, wanted in selection.items():
            if key not in self.partners:
                raise KeyError(f"no dimension or coordinate {key!r}; have {sorted(self.partners)}")
            dim = self.partners[key]
            if dim not in dims:
                raise KeyError(f"dimension {dim!r} was already selected")
            matches = np.flatnonzero(_equal(coords[key], wanted))
            if len(matches) != 1:
                raise KeyError(f"{key} = {wanted!r} not among {coords[key].tolist()}")
            axis = dims.index(dim)
            values = np.take(values, matches[0], axis=axis)
            dims.pop(axis)
            for k in [k for k, d in self.partners.items() if d == dim]:
                coords.pop(k, None)
        partners = {k: d for k, d in self.partners.items() if d in dims}
        return Labelled(values, tuple(dims), coords, partners)

    def mean(self, dim: str = "seed") -> Labelled:
        """NaN-aware mean over one dimension (default: the seeds)."""
        axis = self.dims.index(dim)
        with np.errstate(invalid="ignore"):
            values = (
                np.nanmean(self.values, axis=axis)
                if self.values.dtype.kind == "f"
                else self.values.mean(axis=axis)
            )
        keep = {k: d for k, d in self.partners.items() if d != dim}
        return Labelled(
            values,
            tuple(d for d in self.dims if d != dim),
            {k: v for k, v in self.coords.items() if k in keep},
            keep,
        )


def _equal(values: np.ndarray, wanted) -> np.ndarray:
    if values.dtype.kind in "fiu":
        return np.isclose(values.astype(float), float(wanted), rtol=1e-9, atol=0)
    return values == wanted


def grid_dimensions(grid: dict) -> list[tuple[str, dict[str, np.ndarray]]]:
    """``[(dimension name, {key: values}), ...]`` in grid order, seeds last."""
    axes, zips = grid["axes"], [tuple(z) for z in grid.get("zip", [])]
    zipped = {k: z for z in zips for k in z}
    dims, seen = [], set()
    for key in axes:
        group = zipped.get(key, (key,))
        if group in seen:
            continue
        seen.add(group)
        dims.append((group[0], {k: np.asarray(axes[k]) for k in group}))
    dims.append(("seed", {"seed": np.arange(grid["seeds"])}))
    return dims


def grid_rows(grid: dict) -> dict[str, np.ndarray]:
    """Every configuration's axis values and seed, in grid order (``(configs,)`` each)."""
    dims = grid_dimensions(grid)
    sizes = [len(next(iter(keys.values()))) for _, keys in dims]
    positions = np.indices(sizes).reshape(len(sizes), -1)  # row-major: seeds innermost
    return {
        key: values[positions[d]]
        for d, (_, keys) in enumerate(dims)
        for key, values in keys.items()
    }


def labelled(values: np.ndarray, grid: dict, steps: np.ndarray | None = None) -> Labelled:
    """Reshape a ``(configs, ...)`` array in grid order into named dimensions."""
    dims = grid_dimensions(grid)
    shape = [len(next(iter(keys.values()))) for _, keys in dims]
    names = [name for name, _ in dims]
    coords = {k: v for _, keys in dims for k, v in keys.items()}
    partners = {k: name for name, keys in dims for k in keys}
    if steps is not None:
        shape.append(len(steps))
        names.append("step")
        coords["step"], partners["step"] = np.asarray(steps), "step"
    return Labelled(np.asarray(values).reshape(shape), tuple(names), coords, partners)


def attributes(manifest: dict) -> dict:
    """A run's fixed parameters and the versions that made it, as flat attributes
    (``name``, ``seed``, ``<dotted key>``, ``version.<package>``, ``code_version``)."""
    grid = manifest.get("grid", {})
    attrs: dict = {"name": grid.get("name", ""), "seed": grid.get("seed", 0)}
    for key, value in grid.get("parameters", {}).items():
        if value is None or isinstance(value, (bool, int, float, str)):
            attrs[key] = "null" if value is None else value
        else:
            attrs[key] = str(value)
    for package, version in manifest.get("versions", {}).items():
        attrs[f"version.{package}"] = version
    provenance = manifest.get("provenance", {})
    if "code_version" in provenance:
        attrs["code_version"] = provenance["code_version"]
        attrs["git_commit"] = str(provenance.get("git", {}).get("commit"))
    attrs["status"] = manifest.get("status", "")
    return attrs


def to_xarray(summary: dict, curves: dict, steps: np.ndarray, grid: dict, attrs=None):
    """An ``xarray.Dataset``: curves on ``(axis..., seed, step)``, summary columns on
    ``(axis..., seed)``; zipped partner keys as extra coordinates; ``attrs`` (see
    :func:`attributes`) on the dataset."""
    try:
        import xarray as xr
    except ImportError:
        raise ImportError("to_xarray() needs xarray: pip install xarray") from None
    variables, coordinates = {}, {}
    axis_keys = set(grid["axes"]) | {"seed"}
    for name, values in curves.items():
        item = labelled(values, grid, steps)
        variables[name] = (item.dims, item.values)
        coordinates = {k: (item.partners[k], v) for k, v in item.coords.items()}
    for name, values in summary.items():
        if name in axis_keys:
            continue
        item = labelled(values, grid)
        variables[name] = (item.dims, item.values)
    return xr.Dataset(variables, coords=coordinates, attrs=dict(attrs or {}))
