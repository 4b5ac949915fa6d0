"""The musicnn MTT-50 teacher (train.musicnn), its converter and the corpus pseudo-tagger.

The parity test runs musicnn's original TF graph and needs, besides tensorflow, the musicnn wheel:
    pip download musicnn --no-deps -d ~/.cache/muser/musicnn     (or set MUSER_MUSICNN_DIR)
tensorflow is taken from this interpreter when it has it, else from the python in MUSER_TF_PYTHON
(e.g. a separate venv); the test is skipped when neither is available.
"""
from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("librosa")
torch = pytest.importorskip("torch")

from muser_model.vocab import MTT_TAGS  # noqa: E402
from train import musicnn as M  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SR = 16000


def _sine(freq=440.0, seconds=6.0, amp=0.05):
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _noise(seconds=6.0, amp=0.1, seed=0):
    return (amp * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def _chords(seconds=6.0):
    """Decaying harmonic notes and a noisy beat: something a bit more like music."""
    t = np.arange(int(seconds * SR)) / SR
    y = np.zeros_like(t)
    for i, f in enumerate((220.0, 277.2, 329.6, 440.0, 392.0, 293.7)):
        s = int(i * SR)
        if s >= len(t):
            break
        tt = t[: len(t) - s]
        y[s:] += sum(np.sin(2 * np.pi * f * h * tt) / h for h in (1, 2, 3, 4)) * np.exp(-tt / 0.7)
    y += np.random.default_rng(1).standard_normal(len(t)) * np.exp(-(t % 0.5) / 0.02)
    return (0.1 * y / np.abs(y).max()).astype(np.float32)


@pytest.fixture(scope="module")
def teacher():
    return M.load_teacher()


# ------------------------------------------------------------------ (a) parity with the TF graph

def _wheel_dir() -> Path | None:
    for d in (os.environ.get("MUSER_MUSICNN_DIR"), Path.home() / ".cache" / "muser" / "musicnn"):
        if d and Path(d).is_dir() and (list(Path(d).glob("musicnn-*.whl"))
                                       or list(Path(d).rglob("MTT_musicnn/.index"))):
            return Path(d)
    return None


def _tf_python() -> str | None:
    if os.environ.get("MUSER_TF_PYTHON"):
        return os.environ["MUSER_TF_PYTHON"]
    if importlib.util.find_spec("tensorflow") is not None:
        return sys.executable
    return None


def test_parity_with_musicnn_tf_graph(tmp_path, teacher):
    python = _tf_python()
    if python is None:
        pytest.skip("no tensorflow here and MUSER_TF_PYTHON unset")
    wheel = _wheel_dir()
    if wheel is None:
        pytest.skip("musicnn wheel not found (MUSER_MUSICNN_DIR or ~/.cache/muser/musicnn)")
    rng = np.random.default_rng(0)
    x = [rng.uniform(0, 4, (2, 187, 96)), rng.normal(1.5, 1.0, (2, 187, 96))]
    for y in (_sine(), _noise(), _chords()):
        x.append(M.patches(M.musicnn_logmel(y)))
    x = np.concatenate(x).astype(np.float32)
    np.save(tmp_path / "in.npy", x)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    res = subprocess.run([python, "-m", "train.convert_musicnn", "--wheel-dir", str(wheel),
                          "--reference", str(tmp_path / "in.npy"), str(tmp_path / "out.npy")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    ref = np.load(tmp_path / "out.npy")
    ours = M.score_patches(teacher, x)
    assert ref.shape == ours.shape == (len(x), 50)
    assert np.abs(ref - ours).max() <= 1e-4


# ------------------------------------------------------------------ (b) features

def test_logmel_matches_librosa_on_a_sine():
    import librosa
    y = _sine(seconds=5.0)
    ours = M.musicnn_logmel(y)
    mel = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, hop_length=256, n_mels=96,
                                         pad_mode="reflect")
    q = mel.astype(np.float16)
    assert ours.shape == (1 + len(y) // 256, 96) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, np.log10(10000 * q.astype(np.float32) + 1).T, rtol=0, atol=1e-6)
    # musicnn's own float16 log agrees to float16 rounding (the sine is too quiet to overflow it)
    with np.errstate(over="ignore"):
        f16 = np.log10(10000 * q + 1).T
    assert np.isfinite(f16).all()
    np.testing.assert_allclose(ours, f16.astype(np.float32), rtol=0, atol=4e-3)


def test_loud_input_stays_finite_and_patches_do_not_overlap():
    lm = M.musicnn_logmel(_sine(amp=1.0, seconds=12.0))  # float16 * 10000 would overflow here
    assert np.isfinite(lm).all()
    p = M.patches(lm)
    assert p.shape == (len(lm) // 187, 187, 96) == (4, 187, 96)
    np.testing.assert_array_equal(p[1], lm[187:374])
    short = M.patches(M.musicnn_logmel(_sine(seconds=1.0)))  # repeat-padded to one patch
    assert short.shape == (1, 187, 96)


# ------------------------------------------------------------------ (c) the committed weights

def test_tag_order_maps_to_mtt_tags():
    assert [M.MUSICNN_MTT_LABELS[i] for i in M.TO_MTT_TAGS] == list(MTT_TAGS)


def test_teacher_outputs_and_tags(teacher):
    assert M.DEFAULT_WEIGHTS.is_file()
    x = M.patches(M.musicnn_logmel(_chords()))
    a = M.score_patches(teacher, x)
    b = M.score_patches(M.load_teacher(), x)
    assert a.shape == (len(x), 50) and a.dtype == np.float32
    assert ((a >= 0) & (a <= 1)).all()
    np.testing.assert_array_equal(a, b)
    sine = M.tag_wave(teacher, _sine())
    noise = M.tag_wave(teacher, _noise())
    assert sine.shape == noise.shape == (50,)
    assert M.top_tags(sine, 1)[0][0] != M.top_tags(noise, 1)[0][0]
    assert np.abs(sine - noise).max() > 0.1


# ------------------------------------------------------------------ (d) pseudo-tagging a corpus

def _read(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_pseudo_tags_on_a_tiny_corpus(tmp_path, capsys):
    from train import pseudo_tags
    sf.write(tmp_path / "a.wav", _chords(4.0), SR)
    sf.write(tmp_path / "b.wav", _noise(4.0), SR)
    (tmp_path / "c.wav").write_bytes(b"this is not audio at all" * 10)
    with open(tmp_path / "captions.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["path", "text", "texts", "tags", "split"])
        w.writeheader()
        for name in ("a.wav", "b.wav", "c.wav"):
            w.writerow({"path": name, "text": f"clip {name}", "texts": f"alt {name}",
                        "tags": "x;y", "split": "train"})

    res = pseudo_tags.run(tmp_path, jobs=1)
    assert res == {"rows": 3, "scored": 2, "skipped": 1}
    err = capsys.readouterr().err
    assert err.count("skip ") == 1 and "c.wav" in err
    rows = _read(tmp_path / "captions.csv")
    assert [r["path"] for r in rows] == ["a.wav", "b.wav", "c.wav"]
    for r in rows[:2]:
        tags = r["teacher_tags"].split(";")
        assert tags and set(tags) <= set(MTT_TAGS)
        texts = r["texts"].split(" | ")
        assert texts[0] == f"alt {r['path']}"
        assert f"the music is characterized by {', '.join(tags)}" in texts
    assert rows[2]["teacher_tags"] == "" and rows[2]["texts"] == "alt c.wav"
    z = np.load(tmp_path / "teacher_scores.npz")
    assert list(z["paths"]) == ["a.wav", "b.wav"] and z["scores"].shape == (2, 50)
    assert list(z["tags"]) == list(MTT_TAGS)

    first = (tmp_path / "captions.csv").read_bytes()
    pseudo_tags.run(tmp_path, jobs=2)  # again, through worker processes: nothing changes
    assert (tmp_path / "captions.csv").read_bytes() == first
    np.testing.assert_allclose(np.load(tmp_path / "teacher_scores.npz")["scores"], z["scores"],
                               atol=1e-6)


def test_merge_texts_replaces_old_teacher_texts():
    from train.pseudo_tags import choose_tags, merge_texts
    s = np.zeros(50, np.float32)
    s[MTT_TAGS.index("rock")], s[MTT_TAGS.index("guitar")], s[MTT_TAGS.index("loud")] = .6, .3, .05
    assert choose_tags(s) == ["rock", "guitar"]
    t1 = merge_texts("mine", "", ["rock", "guitar"])
    assert t1 == ("mine | the music is characterized by rock, guitar"
                  " | the music is characterized by rock")
    assert merge_texts(t1, "rock;guitar", ["piano"]) == "mine | the music is characterized by piano"


def test_spread_keeps_evenly_spaced_patches():
    from train.pseudo_tags import spread

    stack = np.arange(8)[:, None, None] * np.ones((1, 3, 2))
    assert [int(p[0, 0]) for p in spread(stack, 2)] == [2, 6]
    assert len(spread(stack, 0)) == 8 and len(spread(stack[:1], 4)) == 1
