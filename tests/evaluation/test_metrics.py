"""Tagging metrics against scikit-learn on known arrays."""
import numpy as np
import pytest

from muser_train.evaluation.metrics import average_precision, macro_pr_auc, macro_roc_auc, roc_auc

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def _data(seed, n=200, labels=12, ties=False):
    rng = np.random.default_rng(seed)
    truth = (rng.random((n, labels)) < rng.uniform(0.05, 0.5, labels)).astype(int)
    scores = truth * rng.uniform(0, 1.5, (n, labels)) + rng.random((n, labels))
    if ties:
        scores = np.round(scores, 1)
    truth[:, 0] = 0  # a label with no positive is left out of the macro average
    return truth, scores


@pytest.mark.parametrize("seed,ties", [(0, False), (1, True), (2, True)])
def test_macro_metrics_match_sklearn(seed, ties):
    truth, scores = _data(seed, ties=ties)
    keep = truth.sum(0) > 0
    assert macro_roc_auc(truth, scores) == pytest.approx(
        sklearn_metrics.roc_auc_score(truth[:, keep], scores[:, keep], average="macro"), abs=1e-9)
    assert macro_pr_auc(truth, scores) == pytest.approx(
        sklearn_metrics.average_precision_score(truth[:, keep], scores[:, keep], average="macro"), abs=1e-9)


def test_hand_computed_values():
    positives = np.array([True, False, True, False])
    scores = np.array([0.9, 0.8, 0.3, 0.1])
    assert roc_auc(positives, scores) == pytest.approx(0.75)  # 3 of 4 pairs ranked right
    assert average_precision(positives, scores) == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert roc_auc(positives, np.ones(4)) == pytest.approx(0.5)
