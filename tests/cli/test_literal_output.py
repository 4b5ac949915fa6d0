"""What a user or a file controls (names, tags, decoder messages) prints literally on stdout and
stderr: never read as Rich markup (`[bold]`, `[link=...]`) or emoji codes (`:fire:`, ffmpeg's `0:a:0`)."""
import json

import pytest
from typer.testing import CliRunner

from muser_cli import output
from muser_cli.main import app
from tests.conftest import write_clip
from tests.helpers.library_fixtures import tag_file

runner = CliRunner()
ODD = "song [bold]live [link=https:example.com]x :fire: 0:a:0"  # also a file name: no "/"
TAG = "[bold]Ann[/bold] [link=http://example.com]x[/link] :fire:"


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_error_and_warning_lines_are_literal(capsys):
    output.error(f"{ODD}.mp3: cannot read audio (Stream #0:a:0 [red]bad[/red])")
    output.warn(f"{TAG}: odd")
    output.message(f"wrote 3 tracks to {ODD}.m3u")
    err = capsys.readouterr().err.splitlines()
    assert err == [f"error: {ODD}.mp3: cannot read audio (Stream #0:a:0 [red]bad[/red])",
                   f"warning: {TAG}: odd", f"wrote 3 tracks to {ODD}.m3u"]


@pytest.mark.slow
def test_tag_reports_an_odd_file_name_literally(tiny_checkpoint, tmp_path):
    bad = tmp_path / f"{ODD}.mp3"
    bad.write_text("not music\n" * 20)
    res = _run("tag", bad, "-c", tiny_checkpoint)
    assert res.exit_code == 1
    assert res.stderr.splitlines()[0].startswith(f"error: {bad}: ")


def test_tag_prints_an_odd_name_on_stdout_literally(tiny_checkpoint, tmp_path):
    good = write_clip(tmp_path / f"{ODD}.wav", 330.0, 3.0)
    res = _run("tag", good, "-c", tiny_checkpoint)
    assert res.exit_code == 0 and res.stdout.splitlines()[0] == str(good)


@pytest.fixture
def odd_library(tmp_path, monkeypatch, tiny_checkpoint):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    music = tmp_path / "music"
    track = write_clip(music / "a.ogg", 220.0, 4.0, seed=1)
    tag_file(track, title=ODD, artist=TAG)
    bad = music / f"{ODD}.mp3"
    bad.write_text("not music\n" * 20)
    res = _run("index", music, "-c", tiny_checkpoint, "--workers", 1)
    return res, track, bad


def test_index_failures_print_literally(odd_library):
    res, _, bad = odd_library
    assert res.exit_code == 0
    assert any(line.startswith(f"error: {bad}: ") for line in res.stderr.splitlines()), res.stderr


def test_search_hits_and_playlist_message_print_literally(odd_library, tiny_checkpoint, tmp_path):
    _, track, _ = odd_library
    playlist = tmp_path / "[bold]list :fire:.m3u"
    res = _run("search", "anything", "-c", tiny_checkpoint, "--m3u", playlist)
    assert res.exit_code == 0
    assert f"{TAG} - {ODD}  {track}" in res.stdout
    assert f"wrote 1 tracks to {playlist}" in res.stderr
    (hit,) = [json.loads(line) for line in _run("search", "anything", "--json", "-c", tiny_checkpoint).stdout.splitlines()]
    assert hit["title"] == ODD


def test_status_failures_print_literally(odd_library):
    _, _, bad = odd_library
    res = _run("status", "--failures")
    assert res.exit_code == 0 and res.stdout.splitlines()[0].startswith(f"{bad}\t")
