"""Corpus v3: tracker modules decode through ffmpeg; a module that does not decode is named."""
import shutil
import struct
import subprocess

import numpy as np
import pytest

from muser_model.core.errors import AudioError
from muser_train.corpus import excerpts


def has_openmpt() -> bool:
    if shutil.which("ffmpeg") is None:
        return False
    r = subprocess.run(["ffmpeg", "-hide_banner", "-demuxers"], capture_output=True, text=True)
    return "libopenmpt" in r.stdout


needs_openmpt = pytest.mark.skipif(not has_openmpt(), reason="ffmpeg without libopenmpt")


def tiny_mod(path, n=2000):
    """A 4-channel ProTracker module: one looped square-wave sample, one 64-row pattern."""
    head = b"tiny".ljust(20, b"\0")
    sample = struct.pack(">22sHBBHH", b"square", n // 2, 0, 64, 0, n // 2)
    empty = struct.pack(">22sHBBHH", b"", 0, 0, 0, 0, 1)
    pattern = bytearray(64 * 4 * 4)
    for row in range(0, 64, 8):
        period = (428, 381, 339, 320)[(row // 8) % 4]
        pattern[row * 16: row * 16 + 4] = bytes([period >> 8, period & 0xFF, 1 << 4, 0])
    wave = (np.sign(np.sin(np.arange(n) * 2 * np.pi / 32)) * 100).astype(np.int8).tobytes()
    path.write_bytes(head + sample + empty * 30 + bytes([1, 127]) + bytes(128) + b"M.K."
                     + bytes(pattern) + wave)
    return path


@needs_openmpt
def test_mod_decodes_to_audible_mono(tmp_path):
    y = excerpts.decode_mix([tiny_mod(tmp_path / "tune.mod")])
    assert y.dtype == np.float32 and y.ndim == 1
    assert 6.0 < len(y) / excerpts.SR < 10.0      # 64 rows at speed 6, 125 bpm: 7.7 s
    assert np.abs(y).max() > 0.05


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="no ffmpeg")
def test_broken_module_is_named(tmp_path):
    bad = tmp_path / "broken.xm"
    bad.write_bytes(b"Extended Module: " + bytes(40))
    with pytest.raises(AudioError, match="broken.xm"):
        excerpts.decode_mix([bad])


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="no ffmpeg")
def test_broken_module_is_an_error_row_not_a_crash(tmp_path):
    bad = tmp_path / "broken.it"
    bad.write_bytes(b"IMPM" + bytes(10))
    res = excerpts.excerpt_job({"out": str(tmp_path), "paths": [str(bad)], "package": "p",
                                "name": "broken", "key": "p:broken.it", "trim_loop": True})
    assert "broken.it" in res["error"] and res["excerpts"] == []
