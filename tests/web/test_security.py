"""`muser serve` is a server: what it refuses, and that bad input is a 4xx with a message."""
from __future__ import annotations

import pytest

from muser_model.library.store import Library
from tests.helpers.web_fixtures import track_id


# -- audio only by id, only inside the library -----------------------------------------------------
@pytest.mark.parametrize("url", [
    "/api/audio/..%2F..%2F..%2Fetc%2Fpasswd", "/api/audio/%2Fetc%2Fpasswd", "/api/audio/../../etc/passwd",
    "/api/audio/-1", "/api/audio/1e3", "/api/audio/99999999999999999999999999", "/api/audio/424242",
    "/static/..%2F..%2Fapp.py", "/static/index.html", "/etc/passwd", "/api/audio/?path=/etc/passwd",
])
def test_no_url_serves_a_file_by_its_name(client, url):
    r = client.get(url)
    assert r.status_code == 404, url
    assert "root:" not in r.text and "import" not in r.text


def test_a_symlink_out_of_the_library_is_not_served(client, web_home):
    _, files = web_home
    linked = track_id("web", files["link"])  # catalogued (muser index follows links), but points outside
    assert linked is not None
    assert client.get(f"/api/audio/{linked}").status_code == 404
    assert client.get(f"/api/audio/{track_id('web', files['ogg'])}").status_code == 200


def test_a_failed_track_and_a_removed_track_are_404(client, web_home):
    root, files = web_home
    lib = Library.open("web", readonly=True)
    failed = lib.catalogue.states()[str(root / "music" / "broken.mp3")].id
    lib.close()
    assert client.get(f"/api/audio/{failed}").status_code == 404
    assert client.get(f"/api/track/{failed}").status_code == 404
    removed = track_id("web", files["wav"])
    lib = Library.open("web")
    lib.catalogue.remove([str(files["wav"])])
    lib.close()
    try:
        assert client.get(f"/api/audio/{removed}").status_code == 404
        assert client.get(f"/api/track/{removed}").status_code == 404
    finally:
        _restore(files["wav"])


def _restore(path) -> None:
    import numpy as np

    from muser_model.library.records import TrackRow

    lib = Library.open("web")
    vector = np.ones(lib.catalogue.vectors(lib.model_hash)[1].shape[1], np.float32)
    lib.catalogue.put_tracks([TrackRow(str(path), path.stat().st_size, path.stat().st_mtime_ns,
                                       vector / np.linalg.norm(vector), {}, 3.0, 4)], lib.model_hash)
    lib.close()


# -- state changes: POST, a CSRF token, this origin only -------------------------------------------
def test_reindex_needs_post_and_the_page_s_token(client, csrf):
    assert client.get("/api/reindex").status_code == 405
    assert client.post("/api/reindex").status_code == 403
    assert client.post("/api/reindex", headers={"X-CSRF-Token": "guess"}).status_code == 403
    assert client.get("/api/status").json()["reindex"]["state"] == "idle"  # nothing started


def test_requests_from_another_origin_or_site_are_refused(client, csrf):
    evil = {"Origin": "http://evil.example"}
    assert client.post("/api/reindex", headers={**csrf, **evil}).status_code == 403
    assert client.get("/api/search", params={"q": "piano"}, headers=evil).status_code == 403
    cross = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}
    assert client.get("/api/search", params={"q": "piano"}, headers=cross).status_code == 403
    assert client.get("/api/audio/1", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}).status_code == 403
    opened = client.get("/", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"})
    assert opened.status_code == 200  # following a link to the page opens it
    same = client.get("/api/search", params={"q": "piano"}, headers={"Origin": "http://127.0.0.1:8765"})
    assert same.status_code == 200


def test_a_foreign_host_name_is_refused(client):
    """A DNS-rebinding page reaches 127.0.0.1 under its own name: the Host header gives it away."""
    for host in ("evil.example", "evil.example:8765", "127.0.0.1.evil.example"):
        assert client.get("/api/status", headers={"Host": host}).status_code == 403
    for host in ("localhost:8765", "127.0.0.1:8765", "[::1]:8765"):
        assert client.get("/api/status", headers={"Host": host}).status_code == 200


# -- bad input: 4xx with a message, never a 500 or a traceback --------------------------------------
BAD = [
    ("/api/search", {"q": ""}), ("/api/search", {"q": "   "}), ("/api/search", {"q": "x" * 5000}),
    ("/api/search", {"q": "piano\x00\x01\x02"}), ("/api/search", {"q": "\ufffd\ufffd"}),
    ("/api/search", {"q": "piano", "limit": "ten"}), ("/api/search", {"q": "piano", "limit": "-5"}),
    ("/api/search", {"q": "piano", "limit": "0"}), ("/api/search", {"q": "piano", "limit": "1e9"}),
    ("/api/search", {"q": "piano", "limit": "99999999999999999999"}),
    ("/api/search", {"q": "piano", "energy": "loud"}), ("/api/search", {"q": "piano", "energy": ">7"}),
    ("/api/search", {"q": "piano", "year": "last year"}), ("/api/search", {"q": "piano", "year": "1999..1990"}),
    ("/api/search", {"q": "year:abc"}), ("/api/search", {"q": "energy:>>1"}),
    ("/api/radio/1", {"count": "many"}), ("/api/radio/1", {"per_artist": "0"}), ("/api/path/1/1", {}),
    ("/api/path/1/2", {"count": "1"}), ("/api/similar/1", {"limit": "9" * 40}),
    ("/api/m3u", {"ids": ""}), ("/api/m3u", {"ids": "1,two"}), ("/api/m3u", {"ids": ",".join(["1"] * 5000)}),
    ("/api/similar/123456789", {}), ("/api/radio/123456789", {}), ("/api/path/123456789/1", {}),
]


@pytest.mark.parametrize("url,params", BAD)
def test_bad_input_is_a_4xx_with_a_one_line_message(client, url, params):
    r = client.get(url, params=params)
    assert 400 <= r.status_code < 500, (url, params, r.status_code, r.text[:200])
    message = r.json()["error"]
    assert message and "\n" not in message and "Traceback" not in r.text


def test_binary_bytes_in_the_query_string_are_refused(client):
    r = client.get("/api/search?q=%ff%fe%00piano")
    assert r.status_code == 400 and "error" in r.json()
