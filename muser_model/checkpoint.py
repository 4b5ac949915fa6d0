"""One-file, self-describing checkpoints.

Layout: an 8-byte magic, a little-endian uint32 format version, a uint64 payload length, the
payload's SHA-256 (32 bytes), then the payload: a `torch.save` of a dict holding the config,
weights, vocabularies, templates, text-tower identity, label embeddings and training record.
The header lets a truncated, foreign or newer file be told apart before unpickling anything,
and the payload hash is the checkpoint's identity (`content_hash`).
"""
from __future__ import annotations

import hashlib
import io
import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from importlib import resources
from typing import TYPE_CHECKING, Any

from muser_model import __version__
from muser_model.config import ModelConfig
from muser_model.errors import (CheckpointNotFoundError, CheckpointVersionError,
                                CorruptCheckpointError, ForeignCheckpointError)

if TYPE_CHECKING:
    import torch

MAGIC = b"MUSERCK\x00"
DEFAULT_CHECKPOINT_NAME = "default.muser"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<8sIQ32s")


@dataclass
class Checkpoint:
    config: ModelConfig
    state_dict: dict[str, torch.Tensor]
    tags: list[str]
    genres: list[str]
    templates: dict[str, str]
    text_tower: dict[str, Any]
    label_embeddings: dict[str, torch.Tensor] = field(default_factory=dict)  # "tags"/"genres" -> (L, E)
    heads: dict[str, torch.Tensor] = field(default_factory=dict)  # "<name>.weight"/".bias"
    training: dict[str, Any] = field(default_factory=dict)  # corpus, time, metrics
    muser_version: str = __version__
    content_hash: str = ""  # filled in on save/load
    format_version: int = FORMAT_VERSION
    path: Path | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "format": "muser-checkpoint",
            "config": self.config.to_dict(),
            "state_dict": self.state_dict,
            "vocab": {"tags": list(self.tags), "genres": list(self.genres)},
            "templates": dict(self.templates),
            "text_tower": dict(self.text_tower),
            "label_embeddings": self.label_embeddings,
            "heads": self.heads,
            "training": self.training,
            "muser_version": self.muser_version,
        }


def default_checkpoint_path() -> Path:
    """The checkpoint shipped inside the package; `MUSER_CHECKPOINT` overrides it."""
    override = os.environ.get("MUSER_CHECKPOINT")
    if override:
        return Path(override).expanduser()
    return Path(str(resources.files("muser_model") / "checkpoints" / DEFAULT_CHECKPOINT_NAME))


def checkpoint_hash(path: str | Path) -> str:
    """The content hash from the header alone (no torch import, no payload read)."""
    return read_header(Path(path))[2].hex()


def save_checkpoint(ckpt: Checkpoint, path: str | Path) -> str:
    """Write atomically (temp file + rename); returns the content hash."""
    import torch

    buffer = io.BytesIO()
    torch.save(ckpt.payload(), buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).digest()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_HEADER.pack(MAGIC, FORMAT_VERSION, len(payload), digest))
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    ckpt.content_hash = digest.hex()
    return ckpt.content_hash


def read_header(path: Path) -> tuple[int, int, bytes]:
    if not path.is_file():
        raise CheckpointNotFoundError(path)
    with open(path, "rb") as f:
        head = f.read(_HEADER.size)
    if len(head) >= 8 and head[:8] != MAGIC:
        hint = "a plain PyTorch/zip file" if head[:2] == b"PK" else "unknown header"
        raise ForeignCheckpointError(path, hint)
    if len(head) < _HEADER.size:
        raise CorruptCheckpointError(path, f"only {len(head)} bytes")
    _, version, length, digest = _HEADER.unpack(head)
    if version > FORMAT_VERSION:
        raise CheckpointVersionError(path, f"format {version}, this muser reads up to {FORMAT_VERSION}; upgrade muser")
    return version, length, digest


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    import torch

    path = Path(path)
    version, length, digest = read_header(path)
    with open(path, "rb") as f:
        f.seek(_HEADER.size)
        payload = f.read(length + 1)
    if len(payload) != length:
        raise CorruptCheckpointError(path, f"truncated: {len(payload)} of {length} payload bytes"
                                     if len(payload) < length else "trailing bytes after payload")
    if hashlib.sha256(payload).digest() != digest:
        raise CorruptCheckpointError(path, "content hash mismatch")
    try:
        data = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
        ckpt = _from_payload(data)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CorruptCheckpointError(path, f"unreadable payload: {exc}") from exc
    ckpt.content_hash, ckpt.path, ckpt.format_version = digest.hex(), path, version
    return ckpt


def _from_payload(data: dict[str, Any]) -> Checkpoint:
    if data.get("format") != "muser-checkpoint":
        raise ValueError("payload is not a muser checkpoint")
    return Checkpoint(
        config=ModelConfig.from_dict(data["config"]),
        state_dict=data["state_dict"],
        tags=list(data["vocab"]["tags"]),
        genres=list(data["vocab"]["genres"]),
        templates=dict(data["templates"]),
        text_tower=dict(data["text_tower"]),
        label_embeddings=dict(data.get("label_embeddings", {})),
        heads=dict(data.get("heads", {})),
        training=dict(data.get("training", {})),
        muser_version=data.get("muser_version", "unknown"),
    )
