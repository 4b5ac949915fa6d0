"""SQL lives in the library's SQL modules only (the catalogue's reads and writes, the schema and its
migrations, the query conditions); the store names the files."""
import ast
from pathlib import Path

import muser_cli
import muser_model.library as library
from muser_model.library.store import Library

_SQL_WORDS = ("SELECT ", "INSERT ", "UPDATE ", "DELETE ", "CREATE ", "ALTER ")
SQL_MODULES = ("catalogue.py", "schema.py", "filters.py", "connection.py")


def _sources():
    for folder in (Path(library.__file__).parent, Path(muser_cli.__file__).parent):
        for path in sorted(folder.glob("*.py")):
            if path.name not in SQL_MODULES:
                yield path


def test_no_module_but_the_sql_modules_runs_sql():
    offenders = []
    for path in _sources():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("execute", "executemany", "db"):
                offenders.append(f"{path.name}:{node.lineno} .{node.attr}")
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if any(node.value.lstrip().upper().startswith(w) for w in _SQL_WORDS):
                    offenders.append(f"{path.name}:{node.lineno} {node.value[:30]!r}")
    assert offenders == []


def test_status_finds_the_index_file_through_the_store(tmp_path, monkeypatch):
    from muser_model.library.status import library_status

    monkeypatch.setenv("MUSER_HOME", str(tmp_path))
    lib = Library.open("x", create=True)
    assert lib.index_file() is None and library_status(lib)["index_file"] == ""
    monkeypatch.setattr(Library, "_index_file", lambda self, generation: self.root / f"renamed-{generation}.bin")
    lib.adopt_model("h" * 64, 4)
    lib.sync_index()
    assert library_status(lib)["index_file"] == str(lib.root / "renamed-0.bin")
    assert library_status(lib)["index_bytes"] > 0
