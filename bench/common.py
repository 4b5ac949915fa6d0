"""Helpers shared by the benchmarks: timing subprocesses, machine facts, synthetic audio."""
from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import time
from datetime import date
from pathlib import Path

import numpy as np
import soundfile as sf


def machine() -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    gpu = ""
    if shutil.which("nvidia-smi"):
        names = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                               capture_output=True, text=True).stdout.strip()
        gpu = f", GPU {names}" if names else ""
    return f"{os.cpu_count()} cores, {cpu}{gpu}, Python {platform.python_version()}, {date.today()}"


def time_command(cmd: list[str], runs: int, env: dict | None = None) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, **(env or {})})
        times.append(time.perf_counter() - started)
    return times


def summary(times: list[float]) -> str:
    return (f"median {statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}, "
            f"n={len(times)})")


def music_like(seconds: float, sr: int = 16_000, seed: int = 0) -> np.ndarray:
    """Chords with a beat and noise: decodes and embeds like music (content does not matter here)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    notes = rng.choice([110, 147, 165, 196, 220, 262, 330], size=3)
    wave = sum(np.sin(2 * np.pi * f * t) for f in notes) / 3
    beat = (np.sin(2 * np.pi * 2 * t) > 0.95) * rng.standard_normal(len(t)) * 0.5
    return (0.3 * wave + 0.2 * beat + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def write_mp3(path: Path, seconds: float, seed: int = 0, sr: int = 44_100) -> Path:
    sf.write(path, music_like(seconds, sr, seed), sr, format="MP3")
    return path
