"""The memory budget: cgroup v1 and v2 limits read from fake trees, host memory never
multiplied by the device count, chunks that fit (fewer devices before fewer than 2 per
device), and a refusal naming the program before anything is compiled."""

from __future__ import annotations

import math
from pathlib import Path

import jax
import numpy as np
import pytest

from w2s_jax.execution import chunking, engine, memory
from w2s_jax.execution.planner import Program
from w2s_jax.simulation.config import static_part
from w2s_jax.simulation.cost_model import Cost

GiB = 2**30


def lay_out(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


V1_MOUNTS = (
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
)


def test_cgroup_v1_limits_of_the_cgroup_and_its_ancestors(tmp_path):
    job = "sys/fs/cgroup/memory/slurm/uid_0/job_12"
    root = lay_out(
        tmp_path,
        {
            "proc/self/cgroup": "5:cpu:/other\n4:memory:/slurm/uid_0/job_12/step_0\n0::/\n",
            "proc/self/mountinfo": V1_MOUNTS,
            "proc/meminfo": "MemTotal: 99999999 kB\nMemAvailable: 20000000 kB\n",
            f"{job}/step_0/memory.limit_in_bytes": str(8 * GiB),
            f"{job}/step_0/memory.usage_in_bytes": str(GiB),
            f"{job}/memory.limit_in_bytes": str(4 * GiB),
            f"{job}/memory.usage_in_bytes": str(GiB),
            f"{job}/memory.stat": f"cache 1\ntotal_inactive_file {GiB // 2}\n",
            "sys/fs/cgroup/memory/slurm/uid_0/memory.limit_in_bytes": "9223372036854771712",
        },
    )
    limits = memory.cgroup_limits(root)
    assert [(c.version, c.path, c.limit) for c in limits] == [
        (1, "/slurm/uid_0/job_12/step_0", 8 * GiB),
        (1, "/slurm/uid_0/job_12", 4 * GiB),
    ]
    assert limits[1].room == 3.5 * GiB  # inactive page cache is reclaimable
    budget = memory.host_budget(None, root)
    assert budget.bytes == memory.CGROUP_FRACTION * 3.5 * GiB
    assert "cgroup v1 /slurm/uid_0/job_12 memory.limit_in_bytes" in budget.source
    assert budget.per_device == math.inf


def test_cgroup_v2_parent_limit_and_container_mount_root(tmp_path):
    root = lay_out(
        tmp_path,
        {
            "proc/self/cgroup": "0::/docker/abc/job\n",
            # The container sees its own cgroup as the mount's root.
            "proc/self/mountinfo": "41 31 0:38 /docker/abc /sys/fs/cgroup rw - cgroup2 x rw\n",
            "proc/meminfo": "MemAvailable: 20000000 kB\n",
            "sys/fs/cgroup/job/memory.max": "max\n",
            "sys/fs/cgroup/job/memory.current": str(GiB),
            "sys/fs/cgroup/memory.max": str(3 * GiB),
            "sys/fs/cgroup/memory.current": str(GiB),
            "sys/fs/cgroup/memory.stat": f"anon 5\ninactive_file {GiB // 4}\n",
        },
    )
    (limit,) = memory.cgroup_limits(root)
    assert (limit.version, limit.path, limit.limit) == (2, "/", 3 * GiB)
    budget = memory.host_budget(None, root)
    assert budget.bytes == memory.CGROUP_FRACTION * 2.25 * GiB
    assert "memory.max" in budget.source


def test_without_limits_the_budget_is_mem_available_and_max_memory_wins(tmp_path):
    root = lay_out(
        tmp_path, {"proc/self/cgroup": "0::/\n", "proc/meminfo": "MemAvailable: 1000000 kB\n"}
    )
    assert memory.cgroup_limits(root) == []
    assert memory.host_budget(None, root).bytes == memory.BUDGET_FRACTION * 1024e6
    capped = memory.host_budget(3e9, root)
    assert (capped.bytes, capped.source) == (3e9, "--max-memory")
    assert capped.reserved == memory.COMPILER_BYTES  # XLA's own share is inside the cap


def test_accelerator_budget_is_per_device():
    budget = memory.device_budget(free_per_device=10e9, devices=4, max_memory=None)
    assert (budget.bytes, budget.per_device) == (20e9, 5e9)
    capped = memory.device_budget(free_per_device=10e9, devices=4, max_memory=8e9)
    assert (capped.bytes, capped.per_device, capped.source) == (8e9, 5e9, "--max-memory")


# ------------------------------------------------------------------ planning


@pytest.fixture
def four_devices(monkeypatch):
    """The planner's view of four local devices (planning only: nothing runs)."""
    monkeypatch.setattr(jax, "local_device_count", lambda: 4)


def program(bytes_per_configuration: float) -> Program:
    from conftest import tiny_config

    static = static_part(tiny_config())
    # hot bytes far above the L2 cache and work far above CPU_CHUNK_FLOPS: the CPU rule
    # alone would give 2 per device
    return Program(static, list(range(100)), Cost(bytes_per_configuration, 1e12, 1e12), 40)


def in_flight(chunk: int) -> tuple[int, int]:
    return chunk, chunking.devices_for(chunk)


@pytest.mark.parametrize(
    "budget_gb, chunk, devices",
    [(100, 8, 4), (7, 6, 3), (5, 4, 2), (3, 3, 1), (2, 2, 1)],
)
def test_chunk_fits_the_budget_with_fewer_devices_never_fewer_than_two_each(
    four_devices, budget_gb, chunk, devices
):
    budget = memory.Budget(budget_gb * 1e9, "test")
    size = chunking.chunk_size(program(1e9), 100, None, None, budget)
    assert in_flight(size) == (chunk, devices)
    assert size * 1e9 <= budget.bytes and size // devices >= 2


def test_per_device_cap_on_accelerators(four_devices):
    budget = memory.device_budget(free_per_device=10e9, devices=4, max_memory=None)
    size = chunking.chunk_size(program(2e9), 100, None, None, budget)
    assert in_flight(size) == (8, 4)  # 2 x 2 GB per device <= 5 GB
    with pytest.raises(memory.DoesNotFit):  # 2 x 3 GB > 5 GB on any device
        chunking.chunk_size(program(3e9), 100, None, None, budget)


def test_host_memory_is_not_multiplied_by_the_cpu_devices(four_devices, monkeypatch):
    monkeypatch.setattr(memory, "mem_available", lambda root=None: 6e9)
    monkeypatch.setattr(memory, "cgroup_limits", lambda root=None: [])
    size = chunking.chunk_size(program(1e9), 100, None, None)
    assert size * 1e9 <= memory.BUDGET_FRACTION * 6e9  # not 4 x 3 GB


def test_refusal_names_program_need_budget_source_and_remedy(four_devices):
    budget = memory.Budget(1.5e9, "--max-memory")
    with pytest.raises(memory.DoesNotFit) as refused:
        chunking.chunk_size(program(1e9), 100, None, None, budget)
    message = str(refused.value)
    for part in ("dense", "d=200", "n_pad=48", "2 GB", "1.5 GB (--max-memory", "at least 2 GB"):
        assert part in message
    # Nothing pending: nothing to refuse.
    assert chunking.chunk_size(program(1e9), 0, None, None, budget) == 2


def test_cli_refuses_before_compiling(tmp_path, capsys):
    from test_cli import TINY_GRID, write
    from w2s_jax.sweep import main

    grid = write(tmp_path, TINY_GRID)
    held = len(engine.IN_MEMORY)
    for extra in (["--dry-run"], ["--quiet"]):
        argv = [str(grid), "--out", str(tmp_path / "run"), "--max-memory", "0.001", *extra]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert "program dense d=200" in err and "--max-memory" in err
    assert len(engine.IN_MEMORY) == held  # nothing compiled
    assert not list((tmp_path / "run").glob("chunks/*"))


def test_resident_memory_follows_an_allocation_and_the_peak_keeps_it():
    """64 MiB written: the resident memory grows by about as much and the peak holds
    it; freed, the resident memory falls back while the peak stays. (The kernel's
    counters lag by up to a few hundred kB: the relations are to 10% of the block.)"""
    before = memory.current_rss()
    block = np.ones(64 * 2**20 // 8)  # written, so resident
    size, during = block.nbytes, memory.current_rss()
    assert during - before >= 0.9 * size
    assert memory.peak_rss() >= before + 0.9 * size
    del block  # a block this large is its own mapping: freeing it returns it
    assert memory.current_rss() <= during - 0.9 * size
    assert memory.peak_rss() >= before + 0.9 * size
