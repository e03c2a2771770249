"""The JAX settings a run needs: applied for the run and restored after it.

Importing any module of w2s_jax changes no JAX setting. A run switches on what it
needs (x64 for float64 configurations, the persistent compilation cache) inside
:func:`scoped`, and puts the caller's values back when it ends: a notebook that runs a
grid and then its own JAX code sees JAX as it was. The one setting that cannot be
scoped, the number of CPU devices, is only set by the command line
(:func:`use_all_cores`), before JAX's backends start; a library user may call it too.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import jax


@contextlib.contextmanager
def scoped(values: dict) -> Iterator[None]:
    """Set JAX config ``values`` (name -> value) for the block; restore them after."""
    before = {name: getattr(jax.config, name) for name in values}
    try:
        for name, value in values.items():
            jax.config.update(name, value)
        yield
    finally:
        for name, value in before.items():
            jax.config.update(name, value)


def dtype_settings(configs: list[dict]) -> dict:
    """float64 configurations need JAX's x64 mode (off by default)."""
    return {"jax_enable_x64": True} if any(c["run.dtype"] == "float64" for c in configs) else {}


def use_all_cores() -> None:
    """Expose one JAX CPU device per core (unless the user chose a count).

    XLA:CPU runs a small configuration's operations on one core, so a jitted program
    leaves the other cores idle; with a device per core, a chunk's shards run in
    parallel (benchmarks/RESULTS.md: the small grid's strong steps 1.7x faster on 2
    cores). Results do not depend on the device count. Only possible before JAX's
    backends start; afterwards the caller's devices are kept.
    """
    chosen = "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", "")
    if chosen or jax.config.jax_num_cpu_devices != -1:
        return
    try:
        jax.config.update("jax_num_cpu_devices", len(os.sched_getaffinity(0)))
    except (RuntimeError, AttributeError):  # backends already started; no affinity API
        pass
