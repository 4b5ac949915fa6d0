"""A checkpoint's reference set: track vectors of real clips that calibrate its heads.

`core.grounding` standardises every head output, axis and text score over these vectors, so that
heads with different base rates weigh alike. They live beside the checkpoint, in
`NAME.reference.npz` (`vectors` (R, E) float16, `checkpoint_hash`, `source`), not inside it: the
checkpoint's content hash keys every library's stored vectors, and calibration data must not force a
re-index. A file made for another checkpoint is ignored (its hash says so).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

SUFFIX = ".reference.npz"


@dataclass
class Reference:
    vectors: np.ndarray  # (R, E) float32, unit rows
    source: str  # what the clips are, for `muser info` and --explain


def reference_path(checkpoint: str | Path) -> Path:
    path = Path(checkpoint)
    return path.with_name(path.stem + SUFFIX)


def load_reference(checkpoint: str | Path, content_hash: str) -> Reference | None:
    """The reference set of the checkpoint whose hash is `content_hash`; None when there is none,
    or it belongs to another checkpoint, or it does not read."""
    path = reference_path(checkpoint)
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            if str(data["checkpoint_hash"]) != content_hash:
                return None
            return Reference(data["vectors"].astype(np.float32), str(data["source"]))
    except (OSError, KeyError, ValueError):
        return None


def write_reference(checkpoint: str | Path, content_hash: str, vectors: np.ndarray, source: str) -> Path:
    """Store `vectors` (R, E) as the checkpoint's reference set (float16, atomically)."""
    path = reference_path(checkpoint)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, vectors=np.asarray(vectors, np.float16), checkpoint_hash=np.array(content_hash),
                        source=np.array(source))
    tmp.replace(path)
    return path
