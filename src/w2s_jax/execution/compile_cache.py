"""The persistent compilation cache: JAX's own mechanism, in a directory of ours.

A program compiled once is read back from disk by every later process (a re-run, an
extended grid, another shard): on this 2-core CPU a small sweep program takes ~5-12 s
to compile and ~0.5 s to load. The directory is ``$XDG_CACHE_HOME/w2s_jax`` (else
``~/.cache/w2s_jax``), or what ``--compile-cache DIR`` names; ``off`` disables it.

JAX keys an entry by the program's HLO, the compile options, the devices and the
versions, so a cached executable is bitwise the one a compile would produce. Entries are
bounded (least recently used evicted above :data:`MAX_BYTES`) and written under a file
lock (``filelock``), so processes and shards may share a directory. A directory that
cannot be written, or an unreadable entry, costs a compile and one warning line — never
a failed sweep. An entry is code, so a directory another user owns, or one that group
or others may write, is not used at all (one warning line, as ssh treats its keys).

JAX consults its cache only after tracing and lowering a program; the compiled
executables are also kept, keyed without tracing, by :mod:`w2s_jax.execution.executable_store`
(in ``executables/`` inside this directory).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import jax

from w2s_jax.execution import jax_settings

MAX_BYTES = 2 * 2**30
OFF = "off"

_state = {"directory": None, "hits": 0, "warned": False, "listening": False}


def default_directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "w2s_jax"


def current_directory() -> Path | None:
    """The directory of the run in progress (:func:`using`), or None."""
    return _state["directory"]


def warn(text: str) -> None:
    """One warning line per process (a sweep may compile many programs)."""
    if not _state["warned"]:
        _state["warned"] = True
        print(f"warning: {text}", file=sys.stderr)


def _count_hit(event: str, **kwargs) -> None:
    if event == "/jax/compilation_cache/cache_hits":
        _state["hits"] += 1


def _has_filelock() -> bool:
    """Whether ``filelock`` (a dependency) is importable: with it JAX's cache evicts the
    least recently used entries and reads and writes under a lock."""
    try:
        import filelock  # noqa: F401
    except ImportError:
        return False
    return True


def untrusted(path: Path) -> str | None:
    """Why ``path`` (a cache directory or an entry in one) must not be loaded from, or
    None when it is owned by this user and writable by no one else. An entry is code
    that runs when loaded, so trust rests on who can write it, as ssh treats its keys."""
    if not hasattr(os, "getuid"):  # no POSIX owners (Windows): the user's profile rules
        return None
    try:
        info = os.stat(path)
    except OSError as error:
        return f"cannot be inspected ({error.strerror or error})"
    if info.st_uid != os.getuid():
        return f"is owned by another user (uid {info.st_uid})"
    if info.st_mode & 0o022:
        return f"is writable by group or others (mode {info.st_mode & 0o777:o}; chmod go-w)"
    return None


def directory_for(setting: str | Path | None = None) -> Path | None:
    """The cache directory ``setting`` names (None: the default one; ``"off"``: none),
    or None when it cannot be written, or is not the user's alone (one warning line)."""
    directory = None if str(setting) == OFF else Path(setting or default_directory())
    if directory is not None:
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=directory, prefix=".probe-"):
                pass
        except OSError as error:
            warn(
                f"compilation cache {directory} is not usable ({error.strerror or error}); "
                "compiling without it"
            )
            return None
        reason = untrusted(directory)
        if reason is not None:
            warn(f"compilation cache {directory} {reason}; not used, compiling without it")
            return None
    return directory


def settings(directory: Path | None, jax_cache: bool = True) -> dict:
    """The JAX settings that use the cache in ``directory`` (None: no cache;
    ``jax_cache=False``: the directory holds the executable store only)."""
    if directory is None or not jax_cache:
        return {"jax_enable_compilation_cache": False}
    values = {
        "jax_enable_compilation_cache": True,
        "jax_compilation_cache_dir": str(directory),
        # Every sweep program is worth keeping; JAX's default skips those under 1 s.
        "jax_persistent_cache_min_compile_time_secs": 0.0,
    }
    if _has_filelock():  # JAX refuses a bounded cache without it (RuntimeError)
        values["jax_compilation_cache_max_size"] = MAX_BYTES
    return values


def _reset() -> None:
    """JAX decides once per process whether to use the cache: make it ask again."""
    try:
        from jax._src import compilation_cache

        compilation_cache.reset_cache()
    except (ImportError, AttributeError):
        pass


@contextlib.contextmanager
def using(setting: str | Path | None = None, jax_cache: bool = True) -> Iterator[Path | None]:
    """Use the cache ``setting`` names for the block (yields its directory, or None) and
    give JAX back the caller's cache settings afterwards. ``jax_cache=False``: the
    directory holds the executable store only and JAX's own cache stays off, for runs
    whose programs are all stored: an executable JAX's cache served cannot be stored
    (see ``engine._compiled``), so a store miss must compile."""
    if not _state["listening"]:
        _state["listening"] = True
        jax.monitoring.register_event_listener(_count_hit)
    directory = directory_for(setting)
    before = _state["directory"]
    try:
        with jax_settings.scoped(settings(directory, jax_cache)):
            _state["directory"] = directory
            _reset()
            yield directory
    finally:
        _state["directory"] = before
        _reset()


def compile_and_check(compile_fn):
    """``compile_fn()``, and whether the persistent cache served it. JAX's warnings about
    unreadable or unwritable entries become one line of ours (it then compiles)."""
    before = _state["hits"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = compile_fn()
    for warning in caught:
        text = str(warning.message)
        if "persistent compilation cache" in text:
            warn(f"compilation cache entry unusable, compiled instead ({text[:160]})")
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return result, _state["hits"] > before
