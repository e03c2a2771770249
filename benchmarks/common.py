"""Shared pieces of the benchmarks: machine facts, configurations, timing, counts, tables.

Run the benchmarks as scripts from the repository root (``python benchmarks/NAME.py``);
this module and :mod:`baselines` are imported from the script's own folder.

Timing rules followed everywhere: every timed call ends in ``block_until_ready`` (or
``np.asarray`` of the outputs, which waits), compilation is done and timed before the
timed repeats, the methods being compared run interleaved (one repeat of each, then
the next round), and figures are medians over the repeats.
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from w2s_jax import config as cfg
from w2s_jax import engine, grid, pipeline, training

# ---------------------------------------------------------------------- the machine


def machine() -> dict[str, Any]:
    """Date, CPU, load, memory and versions: the context every figure is reported in."""
    lscpu = _run(["lscpu"]).splitlines()
    model = next(
        (line.split(":", 1)[1].strip() for line in lscpu if line.startswith("Model name")),
        platform.processor(),
    )
    try:
        import torch

        torch_version = f"{torch.__version__} (threads {torch.get_num_threads()})"
    except ImportError:
        torch_version = "not installed"
    return {
        "date": _run(["date"]).strip(),
        "nproc": os.cpu_count(),
        "cpu": model,
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "jax": f"{jax.__version__} (jaxlib {_jaxlib_version()})",
        "devices": ", ".join(str(d) for d in jax.devices()),
        "numpy": np.__version__,
        "torch": torch_version,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
    }


def _jaxlib_version() -> str:
    import jaxlib

    return jaxlib.__version__


def _run(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False).stdout
    except OSError:
        return ""


def header(title: str) -> str:
    """A block of ``# key: value`` lines describing the run (date, machine, versions)."""
    facts = machine()
    lines = [f"# {title}"] + [f"# {k}: {v}" for k, v in facts.items()]
    return "\n".join(lines)


def load_now() -> str:
    return f"{os.getloadavg()[0]:.2f}"


# ---------------------------------------------------------------------- configurations

SMALL = {  # the small-configuration grid: n <= 200, d <= 1000, m = 20, 500 steps
    "data.d": 1000,
    "strong.n": 128,
    "strong.m": 20,
    "strong.steps": 500,
    "weak.n": 500,
    "weak.steps": 100,
    "eval.n_test": 1000,
    "eval.points": 20,
}

LARGE = {  # a large configuration, n d >= 1e7 (step counts shrunk; per-step rates reported)
    "data.d": 10_000,
    "strong.n": 2048,
    "strong.m": 20,
    "strong.steps": 40,
    "weak.n": 2000,
    "weak.steps": 20,
    "eval.n_test": 1000,
    "eval.points": 5,
}

NU_NORMS = (3.0, 4.0, 5.0, 6.0)


def configurations(base: dict, count: int, backend: str = "dense") -> list[dict]:
    """``count`` resolved configurations: ``nu_norm`` in :data:`NU_NORMS` times seeds.

    Every configuration has its own teacher (the teacher identity includes the seed and
    ``nu_norm``), so no method gets a shared-teacher discount."""
    out = []
    for i in range(count):
        raw = {
            **cfg.defaults(),
            **base,
            "run.backend": backend,
            "data.nu_norm": NU_NORMS[i % len(NU_NORMS)],
            "seed": i // len(NU_NORMS),
        }
        out.append(grid.resolve(raw))
    return out


def baseline_config(c: dict) -> dict:
    """The same configuration for :mod:`baselines` (``run_numpy`` / ``run_torch``)."""
    steps = int(c["strong.steps"])
    return {
        "d": int(c["data.d"]),
        "mu_norm": c["data.mu_norm"],
        "nu_norm": c["data.nu_norm"],
        "sigma_p": c["data.sigma_p"],
        "p_easy": c["data.p_easy"],
        "p_hard": c["data.p_hard"],
        "hard_sign": c["data.hard_sign"],
        "n_weak": int(c["weak.n"]),
        "weak_lr": c["weak.lr"],
        "weak_steps": int(c["weak.steps"]),
        "n": int(c["strong.n"]),
        "m": int(c["strong.m"]),
        "sigma_0": c["strong.sigma_0"],
        "lr": c["strong.lr"],
        "steps": steps,
        "n_test": int(c["eval.n_test"]),
        "eval_steps": [int(s) for s in cfg.eval_steps(steps, int(c["eval.points"]))],
    }


def static_of(configs: list[dict]) -> cfg.Static:
    static = cfg.split(configs[0])[0]
    assert all(cfg.split(c)[0] == static for c in configs), "configurations span programs"
    return static


# ---------------------------------------------------------------------- w2s_jax runners


class Vmapped:
    """w2s_jax's sweep path (``engine.run_chunk``): the configurations in compiled chunks
    of ``chunk`` (default: the size the sweep command picks, ``engine.chunk_size``)."""

    def __init__(self, configs: list[dict], chunk: int | None = None):
        self.configs, self.static = configs, static_of(configs)
        program = engine.plan(configs)[0]
        self.chunk = chunk or engine.chunk_size(program, len(configs), None, None)

    def compile(self) -> float:
        """Compile (not timed with the runs); returns the compile seconds."""
        before = engine.COMPILE_STATS["seconds"]
        engine.run_chunk(self.static, self.configs[: self.chunk], 0, self.chunk)
        return engine.COMPILE_STATS["seconds"] - before

    def __call__(self) -> tuple[float, dict]:
        """Run every configuration; returns (seconds, final test errors)."""
        start = time.perf_counter()
        finals = []
        for lo in range(0, len(self.configs), self.chunk):
            part = self.configs[lo : lo + self.chunk]
            result = engine.run_chunk(self.static, part, 0, self.chunk)  # np.asarray: waits
            finals.append(result.curves["test_error"][:, -1])
        return time.perf_counter() - start, {"final": np.concatenate(finals)}


class JittedLoop:
    """A Python loop over configurations calling one jitted single-configuration run."""

    def __init__(self, configs: list[dict]):
        self.configs, self.static = configs, static_of(configs)
        self.function = jax.jit(pipeline.run_configuration, static_argnums=0)
        self.compiled = None

    def _args(self, c):
        key = engine._key(jnp.asarray(engine.key_words(0, c)))
        return cfg.split(c)[1], key

    def compile(self) -> float:
        start = time.perf_counter()
        with jax.default_matmul_precision(self.static.precision):
            lowered = self.function.lower(self.static, *self._args(self.configs[0]))
            self.compiled = lowered.compile()
        return time.perf_counter() - start

    def __call__(self, configs: list[dict]) -> tuple[float, dict]:
        start = time.perf_counter()
        finals = []
        for c in configs:
            curves, _ = self.compiled(*self._args(c))
            finals.append(float(np.asarray(curves["test_error"])[-1]))  # waits
        return time.perf_counter() - start, {"final": np.array(finals)}


def baseline_loop(function: Callable, configs: list[dict]) -> tuple[float, dict]:
    """A Python loop over configurations of a baseline (``run_numpy`` / ``run_torch``)."""
    start = time.perf_counter()
    finals = [
        function(baseline_config(c), seed=1000 + i)["test_error"][-1] for i, c in enumerate(configs)
    ]
    return time.perf_counter() - start, {"final": np.array(finals)}


def set_baseline_threads(threads: int) -> dict[str, str]:
    """Threads of the baselines' libraries: PyTorch's intra-op pool and NumPy's OpenBLAS.

    On a shared 2-core machine the libraries' default (one thread per core) can be
    many times slower than one thread, because their workers spin while other
    processes hold the cores; the benchmarks therefore pick the faster setting
    (``--baseline-threads auto``) and report it."""
    import ctypes

    done = {}
    try:
        import torch

        torch.set_num_threads(threads)
        done["torch"] = str(torch.get_num_threads())
    except ImportError:
        pass
    libraries = sorted(
        {
            line.split()[-1]
            for line in open("/proc/self/maps")
            if "openblas" in line and line.split()[-1].startswith("/")
        }
    )
    for path in libraries:
        library = ctypes.CDLL(path)
        for name in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads"):
            if hasattr(library, name):
                getattr(library, name)(ctypes.c_int(threads))
                done["openblas"] = str(threads)
                break
    return done


def pick_baseline_threads(configuration: dict, steps: int = 20) -> int:
    """1 or ``os.cpu_count()`` threads, whichever runs a short PyTorch + NumPy run of
    ``configuration`` faster now (best of 2 tries each)."""
    import baselines

    short = {
        **baseline_config(configuration),
        "steps": steps,
        "eval_steps": [0, steps],
        "weak_steps": 2,
    }
    best = {}
    for threads in sorted({1, os.cpu_count() or 1}):
        set_baseline_threads(threads)
        tries = []
        for _ in range(2):
            start = time.perf_counter()
            for function in (baselines.run_numpy, baselines.run_torch):
                try:
                    function(short, seed=0)
                except ImportError:
                    pass
            tries.append(time.perf_counter() - start)
        best[threads] = min(tries)
    choice = min(best, key=best.get)
    log(f"  baseline threads: {best} s for a short run -> {choice}")
    set_baseline_threads(choice)
    return choice


# ---------------------------------------------------------------------- machine limits


def matmul_rate(size: int = 2048, repeats: int = 5) -> float:
    """float32 FLOP/s of a large square matrix product through JAX (median of repeats)."""
    a = jax.device_put(np.random.default_rng(0).standard_normal((size, size), np.float32))
    product = jax.jit(lambda x: x @ x)
    product(a).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        product(a).block_until_ready()
        times.append(time.perf_counter() - start)
    return 2 * size**3 / float(np.median(times))


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


# ---------------------------------------------------------------------- analytic counts


def noise_dims(static: cfg.Static, d: float) -> tuple[int, int]:
    """``(D_strong, D_weak)``: noise coordinates of the two phases (backend-dependent)."""
    from w2s_jax.backends import noise_dim_strong, noise_dim_weak

    return (
        noise_dim_strong(static.backend, int(d), static.m, static.n_pad),
        noise_dim_weak(static.backend, int(d), static.weak_n),
    )


def step_counts(n: int, D: int, F: int, itemsize: int = 4) -> dict[str, float]:
    """FLOPs and bytes of ONE strong training step (full-batch GD) of one configuration.

    ``n`` rows (padded), ``D`` noise coordinates, ``F = 2m`` filters:

    * FLOPs ``= 4 n D F`` (forward ``xi W^T`` and gradient ``C^T xi``, 2 n D F each)
      ``+ 32 n F`` (the two 4-coordinate signal patches, forward and gradient)
      ``+ 2 F (D + 4)`` (the update); elementwise work, O(n F), is not counted.
    * bytes, minimum for the step ``= itemsize (n D + 2 F D)``: the noise matrix ``xi``
      read once, the filters read and written once (``bytes_two_reads`` adds the second
      read of ``xi`` that an unfused forward + backward pays).
    """
    flops = 4 * n * D * F + 32 * n * F + 2 * F * (D + 4)
    once = itemsize * (n * D + 2 * F * D)
    return {
        "flops": float(flops),
        "bytes": float(once),
        "bytes_two_reads": float(once + itemsize * n * D),
    }


def dual_step_counts(n: int, F: int, itemsize: int = 4) -> dict[str, float]:
    """FLOPs and minimum bytes of ONE strong step in the dual form
    (``training.train_in_span``): ``2 n^2 F`` (``K A^T``) ``+ 32 n F`` (signal patches)
    FLOPs; the Gram matrix ``K (n, n)`` read once, the coefficients ``A (F, n)`` read and
    written once."""
    return {
        "flops": float(2 * n * n * F + 32 * n * F),
        "bytes": float(itemsize * (n * n + 2 * F * n)),
    }


def pipeline_counts(static: cfg.Static, d: float, steps: int, weak_steps: int) -> dict[str, float]:
    """FLOPs and minimum bytes of a whole configuration (teacher, student, evaluations).

    Teacher: ``weak_steps`` steps of a 1-filter model on ``n_weak x D_w``: ``4 n_w D_w``
    FLOPs and ``4 n_w D_w`` bytes (one read) each. Student: ``strong_steps`` x
    :func:`step_counts`, or in the dual form (``pipeline.use_dual_form``) the Gram
    matrix (``2 n^2 D`` FLOPs, ``xi`` read once), ``strong_steps`` x
    :func:`dual_step_counts` and, per evaluation and per anchor, the filters rebuilt
    (``4 n D F``, ``xi`` read twice). Evaluations (E steps): forward on the
    test and training sets ``2 (n_test + n) D F`` FLOPs, reading both noise matrices
    once. Data: every noise matrix written once when drawn (RNG arithmetic not counted).
    """
    D, Dw = noise_dims(static, d)
    item = np.dtype(static.dtype).itemsize
    F, n, t = 2 * static.m, static.n_pad, static.n_test
    runs = 2 if static.ceiling else 1
    evals = len(cfg.eval_steps(steps, static.eval_points))
    if pipeline.use_dual_form(static, n, D):
        anchors = steps // training.ANCHOR_EVERY
        step = dual_step_counts(n, F, item)
        fixed_flops = 2 * n * n * D + (anchors + evals - 1) * 4 * n * D * F
        fixed_bytes = item * n * D * (1 + 2 * (anchors + evals - 1))
    else:
        step = step_counts(n, D, F, item)
        fixed_flops = fixed_bytes = 0
    flops = weak_steps * 4 * static.weak_n * Dw + runs * (
        fixed_flops + steps * step["flops"] + evals * 2 * (t + n) * D * F
    )
    data_bytes = item * (static.weak_n * Dw + (n + t + F) * D)
    bytes_ = (
        data_bytes
        + weak_steps * item * static.weak_n * Dw
        + runs * (fixed_bytes + steps * step["bytes"] + evals * item * (t + n) * D)
    )
    return {"flops": float(flops), "bytes": float(bytes_)}


# ---------------------------------------------------------------------- timing, tables


def interleaved(
    tasks: dict[str, Callable[[int], float]], repeats: int, log: Callable[[str], None] | None = None
) -> dict[str, list[float]]:
    """Run ``tasks[name](repeat)`` round-robin ``repeats`` times; each returns seconds
    per unit (per configuration, per step, ...), or a list of such timings. Returns
    every measurement per task."""
    times: dict[str, list] = {name: [] for name in tasks}
    for repeat in range(repeats):
        for name, task in tasks.items():
            times[name].append(task(repeat))
            if log:
                value = times[name][-1]
                shown = ", ".join(f"{v:.4g}" for v in np.atleast_1d(value))
                log(f"  repeat {repeat} {name}: {shown} (load {load_now()})")
    return times


def table(rows: list[dict], columns: list[str]) -> str:
    """A GitHub-markdown table of ``rows`` (dicts) restricted to ``columns``."""
    text = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in text)) for i, c in enumerate(columns)]
    line = lambda cells: "| " + " | ".join(x.ljust(w) for x, w in zip(cells, widths)) + " |"
    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in text])


def spread(values: list[float]) -> str:
    return f"{min(values):.3g}–{max(values):.3g}"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def today() -> str:
    return datetime.date.today().isoformat()
