"""M3U playlists: one-line errors, the umask's mode, atomic writes, portable relative paths."""
import os
import stat

import pytest
from typer.testing import CliRunner

from muser_cli.main import app
from muser_model.library.playlist import PlaylistError, write_m3u
from muser_model.library.query import Hit
from tests.helpers.library_fixtures import make_library

runner = CliRunner()


def _hits():
    return [Hit(1, 0.9, "/music/a.ogg", "A", "Ann", "", "", None, 61.4),
            Hit(2, 0.8, "/music/b.ogg", "", "", "", "", None, None)]


@pytest.fixture
def umask():
    def set_mask(mask):
        os.umask(mask)

    old = os.umask(0o022)
    yield set_mask
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_mode_follows_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    write_m3u(_hits(), tmp_path / "list.m3u")
    assert stat.S_IMODE((tmp_path / "list.m3u").stat().st_mode) == mode
    assert (tmp_path / "list.m3u").read_text().splitlines() == [
        "#EXTM3U", "#EXTINF:61,Ann - A", "/music/a.ogg", "#EXTINF:-1,b", "/music/b.ogg"]


def test_replaces_atomically_and_leaves_no_temporary_file(tmp_path, umask):
    target = tmp_path / "list.m3u"
    target.write_text("old")
    write_m3u(_hits()[:1], target)
    assert target.read_text().startswith("#EXTM3U") and os.listdir(tmp_path) == ["list.m3u"]


def test_a_missing_folder_raises_a_file_error(tmp_path):
    with pytest.raises(PlaylistError, match=r"nope/list.m3u: cannot write playlist \(no such folder"):
        write_m3u(_hits(), tmp_path / "nope" / "list.m3u")
    with pytest.raises(PlaylistError, match="is a folder"):
        write_m3u(_hits(), tmp_path)


@pytest.mark.slow
def test_cli_says_one_line_and_fails(tmp_path, monkeypatch, tiny_checkpoint):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    make_library(tmp_path / "music")
    res = runner.invoke(app, ["index", str(tmp_path / "music"), "-c", str(tiny_checkpoint), "--workers", "1"])
    assert res.exit_code == 0
    res = runner.invoke(app, ["search", "piano", "-c", str(tiny_checkpoint), "--m3u", str(tmp_path / "no" / "x.m3u")])
    assert res.exit_code == 2
    assert [line for line in res.stderr.splitlines() if line.strip()] == [
        f"error: {tmp_path / 'no' / 'x.m3u'}: cannot write playlist (no such folder: {tmp_path / 'no'})"]


def _hits_under(root):
    return [Hit(1, 0.9, str(root / "music" / "Ann" / "a.ogg"), "A", "Ann", "", "", None, 61.4),
            Hit(2, 0.8, str(root / "music" / "b.ogg"), "", "", "", "", None, None)]


def test_paths_are_relative_to_a_given_music_folder(tmp_path):
    (tmp_path / "lists").mkdir()
    write_m3u(_hits_under(tmp_path), tmp_path / "lists" / "x.m3u8", relative_to=tmp_path / "music")
    assert (tmp_path / "lists" / "x.m3u8").read_text(encoding="utf-8").splitlines()[2::2] == ["Ann/a.ogg", "b.ogg"]


def test_a_playlist_in_the_music_folder_is_relative_to_itself(tmp_path):
    hits = _hits_under(tmp_path)
    (tmp_path / "music" / "Ann").mkdir(parents=True)
    write_m3u(hits, tmp_path / "music" / "x.m3u")
    entries = (tmp_path / "music" / "x.m3u").read_text().splitlines()[2::2]
    assert entries == ["Ann/a.ogg", "b.ogg"]
    assert [str((tmp_path / "music" / e).resolve()) for e in entries] == [h.path for h in hits]  # resolve from its folder
    write_m3u(hits, tmp_path / "music" / "Ann" / "y.m3u")  # b.ogg is not under Ann/: all absolute
    assert (tmp_path / "music" / "Ann" / "y.m3u").read_text().splitlines()[2::2] == [h.path for h in hits]


def test_a_track_outside_the_music_folder_stays_absolute(tmp_path):
    hits = [*_hits_under(tmp_path), Hit(3, 0.7, "/elsewhere/c.ogg", "", "", "", "", None, None)]
    write_m3u(hits, tmp_path / "x.m3u", relative_to=tmp_path / "music")
    assert (tmp_path / "x.m3u").read_text().splitlines()[2::2] == ["Ann/a.ogg", "b.ogg", "/elsewhere/c.ogg"]
