"""Held-out metrics computed through the same inference path users get."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from muser_model.core.errors import AudioError
from muser_model.torch_engine.inference import Scorer, TrackEmbedding, embed_files
from muser_model.torch_engine.runtime import LoadedModel
from muser_train.training.datasets import Example
from muser_train.evaluation.metrics import macro_pr_auc, macro_roc_auc


def embed_clips(lm: LoadedModel, clips: Sequence[Example], batch_size: int = 32,
                ) -> tuple[list[Example], list[TrackEmbedding]]:
    kept, embs = [], []
    for clip, result in zip(clips, embed_files(lm, [c.path for c in clips], batch_size)):
        if not isinstance(result, AudioError):
            kept.append(clip)
            embs.append(result)
    return kept, embs


def genre_accuracy(lm: LoadedModel, clips: Sequence[Example], embs: Sequence[TrackEmbedding],
                   ) -> dict[str, float | int]:
    """Zero-shot accuracy over the checkpoint's genres, per tower and fused; head accuracy too."""
    scorer = Scorer(lm)
    rows = [i for i, c in enumerate(clips) if c.genre in scorer.genres]
    if not rows:
        return {"clips": 0}
    truth = torch.tensor([scorer.genres.index(clips[i].genre) for i in rows])
    out: dict = {"clips": len(rows), "genres": sorted({clips[i].genre for i in rows})}
    for tower in ("fused", "wave", "spec"):
        pred = _zero_shot_genres(scorer, [embs[i] for i in rows], tower)
        out[f"zero_shot_{tower}"] = round(float((pred == truth).float().mean()), 4)
        if tower == "fused":
            out["zero_shot_per_genre"] = _per_genre(pred, truth, scorer.genres)
    if scorer.has_head("genres"):
        pred = _head_genres(scorer, [embs[i] for i in rows])
        out["head_fused"] = round(float((pred == truth).float().mean()), 4)
        out["head_per_genre"] = _per_genre(pred, truth, scorer.genres)
    return out


def genre_by_group(lm: LoadedModel, clips: Sequence[Example], embs: Sequence[TrackEmbedding],
                   groups: Sequence[str]) -> dict[str, dict[str, str]]:
    """Genre accuracy per group of clips (e.g. the MMA groove each was rendered from), for clips
    with a group and one of the checkpoint's genres: group -> {"genre": its genre(s),
    "zero_shot": "k/n, mostly X when wrong", "head": the same for the head}. A genre lost on
    whole groups, not on scattered clips, says the model never learnt how those sound."""
    scorer = Scorer(lm)
    rows = [i for i, c in enumerate(clips) if c.genre in scorer.genres and groups[i]]
    if not rows:
        return {}
    truth = torch.tensor([scorer.genres.index(clips[i].genre) for i in rows])
    preds = {"zero_shot": _zero_shot_genres(scorer, [embs[i] for i in rows])}
    if scorer.has_head("genres"):
        preds["head"] = _head_genres(scorer, [embs[i] for i in rows])
    out: dict[str, dict[str, str]] = {}
    for group in sorted({groups[i] for i in rows}):
        mask = torch.tensor([groups[i] == group for i in rows])
        entry = {"genre": ", ".join(sorted({scorer.genres[int(g)] for g in truth[mask]}))}
        for method, pred in preds.items():
            entry[method] = _score_line(pred[mask], truth[mask], scorer.genres)
        out[group] = entry
    return out


def _zero_shot_genres(scorer: Scorer, embs: Sequence[TrackEmbedding], tower: str = "fused") -> torch.Tensor:
    """(N,) index of the genre prompt nearest each track embedding."""
    audio = torch.stack([e.track(tower) for e in embs])  # (N, E)
    return (audio @ scorer.text_embeddings(scorer.genres, "genres").t()).argmax(1)


def _head_genres(scorer: Scorer, embs: Sequence[TrackEmbedding]) -> torch.Tensor:
    """(N,) index of the genre head's most probable genre."""
    return scorer.head_scores(torch.stack([e.track() for e in embs]), "genres").argmax(1)


def _per_genre(pred: torch.Tensor, truth: torch.Tensor, genres: list[str]) -> dict[str, str]:
    """genre -> "correct/total (most common wrong guess)" for genres present in `truth`."""
    return {genres[g]: _score_line(pred[truth == g], truth[truth == g], genres) for g in truth.unique().tolist()}


def _score_line(pred: torch.Tensor, truth: torch.Tensor, genres: list[str]) -> str:
    """"correct/total", with ", mostly X when wrong" naming the most common wrong guess."""
    wrong = pred[pred != truth]
    confusion = f", mostly {genres[int(wrong.mode().values)]} when wrong" if len(wrong) else ""
    return f"{int((pred == truth).sum())}/{len(truth)}{confusion}"


def tag_metrics(lm: LoadedModel, clips: Sequence[Example], embs: Sequence[TrackEmbedding],
                truth_tags: Sequence[Sequence[str]] | None = None) -> dict[str, float | int]:
    """Macro ROC-AUC / PR-AUC over the checkpoint's tags against the clips' own tags (or
    `truth_tags`, one list per clip), zero-shot per tower and fused, and for the trained head."""
    scorer = Scorer(lm)
    truth_tags = truth_tags if truth_tags is not None else [c.tags for c in clips]
    truth = np.array([[t in tags for t in scorer.tags] for tags in truth_tags], dtype=int)  # (N, L)
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


# -- the paper's protocol on the real datasets (`muser eval`) ----------------------------------
PAPER = {  # MUSER poster, Table 2 (PT+FT); ../shared/README.md
    "mtt": {"roc_auc": 0.895, "pr_auc": 0.430, "split": "sota: 15,244 / 1,529 / 4,332"},
    "gtzan": {"accuracy": 0.825, "split": "fault-filtered: 443 / 197 / 290"},
}
GENRE_DATASETS = ("gtzan", "fma_small")


def evaluate_dataset(lm: LoadedModel, name: str, data_dir, split: str = "test", batch_size: int = 32,
                     limit: int = 0, reader_options: dict | None = None, probe: bool = False) -> dict:
    """Zero-shot evaluation (and the checkpoint's heads where they apply) on one split.

    Genre datasets: accuracy and confusion matrix over the dataset's own genres, prompted with
    "The song belongs to {genre}". MTT: macro ROC-AUC / PR-AUC over the top-50 tags.
    `probe`: also a linear probe fitted on the train split's frozen embeddings (`probe` key).
    """
    from muser_train.training.datasets import load_dataset

    report = load_dataset(name, data_dir, **(reader_options or {}))
    examples = [e for e in report.examples if e.split == split][: limit or None]
    kept, embs = embed_clips(lm, examples, batch_size)
    result = {"dataset": name, "split": split, "clips": len(examples), "evaluated": len(kept),
              "skipped_undecodable": len(examples) - len(kept), "missing_files": len(report.missing)}
    if report.notes:
        result["notes"] = list(report.notes)
    if not kept:
        return result
    metrics = genre_metrics(lm, kept, embs) if name in GENRE_DATASETS else tag_metrics(lm, kept, embs)
    result.update(metrics)
    if probe:
        train = [e for e in report.examples if e.split == "train"][: limit or None]
        result["probe"] = linear_probe(lm, train, kept, embs, name in GENRE_DATASETS, batch_size)
    if name in PAPER:
        result["paper"] = PAPER[name]
    return result


def genre_metrics(lm: LoadedModel, clips: Sequence[Example], embs: Sequence[TrackEmbedding]) -> dict:
    """Zero-shot accuracy and confusion over the clips' own genres (and the genre head's accuracy
    where the checkpoint has one covering them)."""
    from muser_model.torch_engine.inference import label_prompts

    genres = sorted({c.genre for c in clips})
    truth = np.array([genres.index(c.genre) for c in clips])
    prompts = lm.embed_texts(label_prompts(lm, genres, "genres")).float().cpu()
    pred = (torch.stack([e.track() for e in embs]) @ prompts.t()).argmax(1).numpy()
    confusion = np.zeros((len(genres), len(genres)), dtype=int)
    np.add.at(confusion, (truth, pred), 1)
    out = {"accuracy": round(float((pred == truth).mean()), 4), "genres": genres,
           "confusion": confusion.tolist()}
    scorer = Scorer(lm)
    if scorer.has_head("genres") and set(genres) <= set(scorer.genres):
        head = scorer.head_scores(torch.stack([e.track() for e in embs]), "genres")
        head_pred = np.array([scorer.genres[i] for i in head.argmax(1).tolist()])
        out["head_accuracy"] = round(float((head_pred == np.array([c.genre for c in clips])).mean()), 4)
    return out


def linear_probe(lm: LoadedModel, train: Sequence[Example], clips: Sequence[Example], embs: Sequence[TrackEmbedding],
                 genre_task: bool, batch_size: int = 32) -> dict:
    """Fit linear heads on the train split's embeddings; score `clips` (their embeddings `embs`)."""
    from muser_train.training.heads import fit_heads

    train_kept, train_embs = embed_clips(lm, train, batch_size)
    if not train_kept:
        return {"train_clips": 0}
    genres = sorted({c.genre for c in train_kept if c.genre})
    heads = fit_heads(train_kept, train_embs, list(lm.checkpoint.tags), genres)
    x = torch.stack([e.track() for e in embs])  # (N, E)
    out: dict = {"train_clips": len(train_kept)}
    if genre_task and "genres.weight" in heads:
        pred = (x @ heads["genres.weight"].t() + heads["genres.bias"]).argmax(1).tolist()
        truth = [c.genre for c in clips]
        out["accuracy"] = round(float(np.mean([genres[p] == t for p, t in zip(pred, truth)])), 4)
    if not genre_task and "tags.weight" in heads:
        truth = np.array([[t in c.tags for t in lm.checkpoint.tags] for c in clips], dtype=int)
        scores = torch.sigmoid(x @ heads["tags.weight"].t() + heads["tags.bias"]).numpy()
        out["roc_auc"] = round(macro_roc_auc(truth, scores), 4)
        out["pr_auc"] = round(macro_pr_auc(truth, scores), 4)
    return out
