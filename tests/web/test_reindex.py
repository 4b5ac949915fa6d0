"""The page's re-index: the scan of `muser index` over the library's folders, in the server,
while searches go on answering from what is committed."""
from __future__ import annotations

import time

import pytest

from muser_model.library.store import Library
from tests.conftest import write_clip
from tests.helpers.web_fixtures import build_web_library

BASE = "http://127.0.0.1:8765"


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """A library of its own (a re-index changes it), and a client over it."""
    from starlette.testclient import TestClient

    from muser_cli.web.app import ServerSettings, create_app

    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    files = build_web_library(tmp_path)
    settings = ServerSettings(library="web", cache=tmp_path / "cache", workers=1)
    with TestClient(create_app(settings), base_url=BASE) as client:
        yield client, files, {"X-CSRF-Token": settings.csrf_token}


def _wait(client, seconds: float = 120.0) -> dict:
    deadline = time.time() + seconds
    while time.time() < deadline:
        state = client.get("/api/status").json()["reindex"]
        if state["state"] != "running":
            return state
        time.sleep(0.2)
    raise AssertionError("the re-index did not finish")


@pytest.mark.slow
def test_reindex_scans_the_folders_while_searches_keep_answering(fresh, tmp_path):
    client, files, csrf = fresh
    new = write_clip(tmp_path / "music" / "new" / "fresh.ogg", 180.0, 3.0, seed=9)
    started = client.post("/api/reindex", headers=csrf)
    assert started.status_code == 202 and started.json()["reindex"]["state"] == "running"
    assert client.post("/api/reindex", headers=csrf).status_code == 409  # one at a time
    answered = []
    while True:  # the first search goes out while the scan starts, the others while it runs
        r = client.get("/api/search", params={"q": "calm piano", "limit": 5})
        answered.append(r.status_code)
        assert r.status_code == 200, r.text  # never "database is locked"
        if client.get("/api/status").json()["reindex"]["state"] != "running":
            break
    state = _wait(client)
    assert state["state"] == "done", state
    assert answered, "no search ran during the re-index"
    status = client.get("/api/status").json()
    # the synthetic tracks' files and the failed one do not exist: dropped; the new file indexed
    assert status["tracks"] == 6 and "indexed 1, unchanged 5, removed 241" in state["message"]
    lib = Library.open("web", readonly=True)
    assert lib.catalogue.find_path(str(new)) is not None
    lib.close()
    hits = client.get("/api/search", params={"q": "music", "limit": 10}).json()["hits"]
    assert str(new) in [h["path"] for h in hits]  # the server sees the new generation


@pytest.mark.slow
def test_stopping_the_server_stops_a_scan_and_keeps_what_was_committed(fresh, tmp_path):
    client, files, csrf = fresh
    for i in range(12):
        write_clip(tmp_path / "music" / "many" / f"c{i}.ogg", 200.0 + 20 * i, 3.0, seed=20 + i)
    job = client.app.state.job
    assert client.post("/api/reindex", headers=csrf).status_code == 202
    while job.progress.done < 2 and job.running:
        time.sleep(0.05)
    job.stop()
    assert not job.running
    assert job.progress.state == "interrupted", job.progress
    lib = Library.open("web", readonly=True)
    kept = lib.catalogue.counts().get("ok", 0)
    lib.close()
    assert kept >= 1  # committed as the scan stopped; the next re-index resumes from there
    assert client.post("/api/reindex", headers=csrf).status_code == 202
    assert _wait(client)["state"] == "done"


def test_a_library_without_folders_cannot_be_reindexed(fresh):
    client, _, csrf = fresh
    lib = Library.open("web")
    lib.catalogue.set_meta("folders", "[]")
    lib.close()
    r = client.post("/api/reindex", headers=csrf)
    assert r.status_code == 409 and "muser index" in r.json()["error"]
