"""The package's imports run one way (docs/architecture.md, "One-way layers").

Every module of src/infoprompt belongs to a layer; a module may import its own layer and the layers below,
never a higher one, and the module graph has no circles. Imports inside functions count too: hiding an
import in a function does not change which way the dependency runs. Only `if TYPE_CHECKING:` imports
(annotations, never executed) are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "infoprompt"

# bottom -> top; the first prefix that matches a module names its layer
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("leaves", ("errors", "atomic_files", "schema", "rundir", "registry", "environment", "devices", "packing", "readout")),
    ("data", ("data",)),
    ("prompting/evaluation", ("prompting", "evaluation", "generative.template", "generative.formats")),
    ("families/backbones/delta", ("families", "backbones", "delta")),
    ("methods", ("methods",)),
    ("training", ("training", "generative")),
    ("config", ("config",)),
    ("run", ("run",)),
    ("report", ("report",)),
    ("api", ("api",)),
    ("commands", ("cli", "__main__", "__init__", "sweep", "export", "bench", "analysis", "pruning", "theory",
                  "experiments", "integrations", "testing")),
]

# imports allowed to run upward, each with its reason (the bound: at most 2)
ALLOWED_UPWARD: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC / PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                return index
    raise AssertionError(f"module infoprompt.{module} has no layer in tests/test_layers.py: add it to LAYERS")


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return skipped


def imports_of(path: Path, modules: set[str]) -> set[str]:
    return imports_in(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py", modules)


def imports_in(source: str, here: str, is_init: bool, modules: set[str]) -> set[str]:
    """The package modules a module's source imports (a `from pkg import name` naming a submodule counts as it)."""
    tree = ast.parse(source)
    skipped = _type_checking_nodes(tree)
    package = here if is_init else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if package else []
                base_name = ".".join(p for p in [*base, node.module or ""] if p)
                names = [f"{PACKAGE}.{base_name}" if base_name else PACKAGE]
            else:
                names = [node.module or ""]
            names = names + [f"{names[0]}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == PACKAGE or not name.startswith(PACKAGE + "."):
                continue
            target = name[len(PACKAGE) + 1:]
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != here:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    files = sorted((SRC / PACKAGE).rglob("*.py"))
    modules = {module_name(p) for p in files}
    return {module_name(p): imports_of(p, modules) for p in files}


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((a, b) for a, targets in graph.items() for b in targets
                  if layer_of(b) > layer_of(a) and not b.startswith(a + "."))


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _is_package_init(module: str, graph: dict[str, set[str]]) -> bool:
    return any(other.startswith(module + ".") for other in graph)


def test_every_module_has_a_layer():
    for module in import_graph():
        layer_of(module)


def test_no_import_runs_upward():
    graph = import_graph()
    found = [pair for pair in upward_imports(graph) if pair not in ALLOWED_UPWARD]
    shown = [f"{a} ({LAYERS[layer_of(a)][0]}) -> {b} ({LAYERS[layer_of(b)][0]})" for a, b in found]
    assert not shown, "imports that run to a higher layer:\n" + "\n".join(shown)
    assert len(ALLOWED_UPWARD) <= 2


def test_no_import_circles():
    graph = import_graph()
    # a package's __init__ re-exporting its submodules, which import siblings through the package, is not a circle
    # of dependencies between modules: leave the edges submodule -> own package out
    graph = {a: {b for b in targets if not (_is_package_init(b, graph) and a.startswith(b + "."))}
             for a, targets in graph.items()}
    assert circles(graph) == []


@pytest.mark.parametrize("source, expected", [
    ("from infoprompt.training.loop import fit\n", {"training.loop"}),
    ("import infoprompt.methods\n", {"methods"}),
    ("from infoprompt import api\n", {"api"}),
    ("def f():\n    from infoprompt.run import assemble_run\n", {"run"}),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from infoprompt.api import LoadedModel\n", set()),
    ("from .. import run\n", {"run"}),
])
def test_imports_are_read_from_every_place(source, expected):
    modules = {"training", "training.loop", "methods", "api", "run", "data", "data.probe"}
    assert imports_in(source, "data.probe", False, modules) == expected


def test_a_circle_is_found():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
