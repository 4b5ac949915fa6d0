"""Storage faults: a damaged catalogue and a full disk are one error line, exit 5, and a way out
(`muser index --rebuild`; run again) with nothing already committed lost."""
import gc
import sqlite3

import pytest

from muser_model.core.errors import EXIT_STORAGE
from muser_model.library import connection
from muser_model.library.store import Library
from tests.conftest import write_clip
from tests.helpers.library_fixtures import json_lines, run_cli

N = 4


@pytest.fixture
def music(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    folder = tmp_path / "music"
    for i in range(N):
        write_clip(folder / f"c{i}.ogg", 220.0 + 70 * i, 4.0, seed=i)
    return folder


def _index(folder, checkpoint, *more):
    return run_cli("index", folder, "-c", checkpoint, "--workers", 1, *more)


def _catalogue_file():
    gc.collect()  # connections of earlier in-process commands: closed, their WAL checkpointed
    return Library.open().root / "catalogue.sqlite"


def _one_error_line(res, *words):
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    assert "Traceback" not in res.output and all(w in lines[0] for w in words), lines[0]


@pytest.mark.parametrize("damage", ["truncated", "garbage header"])
def test_a_damaged_catalogue_is_one_line_and_rebuild_recovers(music, tiny_checkpoint, damage):
    assert _index(music, tiny_checkpoint).exit_code == 0
    path = _catalogue_file()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = path.read_bytes()
    damaged = data[: len(data) // 3] if damage == "truncated" else b"\x00garbage" * 512 + data[4096:]
    path.write_bytes(damaged)
    for args in (("list",), ("status",), ("search", "music", "-c", tiny_checkpoint), ("duplicates",)):
        res = run_cli(*args)
        assert res.exit_code == EXIT_STORAGE, (args, res.output)
        _one_error_line(res, str(path), "--rebuild")
    res = _index(music, tiny_checkpoint, "--rebuild")
    assert res.exit_code == 0, res.output
    kept = list(path.parent.glob("catalogue-*.sqlite.bad"))
    assert len(kept) == 1 and kept[0].read_bytes() == damaged  # set aside, as it was
    assert json_lines(run_cli("status", "--json").stdout)[0]["tracks"] == N


class _DiskFillsAfter(sqlite3.Connection):
    """Commits `left` transactions, then fails each as SQLite does on a full disk."""

    left = 0

    def execute(self, sql, *args):
        if sql == "COMMIT":
            if _DiskFillsAfter.left <= 0:
                raise sqlite3.OperationalError("database or disk is full")
            _DiskFillsAfter.left -= 1
        return super().execute(sql, *args)


def test_a_full_disk_is_one_line_exit_5_and_a_rerun_resumes(music, tiny_checkpoint, monkeypatch):
    monkeypatch.setattr(connection, "FACTORY", _DiskFillsAfter)
    _DiskFillsAfter.left = 3  # the model's identity and the first tracks are saved, then the disk fills
    res = _index(music, tiny_checkpoint)
    assert res.exit_code == EXIT_STORAGE, res.output
    _one_error_line(res, "no space left", "catalogue.sqlite")
    monkeypatch.setattr(connection, "FACTORY", sqlite3.Connection)
    res = _index(music, tiny_checkpoint, "--json")
    assert res.exit_code == 0, res.output
    assert json_lines(run_cli("status", "--json").stdout)[0]["tracks"] == N
    hits = json_lines(run_cli("search", "music", "--json", "-c", tiny_checkpoint).stdout)
    assert len(hits) == N


def test_a_full_disk_writing_the_log_is_one_line(music, tiny_checkpoint, monkeypatch, tmp_path):
    import builtins
    import errno

    real_open = builtins.open

    def full(path, *args, **kwargs):
        if str(path).endswith("failures.log"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", full)
    res = _index(music, tiny_checkpoint, "--log", tmp_path / "failures.log")
    assert res.exit_code == EXIT_STORAGE
    _one_error_line(res, "no space left", "failures.log")


def test_no_space_wherever_it_strikes_is_one_line(music, tiny_checkpoint, monkeypatch):
    import errno

    from muser_model.library import store

    def full(root, name, wait):
        raise OSError(errno.ENOSPC, "No space left on device", str(root / "lock"))

    monkeypatch.setattr(store, "_writer_lock", full)
    res = _index(music, tiny_checkpoint)
    assert res.exit_code == EXIT_STORAGE
    _one_error_line(res, "no space left", "lock")
