"""Corpus v3 build on a generated .deb: failing packages listed, duplicates dropped, loops cut,
splits by piece without leakage, and a rerun redoes nothing."""
import json
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from muser_train.corpus import realmusic
from muser_train.corpus.common import read_csv
from muser_train.corpus.splits import assign_splits

pytestmark = [pytest.mark.slow,  # builds and decodes generated .deb packages (7 s set-up)
              pytest.mark.skipif(shutil.which("dpkg-deb") is None or shutil.which("ffmpeg") is None,
                                 reason="needs dpkg-deb and ffmpeg")]
SR = realmusic.SR


def tone_track(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out, n = [], int(seconds * SR)
    while sum(len(x) for x in out) < n:
        t = np.arange(int(rng.uniform(0.2, 0.5) * SR)) / SR
        f = 110 * 2 ** (rng.integers(0, 36) / 12)
        out.append((0.5 * np.sin(2 * np.pi * f * t) * np.exp(-2 * t)).astype(np.float32))
    return np.concatenate(out)[:n]


def make_deb(tmp_path, package: str) -> None:
    """OUT/debs/PACKAGE_1.0_all.deb with ten music files, one a copy, one a loop."""
    tree = tmp_path / "tree"
    music = tree / "usr/share/games/fake/music"
    music.mkdir(parents=True)
    for i in range(8):
        sf.write(music / f"level{i}.flac", tone_track(34.0, seed=i), SR)
    sf.write(music / "level0_fast.flac", tone_track(34.0, seed=100), SR)      # a variant
    shutil.copy(music / "level3.flac", music / "copy_of_level3.flac")         # a duplicate
    one = tone_track(35.0, seed=50)
    sf.write(music / "loop.flac", np.concatenate([one, one, one]), SR)        # 105 s loop
    (tree / "DEBIAN").mkdir()
    (tree / "DEBIAN/control").write_text(
        f"Package: {package}\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@t>\n"
        "Description: test music\n")
    debs = tmp_path / "out/debs"
    debs.mkdir(parents=True)
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(tree),
                    str(debs / f"{package}_1.0_all.deb")], check=True, capture_output=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("v3")
    make_deb(tmp, "fake-music")
    summary = realmusic.build(tmp / "out", ["fake-music", "missing-music"], seed=0, jobs=1,
                              fetch=False)
    return tmp / "out", summary


def test_failing_package_is_named_in_summary(built):
    out, summary = built
    assert list(summary["failed_packages"]) == ["missing-music"]
    assert "missing-music" in summary["failed_packages"]["missing-music"]
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["failed_packages"] == summary["failed_packages"]
    assert summary["packages"]["fake-music"]["files"] == 10


def test_duplicate_dropped_and_loop_cut(built):
    out, summary = built
    dup = summary["duplicates_dropped"]
    assert len(dup) == 1 and {dup[0]["file"].rsplit("/", 1)[1], dup[0]["same_as"].rsplit("/", 1)[1]} \
        == {"copy_of_level3.flac", "level3.flac"}
    _, rows = read_csv(out / "captions.csv")
    loop_rows = [r for r in rows if r["source_file"].endswith("/loop.flac")]
    assert loop_rows and all(abs(float(r["loop_s"]) - 35.0) < 0.3 for r in loop_rows)
    assert max(float(r["offset_s"]) for r in loop_rows) + 12.0 <= 35.3


def test_no_piece_in_two_splits(built):
    out, _ = built
    _, rows = read_csv(out / "captions.csv")
    split_of = {}
    for r in rows:
        group = realmusic.piece_group(r["package"], r["source_file"])
        split_of.setdefault(group, set()).add(r["split"])
    assert all(len(s) == 1 for s in split_of.values())
    assert {s for v in split_of.values() for s in v} == {"train", "test"}
    assert split_of["fake-music/level0"] == {r["split"] for r in rows
                                             if r["source_file"].endswith("level0_fast.flac")}
    assert all(r["id"] == r["path"] and (out / r["path"]).is_file() for r in rows)


def test_rerun_decodes_nothing(built, monkeypatch):
    out, first = built
    monkeypatch.setattr(realmusic, "excerpt_job",
                        lambda job: pytest.fail(f"decoded again: {job['key']}"))
    again = realmusic.build(out, ["fake-music", "missing-music"], seed=0, jobs=1, fetch=False)
    assert again["excerpts"] == first["excerpts"]


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


def test_probe_cache_skips_tiny_audio_and_remembers(tmp_path, monkeypatch):
    tiny = tmp_path / "beep.wav"
    sf.write(tiny, np.zeros(1000, np.float32), SR)
    big = tmp_path / "song.flac"
    sf.write(big, tone_track(25.0, seed=9), SR)
    cache = realmusic.ProbeCache(tmp_path / "probe.json")
    assert cache.duration(tiny) == 0.0
    assert abs(cache.duration(big) - 25.0) < 0.1
    cache.save()
    monkeypatch.setattr(realmusic, "probe_duration", lambda p: pytest.fail(f"probed {p}"))
    assert abs(realmusic.ProbeCache(tmp_path / "probe.json").duration(big) - 25.0) < 0.1
