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
a failed sweep.

JAX consults its cache only after tracing and lowering a program; the compiled
executables are also kept, keyed without tracing, by :mod:`w2s_jax.executable_store`
(in ``executables/`` inside this directory).
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path

import jax

MAX_BYTES = 2 * 2**30
OFF = "off"

_state = {"directory": None, "jax_cache": True, "hits": 0, "warned": False}


def default_directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "w2s_jax"


def current_directory() -> Path | None:
    """The directory :func:`configure` put in use (None: off, unusable or not set)."""
    return _state["directory"]


def warn(text: str) -> None:
    """One warning line per process (a sweep may compile many programs)."""
    if not _state["warned"]:
        _state["warned"] = True
        print(f"warning: {text}", file=sys.stderr)


def _count_hit(event: str, **kwargs) -> None:
    if event == "/jax/compilation_cache/cache_hits":
        _state["hits"] += 1


jax.monitoring.register_event_listener(_count_hit)


def _has_filelock() -> bool:
    """Whether ``filelock`` (a dependency) is importable: with it JAX's cache evicts the
    least recently used entries and reads and writes under a lock."""
    try:
        import filelock  # noqa: F401
    except ImportError:
        return False
    return True


def configure(setting: str | Path | None = None, jax_cache: bool = True) -> Path | None:
    """Use the cache in ``setting`` (None: the default directory; ``"off"``: none).
    Returns the directory in use, or None when the cache is off or unusable.

    ``jax_cache=False``: the directory holds the executable store only, JAX's own cache
    stays off — for runs whose programs are all stored: an executable JAX's cache
    served cannot be stored (see ``engine._compiled``), so a store miss must compile."""
    directory = None if str(setting) == OFF else Path(setting or default_directory())
    if directory is not None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=directory, prefix=".probe-"):
                pass
        except OSError as error:
            warn(
                f"compilation cache {directory} is not usable ({error.strerror or error}); "
                "compiling without it"
            )
            directory = None
    if (directory, jax_cache) == (_state["directory"], _state["jax_cache"]):
        return directory
    _state["directory"], _state["jax_cache"] = directory, jax_cache
    if directory is None or not jax_cache:
        jax.config.update("jax_enable_compilation_cache", False)
    else:
        jax.config.update("jax_enable_compilation_cache", True)
        jax.config.update("jax_compilation_cache_dir", str(directory))
        if _has_filelock():  # JAX refuses a bounded cache without it (RuntimeError)
            jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
        # Every sweep program is worth keeping; JAX's default skips those under 1 s.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    try:  # JAX decides once per process whether to use the cache: ask it again
        from jax._src import compilation_cache

        compilation_cache.reset_cache()
    except (ImportError, AttributeError):
        pass
    return directory


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
