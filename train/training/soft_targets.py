"""Soft-label distillation losses for a multi-label tag head (teacher probabilities as targets).

  soft_bce(student_logits, teacher_probs)
      binary cross-entropy of sigmoid(student_logits) against the teacher's probabilities, mean
      over all elements (or a weighted mean): -[p log q + (1 - p) log(1 - q)], q = sigmoid(z).
  tempered_soft_bce(student_logits, teacher_probs, T)
      Hinton-style temperature: the teacher's probabilities go back to logits (clipped at
      PROB_EPS from 0 and 1), both sides' logits are divided by T, the targets become
      sigmoid(teacher_logit / T), the BCE is taken against sigmoid(student_logit / T) and
      multiplied by T^2 so gradients keep their scale as T changes. T = 1 is soft_bce on the
      clipped probabilities; T > 1 softens confident targets toward 0.5, so a teacher's ranking
      of weak tags (musicnn scores are low-calibrated) carries more of the loss.

Both are minimal (zero gradient) where the student's probability equals the target. Shapes: any
matching (..., L); `weight` broadcasts against them (0 drops an element, e.g. a clip with no
teacher scores).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

PROB_EPS = 1e-6


def _weighted_mean(loss: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    if weight is None:
        return loss.mean()
    w = torch.broadcast_to(weight.to(loss.dtype), loss.shape)
    return (loss * w).sum() / w.sum().clamp_min(torch.finfo(loss.dtype).tiny)


def _check(student_logits: torch.Tensor, teacher_probs: torch.Tensor) -> None:
    if student_logits.shape != teacher_probs.shape:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher probabilities "
                         f"{tuple(teacher_probs.shape)} differ in shape")


def soft_bce(student_logits: torch.Tensor, teacher_probs: torch.Tensor,
             weight: torch.Tensor | None = None) -> torch.Tensor:
    """Scalar BCE of the student's logits against soft targets in [0, 1]. (..., L), (..., L)."""
    _check(student_logits, teacher_probs)
    loss = F.binary_cross_entropy_with_logits(student_logits, teacher_probs.to(student_logits.dtype),
                                              reduction="none")
    return _weighted_mean(loss, weight)


def probs_to_logits(probs: torch.Tensor, eps: float = PROB_EPS) -> torch.Tensor:
    """log(p / (1 - p)) with p clipped to [eps, 1 - eps] (teachers' 0 and 1 stay finite)."""
    p = probs.clamp(eps, 1.0 - eps)
    return torch.log(p) - torch.log1p(-p)


def tempered_soft_bce(student_logits: torch.Tensor, teacher_probs: torch.Tensor,
                      temperature: float = 2.0, weight: torch.Tensor | None = None) -> torch.Tensor:
    """T^2 * BCE(sigmoid(student / T), sigmoid(logit(teacher) / T)). (..., L), (..., L)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    _check(student_logits, teacher_probs)
    targets = torch.sigmoid(probs_to_logits(teacher_probs.to(student_logits.dtype)) / temperature)
    return temperature ** 2 * soft_bce(student_logits / temperature, targets, weight)
