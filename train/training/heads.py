"""Heads on track embeddings: their targets (hard labels, teacher soft labels, teacher genre
evidence), the linear probe fitted on frozen embeddings after training, and the tag heads with
one hidden layer (`fit_mlp_tag_heads`) fitted the same way.

Kinds: "genres" (softmax), "tags" (the MTT-50 vocabulary, sigmoid) and one kind per extra tag
vocabulary the clips' teacher scores cover ("msd": MSD-50, sigmoid). The trainer's jointly trained
heads (`--heads finetune`) and the probe (`--heads probe`) use the same targets.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from muser_model.torch_engine.inference import TrackEmbedding
from muser_train.training.datasets import Example
from muser_train.training.soft_targets import soft_bce


def teacher_vocabularies(examples: Sequence[Example]) -> dict[str, list[str]]:
    """The extra tag vocabularies the clips' teacher scores cover: {"msd": MSD-50 labels}."""
    from muser_model.core.vocab_groups import VOCABULARIES

    have = {v for e in examples for v in e.teacher}
    return {v: list(VOCABULARIES[v].labels) for v in sorted(have) if v != "mtt"}


def head_targets(clips: Sequence[Example], kind: str, mtt_tags: Sequence[str],
                 soft: bool = True, hard_fallback: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """((B, L) targets, (B, 1) weights) of a tag head: the teacher's probabilities where the clip
    has them; for "tags" (MTT) the clip's hard tags otherwise (unless `hard_fallback` is off);
    weight 0 for a clip with neither."""
    vocab = "mtt" if kind == "tags" else kind
    n = len(mtt_tags) if kind == "tags" else None
    rows, weights = [], []
    for ex in clips:
        probs = ex.teacher.get(vocab) if soft else None
        if probs is not None:
            rows.append(torch.as_tensor(probs, dtype=torch.float32))
            weights.append(1.0)
        elif kind == "tags" and hard_fallback:
            rows.append(torch.tensor([float(t in ex.tags) for t in mtt_tags]))
            weights.append(1.0 if ex.tags else 0.0)
        else:
            rows.append(None)
            weights.append(0.0)
    width = n or next((len(r) for r in rows if r is not None), 50)
    target = torch.stack([r if r is not None else torch.zeros(width) for r in rows])
    return target, torch.tensor(weights).unsqueeze(1)


def tag_targets(clips: Sequence[Example], kind: str, mtt_tags: Sequence[str],
                soft: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """`head_targets` of a training set, for joint training and for fits on frozen embeddings
    alike. Where the teachers scored some of its clips, the tag heads learn their probabilities
    only: the metadata tags of the clips they did not score (the MMA renders of `mma_extra`) are
    hard targets of another kind; mixing 1,816 of them in cost the MTT-50 head 0.06 ROC-AUC
    against the teachers. Without any teacher scores the hard tags are the targets."""
    hard_fallback = not (soft and any(ex.teacher for ex in clips))
    return head_targets(clips, kind, mtt_tags, soft, hard_fallback)


def genre_targets(clips: Sequence[Example], genres: Sequence[str], soft: bool = True,
                  evidence_weight: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """((B, G) target distributions, (B,) weights) for the genre head: one-hot for a clip whose
    genre is in `genres` (weight 1); else, with teacher scores, the teachers' genre evidence
    (`teacher_labels.genre_target`, weight evidence_weight x its strength); else weight 0."""
    from muser_train.training.teacher_labels import genre_target

    rows, weights = [], []
    for ex in clips:
        if ex.genre in genres:
            row = torch.zeros(len(genres))
            row[list(genres).index(ex.genre)] = 1.0
            rows.append(row)
            weights.append(1.0)
        elif soft and ex.teacher:
            dist, strength = genre_target(ex.teacher, genres)
            rows.append(torch.from_numpy(dist))
            weights.append(evidence_weight * strength)
        else:
            rows.append(torch.full((len(genres),), 1.0 / max(1, len(genres))))
            weights.append(0.0)
    return torch.stack(rows), torch.tensor(weights)



def fit_heads(clips: Sequence[Example], embs: Sequence[TrackEmbedding], tags: list[str],
              genres: list[str], seed: int = 0, steps: int = 300,
              extra_vocabs: dict[str, list[str]] | None = None, soft: bool = True,
              evidence_weight: float = 0.5) -> dict[str, torch.Tensor]:
    """Heads fitted on frozen track embeddings: "genres" where at least two genres have targets,
    "tags" and each extra vocabulary where any clip has a target. Returns "<kind>.weight"/".bias"."""
    torch.manual_seed(seed)
    heads: dict[str, torch.Tensor] = {}
    x = _track_matrix(embs)
    target, weight = genre_targets(clips, genres, soft, evidence_weight)
    if genres and len({int(i) for i in target[weight > 0].argmax(-1)}) >= 2:
        w, b = _fit(x, target, weight, steps, multilabel=False)
        heads.update({"genres.weight": w, "genres.bias": b})
    for kind, target, weight in _tag_kind_targets(clips, tags, extra_vocabs, soft):
        w, b = _fit(x, target, weight, steps, multilabel=True)
        heads.update({f"{kind}.weight": w, f"{kind}.bias": b})
    return heads


def target_counts(clips: Sequence[Example], tags: list[str],
                  extra_vocabs: dict[str, list[str]] | None = None, soft: bool = True) -> dict[str, int]:
    """kind -> how many of `clips` give that tag head a target (what a refit learns from)."""
    return {kind: int((weight > 0).sum()) for kind, _, weight in
            _tag_kind_targets(clips, tags, extra_vocabs, soft)}


def _track_matrix(embs: Sequence[TrackEmbedding]) -> torch.Tensor:
    return torch.stack([torch.as_tensor(e.track()) for e in embs]).float()  # (N, E)


def _tag_kind_targets(clips: Sequence[Example], tags: list[str], extra_vocabs: dict[str, list[str]] | None,
                      soft: bool):
    """(kind, (N, L) targets, (N, 1) weights) for "tags" and each extra vocabulary, in that
    order, leaving out a kind no clip has a target for."""
    for kind in {"tags": tags, **(extra_vocabs or {})}:
        target, weight = tag_targets(clips, kind, tags, soft)
        if float(weight.sum()) > 0:
            yield kind, target, weight


def _fit(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, steps: int,
         multilabel: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Adam on (N, E) -> (N, L) targets; `weight` (N,) or (N, 1) per clip (0 leaves it out)."""
    keep = weight.reshape(-1) > 0
    x, y, weight = x[keep], y[keep], weight[keep]
    layer = torch.nn.Linear(x.shape[1], y.shape[1])
    opt = torch.optim.Adam(layer.parameters(), lr=0.05, weight_decay=1e-4)
    for _ in range(steps):
        logits = layer(x)
        if multilabel:
            loss = soft_bce(logits, y, weight.reshape(-1, 1))
        else:
            w = weight.reshape(-1)
            loss = (-(y * F.log_softmax(logits, -1)).sum(-1) * w).sum() / w.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return layer.weight.detach().clone(), layer.bias.detach().clone()


# Tag heads with a hidden layer, fitted on frozen track embeddings: minibatch AdamW with dropout.
# Track embeddings have unit norm, so they are scaled up while fitting (and the scale folded into
# the first layer) to give the optimiser logits of a usable size from the start.
MLP_HIDDEN = 512
MLP_STEPS = 3000
MLP_BATCH = 256
MLP_LR = 1e-3
MLP_DROPOUT = 0.3
MLP_INPUT_SCALE = 4.0


def fit_mlp_tag_heads(clips: Sequence[Example], embs: Sequence[TrackEmbedding], tags: list[str],
                      extra_vocabs: dict[str, list[str]] | None = None, hidden: int = MLP_HIDDEN,
                      steps: int = MLP_STEPS, seed: int = 0, soft: bool = True) -> dict[str, torch.Tensor]:
    """Tag heads ("tags" and each extra vocabulary with targets) with one ReLU hidden layer of
    `hidden` units: "<kind>.hidden.weight" (H, E) / ".hidden.bias" and "<kind>.weight" (L, H) /
    ".bias", the layout `muser_model.core.scoring.head_logits` reads. Same targets as the probe."""
    x = _track_matrix(embs)
    heads: dict[str, torch.Tensor] = {}
    kind_seed = {kind: seed + i for i, kind in enumerate({"tags": tags, **(extra_vocabs or {})})}
    for kind, target, weight in _tag_kind_targets(clips, tags, extra_vocabs, soft):
        layers = _fit_mlp(x, target, weight, hidden, steps, kind_seed[kind])
        heads.update({f"{kind}.{name}": value for name, value in layers.items()})
    return heads


def _fit_mlp(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, hidden: int, steps: int,
             seed: int) -> dict[str, torch.Tensor]:
    """Soft BCE of a (E -> hidden -> L) ReLU network on the clips with weight > 0."""
    keep = weight.reshape(-1) > 0
    x, y, weight = x[keep] * MLP_INPUT_SCALE, y[keep], weight[keep].reshape(-1, 1)
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.ReLU(), nn.Dropout(MLP_DROPOUT),
                        nn.Linear(hidden, y.shape[1]))
    opt = torch.optim.AdamW(net.parameters(), lr=MLP_LR, weight_decay=0.0)
    draw = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(steps):
        idx = torch.randint(0, len(x), (min(MLP_BATCH, len(x)),), generator=draw)
        loss = soft_bce(net(x[idx]), y[idx], weight[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    first, last = net[0], net[3]
    return {"hidden.weight": (first.weight * MLP_INPUT_SCALE).detach().clone(),
            "hidden.bias": first.bias.detach().clone(),
            "weight": last.weight.detach().clone(), "bias": last.bias.detach().clone()}
