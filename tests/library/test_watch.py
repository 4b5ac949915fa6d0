"""`muser index --watch`: new, changed and removed files are indexed once they settle; SIGTERM
ends the watch with everything kept."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from muser_model.library import watch as watch_module
from tests.conftest import write_clip


def test_changes_wait_for_a_quiet_spell(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(watch_module.time, "monotonic", lambda: now[0])
    changes = watch_module._Changes()
    assert changes.take_if_quiet(2.0) is None  # nothing reported
    changes.add("/m/a.ogg")
    now[0] += 1.0
    changes.add("/m/b.ogg", "")  # still being written to: the quiet spell starts again
    now[0] += 1.5
    assert changes.take_if_quiet(2.0) is None
    now[0] += 0.6
    assert changes.take_if_quiet(2.0) == {"/m/a.ogg", "/m/b.ogg"}
    assert changes.take_if_quiet(2.0) is None  # taken


def test_a_file_that_changes_during_the_wait_is_not_settled(tmp_path):
    grown = tmp_path / "growing.ogg"
    grown.write_bytes(b"x")
    before = watch_module._stats({str(grown), str(tmp_path / "gone.ogg")})
    grown.write_bytes(b"xx")
    assert watch_module._stats({str(grown), str(tmp_path / "gone.ogg")}) != before
    assert before[str(tmp_path / "gone.ogg")] is None


def _paths(home: Path) -> set[str]:
    db = home / "libraries" / "default" / "catalogue.sqlite"
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return {Path(r[0]).name for r in con.execute("SELECT path FROM tracks WHERE status='ok'")}
    except sqlite3.Error:
        return set()


def _until(condition, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)  # polling the catalogue, with a deadline
    return False


@pytest.mark.slow  # a real watch: a scan, a settle wait per change, a decoder pool each time
def test_watch_indexes_new_files_drops_removed_ones_and_stops_on_sigterm(tmp_path, tiny_checkpoint):
    music, home = tmp_path / "music", tmp_path / "home"
    write_clip(music / "first.ogg", 220.0, 3.0, seed=1)
    env = {**os.environ, "MUSER_HOME": str(home), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-m", "muser_cli.main", "index", str(music), "--watch", "--settle", "0.5",
                             "-c", str(tiny_checkpoint), "--workers", "1", "--engine", "numpy"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _until(lambda: _paths(home) == {"first.ogg"})
        write_clip(tmp_path / "staging.ogg", 330.0, 3.0, seed=2)
        os.replace(tmp_path / "staging.ogg", music / "second.ogg")  # as a finished copy lands
        assert _until(lambda: _paths(home) == {"first.ogg", "second.ogg"})
        (music / "first.ogg").unlink()
        assert _until(lambda: _paths(home) == {"second.ogg"})
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, stderr
    assert "stopped watching; everything indexed so far is kept" in stderr
