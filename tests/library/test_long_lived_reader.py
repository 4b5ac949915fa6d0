"""What a long-lived reader (muser serve) keeps between queries, and when it lets go."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from muser_model.library.query import Hit
from muser_model.library.records import TrackRow
from muser_model.library.store import Library
from muser_model.text_model import remembering

E = 8


def _rows(start: int, n: int, root) -> list[TrackRow]:
    rng = np.random.default_rng(start)
    vectors = rng.standard_normal((n, E)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [TrackRow(str(root / "music" / f"t{start + i}.ogg"), 1, 1, vectors[i], {}, 60.0, 12) for i in range(n)]


@pytest.fixture
def reader(tmp_path, monkeypatch):
    """A writer that adds tracks, and a reader kept open as the server keeps it."""
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    writer = Library.open("default", create=True)
    writer.adopt_model("m" * 64, E)
    writer.catalogue.put_tracks(_rows(0, 20, tmp_path), "m" * 64)
    writer.sync_index()
    lib = Library.open("default", readonly=True)
    lib.keep_in_memory = True
    yield writer, lib, tmp_path
    lib.close()
    writer.close()


def test_kept_vectors_follow_the_catalogue_as_a_writer_commits(reader):
    writer, lib, root = reader
    ids, vectors, _ = lib.vectors_with_logits(None)
    assert len(ids) == 20
    again = lib.vectors_with_logits(None)
    assert again[1] is vectors  # read once
    subset = lib.vectors_with_logits(None, {int(ids[3]), int(ids[7])})
    assert sorted(subset[0].tolist()) == sorted([int(ids[3]), int(ids[7])])
    assert np.array_equal(subset[1][subset[0] == ids[3]][0], vectors[3])
    writer.catalogue.put_tracks(_rows(100, 5, root), "m" * 64)
    assert len(lib.vectors_with_logits(None)[0]) == 25  # a new generation: read again


def test_the_kept_index_is_loaded_once_per_generation(reader):
    writer, lib, root = reader
    first, _ = lib.ann()
    assert lib.ann()[0] is first
    writer.catalogue.put_tracks(_rows(200, 3, root), "m" * 64)
    second, _ = lib.ann()
    assert second is not first and len(second.query(np.eye(E, dtype=np.float32)[0], 30)) == 23


def test_the_folders_a_scan_was_given_are_remembered_with_a_fallback(reader):
    writer, lib, root = reader
    assert lib.folders() == [str(root / "music")]  # not recorded: the folder holding every file
    writer.remember_folders([root / "music", root / "more"])
    writer.remember_folders([root / "music"])
    assert lib.folders() == [str(root / "music"), str(root / "more")]


def test_remembered_embeddings_are_computed_once_and_keep_order():
    calls: list[list[str]] = []

    def embed(texts):
        calls.append(list(texts))
        return np.array([[len(t), i] for i, t in enumerate(texts)], np.float32)

    remembered = remembering(embed, size=3)
    first = remembered(["a", "bb"])
    assert remembered(["bb", "a"]).tolist() == [first[1].tolist(), first[0].tolist()]
    assert calls == [["a", "bb"]]
    remembered(["ccc", "dddd"])  # "bb", used before "a", is now the oldest of four: dropped
    remembered(["a", "dddd"])
    assert calls[-1] == ["ccc", "dddd"]  # "a" and "dddd" still kept
    remembered(["bb"])
    assert calls[-1] == ["bb"]


def test_a_hit_s_json_is_what_asdict_gives():
    hit = Hit(1, 0.5, "/m/a.ogg", "T", "A", "Al", "G", 1999, 60.0, "rock",
              [{"label": "piano", "score": 0.8, "vocab": "mtt"}], 0.4, 0.6, "blend", {"heads": 1.0, "text": 0.2}, id=7)
    data = hit.to_json()
    expected = dataclasses.asdict(hit)
    del expected["query"]
    assert data == expected
    data["predicted_tags"][0]["label"] = "changed"
    assert hit.predicted_tags[0]["label"] == "piano"  # a copy, not the hit's own list
