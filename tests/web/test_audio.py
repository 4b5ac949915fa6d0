"""Listening in the page: files stream with range requests; formats a browser cannot play are
transcoded, or say why not."""
from __future__ import annotations

import shutil

import pytest

from muser_cli.web import audio
from tests.helpers.web_fixtures import track_id


def test_a_range_request_gets_exactly_those_bytes(client, web_home):
    _, files = web_home
    data = files["flac"].read_bytes()
    url = f"/api/audio/{track_id('web', files['flac'])}"
    whole = client.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["content-type"].startswith("audio/flac")
    part = client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    tail = client.get(url, headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == data[-50:]
    beyond = client.get(url, headers={"Range": f"bytes={len(data) + 10}-"})
    assert beyond.status_code == 416


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="ffmpeg is not installed (Debian: apt-get install ffmpeg)")
def test_a_format_the_browser_cannot_play_is_transcoded_to_opus_once(client, web_home):
    root, files = web_home
    tid = track_id("web", files["aiff"])
    track = client.get(f"/api/track/{tid}").json()
    assert track["playable"] and track["mime"] == "audio/ogg" and "transcoded" in track["note"]
    first = client.get(f"/api/audio/{tid}")
    assert first.status_code == 200 and first.headers["content-type"] == "audio/ogg"
    assert first.content[:4] == b"OggS" and b"OpusHead" in first.content[:200]
    cached = list((root / "cache").glob("*.ogg"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again = client.get(f"/api/audio/{tid}", headers={"Range": "bytes=0-99"})
    assert again.status_code == 206 and again.content == first.content[:100]
    assert cached[0].stat().st_mtime_ns >= stamp and len(list((root / "cache").glob("*.ogg"))) == 1


def test_without_ffmpeg_such_a_track_says_why_it_cannot_be_played(client, web_home, monkeypatch):
    _, files = web_home
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    monkeypatch.setattr(audio, "_prune", lambda cache: None)
    tid = track_id("web", files["aiff"])
    track = client.get(f"/api/track/{tid}").json()
    assert track["playable"] is False and "ffmpeg" in track["note"]
    ogg = client.get(f"/api/track/{track_id('web', files['ogg'])}").json()
    assert ogg["playable"] is True and "note" not in ogg


def test_alac_in_m4a_needs_a_transcode_but_aac_does_not(tmp_path):
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is not installed")
    import subprocess

    from tests.conftest import write_clip

    wav = write_clip(tmp_path / "a.wav", 300.0, 1.0)
    for codec in ("aac", "alac"):
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", codec, str(tmp_path / f"{codec}.m4a")],
                       check=True)
    assert not audio.needs_transcode(str(tmp_path / "aac.m4a"))
    assert audio.needs_transcode(str(tmp_path / "alac.m4a"))
    assert audio.needs_transcode(str(tmp_path / "x.wma")) and not audio.needs_transcode(str(tmp_path / "x.mp3"))
