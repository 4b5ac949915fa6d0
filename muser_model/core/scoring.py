"""The one scoring stack above the towers, on numpy arrays, for every engine.

An engine (`Engine`: the numpy one in `muser_model.numpy_engine.audio`, the torch one in
`muser_model.torch_engine.inference`) turns windows of audio and texts into embeddings; everything above the
towers is written once, here: the track embedding (normalised mean of the windows), the label
prompts, trained heads, zero-shot scores with the checkpoint's logit scale, and `top_k` with one
tie-break rule (score rounded to 4 decimals, best first, then label order). Parity between the
engines therefore has to hold in one place only, the towers. Nothing here imports torch.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from muser_model.core import vocab_groups
from muser_model.core.vocab import genre_text

SCORE_DECIMALS = 4  # scores are reported (and ranked) at this precision


GENRE_VOCAB, GENRE_GROUP = "gtzan", "genre"  # what a genre score names as its vocabulary and group


@dataclass
class LabelScore:
    label: str
    score: float
    kind: str  # "probability" or "cosine"
    method: str  # "head" or "zero-shot"
    vocab: str = ""  # "mtt", "msd", ... for tags, "gtzan" for genres, "" for --labels words
    group: str = ""  # the tag's group (vocab_groups.GROUPS), "genre" for genres


@dataclass
class ScoringAssets:
    """What scoring needs of a checkpoint besides the towers, as numpy arrays."""

    tags: list[str]
    genres: list[str]
    templates: dict[str, str]
    zero_shot_scale: float  # the logit scale of the audio-text pairs, for softmax over labels
    label_embeddings: dict[str, np.ndarray] = field(default_factory=dict)  # kind -> (L, E)
    heads: dict[str, np.ndarray] = field(default_factory=dict)  # "<kind>.weight" (L, E) / ".bias" (L,)
    # tag kind -> Vocabulary ("tags" MTT, then "msd", ...): vocab_groups.tag_kinds of the
    # checkpoint's table; left empty, the MTT vocabulary of `tags` alone
    tag_kinds: dict[str, vocab_groups.Vocabulary] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.tag_kinds:
            self.tag_kinds = vocab_groups.tag_kinds({}, self.tags)

    def vocabulary(self, kind: str) -> list[str]:
        """The labels of "genres" or of a tag kind ("tags", "msd", ...)."""
        return self.genres if kind == "genres" else list(self.tag_kinds[kind].labels)

    def tag_vocabularies(self) -> dict[str, list[str]]:
        """Tag kind -> labels, as Checkpoint.tag_vocabularies."""
        return {kind: list(vocab.labels) for kind, vocab in self.tag_kinds.items()}

    @property
    def extra_tag_kinds(self) -> list[str]:
        """The tag kinds beside "tags" (MTT), in table order: e.g. ["msd"]."""
        return [kind for kind in self.tag_kinds if kind != vocab_groups.MAIN_KIND]

    def vocab_and_groups(self, kind: str) -> tuple[str, list[str]]:
        """(vocabulary name, group of each label) of "genres" or a tag kind."""
        if kind == "genres":
            return GENRE_VOCAB, [GENRE_GROUP] * len(self.genres)
        vocab = self.tag_kinds[kind]
        return vocab.name, [t.group for t in vocab.tags]


class Engine(Protocol):
    """Towers of one checkpoint: numpy (`NumpyMuser`) or torch (`inference.TorchEngine`)."""

    config: Any  # muser_model.core.config.ModelConfig
    assets: ScoringAssets

    def embed_windows(self, windows: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """(W, N) windows -> (W, 2, E) normalised (waveform, spectrogram) embeddings."""

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """(N,) texts -> (N, E) normalised text embeddings."""


# -- array maths ---------------------------------------------------------------------------
def normalize(x: np.ndarray) -> np.ndarray:
    """L2-normalise the last axis (as torch's F.normalize, eps 1e-12)."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# -- track embedding -------------------------------------------------------------------------
def track_embedding(wave: np.ndarray, spec: np.ndarray, tower: str = "fused") -> np.ndarray:
    """(W, E) per-window tower embeddings -> (E,) track embedding: the normalised mean over
    windows of one tower, or of the normalised sum of both ("fused")."""
    per_window = {"fused": normalize(wave + spec), "wave": wave, "spec": spec}[tower]
    return normalize(per_window.mean(0, dtype=np.float32))


@dataclass
class TrackEmbedding:
    path: Path
    wave: np.ndarray  # (W, E) per-window waveform-tower embeddings
    spec: np.ndarray  # (W, E) per-window spectrogram-tower embeddings
    window_s: float
    hop_s: float
    duration_s: float | None = None  # of the audio, when known (the last window may run past it)

    @property
    def windows(self) -> np.ndarray:
        """(W, E) fused per-window embeddings."""
        return normalize(self.wave + self.spec)

    def track(self, tower: str = "fused") -> np.ndarray:
        """(E,) whole-track embedding of one tower or the fusion."""
        return track_embedding(self.wave, self.spec, tower)

    def window_span(self, i: int) -> tuple[float, float]:
        """(start, end) seconds of window `i`, the end clipped to the duration when known."""
        start = i * self.hop_s
        end = start + self.window_s
        if self.duration_s is not None:
            end = min(end, max(self.duration_s, start))
        return start, end


# -- labels ----------------------------------------------------------------------------------
def head_logits(heads: dict[str, np.ndarray], kind: str, emb: np.ndarray) -> np.ndarray:
    """(N, E) -> (N, L) logits of a kind's head: linear (`<kind>.weight` (L, E), `.bias`), or with
    a hidden layer first when the checkpoint has one (`<kind>.hidden.weight` (H, E), `.bias`
    (H,), ReLU; `<kind>.weight` is then (L, H))."""
    x = emb
    hidden = heads.get(f"{kind}.hidden.weight")
    if hidden is not None:
        x = np.maximum(x @ hidden.T + heads[f"{kind}.hidden.bias"], 0.0)  # (N, H)
    return x @ heads[f"{kind}.weight"].T + heads[f"{kind}.bias"]  # (N, L)


def label_prompts(templates: dict[str, str], labels: Sequence[str], kind: str) -> list[str]:
    """The text each label is embedded as: the genre or tag prompt of the checkpoint."""
    if kind == "genres":
        return [templates["genre_prompt"].format(label=genre_text(g)) for g in labels]
    return [templates["tag_prompt"].format(label=t) for t in labels]


def top_k(scores: np.ndarray, labels: Sequence[str], k: int, kind: str, method: str,
          vocab: str = "", groups: Sequence[str] = ()) -> list[LabelScore]:
    """(L,) scores -> the k best as LabelScore: by score at SCORE_DECIMALS, best first, ties in
    label order (so engines whose scores differ below that precision rank alike). `vocab` and
    `groups` (one per label, or none) name each label's vocabulary and group."""
    rounded = np.round(np.asarray(scores, dtype=np.float64), SCORE_DECIMALS)  # (L,)
    order = np.lexsort((np.arange(len(rounded)), -rounded))[: min(k, len(labels))]
    return [LabelScore(labels[i], float(rounded[i]), kind, method, vocab, groups[i] if groups else "")
            for i in order.tolist()]


class Scorer:
    """Scores (N, E) audio embeddings against the checkpoint's genres and tag kinds ("tags" for
    MTT, "msd", ...: `assets.tag_kinds`), or any labels."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.assets = engine.assets
        self.tags, self.genres = self.assets.tags, self.assets.genres
        self.scale = np.float32(self.assets.zero_shot_scale)

    def text_embeddings(self, labels: Sequence[str], kind: str) -> np.ndarray:
        """(L, E) prompt embeddings: stored ones for the checkpoint's own vocabulary, else embedded."""
        stored = self.assets.label_embeddings.get(kind)
        if stored is not None and list(labels) == self.assets.vocabulary(kind):
            return stored
        return self.engine.embed_texts(label_prompts(self.assets.templates, labels, kind))

    def has_head(self, kind: str) -> bool:
        return f"{kind}.weight" in self.assets.heads

    def head_tag(self, word: str) -> tuple[str, int] | None:
        """(tag kind, label index) of the tag named `word` (case and spacing ignored) in a tag
        kind that has a trained head; the teacher vocabularies ("msd") before MTT-50, whose
        labels ("rock", "metal") they share. None when no headed vocabulary has that label."""
        wanted = " ".join(word.lower().split())
        for kind in [*self.assets.extra_tag_kinds, vocab_groups.MAIN_KIND]:
            if kind not in self.assets.tag_kinds or not self.has_head(kind):
                continue
            labels = [label.lower() for label in self.assets.vocabulary(kind)]
            if wanted in labels:
                return kind, labels.index(wanted)
        return None

    def head_scores(self, emb: np.ndarray, kind: str) -> np.ndarray:
        """(N, E) -> (N, L) probabilities from a trained head (sigmoid for every tag kind,
        softmax for genres)."""
        logits = head_logits(self.assets.heads, kind, emb)  # (N, L)
        probs = softmax(logits) if kind == "genres" else sigmoid(logits)
        return probs.astype(np.float32)

    def scores(self, emb: np.ndarray, kind: str, method: str = "auto") -> tuple[np.ndarray, str, str]:
        """(N, E) -> ((N, L) scores, score kind, method) for "genres" or a tag kind; method "auto"
        uses the trained head when the checkpoint has one, else zero-shot (cosines for tags,
        softmax over the scaled cosines for genres)."""
        if method in ("auto", "head") and self.has_head(kind):
            return self.head_scores(emb, kind), "probability", "head"
        cos = emb @ self.text_embeddings(self.assets.vocabulary(kind), kind).T  # (N, L)
        if kind == "genres":
            return softmax(self.scale * cos), "probability", "zero-shot"
        return cos, "cosine", "zero-shot"

    def ranked(self, scores: np.ndarray, kind: str, k: int, score_kind: str, method: str) -> list[LabelScore]:
        """(L,) scores of "genres" or a tag kind -> its top k, each naming its vocabulary and group."""
        vocab, groups = self.assets.vocab_and_groups(kind)
        return top_k(scores, self.assets.vocabulary(kind), k, score_kind, method, vocab, groups)

    def top(self, emb: np.ndarray, kind: str, k: int, method: str = "auto") -> list[list[LabelScore]]:
        """(N, E) -> per row, the top k of "genres" or a tag kind (see `scores`, `ranked`)."""
        values, score_kind, used = self.scores(emb, kind, method)  # (N, L)
        return [self.ranked(row, kind, k, score_kind, used) for row in values]

    def open_labels(self, emb: np.ndarray, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """Zero-shot over user words: ((N, L) cosines, (N, L) softmax probabilities or None).

        A softmax over one label is always 1, so it is given for two labels or more only."""
        cos = emb @ self.text_embeddings(labels, "labels").T  # (N, L)
        probs = softmax(self.scale * cos) if len(labels) >= 2 else None
        return cos, probs
