"""muser's own genre and tag predictions for indexed tracks, computed from their track vectors.

The scorer is the one `muser tag` uses (trained heads where the checkpoint has them, else
zero-shot against the stored label prompts): scoring.Scorer over the numpy engine, or over the
torch engine for a torch-only checkpoint. Predictions are keyed on the checkpoint and its vocabulary (`Predictor.key`),
so that the catalogue knows which stored predictions are out of date.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from muser_model.library.catalogue import PREDICTED_TAGS, Prediction
from muser_model.core.scoring import Scorer

if TYPE_CHECKING:
    from muser_model.library.scan import IndexModel
    from muser_model.numpy_engine.audio import NumpyMuser
    from muser_model.torch_engine.runtime import LoadedModel

ScoreFn = Callable[[np.ndarray, str], tuple[np.ndarray, str]]  # ((N, E), kind) -> ((N, L), score kind)


class Predictor:
    """Track vectors (N, E) -> one Prediction each."""

    def __init__(self, score: ScoreFn, tags: list[str], genres: list[str], model_hash: str) -> None:
        self.score, self.tags, self.genres = score, list(tags), list(genres)
        vocabulary = json.dumps([self.tags, self.genres]).encode()
        self.key = f"{model_hash[:16]}:{hashlib.sha256(vocabulary).hexdigest()[:12]}"

    def __call__(self, vectors: np.ndarray) -> list[Prediction]:
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)  # (N, E)
        if not len(vectors):
            return []
        genre_scores, _ = self.score(vectors, "genres")  # (N, G)
        tag_scores, tag_kind = self.score(vectors, "tags")  # (N, T)
        return [self._one(g, t, tag_kind) for g, t in zip(genre_scores, tag_scores)]

    def _one(self, genre_scores: np.ndarray, tag_scores: np.ndarray, tag_kind: str) -> Prediction:
        best = int(np.argmax(genre_scores))
        top = np.argsort(-tag_scores, kind="stable")[:PREDICTED_TAGS]
        return Prediction(self.genres[best], round(float(genre_scores[best]), 4),
                          [(self.tags[i], round(float(tag_scores[i]), 4)) for i in top.tolist()], tag_kind)


def scorer_predictor(scorer: Scorer, model_hash: str) -> Predictor:
    """From the one scoring stack (scoring.Scorer) over either engine."""

    def score(vectors: np.ndarray, kind: str) -> tuple[np.ndarray, str]:
        values, score_kind, _ = scorer.scores(vectors, kind)
        return np.asarray(values), score_kind

    return Predictor(score, scorer.tags, scorer.genres, model_hash)


def numpy_predictor(model: NumpyMuser) -> Predictor:
    """From a numpy_engine.audio.NumpyMuser (no torch)."""
    return scorer_predictor(Scorer(model), model.content_hash)


def torch_predictor(lm: LoadedModel) -> Predictor:
    """From a runtime.LoadedModel (torch engine, checkpoints without a numpy section)."""
    from muser_model.torch_engine.inference import engine_of  # torch: only for torch-only checkpoints

    return scorer_predictor(Scorer(engine_of(lm)), lm.checkpoint.content_hash)


def predictor_for(model: IndexModel) -> Predictor:
    """The predictor of a scan's model: numpy when its checkpoint has a numpy section."""
    if model.numpy_model is not None:
        return numpy_predictor(model.numpy_model)
    if model.checkpoint_path is not None:
        from muser_model.core.checkpoint import has_numpy_section
        from muser_model.numpy_engine.audio import NumpyMuser

        if has_numpy_section(model.checkpoint_path):
            return numpy_predictor(NumpyMuser.load(model.checkpoint_path))
    model.wait_loaded()
    return torch_predictor(model.lm)
