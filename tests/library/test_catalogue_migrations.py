"""The catalogue's numbered migrations: a catalogue written before them (schema 2, tags of further
vocabularies stored as "msd:rock") is migrated in place with nothing lost, and each step runs once."""
import sqlite3

import numpy as np

from muser_model.library import schema
from muser_model.library.catalogue import Catalogue
from muser_model.library.filters import Filters

# What the catalogue of schema 2 looked like on disk (its CREATE statements, verbatim).
_SCHEMA_2 = """
CREATE TABLE tracks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL UNIQUE, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
    model_hash TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL DEFAULT '', artist TEXT NOT NULL DEFAULT '', album TEXT NOT NULL DEFAULT '',
    genre TEXT NOT NULL DEFAULT '', date TEXT NOT NULL DEFAULT '', year INTEGER,
    duration REAL, windows INTEGER, vector BLOB, updated REAL NOT NULL,
    predicted_genre TEXT NOT NULL DEFAULT '', predicted_genre_score REAL,
    predicted_by TEXT NOT NULL DEFAULT '', added REAL);
CREATE TABLE changes (generation INTEGER NOT NULL, track_id INTEGER NOT NULL, op TEXT NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE track_tags (track_id INTEGER NOT NULL, tag TEXT NOT NULL, score REAL NOT NULL,
    kind TEXT NOT NULL, rank INTEGER NOT NULL, PRIMARY KEY (track_id, tag));
CREATE INDEX track_tags_tag ON track_tags (tag COLLATE NOCASE);
"""


def _old_catalogue(path):
    db = sqlite3.connect(path)
    db.executescript(_SCHEMA_2)
    vector = np.arange(4, dtype=np.float32).tobytes()
    db.execute("INSERT INTO tracks (path, size, mtime_ns, status, model_hash, title, vector, updated, "
               "predicted_genre, predicted_by, added) VALUES ('/m/a.ogg', 10, 20, 'ok', 'h', 'A', ?, 1.0, "
               "'rock', 'k', 1.0)", (vector,))
    db.executemany("INSERT INTO track_tags VALUES (1, ?, ?, 'probability', ?)",
                   [("guitar", 0.9, 0), ("rock", 0.8, 1), ("msd:rock", 0.7, 2), ("msd:90s", 0.1, 3)])
    db.executemany("INSERT INTO meta VALUES (?, ?)", [("schema_version", "2"), ("generation", "1"),
                                                      ("model_hash", "h")])
    db.commit()
    db.close()


def test_a_schema_2_catalogue_migrates_in_place_with_nothing_lost(tmp_path):
    path = tmp_path / "catalogue.sqlite"
    _old_catalogue(path)
    cat = Catalogue(path)
    assert schema.version(cat.db) == schema.SCHEMA_VERSION
    (row,) = cat.list_rows()
    assert (row["path"], row["title"], row["predicted_genre"]) == ("/m/a.ogg", "A", "rock")
    assert row["predicted_tags"] == [{"label": "guitar", "score": 0.9, "vocab": "mtt"},
                                     {"label": "rock", "score": 0.8, "vocab": "mtt"},
                                     {"label": "rock", "score": 0.7, "vocab": "msd"},
                                     {"label": "90s", "score": 0.1, "vocab": "msd"}]
    ids, vectors = cat.vectors("h")
    assert ids.tolist() == [1] and vectors[0].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert cat.generation == 1 and cat.get_meta("model_hash") == "h"
    columns = {r[1] for r in cat.db.execute("PRAGMA table_info(track_tags)")}
    assert "vocab" in columns
    assert cat.select_ids(Filters(tags=["msd:rock"])) == {1}
    assert cat.select_ids(Filters(tags=["msd:90s"])) == set()  # below MSD's floor
    assert cat.select_ids(Filters(tags=["msd:guitar"])) == set()  # an MTT tag only


def test_each_migration_runs_once(tmp_path, monkeypatch):
    path = tmp_path / "catalogue.sqlite"
    Catalogue(path).close()
    calls = []
    monkeypatch.setattr(schema, "MIGRATIONS", [lambda db: calls.append(1)] * schema.SCHEMA_VERSION)
    Catalogue(path).close()
    assert calls == []


def test_a_failing_migration_leaves_the_catalogue_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "catalogue.sqlite"
    _old_catalogue(path)

    def broken(db):
        db.execute("DROP TABLE track_tags")
        raise RuntimeError("half-way")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS[:2], broken])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 3)
    try:
        Catalogue(path)
    except RuntimeError:
        pass
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM track_tags").fetchone()[0] == 4


def test_a_reader_migrates_where_it_may_write_and_says_so_where_it_may_not(tmp_path, monkeypatch):
    import pytest

    from muser_model.core.errors import StorageError
    from muser_model.library import connection

    path = tmp_path / "catalogue.sqlite"
    _old_catalogue(path)
    monkeypatch.setattr(connection, "folder_writable", lambda p: False)
    monkeypatch.setattr("muser_model.library.catalogue.folder_writable", lambda p: False)
    with pytest.raises(StorageError, match="run `muser index` once"):
        Catalogue(path, readonly=True)
    monkeypatch.undo()
    cat = Catalogue(path, readonly=True)
    assert schema.version(cat.db) == schema.SCHEMA_VERSION and len(cat.list_rows()) == 1
