"""A run's first step: what its directory already holds, read once.

:func:`read_state` is the one place a run reads its directory: the earlier run's
manifest (the programs it recorded, whether its outputs are assembled) and the chunk
files (which configurations are done, and which versions made them). Everything later
works from the frozen :class:`RunState`. The directory itself is made writable by
:func:`open_directory` (before the run's lock) and emptied by :func:`clear_directory`
(``--force``, under the lock).
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from w2s_jax.analysis import storage
from w2s_jax.execution import provenance
from w2s_jax.execution.grid import Grid
from w2s_jax.simulation import config as cfg
from w2s_jax.simulation.identity import stable_text

MANIFEST = "manifest.json"


class RunError(RuntimeError):
    """A problem with the run directory or the request (exit code 2 in the CLI)."""


def jsonable(value):
    """Parameters as JSON: NaN -> null, functions (user metrics, objects given instead of
    registry names) -> their module-qualified names."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if (
        callable(value)
        or isinstance(value, (tuple, list))
        and value
        and not isinstance(value[0], (int, float, str))
    ):
        return stable_text(value)
    return list(value) if isinstance(value, tuple) else value


def static_json(static: cfg.Static) -> dict:
    """A program's static part as the manifest records it."""
    return {k: jsonable(v) for k, v in vars(static).items()}


def _program_key(static: dict) -> str:
    """A program's static part as JSON, its compile mode and padding left out."""
    return json.dumps(
        {k: v for k, v in static.items() if k not in ("compile", "n_pad")}, sort_keys=True
    )


@dataclass(frozen=True)
class RunState:
    """What ``out`` held when the run began: the earlier manifest (``{}``: none), the
    programs it recorded (``(program key, own n_pad) -> (n_pad, compile mode)``), the
    ids of this grid's configurations already done, the version stamps of the chunks
    holding them, and whether this grid's outputs are assembled already."""

    out: Path
    manifest: dict = field(default_factory=dict)
    programs: dict[tuple[str, int], tuple[int, str]] = field(default_factory=dict)
    done: frozenset[str] = frozenset()
    stamps: tuple[dict, ...] = ()
    assembled: bool = False

    def recorded(self, static: cfg.Static) -> cfg.Static | None:
        """The program an earlier run in ``out`` put a configuration of ``static`` (its
        own static part, ``compile="auto"``) in, or None: a resumed or extended grid
        keeps each program's padding and compile mode, hence its results' last bits
        and its stored executable (see ``planner.plan``)."""
        key = (_program_key(static_json(static)), static.n_pad)
        if key not in self.programs:
            return None
        n_pad, mode = self.programs[key]
        return dataclasses.replace(static, n_pad=n_pad, compile=mode)


def _recorded_programs(manifest: dict) -> dict[tuple[str, int], tuple[int, str]]:
    programs = {}
    try:
        for program in manifest.get("programs", []):
            static = program["static"]
            for n_pad in program.get("paddings", [static["n_pad"]]):
                programs[_program_key(static), n_pad] = (static["n_pad"], static["compile"])
    except (KeyError, TypeError, AttributeError):
        return {}  # a manifest of another layout: nothing recorded
    return programs


def open_directory(out: Path) -> Path:
    """Make ``out`` (if needed) and check that it can be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink(missing_ok=True)  # processes sharing DIR may probe at once
    except OSError as error:
        raise RunError(f"{out}: output directory is not writable ({error.strerror})") from None
    return out


def clear_directory(out: Path) -> None:
    """``--force``: remove every earlier result from ``out`` (under the run's lock)."""
    for name in ("chunks", "figures", storage.CURVES):
        shutil.rmtree(out / name, ignore_errors=True)
    for name in ("summary.csv", storage.LEGACY_CURVES, MANIFEST, "boundary.json"):
        (out / name).unlink(missing_ok=True)


def read_state(out: Path, grid: Grid, ids) -> RunState:
    """Read ``out`` once: refuse an earlier run of other fixed parameters (RunError),
    else its manifest and the chunks of ``ids`` (this grid's configurations: text, or
    an ``S24`` array)."""
    try:
        manifest = storage.read_json(out / MANIFEST)
    except FileNotFoundError:
        manifest = {}
    except (OSError, ValueError):
        raise _unreadable(out) from None
    check_compatible(out, manifest, grid)
    listing = storage.chunk_listing(out)
    where = storage.IdRows(ids) if listing else None
    done: set[str] = set()
    stamps: list[dict] = []
    for entry in listing:  # a binary search in the grid's ids, no set of them
        mine = where.rows(entry.ids) >= 0
        if mine.any():
            done.update(entry.ids[mine].tolist())
            stamps += [entry.stamp] if entry.stamp not in stamps else []
    assembled = storage.assembled(out, storage.fingerprint(ids), manifest)
    programs = _recorded_programs(manifest)
    return RunState(out, manifest, programs, frozenset(done), tuple(stamps), assembled)


def _unreadable(out: Path) -> RunError:
    return RunError(f"{out / MANIFEST}: unreadable manifest; use --force to start over")


def check_compatible(out: Path, manifest: dict, grid: Grid) -> None:
    """Refuse to mix results with an earlier run whose fixed parameters differ."""
    if not manifest:
        return
    if not isinstance(manifest, dict) or not isinstance(manifest.get("grid"), dict):
        raise _unreadable(out)
    old = manifest["grid"]
    if old.get("seed") != grid.seed:
        raise RunError(
            f"{out}: existing run has seed = {old.get('seed')}, this grid "
            f"{grid.seed}; use --force to start over in place"
        )
    new_fixed = {k: jsonable(v) for k, v in grid.fixed.items()}
    for key, before in old.get("parameters", {}).items():
        if key in new_fixed and new_fixed[key] != before:
            raise RunError(
                f"{out}: fixed parameter {key!r} was {before!r} in the existing "
                f"run, now {new_fixed[key]!r}; use --force to start over in place"
            )


def check_versions(state: RunState) -> None:
    """Refuse to resume with chunks made by another code or JAX version: their last
    bits may differ from what this one computes (docs/DESIGN.md, "Reproducibility")."""
    mine = provenance.stamp()
    for theirs in state.stamps:
        if theirs != mine:
            made = ", ".join(f"{k} {v}" for k, v in theirs.items()) or "an unrecorded version"
            raise RunError(
                f"{state.out}: its chunks were made by {made}; this is "
                f"{', '.join(f'{k} {v}' for k, v in mine.items())}; resuming would mix "
                "results of two versions: use --force to start over (or another --out)"
            )
