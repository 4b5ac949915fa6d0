"""The VGG-like baseline of musicnn (its models.py `vgg`, 128 filters) in torch: MTT_vgg, MSD_vgg.

Input: (N, T=187, F=96) log-mel patches (`muser_train.teachers.features`). Eval mode, shapes for T=187:

  batch norm of the whole input (one channel)                              (N, 1, 187, 96)
  5 x [conv 3x3 "same" (128 filters) -> relu -> batch norm -> max pool]  (N, 128, 2, 1)
  flatten in TF's (time, mel, channel) order -> 256, dense 50, sigmoid.

The two checkpoints pool differently (read off each graph by the converter, stored in the .npz
as `_pools`), both ending at (2, 1); (time, mel) after each pool:
  MTT_vgg  4x1 stride 2x2 -> (92, 48); 2x2/2 -> (46, 24); (23, 12); (11, 6); 4x4/4 -> (2, 1)
           (the pools of the wheel's models.py)
  MSD_vgg  4x1 stride 4x1 -> (46, 96); 1x4/1x4 -> (46, 24); 2x2/2 -> (23, 12); (11, 6); 4x4/4

TF pools with "valid" padding (a trailing row or column that does not fill a window is
dropped), which is torch's default (ceil_mode False). Batch norm epsilon 1e-3, read off the graph.
The dense layer fixes the patch length: only T=187 (F=96) gives the 256 inputs it was trained on.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3
FILTERS = 128
Pool = tuple[tuple[int, int], tuple[int, int]]  # (kernel, stride), each as (time, mel)
# The pools of musicnn's models.py (and of MTT_vgg).
MODELS_PY_POOLS: tuple[Pool, ...] = (
    ((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4)),
)


class _VGGBlock(nn.Module):
    """conv 3x3 "same" -> relu -> batch norm -> max pool."""

    def __init__(self, in_ch: int, pool: Pool):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, FILTERS, 3, padding=1)
        self.bn = nn.BatchNorm2d(FILTERS, eps=BN_EPS)
        self.pool = nn.MaxPool2d(kernel_size=pool[0], stride=pool[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.bn(F.relu(self.conv(x))))


class MusicnnVGG(nn.Module):
    """MTT_vgg / MSD_vgg. forward: (N, 187, 96) log-mel patches -> (N, 50) sigmoid scores,
    in the checkpoint's label order (`muser_train.teachers.registry`)."""

    FLAT = FILTERS * 2 * 1  # (time 2, mel 1) left after the five pools of a 187 x 96 patch

    def __init__(self, pools: tuple[Pool, ...] = MODELS_PY_POOLS, n_classes: int = 50):
        super().__init__()
        self.pools = tuple(pools)
        self.bn_input = nn.BatchNorm2d(1, eps=BN_EPS)
        self.blocks = nn.ModuleList(_VGGBlock(1 if i == 0 else FILTERS, p)
                                    for i, p in enumerate(pools))
        self.out = nn.Linear(self.FLAT, n_classes)
        self.eval()

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        h = self.bn_input(x.unsqueeze(1))                  # (N, 1, T, F)
        for blk in self.blocks:
            h = blk(h)                                      # (N, 128, 2, 1) after the last
        flat = h.permute(0, 2, 3, 1).flatten(1)             # TF's NHWC flatten order: (N, 256)
        if flat.shape[1] != self.FLAT:
            raise ValueError(f"MusicnnVGG takes (N, 187, 96) patches, got {tuple(x.shape)}")
        return self.out(flat)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))


def pools_from_array(a) -> tuple[Pool, ...]:
    """The `_pools` entry of a converted .npz, (5, 4) ints: kernel (time, mel), stride (time, mel)."""
    return tuple(((int(r[0]), int(r[1])), (int(r[2]), int(r[3]))) for r in a)
