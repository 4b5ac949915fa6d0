import math

import pytest
import torch
import torch.nn.functional as F

from muser_model.torch_engine.loss import TriModalContrastiveLoss, symmetric_infonce


def _unit(b, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(b, d, generator=g), dim=-1)


def test_aligned_batch_gives_near_zero():
    x = torch.eye(8)  # orthogonal unit vectors: each row matches only itself
    assert symmetric_infonce(x, x, 100.0) < 1e-3


def test_uninformative_logits_give_log_batch():
    b = 16
    same = torch.ones(b, 4) / 2  # every pair has the same cosine
    assert symmetric_infonce(same, same, 10.0) == pytest.approx(math.log(b), rel=1e-5)


def test_shuffled_batch_is_about_log_batch():
    b = 32
    a = _unit(b, 512)
    loss = symmetric_infonce(a, a[torch.randperm(b, generator=torch.Generator().manual_seed(1))], 1.0)
    assert abs(float(loss) - math.log(b)) < 0.15


def test_hand_computed_two_by_two():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    logits = 2.0 * a @ b.t()  # [[2, 1.2], [0, 1.6]]
    row = 0.5 * (-math.log(math.exp(2) / (math.exp(2) + math.exp(1.2)))
                 - math.log(math.exp(1.6) / (math.exp(0) + math.exp(1.6))))
    col = 0.5 * (-math.log(math.exp(2) / (math.exp(2) + math.exp(0)))
                 - math.log(math.exp(1.6) / (math.exp(1.2) + math.exp(1.6))))
    assert float(symmetric_infonce(a, b, 2.0)) == pytest.approx(0.5 * (row + col), rel=1e-6)
    assert torch.allclose(logits, torch.tensor([[2.0, 1.2], [0.0, 1.6]]))


def test_trimodal_averages_three_pairs():
    w, s, t = _unit(8, 16, 1), _unit(8, 16, 2), _unit(8, 16, 3)
    scales = {k: torch.tensor(5.0) for k in ("wave_spec", "wave_text", "spec_text")}
    total, terms = TriModalContrastiveLoss()(w, s, t, scales)
    expected = (symmetric_infonce(w, s, 5.0) + symmetric_infonce(w, t, 5.0) + symmetric_infonce(s, t, 5.0)) / 3
    assert float(total) == pytest.approx(float(expected), rel=1e-6)
    assert set(terms) == {"wave_spec", "wave_text", "spec_text"}
