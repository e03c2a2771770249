"""The sweep engine: configurations -> compiled programs -> chunks -> chunk files.

This is the one place where the batch axis is added (``jax.vmap``) and where ``jax.jit``
sits. Configurations that share their :class:`~w2s_jax.config.Static` part form one
*program*; a program runs in chunks of a fixed size (the last one padded), each chunk
split over the local devices along its configuration axis (``jax.shard_map``). Inside
a chunk the weak teachers are trained once per distinct teacher identity and shared by
the students.

A configuration's PRNG key is ``fold_in`` of the grid's base seed, its ``seed`` and the
digest of its teacher identity, so results do not depend on chunking, devices, process
or order.
"""

from __future__ import annotations

import functools
import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from w2s_jax import compile_cache, executable_store, images, memory, pipeline, training
from w2s_jax import config as cfg
from w2s_jax.backends import noise_dim_strong, noise_dim_weak
from w2s_jax.identity import identity, teacher_identity

DEFAULT_MAX_CHUNK = 1024
AXIS = "configs"  # the mesh axis a chunk's configurations are split along
CPU_MAX_PER_DEVICE = 8  # configurations per CPU device and chunk (see chunk_size)
CPU_L2_FACTOR = 4  # a CPU device's batch reads at most this many L2 caches per step
# A chunk keeps its program's standard size, padding a little pending work up to it,
# while the padding costs fewer FLOPs than this (seconds on a CPU core, about one
# compile): the program's shapes then do not depend on how much work is pending, so a
# re-run or an extended grid finds it in the compilation cache.
PAD_FLOPS = 1e11
MEMORY_SAFETY = 1.1  # XLA's buffers / the arrays counted in `cost`: 0.85-0.96 measured


# ------------------------------------------------------------------ planning


@dataclass(frozen=True)
class Cost:
    """Per-configuration estimate: peak bytes and FLOPs of one run, and the bytes its
    training loops read at every step (the largest noise matrix and Gram matrix)."""

    bytes: float
    flops: float
    hot_bytes: float


def cost(static: cfg.Static, d: float, steps: int, weak_steps: int) -> Cost:
    """Memory and FLOPs of one configuration of ``steps`` strong and ``weak_steps`` weak
    steps, counted from the shapes (not guessed)."""
    item = np.dtype(static.dtype).itemsize
    d_strong = noise_dim_strong(static.backend, int(d), static.m, static.n_pad)
    d_weak = noise_dim_weak(static.backend, int(d), static.weak_n)
    filters, samples = 2 * static.m, static.n_pad + static.n_test
    runs = 2 if static.ceiling else 1
    student = samples * (d_strong + 9) + 6 * filters * d_strong + 8 * samples * 3 * filters
    teacher = 2 * static.weak_n * (d_weak + 5) + 4 * max(2 * static.weak_m, 1) * d_weak
    if static.backend == "reduced":
        student += 2 * (filters + static.n_pad) ** 2
        teacher += 2 * static.weak_n**2
    evals = static.eval_points
    n = static.n_pad
    if pipeline.use_dual_form(static, n, d_strong):  # Gram, steps, re-anchoring
        anchors = steps // training.ANCHOR_EVERY + evals
        student_steps = 2 * n * n * d_strong + steps * 3 * n * n * filters
        student_steps += anchors * 4 * n * d_strong * filters
    else:
        student_steps = steps * 6 * n * d_strong * filters
    flops = runs * (student_steps + evals * 2 * samples * d_strong * filters) + teacher_flops(
        static, d, weak_steps
    )
    hot = max(static.weak_n * d_weak, static.n_pad * (d_strong + static.n_pad))
    return Cost(item * (student + teacher) * MEMORY_SAFETY, float(flops), float(item * hot))


@dataclass
class Program:
    """Configurations that share one compiled program."""

    static: cfg.Static
    indices: list[int]  # into the grid's configuration list, sorted by teacher
    cost: Cost  # of its most expensive configuration (the longest run)
    steps: int  # the most strong steps of its configurations (a chunk runs that long)

    @property
    def label(self) -> str:
        s = self.static
        return (
            f"{s.backend} d={s.d or 'traced'} n_pad={s.n_pad} m={s.m} "
            f"steps<={self.steps} n_weak={s.weak_n} n_test={s.n_test} compile={s.compile}"
        )


def plan(
    configs: list[dict], recorded: Callable[[cfg.Static], str | None] | None = None
) -> list[Program]:
    """Group configurations by their static part (in order of first appearance).

    ``run.compile = "auto"`` is decided per program from the work of all its
    configurations (:func:`w2s_jax.config.compile_mode`), so a configuration's program —
    and its results' last bits — depend on the grid it is run in, not on what is
    pending: a resumed run or another shard decides alike. ``recorded(static)`` (static
    with ``compile="auto"``) is the mode an earlier run in the same directory chose: an
    extended grid keeps it, so old and new configurations share one program (and its
    stored executable) even when the extension tips the work over the threshold."""
    undecided: dict[cfg.Static, list[int]] = defaultdict(list)
    for i, c in enumerate(configs):
        undecided[cfg.static_part(c, compile=c["run.compile"])].append(i)
    groups: dict[cfg.Static, list[int]] = defaultdict(list)
    for static, indices in undecided.items():
        if static.compile == "auto":
            before = recorded(static) if recorded else None
            work = sum(cfg.configuration_flops(configs[i], static.backend) for i in indices)
            mode = before if before in ("fast", "full") else cfg.compile_mode("auto", work)
            static = replace(static, compile=mode)
        groups[static].extend(indices)
    programs = []
    for static, indices in groups.items():
        teachers = {i: teacher_identity(configs[i]) for i in indices}
        indices.sort(key=lambda i: (teachers[i], i))
        d = max(configs[i]["data.d"] for i in indices)
        steps = max(int(configs[i]["strong.steps"]) for i in indices)
        weak_steps = max(int(configs[i]["weak.steps"]) for i in indices)
        programs.append(Program(static, indices, cost(static, d, steps, weak_steps), steps))
    return programs


def chunk_size(
    program: Program,
    pending: int,
    requested: int | None,
    max_memory: float | None,
    budget: memory.Budget | None = None,
) -> int:
    """Configurations per chunk: the request, or what fits the memory ``budget`` (of
    everything in flight, across devices: :func:`w2s_jax.memory.budget`) at most
    ``DEFAULT_MAX_CHUNK`` and not more than the work pending and, on CPU devices, what
    fits in the cache: every operation of a batched step streams the whole batch's
    matrices (``Cost.hot_bytes`` per configuration), so a device's batch is what
    ``CPU_L2_FACTOR`` times its core's L2 cache holds, between 2 and
    ``CPU_MAX_PER_DEVICE``. The factor is empirical (benchmarks/RESULTS.md, "CPU chunk
    size"): it picks the fastest measured chunk for both small benchmark cases, 2 per
    device at 1 MB per configuration and 8 at 160 kB. Raises
    :class:`~w2s_jax.memory.DoesNotFit` when pending work cannot fit at all."""
    devices = jax.local_device_count()
    if requested:
        return chunk_size_for(requested)
    budget = budget or memory.budget(max_memory)
    fits = functools.partial(_fits, program.cost.bytes, budget)
    if pending and not fits(chunk_size_for(1)):
        raise memory.DoesNotFit(_refusal(program, budget))
    size = max(1, int((budget.bytes - budget.reserved) // program.cost.bytes))
    if jax.local_devices()[0].platform == "cpu":
        per_device = CPU_L2_FACTOR * l2_cache_bytes() / max(program.cost.hot_bytes, 1.0)
        size = min(size, devices * min(CPU_MAX_PER_DEVICE, max(2, int(per_device))))
    size = min(size, DEFAULT_MAX_CHUNK)
    if not 0 < pending < size or (size - pending) * program.cost.flops > PAD_FLOPS:
        size = min(size, max(pending, 1))
        size = math.ceil(pending / math.ceil(pending / size)) if pending else size  # balance
    # Fewer configurations, hence fewer devices (never fewer than 2 per device), until
    # the chunk fits: rounding up to a multiple of the devices may not.
    while size > 1 and not fits(chunk_size_for(size)):
        size -= 1
    return chunk_size_for(size)


def _fits(bytes_per_configuration: float, budget: memory.Budget, size: int) -> bool:
    """Whether a chunk of ``size`` fits ``budget`` in all and on each device it uses."""
    per_device = size // devices_for(size)
    return (
        size * bytes_per_configuration + budget.reserved <= budget.bytes
        and per_device * bytes_per_configuration <= budget.per_device
    )


def _refusal(program: Program, budget: memory.Budget) -> str:
    """Why a program cannot run within ``budget``, and what would make it fit."""
    s, smallest = program.static, chunk_size_for(1)
    needed = smallest * program.cost.bytes + budget.reserved
    if budget.source == "--max-memory":
        remedy = f"raise --max-memory to at least {needed / 1e9:.3g} GB"
    else:
        more = (needed - budget.bytes) / 1e9
        remedy = f"it fits with {more:.3g} GB more budget: give the run more memory (--mem)"
    if s.backend == "dense":
        remedy += ', or use backend = "reduced" (memory independent of d)'
    return (
        f"program {s.backend} d={s.d or 'traced'} n_pad={s.n_pad} m={s.m} needs "
        f"{needed / 1e9:.3g} GB for its smallest exact chunk ({smallest} configurations "
        f"x {program.cost.bytes / 1e9:.3g} GB + {budget.reserved / 1e9:.2g} GB for XLA); "
        f"the memory budget is {budget.describe()}; "
        f"{remedy}"
    )


def chunk_size_for(configurations: int) -> int:
    """The chunk that holds ``configurations``: a multiple of the devices it runs on,
    at least 2 per device (XLA compiles a batch of one differently, the vmapped axis
    squeezed away, which would change results in the last bits; from 2 up every batch
    size gives bitwise the same numbers, so results do not depend on chunking)."""
    devices = max(1, min(jax.local_device_count(), configurations // 2))
    return max(2, math.ceil(configurations / devices)) * devices


def devices_for(size: int) -> int:
    """How many local devices a chunk of ``size`` runs on: the most that divide it with
    at least 2 configurations each (so small chunks are not padded to every device)."""
    most = max(1, min(jax.local_device_count(), size // 2))
    return max(k for k in range(1, most + 1) if size % k == 0)


def l2_cache_bytes() -> float:
    """Size of the host CPU's level-2 (data or unified) cache as seen by core 0 (Linux
    sysfs; 512 KiB when unknown)."""
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            if int((index / "level").read_text()) != 2:
                continue
            if (index / "type").read_text().strip() == "Instruction":
                continue
            text = (index / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)
    return 512.0 * 2**10


# ------------------------------------------------------------------ compiled chunk


def _key(words):
    """A configuration's key from ``(base seed, seed, digest_hi, digest_lo)``."""
    key = jax.random.key(words[0])
    for word in (words[1], words[2], words[3]):
        key = jax.random.fold_in(key, word)
    return key


def _run_chunk(static, mesh, bank, *args):
    """:func:`_run_shard` on one device, or on every device of ``mesh`` (each its own
    slice of every argument, as independent programs: a program partitioned by XLA
    instead synchronises the devices at every step of every training loop). ``bank``
    (the image bank, or None) is an argument, not a constant: one compile serves any
    bank of its shape, and every device holds a whole copy."""
    COMPILE_STATS["traces"] += 1  # runs only while JAX traces (tests count the traces)
    if mesh is None:
        return _run_shard(static, None, bank, *args)
    spec = PartitionSpec(AXIS)
    shard = functools.partial(_run_shard, static, AXIS)
    in_specs = (PartitionSpec(), *[spec] * len(args))
    run = jax.shard_map(shard, mesh=mesh, in_specs=in_specs, out_specs=spec, check_vma=False)
    return run(bank, *args)


def _run_shard(static, axis, bank, teacher_params, teacher_words, params, words, teacher_slot):
    """Train each distinct teacher once, then every student with its teacher gathered by
    ``teacher_slot`` (an index into the teachers of all devices along ``axis``).
    Everything but ``static``, ``axis`` and ``bank`` is batched along the leading axis."""
    teachers = jax.vmap(lambda p, w: pipeline.train_teacher(static, p, _key(w), bank))(
        teacher_params, teacher_words
    )
    if axis is not None:
        teachers = jax.lax.all_gather(teachers, axis, tiled=True)

    def student(p, w, slot):
        teacher = jax.tree.map(lambda x: x[slot], teachers)
        return pipeline.run_student(static, p, _key(w), teacher, bank)

    return jax.vmap(student)(params, words, teacher_slot)


_COMPILED: dict[Any, Any] = {}
# "traces": how often _run_chunk's Python ran (a warm run from the store traces nothing)
COMPILE_STATS = {"compiles": 0, "seconds": 0.0, "traces": 0}
COMPILE_LOG: list[dict] = []  # one entry per program compiled (or loaded) in this process
# run.compile = "fast": XLA's backend (LLVM) optimisation off: compiles 2-3x faster,
# runs ~1.5x slower, and changes results in the last bits (so it is part of Static).
FAST_OPTIONS = {"xla_backend_optimization_level": 0}


def _signature(static, args, mesh):
    shapes = tuple((leaf.shape, str(leaf.dtype)) for leaf in jax.tree.leaves(args))
    return (static, mesh, shapes)


def _compiled(static, args, mesh):
    """The compiled chunk program for these shapes: loaded from the executable store (no
    tracing), else traced and compiled (or read from JAX's persistent cache), timed."""
    signature = _signature(static, args, mesh)
    if signature not in _COMPILED:
        start = time.perf_counter()
        options = FAST_OPTIONS if static.compile == "fast" else {}
        name = executable_store.key(static, args, mesh, options)
        storable = executable_store.storable(static)
        # A program without a mesh runs on the default device; with one, on its devices.
        devices = list(mesh.devices.flat) if mesh is not None else jax.local_devices()[:1]
        compiled = executable_store.load(name, devices) if storable else None
        source = "executable store"
        if compiled is None:

            def compile_now():
                jitted = jax.jit(_run_chunk, static_argnums=(0, 1))
                with jax.default_matmul_precision(static.precision):
                    return jitted.lower(static, mesh, *args).compile(compiler_options=options)

            compiled, cached = compile_cache.compile_and_check(compile_now)
            source = "compilation cache" if cached else None
            # Only what XLA compiled here is stored: an XLA:CPU executable read back from
            # JAX's cache serialises without its compiled functions ("Function ... not
            # found" when run). Runs of stored programs only keep JAX's cache off.
            if storable and not cached:
                executable_store.save(name, compiled)
        _COMPILED[signature] = compiled
        seconds = time.perf_counter() - start
        COMPILE_STATS["compiles"] += 1
        COMPILE_STATS["seconds"] += seconds
        COMPILE_LOG.append(
            {
                "static": static,
                "compile": static.compile,
                "configurations_per_chunk": int(len(args[4])),  # the students' key words
                "seconds": round(seconds, 3),
                "from_cache": source is not None,
                "source": source,  # None: compiled here
            }
        )
    return _COMPILED[signature]


def key_words(base_seed: int, config: dict) -> np.ndarray:
    digest = int(teacher_identity(config)[:16], 16)
    return np.array([base_seed, config["seed"], digest >> 32, digest & 0xFFFFFFFF], np.uint32)


def _pad_to(items: list, size: int) -> list:
    return items + [items[-1]] * (size - len(items))


@dataclass
class ChunkResult:
    """``steps (C, E)``: each configuration's evaluation steps (its last repeated as
    padding); ``curves`` name -> ``(C, E)``; ``scalars`` name -> ``(C,)``."""

    ids: list[str]
    steps: np.ndarray
    curves: dict[str, np.ndarray]
    scalars: dict[str, np.ndarray]


@dataclass
class PreparedChunk:
    """A chunk's arguments, placed on its devices, ready to compile and run."""

    static: cfg.Static
    args: tuple
    mesh: Mesh | None
    configs: list[dict]  # the real ones (without the padding)

    def compile(self):
        return _compiled(self.static, self.args, self.mesh)


def prepare_chunk(
    static: cfg.Static, configs: list[dict], base_seed: int, size: int
) -> PreparedChunk:
    """Pad ``configs`` (all of one program) to ``size`` and lay out the arguments: the
    distinct teachers, every configuration's parameters and key words, and which
    teacher each student uses."""
    real = list(configs)
    configs = _pad_to(real, size)
    teacher_of = [teacher_identity(c) for c in configs]
    first = dict(zip(reversed(teacher_of), reversed(configs)))  # a config of each teacher
    teachers = list(dict.fromkeys(teacher_of))
    devices = jax.local_devices()[: devices_for(size)]
    # One teacher slot per student while the spare slots are cheap (the same shapes
    # whatever the chunk holds, see PAD_FLOPS), else a power of two: few shapes.
    per_device = 2 ** math.ceil(math.log2(len(teachers))) / len(devices)
    teacher_count = len(devices) * max(2, math.ceil(per_device))
    longest = max(int(c["weak.steps"]) for c in configs)
    if (size - len(teachers)) * teacher_flops(static, configs[0]["data.d"], longest) <= PAD_FLOPS:
        teacher_count = max(teacher_count, size)
    teacher_configs = _pad_to([first[t] for t in teachers], teacher_count)
    position = {t: i for i, t in enumerate(teachers)}
    slot = np.array([position[t] for t in teacher_of], np.int32)
    args = (
        cfg.stack([cfg.split(c)[1] for c in teacher_configs]),
        np.stack([key_words(base_seed, c) for c in teacher_configs]),
        cfg.stack([cfg.split(c)[1] for c in configs]),
        np.stack([key_words(base_seed, c) for c in configs]),
        slot,
    )
    bank = images.device_bank(static)
    mesh = None
    if len(devices) > 1:
        mesh = Mesh(np.array(devices), (AXIS,))
        args = jax.device_put(args, NamedSharding(mesh, PartitionSpec(AXIS)))
        bank = jax.device_put(bank, NamedSharding(mesh, PartitionSpec()))
    return PreparedChunk(static, (bank, *args), mesh, real)


def teacher_flops(static: cfg.Static, d: float, weak_steps: int) -> float:
    """FLOPs of training one teacher for ``weak_steps`` steps."""
    d_weak = noise_dim_weak(static.backend, int(d), static.weak_n)
    return float(weak_steps * 6 * static.weak_n * d_weak * max(2 * static.weak_m, 1))


def run_prepared(chunk: PreparedChunk) -> ChunkResult:
    """Compile (or find) the chunk's program and run it."""
    curves, scalars = chunk.compile()(*chunk.args)
    n_real = len(chunk.configs)
    curves = {k: np.asarray(v)[:n_real] for k, v in curves.items()}
    scalars = {k: np.asarray(v)[:n_real] for k, v in scalars.items()}
    steps = np.asarray(chunk.args[3].strong.eval_steps)[:n_real]  # args: bank, teachers, ...
    return ChunkResult([identity(c) for c in chunk.configs], steps, curves, scalars)


def run_chunk(static: cfg.Static, configs: list[dict], base_seed: int, size: int) -> ChunkResult:
    """Run ``configs`` (all of one program) as one padded, sharded, compiled chunk."""
    return run_prepared(prepare_chunk(static, configs, base_seed, size))


def run_configuration(configuration: dict, base_seed: int = 0) -> ChunkResult:
    """One configuration alone (through the same compiled path as a sweep)."""
    (program,) = plan([configuration])
    return run_chunk(program.static, [configuration], base_seed, chunk_size_for(1))


@dataclass
class Work:
    """What is left to do for one program: its pending configurations and chunk size."""

    program: Program
    pending: list[int]
    chunk: int
    chunks: list[list[int]] = field(default_factory=list)

    def __post_init__(self):
        self.chunks = [
            self.pending[i : i + self.chunk] for i in range(0, len(self.pending), self.chunk)
        ]


def share(programs: list[Program], index: int, count: int) -> set[int]:
    """The configurations of part ``index`` of ``count``: consecutive in program order,
    with about equal FLOPs (a configuration goes to the part holding its midpoint), so
    a process given the large-n program is not given as many configurations as one
    given the small-n one."""
    order = [i for p in programs for i in p.indices]
    weights = np.array([p.cost.flops for p in programs for _ in p.indices], float)
    middle = np.cumsum(weights) - weights / 2
    part = np.minimum((middle * count // max(weights.sum(), 1e-300)).astype(int), count - 1)
    return {i for i, k in zip(order, part) if k == index}


def schedule(
    programs: list[Program],
    done: set[str],
    ids: list[str],
    shard: tuple[int, int] | None,
    chunk: int | None,
    max_memory: float | None,
    budget: memory.Budget | None = None,
) -> list[Work]:
    """Pending configurations per program (this shard's part) and their chunking."""
    order = [i for p in programs for i in p.indices]
    mine = set(order) if shard is None else share(programs, *shard)
    work = []
    for program in programs:
        pending = [i for i in program.indices if i in mine and ids[i] not in done]
        size = chunk_size(program, len(pending), chunk, max_memory, budget)
        work.append(Work(program, pending, size))
    return work


def union_steps(configs: list[dict]) -> np.ndarray:
    """Every evaluation step of any configuration, sorted."""
    pairs = {(int(c["strong.steps"]), int(c["eval.points"])) for c in configs}
    return np.unique(np.concatenate([cfg.eval_steps(*pair) for pair in pairs]))


EFFICIENCY = 0.8  # achieved fraction of the matmul rate (measured on CPU), for estimates only


def measured_flop_rate() -> float:
    """Effective FLOP/s for estimates: a float32 matmul on the first device, x EFFICIENCY
    (the training step is memory-bound: a few FLOPs per byte of noise matrix)."""
    size = 1024
    a = jax.device_put(np.ones((size, size), np.float32))
    matmul = jax.jit(lambda x: x @ x)
    matmul(a).block_until_ready()
    start, repeats = time.perf_counter(), 5
    for _ in range(repeats):
        matmul(a).block_until_ready()
    return EFFICIENCY * repeats * 2 * size**3 / (time.perf_counter() - start)
