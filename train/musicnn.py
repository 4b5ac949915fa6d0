"""musicnn (MTT_musicnn, Pons & Serra 2019) re-implemented in torch: an MTT-50 pseudo-tag teacher.

The weights are the ones of the `musicnn` PyPI wheel (MagnaTagATune-trained `MTT_musicnn`
checkpoint), converted once with `python -m train.convert_musicnn` into
`train/teacher/mtt_musicnn.npz`; tensorflow is needed only for that conversion and for the parity
test, never here.

Input: 3 s patches (187 frames) of a 96-band log-compressed mel spectrogram of 16 kHz audio
(`musicnn_logmel`, `patches`). Network, eval mode, shapes for one patch of T=187 frames:

  front end  batch norm of the whole input (one channel), then
             timbral   conv 7x38 and 7x67 (time x mel, 204 filters each, time padded 3+3),
                       relu, batch norm, max over the mel axis         -> 2 x (204, T)
             temporal  conv 128x1, 64x1, 32x1 ("same" padding as TF does it: the odd pad goes
                       after), 51 filters each, relu, batch norm, max over mel -> 3 x (51, T)
             concat                                                    -> (561, T)
  mid end    three 1-d convs over time (kernel 7, 64 filters, pad 3+3), each relu then batch
             norm; the 2nd and 3rd add their input (residual); concat of the front-end output
             and the three mid-end outputs                              -> (753, T)
  back end   max and mean over time, interleaved per channel (max_0, mean_0, max_1, ...) -> 1506,
             batch norm, dense 200 + relu, batch norm, dense 50, sigmoid.

All batch norms use epsilon 1e-3 (read off the TF graph by the converter, stored in the .npz).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from muser_model.vocab import MTT_TAGS

SR = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187  # librosa.time_to_frames(3 s, sr=16000, n_fft=512, hop=256) + 1
PATCH_HOP = 187     # musicnn's default: input_overlap=False -> patches do not overlap
BN_EPS = 1e-3

# Output order of the checkpoint (musicnn/configuration.py MTT_LABELS).
MUSICNN_MTT_LABELS: tuple[str, ...] = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast",
    "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male",
    "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman",
    "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice",
    "new age", "dance", "male voice", "female vocal", "beats", "harp", "cello", "no voice",
    "weird", "country", "metal", "female voice", "choral",
)
# TO_MTT_TAGS[i] = index in the checkpoint's output of MTT_TAGS[i] (today the identity).
TO_MTT_TAGS: tuple[int, ...] = tuple(MUSICNN_MTT_LABELS.index(t) for t in MTT_TAGS)

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "teacher" / "mtt_musicnn.npz"


class _ConvBlock(nn.Module):
    """conv -> relu -> batch norm (musicnn applies the relu before the norm)."""

    def __init__(self, conv: nn.Module, bn: nn.Module):
        super().__init__()
        self.conv = conv
        self.bn = bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(F.relu(self.conv(x)))

    def max_over_last(self, x: torch.Tensor) -> torch.Tensor:
        """`forward(x).amax(-1)` with less memory traffic (eval mode): batch norm is a per-channel
        affine map and relu is monotonic, so the max of the normalised map is the normalised max
        (or min, where the scale is negative) of the raw convolution. (N, C, T, F) -> (N, C, T)"""
        if self.training:
            return self.forward(x).amax(-1)
        y = self.conv(x)
        bn = self.bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)  # (C,)
        shift = bn.bias - bn.running_mean * scale
        extreme = torch.where(scale[:, None] >= 0, y.amax(-1), y.amin(-1)).relu()  # (N, C, T)
        return extreme * scale[:, None] + shift[:, None]


def _block2d(kernel: tuple[int, int], out_ch: int) -> _ConvBlock:
    return _ConvBlock(nn.Conv2d(1, out_ch, kernel), nn.BatchNorm2d(out_ch, eps=BN_EPS))


def _block1d(in_ch: int, out_ch: int) -> _ConvBlock:
    return _ConvBlock(nn.Conv1d(in_ch, out_ch, 7), nn.BatchNorm1d(out_ch, eps=BN_EPS))


class MusicnnMTT(nn.Module):
    """MTT_musicnn. forward: (N, 187, 96) log-mel patches -> (N, 50) sigmoid scores.

    Outputs are in the checkpoint's order, which equals `MTT_TAGS` (see `TO_MTT_TAGS`).
    Works for any patch length >= 1 frame (the model pools over time), but it was trained on 187.
    """

    TIMBRAL_WIDTHS = (38, 67)          # int(0.4 * 96), int(0.7 * 96)
    TEMPORAL_LENGTHS = (128, 64, 32)

    def __init__(self, n_mels: int = N_MELS, n_classes: int = 50):
        super().__init__()
        self.bn_input = nn.BatchNorm2d(1, eps=BN_EPS)
        self.timbral = nn.ModuleList(_block2d((7, w), 204) for w in self.TIMBRAL_WIDTHS)
        self.temporal = nn.ModuleList(_block2d((k, 1), 51) for k in self.TEMPORAL_LENGTHS)
        front = 204 * len(self.TIMBRAL_WIDTHS) + 51 * len(self.TEMPORAL_LENGTHS)  # 561
        self.mid = nn.ModuleList([_block1d(front, 64), _block1d(64, 64), _block1d(64, 64)])
        pooled = 2 * (front + 3 * 64)  # 1506
        self.pool_bn = nn.BatchNorm1d(pooled, eps=BN_EPS)
        self.dense = nn.Linear(pooled, 200)
        self.dense_bn = nn.BatchNorm1d(200, eps=BN_EPS)
        self.out = nn.Linear(200, n_classes)
        self.eval()

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn_input(x.unsqueeze(1))                     # (N, 1, T, F)
        feats = []
        padded = F.pad(x, (0, 0, 3, 3))                       # time only
        for blk in self.timbral:
            feats.append(blk.max_over_last(padded))            # (N, 204, T)
        for blk, k in zip(self.temporal, self.TEMPORAL_LENGTHS):
            before = (k - 1) // 2                             # TF "SAME": extra pad at the end
            feats.append(blk.max_over_last(F.pad(x, (0, 0, before, k - 1 - before))))  # (N, 51, T)
        front = torch.cat(feats, dim=1)                       # (N, 561, T)

        h1 = self.mid[0](F.pad(front, (3, 3)))
        h2 = self.mid[1](F.pad(h1, (3, 3))) + h1
        h3 = self.mid[2](F.pad(h2, (3, 3))) + h2
        dense = torch.cat([front, h1, h2, h3], dim=1)         # (N, 753, T)

        pooled = torch.stack([dense.amax(dim=2), dense.mean(dim=2)], dim=2).flatten(1)
        h = self.dense_bn(F.relu(self.dense(self.pool_bn(pooled))))
        return self.out(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))


# ---------------------------------------------------------------- features

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


# ---------------------------------------------------------------- weights and inference

def load_teacher(path: str | Path = DEFAULT_WEIGHTS) -> MusicnnMTT:
    """MusicnnMTT in eval mode from a converted .npz (state_dict names; `_eps/<bn>` = epsilons)."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    model = MusicnnMTT()
    eps = {k[len("_eps/"):]: float(v) for k, v in arrays.items() if k.startswith("_eps/")}
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()
             if not k.startswith("_")}
    sd = model.state_dict()
    for k, v in sd.items():  # num_batches_tracked is not in the file
        if k.endswith("num_batches_tracked"):
            state.setdefault(k, v)
    missing = set(sd) - set(state)
    unexpected = set(state) - set(sd)
    if missing or unexpected:
        raise ValueError(f"{path}: missing {sorted(missing)}, unexpected {sorted(unexpected)}")
    for k, v in state.items():
        if tuple(v.shape) != tuple(sd[k].shape):
            raise ValueError(f"{path}: {k} has shape {tuple(v.shape)}, expected {tuple(sd[k].shape)}")
    model.load_state_dict({k: v.to(sd[k].dtype) for k, v in state.items()})
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and name in eps:
            m.eps = eps[name]
    return model.eval()


def to_mtt_order(scores: np.ndarray) -> np.ndarray:
    """Reorder the last axis from the checkpoint's label order to `MTT_TAGS` order."""
    return np.asarray(scores)[..., list(TO_MTT_TAGS)]


@torch.inference_mode()
def score_patches(model: MusicnnMTT, x: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """(P, 187, 96) patches -> (P, 50) float32 scores in the checkpoint's order."""
    model.eval()
    out = [model(torch.from_numpy(np.ascontiguousarray(x[i:i + batch_size], dtype=np.float32)))
           for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, 50), np.float32)


def tag_wave(model: MusicnnMTT, wave: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """(50,) mean patch score of a 16 kHz mono wave, in `MTT_TAGS` order."""
    p = patches(musicnn_logmel(wave))
    if len(p) == 0:
        raise ValueError("empty audio")
    return to_mtt_order(score_patches(model, p, batch_size).mean(axis=0)).astype(np.float32)


def top_tags(scores: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
    order = np.argsort(-np.asarray(scores))[:k]
    return [(MTT_TAGS[i], float(scores[i])) for i in order]
