"""Saving checkpoints: the torch payload and the numpy section built from the torch weights.

`muser_model.core.checkpoint` owns the file format and writes the bytes it is given; the torch
knowledge lives here (state-dict names, BatchNorm folding, the torch log-mel's filters), so the
reading side (`core.checkpoint`, `numpy_engine.audio`) never imports torch.

    python -m muser_model.torch_engine.checkpoint_export upgrade PATH [PATH ...]   # newest format
"""
from __future__ import annotations

import hashlib
import io
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from muser_model.core import checkpoint as fmt
from muser_model.core.checkpoint import Checkpoint, load_checkpoint, pack_arrays, write_checkpoint
from muser_model.core.config import ModelConfig
from muser_model.core.errors import CheckpointExportError, CheckpointUpgradeError
from muser_model.torch_engine.features import LogMel

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



def save_checkpoint(ckpt: Checkpoint, path: str | Path, torch_only: bool = False) -> str:
    """Write atomically (temp file + rename) in the newest format; returns the content hash.

    Raises CheckpointExportError (nothing written) when the numpy section cannot be built from
    the weights, e.g. weights that do not fit the config; `torch_only` writes no numpy section
    on purpose (tagging then runs on torch only).
    """
    path = Path(path)
    section = b"" if torch_only else numpy_section(ckpt, path)
    buffer = io.BytesIO()
    torch.save(ckpt.payload(), buffer)
    return write_checkpoint(path, buffer.getvalue(), section, ckpt)


def numpy_section(ckpt: Checkpoint, path: str | Path | None = None) -> bytes:
    """The torch-free section of a checkpoint (see `core.checkpoint`). Raises
    CheckpointExportError naming `path` (else the checkpoint's own) when the weights do not
    fit the config."""
    try:
        meta, arrays = export_arrays(ckpt)
    except (KeyError, ValueError, IndexError) as exc:
        detail = f"missing weight {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise CheckpointExportError(path or ckpt.path or "<unsaved checkpoint>", detail) from exc
    return pack_arrays(meta, arrays)


def upgrade_checkpoint(path: str | Path, out: str | Path | None = None) -> tuple[int, str]:
    """Rewrite `path` (or write `out`) in the newest format; returns (old version, content hash).

    The torch payload is copied byte for byte, so weights and the content hash do not change.
    """
    path = Path(path)
    layout, payload = fmt.read_payload(path)
    ckpt = load_checkpoint(path)
    target = Path(out) if out else path
    digest = hashlib.sha256(payload).hexdigest()
    if digest != layout.payload_digest.hex():  # read_payload checked it: a bug, not a bad file
        raise CheckpointUpgradeError(path, f"payload hash {digest[:16]} != header {layout.payload_digest.hex()[:16]}")
    return layout.version, write_checkpoint(target, payload, numpy_section(ckpt, path))


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m muser_model.torch_engine.checkpoint_export")
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("upgrade", help="rewrite checkpoints in the newest format (same weights and hash)")
    up.add_argument("paths", nargs="+", type=Path)
    args = ap.parse_args(argv)
    for p in args.paths:
        old, digest = upgrade_checkpoint(p)
        print(f"{p}: format {old} -> {fmt.FORMAT_VERSION}, content hash {digest[:16]} (unchanged)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
