"""`muser status` and the `muser index` summary read well: aligned columns, "no failures",
"nothing new to index", and the failure list pointing at the --log file that was given."""
import pytest
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
