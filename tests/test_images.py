"""Real images as signal patches (``data.source``): the IDX reader, the bank, the
sampling inside the compiled program, the hard-only coin flip, and bad input."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_config
from w2s_jax import sweep
from w2s_jax.execution import engine
from w2s_jax.execution.grid import GridError, load_grid
from w2s_jax.simulation import images
from w2s_jax.simulation.data import HARD, Samples, draw_labels
from w2s_jax.simulation.identity import identity, teacher_identity
from w2s_jax.simulation.models import sign

# Curves of tiny_config() (dense, d = 200) and of its reduced twin (d = 5000) computed
# on another machine just before images were merged: synthetic data must give the same
# run now that the signal block may be P-dimensional. Bits may differ across CPUs and
# library versions (XLA picks kernels per CPU), so the pin has a tolerance: a test
# error may move by one test point, a continuous curve by a relative 1e-5.
BEFORE = {
    "dense.test_error": [
        0.4300000071525574,
        0.17666667699813843,
        0.14666667580604553,
        0.14000000059604645,
        0.14000000059604645,
        0.1366666704416275,
        0.1300000101327896,
        0.1300000101327896,
    ],
    "dense.signal_nu": [
        0.15749163925647736,
        0.7898445725440979,
        0.7835514545440674,
        0.8545733094215393,
        0.9543709754943848,
        1.0602036714553833,
        1.1587344408035278,
        1.2607678174972534,
    ],
    "dense.noise_clean": [
        0.13038554787635803,
        0.9438278079032898,
        1.0209524631500244,
        1.0880978107452393,
        1.2250360250473022,
        1.3890825510025024,
        1.5497596263885498,
        1.7245988845825195,
    ],
    "dense.weak_test_error": 0.13333334028720856,
    "reduced.test_error": [
        0.6100000143051147,
        0.1599999964237213,
        0.18333333730697632,
        0.18333333730697632,
        0.18333333730697632,
        0.18000000715255737,
        0.18333333730697632,
        0.18333333730697632,
    ],
    "reduced.signal_nu": [
        0.08241243660449982,
        0.5389046669006348,
        0.5404893159866333,
        0.5415207147598267,
        0.5431299209594727,
        0.544694721698761,
        0.5460479259490967,
        0.5473510026931763,
    ],
    "reduced.noise_clean": [
        0.7078416347503662,
        17.896596908569336,
        17.964435577392578,
        17.995386123657227,
        18.051218032836914,
        18.11598777770996,
        18.182491302490234,
        18.260515213012695,
    ],
    "reduced.weak_test_error": 0.15666666626930237,
}

DIGITS = {"data.source": "digits"}
MNIST_GRID = Path(__file__).parents[1] / "sweeps" / "mnist.toml"


def write_idx(path, array: np.ndarray, truncate: int = 0) -> None:
    """An IDX file of unsigned bytes (gzipped when the name ends in .gz)."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    raw = header + array.astype(np.uint8).tobytes()
    raw = raw[: len(raw) - truncate]
    path.write_bytes(gzip.compress(raw) if path.name.endswith(".gz") else raw)


def fake_mnist(folder, gz: bool = True, per_class: int = 6, side: int = 10) -> None:
    """The four MNIST files with ``per_class`` random ``side x side`` images of each digit."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in (("train", per_class), ("t10k", per_class // 2)):
        labels = np.repeat(np.arange(10), count)
        pictures = rng.integers(0, 256, (len(labels), side, side))
        suffix = ".gz" if gz else ""
        write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", pictures)
        write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", labels)


# ------------------------------------------------------------------ reading


@pytest.mark.parametrize("name", ["plain-idx3-ubyte", "zipped-idx3-ubyte.gz"])
def test_idx_reader_round_trip(tmp_path, name):
    array = np.random.default_rng(1).integers(0, 256, (5, 3, 4))
    write_idx(tmp_path / name, array)
    read = images.read_idx(tmp_path / name)
    assert read.shape == (5, 3, 4) and np.array_equal(read, array)


@pytest.mark.parametrize("name", ["cut-idx3-ubyte", "cut-idx3-ubyte.gz"])
def test_idx_reader_refuses_truncated_file(tmp_path, name):
    write_idx(tmp_path / name, np.zeros((5, 3, 4)), truncate=7)
    with pytest.raises(GridError, match="data.image_dir.*truncated"):
        images.read_idx(tmp_path / name)


def test_idx_reader_refuses_bad_magic_and_broken_gzip(tmp_path):
    (tmp_path / "junk").write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(GridError, match="bad magic"):
        images.read_idx(tmp_path / "junk")
    (tmp_path / "broken.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 40)[:12])
    with pytest.raises(GridError, match="gzip"):
        images.read_idx(tmp_path / "broken.gz")


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_bank_from_idx_files(tmp_path, gz):
    fake_mnist(tmp_path, gz=gz)
    bank, digest = images.bank("mnist", (0, 1), (3, 8), str(tmp_path))
    assert bank.train.shape == (4, 6, 100) and bank.test.shape == (4, 3, 100)
    assert list(bank.train_count) == [6] * 4 and list(bank.test_count) == [3] * 4
    norms = np.linalg.norm(bank.train, axis=-1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-12)  # unit-norm images
    assert len(digest) == 16


# ------------------------------------------------------------------ the bank


def test_digits_split_is_fixed_and_disjoint():
    train_x, train_y, test_x, test_y = images.load_digits()
    assert len(train_x) + len(test_x) == 1797
    train_rows = {row.tobytes() for row in train_x}
    assert not any(row.tobytes() in train_rows for row in test_x)  # disjoint images
    for label in range(10):  # every 4th image of a class is a test image
        total = (train_y == label).sum() + (test_y == label).sum()
        assert (test_y == label).sum() == total // 4


def test_digits_bank_is_centred_unit_norm_and_hashes_its_content():
    bank, digest = images.bank("digits", (0, 1), (3, 8), "")
    train_x, train_y, _, _ = images.load_digits()
    chosen = train_x[np.isin(train_y, (0, 1, 3, 8))]
    centre = chosen.mean(axis=0)
    expected = train_x[train_y == 3][5] - centre
    np.testing.assert_allclose(bank.train[2, 5], expected / np.linalg.norm(expected))
    assert bank.train_count[3] == (train_y == 8).sum()
    assert images.bank("digits", (0, 1), (3, 9), "")[1] != digest


def test_bank_hash_is_of_raw_pixels_not_of_normalised_floats():
    """The identity of an image run must not depend on the last bits of floats (CPU,
    NumPy version): the hash reads whole-number pixels, labels and the class choice."""
    rng = np.random.default_rng(0)
    raw = (rng.integers(0, 256, (20, 16)).astype(np.float64), np.arange(20) % 4)
    raw = (*raw, *raw)
    digest = images.content_hash("mnist", (0, 1, 2, 3), raw)
    wobbled = (raw[0] * (1 + 1e-13), *raw[1:])
    assert images.content_hash("mnist", (0, 1, 2, 3), wobbled) == digest
    changed = raw[0].copy()
    changed[3, 4] += 1
    assert images.content_hash("mnist", (0, 1, 2, 3), (changed, *raw[1:])) != digest
    assert images.content_hash("mnist", (0, 1, 3, 2), raw) != digest


def test_identity_includes_the_bank_but_synthetic_ids_are_unchanged():
    digits = tiny_config(**DIGITS)
    other = tiny_config(**DIGITS, **{"data.hard_classes": (4, 9)})
    assert digits["data.image_hash"] != other["data.image_hash"]
    assert teacher_identity(digits) != teacher_identity(other)
    synthetic = tiny_config()
    without = {k: v for k, v in synthetic.items() if k not in images_keys()}
    assert identity(synthetic) == identity(without)


def images_keys():
    from w2s_jax.simulation.identity import IMAGE_KEYS

    return IMAGE_KEYS


# ------------------------------------------------------------------ sampling


def test_sampling_equals_direct_numpy_construction():
    """The gather inside the program against a per-sample NumPy loop written from the
    definition (easy: x1 = x2 = mu a; hard: eps nu b twice; both: mu a, eps nu b)."""
    bank, _ = images.bank("digits", (0, 1), (3, 8), "")
    key_labels, key_images = jax.random.split(jax.random.key(3))
    n, mu_norm, nu_norm = 64, 8.0, 5.0
    y, kind, eps = draw_labels(key_labels, n, jnp.float32(0.3), jnp.float32(0.3))
    samples = Samples(y, kind, eps, jnp.zeros((n, 1), jnp.float32))
    pool = jnp.asarray(bank.train, jnp.float32)
    counts = jnp.asarray(bank.train_count)
    draw = jax.jit(images.image_patches, static_argnums=6)
    patches = np.asarray(draw(key_images, samples, pool, counts, mu_norm, nu_norm, "random"))
    positions = np.asarray(images.image_positions(key_images, n))
    expected = np.zeros((n, 2, 64))
    for i in range(n):
        label = 0 if int(y[i]) == 1 else 1
        at = lambda u, role: int(np.float32(u) * np.float32(bank.train_count[role]))  # noqa: E731
        a = bank.train[label, at(positions[i, 0], label)]
        b = bank.train[label + 2, at(positions[i, 1], label + 2)]
        e = int(eps[i])
        expected[i] = {0: [mu_norm * a, mu_norm * a], 1: [e * nu_norm * b, e * nu_norm * b]}.get(
            int(kind[i]), [mu_norm * a, e * nu_norm * b]
        )
    assert set(np.asarray(kind).tolist()) == {0, 1, 2}
    np.testing.assert_allclose(patches, expected, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------ runs


@pytest.fixture(scope="module")
def digits_run():
    config = tiny_config(**DIGITS)
    return config, engine.run_alone(config)


def test_synthetic_results_match_those_recorded_before_images():
    for name, config in (
        ("dense", tiny_config()),
        ("reduced", tiny_config(**{"run.backend": "reduced", "data.d": 5000})),
    ):
        result = engine.run_alone(config)
        one_point = 1.0 / config["eval.n_test"]
        for curve in ("test_error", "signal_nu", "noise_clean"):
            if f"{name}.{curve}" in BEFORE:
                tolerance = {"atol": 1.01 * one_point} if curve == "test_error" else {"rtol": 1e-5}
                np.testing.assert_allclose(
                    result.curves[curve][0], BEFORE[f"{name}.{curve}"], **tolerance, err_msg=curve
                )
        weak = result.scalars["weak_test_error"][0].item()
        assert weak == pytest.approx(BEFORE[f"{name}.weak_test_error"], abs=1.01 * one_point)


def test_weak_teacher_is_a_coin_flip_on_hard_only_images(digits_run):
    """Proposition 2.1 on images: mirroring a hard-only sample (eps -> -eps, xi -> -xi)
    negates any linear CNN's output, so the trained teacher is right on exactly one of
    each mirrored pair; and its measured hard-only error is 1/2 within sampling error."""
    config, result = digits_run
    from w2s_jax.simulation import config as cfg
    from w2s_jax.simulation import pipeline

    static, params = cfg.split(config)
    bank = images.device_bank(static)
    teacher = jax.jit(pipeline.train_teacher, static_argnums=0)(
        static, params, jax.random.key(0), bank
    )
    n = 200
    y = jnp.where(jnp.arange(n) % 2 == 0, 1, -1)
    samples = Samples(y, jnp.full(n, HARD), jnp.ones(n, int), jnp.zeros((n, 1)))
    patches = images.image_patches(
        jax.random.key(1), samples, bank.train, bank.train_count, 8.0, 5.0, "random"
    )
    xi = jax.random.normal(jax.random.key(2), (n, static.d - 64))
    output = lambda p, x: (p @ teacher.signal[0]).sum(1) + x @ teacher.noise[0]  # noqa: E731
    right = sign(output(patches, xi)) == y
    mirrored_right = sign(output(-patches, -xi)) == y
    assert bool(jnp.all(right != mirrored_right))
    hard_error = result.scalars["weak_hard_error"][0]
    hard_count = 0.3 * config["eval.n_test"]
    assert abs(hard_error - 0.5) < 4 * np.sqrt(0.25 / hard_count)
    assert result.scalars["weak_easy_error"][0] < 0.05  # the easy classes 0 / 1 are learned


def test_digits_run_learns_easy_images_and_reads_signal_metrics(digits_run):
    config, result = digits_run
    curves = result.curves
    assert curves["test_error_easy"][0, -1] < 0.05
    assert curves["signal_mu"][0, -1] > 10 * abs(curves["signal_mu"][0, 0])  # grew from init
    assert np.all(np.isfinite(curves["signal_nu"][0]))


# ------------------------------------------------------------------ CLI and bad input


def grid_file(tmp_path, **data) -> str:
    lines = ["[data]"] + [f"{k} = {json.dumps(v)}" for k, v in data.items()]
    sizes = "[weak]\nn = 60\nsteps = 30\n[strong]\nn = 40\nm = 3\nsteps = 40\n"
    sizes += "[eval]\nn_test = 300\npoints = 8\n"
    path = tmp_path / "grid.toml"
    path.write_text("\n".join(lines) + "\n" + sizes)
    return str(path)


@pytest.mark.parametrize(
    "data, key",
    [
        ({"source": "mnist", "image_dir": "/nonexistent/mnist", "d": 1000}, "data.image_dir"),
        ({"source": "digits", "easy_classes": [0, 11], "d": 200}, "data.easy_classes"),
        ({"source": "digits", "hard_classes": [1, 8], "d": 200}, "data.hard_classes"),
        ({"source": "digits", "hard_classes": [3, 3], "d": 200}, "data.hard_classes"),
        ({"source": "digits", "d": 64}, "data.d"),
        ({"source": "digits", "d": 200}, "run.backend"),  # with run.backend = "reduced"
        ({"source": "pictures", "d": 200}, "data.source"),
    ],
)
def test_bad_image_input_exits_2_with_one_line(tmp_path, capsys, data, key):
    path = grid_file(tmp_path, **data)
    if key == "run.backend":
        path_text = open(path).read() + '[run]\nbackend = "reduced"\n'
        open(path, "w").write(path_text.replace("d = 200", "d = 5000"))
    assert sweep.main([path, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and key in err and "Traceback" not in err


def test_truncated_mnist_file_exits_2(tmp_path, capsys):
    fake_mnist(tmp_path / "mnist", gz=False)
    labels = tmp_path / "mnist" / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-3])
    path = grid_file(tmp_path, source="mnist", image_dir=str(tmp_path / "mnist"), d=200)
    assert sweep.main([path, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "truncated" in err and "data.image_dir" in err


def test_missing_scikit_learn_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import now fails
    images.bank.cache_clear()
    try:
        with pytest.raises(GridError, match="data.source.*scikit-learn"):
            tiny_config(**DIGITS)
    finally:
        images.bank.cache_clear()


def test_auto_backend_is_dense_for_images():
    config = tiny_config(**DIGITS, **{"run.backend": "auto", "data.d": 5000})
    from w2s_jax.simulation import config as cfg

    assert cfg.resolve_backend(config) == "dense"


def test_mnist_sweep_file_and_a_run_on_fake_files(tmp_path):
    """sweeps/mnist.toml validates once the files exist; a tiny MNIST-format run goes
    through the CLI and its manifest records source, classes and the bank's hash."""
    with pytest.raises(GridError, match="data.image_dir"):
        load_grid(MNIST_GRID)  # the files are not in the repository
    fake_mnist(tmp_path / "mnist")
    text = MNIST_GRID.read_text()
    moved = tmp_path / "mnist.toml"
    moved.write_text(text.replace('image_dir = "data/mnist"', f'image_dir = "{tmp_path}/mnist"'))
    assert len(load_grid(moved).configurations()) > 1
    path = grid_file(tmp_path, source="mnist", image_dir=str(tmp_path / "mnist"), d=200)
    out = tmp_path / "out"
    assert sweep.main([path, "--out", str(out), "--quiet", "--no-figures"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    (entry,) = manifest["images"]
    expected = images.bank("mnist", (0, 1), (3, 8), str(tmp_path / "mnist"))[1]
    assert entry["source"] == "mnist" and entry["content_hash"] == expected
    assert entry["easy_classes"] == [0, 1] and entry["pixels"] == 100
