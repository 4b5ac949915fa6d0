"""Tri-modal contrastive loss: symmetric InfoNCE for each modality pair, the six terms averaged.

Clips that share a caption in one batch need no special casing: their text rows are identical,
so their logits tie and the one-hot targets give the same loss and gradients as shared targets.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def symmetric_infonce(a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """Mean of the a->b and b->a cross-entropies of scaled cosine logits; row i matches column i."""
    logits = scale * a @ b.t()  # (B, B)
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


class TriModalContrastiveLoss(nn.Module):
    """Average over the pairs waveform-spectrogram, waveform-text, spectrogram-text."""

    def forward(self, wave: torch.Tensor, spec: torch.Tensor, text: torch.Tensor,
                scales: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        terms = {
            "wave_spec": symmetric_infonce(wave, spec, scales["wave_spec"]),
            "wave_text": symmetric_infonce(wave, text, scales["wave_text"]),
            "spec_text": symmetric_infonce(spec, text, scales["spec_text"]),
        }
        total = torch.stack(list(terms.values())).mean()
        return total, {k: float(v.detach()) for k, v in terms.items()}
