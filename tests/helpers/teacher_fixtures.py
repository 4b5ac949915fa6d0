"""Generated 16 kHz audio and TF helpers shared by the teacher tests (no audio files in git)."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

SR = 16000


def sine(freq: float = 440.0, seconds: float = 6.0, amp: float = 0.05) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def noise(seconds: float = 6.0, amp: float = 0.1, seed: int = 0) -> np.ndarray:
    return (amp * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def chords(seconds: float = 6.0) -> np.ndarray:
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


def wheel_dir() -> Path | None:
    """The musicnn wheel (MUSER_MUSICNN_DIR or ~/.cache/muser/musicnn), or None."""
    for d in (os.environ.get("MUSER_MUSICNN_DIR"), Path.home() / ".cache" / "muser" / "musicnn"):
        if d and Path(d).is_dir() and (list(Path(d).glob("musicnn-*.whl"))
                                       or list(Path(d).rglob("musicnn/configuration.py"))):
            return Path(d)
    return None


def tf_python() -> str | None:
    """A python with tensorflow: MUSER_TF_PYTHON, else this one if it has it, else None."""
    if os.environ.get("MUSER_TF_PYTHON"):
        return os.environ["MUSER_TF_PYTHON"]
    if importlib.util.find_spec("tensorflow") is not None:
        return sys.executable
    return None
