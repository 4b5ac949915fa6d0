"""The page's JSON API: search with its reading, filters, playlists from a track, m3u, status."""
from __future__ import annotations

from tests.helpers.web_fixtures import track_id


def test_search_ranks_tracks_and_says_how_it_read_the_query(client):
    r = client.get("/api/search", params={"q": "melancholic piano", "limit": 7})
    assert r.status_code == 200
    body = r.json()
    assert "piano" in body["query"]["explain"] and body["query"]["weights"]["heads"] > 0.5
    hits = body["hits"]
    assert len(hits) == 7 and [h["rank"] for h in hits] == list(range(1, 8))
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(h["id"], int) for h in hits) and len({h["id"] for h in hits}) == 7
    assert {"artist", "title", "duration", "predicted_genre", "predicted_tags", "energy", "playable"} <= set(hits[0])


def test_filters_narrow_a_search_and_an_empty_query_lists_the_filtered_tracks(client):
    hits = client.get("/api/search", params={"q": "calm", "artist": "Artist 3", "limit": 50}).json()["hits"]
    assert hits and all(h["artist"] == "Artist 3" for h in hits)
    years = client.get("/api/search", params={"q": "", "year": "1990..1999", "limit": 500}).json()
    assert years["query"] is None and years["hits"]
    assert all(1990 <= h["year"] <= 1999 for h in years["hits"])
    artists = [h["artist"].lower() for h in years["hits"]]
    assert artists == sorted(artists)  # listed by artist
    energetic = client.get("/api/search", params={"q": "", "energy": ">0.5", "limit": 500}).json()["hits"]
    assert energetic and all(h["energy"] > 0.5 for h in energetic)


def test_the_genre_filter_offers_the_library_s_predicted_genres_and_applies(client):
    genres = client.get("/api/genres").json()["genres"]
    assert genres and sum(g["count"] for g in genres) <= 245
    top = genres[0]["name"]
    hits = client.get("/api/search", params={"q": "", "predicted_genre": top, "limit": 500}).json()["hits"]
    assert len(hits) == genres[0]["count"] and all(h["predicted_genre"] == top for h in hits)


def test_similar_radio_and_path_answer_by_track_id(client, web_home):
    _, files = web_home
    a, b = track_id("web", files["ogg"]), track_id("web", files["flac"])
    similar = client.get(f"/api/similar/{a}", params={"limit": 5}).json()["hits"]
    assert len(similar) == 5 and a not in [h["id"] for h in similar]
    radio = client.get(f"/api/radio/{a}", params={"count": 8, "per_artist": 2}).json()["hits"]
    assert radio[0]["id"] == a and len(radio) == 8
    path = client.get(f"/api/path/{a}/{b}", params={"count": 6}).json()["hits"]
    assert [path[0]["id"], path[-1]["id"]] == [a, b] and len({h["id"] for h in path}) == 6


def test_a_track_is_shown_with_the_fields_the_page_needs(client, web_home):
    _, files = web_home
    track = client.get(f"/api/track/{track_id('web', files['flac'])}").json()
    assert track["artist"] == "Zoë <b>Quartet</b>" and track["year"] == 1999  # as stored, never as markup
    assert track["playable"] is True and track["mime"] == "audio/flac"


def test_an_m3u_download_lists_the_given_tracks_in_order(client, web_home):
    root, files = web_home
    ids = [track_id("web", files[k]) for k in ("flac", "ogg")]
    r = client.get("/api/m3u", params={"ids": f"{ids[0]},{ids[1]},999999", "name": "Late / night?"})
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert "Late%20night.m3u8" in r.headers["content-disposition"]  # no path separators in the name
    lines = r.text.splitlines()
    assert lines[0] == "#EXTM3U"
    assert [l for l in lines if not l.startswith("#")] == ["Jazz/Café.flac", "Ann Lee/Slow Night.ogg"]  # relative_to


def test_status_reports_the_library_its_folders_and_an_idle_reindex(client, web_home):
    root, _ = web_home
    status = client.get("/api/status").json()
    assert status["tracks"] == 245 and status["failed"] == 1
    assert status["folders"] == [str(root / "music")]
    assert status["reindex"]["state"] == "idle"


def test_the_page_carries_its_csrf_token_and_a_strict_content_policy(client, app_settings):
    r = client.get("/")
    assert r.status_code == 200 and app_settings.csrf_token in r.text
    assert "{{csrf_token}}" not in r.text
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
