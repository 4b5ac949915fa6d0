"""The import contracts of `.importlinter` hold: packages and muser_model's sub-packages are layers,
`muser tag` does not reach into the index's scan, and no modules import each other in a circle
(imports inside functions included). `lint-imports` from the repository root prints the same report."""
from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.cli import lint_imports

from tests.project.import_contracts import find_cycles, shortest_cycle

REPO = Path(__file__).resolve().parents[2]


def _lint(config: Path, capsys) -> tuple[int, str]:
    code = lint_imports(config_filename=str(config), no_cache=True, no_logo=True)
    return code, capsys.readouterr().out


def test_the_declared_contracts_are_kept(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    monkeypatch.syspath_prepend(str(REPO))
    code, report = _lint(REPO / ".importlinter", capsys)
    assert code == 0, report
    assert "0 broken" in report


def test_the_cycle_finder_finds_every_cycle_and_one_path_through_it():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}, "f": {"a", "f"}}
    assert find_cycles(graph) == [["a", "b", "c"], ["d", "e"]]
    assert shortest_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]
    assert find_cycles({"a": {"b"}, "b": set(), "c": {"c"}}) == []


def test_the_cycle_finder_takes_a_long_chain():
    """Iterative, so a deep import chain cannot hit the recursion limit."""
    n = 5000
    graph = {f"m{i}": {f"m{i + 1}"} for i in range(n)} | {f"m{n}": {"m0"}}
    assert [len(c) for c in find_cycles(graph)] == [n + 1]


@pytest.fixture
def planted(tmp_path, monkeypatch):
    """A package `plant` whose core imports its service inside a function, and two modules that
    import each other, one of them inside a function."""
    pkg = tmp_path / "plant"
    (pkg / "core").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "__init__.py").write_text("")
    (pkg / "core" / "io.py").write_text("def save():\n    from plant import service\n    return service\n")
    (pkg / "service.py").write_text("from plant.core import io\n")
    (pkg / "a.py").write_text("import plant.b\n")
    (pkg / "b.py").write_text("def f():\n    from plant import a\n    return a\n")
    config = tmp_path / ".importlinter"
    config.write_text(
        "[importlinter]\nroot_packages =\n    plant\ncontract_types =\n"
        "    acyclic_modules: tests.project.import_contracts.AcyclicModulesContract\n\n"
        "[importlinter:contract:layers]\nname = layers\ntype = layers\ncontainers = plant\n"
        "layers =\n    service\n    core\n\n"
        "[importlinter:contract:cycles]\nname = cycles\ntype = acyclic_modules\npackages =\n    plant\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.syspath_prepend(str(tmp_path))
    return config


def test_a_function_level_import_breaks_the_contracts(planted, capsys):
    code, report = _lint(planted, capsys)
    assert code == 1
    assert "plant.core is not allowed to import plant.service" in report
    assert "Import cycle among plant.a, plant.b" in report
    assert "plant.a -> plant.b (l.1)" in report and "plant.b -> plant.a (l.2)" in report
