"""Corpus v3 as an opt-in stage of `python -m muser_train.corpus`: it runs the realmusic
builder, is not in the default sources, and its teacher scores resume from the committed ones."""
from muser_train.corpus import build
from muser_train.corpus.common import write_csv


def fake_builder(calls):
    def run_step(cmd):
        calls.append(cmd)
        out = cmd[cmd.index("--out") + 1]
        from pathlib import Path
        Path(out).mkdir(parents=True, exist_ok=True)
        write_csv(Path(out) / "captions.csv", ["path", "split"], [{"path": "a.flac", "split": "train"}])
        return 0
    return run_step


def test_realmusic_stage_runs_builder_then_teacher_scores(tmp_path, monkeypatch):
    calls, scored = [], []
    monkeypatch.setattr(build, "run_step", fake_builder(calls))
    monkeypatch.setattr(build, "running_elsewhere", lambda module, sub: False)
    monkeypatch.setattr(build, "teacher_scores", lambda sub, name: scored.append(name) or "0 scored")
    rc = build.main(["--out", str(tmp_path), "--sources", "realmusic"])
    assert rc == 0
    assert [c[2] for c in calls] == ["muser_train.corpus.realmusic"]
    assert scored == ["realmusic"]
    from muser_train.corpus.common import read_csv
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
    assert build.teacher_scores(sub, "mma", committed) == "2 scored, 0 failed, 5 already scored"
    assert seen["before"] == b"committed scores"  # copied before the teachers ran
    (committed / "mma_teacher_scores.npz").write_bytes(b"newer")
    build.teacher_scores(sub, "mma", committed)
    assert seen["before"] == b"committed scores"  # a scored file there is never overwritten


def test_realmusic_is_opt_in():
    assert "realmusic" not in build.SOURCES and "realmusic" in build.BUILDERS


def test_mma_extra_renders_the_rest_of_the_mma_plan_without_teachers(tmp_path, monkeypatch):
    """`--sources mma mma_extra`: the same plan twice (every 6th clip; the training clips it leaves
    out), mood captions for both, teacher scores only for `mma`; both merge with their prefix."""
    calls, scored, moods = [], [], []
    monkeypatch.setattr(build, "run_step", fake_builder(calls))
    monkeypatch.setattr(build, "running_elsewhere", lambda module, sub: False)
    monkeypatch.setattr(build, "teacher_scores", lambda sub, name: scored.append(name) or "0 scored")
    monkeypatch.setattr(build, "add_mood", lambda sub, jobs, seed: moods.append(sub.name) or {})
    assert build.main(["--out", str(tmp_path), "--sources", "mma", "mma_extra"]) == 0
    (_, _, m1, *a1), (_, _, m2, *a2) = calls
    assert m1 == m2 == "muser_train.corpus.mma"
    assert a1[a1.index("--clips-per-style"):][:4] == a2[a2.index("--clips-per-style"):][:4]
    assert a2[a2.index("--complement-of") + 1] == a1[a1.index("--subsample") + 1] == "6"
    assert a2[a2.index("--only-split") + 1] == "train"
    assert scored == ["mma"] and moods == ["mma", "mma_extra"]
    from muser_train.corpus.common import read_csv
    _, rows = read_csv(tmp_path / "captions.csv")
    assert sorted(r["id"] for r in rows) == ["mma/a.flac", "mma_extra/a.flac"]
