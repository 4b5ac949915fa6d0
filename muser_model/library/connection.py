"""The catalogue's SQLite connection: opened read-write or read-only, its storage failures turned
into typed errors, and file names that are not UTF-8 stored losslessly.

Every statement's rows are read at once inside the translation, so that a damaged page met while
iterating raises CatalogueDamagedError as well, never a bare sqlite3 error.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from urllib.parse import quote

from muser_model.core.errors import CatalogueDamagedError, DiskFullError, StorageError

# SQLite's primary result codes (sqlite3.Error.sqlite_errorcode & 0xff)
_READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 8, 10, 11, 13, 14, 26
FACTORY: type[sqlite3.Connection] = sqlite3.Connection  # tests swap in one that fails on purpose


def storage_error(exc: sqlite3.Error, path: Path) -> StorageError | None:
    """The typed error for a storage failure of the catalogue at `path`; None for any other."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    text = str(exc)
    if code == _FULL or "disk is full" in text or (code == _IOERR and _nearly_full(path)):
        return DiskFullError(path)
    if code in (_CORRUPT, _NOTADB) or "malformed" in text or "not a database" in text:
        return CatalogueDamagedError(path, text)
    if code in (_READONLY, _CANTOPEN, _IOERR) or "readonly database" in text:
        return StorageError(f"{path}: {text}")
    return None


def _nearly_full(path: Path) -> bool:
    """Whether the disk of `path` is (all but) full: SQLite reports a write that failed for want
    of space in its journal as an I/O error."""
    try:
        return shutil.disk_usage(path.parent).free < (64 << 20)
    except OSError:
        return False


class Rows(list):
    """A statement's rows, already read: fetchone/fetchall as on a cursor."""

    def fetchone(self):
        return self[0] if self else None

    def fetchall(self) -> list:
        return list(self)


class Connection:
    """A sqlite3 connection in autocommit mode whose storage errors are typed (storage_error)."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path, self.readonly = path, readonly
        try:
            self.raw = _connect(path, readonly)
        except sqlite3.Error as exc:
            typed = storage_error(exc, path)
            if typed is None:
                raise
            raise typed from exc

    def execute(self, sql: str, params=()) -> Rows:
        try:
            return Rows(self.raw.execute(sql, params).fetchall())
        except sqlite3.Error as exc:
            typed = storage_error(exc, self.path)
            if typed is None:
                raise
            raise typed from exc

    def executemany(self, sql: str, rows) -> None:
        try:
            self.raw.executemany(sql, rows)
        except sqlite3.Error as exc:
            typed = storage_error(exc, self.path)
            if typed is None:
                raise
            raise typed from exc

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    def close(self) -> None:
        self.raw.close()


def folder_writable(path: Path) -> bool:
    """Whether SQLite can create the -wal and -shm files beside `path`."""
    return os.access(path.parent, os.W_OK)


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    if not readonly:
        return sqlite3.connect(path, timeout=30, isolation_level=None, factory=FACTORY)
    # mode=ro never writes the catalogue; where its folder cannot be written, the -shm file WAL
    # readers need cannot be made either, and immutable=1 reads the file as it is (a library on a
    # read-only mount, closed cleanly by its last writer, has nothing left in a -wal file).
    uri = f"file:{quote(str(path))}?mode=ro" + ("" if folder_writable(path) else "&immutable=1")
    return sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, factory=FACTORY)


def to_db_path(path: str) -> str | bytes:
    """A file name as stored: the str, or its bytes (a BLOB) when it is not valid UTF-8 (a name
    read from disk holds its undecodable bytes as surrogate escapes, os.fsdecode)."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path)


def from_db_path(value: str | bytes) -> str:
    """A stored file name as a str that os.fsencode turns back into the same bytes."""
    return os.fsdecode(value) if isinstance(value, bytes) else value
