"""`muser index/search/similar/status` through the CLI on a generated library."""
import json
import shutil
from pathlib import Path

import pytest

from muser_model.library.query import Filters, QueryError, parse_query, parse_years
from tests.conftest import make_tiny_checkpoint, write_clip
from tests.helpers.library_fixtures import add_bad_files, home_copy, index_once, make_library
from tests.helpers.library_fixtures import json_lines, run_cli


_run, _lines = run_cli, json_lines


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_checkpoint):
    root = tmp_path_factory.mktemp("search")
    files = make_library(root / "music")
    add_bad_files(root / "music")
    return files, index_once(root, tiny_checkpoint, "--log", root / "failures.log"), root


@pytest.fixture
def indexed(built, tmp_path, monkeypatch):
    files, summary, root = built
    home_copy(root, tmp_path, monkeypatch)
    shutil.copy(root / "failures.log", tmp_path / "failures.log")
    return files, summary, tmp_path


def test_index_summary_and_failure_log(indexed):
    files, summary, tmp = indexed
    assert summary["indexed"] == len(files) - 1 + 1  # hidden skipped; the broken-tags WAV is fine
    assert summary["failed"] == 4
    log = (tmp / "failures.log").read_text().splitlines()
    assert len(log) == 4 and all("\t" in line for line in log)


def test_search_json_lines(indexed, tiny_checkpoint):
    res = _run("search", "slow blues", "--json", "-n", 3, "-c", tiny_checkpoint)
    assert res.exit_code == 0, res.stderr
    hits = _lines(res.stdout)
    assert [h["rank"] for h in hits] == [1, 2, 3]
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]
    assert {"path", "title", "artist", "album", "genre", "year", "duration"} <= set(hits[0])


def test_filters_by_option_and_by_field_syntax(indexed, tiny_checkpoint):
    by_option = _lines(_run("search", "music", "--artist", "ann lee", "--json", "-c", tiny_checkpoint).stdout)
    by_syntax = _lines(_run("search", 'music artist:"Ann Lee"', "--json", "-c", tiny_checkpoint).stdout)
    assert sorted(h["title"] for h in by_option) == ["Slow Night", "Sonata No. 1"]
    assert sorted(h["path"] for h in by_syntax) == sorted(h["path"] for h in by_option)
    years = _lines(_run("search", "music", "--year", "1950-2000", "--json", "-c", tiny_checkpoint).stdout)
    assert sorted(h["year"] for h in years) == [1962, 1999]
    genre = _lines(_run("search", "genre:jazz", "--json", "-c", tiny_checkpoint).stdout)
    assert [h["title"] for h in genre] == ["Café Été"]


def test_m3u_playlist(indexed, tiny_checkpoint):
    _, _, tmp = indexed
    res = _run("search", "piano", "-n", 2, "--m3u", tmp / "list.m3u", "-c", tiny_checkpoint)
    assert res.exit_code == 0
    lines = (tmp / "list.m3u").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#EXTM3U" and lines[1].startswith("#EXTINF:") and Path(lines[2]).is_file()
    assert len(lines) == 5


def test_similar_to_an_indexed_track_excludes_itself(indexed, tiny_checkpoint):
    files, _, _ = indexed
    res = _run("similar", files["jazz"], "--json", "-n", 3, "-c", tiny_checkpoint)
    assert res.exit_code == 0, res.stderr
    hits = _lines(res.stdout)
    assert len(hits) == 3 and str(files["jazz"]) not in [h["path"] for h in hits]


def test_similar_to_an_outside_file_finds_its_twin(indexed, tiny_checkpoint, tmp_path):
    files, _, _ = indexed
    twin = tmp_path / "elsewhere" / "copy.ogg"
    twin.parent.mkdir()
    twin.write_bytes(files["blues"].read_bytes())
    (hit, *_) = _lines(_run("similar", twin, "--json", "-c", tiny_checkpoint).stdout)
    assert hit["path"] == str(files["blues"]) and hit["score"] > 0.999


def test_similar_to_a_bad_file(indexed, tiny_checkpoint, tmp_path):
    (tmp_path / "x.mp3").write_text("nope")
    res = _run("similar", tmp_path / "x.mp3", "-c", tiny_checkpoint)
    assert res.exit_code == 1 and "x.mp3" in res.stderr


def test_status(indexed):
    files, _, _ = indexed
    report = _lines(_run("status", "--json").stdout)[0]
    assert report["tracks"] == len(files) and report["failed"] == 4
    assert report["index_bytes"] > 0 and report["index_pending_changes"] == 0
    failed = _lines(_run("status", "--failures", "--json").stdout)
    assert len(failed) == 4 and {Path(f["path"]).name for f in failed} >= {"empty.mp3", "readme.mp3"}
    assert all(f["reason"] for f in failed)


def test_empty_query_missing_and_empty_library(tmp_path, monkeypatch, tiny_checkpoint):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    res = _run("search", "piano", "-c", tiny_checkpoint)
    assert res.exit_code == 2 and "does not exist" in res.stderr and "muser index" in res.stderr
    (tmp_path / "nothing").mkdir()
    assert _run("index", tmp_path / "nothing", "-c", tiny_checkpoint).exit_code == 2  # no audio: no library
    (tmp_path / "nothing" / "bad.mp3").write_text("not music\n")  # a library whose one file failed
    assert _run("index", tmp_path / "nothing", "-c", tiny_checkpoint).exit_code == 0
    res = _run("search", "piano", "-c", tiny_checkpoint)
    assert res.exit_code == 2 and "no indexed tracks" in res.stderr
    res = _run("search", "   ", "-c", tiny_checkpoint)
    assert res.exit_code == 2 and "empty query" in res.stderr
    res = _run("index", tmp_path / "missing", "-c", tiny_checkpoint)
    assert res.exit_code == 2 and "missing" in res.stderr and "Traceback" not in res.stderr


def test_searching_with_another_checkpoint_is_refused(indexed, tmp_path):
    other = make_tiny_checkpoint(tmp_path / "other.muser", seed=3)
    res = _run("search", "piano", "-c", other)
    assert res.exit_code == 3 and "muser index" in res.stderr


def test_libraries_are_kept_apart(indexed, tiny_checkpoint, tmp_path):
    write_clip(tmp_path / "second" / "only.ogg", 500.0, 3.0)
    assert _run("index", tmp_path / "second", "--library", "work", "-c", tiny_checkpoint).exit_code == 0
    hits = _lines(_run("search", "anything", "--library", "work", "--json", "-c", tiny_checkpoint).stdout)
    assert [Path(h["path"]).name for h in hits] == ["only.ogg"]
    assert _run("search", "x", "--library", "../evil", "-c", tiny_checkpoint).exit_code == 2


def test_parse_query_and_years():
    words, f = parse_query('calm piano artist:"Nina Simone" year:1960-1969 genre:jazz')
    assert words == "calm piano"
    assert f == Filters(artist="Nina Simone", genre="jazz", year_min=1960, year_max=1969)
    assert parse_years("1999") == (1999, 1999)
    assert parse_years("1990-") == (1990, None) and parse_years("-1980") == (None, 1980)
    # beets' range form
    assert parse_years("1990..1999") == (1990, 1999)
    assert parse_years("1990..") == (1990, None) and parse_years("..1999") == (None, 1999)
    assert parse_query("year:1990..1999 calm")[1].year_max == 1999
    for bad in ("nineties", "..", "1999..1990", "1990...1999"):
        with pytest.raises(QueryError):
            parse_years(bad)


def test_similar_by_title(indexed, tiny_checkpoint):
    hits = _lines(_run("similar", "Slow Night", "--json", "-n", 2, "-c", tiny_checkpoint).stdout)
    assert len(hits) == 2 and all(h["title"] != "Slow Night" for h in hits)
    res = _run("similar", "o", "-c", tiny_checkpoint)  # too vague: several tracks match
    assert res.exit_code == 2 and "several" in res.stderr
    res = _run("similar", "no such thing 100%", "-c", tiny_checkpoint)
    assert res.exit_code == 2 and "no such file" in res.stderr


def test_search_does_not_import_torch(indexed, tiny_checkpoint):
    files, _, tmp = indexed
    script = (
        "import sys, json\n"
        "from typer.testing import CliRunner\n"
        "from muser_cli.main import app\n"
        f"res = CliRunner().invoke(app, ['search', 'slow blues', '--json', '-c', {str(tiny_checkpoint)!r}])\n"
        f"sim = CliRunner().invoke(app, ['similar', {str(files['jazz'])!r}, '--json', '-c', {str(tiny_checkpoint)!r},"
        " '--device', 'cpu'])\n"
        "print(json.dumps({'code': res.exit_code, 'hits': len(res.stdout.splitlines()),"
        " 'similar': [sim.exit_code, len(sim.stdout.splitlines())], 'torch': 'torch' in sys.modules}))\n"
    )
    import os
    import subprocess
    import sys as _sys

    out = subprocess.run([_sys.executable, "-c", script], capture_output=True, text=True, env=os.environ.copy())
    report = json.loads(out.stdout)
    assert report == {"code": 0, "hits": len(files), "similar": [0, len(files) - 1], "torch": False}
    assert not list((tmp / "home" / "libraries" / "default").glob("text-head-*.npz"))  # the checkpoint serves


def test_the_torch_fallback_ranks_as_the_numpy_path(indexed, tiny_checkpoint, monkeypatch):
    import muser_model.text_model as text_model

    fast = _lines(_run("search", "slow blues", "--json", "-c", tiny_checkpoint).stdout)
    monkeypatch.setattr(text_model, "numpy_text_model", lambda checkpoint: None)  # e.g. a format-1 checkpoint
    slow = _lines(_run("search", "slow blues", "--json", "-c", tiny_checkpoint).stdout)
    assert [h["path"] for h in fast] == [h["path"] for h in slow]
    assert [h["score"] for h in fast] == pytest.approx([h["score"] for h in slow], abs=1e-3)


def test_index_removes_the_query_head_older_versions_kept(indexed, built, tiny_checkpoint):
    _, _, tmp = indexed
    legacy = tmp / "home" / "libraries" / "default" / "text-head-0123456789abcdef.npz"
    legacy.write_bytes(b"old")
    assert _run("index", built[2] / "music", "-c", tiny_checkpoint, "--workers", 1).exit_code == 0
    assert not legacy.exists()


def test_query_embedder_comes_from_the_checkpoint_numpy_section(tiny_checkpoint, tiny_model):
    from muser_model.text_model import numpy_text_model

    got = numpy_text_model(tiny_checkpoint).embed(["slow blues", "loud rock"])  # (2, E)
    want = tiny_model.embed_texts(["slow blues", "loud rock"]).float().cpu().numpy()
    assert got.shape == want.shape and abs(got - want).max() < 1e-4
