"""How much memory a run may use, and how much it did use.

The budget is what the kernel will actually let this process have: the smallest of the
host's available memory (``MemAvailable``), the room left under the memory limit of the
process's cgroup and of every ancestor cgroup (v1 ``memory.limit_in_bytes``, v2
``memory.max``: what Slurm's ``--mem``, a container or a CI runner enforces, invisible
in ``MemAvailable``) and, on accelerators, the devices' free memory. A run keeps
``BUDGET_FRACTION`` of the host's available memory (other processes share it) or
``CGROUP_FRACTION`` of the room under a cgroup limit (the job's own) for itself; out of
that, ``Budget.reserved`` is set aside for XLA's compiler and runtime, the rest holds
the configurations in flight.

Every reader takes the filesystem root as a parameter so that tests can lay out fake
``/proc`` and ``/sys/fs/cgroup`` trees.
"""

from __future__ import annotations

import math
import resource
from dataclasses import dataclass
from pathlib import Path

BUDGET_FRACTION = 0.5  # of the host's available memory, shared with other processes
CGROUP_FRACTION = 0.8  # of the room under a cgroup limit: this job's own allotment
COMPILER_BYTES = 0.5e9  # resident memory XLA:CPU's compiler and runtime add (measured
# 0.40-0.47 GB for each of the default grid's programs, benchmarks/memory_budget.py)
UNLIMITED = 2**60  # cgroup v1 writes "no limit" as a huge page-aligned number
FALLBACK_BYTES = 4e9  # when the platform tells nothing (not Linux)


@dataclass(frozen=True)
class Budget:
    """Bytes the run may use (across all devices), where that figure came from, the
    most one device may hold (``inf``: the devices share one memory, as CPU devices
    share the host's) and the part of ``bytes`` reserved for XLA itself (so not for
    configurations)."""

    bytes: float
    source: str
    per_device: float = math.inf
    reserved: float = 0.0

    def describe(self) -> str:
        reserved = f", {self.reserved / 1e9:.2g} GB of it for XLA" if self.reserved else ""
        return f"{self.bytes / 1e9:.3g} GB ({self.source}{reserved})"


class DoesNotFit(ValueError):
    """Even the smallest exact chunk of a program exceeds the budget."""


# ------------------------------------------------------------------ host and cgroups


def mem_available(root: Path = Path("/")) -> float | None:
    """The kernel's ``MemAvailable`` in bytes (None when unknown)."""
    try:
        for line in (root / "proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


@dataclass(frozen=True)
class CgroupLimit:
    """One memory limit on the way from this process's cgroup to the root."""

    version: int
    path: str  # the cgroup, as /proc/self/cgroup names it
    limit: float
    usage: float  # memory charged to the cgroup that cannot simply be dropped

    @property
    def room(self) -> float:
        return max(self.limit - self.usage, 0.0)

    def describe(self) -> str:
        name = "memory.limit_in_bytes" if self.version == 1 else "memory.max"
        return f"cgroup v{self.version} {self.path} {name} = {self.limit / 1e9:.3g} GB"


def _mounts(root: Path) -> list[tuple[str, str, str, str]]:
    """``(filesystem type, mount root, mount point, super options)`` of the cgroup
    mounts in ``/proc/self/mountinfo``."""
    found = []
    try:
        lines = (root / "proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        after = line.split(" - ", 1)[1].split()
        if len(after) >= 3 and after[0] in ("cgroup", "cgroup2"):
            found.append((after[0], fields[3], fields[4], after[2]))
    return found


def _mount_for(root: Path, version: int) -> tuple[str, Path] | None:
    """Mount root and directory of the v1 ``memory`` hierarchy or of the v2 one."""
    for fstype, mount_root, point, options in _mounts(root):
        if version == 2 and fstype == "cgroup2":
            return mount_root, root / point.lstrip("/")
        if version == 1 and fstype == "cgroup" and "memory" in options.split(","):
            return mount_root, root / point.lstrip("/")
    # No mountinfo (or a fake tree in a test): the conventional places.
    default = root / ("sys/fs/cgroup/memory" if version == 1 else "sys/fs/cgroup")
    return ("/", default) if default.is_dir() else None


def _read_number(path: Path) -> float | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return math.inf
    try:
        value = float(text)
    except ValueError:
        return None
    return math.inf if value >= UNLIMITED else value


def _reclaimable(directory: Path, version: int) -> float:
    """Page cache the kernel drops before it kills: inactive file pages."""
    key = "total_inactive_file" if version == 1 else "inactive_file"
    try:
        for line in (directory / "memory.stat").read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return float(value)
    except (OSError, ValueError):
        pass
    return 0.0


def cgroup_limits(root: Path = Path("/")) -> list[CgroupLimit]:
    """Every finite memory limit on this process: its cgroup's and its ancestors', in
    cgroup v1 (the ``memory`` controller) and v2 (the unified hierarchy)."""
    try:
        lines = (root / "proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    limits = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            version, limit_file, usage_file = 2, "memory.max", "memory.current"
        elif "memory" in controllers.split(","):
            version, limit_file, usage_file = 1, "memory.limit_in_bytes", "memory.usage_in_bytes"
        else:
            continue
        mount = _mount_for(root, version)
        if mount is None:
            continue
        mount_root, directory = mount
        # Inside a container the mount's root is the container's own cgroup.
        relative = path
        if mount_root != "/" and (path + "/").startswith(mount_root.rstrip("/") + "/"):
            relative = path[len(mount_root.rstrip("/")) :]
        parts_of_path = [p for p in relative.split("/") if p]
        for depth in range(len(parts_of_path), -1, -1):
            cgroup = directory.joinpath(*parts_of_path[:depth])
            limit = _read_number(cgroup / limit_file)
            if limit is None or math.isinf(limit):
                continue
            usage = _read_number(cgroup / usage_file) or 0.0
            usage = max(usage - _reclaimable(cgroup, version), 0.0)
            name = "/" + "/".join(parts_of_path[:depth])
            limits.append(CgroupLimit(version, name, limit, usage))
    return limits


# ------------------------------------------------------------------ the budget


def host_budget(max_memory: float | None = None, root: Path = Path("/")) -> Budget:
    """The budget on a host whose devices share its memory (CPU devices): never
    multiplied by the device count."""
    if max_memory:
        return Budget(float(max_memory), "--max-memory", reserved=COMPILER_BYTES)
    candidates: list[tuple[float, str]] = []
    available = mem_available(root)
    if available is not None:
        text = f"{BUDGET_FRACTION:g} x MemAvailable {available / 1e9:.3g} GB"
        candidates.append((BUDGET_FRACTION * available, text))
    for limit in cgroup_limits(root):
        text = f"{CGROUP_FRACTION:g} x {limit.room / 1e9:.3g} GB free under {limit.describe()}"
        candidates.append((CGROUP_FRACTION * limit.room, text))
    if not candidates:
        text = f"{BUDGET_FRACTION:g} x {FALLBACK_BYTES / 1e9:g} GB assumed (no information)"
        candidates.append((BUDGET_FRACTION * FALLBACK_BYTES, text))
    room, source = min(candidates)
    return Budget(room, source, reserved=COMPILER_BYTES)


def device_budget(free_per_device: float, devices: int, max_memory: float | None) -> Budget:
    """The budget on accelerators: each device holds its share of a chunk in its own
    memory, so the budget is per device times the devices (capped by ``max_memory``)."""
    per_device = BUDGET_FRACTION * free_per_device
    source = f"{BUDGET_FRACTION:g} x device free memory {free_per_device / 1e9:.3g} GB"
    if max_memory and max_memory < per_device * devices:
        return Budget(float(max_memory), "--max-memory", min(per_device, float(max_memory)))
    return Budget(per_device * devices, f"{source} x {devices} devices", per_device)


def budget(max_memory: float | None = None) -> Budget:
    """The budget of this process on its local JAX devices."""
    import jax

    devices = jax.local_devices()
    if devices[0].platform == "cpu":
        return host_budget(max_memory)
    free = []
    for device in devices:
        stats = device.memory_stats() or {}
        if "bytes_limit" in stats:
            free.append(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    if not free:
        return host_budget(max_memory)
    return device_budget(float(min(free)), len(devices), max_memory)


# ------------------------------------------------------------------ measured use


def peak_rss(root: Path = Path("/")) -> float:
    """The process's peak resident memory in bytes (``VmHWM``, else ``getrusage``)."""
    value = _status_bytes(root, "VmHWM:")
    if value is not None:
        return value
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # KiB on Linux


def current_rss(root: Path = Path("/")) -> float | None:
    """The process's resident memory now, in bytes (None when unknown)."""
    return _status_bytes(root, "VmRSS:")


def _status_bytes(root: Path, key: str) -> float | None:
    try:
        for line in (root / "proc/self/status").read_text().splitlines():
            if line.startswith(key):
                return float(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


# ------------------------------------------------------------------ host memory of a grid

# Host memory per configuration outside the compiled programs (estimates, bytes):
# planning (its columns, codes and teacher digests: 0.24 GB for 10^6 configurations,
# benchmarks/overhead.py), a run's identities (a 24-byte digest text in one array), the
# summary's columns (about 60 numbers and a few labels, twice while written: as
# computed and as read back, in blocks); the curves are float64 (configurations x
# evaluation points) arrays mapped onto their files in curves/ (page cache, counted once).
PLAN_BYTES = 300.0
IDS_BYTES = 250.0
SUMMARY_BYTES = 1000.0
CURVE_COPIES = 1


@dataclass(frozen=True)
class HostNeed:
    """The host memory a grid's plan and results take, beside the chunks in flight."""

    configurations: int
    curves: int  # curves per configuration (the union over the grid's programs)
    points: int  # evaluation points of the assembled curves (at most)
    assembles: bool  # False for a shard's part (the merge assembles)

    @property
    def plan_bytes(self) -> float:
        return self.configurations * (PLAN_BYTES + IDS_BYTES)

    @property
    def result_bytes(self) -> float:
        if not self.assembles:
            return 0.0
        per_configuration = CURVE_COPIES * self.curves * self.points * 8 + SUMMARY_BYTES
        return self.configurations * per_configuration

    @property
    def bytes(self) -> float:
        return self.plan_bytes + self.result_bytes


def check_host(need: HostNeed, host: Budget) -> None:
    """Refuse (:class:`DoesNotFit`, one line) a grid whose plan and results do not fit
    the host ``budget`` beside XLA's reservation: before anything is planned or run."""
    room = host.bytes - host.reserved
    if need.bytes <= room or room <= 0:  # no room even for XLA: the programs' refusal says so
        return
    results = (
        f" + results {need.result_bytes / 1e9:.3g} GB ({need.curves} curves x "
        f"{need.points} evaluation points, float64, and the summary)"
        if need.assembles
        else ""
    )
    raise DoesNotFit(
        f"{need.configurations} configurations need {need.bytes / 1e9:.3g} GB of host memory "
        f"(plan {need.plan_bytes / 1e9:.3g} GB{results}); the memory budget is "
        f"{host.describe()}; use fewer evaluation points (eval.points), fewer curves "
        "(run.race = false, fewer run.metrics), or fewer configurations per run directory "
        "(split the grid; --shard I/N parts hold no results but their merge does)"
    )
