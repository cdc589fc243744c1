"""The harness stays layered: each module imports only from its own layer or the layers above it, no cycles.

The layers are the ones the package docstring describes (``tests/layout.py`` reads them); a new module must be
placed in one of them there. Imports made only for type checking count like any other.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.layout import MODULES, PACKAGE, layers

LAYER_OF = {module: index for index, (_, _, modules) in enumerate(layers()) for module in modules}


def harness_imports(path: Path) -> set[str]:
    """Harness modules imported by a module, anywhere in it (inside functions and ``if TYPE_CHECKING:`` too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("autograd_conformance."):
            found.add(node.module.split(".")[1])
    return found & MODULES


def modules() -> dict[str, set[str]]:
    return {p.stem: harness_imports(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}


def test_every_module_has_a_layer():
    missing = sorted(MODULES - set(LAYER_OF))
    assert not missing, f"place these modules in a layer of the package docstring: {missing}"


def test_every_module_is_in_one_layer():
    named = [m for _, _, modules in layers() for m in modules]
    assert len(named) == len(set(named)), "a module is named in two layers of the package docstring"


def test_no_module_imports_from_a_lower_layer():
    upward = [(m, i) for m, imports in modules().items() for i in imports if LAYER_OF[i] > LAYER_OF[m]]
    assert not upward, f"imports that point the wrong way (module, imported): {upward}"


def test_no_import_cycles():
    graph = modules()
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in graph[module]:
            assert state.get(dep) != 1, f"import cycle: {' -> '.join(path + [dep])}"
            if dep not in state:
                visit(dep, path + [dep])
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])


def test_type_checking_imports_are_counted(tmp_path):
    """An import under ``if TYPE_CHECKING:`` is an edge of the graph like any other."""
    module = tmp_path / "m.py"
    module.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .session import X\n")
    assert harness_imports(module) == {"session"}
