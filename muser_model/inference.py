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
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from muser_model import audio
from muser_model.errors import AudioError
from muser_model.numpy_audio import LabelScore  # noqa: F401  (one definition, torch-free; re-exported)
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
    key: Any
    chunks: list[tuple[torch.Tensor, torch.Tensor]]
    queued: int = 0  # windows waiting in the batch
    done_reading: bool = False
    error: AudioError | None = None

    @property
    def ready(self) -> bool:
        return self.error is not None or (self.done_reading and self.queued == 0)


def embed_windows(lm: LoadedModel, items: Iterable[tuple[Any, Iterable[np.ndarray]]],
                  batch_size: int = 16) -> Iterator[tuple[Any, list[tuple[torch.Tensor, torch.Tensor]] | AudioError]]:
    """Embed every window of every item, sharing batches across items.

    `items` yields (key, windows); iterating `windows` may raise AudioError, which then becomes
    that item's result. Yields (key, [(wave (E,), spec (E,)) per window] or the error) in input
    order.
    """
    order: deque[_Pending] = deque()
    batch: list[tuple[_Pending, np.ndarray]] = []

    def flush() -> None:
        if batch:
            _run_batch(lm, batch)
            batch.clear()

    def drain() -> Iterator[tuple[Any, list | AudioError]]:
        while order and order[0].ready:
            done = order.popleft()
            yield done.key, done.error if done.error is not None else done.chunks

    for key, windows in items:
        item = _Pending(key, [])
        order.append(item)
        try:
            for window in windows:
                batch.append((item, window))
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


def _run_batch(lm: LoadedModel, batch: list[tuple[_Pending, np.ndarray]]) -> None:
    # (B, N): sent as it came (float16 from the index decoders: half the bytes), made float32 there
    wave = torch.from_numpy(np.stack([w for _, w in batch])).to(lm.device).float()
    with torch.inference_mode(), torch.autocast(lm.device.type, dtype=lm.autocast_dtype or torch.bfloat16,
                                                enabled=lm.autocast_dtype is not None):
        out = lm.model(wave=wave)
    wave_emb, spec_emb = out.wave.float().cpu(), out.spec.float().cpu()
    for row, (item, _) in enumerate(batch):
        item.queued -= 1
        if item.error is None:
            item.chunks.append((wave_emb[row], spec_emb[row]))


def to_track(path: str | Path, chunks: list[tuple[torch.Tensor, torch.Tensor]],
             window_s: float, hop_s: float) -> TrackEmbedding:
    wave = torch.stack([w for w, _ in chunks])
    spec = torch.stack([s for _, s in chunks])
    return TrackEmbedding(Path(path), wave, spec, window_s, hop_s)


def embed_files(lm: LoadedModel, paths: Iterable[str | Path], batch_size: int = 16,
                window_s: float | None = None, hop_s: float | None = None,
                max_windows: int | None = None) -> Iterator[TrackEmbedding | AudioError]:
    """Yield, in input order, a TrackEmbedding or the AudioError that stopped each file."""
    cfg = lm.config.audio
    window_s, hop_s = window_s or cfg.window_s, hop_s or cfg.hop_s
    items = ((Path(p), audio.iter_windows(p, window_s, hop_s, cfg.sample_rate, max_windows=max_windows))
             for p in paths)
    for path, result in embed_windows(lm, items, batch_size):
        yield result if isinstance(result, AudioError) else to_track(path, result, window_s, hop_s)


# -- scoring ---------------------------------------------------------------------------------
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

    def scores(self, emb: torch.Tensor, kind: str, method: str = "auto") -> tuple[torch.Tensor, str, str]:
        """(N, E) -> ((N, L) scores, score kind, method) for "tags" or "genres".

        method "auto" uses the trained head when the checkpoint has one, else zero-shot.
        """
        if method in ("auto", "head") and self.has_head(kind):
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
