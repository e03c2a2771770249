"""The executable store: a warm run loads its programs without tracing them, with the
traced run's results bit for bit; a bad entry costs a compile and one warning line."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import numpy as np
import pytest

from conftest import tiny_config
from w2s_jax.execution import compile_cache, engine, executable_store, planner
from w2s_jax.simulation import config as cfg


@pytest.fixture
def store(tmp_path):
    """A store of this test's own (JAX's cache off, as in a sweep of stored programs),
    the test session's cache restored afterwards."""
    with compile_cache.using(tmp_path / "cache", jax_cache=False):
        yield tmp_path / "cache" / executable_store.SUBDIRECTORY


def configurations() -> list[dict]:
    # Own sizes (d = 176): no other test has this program in memory already.
    return [tiny_config(**{"data.d": 176, "strong.lr": lr}) for lr in (0.5, 1.0, 2.0)]


def run_fresh(configs: list[dict]):
    """Run ``configs`` as one chunk as a new process would: no program in memory."""
    engine._COMPILED.clear()
    jax.clear_caches()  # JAX's in-memory trace and compile caches too
    static = cfg.split(configs[0])[0]
    return engine.run_chunk(static, configs, 0, planner.chunk_size_for(len(configs)))


def assert_bitwise_equal(a: engine.ChunkResult, b: engine.ChunkResult) -> None:
    assert a.ids == b.ids
    for x, y in zip(jax.tree.leaves((a.curves, a.scalars)), jax.tree.leaves((b.curves, b.scalars))):
        assert np.array_equal(x, y, equal_nan=True) and x.dtype == y.dtype


def test_a_warm_store_traces_nothing_and_gives_the_traced_bits(store):
    configs = configurations()
    traces = engine.COMPILE_STATS["traces"]
    traced = run_fresh(configs)
    assert engine.COMPILE_STATS["traces"] == traces + 1
    assert len(list(store.glob("*.pkl"))) == 1
    warm = run_fresh(configs)
    assert engine.COMPILE_STATS["traces"] == traces + 1  # loaded, not traced
    assert engine.COMPILE_LOG[-1]["source"] == "executable store"
    assert_bitwise_equal(traced, warm)
    # Another program shape (one configuration more per chunk) is another entry.
    run_fresh([*configs, tiny_config(**{"data.d": 176, "strong.lr": 3.0})])
    assert engine.COMPILE_STATS["traces"] == traces + 2


def test_a_corrupt_entry_costs_a_trace_and_one_warning(store, capsys):
    configs = configurations()[:2]
    reference = run_fresh(configs)
    (entry,) = store.glob("*.pkl")
    entry.write_bytes(b"not an executable")
    compile_cache._state["warned"] = False
    traces = engine.COMPILE_STATS["traces"]
    again = run_fresh(configs)
    assert engine.COMPILE_STATS["traces"] == traces + 1
    assert capsys.readouterr().err.count("warning:") == 1
    assert_bitwise_equal(reference, again)
    name, devices = executable_store_key(configs), jax.local_devices()[:1]
    assert executable_store.load(name, devices) is not None  # rewritten


def test_an_executable_from_jax_cache_is_not_stored(store):
    # Read back from JAX's cache, an XLA:CPU executable serialises without its compiled
    # functions: storing it would break the next run.
    with compile_cache.using(store.parent, jax_cache=True):
        configs = configurations()[1:]
        reference = run_fresh(configs)
        (entry,) = store.glob("*.pkl")
        entry.unlink()
        again = run_fresh(configs)  # traced, then served by JAX's cache
    assert engine.COMPILE_LOG[-1]["source"] == "compilation cache"
    assert not list(store.glob("*.pkl"))
    assert_bitwise_equal(reference, again)


def executable_store_key(configs: list[dict]) -> str:
    static = cfg.split(configs[0])[0]
    chunk = engine.prepare_chunk(static, configs, 0, planner.chunk_size_for(len(configs)))
    options = engine.FAST_OPTIONS if static.compile == "fast" else {}
    return executable_store.key(static, chunk.args, chunk.mesh, options)


def test_the_key_sees_what_makes_a_program(store):
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
def test_a_foreign_entry_is_never_unpickled(case, store, tmp_path, capsys):
    name, marker = "a" * 64, tmp_path / "marker"
    store.mkdir(mode=0o700, parents=True, exist_ok=True)
    (store / f"{name}.pkl").write_bytes(_foreign_entries(store, name, marker)[case])
    compile_cache._state["warned"] = False
    assert executable_store.load(name, jax.local_devices()[:1]) is None
    assert not marker.exists()
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and f"{name}.pkl" in err


def test_a_directory_others_may_write_is_not_used(store, tmp_path, capsys):
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
        compile_cache._state["warned"] = False
        assert executable_store.load(name, jax.local_devices()[:1]) is None
        err = capsys.readouterr().err
        assert err.count("warning:") == 1 and "writable by group or others" in err
    assert not marker.exists()


def test_a_cache_directory_others_may_write_is_not_used(tmp_path, capsys):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    compile_cache._state["warned"] = False
    assert compile_cache.directory_for(shared) is None  # neither JAX's cache nor the store
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and str(shared) in err and "not used" in err
    os.chmod(shared, 0o700)
    assert compile_cache.directory_for(shared) == shared
    created = compile_cache.directory_for(tmp_path / "new" / "cache")
    assert created is not None and os.stat(created).st_mode & 0o077 == 0  # made private
