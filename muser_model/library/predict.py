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

from muser_model.core.concepts import AXES, GENRE_CLEAR_MIN, GENRE_FAMILIES
from muser_model.core.reference import Reference, load_reference
from muser_model.core.grounding import GenreCall, Grounder
from muser_model.core.scoring import Scorer
from muser_model.library.records import Prediction, VocabTags

if TYPE_CHECKING:
    from muser_model.library.scan import IndexModel
    from muser_model.numpy_engine.audio import NumpyMuser
    from muser_model.torch_engine.runtime import LoadedModel

# `--tag X` / `tag:X` selects a track when X is one of its PREDICTED_TAGS stored top tags and, for
# a trained tag head (sigmoid probabilities), scores at least its vocabulary's TAG_MIN_PROBABILITY.
# The heads learn the musicnn teachers' probabilities, which are low: over the 4,780 real clips of
# corpus v3 the ensembles give on average 2.0 MTT tags >= 0.3 per clip and 1.5 MSD tags >= 0.2
# (only 0.5 MTT and 0.2 MSD tags per clip reach 0.5; the median top MSD tag is 0.35), so the
# floor is set per vocabulary there, and 0.5 (the decision boundary of a head trained on hard labels) for any other vocabulary.
# Zero-shot tag scores are cosines with no calibrated boundary: there the top PREDICTED_TAGS count.
PREDICTED_TAGS = 5
TAG_MIN_PROBABILITY: dict[str, float] = {"mtt": 0.3, "msd": 0.2}
OTHER_TAG_MIN_PROBABILITY = 0.5


def set_tag_min_probability(floors: dict[str, float]) -> None:
    """Replace the floors of some vocabularies for this process (the config file's
    `tag_min_probability`)."""
    TAG_MIN_PROBABILITY.update(floors)


def tag_min_probability(vocab: str) -> float:
    """The score a head's tag of vocabulary `vocab` needs to match `--tag`."""
    return TAG_MIN_PROBABILITY.get(vocab, OTHER_TAG_MIN_PROBABILITY)


ScoreFn = Callable[[np.ndarray, str], tuple[np.ndarray, str]]  # ((N, E), kind) -> ((N, L), score kind)
GenreFn = Callable[[np.ndarray], list[GenreCall]]  # (N, E) -> the headline genre of each
AxesFn = Callable[[np.ndarray], dict[str, np.ndarray]]  # (N, E) -> {"energy": (N,), "valence": (N,)}
LogitsFn = Callable[[np.ndarray], np.ndarray]  # (N, E) -> (N, L) every headed tag kind's logits


class Predictor:
    """Track vectors (N, E) -> one Prediction each: genre, MTT top tags and the top tags of every
    further tag kind (`more_kinds`: kind -> (vocabulary, labels), e.g. {"msd": ("msd", [...])})."""

    def __init__(self, score: ScoreFn, tags: list[str], genres: list[str], model_hash: str,
                 more_kinds: dict[str, tuple[str, list[str]]] | None = None,
                 genre_calls: GenreFn | None = None, axes: AxesFn | None = None, calibration: str = "",
                 logits: LogitsFn | None = None) -> None:
        self.score, self.tags, self.genres = score, list(tags), list(genres)
        self.more_kinds = dict(more_kinds or {})
        self.genre_calls = genre_calls  # the headline genre (families); None: the best of `genres`
        self.axes = axes  # energy and valence; None: not predicted
        self.logits = logits  # every headed tag kind's logits, stored for search; None: not stored
        vocabulary = [self.tags, self.genres]
        if genre_calls is not None:  # the families, their rule and the axes' calibration count too
            vocabulary.append({"families": GENRE_FAMILIES, "clear": GENRE_CLEAR_MIN, "axes": AXES,
                               "calibration": calibration, "logits": logits is not None})
        if self.more_kinds:  # a checkpoint without further vocabularies keeps its key of before
            vocabulary.append({kind: labels for kind, (_, labels) in self.more_kinds.items()})
        self.key = f"{model_hash[:16]}:{hashlib.sha256(json.dumps(vocabulary).encode()).hexdigest()[:12]}"

    def __call__(self, vectors: np.ndarray) -> list[Prediction]:
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)  # (N, E)
        if not len(vectors):
            return []
        genres = self._genres(vectors)  # N (label, score)
        tag_scores, tag_kind = self.score(vectors, "tags")  # (N, T)
        more = {kind: self.score(vectors, kind) for kind in self.more_kinds}  # kind -> ((N, L), score kind)
        axes = self.axes(vectors) if self.axes is not None else {}  # axis -> (N,)
        logits = self.logits(vectors) if self.logits is not None else None  # (N, L)
        return [Prediction(*genres[i], _top(tag_scores[i], self.tags), tag_kind,
                           [self._more(kind, values[i], score_kind) for kind, (values, score_kind) in more.items()],
                           *(_axis(axes, name, i) for name in ("energy", "valence")),
                           None if logits is None else logits[i])
                for i in range(len(vectors))]

    def _genres(self, vectors: np.ndarray) -> list[tuple[str, float]]:
        """(label, score) of each track's headline genre: its family call ("no clear genre" below
        the threshold), else the best of the checkpoint's genres."""
        if self.genre_calls is not None:
            return [(call.label, round(call.score, 4)) for call in self.genre_calls(vectors)]
        scores, _ = self.score(vectors, "genres")  # (N, G)
        best = np.argmax(scores, axis=1)
        return [(self.genres[b], round(float(scores[i, b]), 4)) for i, b in enumerate(best.tolist())]

    def _more(self, kind: str, scores: np.ndarray, score_kind: str) -> VocabTags:
        vocab, labels = self.more_kinds[kind]
        return VocabTags(vocab, _top(scores, labels), score_kind)


def _axis(axes: dict[str, np.ndarray], name: str, i: int) -> float | None:
    return round(float(axes[name][i]), 4) if name in axes else None


def _top(scores: np.ndarray, labels: list[str]) -> list[tuple[str, float]]:
    """(L,) scores -> the PREDICTED_TAGS best (label, score), best first."""
    top = np.argsort(-scores, kind="stable")[:PREDICTED_TAGS]
    return [(labels[i], round(float(scores[i]), 4)) for i in top.tolist()]


def scorer_predictor(scorer: Scorer, model_hash: str, reference: Reference | None = None) -> Predictor:
    """From the one scoring stack (scoring.Scorer) over either engine; `reference` (the
    checkpoint's reference set) calibrates energy and valence."""

    def score(vectors: np.ndarray, kind: str) -> tuple[np.ndarray, str]:
        values, score_kind, _ = scorer.scores(vectors, kind)
        return np.asarray(values), score_kind

    assets = scorer.assets
    more = {kind: (assets.tag_kinds[kind].name, assets.vocabulary(kind)) for kind in assets.extra_tag_kinds}
    grounder = Grounder(scorer, None if reference is None else reference.vectors,
                        "" if reference is None else reference.source)
    headed = grounder.has_families()
    calibration = "" if reference is None else hashlib.sha256(reference.vectors.tobytes()).hexdigest()[:12]
    return Predictor(score, scorer.tags, scorer.genres, model_hash, more, grounder.genre_calls if headed else None,
                     grounder.axes if headed else None, calibration, grounder.all_logits if headed else None)


def numpy_predictor(model: NumpyMuser) -> Predictor:
    """From a numpy_engine.audio.NumpyMuser (no torch)."""
    reference = load_reference(model.path, model.content_hash) if model.path is not None else None
    return scorer_predictor(Scorer(model), model.content_hash, reference)


def torch_predictor(lm: LoadedModel) -> Predictor:
    """From a runtime.LoadedModel (torch engine, checkpoints without a numpy section)."""
    from muser_model.torch_engine.inference import engine_of  # torch: only for torch-only checkpoints

    ckpt = lm.checkpoint
    reference = load_reference(ckpt.path, ckpt.content_hash) if ckpt.path is not None else None
    return scorer_predictor(Scorer(engine_of(lm)), ckpt.content_hash, reference)


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
