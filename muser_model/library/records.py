"""What the catalogue stores and returns: plain records, no SQL."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class VocabTags:
    """A track's top tags of one further vocabulary (e.g. MSD-50), best first."""

    vocab: str  # "msd"
    tags: list[tuple[str, float]]
    tag_kind: str  # 'probability' or 'cosine'


@dataclass(frozen=True)
class Prediction:
    """muser's guess for one track: its genre and its top tags, best first: the MTT ones
    (`tags`), then those of each further vocabulary of the checkpoint (`more_tags`)."""

    genre: str
    genre_score: float
    tags: list[tuple[str, float]]
    tag_kind: str  # 'probability' or 'cosine'
    more_tags: list[VocabTags] = field(default_factory=list)
    energy: float | None = None  # 0 calm .. 1 energetic (None: the checkpoint has no heads for it)
    valence: float | None = None  # 0 sad .. 1 happy
    head_logits: np.ndarray | None = None  # (L,) float32: every headed tag kind's logits, table order


@dataclass(frozen=True)
class FileState:
    id: int
    size: int
    mtime_ns: int
    status: str
    model_hash: str


@dataclass
class TrackRow:
    path: str
    size: int
    mtime_ns: int
    vector: np.ndarray  # (E,) float32, normalised
    tags: dict[str, str]
    duration: float
    windows: int
