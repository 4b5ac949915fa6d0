"""Shared fixtures: a tiny random-weight checkpoint and generated audio clips (no network)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

SR = 16_000


def tone(freq: float, seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A decaying harmonic tone with a little seeded noise, mono float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    wave = sum(np.sin(2 * np.pi * freq * h * t) / h for h in (1, 2, 3))
    wave = 0.3 * wave * (0.6 + 0.4 * np.cos(2 * np.pi * 2 * t))
    return (wave + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def write_clip(path: Path, freq: float = 220.0, seconds: float = 5.0, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".ogg": ("OGG", "VORBIS"), ".flac": ("FLAC", "PCM_16"), ".wav": ("WAV", "PCM_16"),
           ".mp3": ("MP3", None), ".au": ("AU", "PCM_16")}
    fmt_name, subtype = fmt[path.suffix]
    sf.write(path, tone(freq, seconds, seed=seed), SR, format=fmt_name, subtype=subtype)
    return path


def make_tiny_checkpoint(path: Path, seed: int = 0, msd_head: bool | None = None) -> Path:
    """A random-weight tiny checkpoint with stored prompt embeddings. `msd_head` None: no
    vocabulary table (as checkpoints before tables); True: the MTT/MSD table with random
    `msd.weight`/`msd.bias` heads; False: the table without an MSD head (MSD zero-shot)."""
    from muser_model.core import vocab_groups
    from muser_model.torch_engine.checkpoint_export import save_checkpoint
    from muser_model.core.config import tiny_config
    from muser_model.torch_engine.inference import label_embeddings
    from muser_model.torch_engine.model import Muser
    from muser_model.torch_engine.runtime import LoadedModel
    from muser_train.training.trainer import make_checkpoint

    torch.manual_seed(seed)
    model = Muser(tiny_config())
    model.text_encoder.load_pretrained()
    model.eval()
    ckpt = make_checkpoint(model, {"corpus": "random weights (tests)"})
    if msd_head is not None:
        ckpt.vocabularies = vocab_groups.to_dict()
    ckpt.label_embeddings = label_embeddings(LoadedModel(model, ckpt, torch.device("cpu")))
    if msd_head:
        g = torch.Generator().manual_seed(seed + 1)
        n, e = len(vocab_groups.VOCABULARIES["msd"].tags), ckpt.config.embed_dim
        ckpt.heads = {"msd.weight": torch.randn(n, e, generator=g), "msd.bias": torch.randn(n, generator=g)}
    save_checkpoint(ckpt, path)
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.muser")


@pytest.fixture(scope="session")
def msd_checkpoint(tmp_path_factory) -> Path:
    """The tiny checkpoint with the MTT/MSD vocabulary table and a random MSD head."""
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-msd.muser", msd_head=True)


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint):
    from muser_model.torch_engine.runtime import load_model

    return load_model(tiny_checkpoint, "cpu")


@pytest.fixture
def clips(tmp_path) -> list[Path]:
    return [
        write_clip(tmp_path / "a low tone.wav", 110.0, 5.0, seed=1),
        write_clip(tmp_path / "b.ogg", 440.0, 3.5, seed=2),
        write_clip(tmp_path / "sub" / "c.flac", 880.0, 7.0, seed=3),
    ]


def write_scores(folder: Path, ids, seed: int = 0):
    """A random teacher ScoreTable (MTT-50 and MSD-50, float16) for `ids`, saved as the folder's
    ensemble_scores.npz."""
    from muser_train.teachers.score_manifest import ScoreTable, save_table

    rng = np.random.default_rng(seed)
    table = ScoreTable({i: {"mtt": rng.random(50).astype(np.float16),
                            "msd": rng.random(50).astype(np.float16)} for i in ids})
    save_table(table, folder / "ensemble_scores.npz", list(ids))
    return table


@pytest.fixture
def scored_corpus(tmp_path, monkeypatch) -> Path:
    """The small genre corpus of tests/training/test_train.py with teacher scores for every other clip."""
    import csv

    from tests.training.test_train import _corpus

    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    corpus = _corpus(tmp_path / "corpus")
    with open(corpus / "captions.csv", newline="") as f:
        paths = [r["path"] for r in csv.DictReader(f)]
    write_scores(corpus, paths[::2])
    return corpus


@pytest.fixture(autouse=True, scope="session")
def _no_user_config(tmp_path_factory):
    """Commands run by the tests read an empty config file, never the user's own defaults
    (~/.config/muser/config.toml), nor their MUSER_* environment."""
    import os

    empty = tmp_path_factory.mktemp("config") / "config.toml"
    empty.write_text("")
    saved = {k: os.environ.get(k) for k in ("MUSER_CONFIG", "MUSER_LIBRARY", "MUSER_DEVICE", "MUSER_WORKERS",
                                             "MUSER_PLAYLIST_BASE")}
    os.environ["MUSER_CONFIG"] = str(empty)
    for key in saved:
        if key != "MUSER_CONFIG":
            os.environ.pop(key, None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
