"""Supervised linear heads on frozen track embeddings (a linear probe), stored in the checkpoint."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from muser_model.torch_engine.inference import TrackEmbedding
from muser_train.training.datasets import Example


def fit_heads(clips: Sequence[Example], embs: Sequence[TrackEmbedding], tags: list[str],
              genres: list[str], seed: int = 0, steps: int = 300) -> dict[str, torch.Tensor]:
    """Genre head (softmax) on clips with a known genre; tag head (sigmoid) on clips with tags."""
    torch.manual_seed(seed)
    heads: dict[str, torch.Tensor] = {}
    x = torch.stack([e.track() for e in embs])  # (N, E)
    genre_rows = [i for i, c in enumerate(clips) if c.genre in genres]
    if len({clips[i].genre for i in genre_rows}) >= 2:
        y = torch.tensor([genres.index(clips[i].genre) for i in genre_rows])
        w, b = _fit(x[genre_rows], y, len(genres), steps, multilabel=False)
        heads.update({"genres.weight": w, "genres.bias": b})
    tag_rows = [i for i, c in enumerate(clips) if any(t in tags for t in c.tags)]
    if tag_rows:
        y = torch.zeros(len(tag_rows), len(tags))
        for r, i in enumerate(tag_rows):
            for t in clips[i].tags:
                if t in tags:
                    y[r, tags.index(t)] = 1.0
        w, b = _fit(x[tag_rows], y, len(tags), steps, multilabel=True)
        heads.update({"tags.weight": w, "tags.bias": b})
    return heads


def _fit(x: torch.Tensor, y: torch.Tensor, n_out: int, steps: int,
         multilabel: bool) -> tuple[torch.Tensor, torch.Tensor]:
    layer = torch.nn.Linear(x.shape[1], n_out)
    opt = torch.optim.Adam(layer.parameters(), lr=0.05, weight_decay=1e-4)
    for _ in range(steps):
        logits = layer(x)
        loss = (F.binary_cross_entropy_with_logits(logits, y) if multilabel
                else F.cross_entropy(logits, y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return layer.weight.detach().clone(), layer.bias.detach().clone()
