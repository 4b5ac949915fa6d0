"""Reading commands never write the library: a library on a read-only mount can be searched.

Tests run as root here, and root ignores permission bits, so a chmod'ed folder proves nothing
for root: `folder_writable` is forced False instead, which is what a read-only folder makes it
return, and the tests check that the catalogue, its folder and the index stay byte-for-byte as
they were and no -wal/-shm file appears. As another user, the last test chmods the folder for real.
"""
import gc
import os
import sqlite3

import pytest

from muser_model.core.errors import StorageError
from muser_model.library import connection
from muser_model.library.catalogue import Catalogue
from muser_model.library.store import Library
from tests.helpers.library_fixtures import indexed_clips, json_lines, run_cli

READERS = (("list", "--json"), ("status", "--json"), ("duplicates", "--json"))


@pytest.fixture
def closed_library(tmp_path, monkeypatch, tiny_checkpoint):
    """An indexed library whose writers are all closed (no -wal or -shm file left)."""
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    indexed_clips(tmp_path / "music", tiny_checkpoint, 3)
    gc.collect()
    root = Library.open().root
    gc.collect()
    with sqlite3.connect(root / "catalogue.sqlite") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for leftover in root.glob("catalogue.sqlite-*"):
        leftover.unlink()
    return root


def _snapshot(root):
    return {p.name: p.read_bytes() for p in root.iterdir() if p.name != "lock"}


def test_readers_on_a_read_only_folder_write_nothing(closed_library, tiny_checkpoint, monkeypatch):
    monkeypatch.setattr(connection, "folder_writable", lambda path: False)
    before = _snapshot(closed_library)
    for args in READERS + (("search", "music", "--json", "-c", tiny_checkpoint),):
        res = run_cli(*args)
        assert res.exit_code == 0, (args, res.output)
        assert json_lines(res.stdout) or args[0] == "duplicates"  # no copies: no group
    gc.collect()
    assert _snapshot(closed_library) == before  # no -wal, no -shm, nothing changed


def test_an_open_reader_makes_no_wal_or_shm_file(closed_library, monkeypatch):
    """What the old reader did (journal_mode=WAL, read-write) creates both while open, which a
    read-only folder refuses ("unable to open database file")."""
    monkeypatch.setattr(connection, "folder_writable", lambda path: False)
    lib = Library.open(readonly=True)
    assert len(lib.catalogue.list_rows()) == 3 and lib.ann()[0].size == 3
    assert sorted(p.name for p in closed_library.glob("catalogue.sqlite*")) == ["catalogue.sqlite"]
    lib.close()


def test_a_read_only_catalogue_refuses_writes(closed_library):
    cat = Catalogue(closed_library / "catalogue.sqlite", readonly=True)
    with pytest.raises(StorageError, match="readonly"):
        cat.put_failure("/x.ogg", 1, 2, "broken")


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits")
def test_a_chmod_read_only_library_can_be_searched(closed_library, tiny_checkpoint):
    os.chmod(closed_library, 0o555)
    try:
        for args in READERS + (("search", "music", "--json", "-c", tiny_checkpoint),):
            assert run_cli(*args).exit_code == 0, args
    finally:
        os.chmod(closed_library, 0o755)
