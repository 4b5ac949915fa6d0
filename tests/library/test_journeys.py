"""`muser path` and `muser radio`: ordered playlists over the stored vectors."""
from __future__ import annotations

import numpy as np
import pytest

from muser_model.core.checkpoint import checkpoint_hash, default_checkpoint_path
from muser_model.library.journeys import path, radio
from muser_model.library.query import QueryError
from muser_model.library.records import TrackRow
from muser_model.library.store import Library
from tests.helpers.library_fixtures import json_lines, run_cli

E = 8
HASH = checkpoint_hash(default_checkpoint_path())  # what the commands check the library against


def _unit(v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


def _arc(t: float) -> np.ndarray:
    """A point on the quarter circle from e0 (t=0) to e1 (t=1)."""
    v = np.zeros(E, np.float32)
    v[0], v[1] = np.cos(t * np.pi / 2), np.sin(t * np.pi / 2)
    return v


@pytest.fixture
def library(tmp_path, monkeypatch):
    """A, B at the ends of an arc, five tracks along it (shuffled in the catalogue), far-away
    distractors, an exact copy of one arc track, and a crowd of one artist near A."""
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    lib = Library.open("default", create=True)
    lib.adopt_model(HASH, E)
    rows = [("A.ogg", _arc(0.0), "a"), ("B.ogg", _arc(1.0), "b")]
    rows += [(f"arc{k}.ogg", _arc(t), f"x{k}") for k, t in [(3, 0.6), (1, 0.2), (4, 0.8), (2, 0.4)]]
    rows += [("copy_of_arc1.ogg", _arc(0.2), "x9")]
    rows += [(f"far{k}.ogg", _unit(np.eye(E)[2 + k] + 0.1), f"far{k}") for k in range(4)]
    rows += [(f"crowd{k}.ogg", _unit(_arc(0.0) + 0.05 * np.eye(E)[4 + k % 4] * (1 + k)), "Crowd") for k in range(6)]
    lib.catalogue.put_tracks([TrackRow(str(tmp_path / name), 1, 1, vec, {"title": name, "artist": artist}, 60.0, 12)
                              for name, vec, artist in rows], HASH)
    yield lib
    lib.close()


def _names(hits):
    return [h.title for h in hits]


def test_a_path_walks_from_one_end_to_the_other_in_order(library):
    hits = path(library, HASH, "A.ogg", "B.ogg", n=6)
    assert _names(hits)[0] == "A.ogg" and _names(hits)[-1] == "B.ogg" and len(hits) == 6
    assert len(set(_names(hits))) == 6
    along = [n for n in _names(hits) if n.startswith("arc") or n.startswith("copy")]
    assert along == ["arc1.ogg", "arc2.ogg", "arc3.ogg", "arc4.ogg"]  # the arc, in order, one copy of arc1
    assert all(h.score > 0.99 for h in hits[1:-1])  # each next to its point of the way


def test_a_path_needs_two_different_tracks(library):
    with pytest.raises(QueryError, match="same track"):
        path(library, HASH, "A.ogg", "A.ogg")
    with pytest.raises(QueryError, match="no such file"):
        path(library, HASH, "A.ogg", "nothing-like-this")


def test_radio_starts_at_the_seed_and_caps_each_artist(library):
    hits = radio(library, HASH, "A.ogg", n=10, per_artist=2)
    assert _names(hits)[0] == "A.ogg"
    artists = [h.artist for h in hits]
    assert artists.count("Crowd") == 2  # six crowd tracks sit nearest to A; two are allowed
    assert len(set(_names(hits))) == len(hits)
    assert not {"arc1.ogg", "copy_of_arc1.ogg"} <= set(_names(hits))  # no near-copies


def test_cli_writes_the_path_as_json_and_m3u(library, tmp_path):
    res = run_cli("path", "A.ogg", "B.ogg", "-n", 4, "--json", "--m3u", tmp_path / "p.m3u")
    assert res.exit_code == 0, res.stderr
    assert [h["title"] for h in json_lines(res.stdout)][::3] == ["A.ogg", "B.ogg"]
    assert (tmp_path / "p.m3u").read_text().count("#EXTINF") == 4


def test_cli_radio_says_when_fewer_tracks_fit(library):
    res = run_cli("radio", "A.ogg", "-n", 50)
    assert res.exit_code == 0, res.stderr
    assert "of 50 tracks" in res.stderr
