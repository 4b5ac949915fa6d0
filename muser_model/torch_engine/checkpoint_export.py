"""Writing a checkpoint's numpy section from its torch weights (save time; imports torch).

The reading side, `muser_model.core.checkpoint` and `muser_model.numpy_engine.audio`, never imports this
module's torch knowledge: state-dict names, BatchNorm folding, the torch log-mel's filters.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from muser_model.core.config import ModelConfig
from muser_model.torch_engine.features import LogMel

if TYPE_CHECKING:  # core/checkpoint.py imports this module when saving
    from muser_model.core.checkpoint import Checkpoint

TEXT_PROJECTION = ("text_proj.0.weight", "text_proj.0.bias", "text_proj.3.weight", "text_proj.3.bias")
_BN_PARTS = ("weight", "bias", "running_mean", "running_var")


def export_arrays(ckpt: Checkpoint) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(meta, arrays) for a checkpoint's numpy section: eval-mode audio towers with BatchNorm
    folded, projections, heads and prompt embeddings of every kind ("tags", "genres", "msd", ...),
    mel filters, text head (frozen tower only), the vocabulary table in the meta. Raises
    VocabularyError for a table that does not fit the tags, heads or prompt embeddings."""
    cfg: ModelConfig = ckpt.config
    ckpt.checked_tag_kinds()  # VocabularyError (a ValueError) for a table that does not fit
    sd = {k: v.detach().cpu().double().numpy() for k, v in ckpt.state_dict.items()
          if not k.startswith("text_encoder.")}
    out: dict[str, np.ndarray] = {}

    def bn(prefix: str) -> tuple[np.ndarray, np.ndarray]:
        g, b, mean, var = (sd[f"{prefix}.{p}"] for p in _BN_PARTS)
        scale = g / np.sqrt(var + 1e-5)  # nn.BatchNorm default eps
        return scale, b - mean * scale

    def conv_bn(conv: str, norm: str, name: str) -> None:
        scale, shift = bn(norm)
        w = sd[f"{conv}.weight"]
        out[f"{name}.weight"] = w * scale.reshape(-1, *([1] * (w.ndim - 1)))
        out[f"{name}.bias"] = shift

    def blocks(tower: str, n: int) -> None:
        for i in range(n):
            p = f"{tower}.blocks.{i}"
            conv_bn(f"{p}.conv1", f"{p}.bn1", f"{p}.conv1")
            conv_bn(f"{p}.conv2", f"{p}.bn2", f"{p}.conv2")
            if f"{p}.skip.weight" in sd:
                out[f"{p}.skip.weight"] = sd[f"{p}.skip.weight"]

    out["wave.front.weight"] = sd["wave_encoder.front.conv.weight"]
    out["wave.front.scale"], out["wave.front.shift"] = bn("wave_encoder.front.norm")
    blocks("wave_encoder", len(cfg.waveform.channels))
    logmel = LogMel(cfg.audio)
    out["spec.filters"] = logmel.filters.double().numpy()
    out["spec.window"] = logmel.window.double().numpy()
    out["spec.input.scale"], out["spec.input.shift"] = bn("spec_encoder.input_norm")
    blocks("spec_encoder", len(cfg.spectrogram.channels))
    for proj in ("wave_proj", "spec_proj"):
        for i in (0, 3):
            for part in ("weight", "bias"):
                out[f"{proj}.{i}.{part}"] = sd[f"{proj}.{i}.{part}"]
    if cfg.text.trainable_layers == 0:  # the numpy MiniLM reproduces a frozen tower only
        out.update({k: sd[k] for k in TEXT_PROJECTION})
    for name, value in ckpt.heads.items():
        out[f"heads.{name}"] = value.detach().cpu().double().numpy()
    for name, value in ckpt.label_embeddings.items():
        out[f"label_embeddings.{name}"] = value.detach().cpu().double().numpy()
    arrays = {k: v.astype(np.float32) for k, v in out.items()}
    # the zero-shot logit scale exactly as inference.TorchEngine computes it (float32 maths in torch)
    log_scales = ckpt.state_dict["log_scales"].detach().cpu().float()
    scales = log_scales.exp().clamp(1.0, cfg.logit_scale_max)
    meta = {
        "config": cfg.to_dict(),
        "tags": list(ckpt.tags),
        "genres": list(ckpt.genres),
        "vocabularies": dict(ckpt.vocabularies),  # the table; {} for a checkpoint without one
        "templates": dict(ckpt.templates),
        "text_tower": dict(ckpt.text_tower),
        "muser_version": ckpt.muser_version,
        "zero_shot_scale": float((scales[1] + scales[2]) / 2),  # PAIRS: wave_text, spec_text
    }
    return meta, arrays

