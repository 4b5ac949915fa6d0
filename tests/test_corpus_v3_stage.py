"""Corpus v3 as an opt-in stage of `python -m muser_train.corpus`: it runs the realmusic
builder, is not in the default sources, and is never pseudo-tagged again."""
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


def test_realmusic_stage_runs_builder_and_skips_pseudo_tags(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(build, "run_step", fake_builder(calls))
    monkeypatch.setattr(build, "running_elsewhere", lambda module, sub: False)
    monkeypatch.setattr(build, "pseudo_tags", lambda sub: (_ for _ in ()).throw(
        AssertionError(f"pseudo-tagged {sub}")))
    rc = build.main(["--out", str(tmp_path), "--sources", "realmusic"])
    assert rc == 0
    assert [c[2] for c in calls] == ["muser_train.corpus.realmusic"]
    assert (tmp_path / "captions.csv").read_text().count("realmusic/a.flac") == 1


def test_realmusic_is_opt_in():
    assert "realmusic" not in build.SOURCES and "realmusic" in build.BUILDERS
