"""One job per corpus module: a builder imports the shared modules, never another builder."""
import ast
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2] / "train" / "corpus"
BUILDERS = ("mma", "games", "scores", "realmusic", "renders", "freepats", "pseudo_tags")
SHARED = {"common", "mood", "splits", "excerpts", "debpkg", "manifest", "tracks", "midi"}


def _corpus_imports(name: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse((CORPUS / f"{name}.py").read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "muser_train.corpus":
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("muser_train.corpus."):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names if a.name.startswith("muser_train.corpus.")}
    return found


@pytest.mark.parametrize("builder", BUILDERS)
def test_a_builder_imports_only_shared_modules(builder):
    assert _corpus_imports(builder) - SHARED == set()


def test_every_shared_module_exists():
    assert all((CORPUS / f"{name}.py").is_file() for name in SHARED)
