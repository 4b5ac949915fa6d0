"""muser_train.teachers.score_manifest: resumable MTT-50 + MSD-50 ensemble scores per clip id."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("librosa")
pytest.importorskip("torch")

from tests.helpers.teacher_fixtures import SR, chords, noise, sine  # noqa: E402
from muser_train.teachers import score_manifest as SM  # noqa: E402
from muser_train.teachers.specs import labels  # noqa: E402


def _manifest(folder, rows):
    path = folder / "clips.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["id", "path"])
        w.writeheader()
        w.writerows({"id": i, "path": p} for i, p in rows)
    return path


@pytest.fixture()
def corpus(tmp_path):
    sf.write(tmp_path / "a.wav", chords(4.0), SR)
    sf.write(tmp_path / "b.wav", noise(4.0), SR)
    sf.write(tmp_path / "c.wav", sine(seconds=4.0), SR)
    (tmp_path / "bad.wav").write_bytes(b"not audio" * 40)
    return tmp_path


def test_scores_every_clip_keyed_by_id_and_records_failures(corpus, capsys):
    m = _manifest(corpus, [("clip-a", "a.wav"), ("clip-x", "bad.wav"), ("clip-b", "b.wav")])
    out = corpus / "scores.npz"
    assert SM.main([str(m), "--out", str(out)]) == 0
    assert "skip " in capsys.readouterr().err
    z = np.load(out)
    assert list(z["ids"]) == ["clip-a", "clip-b"]
    for v in ("mtt", "msd"):
        assert z[v].shape == (2, 50) and z[v].dtype == np.float16
        assert ((z[v] >= 0) & (z[v] <= 1)).all()
        assert tuple(z[f"{v}_labels"]) == labels(v)
    assert list(z["failed"]) == ["clip-x"] and z["failed_reasons"][0]
    from muser_train.teachers.ensemble import clip_scores, load_ensembles
    want = clip_scores(load_ensembles(), SM._clip_patches(corpus / "b.wav", SM.MAX_PATCHES))
    np.testing.assert_allclose(z["msd"][1], want["msd"], atol=5e-4)  # float16 rounding only


def test_rerun_skips_done_clips_and_scores_new_ones(corpus):
    m = _manifest(corpus, [("a", "a.wav"), ("x", "bad.wav")])
    out = corpus / "scores.npz"
    assert SM.run(m, out) == {"scored": 1, "failed": 1, "skipped": 0}
    first = np.load(out)["mtt"].copy()
    m = _manifest(corpus, [("c", "c.wav"), ("a", "a.wav"), ("x", "bad.wav")])
    assert SM.run(m, out) == {"scored": 1, "failed": 0, "skipped": 2}
    z = np.load(out)
    assert list(z["ids"]) == ["c", "a"]  # manifest order
    np.testing.assert_array_equal(z["mtt"][1], first[0])
    assert SM.run(m, out, retry_failed=True) == {"scored": 0, "failed": 1, "skipped": 2}


@pytest.mark.slow  # scores the corpus twice; a rerun that skips done clips stays fast
def test_an_interrupted_run_keeps_its_clips_and_resumes(corpus, monkeypatch):
    m = _manifest(corpus, [("a", "a.wav"), ("b", "b.wav"), ("c", "c.wav")])
    out = corpus / "scores.npz"
    real = SM._clip_patches

    def interrupt_at_b(path, max_patches):
        if path.name == "b.wav":
            raise KeyboardInterrupt
        return real(path, max_patches)

    monkeypatch.setattr(SM, "_clip_patches", interrupt_at_b)
    assert SM.main([str(m), "--out", str(out)]) == 130
    assert list(np.load(out)["ids"]) == ["a"]
    monkeypatch.setattr(SM, "_clip_patches", real)
    assert SM.run(m, out) == {"scored": 2, "failed": 0, "skipped": 1}
    assert list(np.load(out)["ids"]) == ["a", "b", "c"]


def test_bad_manifests_and_foreign_score_files_are_named(corpus, capsys):
    dup = _manifest(corpus, [("a", "a.wav"), ("a", "b.wav")])
    assert SM.main([str(dup), "--out", str(corpus / "s.npz")]) == 1
    assert capsys.readouterr().err.strip() == f"error: {dup}: clip id 'a' appears twice"
    (corpus / "nopath.csv").write_text("id,file\na,a.wav\n", encoding="utf-8")
    with pytest.raises(SM.ManifestError, match="nopath.csv: no 'path' column"):
        SM.run(corpus / "nopath.csv", corpus / "s.npz")
    foreign = corpus / "foreign.npz"
    np.savez(foreign, ids=np.array(["a"]), mtt=np.zeros((1, 50)), msd=np.zeros((1, 50)),
             mtt_labels=np.array(list(reversed(labels("mtt")))), msd_labels=np.array(labels("msd")),
             failed=np.array([], dtype=str), failed_reasons=np.array([], dtype=str))
    with pytest.raises(SM.ManifestError, match="foreign.npz: its mtt labels differ"):
        SM.run(_manifest(corpus, [("a", "a.wav")]), foreign)


def test_scores_file_is_readable_as_the_umask_allows(tmp_path):
    import os
    from muser_train.teachers.score_manifest import ScoreTable, save_table
    old = os.umask(0o022)
    try:
        save_table(ScoreTable(), tmp_path / "s.npz", [])
    finally:
        os.umask(old)
    assert (tmp_path / "s.npz").stat().st_mode & 0o777 == 0o644
