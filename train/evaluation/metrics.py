"""Multi-label ranking metrics, macro-averaged over labels that have both classes present
(the convention of sota-music-tagging-models and musicnn for MTT): ROC-AUC and PR-AUC
(average precision)."""
from __future__ import annotations

import numpy as np


def _columns(truth: np.ndarray, scores: np.ndarray):
    truth, scores = np.asarray(truth), np.asarray(scores, dtype=np.float64)
    for j in range(truth.shape[1]):
        positives = truth[:, j] == 1
        if 0 < positives.sum() < len(positives):
            yield positives, scores[:, j]


def roc_auc(positives: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve via ranks (Mann-Whitney U); ties get half credit."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(avg, counts)
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(positives: np.ndarray, scores: np.ndarray) -> float:
    """Mean of precision at each positive, thresholds taken at distinct scores (as sklearn)."""
    order = np.argsort(-scores, kind="mergesort")
    hits = positives[order].astype(np.float64)
    distinct = np.r_[np.diff(scores[order]) != 0, True]  # last index of each score group
    tp = np.cumsum(hits)[distinct]
    seen = (np.arange(len(scores)) + 1)[distinct]
    recall_steps = np.diff(np.r_[0.0, tp]) / hits.sum()
    return float(np.sum(recall_steps * tp / seen))


def macro_roc_auc(truth: np.ndarray, scores: np.ndarray) -> float:
    values = [roc_auc(p, s) for p, s in _columns(truth, scores)]
    return float(np.mean(values)) if values else float("nan")


def macro_pr_auc(truth: np.ndarray, scores: np.ndarray) -> float:
    values = [average_precision(p, s) for p, s in _columns(truth, scores)]
    return float(np.mean(values)) if values else float("nan")
