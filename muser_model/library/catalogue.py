"""The SQLite catalogue's reads and writes: one row per file with its status, tags and (for good
files) its vector. The schema and its migrations live in library.schema, the query conditions in
library.filters.

The catalogue is the source of truth. Every change to vectors bumps `generation` and is logged
in `changes` inside the same transaction, so the ANN index (a derived file) can always be
brought up to date or rebuilt from here, whatever moment a previous run was killed at.
"""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from muser_model.core.vocab_groups import MAIN_VOCAB
from muser_model.core.errors import StorageError
from muser_model.library import schema
from muser_model.library.connection import Connection, folder_writable, from_db_path, to_db_path
from muser_model.library.filters import SORT_KEYS, Filters, like_pattern
from muser_model.library.records import FileState, Prediction, TrackRow, VocabTags  # noqa: F401  (re-exported)


class Catalogue:
    """The catalogue at `path`; `readonly`: opened so that nothing is ever written (search, list,
    status on a library whose folder may be read-only)."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path, self.readonly = path, readonly
        self.db = Connection(path, readonly)
        if readonly and schema.version(self.db) < schema.SCHEMA_VERSION:
            self.db.close()
            self._upgrade()
            self.db = Connection(path, readonly)
        if not readonly:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            schema.migrate(self.db)

    def _upgrade(self) -> None:
        """Migrate an older catalogue before reading it, where it can be written."""
        if not folder_writable(self.path):
            raise StorageError(f"{self.path}: this catalogue needs an upgrade that its read-only folder "
                               "does not allow: run `muser index` once where it can be written")
        Catalogue(self.path).close()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:  # a failed COMMIT (disk full) may have rolled back already
                self.db.raw.rollback()
            raise

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction: every read inside sees one committed state."""
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            if self.db.in_transaction:
                self.db.execute("COMMIT")

    # -- meta ---------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str, db: Connection | None = None) -> None:
        (db or self.db).execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @property
    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    def _bump(self, db: Connection, ids: Iterable[int], op: str) -> None:
        gen = self.generation + 1
        db.executemany("INSERT INTO changes VALUES (?, ?, ?)", [(gen, i, op) for i in ids])
        self.set_meta("generation", str(gen), db)

    # -- reads --------------------------------------------------------------------------------
    def states(self) -> dict[str, FileState]:
        rows = self.db.execute("SELECT path, id, size, mtime_ns, status, model_hash FROM tracks")
        return {from_db_path(r[0]): FileState(*r[1:]) for r in rows}

    def _good_rows(self, columns: str, model_hash: str, ids: Iterable[int] | None, params: tuple = ()) -> list:
        """`SELECT id, COLUMNS` of good tracks embedded by `model_hash` (those of `ids`, or all);
        `params` fill the placeholders of COLUMNS."""
        query = f"SELECT id, {columns} FROM tracks WHERE status='ok' AND model_hash=?"
        if ids is None:
            return self.db.execute(query, (*params, model_hash)).fetchall()
        rows, wanted = [], list(ids)
        for start in range(0, len(wanted), 900):  # SQLite's bound-parameter limit
            chunk = wanted[start : start + 900]
            rows += self.db.execute(f"{query} AND id IN ({','.join('?' * len(chunk))})",
                                    (*params, model_hash, *chunk)).fetchall()
        return rows

    def vectors(self, model_hash: str, ids: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids (N,), vectors (N, E)) of good tracks embedded by `model_hash`."""
        ids_, vectors, _ = self.vectors_with_logits(model_hash, None, ids)
        return ids_, vectors

    def vectors_with_logits(self, model_hash: str, key: str | None, ids: Iterable[int] | None = None,
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(ids (N,), vectors (N, E), stored head logits (N, L)) in one read; the logits are those
        predicted under `key` (Predictor.key), None unless every track has them (or no key)."""
        rows = self._good_rows("vector, CASE WHEN predicted_by=? THEN head_logits END", model_hash, ids, (key or "",))
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32), None
        logits = None
        if key is not None and all(r[2] is not None for r in rows):
            logits = np.stack([np.frombuffer(r[2], dtype=np.float32) for r in rows])
        return (np.array([r[0] for r in rows], dtype=np.int64),
                np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows]), logits)

    def head_logits(self, model_hash: str, key: str, ids: np.ndarray) -> np.ndarray | None:
        """(N, L) stored head logits of tracks `ids` (in that order), predicted under `key`
        (Predictor.key); None unless every one of them has them."""
        rows = self._good_rows("CASE WHEN predicted_by=? THEN head_logits END", model_hash, [int(i) for i in ids],
                               (key,))
        found = {r[0]: r[1] for r in rows if r[1] is not None}
        if not len(ids) or len(found) != len(ids):
            return None
        return np.stack([np.frombuffer(found[int(i)], dtype=np.float32) for i in ids])

    def remember_tags(self, path: str, previous: str) -> None:
        """Keep a file's fields as they were before muser's first write (later writes keep them)."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO tag_history (path, previous, written) VALUES (?, ?, ?)",
                       (to_db_path(path), previous, time.time()))

    def tag_history(self) -> list[tuple[str, str]]:
        """(path, previous fields as JSON) of every file muser wrote tags into."""
        rows = self.db.execute("SELECT path, previous FROM tag_history ORDER BY path").fetchall()
        return [(from_db_path(p), prev) for p, prev in rows]

    def forget_tags(self, path: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM tag_history WHERE path=?", (to_db_path(path),))

    def touch(self, path: str, size: int, mtime_ns: int) -> None:
        """A good track's new size and mtime after muser rewrote its tags (its audio, and so its
        vector, unchanged): the next scan does not embed it again."""
        with self.transaction() as db:
            db.execute("UPDATE tracks SET size=?, mtime_ns=? WHERE path=? AND status='ok'",
                       (size, mtime_ns, to_db_path(path)))

    def ids(self, model_hash: str) -> np.ndarray:
        """(N,) ids of good tracks embedded by `model_hash` (no vectors read)."""
        rows = self.db.execute("SELECT id FROM tracks WHERE status='ok' AND model_hash=?", (model_hash,))
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def rows(self, ids: Iterable[int]) -> dict[int, dict]:
        """Track rows by id (columns of `tracks` but the vector, plus `predicted_tags`)."""
        found: list[dict] = []
        wanted = list(ids)
        for start in range(0, len(wanted), 900):  # SQLite's bound-parameter limit
            chunk = wanted[start : start + 900]
            found += self._select(f"id IN ({','.join('?' * len(chunk))})", chunk)
        return {r["id"]: r for r in found}

    def list_rows(self, filters: Filters | None = None, sort: str = "path", reverse: bool = False,
                  limit: int | None = None) -> list[dict]:
        """Good tracks matching `filters`, in `sort` order (a SORT_KEYS key), at most `limit`."""
        where, params = (filters or Filters()).where()
        direction = "DESC" if reverse else "ASC"
        order = f"{SORT_KEYS[sort]} {direction}, path {direction}"
        tail = f" LIMIT {int(limit)}" if limit is not None else ""
        return self._select(f"status='ok' AND {where} ORDER BY {order}{tail}", params)

    def _select(self, condition: str, params: list) -> list[dict]:
        self.db.raw.row_factory = sqlite3.Row
        try:
            found = [dict(r) for r in self.db.execute(f"SELECT * FROM tracks WHERE {condition}", params)]
        finally:
            self.db.raw.row_factory = None
        for row in found:
            row.pop("vector", None)
            row["path"] = from_db_path(row["path"])
        tags = self._tags([r["id"] for r in found])
        for row in found:
            row["predicted_tags"] = tags.get(row["id"], [])
        return found

    def _tags(self, ids: list[int]) -> dict[int, list[dict]]:
        out: dict[int, list[dict]] = {}
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            rows = self.db.execute(f"SELECT track_id, vocab, tag, score FROM track_tags WHERE track_id IN "
                                   f"({','.join('?' * len(chunk))}) ORDER BY track_id, rank", chunk)
            for track_id, vocab, label, score in rows:
                out.setdefault(track_id, []).append({"label": label, "score": round(score, 4), "vocab": vocab})
        return out

    def select_ids(self, filters: Filters) -> set[int]:
        """Ids of the good tracks matching `filters`."""
        where, params = filters.where()
        return {r[0] for r in self.db.execute(f"SELECT id FROM tracks WHERE status='ok' AND {where}", params)}

    def find_by_name(self, name: str, limit: int = 6) -> list[tuple[int, str]]:
        """(id, path) of good tracks with `name` in their title or path, at most `limit`."""
        pattern = like_pattern(name)
        rows = self.db.execute(
            "SELECT id, path FROM tracks WHERE status='ok' AND (title LIKE ? ESCAPE '\\' OR path LIKE ? "
            "ESCAPE '\\') ORDER BY path LIMIT ?", (pattern, pattern, limit))
        return [(i, from_db_path(p)) for i, p in rows]

    def find_path(self, path: str) -> int | None:
        row = self.db.execute("SELECT id FROM tracks WHERE path=? AND status='ok'", (to_db_path(path),)).fetchone()
        return row[0] if row else None

    def stale_count(self, model_hash: str) -> int:
        """Good tracks embedded by another checkpoint than `model_hash`."""
        return self.db.execute("SELECT COUNT(*) FROM tracks WHERE status='ok' AND model_hash!=?",
                               (model_hash,)).fetchone()[0]

    def total_duration(self) -> float:
        """Seconds of audio in the good tracks."""
        return self.db.execute("SELECT COALESCE(SUM(duration), 0) FROM tracks WHERE status='ok'").fetchone()[0]

    def ids_needing_predictions(self, model_hash: str, key: str) -> np.ndarray:
        """(N,) ids of good tracks embedded by `model_hash` whose predictions are not keyed `key`."""
        rows = self.db.execute("SELECT id FROM tracks WHERE status='ok' AND model_hash=? AND predicted_by!=?",
                               (model_hash, key))
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def changes_since(self, generation: int) -> list[tuple[int, str]]:
        """(track_id, op) of changes after `generation`, oldest first."""
        return self.db.execute("SELECT track_id, op FROM changes WHERE generation>? ORDER BY rowid",
                               (generation,)).fetchall()

    def labels(self) -> dict[int, tuple[str, str, str, float | None]]:
        """Good tracks' (display name, path, predicted genre, energy) by id: what a map point shows."""
        rows = self.db.execute("SELECT id, artist, title, path, predicted_genre, energy FROM tracks WHERE status='ok'")
        out = {}
        for track_id, artist, title, path, genre, energy in rows:
            path = from_db_path(path)
            name = " - ".join(x for x in (artist, title) if x) or Path(path).name
            out[track_id] = (name, path, genre or "", energy)
        return out

    def predicted_genre_counts(self) -> list[tuple[str, int]]:
        """(predicted genre, good tracks) pairs, the most common first."""
        return self.db.execute("SELECT predicted_genre, COUNT(*) AS n FROM tracks WHERE status='ok' "
                               "GROUP BY predicted_genre ORDER BY n DESC, predicted_genre").fetchall()

    def counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT status, COUNT(*) FROM tracks GROUP BY status").fetchall()
        return {status: n for status, n in rows}

    def failures(self) -> list[tuple[str, str]]:
        """(path, reason) of every file without a vector: failed to decode, or silent."""
        rows = self.db.execute("SELECT path, reason FROM tracks WHERE status IN ('failed', 'silent') ORDER BY path")
        return [(from_db_path(p), reason) for p, reason in rows]

    # -- writes -------------------------------------------------------------------------------
    def put_tracks(self, rows: list[TrackRow], model_hash: str,
                   predictions: list[Prediction] | None = None, predicted_by: str = "") -> None:
        """Insert or replace good tracks (with `predictions[i]` for `rows[i]`, keyed `predicted_by`),
        all in one transaction."""
        now = time.time()
        with self.transaction() as db:
            ids = []
            for r in rows:
                t = r.tags
                db.execute(
                    """INSERT INTO tracks (path, size, mtime_ns, status, reason, model_hash, title, artist,
                           album, genre, date, year, duration, windows, vector, updated, added)
                       VALUES (?, ?, ?, 'ok', '', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT(path) DO UPDATE SET size=excluded.size, mtime_ns=excluded.mtime_ns,
                           status='ok', reason='', model_hash=excluded.model_hash, title=excluded.title,
                           artist=excluded.artist, album=excluded.album, genre=excluded.genre,
                           date=excluded.date, year=excluded.year, duration=excluded.duration,
                           windows=excluded.windows, vector=excluded.vector, updated=excluded.updated""",
                    (to_db_path(r.path), r.size, r.mtime_ns, model_hash, *(_text(t.get(k, "")) for k in _TAGS),
                     _year(t.get("date", "")),
                     r.duration, r.windows, r.vector.astype(np.float32).tobytes(), now, now))
                ids.append(db.execute("SELECT id FROM tracks WHERE path=?", (to_db_path(r.path),)).fetchone()[0])
            if predictions is not None:
                self._put_predictions(db, dict(zip(ids, predictions)), predicted_by)
            self._bump(db, ids, "put")

    def put_predictions(self, predictions: dict[int, Prediction], predicted_by: str) -> None:
        """Replace the predictions of tracks by id, in one transaction."""
        with self.transaction() as db:
            self._put_predictions(db, predictions, predicted_by)

    def _put_predictions(self, db: Connection, predictions: dict[int, Prediction], key: str) -> None:
        for track_id, p in predictions.items():
            logits = None if p.head_logits is None else np.asarray(p.head_logits, np.float32).tobytes()
            db.execute("UPDATE tracks SET predicted_genre=?, predicted_genre_score=?, predicted_by=?, energy=?, "
                       "valence=?, head_logits=? WHERE id=?",
                       (p.genre, p.genre_score, key, p.energy, p.valence, logits, track_id))
            db.execute("DELETE FROM track_tags WHERE track_id=?", (track_id,))
            rows = [(MAIN_VOCAB, tag, score, p.tag_kind) for tag, score in p.tags]
            rows += [(more.vocab, tag, score, more.tag_kind) for more in p.more_tags for tag, score in more.tags]
            db.executemany("INSERT INTO track_tags (track_id, vocab, tag, score, kind, rank) VALUES (?, ?, ?, ?, ?, ?)",
                           [(track_id, *row, rank) for rank, row in enumerate(rows)])

    def put_failure(self, path: str, size: int, mtime_ns: int, reason: str, status: str = "failed") -> None:
        """A file without a vector: status "failed" (with why) or "silent"."""
        path = to_db_path(path)
        with self.transaction() as db:
            old = db.execute("SELECT id, status FROM tracks WHERE path=?", (path,)).fetchone()
            db.execute(
                """INSERT INTO tracks (path, size, mtime_ns, status, reason, updated)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT(path) DO UPDATE SET size=excluded.size, mtime_ns=excluded.mtime_ns,
                       status=excluded.status, reason=excluded.reason, vector=NULL, updated=excluded.updated,
                       predicted_genre='', predicted_genre_score=NULL, predicted_by='', energy=NULL,
                       valence=NULL, head_logits=NULL""",
                (path, size, mtime_ns, status, _text(reason), time.time()))
            if old:
                db.execute("DELETE FROM track_tags WHERE track_id=?", (old[0],))
            if old and old[1] == "ok":
                self._bump(db, [old[0]], "delete")

    def remove(self, paths: Iterable[str]) -> int:
        paths = list(paths)
        if not paths:
            return 0
        with self.transaction() as db:
            ids = []
            for p in paths:
                row = db.execute("SELECT id, status FROM tracks WHERE path=?", (to_db_path(p),)).fetchone()
                if row:
                    db.execute("DELETE FROM tracks WHERE id=?", (row[0],))
                    db.execute("DELETE FROM track_tags WHERE track_id=?", (row[0],))
                    if row[1] == "ok":
                        ids.append(row[0])
            if ids:
                self._bump(db, ids, "delete")
        return len(paths)

    def set_model(self, model_hash: str, dim: int) -> None:
        """Record a new checkpoint: no saved index is valid any more, nor the change log."""
        with self.transaction() as db:
            self.set_meta("model_hash", model_hash, db)
            self.set_meta("embed_dim", str(dim), db)
            self.set_meta("index_generation", "-1", db)
            db.execute("DELETE FROM changes")

    def forget_changes(self, up_to: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM changes WHERE generation<=?", (up_to,))


_TAGS = ("title", "artist", "album", "genre", "date")


def _text(value: str) -> str:
    """`value` as SQLite can store it: a lone surrogate (an undecodable byte of a file name quoted
    in a decoder's message) kept as its escape, e.g. \\udcff."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _year(date: str) -> int | None:
    digits = "".join(ch for ch in date[:4] if ch.isdigit())
    return int(digits) if len(digits) == 4 else None
