"""The catalogue's schema: a list of numbered migrations, each applied once, in order.

`PRAGMA user_version` holds how many of MIGRATIONS a catalogue has had. A new catalogue runs them
all; an older one runs the rest, in one transaction (a second process opening it meanwhile waits,
then finds nothing left to do). Catalogues written before this list existed have user_version 0
and may already hold the tables of the first two steps: those steps only add what is missing.
Add a step by appending a function; never edit or reorder one that has shipped.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable

from muser_model.core.vocab_groups import MAIN_VOCAB, VOCABULARIES

Migration = Callable[[sqlite3.Connection], None]


def _tracks(db: sqlite3.Connection) -> None:
    """Tracks (one row per file), the change log the ANN index follows, and key/value meta."""
    db.execute("""CREATE TABLE IF NOT EXISTS tracks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: it is also the ANN label
        path TEXT NOT NULL UNIQUE,     -- str, or the file name's bytes (BLOB) when they are not UTF-8
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        status TEXT NOT NULL,          -- 'ok', 'failed' or 'silent'
        reason TEXT NOT NULL DEFAULT '',
        model_hash TEXT NOT NULL DEFAULT '',
        title TEXT NOT NULL DEFAULT '', artist TEXT NOT NULL DEFAULT '', album TEXT NOT NULL DEFAULT '',
        genre TEXT NOT NULL DEFAULT '', date TEXT NOT NULL DEFAULT '', year INTEGER,
        duration REAL, windows INTEGER,
        vector BLOB,
        updated REAL NOT NULL)""")
    db.execute("CREATE TABLE IF NOT EXISTS changes "
               "(generation INTEGER NOT NULL, track_id INTEGER NOT NULL, op TEXT NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


# muser's own predictions and when a track was first added. `predicted_by` keys the predictions on
# the checkpoint and its vocabulary (library.predict.Predictor.key): predictions with another key
# are recomputed from the stored vectors by the next `muser index`.
_PREDICTION_COLUMNS = {
    "predicted_genre": "TEXT NOT NULL DEFAULT ''",
    "predicted_genre_score": "REAL",
    "predicted_by": "TEXT NOT NULL DEFAULT ''",
    "added": "REAL",
}


def _predictions(db: sqlite3.Connection) -> None:
    """Predicted genre and tags; tags of a further vocabulary stored as its id ("msd:rock")."""
    have = {r[1] for r in db.execute("PRAGMA table_info(tracks)")}
    for name in sorted(set(_PREDICTION_COLUMNS) - have):
        db.execute(f"ALTER TABLE tracks ADD COLUMN {name} {_PREDICTION_COLUMNS[name]}")
    db.execute("""CREATE TABLE IF NOT EXISTS track_tags (
        track_id INTEGER NOT NULL, tag TEXT NOT NULL, score REAL NOT NULL,
        kind TEXT NOT NULL, rank INTEGER NOT NULL, PRIMARY KEY (track_id, tag))""")
    db.execute("UPDATE tracks SET added=updated WHERE added IS NULL")


def split_stored_tag(stored: str) -> tuple[str, str]:
    """A tag as the second step stored it -> (vocabulary, label): "msd:rock" -> ("msd", "rock"),
    "rock" -> ("mtt", "rock")."""
    vocab, sep, label = stored.partition(":")
    if sep and vocab in VOCABULARIES and vocab != MAIN_VOCAB:
        return vocab, label
    return MAIN_VOCAB, stored


def _tag_vocab(db: sqlite3.Connection) -> None:
    """Each predicted tag's vocabulary in a column of its own, the tag as its bare label."""
    rows = db.execute("SELECT track_id, tag, score, kind, rank FROM track_tags").fetchall()
    db.execute("DROP TABLE track_tags")
    db.execute("""CREATE TABLE track_tags (
        track_id INTEGER NOT NULL,
        vocab TEXT NOT NULL,           -- 'mtt', 'msd', ... (core.vocab_groups.VOCABULARIES)
        tag TEXT NOT NULL,             -- the label within its vocabulary: 'rock'
        score REAL NOT NULL,
        kind TEXT NOT NULL,            -- 'probability' (a trained head) or 'cosine' (zero-shot)
        rank INTEGER NOT NULL,
        PRIMARY KEY (track_id, vocab, tag))""")
    db.executemany("INSERT INTO track_tags VALUES (?, ?, ?, ?, ?, ?)",
                   [(track_id, *split_stored_tag(tag), score, kind, rank)
                    for track_id, tag, score, kind, rank in rows])
    db.execute("CREATE INDEX IF NOT EXISTS track_tags_tag ON track_tags (tag COLLATE NOCASE)")


def _moods(db: sqlite3.Connection) -> None:
    """Energy and valence of each track (0..1, core.grounding.Grounder.axes), NULL until the next
    `muser index` predicts them from the stored vectors (its predictions key changes with them)."""
    have = {r[1] for r in db.execute("PRAGMA table_info(tracks)")}
    for name in ("energy", "valence"):
        if name not in have:
            db.execute(f"ALTER TABLE tracks ADD COLUMN {name} REAL")


def _head_logits(db: sqlite3.Connection) -> None:
    """Each track's tag-head logits (float32, every headed tag kind in table order), stored with
    its predictions so that a grounded search reads them instead of running the heads over every
    candidate; NULL until the next `muser index` predicts them."""
    if "head_logits" not in {r[1] for r in db.execute("PRAGMA table_info(tracks)")}:
        db.execute("ALTER TABLE tracks ADD COLUMN head_logits BLOB")


def _tag_history(db: sqlite3.Connection) -> None:
    """What a file's genre, mood and MUSER_* fields held before muser first wrote into it, so
    that `muser write-tags --undo` puts them back exactly (library.filetags)."""
    db.execute("""CREATE TABLE IF NOT EXISTS tag_history (
        path TEXT PRIMARY KEY,         -- as tracks.path
        previous TEXT NOT NULL,        -- JSON: field -> list of values, or null where absent
        written REAL NOT NULL)""")


MIGRATIONS: list[Migration] = [_tracks, _predictions, _tag_vocab, _moods, _head_logits, _tag_history]
SCHEMA_VERSION = len(MIGRATIONS)


def version(db: sqlite3.Connection) -> int:
    """How many of MIGRATIONS the catalogue has had."""
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: sqlite3.Connection) -> int:
    """Apply the migrations `db` has not had, in one transaction; how many were applied.
    `db` is in autocommit mode (isolation_level=None)."""
    if version(db) >= SCHEMA_VERSION:
        return 0
    db.execute("BEGIN IMMEDIATE")
    try:
        done = version(db)  # another process may have migrated while this one waited
        for step in MIGRATIONS[done:]:
            step(db)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return SCHEMA_VERSION - done
