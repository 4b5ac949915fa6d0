"""The sub-packages are layers: at module level core/ imports only core/, each engine only core/ and
itself, and neither engine imports the other, library/ or the services above them. (Function-level
imports are allowed: core.checkpoint saves through torch_engine.checkpoint_export at call time.)"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "muser_model"
ALLOWED = {
    "core": ("muser_model.core",),
    "numpy_engine": ("muser_model.core", "muser_model.numpy_engine"),
    "torch_engine": ("muser_model.core", "muser_model.torch_engine"),
}


def module_level_project_imports(source: str) -> set[str]:
    """Names of muser_model modules imported by statements in the module body (and its if/try
    blocks outside `if TYPE_CHECKING:`), not inside functions or classes."""
    found: set[str] = set()
    pending = list(ast.parse(source).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.update(f"{node.module}.{a.name}" if node.module == "muser_model" else node.module
                         for a in node.names)
        elif isinstance(node, ast.If) and getattr(node.test, "id", None) != "TYPE_CHECKING":
            pending.extend(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            pending.extend(node.body + node.orelse + node.finalbody
                           + [n for h in node.handlers for n in h.body])
    return {name for name in found if name.startswith("muser_model")}


def _allowed(layer: str, name: str) -> bool:
    return name == "muser_model.__version__" or any(
        name == prefix or name.startswith(prefix + ".") for prefix in ALLOWED[layer])


def test_the_rule_sees_a_module_level_import_across_layers():
    source = "import numpy\nfrom muser_model.library.store import Library\ndef f():\n    import muser_model.tagging\n"
    names = module_level_project_imports(source)
    assert names == {"muser_model.library.store"}
    assert not _allowed("core", "muser_model.library.store")
    assert not _allowed("numpy_engine", "muser_model.torch_engine.model")
    assert _allowed("torch_engine", "muser_model.core.scoring")


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_what_is_below_it(layer):
    crossing = {f"{p.name} -> {name}"
                for p in sorted((PACKAGE / layer).glob("*.py"))
                for name in module_level_project_imports(p.read_text()) if not _allowed(layer, name)}
    assert crossing == set()
