"""Several processes on JAX's distributed runtime (``jax.distributed``).

Every process runs its share of the grid (``run_plan.process_shard``: process I of N
takes part I/N) into the shared output directory, chunk by chunk; at the end all
processes meet at a barrier, and process 0 assembles ``summary.csv``, ``curves.npz``
and the figures from the chunk files. Results do not depend on the process count.

A process that dies loses at most its chunk in flight: the others finish their shares
(the runtime is started with ``jax_enable_recoverability``, so the death of a process
other than 0 does not stop them), the barrier gives up on a process silent for the
timeout, and a plain re-run completes the rest. Process 0 hosts the coordination
service: if it dies, JAX's runtime stops the others (their finished chunks are saved).
"""

from __future__ import annotations

import os
import sys
import threading

import jax

DEFAULT_TIMEOUT = 120.0  # seconds: to connect, and before a silent process counts as dead
# JAX's own connection deadline, later than ours: when it passes, XLA aborts the
# process with a stack dump instead of raising, so our watchdog must fire first.
JAX_DEADLINE_MARGIN = 60
SLURM_VARIABLES = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID")

FORCE_ALONE = "--force needs a single process (each would delete the others' chunks)"


class DistributedError(RuntimeError):
    """Bad process options or processes that could not connect (exit code 2 in the CLI)."""


def slurm_tasks() -> int:
    """The number of tasks of the Slurm job step this process belongs to (0 outside one).
    These are the variables JAX's own Slurm detection reads."""
    if not all(name in os.environ for name in SLURM_VARIABLES):
        return 0
    try:
        return int(os.environ["SLURM_NTASKS"])
    except ValueError:
        return 0


def check_options(
    address: str | None,
    num_processes: int | None,
    process_id: int | None,
    shard: tuple[int, int] | None = None,
    force: bool = False,
) -> None:
    """Refuse inconsistent process options (before anything is started)."""
    given = [address, num_processes, process_id]
    if given.count(None) not in (0, 3):
        raise DistributedError(
            "--coordinator-address, --num-processes and --process-id go together"
        )
    if address is None:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DistributedError(
            f"--coordinator-address {address!r} is not HOST:PORT (port 1..65535)"
        )
    if num_processes < 1:
        raise DistributedError(f"--num-processes {num_processes} is below 1")
    if not 0 <= process_id < num_processes:
        raise DistributedError(
            f"--process-id {process_id} is outside 0..{num_processes - 1} "
            f"(--num-processes {num_processes})"
        )
    if shard is not None:
        raise DistributedError("--shard and the process options exclude each other")
    if force:
        raise DistributedError(FORCE_ALONE)


# The first jax with everything several processes use here: recoverable processes
# (jax_enable_recoverability, 0.7.1), live_devices as a context manager and
# initialize's shutdown timeout (0.8.1), multihost_utils.ProcessFailureError (0.10.1).
MIN_JAX = "0.10.1"


def supported() -> bool:
    """Whether the installed jax can run several processes (:data:`MIN_JAX`)."""
    installed = tuple(int(p) for p in jax.__version__.split(".")[:3] if p.isdigit())
    return installed >= tuple(int(p) for p in MIN_JAX.split("."))


def initialize(
    address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    detect_slurm: bool = True,
) -> bool:
    """Join the run's processes; return whether this is a multi-process run.

    With ``address``, ``num_processes`` and ``process_id`` all given, they are passed to
    ``jax.distributed.initialize``. With none given, inside a Slurm job step of more
    than one task (and ``detect_slurm``), JAX detects them itself (the coordinator is
    the step's first node); otherwise this is a single-process run and nothing happens.
    Must run before anything starts JAX's backends. ``timeout`` bounds the wait for
    all processes to connect and is the heartbeat timeout after which a silent
    process counts as dead.
    """
    check_options(address, num_processes, process_id)
    if address is None and not (detect_slurm and slurm_tasks() > 1):
        return False
    if num_processes == 1:
        return False
    if not supported():
        raise DistributedError(
            f"several processes need jax >= {MIN_JAX} (recoverable processes and "
            f"live_devices); this is jax {jax.__version__}: upgrade jax, or use --shard"
        )
    where = address or "the Slurm step's first node"

    def give_up() -> None:
        print(
            f"error: the processes did not all connect to the coordinator at {where} "
            f"within {timeout:g} s (is process 0 running and its port free, and every "
            "process started? --coordinator-timeout sets the wait)",
            file=sys.stderr,
            flush=True,
        )
        os._exit(2)

    # Our processes never exchange arrays: one dying need not stop the others, and on
    # CPUs they need no cross-process collectives (gloo connects every pair at start).
    jax.config.update("jax_enable_recoverability", True)
    jax.config.update("jax_cpu_collectives_implementation", None)
    watchdog = threading.Timer(timeout, give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        jax.distributed.initialize(
            address,
            num_processes,
            process_id,
            initialization_timeout=int(timeout) + JAX_DEADLINE_MARGIN,
            heartbeat_timeout_seconds=max(int(timeout), 1),
            shutdown_timeout_seconds=max(int(timeout), 1),
        )
    except (RuntimeError, ValueError, TypeError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DistributedError(f"jax.distributed could not start at {where}: {message}") from None
    finally:
        watchdog.cancel()
    return True


def is_coordinator() -> bool:
    """Whether this process assembles the outputs (process 0, or the only process)."""
    return jax.process_index() == 0


def wait_for_shares() -> list[int]:
    """Barrier at the end of every process's share; returns the processes that never
    reached it (dead: silent for the heartbeat timeout, or exited early). A no-op
    returning ``[]`` in a single-process run."""
    if not jax.distributed.is_initialized():
        return []
    from jax.experimental import multihost_utils

    # live_devices waits for every live process and skips the dead ones (unlike a
    # plain barrier, which would wait for a dead process until its own timeout).
    live: set[int] = set()
    try:
        with multihost_utils.live_devices(jax.devices()) as devices:
            live = {device.process_index for device in devices}
    except multihost_utils.ProcessFailureError as failure:  # died during the barrier
        live -= {device.process_index for device in failure.failed_devices}
    return sorted(set(range(jax.process_count())) - live)
