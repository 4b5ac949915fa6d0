"""Teacher ensembles per vocabulary: MTT-50 = mean(MTT_musicnn, MTT_vgg), MSD-50 = mean(MSD_musicnn,
MSD_vgg), both as the plain mean of the members' sigmoid probabilities.

Why a mean of the two architectures: on real music from the allow-list the partners agree on the
ranking of tags far above chance but not exactly (see muser_train.teachers.agreement and the teachers
docs draft), so averaging keeps what both hear and damps each model's own errors.
"""
from __future__ import annotations

import numpy as np
from torch import nn

from muser_train.teachers.registry import load_teacher, score_patches
from muser_train.teachers.specs import VOCABS, labels, members


class VocabEnsemble:
    """The teachers of one vocabulary; scores are the mean of their probabilities."""

    def __init__(self, vocab: str, models: dict[str, nn.Module]):
        if not models:
            raise ValueError(f"{vocab}: an ensemble needs at least one teacher")
        self.vocab = vocab
        self.models = models

    @classmethod
    def load(cls, vocab: str) -> "VocabEnsemble":
        """Both committed teachers of `vocab` ("mtt" or "msd")."""
        return cls(vocab, {s.name: load_teacher(s.name) for s in members(vocab)})

    @property
    def labels(self) -> tuple[str, ...]:
        return labels(self.vocab)

    def member_scores(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """(P, 187, 96) patches -> {teacher name: (P, 50) probabilities}."""
        return {name: score_patches(m, x) for name, m in self.models.items()}

    def score_patches(self, x: np.ndarray) -> np.ndarray:
        """(P, 187, 96) patches -> (P, 50) mean probability of the members."""
        return mean_probabilities(self.member_scores(x))


def mean_probabilities(scores: dict[str, np.ndarray]) -> np.ndarray:
    """Element-wise mean of the members' (..., 50) probabilities, float32."""
    return np.mean(np.stack(list(scores.values())), axis=0).astype(np.float32)


def load_ensembles(vocabs: tuple[str, ...] = VOCABS) -> dict[str, VocabEnsemble]:
    """{vocab: VocabEnsemble} for the MTT-50 and MSD-50 teachers."""
    return {v: VocabEnsemble.load(v) for v in vocabs}


def clip_scores(ensembles: dict[str, VocabEnsemble], x: np.ndarray) -> dict[str, np.ndarray]:
    """(P, 187, 96) patches of one clip -> {vocab: (50,) ensemble probability, mean over patches}."""
    if len(x) == 0:
        raise ValueError("no patches (empty audio)")
    return {v: e.score_patches(x).mean(axis=0) for v, e in ensembles.items()}
