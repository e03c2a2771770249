"""Shared pieces of the benchmarks (imported from the scripts' folder): machine facts,
configurations, runners, counts, tables. What is run and counted is the library's own
(``make_grid``, ``planner.plan``, ``chunking.chunk_size``, ``cost``, ``engine.run_chunk``,
``backends``); the timing rules are README.md's "How it measures"."""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from shutil import which

import jax
import jax.numpy as jnp
import numpy as np

import w2s_jax
from w2s_jax.execution import chunking, engine, planner, provenance
from w2s_jax.simulation import config as cfg
from w2s_jax.simulation import cost_model
from w2s_jax.simulation.backends import noise_dim_strong, noise_dim_weak


def header(title: str) -> str:
    """``# key: value`` lines describing the run: date, machine, load, the versions and git
    commit ``provenance`` records in a run's manifest, PyTorch, devices, the command."""
    run = lambda c: subprocess.run(c, capture_output=True, text=True).stdout if which(c[0]) else ""
    cpu = [line for line in run(["lscpu"]).splitlines() if line.startswith("Model name")]
    torch = "not installed"
    if has("torch"):
        import torch as module

        torch = f"{module.__version__} (threads {module.get_num_threads()})"
    facts = {
        "date": run(["date"]).strip(),
        "nproc": os.cpu_count(),
        "cpu": cpu[0].split(":", 1)[1].strip() if cpu else platform.processor(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "versions": ", ".join(f"{k} {v}" for k, v in provenance.dependency_versions().items()),
        "git": provenance.git_state(),
        "torch": torch,
        "devices": ", ".join(str(d) for d in jax.devices()),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
    }
    return "\n".join([f"# {title}"] + [f"# {k}: {v}" for k, v in facts.items()])


def has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def load_now() -> str:
    return f"{os.getloadavg()[0]:.2f}"


# the small-configuration grid: n <= 200, d <= 1000, m = 20, 500 steps
SMALL = {"data.d": 1000, "strong.n": 128, "strong.m": 20, "strong.steps": 500, "weak.n": 500}
SMALL |= {"weak.steps": 100, "eval.n_test": 1000, "eval.points": 20}
# a large configuration, n d >= 1e7 (step counts shrunk; per-step rates reported)
LARGE = {**SMALL, "data.d": 10_000, "strong.n": 2048, "strong.steps": 40, "weak.n": 2000}
LARGE |= {"weak.steps": 20, "eval.points": 5}
NU_NORMS = (3.0, 4.0, 5.0, 6.0)


def parser(doc: str, repeats: int | None = None, cases: bool = False) -> argparse.ArgumentParser:
    """A script's parser: its docstring's first paragraph, ``--repeats`` when given a
    default and, with ``cases``, ``--case``, ``--large-n`` and ``--large-d`` (:func:`cases`)."""
    out = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    if repeats:
        out.add_argument("--repeats", type=int, default=repeats)
    if cases:
        out.add_argument("--case", choices=("small", "large", "all"), default="all")
        out.add_argument("--large-n", type=int, nargs="+", default=[1024, 2048])
        out.add_argument("--large-d", type=int, default=10_000)
    return out


def cases(args) -> list[tuple[str, dict]]:
    """``("small", SMALL)`` and ``("large", LARGE at each --large-n, --large-d)``."""
    out = [("small", SMALL)] if args.case in ("small", "all") else []
    if args.case in ("large", "all"):
        out += [("large", {**LARGE, "strong.n": n, "data.d": args.large_d}) for n in args.large_n]
    return out


def configurations(base: dict, count: int, backend: str = "dense") -> list[dict]:
    """``count`` configurations of ``w2s_jax.make_grid``: ``nu_norm`` in :data:`NU_NORMS`
    times seeds, in that order (``nu_norm`` cycling fastest). Every configuration has its
    own teacher (the teacher identity includes the seed and ``nu_norm``), so no method
    gets a shared-teacher discount."""
    sweep = {"data.nu_norm": list(NU_NORMS), "seeds": math.ceil(count / len(NU_NORMS))}
    grid = w2s_jax.make_grid({**base, "run.backend": backend}, sweep=sweep)
    return sorted(grid.configurations(), key=lambda c: c["seed"])[:count]


def baseline_config(c: dict) -> dict:
    """The same configuration for :mod:`baselines` (``run_numpy`` / ``run_torch``)."""
    keys = {"d": "data.d", "n_weak": "weak.n", "weak_steps": "weak.steps", "n": "strong.n"}
    keys |= {"m": "strong.m", "steps": "strong.steps", "n_test": "eval.n_test"}
    out = {short: int(c[key]) for short, key in keys.items()}
    for name in ("mu_norm", "nu_norm", "sigma_p", "p_easy", "p_hard", "hard_sign"):
        out[name] = c[f"data.{name}"]
    out |= {"weak_lr": c["weak.lr"], "sigma_0": c["strong.sigma_0"], "lr": c["strong.lr"]}
    out["eval_steps"] = [int(s) for s in cfg.eval_steps(out["steps"], int(c["eval.points"]))]
    return out


def timed(function: Callable, *args) -> tuple[float, object]:
    """``(seconds, function(*args))``; callers make sure that the result is ready."""
    start = time.perf_counter()
    out = function(*args)
    return time.perf_counter() - start, out


class Sweep:
    """The library's chunked run of ``configs`` (one program, ``planner.plan``) through
    ``engine.run_chunk``, in chunks of ``chunk`` (default: the sweep's, ``chunk_size``)."""

    def __init__(self, configs: list[dict], chunk: int | None = None):
        (self.program,) = planner.plan(configs)
        self.configs, self.static = configs, self.program.static
        self.chunk = chunk or chunking.chunk_size(self.program, len(configs), None, None)

    def compile(self) -> float:
        """Compile (not timed with the runs); returns the compile seconds."""
        chunk = self.configs[: self.chunk]
        prepared = engine.prepare_chunk(self.static, chunk, 0, self.chunk)
        return timed(lambda: engine.Compiler().compile(prepared))[0]

    def __call__(self, configs: list[dict] | None = None) -> tuple[float, np.ndarray]:
        """Run every configuration; returns (seconds, final test errors)."""
        configs, start, finals = configs or self.configs, time.perf_counter(), []
        for lo in range(0, len(configs), self.chunk):
            result = engine.run_chunk(self.static, configs[lo : lo + self.chunk], 0, self.chunk)
            finals.append(result.curves["test_error"][:, -1])  # np.asarray inside: waits
        return time.perf_counter() - start, np.concatenate(finals)


def matmul_rate() -> float:
    """float32 FLOP/s of a matrix product: ``engine.measured_flop_rate`` / EFFICIENCY."""
    return engine.measured_flop_rate() / engine.EFFICIENCY


def copy_bandwidth(megabytes: int = 512, repeats: int = 5) -> float:
    """Bytes/s of a large in-place update ``x <- x + 1`` through JAX: every byte read once
    and written once. The buffer is donated, so the timing holds no page faults of a fresh
    output allocation (a fresh 0.5 GB output costs more in faults than in copying)."""
    x = jnp.zeros(megabytes * 2**20 // 4, jnp.float32)
    bump = jax.jit(lambda v: v + 1.0, donate_argnums=0)
    x = bump(x).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        x = bump(x).block_until_ready()
        times.append(time.perf_counter() - start)
    return 2 * x.nbytes / float(np.median(times))


def dims(static: cfg.Static, d: float) -> tuple[int, int]:
    """``(D_strong, D_weak)``: noise coordinates of the two phases (the backends')."""
    d_strong = noise_dim_strong(static.backend, int(d), static.m, static.n_pad)
    return d_strong, noise_dim_weak(static.backend, int(d), static.weak_n)


def step_flops(static: cfg.Static, d: float, steps: int = 256) -> float:
    """FLOPs of one strong step: ``cost_model.cost`` over ``2 steps`` less over ``steps``,
    per step (the dual form's re-anchoring included)."""
    flops = [cost_model.cost(static, d, s, 0).flops for s in (steps, 2 * steps)]
    return (flops[1] - flops[0]) / steps


def step_bytes(static: cfg.Static, d: float) -> float:
    """Minimum bytes of one strong step (no library count; ``Cost.hot_bytes`` is the
    largest matrix of either phase, for chunk sizes): the matrix it streams, read once,
    ``xi (n_pad, D)`` or in the dual form the Gram matrix ``(n_pad, n_pad)``."""
    n, d_strong = static.n_pad, dims(static, d)[0]
    columns = n if cost_model.use_dual_form(static, n, d_strong) else d_strong
    return (2 if static.ceiling else 1) * np.dtype(static.dtype).itemsize * n * columns


def traffic(static: cfg.Static, d: float, steps: int, weak_steps: int) -> float:
    """Minimum bytes a configuration moves: every training step reads its matrix once
    (the teacher's ``n_weak x D_weak``), every evaluation the test and training noise
    matrices. A floor: data generation, Gram matrix and re-anchoring left out."""
    (d_strong, d_weak), item = dims(static, d), np.dtype(static.dtype).itemsize
    evals = static.eval_points * item * (static.n_test + static.n_pad) * d_strong
    return weak_steps * item * static.weak_n * d_weak + steps * step_bytes(static, d) + evals


def interleaved(tasks: dict, repeats: int) -> dict[str, list]:
    """Run ``tasks[name](repeat)`` round-robin ``repeats`` times, logging each; a task
    returns seconds per unit (per configuration, per step, ...), a list of such timings,
    or None (no measurement this repeat). Returns every measurement per task."""
    times: dict = {name: [] for name in tasks}
    for repeat in range(repeats):
        for name, task in tasks.items():
            if (value := task(repeat)) is not None:
                times[name].append(value)
                shown = ", ".join(f"{v:.4g}" for v in np.atleast_1d(value))
                log(f"  repeat {repeat} {name}: {shown} (load {load_now()})")
    return times


def table(rows: list[dict]) -> str:
    """A GitHub-markdown table of ``rows`` (dicts; the columns of the first)."""
    columns = list(rows[0])
    text = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in text)) for i, c in enumerate(columns)]
    line = lambda cells: "| " + " | ".join(x.ljust(w) for x, w in zip(cells, widths)) + " |"
    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in text])


def spread(values: list[float]) -> str:
    return f"{min(values):.3g}–{max(values):.3g}"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
