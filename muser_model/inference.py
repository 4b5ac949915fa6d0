"""File -> windows -> batched embeddings -> track embeddings and label scores.

A whole-track embedding is the normalised mean of fixed, non-random windows (window and hop
from the checkpoint's config unless overridden), computed in eval mode, so the same file always
gives the same vector. Windows from several files share batches.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from muser_model import audio
from muser_model.errors import AudioError
from muser_model.runtime import LoadedModel
from muser_model.vocab import genre_text


@dataclass
class TrackEmbedding:
    path: Path
    wave: torch.Tensor  # (W, E) per-window waveform-tower embeddings
    spec: torch.Tensor  # (W, E) per-window spectrogram-tower embeddings
    window_s: float
    hop_s: float

    @property
    def windows(self) -> torch.Tensor:
        """(W, E) fused per-window embeddings."""
        return F.normalize(self.wave + self.spec, dim=-1)

    def track(self, tower: str = "fused") -> torch.Tensor:
        """(E,) whole-track embedding: normalised mean over windows of one tower or the fusion."""
        per_window = {"fused": self.windows, "wave": self.wave, "spec": self.spec}[tower]
        return F.normalize(per_window.mean(0), dim=-1)


@dataclass
class _Pending:
    path: Path
    chunks: list[tuple[torch.Tensor, torch.Tensor]]
    queued: int = 0  # windows waiting in the batch
    done_reading: bool = False
    error: AudioError | None = None

    @property
    def ready(self) -> bool:
        return self.error is not None or (self.done_reading and self.queued == 0)


def embed_files(lm: LoadedModel, paths: Iterable[str | Path], batch_size: int = 16,
                window_s: float | None = None, hop_s: float | None = None,
                max_windows: int | None = None) -> Iterator[TrackEmbedding | AudioError]:
    """Yield, in input order, a TrackEmbedding or the AudioError that stopped each file."""
    cfg = lm.config.audio
    window_s, hop_s = window_s or cfg.window_s, hop_s or cfg.hop_s
    order: deque[_Pending] = deque()
    batch: list[tuple[_Pending, torch.Tensor]] = []

    def flush() -> None:
        if batch:
            _run_batch(lm, batch)
            batch.clear()

    def drain() -> Iterator[TrackEmbedding | AudioError]:
        while order and order[0].ready:
            yield _finish(order.popleft(), window_s, hop_s)

    for path in paths:
        item = _Pending(Path(path), [])
        order.append(item)
        try:
            for window in audio.iter_windows(item.path, window_s, hop_s, cfg.sample_rate,
                                             max_windows=max_windows):
                batch.append((item, torch.from_numpy(window)))
                item.queued += 1
                if len(batch) >= batch_size:
                    flush()
                    yield from drain()
        except AudioError as exc:
            item.error = exc
        item.done_reading = True
        yield from drain()
    flush()
    yield from drain()


def _run_batch(lm: LoadedModel, batch: list[tuple[_Pending, torch.Tensor]]) -> None:
    wave = torch.stack([w for _, w in batch]).to(lm.device)  # (B, N)
    with torch.inference_mode():
        out = lm.model(wave=wave)
    for row, (item, _) in enumerate(batch):
        item.queued -= 1
        if item.error is None:
            item.chunks.append((out.wave[row].float().cpu(), out.spec[row].float().cpu()))


def _finish(item: _Pending, window_s: float, hop_s: float) -> TrackEmbedding | AudioError:
    if item.error is not None:
        return item.error
    wave = torch.stack([w for w, _ in item.chunks])
    spec = torch.stack([s for _, s in item.chunks])
    return TrackEmbedding(item.path, wave, spec, window_s, hop_s)


# -- scoring ---------------------------------------------------------------------------------
@dataclass
class LabelScore:
    label: str
    score: float  # probability (softmax or sigmoid) or cosine, see `kind`
    kind: str  # "probability" or "cosine"
    method: str  # "head" or "zero-shot"


def label_prompts(lm: LoadedModel, labels: list[str], kind: str) -> list[str]:
    templates = lm.checkpoint.templates
    if kind == "genres":
        return [templates["genre_prompt"].format(label=genre_text(g)) for g in labels]
    return [templates["tag_prompt"].format(label=t) for t in labels]


class Scorer:
    """Scores audio embeddings against the checkpoint's tags and genres, or any labels."""

    def __init__(self, lm: LoadedModel) -> None:
        self.lm = lm
        ckpt = lm.checkpoint
        self.tags, self.genres = ckpt.tags, ckpt.genres
        self._label_emb = {k: v.float().cpu() for k, v in ckpt.label_embeddings.items()}
        self._heads = {k: v.float().cpu() for k, v in ckpt.heads.items()}
        with torch.no_grad():
            scales = lm.model.logit_scales()
            self.scale = float((scales["wave_text"] + scales["spec_text"]) / 2)

    def text_embeddings(self, labels: list[str], kind: str) -> torch.Tensor:
        cached = self._label_emb.get(kind)
        if cached is not None and labels == (self.tags if kind == "tags" else self.genres):
            return cached
        return self.lm.embed_texts(label_prompts(self.lm, labels, kind)).float().cpu()

    def has_head(self, kind: str) -> bool:
        return f"{kind}.weight" in self._heads

    def head_scores(self, emb: torch.Tensor, kind: str) -> torch.Tensor:
        """(N, E) -> (N, L) probabilities from a trained linear head."""
        logits = emb @ self._heads[f"{kind}.weight"].t() + self._heads[f"{kind}.bias"]
        return torch.sigmoid(logits) if kind == "tags" else torch.softmax(logits, dim=-1)

    def scores(self, emb: torch.Tensor, kind: str) -> tuple[torch.Tensor, str, str]:
        """(N, E) -> ((N, L) scores, score kind, method) for "tags" or "genres"."""
        if self.has_head(kind):
            return self.head_scores(emb, kind), "probability", "head"
        labels = self.tags if kind == "tags" else self.genres
        cos = emb @ self.text_embeddings(labels, kind).t()  # (N, L)
        if kind == "genres":
            return torch.softmax(self.scale * cos, dim=-1), "probability", "zero-shot"
        return cos, "cosine", "zero-shot"

    def open_labels(self, emb: torch.Tensor, labels: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero-shot over user words: ((N, L) softmax probabilities, (N, L) cosines)."""
        cos = emb @ self.text_embeddings(labels, "labels").t()
        return torch.softmax(self.scale * cos, dim=-1), cos


def top_k(scores: torch.Tensor, labels: list[str], k: int, kind: str, method: str) -> list[LabelScore]:
    """(L,) scores -> the k best as LabelScore, best first."""
    values, idx = scores.topk(min(k, len(labels)))
    return [LabelScore(labels[i], round(float(v), 4), kind, method) for v, i in zip(values, idx.tolist())]
