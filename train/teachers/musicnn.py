"""The musicnn architecture (Pons & Serra 2019) in torch: MTT_musicnn and MSD_musicnn.

Both checkpoints of the `musicnn` PyPI wheel have exactly this graph and these variables (trained
on MagnaTagATune and on the Million Song Dataset); `python -m muser_train.teachers.convert` turns them
into train/teacher/{mtt,msd}_musicnn.npz, `muser_train.teachers.registry.load_teacher` loads them.

Input: 3 s patches (187 frames) of a 96-band log-compressed mel spectrogram of 16 kHz audio
(`muser_train.teachers.features`). Network, eval mode, shapes for one patch of T=187 frames:

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

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3  # the converter stores the epsilons read off the graph (all 1e-3)


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


class Musicnn(nn.Module):
    """MTT_musicnn / MSD_musicnn. forward: (N, 187, 96) log-mel patches -> (N, 50) sigmoid scores,
    in the checkpoint's label order (`muser_train.teachers.registry`).
    Works for any patch length >= 1 frame (the model pools over time), but it was trained on 187.
    """

    TIMBRAL_WIDTHS = (38, 67)          # int(0.4 * 96), int(0.7 * 96)
    TEMPORAL_LENGTHS = (128, 64, 32)

    def __init__(self, n_classes: int = 50):
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
