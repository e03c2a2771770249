"""The executable store: a warm run loads its programs without tracing them, with the
traced run's results bit for bit; a bad entry costs a compile and one warning line."""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest

from conftest import tiny_config
from w2s_jax.execution import chunking, compile_cache, engine, executable_store
from w2s_jax.simulation import config as cfg


@pytest.fixture
def cache(tmp_path):
    """A store of this test's own (JAX's cache off, as in a sweep of stored programs),
    the test session's cache restored afterwards."""
    with compile_cache.using(tmp_path / "cache", jax_cache=False) as cache:
        yield cache


@pytest.fixture
def store(cache):
    return cache.directory / executable_store.SUBDIRECTORY


def configurations(d: int = 176) -> list[dict]:
    # Own sizes (d = 176): no other test has this program in memory already.
    return [tiny_config(**{"data.d": d, "strong.lr": lr}) for lr in (0.5, 1.0, 2.0)]


def run_fresh(configs: list[dict], cache) -> tuple[engine.ChunkResult, engine.CompileRecord]:
    """Run ``configs`` as one chunk as a new process would (no program in memory); the
    result and the record of its one compile."""
    jax.clear_caches()  # JAX's in-memory trace and compile caches too
    compiler = engine.Compiler(cache, engine.Executables())
    static = cfg.split(configs[0])[0]
    result = engine.run_chunk(static, configs, 0, chunking.chunk_size_for(len(configs)), compiler)
    (record,) = compiler.records
    return result, record


def assert_bitwise_equal(a: engine.ChunkResult, b: engine.ChunkResult) -> None:
    assert a.ids == b.ids
    for x, y in zip(jax.tree.leaves((a.curves, a.scalars)), jax.tree.leaves((b.curves, b.scalars))):
        assert np.array_equal(x, y, equal_nan=True) and x.dtype == y.dtype


def test_a_warm_store_traces_nothing_and_gives_the_traced_bits(cache, store):
    configs = configurations()
    traced, record = run_fresh(configs, cache)
    assert (record.traces, record.source, record.stored) == (1, None, True)
    assert len(list(store.glob("*.pkl"))) == 1
    warm, record = run_fresh(configs, cache)
    assert (record.traces, record.source, record.stored) == (0, "executable store", False)
    assert_bitwise_equal(traced, warm)
    # Another program shape (one configuration more per chunk) is another entry.
    _, record = run_fresh([*configs, tiny_config(**{"data.d": 176, "strong.lr": 3.0})], cache)
    assert record.traces == 1 and len(list(store.glob("*.pkl"))) == 2


def test_a_corrupt_entry_costs_a_trace_and_one_warning(cache, store, capsys):
    configs = configurations()[:2]
    reference, _ = run_fresh(configs, cache)
    (entry,) = store.glob("*.pkl")
    entry.write_bytes(b"not an executable")
    again, record = run_fresh(configs, cache)
    assert record.traces == 1 and record.stored
    assert capsys.readouterr().err.count("warning:") == 1
    assert len(cache.warn.said) == 1 and "unusable" in cache.warn.said[0]
    assert_bitwise_equal(reference, again)
    name, devices = executable_store_key(configs), jax.local_devices()[:1]
    assert executable_store.load(name, devices, cache) is not None  # rewritten


def test_an_executable_from_jax_cache_is_not_stored(store):
    # Read back from JAX's cache, an XLA:CPU executable serialises without its compiled
    # functions: storing it would break the next run.
    with compile_cache.using(store.parent, jax_cache=True) as cache:
        configs = configurations()[1:]
        reference, _ = run_fresh(configs, cache)
        (entry,) = store.glob("*.pkl")
        entry.unlink()
        again, record = run_fresh(configs, cache)  # traced, then served by JAX's cache
    assert (record.source, record.stored) == ("compilation cache", False)
    assert not list(store.glob("*.pkl"))
    assert_bitwise_equal(reference, again)


def test_two_compiles_at_once_each_get_their_own_cache_hit(store, monkeypatch):
    """With JAX's cache on, program A is served by it while program B compiles in another
    thread, B's compile spanning A's hit: A is recorded from the cache and not stored, B
    compiled and stored (a process-wide hit counter credited A's hit to B)."""
    one, other = configurations()[:2], configurations(d=168)[:2]
    with compile_cache.using(store.parent, jax_cache=True) as cache:
        reference, _ = run_fresh(one, cache)  # A into JAX's cache (and the store)
        (entry,) = store.glob("*.pkl")
        entry.unlink()  # so that A is traced and served by JAX's cache
        jax.clear_caches()
        compiler = engine.Compiler(cache, engine.Executables())
        b_started, a_done = threading.Event(), threading.Event()
        real = compile_cache.compile_and_check

        def in_order(compile_fn, warn=None):  # B starts, A compiles and ends, B compiles
            if threading.current_thread().name == "B":

                def after_a():
                    b_started.set()
                    assert a_done.wait(120)
                    return compile_fn()

                return real(after_a, warn)
            assert b_started.wait(120)
            try:
                return real(compile_fn, warn)
            finally:
                a_done.set()

        monkeypatch.setattr(compile_cache, "compile_and_check", in_order)
        chunks = {
            name: engine.prepare_chunk(cfg.split(c[0])[0], c, 0, chunking.chunk_size_for(2))
            for name, c in (("A", one), ("B", other))
        }
        records = {}
        threads = [
            threading.Thread(
                name=name, target=lambda n=name: records.update({n: compiler.compile(chunks[n])[1]})
            )
            for name in chunks
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        again = engine.run_prepared(chunks["A"], compiler)
    assert (records["A"].source, records["A"].stored) == ("compilation cache", False)
    assert (records["B"].source, records["B"].stored) == (None, True)
    assert set(compiler.records) == set(records.values())
    assert len(list(store.glob("*.pkl"))) == 1  # B's
    assert_bitwise_equal(reference, again)


def test_cache_warnings_go_to_the_compile_of_their_thread():
    """JAX's warning about an unusable entry, raised in one thread while another thread
    compiles, is that thread's compile's warning line; the warning machinery is given
    back afterwards."""
    shown = warnings.showwarning
    inside, leave = threading.Event(), threading.Event()
    mine, theirs = compile_cache.OneWarning(), compile_cache.OneWarning()

    def quiet():
        inside.set()
        assert leave.wait(30)
        return "quiet"

    def noisy():
        assert inside.wait(30)
        text = "Error reading persistent compilation cache entry for 'jit_f': bad"
        warnings.warn(text, stacklevel=1)
        leave.set()
        return "noisy"

    results = {}
    threads = [
        threading.Thread(
            target=lambda: results.update(q=compile_cache.compile_and_check(quiet, theirs))
        ),
        threading.Thread(
            target=lambda: results.update(n=compile_cache.compile_and_check(noisy, mine))
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {"q": ("quiet", False), "n": ("noisy", False)}
    assert len(mine.said) == 1 and "jit_f" in mine.said[0] and theirs.said == []
    assert warnings.showwarning is shown


def executable_store_key(configs: list[dict]) -> str:
    static = cfg.split(configs[0])[0]
    chunk = engine.prepare_chunk(static, configs, 0, chunking.chunk_size_for(len(configs)))
    options = engine.FAST_OPTIONS if static.compile == "fast" else {}
    return executable_store.key(static, chunk.args, chunk.mesh, options)


def test_the_key_sees_what_makes_a_program():
    configs = configurations()
    base = executable_store_key(configs)
    assert executable_store_key(configs) == base  # stable
    assert executable_store_key([tiny_config(**{"data.d": 180})] * 2) != base  # static
    assert executable_store_key(configs[:2]) != base  # shapes (chunk of 2, not 3)


def test_programs_with_user_functions_are_not_stored():
    static = cfg.split(tiny_config())[0]
    assert executable_store.storable(static)
    assert not executable_store.storable(cfg.Static(**{**vars(static), "metrics": (("m", len),)}))


def test_eviction_keeps_the_most_recently_used(tmp_path):
    for k, age in enumerate((30, 10, 20)):
        path = tmp_path / f"{k}.pkl"
        path.write_bytes(b"x" * 100)
        os.utime(path, (1e9 - age, 1e9 - age))
    executable_store.evict(tmp_path, limit=200)
    assert sorted(p.name for p in tmp_path.glob("*.pkl")) == ["1.pkl", "2.pkl"]


class _Touch:
    """A foreign pickle: unpickling it creates ``marker`` (code run on load)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _foreign_entries(store: Path, name: str, marker: Path) -> dict[str, bytes]:
    import hashlib
    import pickle

    payload = pickle.dumps(_Touch(marker))
    digest = hashlib.sha256(payload).hexdigest()
    head = executable_store.MAGIC + b" " + str(executable_store.FORMAT).encode() + b" "
    return {
        "bare pickle": payload,
        "wrong digest": head + name.encode() + b" " + b"0" * 64 + b"\n" + payload,
        "another key": head + b"f" * 64 + b" " + digest.encode() + b"\n" + payload,
        "truncated": executable_store._header(name, payload) + payload[:-3],
    }


@pytest.mark.parametrize("case", ["bare pickle", "wrong digest", "another key", "truncated"])
def test_a_foreign_entry_is_never_unpickled(case, cache, store, tmp_path, capsys):
    name, marker = "a" * 64, tmp_path / "marker"
    store.mkdir(mode=0o700, parents=True, exist_ok=True)
    (store / f"{name}.pkl").write_bytes(_foreign_entries(store, name, marker)[case])
    assert executable_store.load(name, jax.local_devices()[:1], cache) is None
    assert not marker.exists()
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and f"{name}.pkl" in err


def test_a_directory_others_may_write_is_not_used(cache, store, tmp_path, capsys):
    import pickle

    # A well-formed entry (right key, right digest) of a foreign pickle: what someone
    # who may write the directory could plant. The modes alone refuse it.
    name, marker = "b" * 64, tmp_path / "marker"
    payload = pickle.dumps(_Touch(marker))
    blob = executable_store._header(name, payload) + payload
    assert executable_store._verified_payload(name, blob) == payload  # the header passes
    store.mkdir(mode=0o700, parents=True, exist_ok=True)
    entry = store / f"{name}.pkl"
    entry.write_bytes(blob)
    for target, mode in ((store, 0o777), (store, 0o770), (entry, 0o666)):
        os.chmod(store, 0o700)
        os.chmod(entry, 0o600)
        os.chmod(target, mode)
        run = compile_cache.Cache(cache.directory)  # a run of its own: its own warning
        assert executable_store.load(name, jax.local_devices()[:1], run) is None
        err = capsys.readouterr().err
        assert err.count("warning:") == 1 and "writable by group or others" in err
    assert not marker.exists()


def test_a_cache_directory_others_may_write_is_not_used(tmp_path, capsys):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    assert compile_cache.directory_for(shared) is None  # neither JAX's cache nor the store
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and str(shared) in err and "not used" in err
    os.chmod(shared, 0o700)
    assert compile_cache.directory_for(shared) == shared
    created = compile_cache.directory_for(tmp_path / "new" / "cache")
    assert created is not None and os.stat(created).st_mode & 0o077 == 0  # made private
