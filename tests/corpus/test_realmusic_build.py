"""The realmusic build end to end on a generated .deb (failing packages listed, duplicates
dropped, loops cut, pieces split without leakage, a rerun redoes nothing), and realmusic as an
opt-in stage of `python -m muser_train.corpus` whose teacher scores resume from the committed
ones."""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from muser_train.corpus import build as corpus_build
from muser_train.corpus import realmusic
from muser_train.corpus import excerpts
from muser_train.corpus.common import read_csv, write_csv

needs_deb = pytest.mark.skipif(shutil.which("dpkg-deb") is None or shutil.which("ffmpeg") is None,
                               reason="needs dpkg-deb and ffmpeg")

SR = excerpts.SR


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


@pytest.mark.slow  # builds and decodes a generated .deb (7 s set-up)
@needs_deb
def test_failing_package_is_named_in_summary(built):
    out, summary = built
    assert list(summary["failed_packages"]) == ["missing-music"]
    assert "missing-music" in summary["failed_packages"]["missing-music"]
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["failed_packages"] == summary["failed_packages"]
    assert summary["packages"]["fake-music"]["files"] == 10


@pytest.mark.slow  # builds and decodes a generated .deb (7 s set-up)
@needs_deb
def test_duplicate_dropped_and_loop_cut(built):
    out, summary = built
    dup = summary["duplicates_dropped"]
    assert len(dup) == 1 and {dup[0]["file"].rsplit("/", 1)[1], dup[0]["same_as"].rsplit("/", 1)[1]} \
        == {"copy_of_level3.flac", "level3.flac"}
    _, rows = read_csv(out / "captions.csv")
    loop_rows = [r for r in rows if r["source_file"].endswith("/loop.flac")]
    assert loop_rows and all(abs(float(r["loop_s"]) - 35.0) < 0.3 for r in loop_rows)
    assert max(float(r["offset_s"]) for r in loop_rows) + 12.0 <= 35.3


@pytest.mark.slow  # builds and decodes a generated .deb (7 s set-up)
@needs_deb
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


@pytest.mark.slow  # builds and decodes a generated .deb (7 s set-up)
@needs_deb
def test_rerun_decodes_nothing(built, monkeypatch):
    out, first = built
    monkeypatch.setattr(realmusic, "excerpt_job",
                        lambda job: pytest.fail(f"decoded again: {job['key']}"))
    again = realmusic.build(out, ["fake-music", "missing-music"], seed=0, jobs=1, fetch=False)
    assert again["excerpts"] == first["excerpts"]


# -- the stage in python -m muser_train.corpus ------------------------------------------------
def fake_builder(calls):
    def run_step(cmd):
        calls.append(cmd)
        out = cmd[cmd.index("--out") + 1]
        Path(out).mkdir(parents=True, exist_ok=True)
        write_csv(Path(out) / "captions.csv", ["path", "split"], [{"path": "a.flac", "split": "train"}])
        return 0
    return run_step


def test_realmusic_stage_runs_builder_then_teacher_scores(tmp_path, monkeypatch):
    calls, scored = [], []
    monkeypatch.setattr(corpus_build, "run_step", fake_builder(calls))
    monkeypatch.setattr(corpus_build, "running_elsewhere", lambda module, sub: False)
    monkeypatch.setattr(corpus_build, "teacher_scores", lambda sub, name: scored.append(name) or "0 scored")
    rc = corpus_build.main(["--out", str(tmp_path), "--sources", "realmusic"])
    assert rc == 0
    assert [c[2] for c in calls] == ["muser_train.corpus.realmusic"]
    assert scored == ["realmusic"]
    _, rows = read_csv(tmp_path / "captions.csv")
    assert [(r["id"], r["path"]) for r in rows] == [("realmusic/a.flac", "realmusic/a.flac")]


def test_teacher_scores_start_from_the_committed_file(tmp_path, monkeypatch):
    from muser_train.teachers import score_manifest
    committed, sub = tmp_path / "data", tmp_path / "mma"
    committed.mkdir()
    sub.mkdir()
    (committed / "mma_teacher_scores.npz").write_bytes(b"committed scores")
    seen = {}

    def fake_run(manifest, out, root, patches, log=None):
        seen["before"] = out.read_bytes()
        return {"scored": 2, "failed": 0, "skipped": 5}

    monkeypatch.setattr(score_manifest, "run", fake_run)
    assert corpus_build.teacher_scores(sub, "mma", committed) == "2 scored, 0 failed, 5 already scored"
    assert seen["before"] == b"committed scores"  # copied before the teachers ran
    (committed / "mma_teacher_scores.npz").write_bytes(b"newer")
    corpus_build.teacher_scores(sub, "mma", committed)
    assert seen["before"] == b"committed scores"  # a scored file there is never overwritten


def test_realmusic_is_opt_in():
    assert "realmusic" not in corpus_build.SOURCES and "realmusic" in corpus_build.BUILDERS


def test_mma_extra_renders_the_rest_of_the_mma_plan_without_teachers(tmp_path, monkeypatch):
    """`--sources mma mma_extra`: the same plan twice (every 6th clip; the training clips it leaves
    out), mood captions for both, teacher scores only for `mma`; both merge with their prefix."""
    calls, scored, moods = [], [], []
    monkeypatch.setattr(corpus_build, "run_step", fake_builder(calls))
    monkeypatch.setattr(corpus_build, "running_elsewhere", lambda module, sub: False)
    monkeypatch.setattr(corpus_build, "teacher_scores", lambda sub, name: scored.append(name) or "0 scored")
    monkeypatch.setattr(corpus_build, "add_mood", lambda sub, jobs, seed: moods.append(sub.name) or {})
    assert corpus_build.main(["--out", str(tmp_path), "--sources", "mma", "mma_extra"]) == 0
    (_, _, m1, *a1), (_, _, m2, *a2) = calls
    assert m1 == m2 == "muser_train.corpus.mma"
    assert a1[a1.index("--clips-per-style"):][:4] == a2[a2.index("--clips-per-style"):][:4]
    assert a2[a2.index("--complement-of") + 1] == a1[a1.index("--subsample") + 1] == "6"
    assert a2[a2.index("--only-split") + 1] == "train"
    assert scored == ["mma"] and moods == ["mma", "mma_extra"]
    _, rows = read_csv(tmp_path / "captions.csv")
    assert sorted(r["id"] for r in rows) == ["mma/a.flac", "mma_extra/a.flac"]
