"""The sweep engine: a planned chunk of configurations -> one compiled program -> its
results.

This is the one place where the batch axis is added (``jax.vmap``; ``lax.map`` for
students that train alone, ``cost_model.students_alone``) and where ``jax.jit`` sits.
``planner`` groups configurations into programs, ``chunking`` sizes the chunks; a chunk
(the last one padded) is split over the local devices along its configuration axis
(``jax.shard_map``). Inside
a chunk the weak teachers are trained once per distinct teacher identity and shared by
the students.

A configuration's PRNG key is ``fold_in`` of the grid's base seed, its ``seed`` and the
digest of its teacher identity, so results do not depend on chunking, devices, process
or order.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from w2s_jax.execution import chunking, compile_cache, executable_store, planner
from w2s_jax.execution.columns import Columns
from w2s_jax.simulation import config as cfg
from w2s_jax.simulation import cost_model, images, pipeline
from w2s_jax.simulation.identity import teacher_identity

AXIS = "configs"  # the mesh axis a chunk's configurations are split along


# ------------------------------------------------------------------ compiled chunk


def _key(words):
    """A configuration's key from ``(base seed, seed, digest_hi, digest_lo)``."""
    key = jax.random.key(words[0])
    for word in (words[1], words[2], words[3]):
        key = jax.random.fold_in(key, word)
    return key


def _chunk_program(on_trace, static, mesh, bank, *args):
    """:func:`_run_shard` on one device, or on every device of ``mesh`` (each its own
    slice of every argument, as independent programs: a program partitioned by XLA
    instead synchronises the devices at every step of every training loop). ``bank``
    (the image bank, or None) is an argument, not a constant: one compile serves any
    bank of its shape, and every device holds a whole copy. ``on_trace()`` is called
    while JAX traces (a warm run from the executable store traces nothing)."""
    on_trace()
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

    if cost_model.students_alone(static, jax.default_backend()):
        # One student at a time, unbatched: the same program whatever the chunk holds.
        return jax.lax.map(lambda args: student(*args), (params, words, teacher_slot))
    return jax.vmap(student)(params, words, teacher_slot)


# run.compile = "fast": XLA's backend (LLVM) optimisation off: compiles ~2x faster, runs
# slower (cost_model.FAST_SLOWDOWN), and changes results in the last bits (so it is part
# of Static).
FAST_OPTIONS = {"xla_backend_optimization_level": 0}


@dataclass(frozen=True)
class CompileRecord:
    """One program compiled (or loaded) for a run: ``source`` says from where (None:
    XLA compiled it here), ``stored`` whether it went into the executable store,
    ``traces`` how often its Python ran (0 when loaded from the store)."""

    static: cfg.Static
    configurations_per_chunk: int
    seconds: float
    source: str | None
    stored: bool
    traces: int

    @property
    def from_cache(self) -> bool:
        return self.source is not None

    def entry(self) -> dict:
        """The record as the manifest holds it (under its program)."""
        return {
            "compile": self.static.compile,
            "configurations_per_chunk": self.configurations_per_chunk,
            "seconds": round(self.seconds, 3),
            "from_cache": self.from_cache,
            "source": self.source,
            "stored": self.stored,
        }


class Executables:
    """Compiled chunk programs held in memory, by program and argument shapes: a
    notebook that runs grid after grid compiles (or loads) each program once. One per
    process (:data:`IN_MEMORY`), shared by runs and their compile threads under a lock;
    a program is built by one thread while the others asking for it wait."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._programs: dict[Any, Any] = {}
        self._building: dict[Any, threading.Lock] = {}

    def get(self, signature, build: Callable[[], Any]) -> tuple[Any, bool]:
        """The program ``signature`` names, built by ``build()`` if absent; and whether
        it was built by this call."""
        with self._lock:
            if signature in self._programs:
                return self._programs[signature], False
            building = self._building.setdefault(signature, threading.Lock())
        with building:
            with self._lock:
                if signature in self._programs:
                    return self._programs[signature], False
            try:
                program = build()
                with self._lock:
                    self._programs[signature] = program
            finally:
                with self._lock:
                    self._building.pop(signature, None)
            return program, True

    def __len__(self) -> int:
        with self._lock:
            return len(self._programs)

    def clear(self) -> None:
        with self._lock:
            self._programs.clear()


IN_MEMORY = Executables()


class Compiler:
    """What one run compiles: its programs come from ``executables`` (memory), the
    executable store or JAX's cache in ``cache``, or XLA; each one built is a
    :class:`CompileRecord` of this run (threads may compile at once)."""

    def __init__(
        self, cache: compile_cache.Cache | None = None, executables: Executables = IN_MEMORY
    ) -> None:
        self.cache = cache or compile_cache.Cache()
        self.executables = executables
        self._lock = threading.Lock()
        self._records: list[CompileRecord] = []

    @property
    def records(self) -> tuple[CompileRecord, ...]:
        with self._lock:
            return tuple(self._records)

    def executable(self, chunk: PreparedChunk):
        """The compiled program of ``chunk``."""
        return self.compile(chunk)[0]

    def compile(self, chunk: PreparedChunk) -> tuple[Any, CompileRecord | None]:
        """The compiled program of ``chunk`` and its record (None: it was in memory)."""
        shapes = tuple((leaf.shape, str(leaf.dtype)) for leaf in jax.tree.leaves(chunk.args))
        record: list[CompileRecord] = []
        program, built = self.executables.get(
            (chunk.static, chunk.mesh, shapes), lambda: self._build(chunk, record)
        )
        if not built:
            return program, None
        with self._lock:
            self._records.append(record[0])
        return program, record[0]

    def _build(self, chunk: PreparedChunk, record: list[CompileRecord]):
        """Load the program from the executable store (no tracing), else trace and
        compile it (or read it from JAX's persistent cache), timed."""
        static, args, mesh = chunk.static, chunk.args, chunk.mesh
        start = time.perf_counter()
        options = FAST_OPTIONS if static.compile == "fast" else {}
        name = executable_store.key(static, args, mesh, options)
        storable = executable_store.storable(static)
        # A program without a mesh runs on the default device; with one, on its devices.
        devices = list(mesh.devices.flat) if mesh is not None else jax.local_devices()[:1]
        compiled = executable_store.load(name, devices, self.cache) if storable else None
        source, stored, traces = "executable store", False, []
        if compiled is None:

            def compile_now():
                run = functools.partial(_chunk_program, lambda: traces.append(1))
                jitted = jax.jit(run, static_argnums=(0, 1))
                with jax.default_matmul_precision(static.precision):
                    return jitted.lower(static, mesh, *args).compile(compiler_options=options)

            compiled, cached = compile_cache.compile_and_check(compile_now, self.cache.warn)
            source = "compilation cache" if cached else None
            # Only what XLA compiled here is stored: an XLA:CPU executable read back from
            # JAX's cache serialises without its compiled functions ("Function ... not
            # found" when run). Runs of stored programs only keep JAX's cache off.
            if storable and not cached:
                stored = executable_store.save(name, compiled, self.cache)
        seconds = time.perf_counter() - start
        record.append(
            CompileRecord(static, int(len(args[4])), seconds, source, stored, len(traces))
        )
        return compiled


def key_words(base_seed: int, config: dict) -> np.ndarray:
    digest = int(teacher_identity(config)[:16], 16)
    return np.array([base_seed, config["seed"], digest >> 32, digest & 0xFFFFFFFF], np.uint32)


def _key_words_of(columns: Columns, rows: np.ndarray, base_seed: int) -> np.ndarray:
    """:func:`key_words` of the configurations at ``rows``, at once: the teacher
    digest's first 8 bytes as two big-endian words."""
    table, teacher_of = columns.teachers()
    digests = table[teacher_of[rows]]
    high = digests[:, 0:4].copy().view(">u4").reshape(-1)
    low = digests[:, 4:8].copy().view(">u4").reshape(-1)
    seeds = columns.at("seed", rows).astype(np.uint32)
    return np.stack([np.full(len(rows), base_seed, np.uint32), seeds, high, low], axis=1)


def _pad_rows(rows: np.ndarray, size: int) -> np.ndarray:
    return np.concatenate([rows, np.full(size - len(rows), rows[-1], rows.dtype)])


@dataclass
class ChunkResult:
    """``ids``: the configurations' identities; ``steps (C, E)``: each
    configuration's evaluation steps (its last repeated as padding); ``curves`` name ->
    ``(C, E)``; ``scalars`` name -> ``(C,)``."""

    ids: list[str]
    steps: np.ndarray
    curves: dict[str, np.ndarray]
    scalars: dict[str, np.ndarray]
    seconds: float = 0.0  # the compiled program's own time: from its call to its results


@dataclass
class PreparedChunk:
    """A chunk's arguments, placed on its devices, ready to compile and run; ``ids``:
    the identities of its real configurations (without the padding)."""

    static: cfg.Static
    args: tuple
    mesh: Mesh | None
    ids: np.ndarray


def prepare_chunk(
    static: cfg.Static, configs: list[dict], base_seed: int, size: int
) -> PreparedChunk:
    """:func:`prepare_rows` of resolved configuration dicts (all of one program)."""
    columns = Columns.of_dicts(list(configs))
    return prepare_rows(static, columns, np.arange(len(configs)), base_seed, size)


def prepare_rows(
    static: cfg.Static, columns: Columns, rows: np.ndarray, base_seed: int, size: int
) -> PreparedChunk:
    """Pad the configurations at ``rows`` of ``columns`` (all of one program) to
    ``size`` and lay out the arguments: the distinct teachers, every configuration's
    parameters and key words, and which teacher each student uses; from the columns at
    once (no dict, identity or parameter object per configuration)."""
    real = np.asarray(rows, np.int64)
    rows = _pad_rows(real, size)
    teacher_of = columns.teachers()[1][rows]
    # The distinct teachers in order of first appearance, each with its first row.
    distinct, first, inverse = np.unique(teacher_of, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    position = np.empty(len(distinct), np.int64)
    position[order] = np.arange(len(distinct))
    teacher_rows = rows[first[order]]
    devices = jax.local_devices()[: chunking.devices_for(size, chunking.alone_for(static))]
    # One teacher slot per student while the spare slots are cheap (the same shapes
    # whatever the chunk holds, see chunking.PAD_FLOPS), else a power of two: few shapes.
    per_device = 2 ** math.ceil(math.log2(len(distinct))) / len(devices)
    teacher_count = len(devices) * max(2, math.ceil(per_device))
    longest = int(columns.at("weak.steps", rows).max())
    d = columns.at("data.d", rows[:1])[0].item()
    spare = (size - len(distinct)) * cost_model.teacher_flops(static, d, longest)
    if spare <= chunking.PAD_FLOPS:
        teacher_count = max(teacher_count, size)
    teacher_rows = _pad_rows(teacher_rows, teacher_count)
    traced = lambda at: cfg.stacked_traced_part(  # noqa: E731
        lambda key: columns.at(key, at), static.dtype
    )
    args = (
        traced(teacher_rows),
        _key_words_of(columns, teacher_rows, base_seed),
        traced(rows),
        _key_words_of(columns, rows, base_seed),
        position[inverse.reshape(-1)].astype(np.int32),
    )
    bank = images.device_bank(static)
    mesh = None
    if len(devices) > 1:
        mesh = Mesh(np.array(devices), (AXIS,))
        args = jax.device_put(args, NamedSharding(mesh, PartitionSpec(AXIS)))
        bank = jax.device_put(bank, NamedSharding(mesh, PartitionSpec()))
    return PreparedChunk(static, (bank, *args), mesh, columns.id_array()[real])


def run_prepared(chunk: PreparedChunk, compiler: Compiler | None = None) -> ChunkResult:
    """Compile (or find) the chunk's program and run it (``compiler``: the run's; None:
    one without disk caches)."""
    program = (compiler or Compiler()).executable(chunk)
    start = time.perf_counter()
    curves, scalars = program(*chunk.args)
    n_real = len(chunk.ids)
    curves = {k: np.asarray(v)[:n_real] for k, v in curves.items()}  # waits for the results
    scalars = {k: np.asarray(v)[:n_real] for k, v in scalars.items()}
    seconds = time.perf_counter() - start
    steps = np.asarray(chunk.args[3].strong.eval_steps)[:n_real]  # args: bank, teachers, ...
    return ChunkResult(chunk.ids.astype("U24").tolist(), steps, curves, scalars, seconds)


def run_chunk(
    static: cfg.Static,
    configs: list[dict],
    base_seed: int,
    size: int,
    compiler: Compiler | None = None,
) -> ChunkResult:
    """Run ``configs`` (all of one program) as one padded, sharded, compiled chunk."""
    return run_prepared(prepare_chunk(static, configs, base_seed, size), compiler)


def run_alone(
    configuration: dict, base_seed: int = 0, compiler: Compiler | None = None
) -> ChunkResult:
    """One configuration alone, through the same compiled path as a sweep (what
    ``run_one`` calls; ``pipeline.run_configuration`` is the unbatched pipeline it runs)."""
    (program,) = planner.plan([configuration])
    size = chunking.chunk_size_for(1, chunking.alone_for(program.static))
    return run_chunk(program.static, [configuration], base_seed, size, compiler)


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
