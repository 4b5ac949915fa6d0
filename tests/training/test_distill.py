"""muser_train.training.distill: a cheaper spectrogram tower learnt into the teacher's embedding space."""
import numpy as np
import pytest
import torch

from muser_model.core.checkpoint import load_checkpoint
from muser_model.numpy_engine.audio import NumpyMuser
from muser_model.torch_engine.runtime import build_model, load_model
from tests.training.test_train import _corpus
from muser_train.training.distill import agreement, build_student, distil, main, spec_targets, student_config


@pytest.fixture(autouse=True)
def _private_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))


def _windows(n: int, samples: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 16000
    freqs = rng.uniform(100, 2000, (n, 1))
    return (0.3 * np.sin(2 * np.pi * freqs * t) + 0.05 * rng.standard_normal((n, samples))).astype(np.float32)


def test_student_keeps_everything_but_the_spectrogram_tower(tiny_model):
    teacher = tiny_model.model
    cfg = student_config(teacher.config, n_fft=1024, hop_length=512, channels=(4, 8, 16))
    student = build_student(teacher, cfg)
    trainable = {n for n, p in student.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("spec_encoder.", "spec_proj.")) for n in trainable)
    wave = torch.from_numpy(_windows(2, round(cfg.audio.window_s * 16000)))
    student.eval()
    with torch.inference_mode():
        assert torch.equal(student.encode_wave(wave), teacher.encode_wave(wave))
        assert torch.equal(student.text_proj[0].weight, teacher.text_proj[0].weight)
    assert student.config.audio.hop_length == 512 and student.config.spectrogram.channels == (4, 8, 16)


@pytest.mark.slow
def test_distillation_moves_the_student_towards_the_teacher(tiny_model):
    teacher = tiny_model.model.eval()
    cfg = student_config(teacher.config, n_fft=512, hop_length=512, channels=(4, 8, 16))
    student = build_student(teacher, cfg)
    samples = round(cfg.audio.window_s * 16000)
    train_x, valid_x = _windows(48, samples, seed=1), _windows(16, samples, seed=2)
    train_y, valid_y = spec_targets(teacher, train_x), spec_targets(teacher, valid_x)
    before = agreement(student, valid_x, valid_y)
    history = distil(student, train_x, train_y, epochs=6, batch=8, lr=5e-3, seed=0, log=lambda _m: None,
                     valid=(valid_x, valid_y))
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["valid_cosine"] > before + 0.05


@pytest.mark.slow
def test_distilled_checkpoint_runs_in_both_engines(tiny_checkpoint, tmp_path):
    corpus = _corpus(tmp_path / "corpus")
    out = tmp_path / "fast.muser"
    assert main(["--teacher", str(tiny_checkpoint), "--data-dir", str(corpus), "--out", str(out),
                 "--channels", "4,8,16", "--hop-length", "512", "--n-fft", "512", "--epochs", "1",
                 "--batch-size", "4", "--clip-s", "4"]) == 0
    ckpt, teacher = load_checkpoint(out), load_checkpoint(tiny_checkpoint)
    assert ckpt.config.audio.hop_length == 512 and ckpt.training["distilled"]["teacher_hash"] == teacher.content_hash
    assert torch.equal(ckpt.label_embeddings["genres"], teacher.label_embeddings["genres"])
    assert {"genres.weight", "tags.weight"} <= set(ckpt.heads)
    lm, nm = load_model(out, "cpu", "fp32"), NumpyMuser.load(out)
    wave = _windows(2, round(ckpt.config.audio.window_s * 16000))
    with torch.inference_mode():
        ref = lm.model(wave=torch.from_numpy(wave))
    w, s = nm.embed(wave)
    assert np.abs(w - ref.wave.numpy()).max() < 1e-4 and np.abs(s - ref.spec.numpy()).max() < 1e-4
    assert build_model(ckpt, torch.device("cpu")) is not None
