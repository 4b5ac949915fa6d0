"""`muser status` and the `muser index` summary read well: aligned columns, "no failures",
"nothing new to index", the failure list pointing at the --log file that was given, and silent
files counted and listed with their reason."""
import json

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from muser_cli.main import app
from tests.conftest import write_clip

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    return tmp_path


def _two_tracks(root):
    write_clip(root / "a.ogg", 220.0, 3.0, seed=1)
    write_clip(root / "b.wav", 440.0, 3.0, seed=2)
    return root


def test_status_values_line_up(home, tiny_checkpoint):
    assert _run("index", _two_tracks(home / "music"), "-c", tiny_checkpoint, "--workers", 1).exit_code == 0
    lines = _run("status").stdout.splitlines()
    assert any(line.startswith("index_pending_changes") for line in lines)
    starts = {len(line) - len(line.split(maxsplit=1)[1]) for line in lines}
    assert len(starts) == 1 and all(line.split(maxsplit=1)[0] + "  " in line for line in lines)


def test_status_failures_says_when_there_are_none(home, tiny_checkpoint):
    assert _run("index", _two_tracks(home / "music"), "-c", tiny_checkpoint, "--workers", 1).exit_code == 0
    res = _run("status", "--failures")
    assert res.exit_code == 0 and res.stdout == "" and res.stderr.strip() == "no failures"


def test_a_rescan_with_nothing_new_says_so(home, tiny_checkpoint):
    music = _two_tracks(home / "music")
    assert _run("index", music, "-c", tiny_checkpoint, "--workers", 1).exit_code == 0
    res = _run("index", music, "-c", tiny_checkpoint, "--workers", 1)
    assert res.exit_code == 0 and res.stderr.strip() == "nothing new to index (2 unchanged)"
    (music / "b.wav").unlink()
    res = _run("index", music, "-c", tiny_checkpoint, "--workers", 1)
    assert res.stderr.strip() == "nothing new to index (1 unchanged, 1 removed)"


@pytest.mark.slow
def test_more_failures_than_shown_point_at_the_log_given(home, tiny_checkpoint):
    music = home / "music"
    music.mkdir()
    for n in range(12):
        (music / f"bad{n:02d}.mp3").write_text("not music\n" * 20)
    log = home / "failures.tsv"
    res = _run("index", music, "-c", tiny_checkpoint, "--workers", 1, "--log", log)
    assert res.exit_code == 0
    assert res.stderr.splitlines()[-1] == f"... and 2 more (all 12 are in {log})"
    assert len(log.read_text().splitlines()) == 12
    res = _run("index", music, "-c", tiny_checkpoint, "--workers", 1, "--retry-failed")
    assert res.stderr.splitlines()[-1] == "... and 2 more (use --log FILE for all)"


def test_status_counts_silent_files_and_lists_them(home, tiny_checkpoint):
    music = home / "music"
    write_clip(music / "tone.wav", 220.0, 5.0, seed=1)
    sf.write(music / "silence.wav", np.zeros(16000 * 5, np.float32), 16000)
    res = runner.invoke(app, ["index", str(music), "-c", str(tiny_checkpoint), "--workers", "1"])
    assert res.exit_code == 0, res.stderr

    status = runner.invoke(app, ["status", "--json"])
    assert status.exit_code == 0, status.stderr
    record = json.loads(status.stdout)
    assert (record["tracks"], record["failed"], record["silent"]) == (1, 0, 1)

    listed = runner.invoke(app, ["status", "--failures"])
    assert listed.exit_code == 0
    assert "silence.wav" in listed.stdout + listed.stderr
    assert "silent" in listed.stdout + listed.stderr
    assert "tone.wav" not in listed.stdout + listed.stderr
