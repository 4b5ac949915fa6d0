"""The realmusic corpus (game soundtracks from Debian packages), piece by piece: archive
members extracted by glob, looped tracks cut where the opening comes back, duplicates hashed,
tracker modules decoded, DEP-5 licences read, pieces split without leakage, and committed
teacher scores installed. The build end to end is in test_realmusic_build.py."""
import shutil
import struct
import subprocess
import zipfile

import numpy as np
import pytest
import soundfile as sf

from muser_train.corpus import realmusic
from muser_train.corpus.debpkg import PackageError
from muser_train.corpus.splits import assign_splits
from muser_model.core.errors import AudioError
from muser_train.corpus import debpkg, excerpts
from muser_train.corpus.common import read_csv, write_csv

SR = excerpts.SR


def phrase(seconds: float, seed: int) -> np.ndarray:
    """Notes of random pitch and length, different for every seed. (n,)"""
    rng = np.random.default_rng(seed)
    out, n = [], int(seconds * SR)
    while sum(len(x) for x in out) < n:
        dur = rng.uniform(0.15, 0.6)
        t = np.arange(int(dur * SR)) / SR
        f = 110 * 2 ** (rng.integers(0, 36) / 12)
        out.append((np.sin(2 * np.pi * f * t) * np.exp(-3 * t) * rng.uniform(0.2, 0.8))
                   .astype(np.float32))
    return np.concatenate(out)[:n]


def test_loop_repeated_three_times_is_cut_after_one_pass():
    one = phrase(37.0, seed=1)
    y = np.concatenate([one, one, one])
    loop = excerpts.loop_length_s(y)
    assert loop is not None and abs(loop - 37.0) <= 0.2


def test_through_composed_track_is_not_cut():
    y = np.concatenate([phrase(40.0, seed=s) for s in (2, 3, 4)])
    assert excerpts.loop_length_s(y) is None


def test_repeat_earlier_than_the_minimum_is_ignored():
    one = phrase(12.0, seed=5)
    y = np.concatenate([one] * 4)
    assert excerpts.loop_length_s(y, min_s=60.0) is None


def test_audio_hash_same_tune_same_hash():
    a = phrase(5.0, seed=6)
    assert excerpts.audio_hash(a) == excerpts.audio_hash(a.copy())
    assert excerpts.audio_hash(a) != excerpts.audio_hash(phrase(5.0, seed=7))


def test_reprise_of_the_intro_alone_is_not_a_loop():
    intro = phrase(12.0, seed=8)
    y = np.concatenate([intro, phrase(30.0, seed=9), intro, phrase(30.0, seed=10)])
    assert excerpts.loop_length_s(y) is None


def test_loop_with_encoding_noise_is_still_found():
    one = phrase(33.0, seed=11)
    noise = np.random.default_rng(12).normal(0, 0.01, 3 * len(one)).astype(np.float32)
    y = np.concatenate([one, one, one]) + noise
    loop = excerpts.loop_length_s(y)
    assert loop is not None and abs(loop - 33.0) <= 0.2


def test_repeated_opening_that_goes_on_elsewhere_is_not_cut():
    a = phrase(35.0, seed=13)
    y = np.concatenate([a, a, phrase(60.0, seed=14)])   # a game tune: A A B
    assert excerpts.loop_length_s(y) is None


# -- archives ---------------------------------------------------------------------------------
def make_archive(path, names):
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(name, b"x" * 10)
    return path


NAMES = ["audio/music/theme.ogg", "audio/ambient/wind.ogg", "audio/sfx/boom.wav",
         "music/menu.xm", "textures/wall.png"]


def test_members_by_glob_skip_ambient(tmp_path):
    arch = make_archive(tmp_path / "public.zip", NAMES)
    got = realmusic.extract_members(arch, tmp_path / "out", ["audio/music/*"], ["audio/ambient/*"])
    assert [p.relative_to(tmp_path / "out" / "public").as_posix() for p in got] == \
        ["audio/music/theme.ogg"]
    assert got[0].read_bytes() == b"x" * 10


def test_generic_rule_takes_music_folders_of_a_pk3(tmp_path):
    arch = make_archive(tmp_path / "pak0.pk3", NAMES)
    got = realmusic.extract_members(arch, tmp_path / "out", None, [])
    rel = sorted(p.relative_to(tmp_path / "out" / "pak0").as_posix() for p in got)
    assert rel == ["audio/music/theme.ogg", "music/menu.xm"]


def test_extraction_is_resumable(tmp_path):
    arch = make_archive(tmp_path / "a.pk3", ["music/x.ogg"])
    first = realmusic.extract_members(arch, tmp_path / "out", ["music/*"], [])
    mtime = first[0].stat().st_mtime_ns
    again = realmusic.extract_members(arch, tmp_path / "out", ["music/*"], [])
    assert again == first and again[0].stat().st_mtime_ns == mtime


def test_unreadable_archive_is_named(tmp_path):
    bad = tmp_path / "0music.pk3"
    bad.write_bytes(b"not a zip")
    with pytest.raises(PackageError, match="0music.pk3"):
        realmusic.extract_members(bad, tmp_path / "out", ["music/*"], [])


# -- tracker modules --------------------------------------------------------------------------
def has_openmpt() -> bool:
    if shutil.which("ffmpeg") is None:
        return False
    r = subprocess.run(["ffmpeg", "-hide_banner", "-demuxers"], capture_output=True, text=True)
    return "libopenmpt" in r.stdout


needs_openmpt = pytest.mark.skipif(not has_openmpt(), reason="ffmpeg without libopenmpt")


def tiny_mod(path, n=2000):
    """A 4-channel ProTracker module: one looped square-wave sample, one 64-row pattern."""
    head = b"tiny".ljust(20, b"\0")
    sample = struct.pack(">22sHBBHH", b"square", n // 2, 0, 64, 0, n // 2)
    empty = struct.pack(">22sHBBHH", b"", 0, 0, 0, 0, 1)
    pattern = bytearray(64 * 4 * 4)
    for row in range(0, 64, 8):
        period = (428, 381, 339, 320)[(row // 8) % 4]
        pattern[row * 16: row * 16 + 4] = bytes([period >> 8, period & 0xFF, 1 << 4, 0])
    wave = (np.sign(np.sin(np.arange(n) * 2 * np.pi / 32)) * 100).astype(np.int8).tobytes()
    path.write_bytes(head + sample + empty * 30 + bytes([1, 127]) + bytes(128) + b"M.K."
                     + bytes(pattern) + wave)
    return path


@needs_openmpt
def test_mod_decodes_to_audible_mono(tmp_path):
    y = excerpts.decode_mix([tiny_mod(tmp_path / "tune.mod")])
    assert y.dtype == np.float32 and y.ndim == 1
    assert 6.0 < len(y) / excerpts.SR < 10.0      # 64 rows at speed 6, 125 bpm: 7.7 s
    assert np.abs(y).max() > 0.05


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="no ffmpeg")
def test_broken_module_is_named(tmp_path):
    bad = tmp_path / "broken.xm"
    bad.write_bytes(b"Extended Module: " + bytes(40))
    with pytest.raises(AudioError, match="broken.xm"):
        excerpts.decode_mix([bad])


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="no ffmpeg")
def test_broken_module_is_an_error_row_not_a_crash(tmp_path):
    bad = tmp_path / "broken.it"
    bad.write_bytes(b"IMPM" + bytes(10))
    res = excerpts.excerpt_job({"out": str(tmp_path), "paths": [str(bad)], "package": "p",
                                "name": "broken", "key": "p:broken.it", "trim_loop": True})
    assert "broken.it" in res["error"] and res["excerpts"] == []


# -- teacher scores and manifest --------------------------------------------------------------
def corpus_with(tmp_path, ids):
    out = tmp_path / "v3"
    out.mkdir()
    write_csv(out / "captions.csv", ["id", "path"], [{"id": i, "path": i} for i in ids])
    return out


def scores_file(data, ids):
    data.mkdir(exist_ok=True)
    np.savez(data / realmusic.SCORES_NAME, ids=np.array(ids),
             mtt=np.zeros((len(ids), 50), np.float16))


def test_install_counts_covered_and_missing(tmp_path):
    out = corpus_with(tmp_path, ["a.flac", "b.flac", "c.flac"])
    scores_file(tmp_path / "data", ["a.flac", "c.flac", "gone.flac"])
    got = realmusic.install_scores(out, tmp_path / "data")
    assert got == {"installed": True, "clips": 3, "covered": 2, "missing": 1}
    with np.load(out / realmusic.INSTALLED_SCORES) as z:
        assert z["ids"].tolist() == ["a.flac", "c.flac", "gone.flac"]


def test_install_without_committed_scores_says_why(tmp_path):
    out = corpus_with(tmp_path, ["a.flac"])
    got = realmusic.install_scores(out, tmp_path / "nothing")
    assert got["installed"] is False and realmusic.SCORES_NAME in got["reason"]
    assert not (out / realmusic.INSTALLED_SCORES).exists()


def test_export_copies_manifest(tmp_path):
    out = corpus_with(tmp_path, ["a.flac"])
    dst = realmusic.export_manifest(out, tmp_path / "data")
    assert dst.name == realmusic.MANIFEST_NAME
    assert read_csv(dst)[1] == [{"id": "a.flac", "path": "a.flac"}]
    assert [p.name for p in (tmp_path / "data").iterdir()] == [realmusic.MANIFEST_NAME]


# -- licences (a DEP-5 License field empty on its first line) ---------------------------------
TEXT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: music/*
Copyright: 2010 Someone
License:
 CC-BY-SA-3.0

Files: empty/*
Copyright: nobody
License:
"""


def test_licence_on_the_continuation_line():
    stanzas = debpkg.parse_dep5(TEXT)
    assert stanzas[0]["licence"] == "CC-BY-SA-3.0"
    assert stanzas[1]["licence"] == "unknown"


# -- pieces and splits ------------------------------------------------------------------------
def test_variants_share_a_piece():
    assert realmusic.piece_group("p", "music/boss_fast.ogg") == \
        realmusic.piece_group("p", "music/hq/boss.ogg") == "p/boss"
    assert realmusic.piece_group("p", "a.pk3:music/level2.ogg") != \
        realmusic.piece_group("p", "a.pk3:music/level3.ogg")


def test_split_is_seeded_and_holds_out_about_15_percent():
    groups = {"p": [f"p/t{i}" for i in range(40)]}
    a = assign_splits(groups, seed=0)
    assert a == assign_splits(groups, seed=0)
    assert sum(v == "test" for v in a.values()) == 6
    assert a != assign_splits(groups, seed=1)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="no ffmpeg")
def test_probe_cache_skips_tiny_audio_and_remembers(tmp_path, monkeypatch):
    tiny = tmp_path / "beep.wav"
    sf.write(tiny, np.zeros(1000, np.float32), SR)
    big = tmp_path / "song.flac"
    sf.write(big, phrase(25.0, seed=9), SR)
    cache = realmusic.ProbeCache(tmp_path / "probe.json")
    assert cache.duration(tiny) == 0.0
    assert abs(cache.duration(big) - 25.0) < 0.1
    cache.save()
    monkeypatch.setattr(realmusic, "probe_duration", lambda p: pytest.fail(f"probed {p}"))
    assert abs(realmusic.ProbeCache(tmp_path / "probe.json").duration(big) - 25.0) < 0.1
