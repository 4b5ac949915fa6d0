"""What `muser info` reports about a loaded checkpoint."""
from __future__ import annotations

from typing import Any

from muser_model import __version__
from muser_model.runtime import LoadedModel


def describe(lm: LoadedModel) -> dict[str, Any]:
    ckpt = lm.checkpoint
    training = dict(ckpt.training)
    metrics = training.pop("metrics", {})
    return {
        "checkpoint": str(ckpt.path),
        "content_hash": ckpt.content_hash,
        "format_version": ckpt.format_version,
        "muser_version": f"{__version__} (checkpoint written by {ckpt.muser_version})",
        "device": str(lm.device),
        "config": {"name": ckpt.config.name, "embed_dim": ckpt.config.embed_dim,
                   "window_s": ckpt.config.audio.window_s, "hop_s": ckpt.config.audio.hop_s,
                   "sample_rate": ckpt.config.audio.sample_rate, "n_mels": ckpt.config.audio.n_mels},
        "parameters": lm.model.parameter_counts(),
        "text_tower": ckpt.text_tower,
        "vocabulary": {"tags": len(ckpt.tags), "genres": ", ".join(ckpt.genres),
                       "heads": ", ".join(sorted({k.split(".")[0] for k in ckpt.heads})) or "none"},
        "training": training,
        "metrics": metrics,
    }
