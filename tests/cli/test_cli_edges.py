"""Command-line edges: each is one error line and exit 2, before any long work starts."""
import pytest

from muser_model.library.playlist import write_m3u
from muser_model.library.query import Hit
from tests.conftest import write_clip
from tests.helpers.library_fixtures import indexed_clips, json_lines, run_cli


@pytest.fixture
def library(tmp_path, monkeypatch, tiny_checkpoint):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    indexed_clips(tmp_path / "music", tiny_checkpoint, 2, name="song")
    return tmp_path / "music"


def _usage_error(res, *words):
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("error: ") and "Traceback" not in res.output, res.output
    assert all(w in res.stderr for w in words), res.stderr


@pytest.mark.parametrize("log", ["/nonexistent/dir/x.log", "/tmp"])
def test_a_bad_log_file_is_refused_before_the_scan(tmp_path, monkeypatch, tiny_checkpoint, log):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    write_clip(tmp_path / "music" / "a.ogg", 300.0, 3.0)
    res = run_cli("index", tmp_path / "music", "-c", tiny_checkpoint, "--workers", 1, "--log", log)
    _usage_error(res, "--log", log)
    assert not (tmp_path / "home").exists()  # refused before anything was scanned or written


@pytest.mark.parametrize("command", ["index", "tag"])
def test_an_empty_path_is_an_error_not_the_working_folder(tmp_path, monkeypatch, tiny_checkpoint, command):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    write_clip(tmp_path / "here.ogg", 300.0, 3.0)
    _usage_error(run_cli(command, "", "-c", tiny_checkpoint), "empty path")


def test_list_with_a_thousand_words(library):
    res = run_cli("list", " ".join(f"w{i}" for i in range(999)))
    assert res.exit_code == 0 and "no matching tracks" in res.stderr, res.output
    found = "music/song"
    words = [found[i:j] for i in range(len(found)) for j in range(i + 1, len(found) + 1)]  # all in each path
    res = run_cli("list", " ".join(words[i % len(words)] for i in range(999)), "--json")
    assert res.exit_code == 0 and len(json_lines(res.stdout)) == 2, res.output


@pytest.mark.parametrize("command", ["search", "similar"])
def test_search_and_similar_refuse_an_unknown_device(library, tiny_checkpoint, command):
    target = "music" if command == "search" else str(library / "song0.ogg")
    _usage_error(run_cli(command, target, "--device", "tpu", "-c", tiny_checkpoint), "tpu")


@pytest.mark.parametrize("args, words", [(("--year", "2000-1990"), ("2000-1990",)), (("--tag", ""), ("--tag",)),
                                         (("--tag", " "), ("--tag",))])
def test_list_refuses_a_reversed_year_range_and_an_empty_tag(library, args, words):
    _usage_error(run_cli("list", *args), *words)


def test_a_file_name_with_a_line_break_is_left_out_of_a_playlist(tmp_path):
    hits = [Hit(1, 0.9, "/m/a.ogg", "A\nB", "", "", "", None, 3.0),
            Hit(2, 0.8, "/m/evil\n/etc/passwd.ogg", "", "", "", "", None, 3.0),
            Hit(3, 0.7, "/m/cr\r.ogg", "", "", "", "", None, 3.0)]
    left_out = write_m3u(hits, tmp_path / "p.m3u")
    assert left_out == [hits[1].path, hits[2].path]
    assert (tmp_path / "p.m3u").read_text().splitlines() == ["#EXTM3U", "#EXTINF:3,A B", "/m/a.ogg"]
