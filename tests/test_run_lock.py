"""One run per directory: a live holder refuses the next run (naming its pid and host),
a dead one does not; shards of one run go side by side; the CLI refuses with exit 2."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from w2s_jax.execution import run_lock

SRC = Path(run_lock.__file__).parent
HOLD = (  # a process that takes the lock, says so and waits (run_lock imports no JAX)
    "import sys, time; sys.path.insert(0, sys.argv[1]); import run_lock; "
    "run_lock.acquire(sys.argv[2]); print('held', flush=True); time.sleep(600)"
)


def holder_process(directory: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(SRC), str(directory)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "held"
    return process


def test_live_holder_is_refused_by_pid_and_host(tmp_path):
    with run_lock.acquire(tmp_path):
        with pytest.raises(run_lock.Locked) as refused:
            run_lock.acquire(tmp_path)
    message = str(refused.value)
    assert f"pid {os.getpid()}" in message and socket.gethostname() in message
    run_lock.acquire(tmp_path).release()  # released: free again
    assert not (tmp_path / run_lock.WHOLE).exists()


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
    process = holder_process(tmp_path)
    try:
        with pytest.raises(run_lock.Locked, match=f"pid {process.pid} "):
            run_lock.acquire(tmp_path)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert run_lock.read_holder(tmp_path / run_lock.WHOLE)["pid"] == process.pid  # left over
    with run_lock.acquire(tmp_path):
        assert run_lock.read_holder(tmp_path / run_lock.WHOLE)["pid"] == os.getpid()


def test_without_flock_a_dead_pid_on_this_host_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = tmp_path / run_lock.WHOLE
    path.write_text(f'{{"pid": {dead.pid}, "host": "{socket.gethostname()}"}}')
    lock = run_lock._take_without_flock(path)
    assert run_lock.read_holder(path)["pid"] == os.getpid()
    with pytest.raises(run_lock.Locked, match=f"pid {os.getpid()}"):
        run_lock._take_without_flock(path)  # now a live holder
    lock.release()


def test_shards_run_side_by_side_but_not_beside_a_whole_run(tmp_path):
    first = run_lock.acquire(tmp_path, (0, 2))
    second = run_lock.acquire(tmp_path, (1, 2))
    with pytest.raises(run_lock.Locked, match=r"lock \.lock-1-of-2"):
        run_lock.acquire(tmp_path, (1, 2))
    with pytest.raises(run_lock.Locked, match=r"lock \.lock-[01]-of-2"):
        run_lock.acquire(tmp_path)
    first.release()
    second.release()
    with run_lock.acquire(tmp_path):
        with pytest.raises(run_lock.Locked, match=r"\(lock \.lock\)"):
            run_lock.acquire(tmp_path, (0, 2))


def test_cli_refuses_a_directory_in_use(tmp_path, capsys):
    from test_cli import TINY_GRID, write
    from w2s_jax.sweep import main

    grid = write(tmp_path, TINY_GRID)
    out = tmp_path / "run"
    out.mkdir()
    process = holder_process(out)
    try:
        assert main([str(grid), "--out", str(out), "--quiet"]) == 2
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    err = capsys.readouterr().err
    assert f"pid {process.pid} on {socket.gethostname()}" in err and err.count("\n") == 1
    assert not (out / "chunks").exists()
