"""`muser list`: the library's tracks, filtered, sorted, literal, as text or JSON."""
import json
from pathlib import Path

import pytest

from tests.conftest import write_clip
from tests.helpers.library_fixtures import home_copy, index_once, make_library, tag_file
from tests.helpers.library_fixtures import json_lines, run_cli


_run, _lines = run_cli, json_lines


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_checkpoint):
    root = tmp_path_factory.mktemp("list")
    files = make_library(root / "music")
    markup = write_clip(root / "music" / "[red]odd[/red].ogg", 600.0, 2.0, seed=7)
    tag_file(markup, title="[bold]Not bold[/bold]", artist="Ann Lee")
    files["markup"] = markup
    files.pop("hidden")
    index_once(root, tiny_checkpoint)
    return files, root


@pytest.fixture
def indexed(built, tmp_path, monkeypatch):
    files, root = built
    home_copy(root, tmp_path, monkeypatch)
    return files


def test_lists_every_track_by_path_with_the_json_fields(indexed):
    rows = _lines(_run("list", "--json").stdout)
    assert [r["path"] for r in rows] == sorted(str(p) for p in indexed.values())
    assert set(rows[0]) == {"path", "title", "artist", "album", "genre", "year", "duration", "predicted_genre",
                            "predicted_tags", "energy", "valence", "added"}
    assert all(r["predicted_genre"] and len(r["predicted_tags"]) == 5 for r in rows)


def test_filters_by_option_and_by_query_terms(indexed):
    by_option = _lines(_run("list", "--artist", "ann lee", "--json").stdout)
    by_term = _lines(_run("list", 'artist:"Ann Lee"', "--json").stdout)
    assert {r["path"] for r in by_option} == {r["path"] for r in by_term} == {
        str(indexed["blues"]), str(indexed["piano"]), str(indexed["markup"])}
    assert [r["title"] for r in _lines(_run("list", "--year", "1990-2010", "--json").stdout)] == ["Café Été", "Loud"]
    assert [Path(r["path"]).name for r in _lines(_run("list", "sonata", "--json").stdout)] == ["sonata.flac"]
    assert _lines(_run("list", "genre:jazz nuits", "--json").stdout)[0]["album"] == "Nuits"
    genre = _lines(_run("list", "--json").stdout)[0]["predicted_genre"]
    rows = _lines(_run("list", "--predicted-genre", genre, "--json").stdout)
    assert rows and all(r["predicted_genre"] == genre for r in rows)
    tag = rows[0]["predicted_tags"][0]["label"]
    assert str(rows[0]["path"]) in {r["path"] for r in _lines(_run("list", "--tag", tag, "--json").stdout)}
    res = _run("list", "no-such-word-anywhere")
    assert res.exit_code == 0 and res.stdout == "" and "no matching tracks" in res.stderr


def test_sort_reverse_and_limit(indexed):
    durations = [r["duration"] for r in _lines(_run("list", "--sort", "duration", "--json").stdout)]
    assert durations == sorted(durations)
    titles = [r["title"].lower() for r in _lines(_run("list", "--sort", "title", "-r", "--json").stdout)]
    assert titles == sorted(titles, reverse=True)
    genres = [r["predicted_genre"] for r in _lines(_run("list", "--sort", "predicted-genre", "--json").stdout)]
    assert genres == sorted(genres)
    assert len(_lines(_run("list", "--sort", "added", "-n", 2, "--json").stdout)) == 2
    res = _run("list", "--sort", "size")
    assert res.exit_code == 2 and "--sort" in res.stderr
    assert _run("list", "--limit", 0).exit_code == 2


def test_added_survives_a_re_index(indexed, built, tiny_checkpoint):
    before = {r["path"]: r["added"] for r in _lines(_run("list", "--json").stdout)}
    touched = indexed["rock"]
    touched.write_bytes(touched.read_bytes())  # new mtime: embedded again
    assert _run("index", built[1] / "music", "-c", tiny_checkpoint, "--workers", 1).exit_code == 0
    after = {r["path"]: r["added"] for r in _lines(_run("list", "--json").stdout)}
    assert after == before


def test_text_output_prints_tags_literally(indexed):
    res = _run("list", "--artist", "ann lee")
    assert res.exit_code == 0
    line = next(line for line in res.stdout.splitlines() if "odd" in line)
    assert "[bold]Not bold[/bold]" in line and "[red]odd[/red].ogg" in line


def test_missing_library(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "none"))
    res = _run("list")
    assert res.exit_code == 2 and "does not exist" in res.stderr
    assert not (tmp_path / "none").exists()  # listing creates nothing


@pytest.mark.parametrize("command", ["list", "duplicates"])
def test_every_option_has_help(command):
    import typer.main

    from muser_cli.main import app as the_app

    click_command = typer.main.get_command(the_app).commands[command]
    missing = [p.name for p in click_command.params if not getattr(p, "help", None) and p.name != "help"]
    assert missing == []


def test_list_and_duplicates_never_import_torch(indexed):
    import os
    import subprocess
    import sys

    script = (
        "import sys, json\n"
        "from typer.testing import CliRunner\n"
        "from muser_cli.main import app\n"
        "codes = [CliRunner().invoke(app, args).exit_code for args in (['list', '--json'], ['duplicates'])]\n"
        "print(json.dumps({'codes': codes, 'torch': 'torch' in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=os.environ.copy())
    assert json.loads(out.stdout) == {"codes": [0, 0], "torch": False}
