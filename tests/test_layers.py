"""The harness stays layered: each module imports only from its own layer or the layers above it, no cycles.

The layers are the ones the package docstring describes; a new module must be placed in one of them here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import autograd_conformance

PACKAGE = Path(autograd_conformance.__file__).parent
LAYERS = [
    ("vocabulary", {"facts", "devices", "modes", "normalize", "ids", "files"}),
    ("probe-facing", {"observe", "compiled", "dimensions", "registry", "invariants", "opdb"}),
    ("table", {"tablefile", "expectations", "compact"}),
    ("judging", {"verdict", "result"}),
    ("outputs", {"report", "stream", "summary", "repro", "diff", "changelog", "html", "synthetic"}),
    ("recording", {"record", "merge"}),
    ("entry points", {"probes", "options", "items", "session", "schedule", "plugin", "history", "cli", "direct"}),
]
LAYER_OF = {module: index for index, (_, modules) in enumerate(LAYERS) for module in modules}


def harness_imports(path: Path) -> set[str]:
    """Harness modules imported by a module, leaving out imports made only for type checking."""
    tree = ast.parse(path.read_text())
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
               and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("autograd_conformance."):
            found.add(node.module.split(".")[1])
    return found & {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}


def modules() -> dict[str, set[str]]:
    return {p.stem: harness_imports(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"}


def test_every_module_has_a_layer():
    assert set(modules()) == set(LAYER_OF), "place new modules in LAYERS (and in the package docstring)"


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


def test_the_package_docstring_names_every_module():
    doc = autograd_conformance.__doc__
    assert all(f"``{m}``" in doc for m in LAYER_OF), [m for m in LAYER_OF if f"``{m}``" not in doc]
