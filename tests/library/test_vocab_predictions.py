"""Library predictions of a checkpoint with the MSD-50 vocabulary: the MSD top tags are stored
beside the MTT ones at index time, shown with their vocabulary, and `--tag` filters on them
(`msd:rock` one vocabulary, `rock` any), within catalogue schema 2."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from muser_model.library.catalogue import Catalogue
from muser_model.library.filters import Filters
from muser_model.library.predict import PREDICTED_TAGS, TAG_MIN_PROBABILITY, numpy_predictor
from muser_model.library.records import Prediction, TrackRow, VocabTags
from muser_model.library.store import Library
from muser_model.numpy_engine.audio import NumpyMuser
from tests.helpers.library_fixtures import json_lines, make_library, run_cli

HIGH, LOW = max(TAG_MIN_PROBABILITY.values()) + 0.1, min(TAG_MIN_PROBABILITY.values()) - 0.1


def _catalogue_with(tmp_path, predictions: list[Prediction]) -> Catalogue:
    cat = Catalogue(tmp_path / "c.sqlite")
    rows = [TrackRow(f"/m/{i}.ogg", 1, 1, np.eye(4, dtype=np.float32)[i], {}, 3.0, 1)
            for i in range(len(predictions))]
    cat.put_tracks(rows, "hash", predictions, "key")
    return cat


def _paths(cat: Catalogue, *tags: str) -> set[str]:
    ids = cat.select_ids(Filters(tags=list(tags)))
    return {row["path"] for row in cat.rows(ids).values()}


@pytest.fixture
def two_vocabularies(tmp_path) -> Catalogue:
    return _catalogue_with(tmp_path, [
        Prediction("rock", 0.9, [("rock", HIGH)], "probability", [VocabTags("msd", [("90s", HIGH)], "probability")]),
        Prediction("rock", 0.9, [("piano", HIGH)], "probability",
                   [VocabTags("msd", [("rock", HIGH), ("Hip-Hop", LOW)], "probability")]),
        Prediction("jazz", 0.9, [("piano", HIGH)], "probability"),
    ])


def test_a_vocabulary_id_filters_on_that_vocabulary_only(two_vocabularies):
    assert _paths(two_vocabularies, "msd:rock") == {"/m/1.ogg"}
    assert _paths(two_vocabularies, "mtt:rock") == {"/m/0.ogg"}
    assert _paths(two_vocabularies, "MSD:90S") == {"/m/0.ogg"}  # case-insensitive, as MTT tags


def test_a_plain_label_matches_it_in_every_vocabulary(two_vocabularies):
    assert _paths(two_vocabularies, "rock") == {"/m/0.ogg", "/m/1.ogg"}
    assert _paths(two_vocabularies, "90s") == {"/m/0.ogg"}
    assert _paths(two_vocabularies, "piano", "msd:rock") == {"/m/1.ogg"}  # every tag required


def test_an_msd_probability_needs_the_documented_score(two_vocabularies):
    assert _paths(two_vocabularies, "hip-hop") == set()


def test_each_vocabulary_has_its_own_score_floor(tmp_path):
    between = (TAG_MIN_PROBABILITY["msd"] + TAG_MIN_PROBABILITY["mtt"]) / 2  # above MSD's, below MTT's
    assert TAG_MIN_PROBABILITY["msd"] < between < TAG_MIN_PROBABILITY["mtt"]
    cat = _catalogue_with(tmp_path, [
        Prediction("rock", 0.9, [("rock", between)], "probability", [VocabTags("msd", [("rock", between)], "probability")]),
        Prediction("rock", 0.9, [("rock", HIGH)], "probability"),
    ])
    assert _paths(cat, "msd:rock") == {"/m/0.ogg"}
    assert _paths(cat, "mtt:rock") == {"/m/1.ogg"}
    assert _paths(cat, "rock") == {"/m/0.ogg", "/m/1.ogg"}  # /m/0.ogg through its MSD tag


def test_stored_tags_name_their_vocabulary_mtt_first(two_vocabularies):
    row = two_vocabularies.rows([2])[2]
    assert row["predicted_tags"] == [{"label": "piano", "score": HIGH, "vocab": "mtt"},
                                     {"label": "rock", "score": HIGH, "vocab": "msd"},
                                     {"label": "Hip-Hop", "score": LOW, "vocab": "msd"}]


def test_predictor_key_changes_only_for_checkpoints_with_more_vocabularies(tiny_checkpoint, msd_checkpoint):
    plain, msd = NumpyMuser.load(tiny_checkpoint), NumpyMuser.load(msd_checkpoint)
    vocabulary = json.dumps([plain.tags, plain.genres]).encode()  # the key of libraries indexed before
    assert numpy_predictor(plain).key == f"{plain.content_hash[:16]}:{hashlib.sha256(vocabulary).hexdigest()[:12]}"
    assert numpy_predictor(plain).more_kinds == {}
    assert numpy_predictor(msd).more_kinds == {"msd": ("msd", msd.tag_vocabularies()["msd"])}


@pytest.fixture
def indexed_with_msd(tmp_path, monkeypatch, msd_checkpoint):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    make_library(tmp_path / "music")
    res = run_cli("index", tmp_path / "music", "-c", msd_checkpoint, "--workers", 1, "--json")
    assert res.exit_code == 0, res.stderr
    return tmp_path


def test_index_stores_the_msd_top_tags_and_list_filters_on_them(indexed_with_msd, msd_checkpoint):
    predictor = numpy_predictor(NumpyMuser.load(msd_checkpoint))
    lib = Library.open()
    ids, vectors = lib.catalogue.vectors(lib.model_hash)
    rows = lib.catalogue.rows(ids.tolist())
    expected = {rows[i]["path"]: p for i, p in zip(ids.tolist(), predictor(vectors))}
    listed = json_lines(run_cli("list", "--json").stdout)
    assert {r["path"] for r in listed} == set(expected)
    for row in listed:
        want = expected[row["path"]]
        (msd,) = want.more_tags
        assert [(t["label"], t["score"], t["vocab"]) for t in row["predicted_tags"]] == (
            [(label, score, "mtt") for label, score in want.tags]
            + [(label, score, "msd") for label, score in msd.tags])
        assert len(msd.tags) == PREDICTED_TAGS
    passing = {path: {t for t, s in p.more_tags[0].tags if s >= TAG_MIN_PROBABILITY["msd"]} for path, p in expected.items()}
    label = sorted(set().union(*passing.values()))[0]
    with_label = {path for path, labels in passing.items() if label in labels}
    assert {r["path"] for r in json_lines(run_cli("list", "--tag", f"msd:{label}", "--json").stdout)} == with_label
    hits = json_lines(run_cli("search", f'tag:"msd:{label}" music', "--json", "-c", msd_checkpoint).stdout)
    assert {h["path"] for h in hits} == with_label
