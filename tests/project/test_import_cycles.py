"""No import cycle among the project's packages (muser_model, muser_cli, train).

Module-level imports are read with `ast` (imports under `if TYPE_CHECKING:` do not run and are
left out); a cycle among them is a failure. Function-level imports are checked too, but only
for being the hidden half of a cycle: a function-level import of B in A while B imports A at
module level means the function-level import only hides a cycle (the module split is wrong).
Function-level imports kept to keep torch/transformers/the scan off a fast path are fine.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("muser_model", "muser_cli", "train")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The project modules an import statement runs."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative import
            anchor = module.split(".") if is_package else module.split(".")[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join(anchor + ([base] if base else []))
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
    return {n for n in names if n in known}


def _imports(module: str, path: Path, known: set[str]) -> tuple[set[str], set[str]]:
    """(module-level, function-level) project imports of one module."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    top: set[str] = set()
    local: set[str] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                (local if in_function else top).update(_targets(child, module, is_package, known))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return top - {module}, local - {module} - top


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    mods = _modules()
    known = set(mods)
    top, local = {}, {}
    for name, path in mods.items():
        top[name], local[name] = _imports(name, path, known)
    return top, local


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def strong(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_relative_and_package_imports_are_resolved(tmp_path):
    known = {"pkg", "pkg.a", "pkg.b"}
    src = tmp_path / "a.py"
    src.write_text("from . import b\nfrom pkg import a as _self\nimport pkg.b\n"
                   "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg\n"
                   "def f():\n    import pkg\n")
    top, local = _imports("pkg.a", src, known)
    assert top == {"pkg.b"} and local == {"pkg"}


def test_no_module_level_import_cycle():
    top, _ = _graph()
    assert find_cycles(top) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_function_level_import_hides_a_cycle(package):
    """A function-level import of B in A, where B (directly or not) imports A at module level."""
    top, local = _graph()
    hidden = []
    for a, targets in local.items():
        if not a.startswith(package):
            continue
        for b in targets:
            if a in _reachable(top, b):
                hidden.append(f"{a} -> {b}")
    assert hidden == []


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen
