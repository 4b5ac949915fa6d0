"""One-file, self-describing checkpoints.

Format 1: an 8-byte magic, a little-endian uint32 format version, a uint64 payload length, the
payload's SHA-256 (32 bytes), then the payload: a `torch.save` of a dict holding the config,
weights, vocabularies, templates, text-tower identity, label embeddings and training record.

Format 2 (what `write_checkpoint` writes) adds a numpy section that tagging reads without
importing torch. After the format-1 header comes a second one, a uint64 section length and the
section's SHA-256, then the numpy section, then the same `torch.save` payload:

    <8s magic><u32 version=2><u64 payload length><32s payload SHA-256>
    <u64 numpy length><32s numpy SHA-256>
    numpy section  (see `pack_arrays`: magic, JSON manifest, 64-byte aligned raw little-endian arrays)
    torch payload

The numpy section holds the config, vocabularies, templates, text-tower identity and, for
tagging, the audio towers with BatchNorm folded into the convolutions (eval mode), the
projections, heads, prompt embeddings and the zero-shot scale (`muser_model.numpy_engine.audio`).
It is derived from the payload, so the checkpoint's identity (`content_hash`, stored by library
catalogues) stays the SHA-256 of the torch payload: `upgrade` (format 1 -> 2) keeps the payload
bytes and therefore the hash; libraries are not re-embedded. Both digests are checked on every
full load, and the numpy digest whenever the numpy section is read.

The header lets a truncated, foreign or newer file be told apart before unpickling anything.
This module reads and writes the format; building the payload and the numpy section from torch
weights (`save_checkpoint`, `upgrade_checkpoint`) is the torch engine's
(`muser_model.torch_engine.checkpoint_export`), so core never imports it.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from muser_model import __version__
from muser_model.core import vocab_groups
from muser_model.core.config import ModelConfig
from muser_model.core.errors import (CheckpointFormatTooOldError, CheckpointNotFoundError, CheckpointVersionError,
                                     CorruptCheckpointError, ForeignCheckpointError, VocabularyError)
from muser_model.core.hardware import require_torch

if TYPE_CHECKING:
    import torch

MAGIC = b"MUSERCK\x00"
DEFAULT_CHECKPOINT_NAME = "default.muser"
FORMAT_VERSION = 2
_HEADER = struct.Struct("<8sIQ32s")
_NUMPY_HEADER = struct.Struct("<Q32s")  # format >= 2: numpy section length and SHA-256
NUMPY_MAGIC = b"MUSERNP\x00"
_ALIGN = 64


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
    # the vocabulary table (vocab_groups.to_dict form): groups and origin of every tag kind's
    # labels; empty for a checkpoint without a table (MTT only, see vocab_groups.tag_kinds)
    vocabularies: dict[str, Any] = field(default_factory=dict)
    muser_version: str = __version__
    content_hash: str = ""  # filled in on save/load
    format_version: int = FORMAT_VERSION
    path: Path | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "format": "muser-checkpoint",
            "config": self.config.to_dict(),
            "state_dict": self.state_dict,
            "vocab": self._vocab_payload(),
            "templates": dict(self.templates),
            "text_tower": dict(self.text_tower),
            "label_embeddings": self.label_embeddings,
            "heads": self.heads,
            "training": self.training,
            "muser_version": self.muser_version,
        }

    def _vocab_payload(self) -> dict[str, Any]:
        vocab: dict[str, Any] = {"tags": list(self.tags), "genres": list(self.genres)}
        if self.vocabularies:  # absent, not empty, in a checkpoint without a table
            vocab["table"] = self.vocabularies
        return vocab

    def tag_kinds(self) -> dict[str, vocab_groups.Vocabulary]:
        """Tag kind -> Vocabulary: "tags" (MTT) first, then "msd" etc. when the table has them."""
        return vocab_groups.tag_kinds(self.vocabularies, self.tags)

    def checked_tag_kinds(self) -> dict[str, vocab_groups.Vocabulary]:
        """`tag_kinds`, each head and prompt embedding checked to have one row per label of its
        kind; VocabularyError if not (or for a malformed table)."""
        shapes = {**{name: tuple(value.shape) for name, value in self.heads.items()},
                  **{f"label_embeddings.{name}": tuple(value.shape) for name, value in self.label_embeddings.items()}}
        return vocab_groups.checked_tag_kinds(self.vocabularies, self.tags, shapes)

    def tag_vocabularies(self) -> dict[str, list[str]]:
        """Tag kind -> labels in output order, e.g. {"tags": [50 MTT tags], "msd": [50 MSD tags]}."""
        return {kind: list(vocab.labels) for kind, vocab in self.tag_kinds().items()}

    @staticmethod
    def vocab_name(kind: str) -> str:
        """The vocabulary of a tag kind: "tags" -> "mtt", "msd" -> "msd"."""
        return vocab_groups.vocab_name(kind)


def default_checkpoint_path() -> Path:
    """The checkpoint shipped inside the package; `MUSER_CHECKPOINT` overrides it."""
    override = os.environ.get("MUSER_CHECKPOINT")
    if override:
        return Path(override).expanduser()
    return Path(str(resources.files("muser_model") / "checkpoints" / DEFAULT_CHECKPOINT_NAME))


def checkpoint_hash(path: str | Path) -> str:
    """The content hash from the header alone (no torch import, no payload read)."""
    return read_header(Path(path))[2].hex()


def write_checkpoint(path: Path, payload: bytes, section: bytes, ckpt: Checkpoint | None = None) -> str:
    """Write a torch payload (a `torch.save` of `Checkpoint.payload()`) and its numpy section
    (b"": none) atomically (temp file + rename) in the newest format; returns the content hash.
    The engine that owns the weights builds both (`torch_engine.checkpoint_export`)."""
    digest = hashlib.sha256(payload).digest()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # keep the mode of a file rewritten in place, else the usual umask'ed 0666
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(_HEADER.pack(MAGIC, FORMAT_VERSION, len(payload), digest))
            f.write(_NUMPY_HEADER.pack(len(section), hashlib.sha256(section).digest()))
            f.write(section)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if ckpt is not None:
        ckpt.content_hash, ckpt.format_version = digest.hex(), FORMAT_VERSION
    return digest.hex()


def pack_arrays(meta: dict[str, Any], arrays: dict[str, Any]) -> bytes:
    """magic, uint32 manifest length, JSON manifest ({"meta", "arrays": name -> dtype, shape,
    offset}), zero padding to 64 bytes, then each array's raw little-endian bytes at a 64-byte
    aligned offset (relative to the data start). Deterministic: same input, same bytes."""
    index, blobs, offset = {}, [], 0
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        index[name] = {"dtype": a.dtype.str, "shape": list(a.shape), "offset": offset}
        raw = a.tobytes()
        pad = -len(raw) % _ALIGN
        blobs.append(raw + b"\0" * pad)
        offset += len(raw) + pad
    manifest = json.dumps({"meta": meta, "arrays": index}, sort_keys=True).encode()
    head = NUMPY_MAGIC + struct.pack("<I", len(manifest)) + manifest
    head += b"\0" * (-len(head) % _ALIGN)
    return head + b"".join(blobs)


def unpack_arrays(section: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """Inverse of pack_arrays: (meta, name -> read-only numpy array viewing `section`)."""
    if section[:8] != NUMPY_MAGIC:
        raise ValueError("numpy section has no magic")
    (n,) = struct.unpack_from("<I", section, 8)
    manifest = json.loads(section[12:12 + n])
    start = 12 + n + (-(12 + n) % _ALIGN)
    arrays = {}
    for name, spec in manifest["arrays"].items():
        dtype = np.dtype(spec["dtype"])
        count = int(np.prod(spec["shape"], dtype=np.int64))
        arrays[name] = np.frombuffer(section, dtype, count, start + spec["offset"]).reshape(spec["shape"])
    return manifest["meta"], arrays


def read_header(path: Path) -> tuple[int, int, bytes]:
    """(format version, torch payload length, payload SHA-256) from the first header."""
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
    if version < 1:
        raise CorruptCheckpointError(path, f"format {version} does not exist")
    return version, length, digest


@dataclass(frozen=True)
class _Layout:
    version: int
    payload_length: int
    payload_digest: bytes
    numpy_length: int = 0  # 0: no numpy section (format 1)
    numpy_digest: bytes = b""

    @property
    def numpy_offset(self) -> int:
        return _HEADER.size + _NUMPY_HEADER.size

    @property
    def payload_offset(self) -> int:
        return self.numpy_offset + self.numpy_length if self.version >= 2 else _HEADER.size


def _read_layout(path: Path) -> _Layout:
    version, length, digest = read_header(path)
    if version < 2:
        return _Layout(version, length, digest)
    with open(path, "rb") as f:
        f.seek(_HEADER.size)
        ext = f.read(_NUMPY_HEADER.size)
    if len(ext) < _NUMPY_HEADER.size:
        raise CorruptCheckpointError(path, f"truncated: only {_HEADER.size + len(ext)} bytes")
    n_len, n_digest = _NUMPY_HEADER.unpack(ext)
    return _Layout(version, length, digest, n_len, n_digest)


def _read_exact(path: Path, f, offset: int, length: int, what: str, digest: bytes,
                last: bool = False) -> bytes:
    f.seek(offset)
    data = f.read(length + 1 if last else length)
    if len(data) < length:
        raise CorruptCheckpointError(path, f"truncated: {len(data)} of {length} {what} bytes")
    if len(data) > length:
        raise CorruptCheckpointError(path, "trailing bytes after payload")
    if hashlib.sha256(data).digest() != digest:
        raise CorruptCheckpointError(path, f"content hash mismatch ({what})")
    return data


def has_numpy_section(path: str | Path) -> bool:
    """True when the file carries the torch-free section (format >= 2); reads the header only."""
    return _read_layout(Path(path)).numpy_length > 0


def load_numpy_section(path: str | Path) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(meta, arrays, content hash) of a format-2 file's numpy section, without importing torch.

    Raises CheckpointFormatTooOldError for a format-1 file (run `upgrade`), the usual typed errors
    for a missing, foreign, truncated or corrupt one.
    """
    path = Path(path)
    layout = _read_layout(path)
    if layout.numpy_length == 0 and layout.version < 2:
        raise CheckpointFormatTooOldError(path, f"run python -m muser_model.torch_engine.checkpoint_export upgrade {path}")
    if layout.numpy_length == 0:
        raise CorruptCheckpointError(path, "no numpy section (saved torch-only)")
    with open(path, "rb") as f:
        section = _read_exact(path, f, layout.numpy_offset, layout.numpy_length, "numpy section",
                              layout.numpy_digest)
        f.seek(0, os.SEEK_END)
        if f.tell() != layout.payload_offset + layout.payload_length:
            raise CorruptCheckpointError(path, f"file is {f.tell()} bytes, header says "
                                         f"{layout.payload_offset + layout.payload_length}")
    try:
        meta, arrays = unpack_arrays(section)
    except (KeyError, TypeError, ValueError, struct.error) as exc:
        raise CorruptCheckpointError(path, f"unreadable numpy section: {exc}") from exc
    return meta, arrays, layout.payload_digest.hex()


def text_projection(path: str | Path) -> dict[str, np.ndarray] | None:
    """The text tower's projection head (`text_proj.*`, float32) from a format-2 checkpoint's
    numpy section, without torch: what `muser search` needs beside the frozen MiniLM. None when
    the checkpoint fine-tuned its text tower (the section then carries no text head). Raises
    the typed checkpoint errors of `load_numpy_section`."""
    _, arrays, _ = load_numpy_section(path)
    head = {name: value for name, value in arrays.items() if name.startswith("text_proj.")}
    return head or None


def read_payload(path: Path) -> tuple[_Layout, bytes]:
    """(layout, torch payload bytes), both digests checked."""
    layout = _read_layout(path)
    with open(path, "rb") as f:
        if layout.numpy_length:
            _read_exact(path, f, layout.numpy_offset, layout.numpy_length, "numpy section",
                        layout.numpy_digest)
        payload = _read_exact(path, f, layout.payload_offset, layout.payload_length, "payload",
                              layout.payload_digest, last=True)
    return layout, payload


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    require_torch("a checkpoint's torch weights")
    import torch  # the payload is a torch.save; the header and numpy section are read without it

    path = Path(path)
    layout, payload = read_payload(path)
    version, digest = layout.version, layout.payload_digest
    try:
        data = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
        ckpt = _from_payload(data)
    except VocabularyError as exc:
        raise CorruptCheckpointError(path, f"bad vocabulary table: {exc}") from exc
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CorruptCheckpointError(path, f"unreadable payload: {exc}") from exc
    ckpt.content_hash, ckpt.path, ckpt.format_version = digest.hex(), path, version
    return ckpt


def _from_payload(data: dict[str, Any]) -> Checkpoint:
    if data.get("format") != "muser-checkpoint":
        raise ValueError("payload is not a muser checkpoint")
    ckpt = Checkpoint(
        config=ModelConfig.from_dict(data["config"]),
        state_dict=data["state_dict"],
        tags=list(data["vocab"]["tags"]),
        genres=list(data["vocab"]["genres"]),
        templates=dict(data["templates"]),
        text_tower=dict(data["text_tower"]),
        label_embeddings=dict(data.get("label_embeddings", {})),
        heads=dict(data.get("heads", {})),
        training=dict(data.get("training", {})),
        vocabularies=dict(data["vocab"].get("table") or {}),
        muser_version=data.get("muser_version", "unknown"),
    )
    ckpt.checked_tag_kinds()
    return ckpt
