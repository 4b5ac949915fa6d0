"""A file name that is not valid UTF-8 (bytes \\xff\\xfe): indexed, listed, found and tagged, its
bytes kept exactly (catalogue, JSON as \\udcXX escapes, text output as on disk)."""
import json
import os

import pytest

from tests.conftest import write_clip
from tests.helpers.library_fixtures import run_cli

BAD_NAME = b"caf\xff\xfe song.ogg"


def _strict_json(line: str):
    def no_constant(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(line, parse_constant=no_constant)


@pytest.fixture
def odd_music(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    music = tmp_path / "music"
    write_clip(music / "plain.ogg", 300.0, 4.0, seed=1)
    source = write_clip(music / "tmp.ogg", 500.0, 4.0, seed=2)
    bad = os.path.join(os.fsencode(music), BAD_NAME)
    os.rename(os.fsencode(source), bad)
    return music, os.fsdecode(bad)


def test_index_list_and_similar_keep_a_non_utf8_name(odd_music, tiny_checkpoint):
    music, bad = odd_music
    res = run_cli("index", music, "-c", tiny_checkpoint, "--workers", 1)
    assert res.exit_code == 0, res.output
    again = run_cli("index", music, "-c", tiny_checkpoint, "--workers", 1, "--json")
    assert again.exit_code == 0 and _strict_json(again.stdout)["unchanged"] == 2
    listed = run_cli("list", "--json")
    assert listed.exit_code == 0, listed.output
    paths = [_strict_json(line)["path"] for line in listed.stdout.splitlines()]
    assert bad in paths and os.fsencode(bad) in [os.fsencode(p) for p in paths]
    text = run_cli("list")
    assert BAD_NAME in text.stdout_bytes  # the name's bytes as they are on disk
    similar = run_cli("similar", bad, "--json", "-c", tiny_checkpoint)
    assert similar.exit_code == 0, similar.output
    assert [_strict_json(line)["path"] for line in similar.stdout.splitlines()]
    failures = run_cli("status", "--json")
    assert _strict_json(failures.stdout)["tracks"] == 2


def test_tag_json_is_valid_json_for_a_non_utf8_name(odd_music, tiny_checkpoint):
    music, bad = odd_music
    res = run_cli("tag", music, "--json", "-c", tiny_checkpoint)
    assert res.exit_code == 0, res.output
    assert BAD_NAME not in res.stdout_bytes  # escaped, not raw bytes
    paths = [_strict_json(line)["path"] for line in res.stdout.splitlines()]
    assert os.fsencode(bad) in [os.fsencode(p) for p in paths]
