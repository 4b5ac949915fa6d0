"""The input every musicnn tagger takes: 3 s patches of a 96-band log-mel of 16 kHz mono audio."""
from __future__ import annotations

import numpy as np

SR = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187  # librosa.time_to_frames(3 s, sr=16000, n_fft=512, hop=256) + 1
PATCH_HOP = 187     # musicnn's default: input_overlap=False -> patches do not overlap


def musicnn_logmel(wave_16k: np.ndarray) -> np.ndarray:
    """(frames, 96) float32 log-mel as musicnn computes it for 16 kHz mono audio.

    librosa power mel (n_fft 512, hop 256, hann, centred frames, slaney mel), rounded to float16
    as musicnn does, then log10(10000 * x + 1). Two deliberate choices:
    - centre padding is "reflect", librosa's default when musicnn was trained and released
      (librosa >= 0.10 defaults to zeros; it only changes the first and last frame);
    - the log is taken in float32: musicnn's extractor multiplies the float16 mel by 10000 in
      float16, which overflows to inf (and NaN scores) wherever the mel power exceeds 6.55,
      e.g. a sine louder than about -20 dBFS. Below that the two agree to float16 rounding.
    """
    import librosa
    y = np.asarray(wave_16k, dtype=np.float32).reshape(-1)
    if y.size == 0:
        return np.zeros((0, N_MELS), np.float32)
    pad = "reflect" if y.size > N_FFT // 2 else "constant"
    mel = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS,
                                         pad_mode=pad)    # (96, frames), power 2
    mel = mel.astype(np.float16).astype(np.float32)
    return np.log10(10000.0 * mel + 1.0).T.astype(np.float32, copy=False)


def patches(logmel: np.ndarray, n_frames: int = PATCH_FRAMES, hop: int = PATCH_HOP) -> np.ndarray:
    """(P, n_frames, 96) patches starting every `hop` frames; a trailing part shorter than a
    patch is dropped (as musicnn does). A clip shorter than one patch is repeat-padded to one
    patch (musicnn's training "repeat-pad"; its extractor would fail there)."""
    logmel = np.asarray(logmel, dtype=np.float32)
    if logmel.shape[0] == 0:
        return np.zeros((0, n_frames, logmel.shape[1] if logmel.ndim == 2 else N_MELS), np.float32)
    if logmel.shape[0] < n_frames:
        reps = -(-n_frames // logmel.shape[0])
        logmel = np.tile(logmel, (reps, 1))[:n_frames]
    starts = range(0, logmel.shape[0] - n_frames + 1, hop)
    return np.stack([logmel[s:s + n_frames] for s in starts]).astype(np.float32, copy=False)


def wave_patches(wave_16k: np.ndarray) -> np.ndarray:
    """(P, 187, 96) patches of a 16 kHz mono wave (P = 0 for empty audio)."""
    return patches(musicnn_logmel(wave_16k))
