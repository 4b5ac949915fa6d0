"""muser_train.corpus.games on a fake package, and muser_train.corpus.build's mood and merge steps."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile as sf

from muser_train.corpus import build as corpus

from muser_train.corpus import debpkg, excerpts, tracks
from muser_train.corpus import games as cg
from muser_train.corpus.manifest import MMA_COLUMNS

SR = 16000


def write_ogg(path, seconds, freq, tags):
    from mutagen.oggvorbis import OggVorbis
    t = np.arange(int(seconds * SR)) / SR
    beat = (np.sin(2 * np.pi * 2 * t) > 0.9).astype(np.float32)  # clicks twice a second
    x = 0.3 * np.sin(2 * np.pi * freq * t) * (0.5 + 0.5 * beat)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x.astype(np.float32), SR, format="OGG", subtype="VORBIS")
    f = OggVorbis(path)
    for k, v in tags.items():
        f[k] = v
    f.save()
    return str(path)


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    monkeypatch.setattr(cg, "MIN_TRACK_S", 10.0)
    monkeypatch.setattr(excerpts, "EXCERPT_EVERY_S", 6.0)
    root = tmp_path / "pkg"
    items = [
        ("fake-music", write_ogg(root / "music/knolls.ogg", 14, 220,
                                 {"title": "Knolls", "artist": "Tim P", "genre": "Hard Rock"})),
        ("fake-music", write_ogg(root / "music/menu_theme.ogg", 14, 330, {})),
        ("fake-music", write_ogg(root / "music/menu_theme_fast.ogg", 14, 330, {})),
        ("fake-music", write_ogg(root / "music/dawn.ogg", 14, 440,
                                 {"title": "Dawn", "artist": "Ann", "description":
                                  "Gameplay music for quiet mornings"})),
        ("fake-music", write_ogg(root / "songs/grind/song.ogg", 14, 110,
                                 {"title": "Grind (fof rhythm)", "artist": "Band",
                                  "genre": "Death Metal"})),
        ("fake-music", write_ogg(root / "songs/grind/guitar.ogg", 14, 165,
                                 {"title": "Grind", "genre": "Death Metal"})),
        ("fake-music", write_ogg(root / "music/jingle.ogg", 4, 500, {"title": "Jingle"})),
    ]
    return items


def read_rows(path):
    with open(path, newline="") as fh:
        r = csv.DictReader(fh)
        return r.fieldnames, list(r)


def test_games_corpus_on_fake_package(tmp_path, fake_package):
    out = tmp_path / "games"
    s = cg.build(out, fake_package, seed=0, jobs=1, descriptions={}, log=lambda *_: None)
    cols, rows = read_rows(out / "captions.csv")
    assert cols[: len(MMA_COLUMNS)] == MMA_COLUMNS
    assert {"source", "package", "track", "licence", "title"} <= set(cols)
    tracks = {r["track"] for r in rows}
    # stems mixed into one track, the short jingle dropped
    assert tracks == {"fake-music/knolls", "fake-music/menu_theme", "fake-music/menu_theme_fast",
                      "fake-music/dawn", "fake-music/grind"}
    assert any("jingle" in f["path"] for f in s["files_skipped"])
    assert s["excerpts"] == len(rows) and all(n == 0 for n in [len(s["decode_errors"])])
    for r in rows:
        info = sf.info(out / r["path"])
        assert info.samplerate == SR and info.channels == 1
        assert info.duration == pytest.approx(cg.CLIP_S, abs=0.01)
        assert r["source"] == "games" and r["split"] in ("train", "test")
    # split by track: no track (nor variant group) on both sides
    split_of: dict[str, set] = {}
    for r in rows:
        split_of.setdefault(cg.VARIANT_SUFFIX.sub("", r["track"]), set()).add(r["split"])
    assert all(len(v) == 1 for v in split_of.values()), split_of
    assert {r["split"] for r in rows} == {"train", "test"}
    by_track = {r["track"]: r for r in rows}
    k = by_track["fake-music/knolls"]
    all_texts = k["text"] + " | " + k["texts"]
    assert "Knolls" in all_texts and "Tim P" in all_texts
    assert k["genre"] == "rock"
    g = by_track["fake-music/grind"]
    assert g["genre"] == "metal" and g["title"] == "Grind" and "fof" not in g["texts"]
    assert by_track["fake-music/dawn"]["genre"] == "other"
    assert "quiet mornings" in by_track["fake-music/dawn"]["texts"]
    assert "Menu music" in by_track["fake-music/menu_theme"]["text"] + \
        by_track["fake-music/menu_theme"]["texts"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["packages"]["fake-music"]["tracks"] == 5
    # resumable: a second run cuts nothing again and gives the same captions
    before = (out / "captions.csv").read_text()
    logs = []
    cg.build(out, fake_package, seed=0, jobs=1, descriptions={}, log=logs.append)
    assert any("5 tracks already done, 0 to cut" in m for m in logs)
    assert (out / "captions.csv").read_text() == before


def test_decode_error_is_reported_not_fatal(tmp_path, fake_package):
    bad = tmp_path / "pkg/music/broken.ogg"
    good = fake_package[0]
    with open(good[1], "rb") as fh:
        head = fh.read(6000)
    bad.write_bytes(head)  # truncated: mutagen may still read a length, decoding fails
    items = [good, ("fake-music", str(bad))]
    s = cg.build(tmp_path / "g2", items, seed=0, jobs=1, descriptions={}, log=lambda *_: None)
    assert s["tracks"] >= 1
    problems = [e["paths"][0] for e in s["decode_errors"]] + [f["path"] for f in s["files_skipped"]]
    assert str(bad) in problems


def test_licence_lookup_dep5():
    text = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
            "Files: *\nCopyright: 2004 Someone\nLicense: GPL-2\n\n"
            "Files: data/music/a.ogg\n data/music/b*.ogg\nCopyright: 2013 Composer X\n"
            "License: CC-BY-SA-3.0\n")
    lic = debpkg.Licensing(debpkg.parse_dep5(text), "GPL-2")
    assert lic.lookup("/usr/share/games/x/data/music/a.ogg") == ("CC-BY-SA-3.0", "2013 Composer X")
    assert lic.lookup("/usr/share/games/x/data/music/bee.ogg")[0] == "CC-BY-SA-3.0"
    assert lic.lookup("/usr/share/games/x/data/sfx/c.ogg") == ("GPL-2", "")
    assert tracks.clean_person("2013 Composer X <x@y.org>") == "Composer X"
    assert debpkg.licence_from_text("licenced under the terms of the Creative Commons Attribution "
                                "ShareAlike licence 3.0") == "CC-BY-SA-3.0"


def make_sub(root, name, rows, extra_cols=()):
    sub = root / name
    (sub / "audio").mkdir(parents=True)
    t = np.arange(int(12 * SR)) / SR
    for r in rows:
        sf.write(sub / r["path"], (0.02 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SR)
    cols = list(MMA_COLUMNS) + list(extra_cols)
    with open(sub / "captions.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, restval="")
        w.writeheader()
        w.writerows(rows)
    return sub


def test_mood_step_is_idempotent_and_merge(tmp_path, monkeypatch):
    mma = make_sub(tmp_path, "mma", [
        {"path": "audio/slow.wav", "text": "A slow jazz waltz.", "texts": "x | y", "genre": "jazz",
         "style": "jazzwaltz", "tempo": "66", "key": "D minor", "split": "train"},
        {"path": "audio/fast.wav", "text": "A fast polka.", "texts": "", "genre": "other",
         "style": "polka", "tempo": "150", "key": "F major", "split": "test"},
    ])
    make_sub(tmp_path, "games", [
        {"path": "audio/g.wav", "text": "Music from a game.", "genre": "other", "split": "train",
         "source": "games", "licence": "GPL-2"}], extra_cols=("source", "licence"))
    r1 = corpus.add_mood(mma, jobs=1)
    assert r1["added"] == 2
    _, rows = read_rows(mma / "captions.csv")
    slow = next(r for r in rows if r["path"].endswith("slow.wav"))
    assert slow["texts"].startswith("x | y | ")
    assert "melancholic" in slow["mood_words"] and "slow" in slow["mood_words"]
    assert "quiet" in slow["mood_tags"]
    assert any(t.endswith("slow jazz waltz music") for t in slow["texts"].split(" | "))
    fast = next(r for r in rows if r["path"].endswith("fast.wav"))
    assert "happy" in fast["mood_words"] and "fast" in fast["mood_words"]
    before = (mma / "captions.csv").read_text()
    assert corpus.add_mood(mma, jobs=1)["added"] == 0
    assert (mma / "captions.csv").read_text() == before

    s = corpus.merge(tmp_path)
    cols, merged = read_rows(tmp_path / "captions.csv")
    assert cols[:3] == ["id", "path", "source"] and "mood_words" in cols and "licence" in cols
    assert sorted(r["path"] for r in merged) == ["games/audio/g.wav", "mma/audio/fast.wav",
                                                 "mma/audio/slow.wav"]
    assert all((tmp_path / r["path"]).is_file() for r in merged)
    assert {r["source"] for r in merged} == {"mma", "games"}
    assert s["clips"] == 3 and s["sources"]["mma"]["clips"] == 2
    assert s["splits"] == {"test": 1, "train": 2}
