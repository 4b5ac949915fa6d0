"""The SQLite catalogue: one row per file with its status, tags and (for good files) its vector.

The catalogue is the source of truth. Every change to vectors bumps `generation` and is logged
in `changes` inside the same transaction, so the ANN index (a derived file) can always be
brought up to date or rebuilt from here, whatever moment a previous run was killed at.
"""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tracks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: it is also the ANN label
    path TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    status TEXT NOT NULL,          -- 'ok', 'failed' or 'silent'
    reason TEXT NOT NULL DEFAULT '',
    model_hash TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL DEFAULT '', artist TEXT NOT NULL DEFAULT '', album TEXT NOT NULL DEFAULT '',
    genre TEXT NOT NULL DEFAULT '', date TEXT NOT NULL DEFAULT '', year INTEGER,
    duration REAL, windows INTEGER,
    vector BLOB,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS changes (generation INTEGER NOT NULL, track_id INTEGER NOT NULL, op TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class FileState:
    id: int
    size: int
    mtime_ns: int
    status: str
    model_hash: str


@dataclass
class TrackRow:
    path: str
    size: int
    mtime_ns: int
    vector: np.ndarray  # (E,) float32, normalised
    tags: dict[str, str]
    duration: float
    windows: int


class Catalogue:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        if self.get_meta("schema_version") is None:
            self.set_meta("schema_version", str(SCHEMA_VERSION))

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction: every read inside sees one committed state."""
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            self.db.execute("COMMIT")

    # -- meta ---------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str, db: sqlite3.Connection | None = None) -> None:
        (db or self.db).execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @property
    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    def _bump(self, db: sqlite3.Connection, ids: Iterable[int], op: str) -> None:
        gen = self.generation + 1
        db.executemany("INSERT INTO changes VALUES (?, ?, ?)", [(gen, i, op) for i in ids])
        self.set_meta("generation", str(gen), db)

    # -- reads --------------------------------------------------------------------------------
    def states(self) -> dict[str, FileState]:
        rows = self.db.execute("SELECT path, id, size, mtime_ns, status, model_hash FROM tracks")
        return {r[0]: FileState(*r[1:]) for r in rows}

    def vectors(self, model_hash: str, ids: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids (N,), vectors (N, E)) of good tracks embedded by `model_hash`."""
        query = "SELECT id, vector FROM tracks WHERE status='ok' AND model_hash=?"
        if ids is None:
            rows = self.db.execute(query, (model_hash,)).fetchall()
        else:
            rows = []
            wanted = list(ids)
            for start in range(0, len(wanted), 900):  # SQLite's bound-parameter limit
                chunk = wanted[start : start + 900]
                marks = ",".join("?" * len(chunk))
                rows += self.db.execute(f"{query} AND id IN ({marks})", (model_hash, *chunk)).fetchall()
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        return (np.array([r[0] for r in rows], dtype=np.int64),
                np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows]))

    def ids(self, model_hash: str) -> np.ndarray:
        """(N,) ids of good tracks embedded by `model_hash` (no vectors read)."""
        rows = self.db.execute("SELECT id FROM tracks WHERE status='ok' AND model_hash=?", (model_hash,))
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def rows(self, ids: Iterable[int]) -> dict[int, sqlite3.Row]:
        ids = list(ids)
        self.db.row_factory = sqlite3.Row
        try:
            marks = ",".join("?" * len(ids))
            found = self.db.execute(f"SELECT * FROM tracks WHERE id IN ({marks})", ids).fetchall()
        finally:
            self.db.row_factory = None
        return {r["id"]: r for r in found}

    def find_path(self, path: str) -> int | None:
        row = self.db.execute("SELECT id FROM tracks WHERE path=? AND status='ok'", (path,)).fetchone()
        return row[0] if row else None

    def changes_since(self, generation: int) -> list[tuple[int, str]]:
        """(track_id, op) of changes after `generation`, oldest first."""
        return self.db.execute("SELECT track_id, op FROM changes WHERE generation>? ORDER BY rowid",
                               (generation,)).fetchall()

    def counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT status, COUNT(*) FROM tracks GROUP BY status").fetchall()
        return {status: n for status, n in rows}

    def failures(self) -> list[tuple[str, str]]:
        return self.db.execute("SELECT path, reason FROM tracks WHERE status='failed' ORDER BY path").fetchall()

    # -- writes -------------------------------------------------------------------------------
    def put_tracks(self, rows: list[TrackRow], model_hash: str) -> None:
        """Insert or replace good tracks, all in one transaction."""
        now = time.time()
        with self.transaction() as db:
            ids = []
            for r in rows:
                t = r.tags
                db.execute(
                    """INSERT INTO tracks (path, size, mtime_ns, status, reason, model_hash, title, artist,
                           album, genre, date, year, duration, windows, vector, updated)
                       VALUES (?, ?, ?, 'ok', '', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT(path) DO UPDATE SET size=excluded.size, mtime_ns=excluded.mtime_ns,
                           status='ok', reason='', model_hash=excluded.model_hash, title=excluded.title,
                           artist=excluded.artist, album=excluded.album, genre=excluded.genre,
                           date=excluded.date, year=excluded.year, duration=excluded.duration,
                           windows=excluded.windows, vector=excluded.vector, updated=excluded.updated""",
                    (r.path, r.size, r.mtime_ns, model_hash, t.get("title", ""), t.get("artist", ""),
                     t.get("album", ""), t.get("genre", ""), t.get("date", ""), _year(t.get("date", "")),
                     r.duration, r.windows, r.vector.astype(np.float32).tobytes(), now))
                ids.append(db.execute("SELECT id FROM tracks WHERE path=?", (r.path,)).fetchone()[0])
            self._bump(db, ids, "put")

    def put_failure(self, path: str, size: int, mtime_ns: int, reason: str, status: str = "failed") -> None:
        """A file without a vector: status "failed" (with why) or "silent"."""
        with self.transaction() as db:
            old = db.execute("SELECT id, status FROM tracks WHERE path=?", (path,)).fetchone()
            db.execute(
                """INSERT INTO tracks (path, size, mtime_ns, status, reason, updated)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT(path) DO UPDATE SET size=excluded.size, mtime_ns=excluded.mtime_ns,
                       status=excluded.status, reason=excluded.reason, vector=NULL, updated=excluded.updated""",
                (path, size, mtime_ns, status, reason, time.time()))
            if old and old[1] == "ok":
                self._bump(db, [old[0]], "delete")

    def remove(self, paths: Iterable[str]) -> int:
        paths = list(paths)
        if not paths:
            return 0
        with self.transaction() as db:
            ids = []
            for p in paths:
                row = db.execute("SELECT id, status FROM tracks WHERE path=?", (p,)).fetchone()
                if row:
                    db.execute("DELETE FROM tracks WHERE id=?", (row[0],))
                    if row[1] == "ok":
                        ids.append(row[0])
            if ids:
                self._bump(db, ids, "delete")
        return len(paths)

    def forget_changes(self, up_to: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM changes WHERE generation<=?", (up_to,))


def _year(date: str) -> int | None:
    digits = "".join(ch for ch in date[:4] if ch.isdigit())
    return int(digits) if len(digits) == 4 else None
