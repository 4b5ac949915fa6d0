"""The torch engine: the checkpoint's towers in torch (any device, bf16 autocast), handing back
numpy arrays to the one scoring stack (`muser_model.core.scoring`, `muser_model.core.embedding`).

Training and evaluation (`train/`) work on torch tensors; `TrackEmbedding`, `Scorer`,
`embed_files`, `embed_windows` and `label_prompts` here are those views of the same stack: they
convert types and do no maths of their own.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from muser_model.core import embedding, scoring
from muser_model.core.errors import AudioError
from muser_model.torch_engine.runtime import LoadedModel
from muser_model.core.scoring import LabelScore, ScoringAssets  # noqa: F401  (LabelScore re-exported)


def _numpy(tensors: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {k: v.detach().float().cpu().numpy() for k, v in tensors.items()}


class TorchEngine:
    """`scoring.Engine` over a LoadedModel: windows and texts in, numpy embeddings out."""

    def __init__(self, lm: LoadedModel) -> None:
        self.lm, self.config = lm, lm.config
        ckpt = lm.checkpoint
        with torch.no_grad():
            scales = lm.model.logit_scales()
            scale = float((scales["wave_text"] + scales["spec_text"]) / 2)
        self.assets = ScoringAssets(list(ckpt.tags), list(ckpt.genres), dict(ckpt.templates), scale,
                                    _numpy(ckpt.label_embeddings), _numpy(ckpt.heads), ckpt.tag_kinds())

    def embed_windows(self, windows: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """(W, N) windows (float16 from the index decoders: half the bytes) -> (W, 2, E)."""
        lm = self.lm
        out = []
        for start in range(0, len(windows), batch_size):
            wave = torch.from_numpy(np.ascontiguousarray(windows[start : start + batch_size])).to(lm.device).float()
            with torch.inference_mode(), torch.autocast(lm.device.type, dtype=lm.autocast_dtype or torch.bfloat16,
                                                        enabled=lm.autocast_dtype is not None):
                emb = lm.model(wave=wave)
            out.append(torch.stack([emb.wave.float(), emb.spec.float()], dim=1).cpu().numpy())  # (B, 2, E)
        return np.concatenate(out)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """(N, E) normalised text embeddings (the MiniLM tower loads on first use)."""
        return self.lm.embed_texts(texts).float().cpu().numpy()


def engine_of(lm: LoadedModel) -> TorchEngine:
    """A LoadedModel's engine. Made afresh on each call, never cached on the model: training
    changes the logit scales, heads and prompt embeddings between evaluations (copying them
    costs well under a millisecond)."""
    return TorchEngine(lm)


# -- torch views for training and evaluation --------------------------------------------------
@dataclass
class TrackEmbedding:
    """scoring.TrackEmbedding with torch tensors."""

    path: Path
    wave: torch.Tensor  # (W, E)
    spec: torch.Tensor  # (W, E)
    window_s: float
    hop_s: float

    @classmethod
    def of(cls, emb: scoring.TrackEmbedding) -> "TrackEmbedding":
        return cls(emb.path, torch.from_numpy(emb.wave), torch.from_numpy(emb.spec), emb.window_s, emb.hop_s)

    def as_numpy(self) -> scoring.TrackEmbedding:
        return scoring.TrackEmbedding(self.path, self.wave.numpy(), self.spec.numpy(), self.window_s, self.hop_s)

    @property
    def windows(self) -> torch.Tensor:
        """(W, E) fused per-window embeddings."""
        return torch.from_numpy(self.as_numpy().windows)

    def track(self, tower: str = "fused") -> torch.Tensor:
        """(E,) whole-track embedding of one tower or the fusion."""
        return torch.from_numpy(self.as_numpy().track(tower))


def embed_windows(lm: LoadedModel, items: Iterable[tuple[Any, Iterable[np.ndarray]]], batch_size: int = 16,
                  ) -> Iterator[tuple[Any, list[tuple[torch.Tensor, torch.Tensor]] | AudioError]]:
    """embedding.stream_windows with the torch engine: (key, [(wave (E,), spec (E,)) per window]
    or the AudioError) in input order."""
    engine = engine_of(lm)
    for key, result in embedding.stream_windows(lambda w: engine.embed_windows(w, batch_size), items, batch_size):
        if isinstance(result, AudioError):
            yield key, result
        else:
            rows = torch.from_numpy(result)  # (W, 2, E)
            yield key, [(row[0], row[1]) for row in rows]


def to_track(path: str | Path, chunks: list[tuple[torch.Tensor, torch.Tensor]],
             window_s: float, hop_s: float) -> TrackEmbedding:
    wave = torch.stack([w for w, _ in chunks])
    spec = torch.stack([s for _, s in chunks])
    return TrackEmbedding(Path(path), wave, spec, window_s, hop_s)


def embed_files(lm: LoadedModel, paths: Iterable[str | Path], batch_size: int = 16,
                window_s: float | None = None, hop_s: float | None = None,
                max_windows: int | None = None) -> Iterator[TrackEmbedding | AudioError]:
    """embedding.embed_files with the torch engine, as torch tensors."""
    for result in embedding.embed_files(engine_of(lm), paths, batch_size, window_s, hop_s, max_windows):
        yield result if isinstance(result, AudioError) else TrackEmbedding.of(result)


def label_prompts(lm: LoadedModel, labels: list[str], kind: str) -> list[str]:
    return scoring.label_prompts(lm.checkpoint.templates, labels, kind)


def label_embeddings(lm: LoadedModel) -> dict[str, torch.Tensor]:
    """The prompt embeddings a checkpoint stores (`Checkpoint.label_embeddings`), for "genres"
    and every tag kind of its table ("tags", "msd", ...): kind -> (L, E) on the CPU."""
    ckpt = lm.checkpoint
    vocabularies = {"genres": list(ckpt.genres), **ckpt.tag_vocabularies()}
    return {kind: lm.embed_texts(label_prompts(lm, labels, kind)).cpu() for kind, labels in vocabularies.items()}


class Scorer:
    """scoring.Scorer with torch tensors in and out."""

    def __init__(self, lm: LoadedModel) -> None:
        self.lm = lm
        self._scorer = scoring.Scorer(engine_of(lm))
        self.tags, self.genres = self._scorer.tags, self._scorer.genres
        self.scale = float(self._scorer.scale)

    def text_embeddings(self, labels: list[str], kind: str) -> torch.Tensor:
        return torch.from_numpy(np.asarray(self._scorer.text_embeddings(labels, kind)))

    def has_head(self, kind: str) -> bool:
        return self._scorer.has_head(kind)

    def head_scores(self, emb: torch.Tensor, kind: str) -> torch.Tensor:
        """(N, E) -> (N, L) probabilities from a trained linear head."""
        return torch.from_numpy(self._scorer.head_scores(emb.float().cpu().numpy(), kind))

    def scores(self, emb: torch.Tensor, kind: str, method: str = "auto") -> tuple[torch.Tensor, str, str]:
        """(N, E) -> ((N, L) scores, score kind, method); see scoring.Scorer.scores."""
        values, score_kind, used = self._scorer.scores(emb.float().cpu().numpy(), kind, method)
        return torch.from_numpy(np.asarray(values)), score_kind, used
