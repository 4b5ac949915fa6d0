"""hnswlib details handled in one place.

- capacity is fixed at creation: grown with `resize_index` before adding;
- `ef` is not saved with the index: set again after every load;
- distances for the 'cosine' space are 1 - cosine: turned into similarities here;
- labels are the catalogue's integer track ids; removals are `mark_deleted`, and the index is
  rebuilt (compacted) when deleted slots pile up.
The file is written to a temporary name, read back (hnswlib writes a short file without a word
when the disk fills) and renamed, so a reader never sees half an index; its size and CRC-32
(`checksum`) go to the catalogue, and a file that no longer matches them is never loaded (a
damaged index can crash hnswlib or make it return NaN scores).
"""
from __future__ import annotations

import errno
import math
import os
import zlib
from pathlib import Path

import numpy as np

from muser_model.core.errors import DiskFullError, StorageError

M = 16
EF_CONSTRUCTION = 200
EF_SEARCH = 128
COMPACT_FRACTION = 0.25


class AnnIndex:
    def __init__(self, dim: int, capacity: int = 1024) -> None:
        import hnswlib

        self.dim = dim
        self.index = hnswlib.Index(space="cosine", dim=dim)
        self.index.init_index(max_elements=max(capacity, 16), ef_construction=EF_CONSTRUCTION, M=M)
        self.index.set_ef(EF_SEARCH)
        self.deleted: set[int] = set()

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, dim: int) -> "AnnIndex":
        ann = cls(dim, capacity=int(len(ids) * 1.25) + 16)
        if len(ids):
            ann.index.add_items(vectors, ids, num_threads=-1)
        return ann

    @classmethod
    def load(cls, path: Path, dim: int, valid_ids: set[int]) -> "AnnIndex":
        """Load a saved index; labels not in `valid_ids` count as (and are marked) deleted."""
        import hnswlib

        ann = cls.__new__(cls)
        ann.dim = dim
        ann.index = hnswlib.Index(space="cosine", dim=dim)
        ann.index.load_index(str(path))
        ann.index.set_ef(EF_SEARCH)  # ef is not stored in the file
        ann.deleted = set()
        ann.delete([i for i in ann.index.get_ids_list() if i not in valid_ids])
        return ann

    def save(self, path: Path) -> str:
        """Write the index to `path`, atomically and read back; its checksum. Raises
        DiskFullError or StorageError (the old file, if any, stays)."""
        tmp = path.with_name(path.name + ".tmp")
        try:
            self.index.save_index(str(tmp))
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            self._check_written(tmp)
            written = checksum(tmp)
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise (DiskFullError(path) if exc.errno == errno.ENOSPC else StorageError(f"{path}: {exc}")) from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return written

    def _check_written(self, tmp: Path) -> None:
        import hnswlib

        copy = hnswlib.Index(space="cosine", dim=self.dim)
        try:
            copy.load_index(str(tmp))
            complete = copy.get_current_count() == self.index.get_current_count()
        except RuntimeError:  # "Index seems to be corrupted": a short file
            complete = False
        if not complete:
            raise OSError(errno.ENOSPC if _disk_nearly_full(tmp) else errno.EIO, "index file written incomplete")

    @property
    def size(self) -> int:
        return self.index.get_current_count() - len(self.deleted)

    def needs_compaction(self) -> bool:
        total = self.index.get_current_count()
        return total > 64 and len(self.deleted) > COMPACT_FRACTION * total

    def put(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add or replace vectors (an id marked deleted comes back to life)."""
        if not len(ids):
            return
        need = self.index.get_current_count() + len(ids)
        if need > self.index.get_max_elements():
            self.index.resize_index(max(need, int(self.index.get_max_elements() * 1.5)))
        for i in ids:
            if int(i) in self.deleted:
                self.index.unmark_deleted(int(i))
                self.deleted.discard(int(i))
        self.index.add_items(vectors, ids)

    def delete(self, ids: list[int]) -> None:
        for i in ids:
            if i not in self.deleted:
                try:
                    self.index.mark_deleted(i)
                except RuntimeError as exc:  # never added, or deleted before this load
                    if "already deleted" not in str(exc):
                        continue
                self.deleted.add(i)

    def query(self, vector: np.ndarray, k: int, allowed: set[int] | None = None,
              ) -> list[tuple[int, float]]:
        """[(id, cosine similarity)] best first; `allowed` restricts the ids considered."""
        k = min(k, self.size if allowed is None else min(self.size, len(allowed)))
        if k <= 0:
            return []
        self.index.set_ef(max(EF_SEARCH, k))
        flt = None if allowed is None else (lambda label: label in allowed)
        labels, distances = self.index.knn_query(vector[None].astype(np.float32), k=k, filter=flt)
        hits = [(int(i), float(1.0 - d)) for i, d in zip(labels[0], distances[0])]
        return [(i, score) for i, score in hits if math.isfinite(score)]  # NaN: a zero or damaged vector


    def neighbours(self, vectors: np.ndarray, k: int, ef: int = EF_SEARCH) -> tuple[np.ndarray, np.ndarray]:
        """(labels (N, k'), cosine similarities (N, k')) of the k' = min(k, size) nearest stored
        vectors of each of `vectors` (N, E), best first, in one batched query searching with `ef`
        (smaller: faster, fewer far neighbours found)."""
        k = min(k, self.size)
        if k <= 0 or not len(vectors):
            return np.zeros((len(vectors), 0), np.int64), np.zeros((len(vectors), 0), np.float32)
        self.index.set_ef(max(ef, k))
        try:
            labels, distances = self.index.knn_query(np.asarray(vectors, dtype=np.float32), k=k, num_threads=-1)
        finally:
            self.index.set_ef(EF_SEARCH)
        return labels.astype(np.int64), (1.0 - distances).astype(np.float32)


def checksum(path: Path) -> str:
    """`SIZE:CRC32` of a file: what the catalogue records for an index file it wrote."""
    crc, size = 0, 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            crc, size = zlib.crc32(chunk, crc), size + len(chunk)
    return f"{size}:{crc:08x}"


def _disk_nearly_full(path: Path) -> bool:
    import shutil

    return shutil.disk_usage(path.parent).free < (64 << 20)
