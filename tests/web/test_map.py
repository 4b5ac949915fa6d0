"""The music map: every indexed track as a point, computed once per catalogue generation."""
from __future__ import annotations

import json
import time


def _map(client, seconds: float = 60.0, **headers) -> dict:
    deadline = time.time() + seconds
    while time.time() < deadline:
        r = client.get("/api/map", headers=headers)
        if r.status_code == 200:
            return r.json()
        assert r.status_code == 202, r.text
        assert 0.0 <= r.json()["done"] <= 1.0
        time.sleep(0.1)
    raise AssertionError("the map was not computed in time")


def test_the_map_has_one_point_per_indexed_track_with_its_genre_and_label(client):
    body = _map(client)
    n = body["count"]
    assert n == 245 and all(len(body[k]) == n for k in ("ids", "x", "y", "genre", "energy", "labels"))
    assert len(set(body["ids"])) == n
    assert all(0.0 <= v <= 1.0 for v in body["x"] + body["y"])
    assert all(-1 <= g < len(body["genres"]) for g in body["genre"])
    tracks = {h["id"]: h for h in client.get("/api/search", params={"q": "", "year": "1900..2100", "limit": 500}).json()["hits"]}
    for track_id, genre, label in list(zip(body["ids"], body["genre"], body["labels"]))[:40]:
        if track_id in tracks:
            assert body["genres"][genre] == tracks[track_id]["predicted_genre"]
            assert tracks[track_id]["title"] in label


def test_the_map_is_sent_zipped_to_a_browser_that_accepts_it(client):
    _map(client)
    raw = client.get("/api/map", headers={"Accept-Encoding": "gzip"})
    assert raw.headers.get("content-encoding") == "gzip"
    plain = client.get("/api/map", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and json.loads(plain.content)["count"] == 245


def test_the_map_is_computed_once_per_generation(client):
    first = _map(client)
    again = _map(client)
    assert again["generation"] == first["generation"] and again["x"] == first["x"]
    maps = client.app.state.maps
    assert maps._ready is not None and maps._ready[0] == first["generation"]
