"""muser_train.teachers.ensemble (MTT-50 and MSD-50 ensembles) and muser_train.teachers.agreement (metrics)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("librosa")
pytest.importorskip("torch")

from tests.helpers.teacher_fixtures import SR, chords, noise, sine  # noqa: E402
from muser_train.teachers import agreement as A  # noqa: E402
from muser_train.teachers import ensemble as E  # noqa: E402
from muser_train.teachers.features import wave_patches  # noqa: E402
from muser_train.teachers.specs import labels  # noqa: E402


@pytest.fixture(scope="module")
def ensembles():
    return E.load_ensembles()


@pytest.mark.slow
def test_each_vocabulary_averages_its_two_teachers(ensembles):
    assert {v: sorted(e.models) for v, e in ensembles.items()} == {
        "mtt": ["mtt_musicnn", "mtt_vgg"], "msd": ["msd_musicnn", "msd_vgg"]}
    x = wave_patches(chords())
    for vocab, ens in ensembles.items():
        members = ens.member_scores(x)
        mean = ens.score_patches(x)
        a, b = members.values()
        assert mean.shape == (len(x), 50) and mean.dtype == np.float32
        np.testing.assert_allclose(mean, (a + b) / 2, atol=1e-7)
        assert np.abs(a - b).max() > 1e-3  # two different models, so the mean is not either one
        assert ens.labels == labels(vocab)


def test_clip_scores_are_deterministic_probabilities(ensembles):
    x = wave_patches(noise())
    first, again = E.clip_scores(ensembles, x), E.clip_scores(ensembles, x)
    for vocab in ("mtt", "msd"):
        assert first[vocab].shape == (50,)
        assert ((first[vocab] >= 0) & (first[vocab] <= 1)).all()
        np.testing.assert_array_equal(first[vocab], again[vocab])
    with pytest.raises(ValueError, match="no patches"):
        E.clip_scores(ensembles, x[:0])


def test_agreement_of_identical_reversed_and_unrelated_scores():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, (6, 10))
    same = A.agreement(a, a, k=2)
    assert same["pearson"] == pytest.approx(1) and same["spearman"] == pytest.approx(1)
    assert same["top2_overlap"] == 1
    flipped = A.agreement(a, 1 - a, k=2)
    assert flipped["pearson"] == pytest.approx(-1) and flipped["spearman"] == pytest.approx(-1)
    assert flipped["top2_overlap"] == 0
    assert same["auc_a_on_b_top2"] > 0.5 > flipped["auc_a_on_b_top2"]
    # shuffled baseline: against another clip's scores, a clip-specific ranking does not agree
    assert same["spearman_shuffled"] < 0.9


def test_agreement_by_hand_on_two_clips():
    a = np.array([[0.9, 0.5, 0.1, 0.0], [0.1, 0.2, 0.3, 0.8]])
    b = np.array([[0.8, 0.1, 0.6, 0.0], [0.0, 0.1, 0.9, 0.7]])
    r = A.agreement(a, b, k=2)
    # top 2: a {0,1} / {3,2}; b {0,2} / {2,3} -> overlaps 1/2 and 2/2
    assert r["top2_overlap"] == pytest.approx(0.75)
    # ranks a: [3,2,1,0], [0,1,2,3]; b: [3,1,2,0], [0,1,3,2] -> spearman 0.8 and 0.8
    assert r["spearman"] == pytest.approx(0.8)
    with pytest.raises(ValueError, match="need two"):
        A.agreement(a[:1], b[:1])


@pytest.mark.slow  # runs all four teachers; the ensemble itself stays fast
def test_agreement_command_on_generated_audio(tmp_path, capsys):
    for name, y in (("a.wav", chords(6.0)), ("b.wav", noise(6.0)), ("c.wav", sine(seconds=6.0))):
        sf.write(tmp_path / name, y, SR)
    (tmp_path / "d.wav").write_bytes(b"not audio" * 50)
    assert A.main([str(tmp_path), "--patches", "1", "--json", str(tmp_path / "r.json")]) == 0
    out, err = capsys.readouterr()
    assert err.count("skip ") == 1 and "d.wav" in err
    result = json.loads(out)
    assert set(result) == {"mtt", "msd"} and result["msd"]["clips"] == 3
    assert -1 <= result["mtt"]["pearson"] <= 1
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["agreement"] == result and len(saved["scores"]["msd_vgg"]) == 3


def test_agreement_command_needs_two_clips(tmp_path, capsys):
    sf.write(tmp_path / "a.wav", chords(4.0), SR)
    assert A.main([str(tmp_path / "a.wav")]) == 1
    assert "1 of 1 files decoded" in capsys.readouterr().err
