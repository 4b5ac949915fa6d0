"""The audio side of MUSER in numpy: tagging without importing torch.

`muser tag` on a few files spends most of its time importing torch (1.3-2 s on a 2-core
machine). A format-2 checkpoint carries a numpy section (`muser_model.checkpoint`) with the
audio towers in eval mode, BatchNorm folded into the preceding convolutions, and everything
scoring needs; this module runs it. It mirrors `muser_model.model`/`inference` exactly (same
windows, same maths in float32; checked against the torch model to 1e-4 in the tests):

- waveform tower: Gabor conv (stride 160) -> |.|^2 -> log -> affine (folded BN) -> residual
  1-D blocks (conv3+BN, ReLU, conv3+BN, + skip, ReLU, max-pool 2) -> mean+max over time -> MLP
- spectrogram tower: STFT (reflect-padded, periodic Hann) -> mel -> log -> affine -> residual
  3x3 blocks (2x2 max-pool, ceil mode) -> max over frequency -> mean+max over time -> MLP
- embeddings L2-normalised, fused as normalise(wave + spec), a track is normalise(mean of windows)

Convolutions are im2col + one BLAS matmul each, channels-last, float32.
Nothing here imports torch; `export_arrays` (used when saving a checkpoint) only calls methods
of the tensors it is given.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from muser_model.config import ModelConfig
from muser_model.errors import AudioError
from muser_model.vocab import genre_text

_BN_PARTS = ("weight", "bias", "running_mean", "running_var")
_TEXT_HEAD = ("text_proj.0.weight", "text_proj.0.bias", "text_proj.3.weight", "text_proj.3.bias")


# -- export (save time, from a torch checkpoint) -------------------------------------------
def export_arrays(ckpt) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(meta, arrays) for a checkpoint's numpy section: eval-mode audio towers with BatchNorm
    folded, projections, heads, prompt embeddings, mel filters, text head (frozen tower only)."""
    from muser_model.features import LogMel  # torch is loaded anyway when saving

    cfg: ModelConfig = ckpt.config
    sd = {k: v.detach().cpu().double().numpy() for k, v in ckpt.state_dict.items()
          if not k.startswith("text_encoder.")}
    out: dict[str, np.ndarray] = {}

    def bn(prefix: str) -> tuple[np.ndarray, np.ndarray]:
        g, b, mean, var = (sd[f"{prefix}.{p}"] for p in _BN_PARTS)
        scale = g / np.sqrt(var + 1e-5)  # nn.BatchNorm default eps
        return scale, b - mean * scale

    def conv_bn(conv: str, norm: str, name: str) -> None:
        scale, shift = bn(norm)
        w = sd[f"{conv}.weight"]
        out[f"{name}.weight"] = w * scale.reshape(-1, *([1] * (w.ndim - 1)))
        out[f"{name}.bias"] = shift

    def blocks(tower: str, n: int) -> None:
        for i in range(n):
            p = f"{tower}.blocks.{i}"
            conv_bn(f"{p}.conv1", f"{p}.bn1", f"{p}.conv1")
            conv_bn(f"{p}.conv2", f"{p}.bn2", f"{p}.conv2")
            if f"{p}.skip.weight" in sd:
                out[f"{p}.skip.weight"] = sd[f"{p}.skip.weight"]

    out["wave.front.weight"] = sd["wave_encoder.front.conv.weight"]
    out["wave.front.scale"], out["wave.front.shift"] = bn("wave_encoder.front.norm")
    blocks("wave_encoder", len(cfg.waveform.channels))
    logmel = LogMel(cfg.audio)
    out["spec.filters"] = logmel.filters.double().numpy()
    out["spec.window"] = logmel.window.double().numpy()
    out["spec.input.scale"], out["spec.input.shift"] = bn("spec_encoder.input_norm")
    blocks("spec_encoder", len(cfg.spectrogram.channels))
    for proj in ("wave_proj", "spec_proj"):
        for i in (0, 3):
            for part in ("weight", "bias"):
                out[f"{proj}.{i}.{part}"] = sd[f"{proj}.{i}.{part}"]
    if cfg.text.trainable_layers == 0:  # the numpy MiniLM reproduces a frozen tower only
        out.update({k: sd[k] for k in _TEXT_HEAD})
    for name, value in ckpt.heads.items():
        out[f"heads.{name}"] = value.detach().cpu().double().numpy()
    for name, value in ckpt.label_embeddings.items():
        out[f"label_embeddings.{name}"] = value.detach().cpu().double().numpy()
    arrays = {k: v.astype(np.float32) for k, v in out.items()}
    # the zero-shot logit scale exactly as inference.Scorer computes it (float32 maths in torch)
    log_scales = ckpt.state_dict["log_scales"].detach().cpu().float()
    scales = log_scales.exp().clamp(1.0, cfg.logit_scale_max)
    meta = {
        "config": cfg.to_dict(),
        "tags": list(ckpt.tags),
        "genres": list(ckpt.genres),
        "templates": dict(ckpt.templates),
        "text_tower": dict(ckpt.text_tower),
        "muser_version": ckpt.muser_version,
        "zero_shot_scale": float((scales[1] + scales[2]) / 2),  # PAIRS: wave_text, spec_text
    }
    return meta, arrays


# -- BLAS threads ----------------------------------------------------------------------------
_BLAS_FUNCS: tuple | None = None


def _openblas_funcs() -> tuple:
    """(get, set) thread-count functions of the OpenBLAS numpy is linked to, or (None, None).

    Found by symbol in the wheel's bundled library (numpy.libs/ or numpy/.dylibs/); no-op when
    numpy uses another BLAS or a system one that cannot be found this way."""
    global _BLAS_FUNCS
    if _BLAS_FUNCS is None:
        _BLAS_FUNCS = (None, None)
        try:
            import ctypes
            import glob

            root = os.path.dirname(os.path.dirname(np.__file__))
            libs = glob.glob(os.path.join(root, "numpy.libs", "*openblas*")) + \
                glob.glob(os.path.join(os.path.dirname(np.__file__), ".dylibs", "*openblas*"))
            for lib in libs:
                handle = ctypes.CDLL(lib)
                for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""),
                                       ("openblas", "64_"), ("openblas", "")):
                    get = getattr(handle, f"{prefix}_get_num_threads{suffix}", None)
                    put = getattr(handle, f"{prefix}_set_num_threads{suffix}", None)
                    if get is not None and put is not None:
                        _BLAS_FUNCS = (get, put)
                        return _BLAS_FUNCS
        except OSError:
            pass
    return _BLAS_FUNCS


@contextlib.contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Run the block with `n` OpenBLAS threads (None: leave as is), then restore.

    The numpy engine runs single-threaded by default: its matmuls are a few ms each, and
    OpenBLAS's spinning worker threads cost seconds when other processes load the CPU (measured
    5x slower on a busy 2-core machine, at most 1.5x faster on an idle one). An explicit
    OPENBLAS_NUM_THREADS or OMP_NUM_THREADS in the environment wins.
    """
    get, put = _openblas_funcs() if n is not None else (None, None)
    if get is None or any(v in os.environ for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")):
        yield
        return
    before = get()
    put(n)
    try:
        yield
    finally:
        put(before)


# -- layers ----------------------------------------------------------------------------------
def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), as text_numpy._erf (not imported: it pulls
    in the text tower's modules)."""
    sign, a = np.sign(x), np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return (0.5 * x * (1.0 + _erf(x * np.float32(1 / np.sqrt(2.0))))).astype(np.float32, copy=False)


def _normalize(x: np.ndarray) -> np.ndarray:
    """F.normalize(x, dim=-1)."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


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
        self.tags, self.genres = list(meta["tags"]), list(meta["genres"])
        self.templates = dict(meta["templates"])
        self.scale = float(meta["zero_shot_scale"])
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
        self.label_embeddings = {k.split(".", 1)[1]: v for k, v in a.items() if k.startswith("label_embeddings.")}
        self.heads = {k.split(".", 1)[1]: v for k, v in a.items() if k.startswith("heads.")}
        self._text = None
        self.blas_threads: int | None = 1  # see blas_threads(); None leaves OpenBLAS as it is

    @classmethod
    def load(cls, path: str | Path) -> "NumpyMuser":
        from muser_model.checkpoint import load_numpy_section

        meta, arrays, digest = load_numpy_section(path)
        return cls(meta, arrays, digest, Path(path))

    # -- towers --------------------------------------------------------------------------------
    def _project(self, name: str, x: np.ndarray) -> np.ndarray:
        (w0, b0), (w3, b3) = self._proj[name]
        return _normalize(_gelu(x @ w0 + b0) @ w3 + b3)

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

        The FFT runs in float64 one window at a time: numpy's float32 rfft is 2-3x slower than
        its float64 one, and one window's float64 frames (1.3 MB) stay in cache (2.7 -> 1.3 ms
        per 5 s window on a 2-core AVX2 machine; the same to 5e-7)."""
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
            raise ValueError("this checkpoint fine-tuned its text tower; the numpy path cannot embed text")
        if self._text is None:
            from muser_model.text_assets import check_identity
            from muser_model.text_numpy import NumpyMiniLM

            t = self.config.text
            check_identity(self.meta["text_tower"], t.package)
            self._text = NumpyMiniLM(t.layers, t.heads, t.max_tokens)
        return self._project("text_proj", self._text(texts).astype(np.float32))

    def label_prompts(self, labels: list[str], kind: str) -> list[str]:
        if kind == "genres":
            return [self.templates["genre_prompt"].format(label=genre_text(g)) for g in labels]
        return [self.templates["tag_prompt"].format(label=t) for t in labels]


# -- whole files -----------------------------------------------------------------------------
@dataclass
class NumpyTrackEmbedding:
    """inference.TrackEmbedding with numpy arrays."""

    path: Path
    wave: np.ndarray  # (W, E)
    spec: np.ndarray  # (W, E)
    window_s: float
    hop_s: float

    @property
    def windows(self) -> np.ndarray:
        return _normalize(self.wave + self.spec)

    def track(self, tower: str = "fused") -> np.ndarray:
        return track_embedding(self.wave, self.spec, tower)


def track_embedding(wave: np.ndarray, spec: np.ndarray, tower: str = "fused") -> np.ndarray:
    """(W, E) per-window tower embeddings -> (E,) track embedding, as inference.TrackEmbedding:
    the normalised mean over windows of one tower, or of the normalised sum of both ("fused")."""
    per_window = {"fused": _normalize(wave + spec), "wave": wave, "spec": spec}[tower]
    return _normalize(per_window.mean(0, dtype=np.float32))


def embed_files(model: NumpyMuser, paths: Iterable[str | Path], batch_size: int = 16,
                window_s: float | None = None, hop_s: float | None = None,
                max_windows: int | None = None) -> Iterator[NumpyTrackEmbedding | AudioError]:
    """inference.embed_files in numpy: the same windows, one file at a time, streamed in batches
    of `batch_size` (memory stays bounded for long files)."""
    cfg = model.config.audio
    window_s, hop_s = window_s or cfg.window_s, hop_s or cfg.hop_s
    for p in paths:
        with blas_threads(model.blas_threads):
            result = _embed_file(model, Path(p), batch_size, window_s, hop_s, max_windows)
        yield result


def _embed_file(model: NumpyMuser, path: Path, batch_size: int, window_s: float, hop_s: float,
                max_windows: int | None) -> NumpyTrackEmbedding | AudioError:
    from muser_model import audio

    waves, specs, batch = [], [], []

    def flush() -> None:
        w, s = model.embed(np.stack(batch))
        waves.append(w)
        specs.append(s)
        batch.clear()

    try:
        for window in audio.iter_windows(path, window_s, hop_s, model.config.audio.sample_rate,
                                         max_windows=max_windows):
            batch.append(window)
            if len(batch) >= batch_size:
                flush()
    except AudioError as exc:
        return exc
    if batch:
        flush()
    return NumpyTrackEmbedding(path, np.concatenate(waves), np.concatenate(specs), window_s, hop_s)


# -- scoring ---------------------------------------------------------------------------------
@dataclass
class LabelScore:
    """inference.LabelScore without torch (same fields, same JSON)."""

    label: str
    score: float
    kind: str  # "probability" or "cosine"
    method: str  # "head" or "zero-shot"


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def top_k(scores: np.ndarray, labels: list[str], k: int, kind: str, method: str) -> list[LabelScore]:
    idx = np.argsort(-scores, kind="stable")[: min(k, len(labels))]
    return [LabelScore(labels[i], round(float(scores[i]), 4), kind, method) for i in idx.tolist()]


class NumpyScorer:
    """inference.Scorer in numpy: trained heads, stored prompt embeddings, or numpy MiniLM."""

    def __init__(self, model: NumpyMuser) -> None:
        self.model = model
        self.tags, self.genres, self.scale = model.tags, model.genres, model.scale
        self._heads = model.heads

    def text_embeddings(self, labels: list[str], kind: str) -> np.ndarray:
        cached = self.model.label_embeddings.get(kind)
        if cached is not None and labels == (self.tags if kind == "tags" else self.genres):
            return cached
        return self.model.embed_texts(self.model.label_prompts(labels, kind))

    def has_head(self, kind: str) -> bool:
        return f"{kind}.weight" in self._heads

    def scores(self, emb: np.ndarray, kind: str, method: str = "auto") -> tuple[np.ndarray, str, str]:
        if method in ("auto", "head") and self.has_head(kind):
            logits = emb @ self._heads[f"{kind}.weight"].T + self._heads[f"{kind}.bias"]
            probs = 1.0 / (1.0 + np.exp(-logits)) if kind == "tags" else _softmax(logits)
            return probs.astype(np.float32), "probability", "head"
        labels = self.tags if kind == "tags" else self.genres
        cos = emb @ self.text_embeddings(labels, kind).T
        if kind == "genres":
            return _softmax(np.float32(self.scale) * cos), "probability", "zero-shot"
        return cos, "cosine", "zero-shot"

    def open_labels(self, emb: np.ndarray, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
        cos = emb @ self.text_embeddings(labels, "labels").T
        return _softmax(np.float32(self.scale) * cos), cos

    def needs_text_tower(self, labels: list[str]) -> bool:
        """True when scoring would embed text (open labels, or prompts not stored)."""
        return bool(labels) or any(k not in self.model.label_embeddings for k in ("tags", "genres"))
