"""Cutting a decoded track into the corpus's excerpts: one worker (`excerpt_job`) for games,
realmusic and renders.

A job decodes its file(s) through `muser_model.core.audio` (libsndfile, or its ffmpeg fallback,
which also plays tracker modules .mod/.xm/.it/.s3m when ffmpeg has libopenmpt), mixes stems,
optionally cuts a looping file to one pass, hashes the audio, and writes one 12 s FLAC per
EXCERPT_EVERY_S seconds (at most MAX_EXCERPTS, EDGE_S from either end), skipping silent ones.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from muser_train.corpus import mood
from muser_train.corpus.common import CLIP_S, SR

EXCERPT_EVERY_S = 20.0   # one excerpt per this many seconds of track
MAX_EXCERPTS = 16
EDGE_S = 2.0             # keep away from the very start and end
SILENT_RMS_DB = -45.0
MIX_PEAK = 0.999         # mixed stems are scaled down to this peak
LOOP_PROBE_S = 10.0
LOOP_MIN_S = 30.0
LOOP_MIN_CORR = 0.9
FRAME_HOP_S = 0.1


def excerpt_offsets(dur: float) -> list[float]:
    """Start times (s) of the excerpts of a track of `dur` seconds, evenly spread."""
    usable = dur - 2 * EDGE_S - CLIP_S
    if usable < 0:
        return [max(0.0, (dur - CLIP_S) / 2)] if dur >= CLIP_S else []
    n = int(min(MAX_EXCERPTS, max(1, round((dur - 2 * EDGE_S) / EXCERPT_EVERY_S))))
    if n == 1:
        return [round(EDGE_S + usable / 2, 2)]
    return [round(EDGE_S + usable * i / (n - 1), 2) for i in range(n)]


def decode_mix(paths: list[str], limit_peak: bool = False) -> np.ndarray:
    """Mono float32 at SR: the files summed (stems of one song), scaled down to MIX_PEAK when
    `limit_peak` and louder. Raises muser's AudioError naming a file that does not decode."""
    from muser_model.core import audio

    waves = [audio.load_audio(p, SR) for p in paths]
    n = max(len(w) for w in waves)
    y = np.zeros(n, np.float32)
    for w in waves:
        y[: len(w)] += w
    peak = float(np.max(np.abs(y))) if n else 0.0
    if limit_peak and peak > MIX_PEAK:
        y *= MIX_PEAK / peak
    return y


def spectral_frames(y: np.ndarray, sr: int = SR, hop_s: float = FRAME_HOP_S,
                    bands: int = 48) -> np.ndarray:
    """Log band energies of non-overlapping frames. (F, bands)"""
    hop = int(hop_s * sr)
    n = len(y) // hop
    if n == 0:
        return np.zeros((0, bands), np.float32)
    frames = y[: n * hop].reshape(n, hop) * np.hanning(hop).astype(np.float32)  # (F, hop)
    mag = np.abs(np.fft.rfft(frames, axis=1))                                   # (F, hop/2+1)
    edges = np.unique(np.geomspace(2, mag.shape[1] - 1, bands + 1).astype(int))
    energy = np.add.reduceat(mag ** 2, edges[:-1], axis=1)                       # (F, <=bands)
    return np.log10(energy + 1e-9).astype(np.float32)


def loop_length_s(y: np.ndarray, sr: int = SR, probe_s: float = LOOP_PROBE_S,
                  min_s: float = LOOP_MIN_S, min_corr: float = LOOP_MIN_CORR) -> float | None:
    """Seconds after which the opening `probe_s` seconds of Y come back (the loop length), or
    None. A comeback is a correlation of the log-spectral frames >= min_corr, at least min_s
    in, of the opening and then of everything after it with the track one period earlier;
    the first such place wins. Planet Blupi's Vorbis loops correlate 0.90-0.96; a
    through-composed track stays below 0.8; a tune that repeats its opening and then goes on
    (UFO:AI battle music) fails the second test."""
    feats = spectral_frames(y, sr)                                 # (F, B)
    m = int(round(probe_s / FRAME_HOP_S))
    start = int(round(min_s / FRAME_HOP_S))
    if len(feats) < start + m:
        return None
    probe = feats[:m].ravel()
    probe = (probe - probe.mean()) / (probe.std() + 1e-9)
    windows = np.lib.stride_tricks.sliding_window_view(feats, m, axis=0)  # (F-m+1, B, m)
    windows = windows[start:].transpose(0, 2, 1).reshape(-1, m * feats.shape[1])
    mu = windows.mean(axis=1, keepdims=True)
    sd = windows.std(axis=1, keepdims=True) + 1e-9
    corr = ((windows - mu) / sd) @ probe / probe.size              # (W,)
    for hit in np.flatnonzero(corr >= min_corr):
        lag = start + int(hit)
        if _continues(feats, lag, m, min_corr):
            return lag * FRAME_HOP_S
    return None


def _continues(feats: np.ndarray, lag: int, m: int, min_corr: float) -> bool:
    """True when everything from `lag` on repeats the track `lag` earlier, to its end: the
    file is passes of one loop, not a tune that repeats its opening and goes on elsewhere."""
    n = len(feats) - lag
    if n <= m:
        return True
    a, b = feats[:n].ravel(), feats[lag: lag + n].ravel()
    return float(np.corrcoef(a, b)[0, 1]) >= min_corr


def audio_hash(y: np.ndarray) -> str:
    """Content hash of decoded audio (16-bit PCM), the same for the same tune in two files."""
    return hashlib.sha1(np.clip(y * 32767, -32768, 32767).astype(np.int16).tobytes()).hexdigest()


def excerpt_job(job: dict) -> dict:
    """Decode, (loop-cut,) hash, cut, analyse and write one job's excerpts (runs in a worker).

    job: out, key, package, name, paths; optional trim_loop (cut a looping file to one pass) and
    limit_peak (see decode_mix). Result: key, excerpts [{path, offset_s, features}], skipped,
    error ("" or why nothing was cut), decoded_s, kept_s, loop_s, hash."""
    import soundfile as sf

    out = Path(job["out"])
    res = {"key": job["key"], "excerpts": [], "skipped": [], "error": "", "loop_s": None}
    try:
        y = decode_mix(job["paths"], job.get("limit_peak", False))
    except Exception as e:  # noqa: BLE001 - one bad file never stops the corpus
        res["error"] = str(e)[:300]
        return res
    res["decoded_s"] = round(len(y) / SR, 2)
    loop = loop_length_s(y) if job.get("trim_loop") else None
    if loop is not None:
        y = y[: int(loop * SR)]
        res["loop_s"] = loop
    res["kept_s"] = round(len(y) / SR, 2)
    res["hash"] = audio_hash(y)
    n = int(CLIP_S * SR)
    for k, off in enumerate(excerpt_offsets(len(y) / SR)):
        seg = y[int(off * SR): int(off * SR) + n]
        if len(seg) < n:
            continue
        f = mood.analyse(seg, SR)
        if f.rms_db < SILENT_RMS_DB or f.silent_fraction > 0.5:
            res["skipped"].append({"offset_s": off, "reason": f"silent ({f.rms_db:.1f} dBFS)"})
            continue
        rel = Path("audio") / job["package"] / f"{job['name']}_{k:02d}.flac"
        dst = out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.tmp.flac")
        sf.write(tmp, seg, SR, subtype="PCM_16", format="FLAC")
        os.replace(tmp, dst)
        res["excerpts"].append({"path": rel.as_posix(), "offset_s": off, "features": f.as_dict()})
    return res
