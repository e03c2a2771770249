"""The package's import graph has no circle, lazy imports inside functions included, and
no arrow runs up its layers: simulation/ (one configuration) and analysis/ (saved
results) import nothing above them, execution/ imports nothing from the entry points
(the CLIs and the Python API at the top). Every module can be read knowing only the
modules below it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "w2s_jax"
LAYERS = {"simulation": 0, "analysis": 0, "execution": 1, "": 2}  # "": w2s_jax/ itself


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "__init__"


def import_graph() -> dict[str, set[str]]:
    """``module -> modules it imports``, names relative to w2s_jax (``execution.engine``)."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("w2s_jax"):
                base = node.module.removeprefix("w2s_jax").lstrip(".")
                targets = [f"{base}.{a.name}".lstrip(".") for a in node.names]
                targets = [t if t in paths else base for t in targets]
            elif isinstance(node, ast.Import):
                targets = [a.name.removeprefix("w2s_jax.") for a in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in paths and t != name}
    return graph


def package(name: str) -> str:
    return name.split(".")[0] if "." in name else ""


def layer(name: str) -> int:
    return LAYERS[package(name)]


def test_the_import_graph_has_no_circle():
    graph = import_graph()
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, " -> ".join((*path, name))
        if name in done:
            return
        for child in sorted(graph[name]):
            visit(child, (*path, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())
    assert len(graph) > 40 and "execution.engine" in graph["execution.runner"]  # read


def test_no_arrow_runs_up_a_layer_or_across_the_bottom_two():
    for name, imported in import_graph().items():
        if name in LAYERS:  # a subpackage's __init__: documentation only
            assert not imported, name
            continue
        for other in imported:
            if other in LAYERS:
                continue
            assert layer(other) < layer(name) or package(other) == package(name), (
                f"{name} imports {other}"
            )
