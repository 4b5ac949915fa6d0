"""muser_train.training.soft_targets: soft-label BCE and its temperature-scaled variant, checked by hand."""
from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from muser_train.training.soft_targets import probs_to_logits, soft_bce, tempered_soft_bce  # noqa: E402


def _bce(p: float, q: float) -> float:
    return -(p * math.log(q) + (1 - p) * math.log(1 - q))


def test_soft_bce_by_hand():
    z = torch.tensor([[0.0, math.log(3.0)]])   # sigmoid: 0.5, 0.75
    p = torch.tensor([[0.5, 0.25]])
    want = (math.log(2.0) + _bce(0.25, 0.75)) / 2  # (0.693147 + 1.111643) / 2
    assert soft_bce(z, p).item() == pytest.approx(want, abs=1e-6)
    assert soft_bce(z, p).item() == pytest.approx(0.902395, abs=1e-6)


def test_weight_drops_and_weighs_elements():
    z = torch.tensor([[0.0, math.log(3.0)], [5.0, -5.0]])
    p = torch.tensor([[0.5, 0.25], [0.0, 1.0]])
    only_first = soft_bce(z, p, weight=torch.tensor([[1.0], [0.0]]))
    assert only_first.item() == pytest.approx(soft_bce(z[:1], p[:1]).item(), abs=1e-7)
    second_col = soft_bce(z, p, weight=torch.tensor([0.0, 2.0]))
    assert second_col.item() == pytest.approx((_bce(0.25, 0.75) + 5.0067153) / 2, abs=1e-5)


def test_tempered_soft_bce_by_hand():
    # teacher 0.8 -> logit ln 4 -> / 2 = ln 2 -> target 2/3; student logit 2 -> / 2 = 1 -> 0.731059
    z, p = torch.tensor([2.0]), torch.tensor([0.8])
    want = 4 * _bce(2 / 3, 1 / (1 + math.exp(-1)))
    assert tempered_soft_bce(z, p, temperature=2.0).item() == pytest.approx(want, abs=1e-5)
    assert want == pytest.approx(2.586380, abs=1e-6)


def test_temperature_one_is_soft_bce_and_the_loss_is_minimal_at_the_teacher():
    p = torch.tensor([[0.05, 0.3, 0.9]])
    z = torch.tensor([[-1.0, 0.5, 3.0]])
    assert tempered_soft_bce(z, p, 1.0).item() == pytest.approx(soft_bce(z, p).item(), abs=1e-6)
    for t in (1.0, 3.0):
        student = probs_to_logits(p).clone().requires_grad_(True)
        tempered_soft_bce(student, p, t).backward()
        assert student.grad.abs().max().item() < 1e-6
        assert tempered_soft_bce(z, p, t) > tempered_soft_bce(probs_to_logits(p), p, t)


def test_hard_teacher_scores_stay_finite_and_bad_input_is_refused():
    z = torch.tensor([0.0, 0.0])
    assert math.isfinite(tempered_soft_bce(z, torch.tensor([0.0, 1.0]), 4.0).item())
    with pytest.raises(ValueError, match="temperature must be > 0"):
        tempered_soft_bce(z, torch.tensor([0.5, 0.5]), 0.0)
    with pytest.raises(ValueError, match=r"\(2,\) and teacher probabilities \(3,\)"):
        soft_bce(z, torch.tensor([0.5, 0.5, 0.5]))
