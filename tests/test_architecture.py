"""The package's import graph has no circle, lazy imports inside functions included, and
no arrow runs up its layers: simulation/ (one configuration) and analysis/ (saved
results) import nothing above them, execution/ imports nothing from the entry points
(the CLIs and the Python API at the top). Every module can be read knowing only the
modules below it; no module takes another's private name, and no two modules define a
public function or class of the same name (a name says one job)."""

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
    assert len(graph) > 40 and "execution.engine" in graph["execution.run_execute"]  # read


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


def private_uses(root: Path = PACKAGE) -> list[str]:
    """``module: name`` for every private name (``_x``, not dunder) one module of the
    package under ``root`` takes from another: ``from w2s_jax.a import _x`` or ``a._x`` on
    an imported module."""
    paths = {".".join(p.relative_to(root).with_suffix("").parts): p for p in root.rglob("*.py")}
    found = []
    for name, path in paths.items():
        tree = ast.parse(path.read_text())
        modules = set()  # local names bound to package modules
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("w2s_jax"):
                base = node.module.removeprefix("w2s_jax").lstrip(".")
                for alias in node.names:
                    target = f"{base}.{alias.name}".lstrip(".")
                    if target in paths:
                        modules.add(alias.asname or alias.name)
                    elif alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.append(f"{name}: from {node.module} import {alias.name}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("w2s_jax") and alias.asname:
                        modules.add(alias.asname)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in modules
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                found.append(f"{name}: {node.value.id}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_name():
    assert private_uses() == []


def test_a_private_name_taken_from_another_module_is_found(tmp_path):
    (tmp_path / "execution").mkdir()
    (tmp_path / "execution" / "engine.py").write_text("_cache = {}\ndef run(): ...\n")
    (tmp_path / "runner.py").write_text(
        "from w2s_jax.execution import engine\n"
        "from w2s_jax.execution.engine import _cache, run\n"
        "engine._cache.clear()\nengine.run()\n"
    )
    assert sorted(private_uses(tmp_path)) == [
        "runner: engine._cache",
        "runner: from w2s_jax.execution.engine import _cache",
    ]


# A script's entry point and its argument parser: the same job in every module run with
# ``python -m`` (one with ``if __name__ == "__main__"``).
SCRIPT_NAMES = {"main", "parser"}


def shared_public_names(root: Path = PACKAGE) -> dict[str, list[str]]:
    """``name -> modules`` for every public name (no leading ``_``) that more than one
    module of the package under ``root`` defines at its top level (``def`` or
    ``class``); a re-export (``from a import f`` in another module) defines nothing, so
    it is not counted. ``SCRIPT_NAMES`` are allowed in modules run as scripts."""
    where: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        script = 'if __name__ == "__main__"' in text
        for node in ast.parse(text).body:
            defines = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            if not defines or node.name.startswith("_"):
                continue
            if script and node.name in SCRIPT_NAMES:
                continue
            module = ".".join(path.relative_to(root).with_suffix("").parts)
            where.setdefault(node.name, []).append(module)
    return {name: modules for name, modules in where.items() if len(modules) > 1}


def test_no_two_modules_define_the_same_public_name():
    assert shared_public_names() == {}


def test_a_public_name_defined_twice_is_found_and_a_re_export_is_not(tmp_path):
    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "conditions.py").write_text(
        "def describe(configs): ...\nclass Table: ...\ndef _helper(): ...\n"
    )
    (tmp_path / "api.py").write_text(
        "from w2s_jax.analysis.conditions import Table\n"  # a re-export: the same object
        "def describe(grid): ...\ndef _helper(): ...\n"
        "def main(): ...\n"
    )
    (tmp_path / "sweep.py").write_text('def main(): ...\nif __name__ == "__main__":\n    main()\n')
    assert shared_public_names(tmp_path) == {"describe": ["analysis.conditions", "api"]}
    (tmp_path / "report.py").write_text('def main(): ...\nif __name__ == "__main__":\n    main()\n')
    assert "main" not in shared_public_names(tmp_path)  # scripts' entry points
    (tmp_path / "plot.py").write_text("def main(): ...\n")  # not a script: counted
    assert shared_public_names(tmp_path)["main"] == ["api", "plot"]
