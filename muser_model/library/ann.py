"""hnswlib details handled in one place.

- capacity is fixed at creation: grown with `resize_index` before adding;
- `ef` is not saved with the index: set again after every load;
- distances for the 'cosine' space are 1 - cosine: turned into similarities here;
- labels are the catalogue's integer track ids; removals are `mark_deleted`, and the index is
  rebuilt (compacted) when deleted slots pile up.
The file is written to a temporary name and renamed, so a reader never sees half an index.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

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

    def save(self, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        self.index.save_index(str(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)

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
        return [(int(i), float(1.0 - d)) for i, d in zip(labels[0], distances[0])]


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
