"""Several processes on jax.distributed: two processes on localhost give the outputs of a
single-process run; a killed process leaves the others' shares saved and a plain re-run
completes; bad process options and an unreachable coordinator exit 2 with one line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import w2s_jax
from conftest import curve_bytes
from test_engine import run, write_grid
from w2s_jax.analysis import storage
from w2s_jax.execution import distributed
from w2s_jax.sweep import main

pytestmark = pytest.mark.skipif(
    not distributed.supported(), reason=f"several processes need jax >= {distributed.MIN_JAX}"
)

SHARE = 6  # the test grid's 12 configurations over 2 processes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(grid: Path, out: Path, port: int, process: int, *flags: str) -> subprocess.Popen:
    """One process of a two-process run of ``grid`` into ``out``."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    source = str(Path(w2s_jax.__file__).parents[1])  # this checkout, not an installed copy
    env["PYTHONPATH"] = os.pathsep.join([source, env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "w2s_jax.sweep", str(grid), "--out", str(out)]
    command += ["--no-figures", "--coordinator-address", f"127.0.0.1:{port}"]
    command += ["--num-processes", "2", "--process-id", str(process), *flags]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def assert_identical_outputs(a: Path, b: Path) -> None:
    assert (a / "summary.csv").read_bytes() == (b / "summary.csv").read_bytes()
    assert curve_bytes(a) == curve_bytes(b) != {}


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> tuple[Path, Path]:
    """The test grid and its single-process run."""
    directory = tmp_path_factory.mktemp("single")
    grid = write_grid(directory)
    assert run(grid, directory / "out") == 0
    return grid, directory / "out"


def test_two_processes_equal_a_single_run(single, tmp_path):
    grid, reference = single
    out, port = tmp_path / "two", free_port()
    processes = [start(grid, out, port, i) for i in (0, 1)]
    results = [p.communicate(timeout=600) for p in processes]
    for process, (_, stderr) in zip(processes, results):
        assert process.returncode == 0, stderr
    assert f"{SHARE} to run (shard 0/2)" in results[0][1]
    assert f"{SHARE} to run (shard 1/2)" in results[1][1]
    assert "process 0 assembles" in results[1][0]
    assert storage.read_json(out / "manifest.json")["device"]["processes"] == 2
    assert storage.read_json(out / "manifest.json")["status"] == "complete"
    assert_identical_outputs(reference, out)


def test_killed_process_leaves_the_other_share_and_a_plain_rerun_completes(single, tmp_path):
    grid, reference = single
    out, port = tmp_path / "killed", free_port()
    # A short heartbeat timeout: process 0 gives up on the dead process 5 s after it died.
    flags = ("--coordinator-timeout", "5")
    first, second = start(grid, out, port, 0, *flags), start(grid, out, port, 1, *flags)
    while "(shard 1/2)" not in second.stderr.readline():  # connected; compiling next
        assert second.poll() is None
    second.send_signal(signal.SIGKILL)
    second.wait()
    stdout, stderr = first.communicate(timeout=600)
    assert first.returncode == 1, stderr
    assert "process(es) 1 stopped" in stderr and "run the same command again" in stderr
    assert len(storage.completed_ids(out)) == SHARE  # process 0's share, all of it
    assert not (out / "summary.csv").exists()
    assert run(grid, out) == 0  # one process, no process options: runs the rest
    assert_identical_outputs(reference, out)


@pytest.mark.parametrize(
    "flags, named",
    [
        (["--num-processes", "2", "--process-id", "2"], "--process-id 2 is outside 0..1"),
        (["--num-processes", "2", "--process-id", "-1"], "--process-id -1"),
        (["--num-processes", "0", "--process-id", "0"], "--num-processes 0"),
        (["--num-processes", "2"], "go together"),
        (["--num-processes", "2", "--process-id", "0", "--shard", "0/2"], "--shard"),
        (["--num-processes", "2", "--process-id", "0", "--force"], "--force"),
    ],
)
def test_bad_process_options_exit_2_with_one_line(tmp_path, capsys, flags, named):
    address = [] if flags == ["--num-processes", "2"] else ["--coordinator-address", "h:1"]
    assert main(["grid.toml", "--out", str(tmp_path), *address, *flags]) == 2
    err = capsys.readouterr().err
    assert named in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())  # refused before anything was written


@pytest.mark.parametrize("address", ["localhost", "localhost:http", ":80", "h:70000"])
def test_malformed_address_exits_2_with_one_line(capsys, address):
    argv = ["grid.toml", "--coordinator-address", address, "--num-processes", "2"]
    assert main([*argv, "--process-id", "1"]) == 2
    err = capsys.readouterr().err
    assert repr(address) in err and err.count("\n") == 1


def test_unreachable_coordinator_exits_2_after_its_timeout(single, tmp_path):
    grid, _ = single
    process = start(grid, tmp_path / "alone", free_port(), 1, "--coordinator-timeout", "1")
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 2
    assert stderr.count("\n") == 1 and "within 1 s" in stderr, stderr
    assert not (tmp_path / "alone" / "chunks").exists()


def test_dry_run_plans_this_process_share(single, capsys):
    grid, _ = single
    flags = ["--coordinator-address", "h:1", "--num-processes", "2", "--process-id", "1"]
    assert main([str(grid), "--dry-run", *flags]) == 0
    assert f": {SHARE} configurations," in capsys.readouterr().out


def test_slurm_is_detected_only_for_a_step_of_several_tasks(monkeypatch):
    for name in distributed.SLURM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert distributed.slurm_tasks() == 0  # not under Slurm
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    monkeypatch.setenv("SLURM_NTASKS", "4")
    monkeypatch.setenv("SLURM_PROCID", "2")
    assert distributed.slurm_tasks() == 0  # no job step's node list: JAX would not detect
    monkeypatch.setenv("SLURM_STEP_NODELIST", "node[001-002]")
    assert distributed.slurm_tasks() == 4
    # One task (an array element): a single-process run, nothing to join.
    monkeypatch.setenv("SLURM_NTASKS", "1")
    assert distributed.initialize() is False
    # --shard turns the detection off: the job array's own split is used.
    monkeypatch.setenv("SLURM_NTASKS", "4")
    assert distributed.initialize(detect_slurm=False) is False
