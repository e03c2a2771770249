"""Compiled chunk programs kept on disk, so that a warm run neither traces nor lowers.

JAX's persistent cache (:mod:`w2s_jax.execution.compile_cache`) is keyed by the lowered program,
so it is consulted only after Python has traced the pipeline and lowered it to HLO:
~2-3 s a program on a 2-core CPU, longer than loading the executable. This store keys
the *serialised executable* (``jax.experimental.serialize_executable``) by what makes
the program instead — its :class:`~w2s_jax.simulation.config.Static`, the arguments' structure,
shapes and dtypes, the devices it runs on, the compile options, the versions of jax and
jaxlib, and a digest of this package's source (an edited checkout is a different
program even at the same version number) — so a hit goes straight from the key to a
loaded executable. It is the same binary a compile produced, so its results are the
traced run's bit for bit.

Entries live in ``<compilation cache>/executables``, are written atomically (a
temporary file, then a rename), and are bounded like JAX's cache (least recently used
evicted above :data:`MAX_BYTES`). Anything unexpected (an unreadable or stale entry, an
executable that cannot be serialised) costs a trace and compile and one warning line,
never a failed sweep. Programs holding user code (``run.metrics``, ``strong.student``)
are not stored: a digest of their functions' names would not see an edit to them.

An entry is code that runs, so nothing in it is deserialised before two checks: the
directory and the entry belong to this user and no one else may write them
(:func:`compile_cache.untrusted`; otherwise one warning and the store is not used), and
the entry's header names its key and the SHA-256 of the pickle after it, both checked
first (a foreign, damaged or renamed file: one warning, compiled and rewritten).
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

import jax

from w2s_jax.analysis import storage
from w2s_jax.execution import compile_cache, provenance

FORMAT = 2  # bump when an entry's layout changes
MAGIC = b"w2s_jax-executable"  # an entry: a line "MAGIC FORMAT KEY SHA256", then the pickle
MAX_BYTES = 2 * 2**30
SUBDIRECTORY = "executables"


def directory(cache: compile_cache.Cache) -> Path | None:
    """Where entries live: inside the run's compilation cache (None: it is off)."""
    return None if cache.directory is None else cache.directory / SUBDIRECTORY


def _header(name: str, payload: bytes) -> bytes:
    digest = hashlib.sha256(payload).hexdigest()
    return b" ".join((MAGIC, str(FORMAT).encode(), name.encode(), digest.encode())) + b"\n"


def _verified_payload(name: str, blob: bytes) -> bytes:
    """The pickle in the entry ``blob`` stored as ``name``, once its header's format, key
    and digest match (ValueError otherwise): nothing is unpickled before this."""
    head, _, payload = blob.partition(b"\n")
    if head + b"\n" != _header(name, payload):
        raise ValueError("its header does not match its name and content")
    return payload


def storable(static: Any) -> bool:
    """Whether a program can be keyed completely (it holds no user functions)."""
    return not getattr(static, "metrics", ()) and getattr(static, "student", None) is None


def key(static: Any, args: tuple, mesh: Any, options: dict) -> str:
    """The entry name of the program ``static`` compiled for ``args`` on ``mesh``."""
    leaves, tree = jax.tree.flatten(args)
    device = jax.local_devices()[0]
    parts = [
        f"format {FORMAT}",
        repr(static),
        str(tree),
        repr([(tuple(x.shape), str(x.dtype)) for x in leaves]),
        repr(None if mesh is None else (mesh.axis_names, [d.id for d in mesh.devices.flat])),
        repr(sorted(options.items())),
        repr(provenance.stamp()),  # w2s_jax (release and source digest), jax, jaxlib
        provenance.code_digest(),
        f"{device.platform} {device.device_kind} {device.client.platform_version}",
        f"local devices {jax.local_device_count()} processes {jax.process_count()}",
        # Configuration that changes what is traced or compiled.
        f"x64 {jax.config.jax_enable_x64} threefry {jax.config.jax_threefry_partitionable}",
        f"precision {jax.config.jax_default_matmul_precision}",
        f"XLA_FLAGS {os.environ.get('XLA_FLAGS', '')}",
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def load(name: str, devices: list, cache: compile_cache.Cache):
    """The stored executable ``name``, loaded onto ``devices`` (in the order it was
    compiled for), or None (absent; or unusable: one warning of the run's)."""
    where = directory(cache)
    if where is None:
        return None
    path = where / f"{name}.pkl"
    if not path.exists():
        return None
    reason = compile_cache.untrusted(where) or compile_cache.untrusted(path)
    if reason is not None:
        cache.warn(f"stored executable {path} not loaded: it {reason}; compiling")
        return None
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        cache.warn(f"stored executable {path.name} unreadable ({error}); compiling")
        return None
    try:
        from jax.experimental import serialize_executable

        entry = pickle.loads(_verified_payload(name, blob))
        if entry.get("key") != name:
            raise ValueError("its key does not match its name")
        compiled = serialize_executable.deserialize_and_load(
            entry["executable"], entry["in_tree"], entry["out_tree"], execution_devices=devices
        )
    except Exception as error:  # any failure to load is a miss, never a failed sweep
        cache.warn(
            f"stored executable {path.name} unusable ({type(error).__name__}: "
            f"{str(error)[:120]}); compiling instead"
        )
        return None
    try:
        os.utime(path)  # least recently used goes first when the store is full
    except OSError:
        pass
    return compiled


def save(name: str, compiled, cache: compile_cache.Cache) -> bool:
    """Store ``compiled`` as ``name`` (atomically), then evict beyond the bound; whether
    it was stored."""
    where = directory(cache)
    if where is None:
        return False
    try:
        from jax.experimental import serialize_executable

        executable, in_tree, out_tree = serialize_executable.serialize(compiled)
        payload = pickle.dumps(
            {"key": name, "executable": executable, "in_tree": in_tree, "out_tree": out_tree}
        )
        blob = _header(name, payload) + payload
        where.mkdir(mode=0o700, parents=True, exist_ok=True)
        storage.atomic_write(where / f"{name}.pkl", lambda file: file.write(blob))
    except Exception as error:  # a program that cannot be stored is compiled next time
        cache.warn(
            f"could not store the compiled program ({type(error).__name__}: "
            f"{str(error)[:120]}); the next run compiles it again"
        )
        return False
    evict(where)
    return True


def evict(where: Path, limit: int = MAX_BYTES) -> None:
    """Remove the least recently used entries until the store holds at most ``limit``."""
    entries = []
    for path in where.glob("*.pkl"):
        try:
            stat = path.stat()
        except OSError:  # removed meanwhile by another process
            continue
        entries.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries):
        if total <= limit:
            break
        path.unlink(missing_ok=True)
        total -= size
