"""Predicted genre and tags stored at index time: JSON rows, filters, migration, re-keying."""
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from muser_model.library.catalogue import Catalogue
from muser_model.library.filters import Filters
from muser_model.library.predict import tag_min_probability
from muser_model.library.records import Prediction, TrackRow
from muser_model.library.schema import SCHEMA_VERSION
from muser_model.library.predict import Predictor, numpy_predictor
from muser_model.library.query import parse_query
from muser_model.library.store import Library
from muser_model.numpy_engine.audio import NumpyMuser
from tests.conftest import make_tiny_checkpoint
from tests.helpers.library_fixtures import make_library
from tests.helpers.library_fixtures import json_lines, run_cli


_run, _lines = run_cli, json_lines


@pytest.fixture
def indexed(tmp_path, monkeypatch, tiny_checkpoint):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    make_library(tmp_path / "music")
    res = _run("index", tmp_path / "music", "-c", tiny_checkpoint, "--workers", 1, "--json")
    assert res.exit_code == 0, res.stderr
    return tmp_path


def _expected(tiny_checkpoint) -> dict[str, Prediction]:
    """What the tagging scorer says of each stored vector, by path."""
    predictor = numpy_predictor(NumpyMuser.load(tiny_checkpoint))
    lib = Library.open()
    ids, vectors = lib.catalogue.vectors(lib.model_hash)
    rows = lib.catalogue.rows(ids.tolist())
    return {rows[i]["path"]: p for i, p in zip(ids.tolist(), predictor(vectors))}


def test_index_stores_the_scorers_predictions_and_search_shows_them(indexed, tiny_checkpoint):
    expected = _expected(tiny_checkpoint)
    hits = _lines(_run("search", "slow blues", "--json", "-c", tiny_checkpoint).stdout)
    assert len(hits) == len(expected)
    for hit in hits:
        want = expected[hit["path"]]
        assert hit["predicted_genre"] == want.genre
        assert [(t["label"], t["score"]) for t in hit["predicted_tags"]] == want.tags
        assert len(hit["predicted_tags"]) == 5
    similar = _lines(_run("similar", hits[0]["path"], "--json", "-c", tiny_checkpoint).stdout)
    assert similar and all(h["predicted_genre"] == expected[h["path"]].genre for h in similar)


@pytest.mark.slow
def test_predicted_genre_and_tag_filters(indexed, tiny_checkpoint):
    expected = _expected(tiny_checkpoint)
    genre = next(iter(expected.values())).genre
    want = {p for p, pred in expected.items() if pred.genre == genre}
    by_option = _lines(_run("search", "music", "--predicted-genre", genre.upper(), "--json",
                            "-c", tiny_checkpoint).stdout)
    by_term = _lines(_run("search", f"predicted-genre:{genre} music", "--json", "-c", tiny_checkpoint).stdout)
    assert {h["path"] for h in by_option} == {h["path"] for h in by_term} == want
    tag = next(iter(expected.values())).tags[0][0]
    with_tag = {p for p, pred in expected.items() if tag in [t for t, _ in pred.tags]}
    hits = _lines(_run("search", f'tag:"{tag}"', "--json", "-c", tiny_checkpoint).stdout)
    assert {h["path"] for h in hits} == with_tag
    hits = _lines(_run("search", "x", "--tag", tag, "--json", "-c", tiny_checkpoint).stdout)
    assert {h["path"] for h in hits} == with_tag
    res = _run("search", "x", "--predicted-genre", "no-such-genre", "-c", tiny_checkpoint)
    assert res.exit_code == 0 and res.stdout == "" and "no matching tracks" in res.stderr


def test_predicted_genre_is_not_the_file_genre_tag():
    words, f = parse_query('predicted-genre:metal genre:jazz tag:piano tag:"no vocals" loud')
    assert words == "loud"
    assert (f.predicted_genre, f.genre, f.tags) == ("metal", "jazz", ["piano", "no vocals"])


def _catalogue_with(tmp_path, predictions):
    cat = Catalogue(tmp_path / "c.sqlite")
    rows = [TrackRow(f"/m/{i}.ogg", 1, 1, np.eye(4, dtype=np.float32)[i], {}, 3.0, 1) for i in range(len(predictions))]
    cat.put_tracks(rows, "hash", predictions, "key")
    return cat


def test_a_probability_tag_needs_the_documented_score(tmp_path):
    cat = _catalogue_with(tmp_path, [
        Prediction("rock", 0.9, [("piano", tag_min_probability("mtt") + 0.05)], "probability"),
        Prediction("rock", 0.9, [("piano", tag_min_probability("mtt") - 0.05)], "probability"),
        Prediction("rock", 0.9, [("piano", 0.01)], "cosine"),  # zero-shot: top tags count
    ])
    names = {cat.rows([i])[i]["path"] for i in cat.select_ids(Filters(tags=["Piano"]))}
    assert names == {"/m/0.ogg", "/m/2.ogg"}


def test_removed_or_failed_tracks_lose_their_tags(tmp_path):
    cat = _catalogue_with(tmp_path, [Prediction("rock", 0.9, [("piano", 0.9)], "probability")] * 2)
    cat.remove(["/m/0.ogg"])
    cat.put_failure("/m/1.ogg", 1, 2, "broken")
    assert cat.db.execute("SELECT COUNT(*) FROM track_tags").fetchone()[0] == 0


def _downgrade_to_v1(path: Path) -> None:
    """What a catalogue written before predictions looks like."""
    db = sqlite3.connect(path)
    db.execute("DROP TABLE track_tags")
    for column in ("predicted_genre", "predicted_genre_score", "predicted_by", "added"):
        db.execute(f"ALTER TABLE tracks DROP COLUMN {column}")
    db.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
    db.execute("PRAGMA user_version = 0")  # as before numbered migrations
    db.commit()
    db.close()


def test_an_old_catalogue_is_migrated_and_predicted_without_re_embedding(indexed, tiny_checkpoint):
    expected = _expected(tiny_checkpoint)
    path = indexed / "home" / "libraries" / "default" / "catalogue.sqlite"
    _downgrade_to_v1(path)
    hits = _lines(_run("search", "music", "--json", "-c", tiny_checkpoint).stdout)  # opens, migrates
    assert hits and all(h["predicted_genre"] == "" and h["predicted_tags"] == [] for h in hits)
    assert Library.open().catalogue.get_meta("schema_version") == str(SCHEMA_VERSION)
    summary = json.loads(_run("index", indexed / "music", "-c", tiny_checkpoint, "--workers", 1, "--json").stdout)
    assert summary["indexed"] == 0 and summary["unchanged"] == len(expected)
    hits = _lines(_run("search", "music", "--json", "-c", tiny_checkpoint).stdout)
    assert {h["path"]: h["predicted_genre"] for h in hits} == {p: e.genre for p, e in expected.items()}


@pytest.mark.slow
def test_a_new_checkpoint_re_embeds_and_re_predicts(indexed, tiny_checkpoint):
    other = make_tiny_checkpoint(indexed / "other.muser", seed=1)
    summary = json.loads(_run("index", indexed / "music", "-c", other, "--workers", 1, "--json").stdout)
    assert summary["model_changed"] and summary["indexed"] > 0 and summary["unchanged"] == 0
    expected = _expected(other)
    key = numpy_predictor(NumpyMuser.load(other)).key
    lib = Library.open()
    assert lib.catalogue.ids_needing_predictions(lib.model_hash, key).size == 0
    hits = _lines(_run("search", "music", "--json", "-c", other).stdout)
    assert [(t["label"], t["score"]) for t in hits[0]["predicted_tags"]] == expected[hits[0]["path"]].tags


@pytest.mark.slow
def test_a_changed_vocabulary_is_predicted_again_from_stored_vectors(indexed, tiny_checkpoint):
    lib = Library.open()
    ids, vectors = lib.catalogue.vectors(lib.model_hash)

    def score(v, kind):  # a vocabulary of two tags and two genres: the first coordinates
        return np.asarray(v)[:, :2], "cosine"

    lib.predictor = Predictor(score, ["alpha", "beta"], ["folk", "metal"], lib.model_hash)
    assert lib.refresh_predictions() == len(ids)
    rows = lib.catalogue.rows(ids.tolist())
    for i, v in zip(ids.tolist(), vectors):
        assert rows[i]["predicted_genre"] == ("folk" if v[0] >= v[1] else "metal")
    assert lib.refresh_predictions() == 0  # now keyed on this vocabulary
