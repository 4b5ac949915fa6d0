"""The level of decoded audio, measured block by block: is a file silent?

A file is silent when no decoded sample reaches SILENT_PEAK_DBFS. Digital silence peaks at
-inf dBFS, 16-bit dither near -90; quiet music is far above the threshold, since a peak is
never below the RMS level: a classical pianissimo at -50 dBFS RMS peaks at -47 dBFS or more.
"""
from __future__ import annotations

import math

import numpy as np

SILENT_PEAK_DBFS = -60.0  # a peak below this over the whole decoded audio: silent


class LevelMeter:
    """Peak level and length of audio fed to it in blocks (memory O(1))."""

    def __init__(self) -> None:
        self.peak = 0.0  # largest |sample|, full scale = 1.0
        self.samples = 0  # samples seen
        self.complete = False  # set by the reader when the file was read to its end

    def add(self, block: np.ndarray) -> None:
        self.samples += len(block)
        if len(block):
            self.peak = max(self.peak, float(np.abs(block).max()))

    @property
    def peak_dbfs(self) -> float:
        return 20.0 * math.log10(self.peak) if self.peak > 0 else -math.inf

    @property
    def silent(self) -> bool:
        return self.samples > 0 and self.peak_dbfs < SILENT_PEAK_DBFS

    def describe(self) -> str:
        """"peak -72 dBFS", or "peak -inf dBFS" for digital silence."""
        return f"peak {self.peak_dbfs:.0f} dBFS"
