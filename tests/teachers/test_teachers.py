"""The four ported musicnn teachers (muser_train.teachers): parity with the TF graphs, features, weights.

The parity tests run musicnn's original TF graphs and need, besides tensorflow, the musicnn wheel:
    pip download musicnn==0.1.0 --no-deps -d ~/.cache/muser/musicnn     (or set MUSER_MUSICNN_DIR)
tensorflow is taken from this interpreter when it has it, else from the python in MUSER_TF_PYTHON
(e.g. a private venv: python -m venv V && V/bin/pip install tensorflow-cpu tf-keras numpy); those
tests are skipped when either is missing.
"""
from __future__ import annotations

import json
import functools
import os
import tempfile
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("librosa")
torch = pytest.importorskip("torch")

from muser_model.core.vocab import MTT_TAGS  # noqa: E402
from tests.helpers.teacher_fixtures import chords, noise, sine, tf_python, wheel_dir  # noqa: E402
from muser_train.teachers import features as FE  # noqa: E402
from muser_train.teachers import registry as R  # noqa: E402
from muser_train.teachers.specs import LABELS_FILE, TEACHERS, labels  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
NAMES = list(TEACHERS)


@pytest.fixture(scope="module")
def teachers():
    return {name: R.load_teacher(name) for name in NAMES}


def _probe() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = [rng.uniform(0, 4, (2, 187, 96)), rng.normal(1.5, 1.0, (2, 187, 96))]
    x += [FE.wave_patches(y) for y in (sine(), noise(), chords())]
    return np.concatenate(x).astype(np.float32)


def _tf_env():
    python, wheel = tf_python(), wheel_dir()
    if python is None:
        pytest.skip("no tensorflow here and MUSER_TF_PYTHON unset")
    if wheel is None:
        pytest.skip("musicnn wheel not found (MUSER_MUSICNN_DIR or ~/.cache/muser/musicnn)")
    env = {**os.environ, "PYTHONPATH": f"{_source_tree()}{os.pathsep}{REPO}", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return python, wheel, env


@functools.cache
def _source_tree() -> Path:
    """A folder where `muser_train` resolves to this checkout's train/ (the TF python has no muser)."""
    root = Path(tempfile.mkdtemp(prefix="muser-src-"))
    (root / "muser_train").symlink_to(REPO / "train", target_is_directory=True)
    return root


# ------------------------------------------------------------------ (a) parity with the TF graphs

@pytest.mark.parametrize("name", NAMES)
def test_parity_with_musicnn_tf_graph(tmp_path, teachers, name):
    python, wheel, env = _tf_env()
    x = _probe()
    np.save(tmp_path / "in.npy", x)
    res = subprocess.run([python, "-m", "muser_train.teachers.convert", "--wheel-dir", str(wheel),
                          "--reference", TEACHERS[name].checkpoint, str(tmp_path / "in.npy"),
                          str(tmp_path / "out.npy")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    ref = np.load(tmp_path / "out.npy")
    ours = R.score_patches(teachers[name], x)
    assert ref.shape == ours.shape == (len(x), 50)
    assert np.abs(ref - ours).max() <= 1e-4
    assert ref.std() > 1e-3  # the graph really ran on varied input


def test_converter_is_idempotent_and_labels_match_the_wheel(tmp_path):
    python, wheel, env = _tf_env()
    cmd = [python, "-m", "muser_train.teachers.convert", "--wheel-dir", str(wheel),
           "--models", "mtt_vgg", "--out-dir", str(tmp_path)]
    first = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "mtt_vgg.npz: written" in first.stderr
    data = (tmp_path / "mtt_vgg.npz").read_bytes()
    again = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "mtt_vgg.npz: unchanged" in again.stderr
    assert (tmp_path / "mtt_vgg.npz").read_bytes() == data
    with np.load(tmp_path / "mtt_vgg.npz") as fresh, np.load(TEACHERS["mtt_vgg"].weights) as shipped:
        assert sorted(fresh.files) == sorted(shipped.files)
        assert all(np.array_equal(fresh[k], shipped[k]) for k in fresh.files)
    assert f"{LABELS_FILE}: unchanged" in again.stderr  # the committed lists are the wheel's


def test_converter_names_a_missing_wheel(tmp_path):
    python, _, env = _tf_env()
    res = subprocess.run([python, "-m", "muser_train.teachers.convert", "--wheel-dir", str(tmp_path)],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path}: no musicnn wheel and no musicnn/configuration.py below it")


# ------------------------------------------------------------------ (b) features

@pytest.mark.slow  # importing librosa dominates
def test_logmel_matches_librosa_on_a_sine():
    import librosa
    y = sine(seconds=5.0)
    ours = FE.musicnn_logmel(y)
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
    lm = FE.musicnn_logmel(sine(amp=1.0, seconds=12.0))  # float16 * 10000 would overflow here
    assert np.isfinite(lm).all()
    p = FE.patches(lm)
    assert p.shape == (len(lm) // 187, 187, 96) == (4, 187, 96)
    np.testing.assert_array_equal(p[1], lm[187:374])
    short = FE.wave_patches(sine(seconds=1.0))  # repeat-padded to one patch
    assert short.shape == (1, 187, 96)


# ------------------------------------------------------------------ (c) the committed weights

def test_label_lists_have_fifty_entries_in_the_checkpoint_order():
    raw = json.loads(LABELS_FILE.read_text(encoding="utf-8"))
    assert sorted(raw) == ["msd", "mtt"]
    for vocab in ("mtt", "msd"):
        assert len(labels(vocab)) == len(set(labels(vocab))) == 50
    assert labels("mtt") == MTT_TAGS  # muser's MTT vocabulary is the checkpoints' order
    msd = labels("msd")
    assert (msd[0], msd[8], msd[32], msd[33], msd[49]) == (
        "rock", "alternative rock", "guitar", "Hip-Hop", "happy")


def test_label_lists_are_the_wheels(tmp_path):
    wheel = wheel_dir()
    if wheel is None:
        pytest.skip("musicnn wheel not found (MUSER_MUSICNN_DIR or ~/.cache/muser/musicnn)")
    from muser_train.teachers.convert import wheel_labels
    assert {v: tuple(ls) for v, ls in wheel_labels(wheel).items()} == {
        "mtt": labels("mtt"), "msd": labels("msd")}


@pytest.mark.parametrize("name", NAMES)
def test_each_teacher_loads_and_scores_generated_audio(teachers, name):
    x = FE.wave_patches(chords())
    a = R.score_patches(teachers[name], x)
    b = R.score_patches(R.load_teacher(name), x)
    assert a.shape == (len(x), 50) and a.dtype == np.float32
    assert ((a >= 0) & (a <= 1)).all()
    np.testing.assert_array_equal(a, b)
    s, n = R.tag_wave(teachers[name], sine()), R.tag_wave(teachers[name], noise())
    assert s.shape == n.shape == (50,)
    assert np.abs(s - n).max() > 0.05  # it hears the difference between a sine and noise


@pytest.mark.slow
def test_the_four_teachers_are_four_different_models(teachers):
    x = FE.wave_patches(chords())
    scores = {name: R.score_patches(m, x) for name, m in teachers.items()}
    for i, a in enumerate(NAMES):
        for b in NAMES[i + 1:]:
            assert np.abs(scores[a] - scores[b]).max() > 1e-3, (a, b)


def test_the_vgg_pair_pools_as_its_graph_does(teachers):
    """MSD_vgg is not the wheel's models.py: its first two pools are 4x1/4x1 and 1x4/1x4."""
    mtt, msd = teachers["mtt_vgg"].pools, teachers["msd_vgg"].pools
    assert mtt[:2] == (((4, 1), (2, 2)), ((2, 2), (2, 2)))
    assert msd[:2] == (((4, 1), (4, 1)), ((1, 4), (1, 4)))
    assert mtt[2:] == msd[2:]


def test_vgg_rejects_patches_of_another_length(teachers):
    with pytest.raises(ValueError, match="187, 96"):
        teachers["mtt_vgg"](torch.zeros(1, 100, 96))


def test_a_misshaped_npz_is_named(tmp_path):
    with np.load(TEACHERS["msd_vgg"].weights) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["out.weight"] = arrays["out.weight"][:, :128]
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ValueError, match=r"bad\.npz: out\.weight has shape \(50, 128\)"):
        R.load_teacher("msd_vgg", bad)
    del arrays["_pools"]
    np.savez(bad, **arrays)
    with pytest.raises(ValueError, match=r"bad\.npz: no _pools entry"):
        R.load_teacher("msd_vgg", bad)
    with pytest.raises(KeyError, match="unknown teacher 'gtzan_vgg'"):
        R.load_teacher("gtzan_vgg")


def test_top_tags_use_the_vocabulary_of_the_scores():
    s = np.zeros(50, np.float32)
    s[33], s[0] = 0.9, 0.5
    assert R.top_tags(s, "msd", 2) == [("Hip-Hop", pytest.approx(0.9)), ("rock", 0.5)]
    assert R.top_tags(s, "mtt", 1)[0][0] == "man"
