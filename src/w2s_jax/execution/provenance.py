"""What made a result: the code's version, its git state, the versions of every
dependency, and the JAX settings in force (NumPy and the standard library only).

The code version is the release number plus a digest of the package's own source
files (``0.2.0+src.1a2b3c4d5e``), so it follows every change of the code, committed or
not, and needs no git. Chunk files carry :func:`stamp`; a resume that would mix chunks
of two stamps is refused (``runner``). What is reproducible bit for bit and what only
within tolerance is in docs/DESIGN.md, "Reproducibility".
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGE = Path(__file__).parents[1]  # w2s_jax/, all its subpackages
# JAX settings that can change a result's bits or its speed, recorded in the manifest.
JAX_SETTINGS = (
    "jax_enable_x64",
    "jax_default_matmul_precision",
    "jax_num_cpu_devices",
    "jax_numpy_rank_promotion",
    "jax_enable_compilation_cache",
)


@functools.cache
def code_digest() -> str:
    """sha256 over the package's source files (names and contents, sorted)."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix in (".py", ".toml") and "__pycache__" not in path.parts:
            digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def code_version() -> str:
    """The release number and the source digest: ``0.2.0+src.<10 hex digits>``."""
    from w2s_jax import __version__

    return f"{__version__}+src.{code_digest()[:10]}"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def stamp() -> dict[str, str]:
    """What each chunk file records: the code and the numerical libraries' versions.
    Two runs with equal stamps on the same machine give the same bits."""
    return {"w2s_jax": code_version(), "jax": _version("jax"), "jaxlib": _version("jaxlib")}


def dependency_versions() -> dict[str, str]:
    """Python, this code and every declared dependency (as installed)."""
    names = ["jax", "jaxlib", "numpy"]
    try:
        requirements = metadata.requires("w2s_jax") or []
    except metadata.PackageNotFoundError:
        requirements = []
    for requirement in requirements:
        if "extra ==" not in requirement:
            names.append(re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0])
    versions = {"python": platform.python_version(), "w2s_jax": code_version()}
    versions.update({name: _version(name) for name in dict.fromkeys(names)})
    return versions


def git_state() -> dict:
    """``{"commit": sha or None, "dirty": bool or None}`` of the checkout holding the
    package (both None when it is not in a git checkout, e.g. a wheel install)."""
    try:
        run = functools.partial(
            subprocess.run, cwd=PACKAGE, capture_output=True, text=True, timeout=10, check=True
        )
        commit = run(["git", "rev-parse", "HEAD"]).stdout.strip()
        changes = run(["git", "status", "--porcelain", "--", str(PACKAGE)]).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(changes.strip())}


def jax_settings() -> dict:
    """The JAX settings in force and ``XLA_FLAGS``."""
    import jax

    settings = {name: getattr(jax.config, name, None) for name in JAX_SETTINGS}
    settings["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "")
    return settings


def record() -> dict:
    """The manifest's ``provenance`` block."""
    return {
        "code_version": code_version(),
        "code_sha256": code_digest(),
        "git": git_state(),
        "versions": dependency_versions(),
        "jax_settings": jax_settings(),
    }
