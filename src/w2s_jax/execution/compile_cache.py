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
import functools
import os
import re
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import jax

from w2s_jax.execution import jax_settings

MAX_BYTES = 2 * 2**30
OFF = "off"


def default_directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "w2s_jax"


class OneWarning:
    """Warning lines of one run: the first is printed, the rest are not (a sweep may
    compile many programs, each failing alike). Threads may warn at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.said: list[str] = []

    def __call__(self, text: str) -> None:
        with self._lock:
            first = not self.said
            self.said.append(text)
        if first:
            print(f"warning: {text}", file=sys.stderr)


@dataclass(frozen=True)
class Cache:
    """The caches one run uses: ``directory`` (None: none), whether JAX's own cache is
    on in it, and the run's warning line."""

    directory: Path | None = None
    jax_cache: bool = False
    warn: OneWarning = field(default_factory=OneWarning, compare=False)


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


def directory_for(setting: str | Path | None = None, warn=None) -> Path | None:
    """The cache directory ``setting`` names (None: the default one; ``"off"``: none),
    or None when it cannot be written, or is not the user's alone (one ``warn`` line)."""
    warn = warn or OneWarning()
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
def using(setting: str | Path | None = None, jax_cache: bool = True) -> Iterator[Cache]:
    """Use the cache ``setting`` names for the block (yields the run's :class:`Cache`)
    and give JAX back the caller's cache settings afterwards. ``jax_cache=False``: the
    directory holds the executable store only and JAX's own cache stays off, for runs
    whose programs are all stored: an executable JAX's cache served cannot be stored
    (see ``engine.Compiler``), so a store miss must compile."""
    warn = OneWarning()
    directory = directory_for(setting, warn)
    cache = Cache(directory, jax_cache and directory is not None, warn)
    try:
        with jax_settings.scoped(settings(directory, jax_cache)):
            _reset()
            yield cache
    finally:
        _reset()


# ------------------------------------------------------------------ one compile


@dataclass
class _Compile:
    """What JAX said while one thread compiled: cache hits and cache warnings."""

    hits: int = 0
    warnings: list[str] = field(default_factory=list)


_THIS_THREAD = threading.local()  # .compile: the _Compile in progress in this thread
CACHE_HIT = "/jax/compilation_cache/cache_hits"
# JAX's warnings about an entry it could not read or write (it then compiles).
CACHE_WARNING = r"Error (reading|writing) persistent compilation cache"


def _on_event(event: str, **kwargs) -> None:
    """JAX's monitoring listener: JAX records a hit in the thread that compiles, so a
    hit belongs to the compile in progress in this thread, never to another one."""
    current = getattr(_THIS_THREAD, "compile", None)
    if event == CACHE_HIT and current is not None:
        current.hits += 1


@functools.cache
def _listen() -> None:
    jax.monitoring.register_event_listener(_on_event)  # once per process


class _CacheWarnings:
    """Routes JAX's cache warnings to the compile of the thread that raised them.

    ``warnings.catch_warnings`` swaps process-wide state, so two threads entering and
    leaving it out of order restore each other's. Here the first compile to start
    enters it and the last to end leaves it (a count under a lock); meanwhile only JAX's
    cache warnings are let through the filters, and each goes to its thread's compile
    (any other warning goes where it would have gone)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = 0
        self._context: warnings.catch_warnings | None = None
        self._show = None

    def __enter__(self) -> None:
        with self._lock:
            if self._open == 0:
                self._context = warnings.catch_warnings()
                self._context.__enter__()
                warnings.filterwarnings("always", message=CACHE_WARNING)
                self._show, warnings.showwarning = warnings.showwarning, self._route
            self._open += 1

    def __exit__(self, *exc) -> None:
        with self._lock:
            self._open -= 1
            if self._open == 0:
                self._context.__exit__(None, None, None)
                self._context = None

    def _route(self, message, category, filename, lineno, file=None, line=None):
        current = getattr(_THIS_THREAD, "compile", None)
        if current is not None and re.match(CACHE_WARNING, str(message)):
            current.warnings.append(str(message))
        else:
            self._show(message, category, filename, lineno, file, line)


_CACHE_WARNINGS = _CacheWarnings()  # process-wide, as Python's warnings are


def compile_and_check(compile_fn, warn=None):
    """``compile_fn()``, and whether JAX's persistent cache served *this* compile (other
    threads may compile at the same time). JAX's warnings about unreadable or
    unwritable entries become one ``warn`` line (it then compiles)."""
    _listen()
    current = _Compile()
    _THIS_THREAD.compile = current
    try:
        with _CACHE_WARNINGS:
            result = compile_fn()
    finally:
        _THIS_THREAD.compile = None
    for text in current.warnings:
        (warn or OneWarning())(f"compilation cache entry unusable, compiled instead ({text[:160]})")
    return result, current.hits > 0
