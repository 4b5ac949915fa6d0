"""The torch-free side stays torch-free: only muser_model/torch_engine/ imports torch at module level
(an ast check over every module), importing every other module never loads torch, and the numpy scoring
stack runs without it. `muser tag` and `muser search` on the numpy path are checked end to end in
test_numpy_audio.py and test_search.py."""
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "muser_model"
TORCH_FREE_PACKAGES = ("core", "numpy_engine", "library")
TORCH_FREE_SERVICES = ("engine_choice", "tagging", "describe")


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _torch_free_modules() -> list[str]:
    files = [p for pkg in TORCH_FREE_PACKAGES for p in sorted((PACKAGE / pkg).glob("*.py"))]
    files += [PACKAGE / f"{name}.py" for name in TORCH_FREE_SERVICES] + [PACKAGE / "__init__.py"]
    return [_module_name(p) for p in files]


def _is_type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _module_level_imports(tree: ast.Module):
    """Import statements that run at import time: the module body and its if/try/with blocks, not
    function or class bodies, nor `if TYPE_CHECKING:` blocks."""
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.If, ast.Try, ast.With)) and not _is_type_checking_block(node):
            for field in ("body", "orelse", "finalbody", "handlers"):
                pending.extend(getattr(node, field, []))
        elif isinstance(node, ast.ExceptHandler):
            pending.extend(node.body)


def imports_torch_at_module_level(source: str) -> bool:
    for node in _module_level_imports(ast.parse(source)):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        if any(n == "torch" or n.startswith("torch.") or n.startswith("muser_model.torch_engine")
               for n in names):
            return True
    return False


@pytest.mark.parametrize("source, expected", [
    ("import torch\n", True),
    ("from torch import nn\n", True),
    ("import numpy as np\ntry:\n    import torch.nn.functional as F\nexcept ImportError:\n    F = None\n", True),
    ("from muser_model.torch_engine.model import Muser\n", True),
    ("def f():\n    import torch\n    return torch\n", False),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n", False),
    ("import torchaudio_free_thing as t\nimport numpy\n", False),
])
def test_the_ast_rule_sees_module_level_torch_imports(source, expected):
    assert imports_torch_at_module_level(source) is expected


def test_only_torch_engine_imports_torch_at_module_level():
    offenders = [str(p.relative_to(REPO)) for p in sorted(PACKAGE.rglob("*.py"))
                 if "torch_engine" not in p.relative_to(PACKAGE).parts
                 and imports_torch_at_module_level(p.read_text())]
    assert offenders == []


def _loads_torch(code: str) -> bool:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint('torch' in sys.modules)"],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()[-1] == "True"


def test_torch_free_modules_do_not_import_torch():
    modules = _torch_free_modules()
    assert "muser_model.numpy_engine.audio" in modules and "muser_model.library.scan" in modules
    assert not _loads_torch("\n".join(f"import {m}" for m in modules))


def test_numpy_scoring_stack_does_not_import_torch(tiny_checkpoint, clips):
    code = (f"from muser_model.numpy_engine.audio import NumpyMuser\n"
            f"from muser_model.tagging import tag_files_numpy\n"
            f"res = list(tag_files_numpy(NumpyMuser.load({str(tiny_checkpoint)!r}), [{str(clips[0])!r}],"
            f" labels=['calm', 'piano'], timeline=True))\n"
            f"assert res[0].labels and res[0].timeline\n")
    assert not _loads_torch(code)


@pytest.mark.parametrize("module", ["torch_engine.inference",
                                    pytest.param("torch_engine.checkpoint_export", marks=pytest.mark.slow)])
def test_the_probe_sees_torch_where_it_is_used(module):
    assert _loads_torch(f"import muser_model.{module}")
