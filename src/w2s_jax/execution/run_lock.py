"""One run per directory at a time: a lock file per run (or per shard of a run).

A run takes ``DIR/.lock`` (a shard ``I/N``, or process ``I`` of ``N`` under
``jax.distributed``, takes ``DIR/.lock-I-of-N``: the parts of one run are coordinated by
their disjoint shares and must run side by side). The lock is an exclusive
``fcntl.flock`` on that file, which the kernel releases when its process dies however
it dies, so a crashed or killed run never leaves a lock behind; the file holds the
holder's pid, host and start time only to name it to whoever is refused. A whole run
also refuses while any shard of the directory runs, and a shard while a whole run does.

On a filesystem without ``flock`` the file alone is the lock (created with
``O_EXCL``), and one whose pid is dead on this host is taken over.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

WHOLE = ".lock"


class Locked(RuntimeError):
    """Another live process is running this directory (or this part of it)."""


def lock_name(shard: tuple[int, int] | None) -> str:
    """The lock file of a whole run or of shard ``(index, count)``."""
    if shard is None or shard[1] == 1:
        return WHOLE
    return f"{WHOLE}-{shard[0]}-of-{shard[1]}"


def _holder_text() -> str:
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started})


def read_holder(path: Path) -> dict:
    """What a lock file says about its holder (empty when unreadable)."""
    try:
        holder = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _describe(path: Path, holder: dict) -> str:
    who = f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}"
    since = f" since {holder['started']}" if "started" in holder else ""
    return f"{path.parent}: already being run by {who}{since} (lock {path.name})"


def _alive_here(holder: dict) -> bool:
    """Whether ``holder`` is a live process, as far as this host can tell (a process on
    another host is assumed alive)."""
    if holder.get("host") != socket.gethostname():
        return bool(holder)
    try:
        os.kill(int(holder.get("pid", -1)), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError):
        return True
    return True


@dataclass
class RunLock:
    """A held lock; :meth:`release` (or leaving the ``with`` block) lets it go."""

    path: Path
    fd: int | None  # the flock'ed descriptor; None when the file alone is the lock

    def release(self) -> None:
        try:
            os.unlink(self.path)  # before unlocking: a waiter then finds no stale inode
        except OSError:
            pass
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _write_holder(fd: int) -> None:
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, _holder_text().encode(), 0)
    except OSError:
        pass  # a full disk: the lock still holds, it just cannot name its holder


def _take(path: Path) -> RunLock:
    """Take the lock at ``path`` or raise :class:`Locked`."""
    for _ in range(10):  # retried only when the file is replaced between open and flock
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise Locked(_describe(path, read_holder(path))) from None
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                return _take_without_flock(path)
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            _write_holder(fd)
            return RunLock(path, fd)
        os.close(fd)  # the holder released (and removed) it meanwhile: try the new file
    raise Locked(f"{path}: could not take the lock")


def _take_without_flock(path: Path) -> RunLock:
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = read_holder(path)
            if _alive_here(holder):
                raise Locked(_describe(path, holder)) from None
            path.unlink(missing_ok=True)  # its process is dead: take over
            continue
        _write_holder(fd)
        os.close(fd)
        return RunLock(path, None)
    raise Locked(_describe(path, read_holder(path)))


def _live_lock(path: Path) -> dict | None:
    """The holder of another lock file if a live process holds it, else None."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return read_holder(path) or {"pid": "?"}
    except OSError:
        holder = read_holder(path)
        return holder if _alive_here(holder) else None
    finally:
        os.close(fd)
    return None


def acquire(directory: str | Path, shard: tuple[int, int] | None = None) -> RunLock:
    """Lock ``directory`` for a whole run (``shard`` None) or for shard ``(I, N)``;
    raises :class:`Locked` naming the live holder. The directory must exist."""
    directory = Path(directory)
    lock = _take(directory / lock_name(shard))
    whole = lock.path.name == WHOLE
    others = directory.glob(f"{WHOLE}-*-of-*") if whole else [directory / WHOLE]
    for other in others:
        holder = _live_lock(other)
        if holder is not None:
            lock.release()
            raise Locked(_describe(other, holder))
    return lock
