"""`muser duplicates` and `--no-duplicates`: near-identical vectors, found through the index."""
import shutil

import numpy as np
import pytest

from muser_model.library.ann import AnnIndex
from muser_model.library.duplicates import duplicate_groups
from muser_model.library.store import Library
from tests.conftest import write_clip
from tests.helpers.library_fixtures import json_lines, run_cli


_run, _lines = run_cli, json_lines


@pytest.fixture
def with_copy(tmp_path, monkeypatch, tiny_checkpoint):
    """Four different clips and an exact copy of one of them."""
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    music = tmp_path / "music"
    clips = [write_clip(music / f"clip{i}.ogg", 150.0 * (i + 1), 4.0, seed=i) for i in range(4)]
    copy = music / "copies" / "clip1 (copy).ogg"
    copy.parent.mkdir()
    shutil.copy(clips[1], copy)
    res = _run("index", music, "-c", tiny_checkpoint, "--workers", 1)
    assert res.exit_code == 0, res.stderr
    return clips, copy


def test_an_exact_copy_is_found_and_different_clips_are_not(with_copy):
    clips, copy = with_copy
    res = _run("duplicates", "--json")
    assert res.exit_code == 0, res.stderr
    groups = _lines(res.stdout)
    assert len(groups) == 1
    tracks = groups[0]["tracks"]
    assert sorted(t["path"] for t in tracks) == sorted([str(clips[1]), str(copy)])
    assert all(t["cosine"] == pytest.approx(1.0, abs=1e-4) for t in tracks)
    assert "1 group(s)" in res.stderr


@pytest.mark.slow
def test_threshold_option(with_copy):
    clips, copy = with_copy
    lib = Library.open()
    ids, vectors = lib.catalogue.vectors(lib.model_hash)
    sims = vectors @ vectors.T  # (N, N)
    np.fill_diagonal(sims, -1.0)
    second = np.sort(sims.ravel())[-3]  # past the copy pair (counted twice): the closest different clips
    assert second < 0.999  # the default keeps them apart
    groups = _lines(_run("duplicates", "--json", "--threshold", f"{second - 1e-4:.6f}").stdout)
    assert sum(len(g["tracks"]) for g in groups) >= 3  # the copy pair and the closest pair
    assert _run("duplicates", "--threshold", 1.5).exit_code == 2


def test_groups_use_the_index_not_all_pairs(with_copy, monkeypatch):
    calls = []
    original = AnnIndex.neighbours

    def spy(self, vectors, k, ef):
        calls.append((len(vectors), k, ef))
        return original(self, vectors, k, ef)

    monkeypatch.setattr(AnnIndex, "neighbours", spy)
    assert len(duplicate_groups(Library.open())) == 1
    assert calls == [(5, 9, 32)]  # one batched, narrow query of all five tracks, a few neighbours each


def test_search_and_similar_can_collapse_duplicates(with_copy, tiny_checkpoint):
    clips, copy = with_copy
    every = _lines(_run("search", "tone", "--json", "-c", tiny_checkpoint).stdout)
    once = _lines(_run("search", "tone", "--json", "--no-duplicates", "-c", tiny_checkpoint).stdout)
    assert len(every) == 5 and len(once) == 4
    assert len({str(clips[1]), str(copy)} & {h["path"] for h in once}) == 1
    assert [h["rank"] for h in once] == [1, 2, 3, 4]
    plain = _lines(_run("similar", clips[1], "--json", "-c", tiny_checkpoint).stdout)
    assert plain[0]["path"] == str(copy)
    collapsed = _lines(_run("similar", clips[1], "--json", "--no-duplicates", "-c", tiny_checkpoint).stdout)
    assert str(copy) not in {h["path"] for h in collapsed} and len(collapsed) == 3


def test_duplicates_of_an_empty_library(tmp_path, monkeypatch, tiny_checkpoint):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    res = _run("duplicates")
    assert res.exit_code == 2 and "muser index" in res.stderr
