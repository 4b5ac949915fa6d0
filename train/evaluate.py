"""Held-out metrics computed through the same inference path users get."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from muser_model.errors import AudioError
from muser_model.inference import Scorer, TrackEmbedding, embed_files
from muser_model.runtime import LoadedModel
from train.data import Clip
from train.metrics import macro_pr_auc, macro_roc_auc


def embed_clips(lm: LoadedModel, clips: Sequence[Clip], batch_size: int = 32,
                ) -> tuple[list[Clip], list[TrackEmbedding]]:
    kept, embs = [], []
    for clip, result in zip(clips, embed_files(lm, [c.path for c in clips], batch_size)):
        if not isinstance(result, AudioError):
            kept.append(clip)
            embs.append(result)
    return kept, embs


def genre_accuracy(lm: LoadedModel, clips: Sequence[Clip], embs: Sequence[TrackEmbedding],
                   ) -> dict[str, float | int]:
    """Zero-shot accuracy over the checkpoint's genres, per tower and fused; head accuracy too."""
    scorer = Scorer(lm)
    rows = [i for i, c in enumerate(clips) if c.genre in scorer.genres]
    if not rows:
        return {"clips": 0}
    truth = torch.tensor([scorer.genres.index(clips[i].genre) for i in rows])
    out: dict[str, float | int] = {"clips": len(rows)}
    genre_emb = scorer.text_embeddings(scorer.genres, "genres")
    for tower in ("fused", "wave", "spec"):
        audio = torch.stack([embs[i].track(tower) for i in rows])  # (N, E)
        pred = (audio @ genre_emb.t()).argmax(1)
        out[f"zero_shot_{tower}"] = round(float((pred == truth).float().mean()), 4)
        if tower == "fused":
            out["zero_shot_per_genre"] = _per_genre(pred, truth, scorer.genres)
    if scorer.has_head("genres"):
        audio = torch.stack([embs[i].track() for i in rows])
        pred = scorer.head_scores(audio, "genres").argmax(1)
        out["head_fused"] = round(float((pred == truth).float().mean()), 4)
        out["head_per_genre"] = _per_genre(pred, truth, scorer.genres)
    return out


def _per_genre(pred: torch.Tensor, truth: torch.Tensor, genres: list[str]) -> dict[str, str]:
    """genre -> "correct/total (most common wrong guess)" for genres present in `truth`."""
    report = {}
    for g in truth.unique().tolist():
        mask = truth == g
        wrong = pred[mask & (pred != truth)]
        confusion = f", mostly {genres[int(wrong.mode().values)]} when wrong" if len(wrong) else ""
        report[genres[g]] = f"{int((pred[mask] == g).sum())}/{int(mask.sum())}{confusion}"
    return report


def tag_metrics(lm: LoadedModel, clips: Sequence[Clip], embs: Sequence[TrackEmbedding],
                ) -> dict[str, float | int]:
    """Macro ROC-AUC / PR-AUC over the checkpoint's tags against the clips' own tags, zero-shot per
    tower and fused, and for the trained head."""
    scorer = Scorer(lm)
    truth = np.array([[t in c.tags for t in scorer.tags] for c in clips], dtype=int)  # (N, L)
    out: dict[str, float | int] = {"clips": len(clips), "labels_with_positives": int((truth.sum(0) > 0).sum())}
    prompts = scorer.text_embeddings(scorer.tags, "tags")
    for tower in ("fused", "wave", "spec"):
        scores = (torch.stack([e.track(tower) for e in embs]) @ prompts.t()).numpy()
        out[f"zero_shot_{tower}_roc_auc"] = round(macro_roc_auc(truth, scores), 4)
        out[f"zero_shot_{tower}_pr_auc"] = round(macro_pr_auc(truth, scores), 4)
    if scorer.has_head("tags"):
        scores = scorer.head_scores(torch.stack([e.track() for e in embs]), "tags").numpy()
        out["head_roc_auc"] = round(macro_roc_auc(truth, scores), 4)
        out["head_pr_auc"] = round(macro_pr_auc(truth, scores), 4)
    return out
