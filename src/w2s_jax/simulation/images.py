"""Real images as the signal patches (``data.source = "digits"`` or ``"mnist"``).

The paper's Definition 1 with each fixed signal vector replaced by a real image drawn
afresh for every sample (docs/REAL_IMAGES.md): an easy-only sample of label ``y`` is
``x1 = x2 = mu_norm a`` with ``a`` an image of class ``data.easy_classes[0]`` (``y =
+1``) or ``[1]`` (``y = -1``); hard-only ``x1 = x2 = eps nu_norm b`` with ``b`` from
``data.hard_classes``; both ``x1 = mu_norm a, x2 = eps nu_norm b``. The ``P`` pixels sit
in the first ``P`` coordinates of ``R^d`` and the noise patch in the other ``d - P``, so
a filter is ``Filters(signal (F, P), noise (F, d - P))`` and the models and the training
are those of the synthetic data (where ``P = 4``).

Here: reading the banks (scikit-learn's 8x8 digits, or the four MNIST IDX files with
NumPy), selecting the classes, the train/test split, centring and scaling, the content
hash that enters a configuration's identity, and the sampling of patches inside the
compiled program (an index gather into the bank, a device array passed as an argument).
Every user mistake is a :class:`~w2s_jax.execution.grid.GridError` naming the key.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from w2s_jax.simulation.data import Samples, row_keys, signal_patches
from w2s_jax.simulation.errors import GridError

SOURCES = ("synthetic", "digits", "mnist")
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
DIGITS_TEST_EVERY = 4  # every 4th image of a digits class (in scikit-learn's order) is a test image
IDX_TYPES = {  # IDX type byte -> big-endian NumPy dtype
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class ImageBank(NamedTuple):
    """The images a program samples from, in the roles ``(easy +1, easy -1, hard +1,
    hard -1)``: ``train (4, N, P)`` and ``test (4, T, P)`` (each role's images first,
    zero rows after its count), ``train_count (4,)``, ``test_count (4,)``, and
    ``class_means (4, P)``: the mean training image of each role (the signal-learning
    metrics' directions). Images are centred and of unit norm."""

    train: Float[Array, "4 N P"]
    train_count: Int[Array, " 4"]
    test: Float[Array, "4 T P"]
    test_count: Int[Array, " 4"]
    class_means: Float[Array, "4 P"]


# ------------------------------------------------------------------ reading


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (gzipped when its name ends in ``.gz``) as a NumPy array.

    Format: two zero bytes, a type byte, the number of dimensions ``k``, ``k`` big-endian
    uint32 sizes, then the values. A wrong header or a size that disagrees with the
    payload raises GridError (key ``data.image_dir``)."""
    path = Path(path)
    where = f"key 'data.image_dir': {path}"
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except OSError as error:
        raise GridError(f"{where}: cannot read ({error.strerror})") from None
    except (gzip.BadGzipFile, EOFError, ValueError):
        raise GridError(f"{where}: not a valid gzip file (truncated or corrupt)") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise GridError(f"{where}: not an IDX file (bad magic number)")
    dtype, ndim = IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise GridError(f"{where}: malformed IDX header ({ndim} dimensions)")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", ndim, offset=4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "has trailing bytes"
        raise GridError(
            f"{where}: IDX file {what}: shape {shape} needs {expected} bytes, has {len(raw)}"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _idx_path(image_dir: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (image_dir / name).is_file():
            return image_dir / name
    raise GridError(
        f"key 'data.image_dir' = {str(image_dir)!r}: no MNIST file {stem} (or {stem}.gz); "
        "download the four IDX files there"
    )


def load_mnist(image_dir: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST's own split: ``(train_images (N, P), train_labels (N,), test_images,
    test_labels)`` from the four IDX files in ``image_dir``."""
    if not image_dir:
        raise GridError("key 'data.image_dir' must name the directory of the MNIST files")
    folder = Path(image_dir).expanduser()
    if not folder.is_dir():
        raise GridError(f"key 'data.image_dir' = {image_dir!r}: no such directory")
    arrays = {name: read_idx(_idx_path(folder, stem)) for name, stem in MNIST_FILES.items()}
    out = []
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise GridError(
                f"key 'data.image_dir' = {image_dir!r}: {split} images {images.shape} and "
                f"labels {labels.shape} do not match"
            )
        out += [images.reshape(len(images), -1).astype(np.float64), labels.astype(np.int64)]
    if out[0].shape[1] != out[2].shape[1]:
        raise GridError(f"key 'data.image_dir' = {image_dir!r}: train and test image sizes differ")
    return tuple(out)


def load_digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits with a fixed split: within each class, every
    :data:`DIGITS_TEST_EVERY`-th image (in the data set's order) is a test image."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        raise GridError(
            "key 'data.source' = 'digits' needs scikit-learn (pip install scikit-learn)"
        ) from None
    digits = sklearn_digits()
    images, labels = digits.data.astype(np.float64), digits.target.astype(np.int64)
    rank = np.zeros(len(labels), np.int64)  # position of each image within its class
    for label in np.unique(labels):
        members = labels == label
        rank[members] = np.arange(members.sum())
    test = rank % DIGITS_TEST_EVERY == DIGITS_TEST_EVERY - 1
    return images[~test], labels[~test], images[test], labels[test]


# ------------------------------------------------------------------ the bank


def _classes(value: Any, key: str) -> tuple[int, int]:
    ok = isinstance(value, (list, tuple)) and len(value) == 2
    ok = ok and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    if not ok or value[0] == value[1]:
        raise GridError(f"key {key!r} must be two different class labels, got {value!r}")
    return int(value[0]), int(value[1])


def check_classes(key: str, value: Any) -> tuple[int, int]:
    """A grid value of ``data.easy_classes`` / ``data.hard_classes`` as a pair of ints."""
    return _classes(value, key)


@functools.lru_cache(maxsize=8)
def bank(source: str, easy: tuple, hard: tuple, image_dir: str) -> tuple[ImageBank, str]:
    """The NumPy :class:`ImageBank` of a source and class choice, and its content hash
    (cached: every configuration of a grid shares it).

    Centring subtracts the mean training image of the four selected classes (the ink
    common to every digit, which would otherwise dominate every inner product); each
    image is then scaled to unit norm, so ``data.mu_norm``/``data.nu_norm`` set the
    patches' norms as for the synthetic signals. Centre and classes come from the
    training split only."""
    if source == "digits":
        train_x, train_y, test_x, test_y = load_digits()
    elif source == "mnist":
        train_x, train_y, test_x, test_y = load_mnist(image_dir)
    else:
        raise GridError(f"key 'data.source' must be one of {', '.join(SOURCES)}, got {source!r}")
    roles = (*easy, *hard)
    if set(easy) & set(hard):
        raise GridError(
            f"keys 'data.easy_classes' = {list(easy)} and 'data.hard_classes' = "
            f"{list(hard)} overlap"
        )
    present = set(np.unique(train_y).tolist()) & set(np.unique(test_y).tolist())
    for key, pair in (("data.easy_classes", easy), ("data.hard_classes", hard)):
        missing = [c for c in pair if c not in present]
        if missing:
            raise GridError(
                f"key {key!r} = {list(pair)}: class {missing[0]} is not in the {source} "
                f"data (classes: {sorted(present)})"
            )
    centre = train_x[np.isin(train_y, roles)].mean(axis=0)

    def prepare(images, labels):
        groups = []
        for label in roles:
            x = images[labels == label] - centre
            groups.append(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12))
        counts = np.array([len(g) for g in groups], np.int32)
        padded = np.zeros((4, counts.max(), images.shape[1]))
        for role, group in enumerate(groups):
            padded[role, : len(group)] = group
        return padded, counts

    train, train_count = prepare(train_x, train_y)
    test, test_count = prepare(test_x, test_y)
    means = np.stack([train[r, : train_count[r]].mean(axis=0) for r in range(4)])
    result = ImageBank(train, train_count, test, test_count, means)
    return result, content_hash(source, roles, (train_x, train_y, test_x, test_y))


def content_hash(source: str, roles: tuple, raw: tuple[np.ndarray, ...]) -> str:
    """A digest of the raw pixels (whole numbers 0-255), labels and class choice: the
    normalised floats of the bank depend in their last bits on the CPU and NumPy, this
    does not, so an image run's identity and random key are the same everywhere."""
    digest = hashlib.sha256(f"{source} {roles}".encode())
    for array in raw:
        whole = np.rint(array).astype("<i8" if array.ndim == 1 else np.uint8)
        digest.update(np.ascontiguousarray(whole).tobytes())
    return digest.hexdigest()[:16]


def pixels(config: dict) -> int:
    """``P``, the pixel count of a configuration's images (4 for synthetic data)."""
    if config.get("data.source", "synthetic") == "synthetic":
        return 4
    return _bank_of(config)[0].train.shape[-1]


def _bank_of(config: dict) -> tuple[ImageBank, str]:
    return bank(
        config["data.source"],
        tuple(config["data.easy_classes"]),
        tuple(config["data.hard_classes"]),
        config["data.image_dir"],
    )


def check_configuration(config: dict, where: str) -> None:
    """Cross-key checks of an image configuration; records the bank's content hash as
    ``data.image_hash`` (part of the configuration's identity and randomness key, so a
    different bank is a different configuration). Raises GridError."""
    if config["run.backend"] == "reduced":
        raise GridError(
            f"{where}: key 'run.backend' = 'reduced' needs data.source = 'synthetic' "
            f"(images span {config['data.source']!r} pixel coordinates; use 'dense' or 'auto')"
        )

    try:
        images, digest = _bank_of(config)
    except GridError as error:
        raise GridError(f"{where}: {error}") from None
    size = images.train.shape[-1]
    if config["data.d"] <= size:
        raise GridError(
            f"{where}: key 'data.d' = {config['data.d']:g} must exceed the {size} pixels of a "
            f"{config['data.source']} image (the noise patch needs the other coordinates)"
        )
    config["data.image_hash"] = digest


def device_bank(static) -> ImageBank | None:
    """The bank a program samples from as arrays of its dtype, or None (synthetic)."""
    if static.source == "synthetic":
        return None
    return _typed_bank(
        static.source, static.easy_classes, static.hard_classes, static.image_dir, static.dtype
    )


@functools.lru_cache(maxsize=4)
def _typed_bank(source: str, easy: tuple, hard: tuple, image_dir: str, dtype: str) -> ImageBank:
    """:func:`bank` cast to ``dtype`` once (not at every chunk)."""
    images, _ = bank(source, easy, hard, image_dir)
    return ImageBank(*(a.astype(dtype) if a.dtype.kind == "f" else a for a in images))


def manifest_entry(configs: list[dict]) -> list[dict]:
    """What a run's manifest records about its images: source, classes, content hash."""
    seen = {}
    for c in configs:
        if c.get("data.source", "synthetic") != "synthetic":
            entry = {
                "source": c["data.source"],
                "easy_classes": list(c["data.easy_classes"]),
                "hard_classes": list(c["data.hard_classes"]),
                "image_dir": c["data.image_dir"],
                "pixels": pixels(c),
                "content_hash": c["data.image_hash"],
            }
            seen[c["data.image_hash"]] = entry
    return list(seen.values())


# ------------------------------------------------------------------ sampling (traced)


def image_positions(key: PRNGKeyArray, n: int) -> Float[Array, "n 2"]:
    """Uniform positions in ``[0, 1)`` of each sample's easy and hard image within its
    class (scaled by the class's image count in :func:`image_patches`). Row ``i`` uses
    ``fold_in(key, i)``, so a padded draw starts with the unpadded one."""
    return jax.vmap(lambda k: jax.random.uniform(k, (2,)))(row_keys(key, n))


def image_patches(
    key: PRNGKeyArray,
    samples: Samples,
    images: Float[Array, "4 N P"],
    counts: Int[Array, " 4"],
    mu_norm: Float[Array, ""],
    nu_norm: Float[Array, ""],
    hard_sign: str,
) -> Float[Array, "n 2 P"]:
    """The two signal patches ``(n, 2, P)`` of ``samples`` with a fresh image per sample.

    The synthetic construction's coefficients on ``(mu_{+1}, mu_{-1}, nu_{+1}, nu_{-1})``
    (:func:`~w2s_jax.simulation.data.signal_patches`) are kept and each direction is replaced by the
    sample's image: ``x_p = (c_{p,mu+} + c_{p,mu-}) a + (c_{p,nu+} + c_{p,nu-}) b`` with
    ``a``, ``b`` the sample's easy and hard images of its label's classes (only one of
    each pair of coefficients is non-zero). Sampling is a gather into ``images``."""
    coefficients = signal_patches(samples, mu_norm, nu_norm, hard_sign)  # (n, 2, 4)
    positions = image_positions(key, samples.y.shape[0])
    easy_role = jnp.where(samples.y == 1, 0, 1)
    hard_role = easy_role + 2

    def index(u, role):
        return jnp.minimum((u * counts[role]).astype(jnp.int32), counts[role] - 1)

    a = images[easy_role, index(positions[:, 0], easy_role)]  # (n, P)
    b = images[hard_role, index(positions[:, 1], hard_role)]
    mu_coef = coefficients[..., 0] + coefficients[..., 1]  # (n, 2)
    nu_coef = coefficients[..., 2] + coefficients[..., 3]
    return mu_coef[..., None] * a[:, None, :] + nu_coef[..., None] * b[:, None, :]


def signal_alignment(
    signal: Float[Array, "F P"], class_means: Float[Array, "4 P"], m: int
) -> tuple[Float[Array, "2 m"], Float[Array, "2 m"]]:
    """``<w_{s,r}, a_s>`` and ``<w_{s,r}, b_s>`` for the filters of each sign ``s`` and the
    mean (unit-norm, centred) training image of the easy / hard class of label ``s``:
    the image analogue of ``<w_{s,r}, e_s>`` (``s = +1`` in row 0)."""
    own = signal @ class_means.T  # (2m, 4)
    own_easy = jnp.stack([own[:m, 0], own[m:, 1]])
    own_hard = jnp.stack([own[:m, 2], own[m:, 3]])
    return own_easy, own_hard
