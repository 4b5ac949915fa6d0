"""A library on disk: folder with `catalogue.sqlite`, `index-<generation>.hnsw` and a lock file."""
from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Iterator

import numpy as np

from muser_model.core.errors import BusyError, ModelError, MuserError, UsageError
from muser_model.library.ann import AnnIndex, checksum
from muser_model.library.catalogue import Catalogue, TrackRow
from muser_model.library.paths import library_dir


class LibraryError(MuserError):
    pass


class LibraryBusyError(LibraryError, BusyError):
    pass


class LibraryNotFoundError(LibraryError, UsageError):
    pass


class ModelMismatchError(LibraryError, ModelError):
    pass


@contextmanager
def _writer_lock(root: Path, name: str, wait: bool) -> Iterator[None]:
    with open(root / "lock", "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise LibraryBusyError(
                f"library {name!r} is being indexed by {holder}; "
                "wait for it or run again with --wait") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()
            fcntl.flock(f, fcntl.LOCK_UN)


def _intact(path: Path, recorded: str | None) -> bool:
    """Whether the index file still is what was written (None: saved before checksums)."""
    try:
        return recorded is None or checksum(path) == recorded
    except OSError:
        return False


class Library:
    def __init__(self, root: Path, name: str = "", readonly: bool = False) -> None:
        self.root = root
        self.name = name or root.name
        self.readonly = readonly
        self.catalogue = Catalogue(root / "catalogue.sqlite", readonly)
        self.predictor = None  # library.predict.Predictor: set by a scan, used by put_tracks
        # a long-lived reader (muser serve) keeps the vectors and the index between queries,
        # reloaded when the catalogue's generation moves; a command that queries once does not
        self.keep_in_memory = False
        self._vectors_kept: tuple[tuple, tuple] | None = None  # (key, (ids, vectors, logits))
        self._ann_kept: tuple[tuple, AnnIndex] | None = None  # (key, index)

    def put_tracks(self, rows: list[TrackRow], model_hash: str) -> None:
        """Store embedded tracks, with their predictions when a predictor is set."""
        if self.predictor is None or not rows:
            self.catalogue.put_tracks(rows, model_hash)
            return
        predictions = self.predictor(np.stack([r.vector for r in rows]))  # (N, E) in
        self.catalogue.put_tracks(rows, model_hash, predictions, self.predictor.key)

    def refresh_predictions(self, chunk: int = 512) -> int:
        """Predict, from their stored vectors, the tracks whose predictions are missing or keyed
        otherwise (a catalogue from before predictions, a changed vocabulary); how many."""
        if self.predictor is None:
            return 0
        todo = self.catalogue.ids_needing_predictions(self.model_hash, self.predictor.key)
        for start in range(0, len(todo), chunk):
            ids, vectors = self.catalogue.vectors(self.model_hash, todo[start : start + chunk].tolist())
            self.catalogue.put_predictions(dict(zip(ids.tolist(), self.predictor(vectors))), self.predictor.key)
        return len(todo)

    @classmethod
    def open(cls, name: str = "default", create: bool = False, readonly: bool = False) -> "Library":
        """The library `name`; `readonly`: for commands that only read it (nothing is written,
        so a library on a read-only mount can be searched)."""
        root = library_dir(name)
        if not (root / "catalogue.sqlite").exists():
            if not create:
                raise LibraryNotFoundError(
                    f"library {name!r} does not exist yet ({root}); build it with: muser index DIR"
                    + ("" if name == "default" else f" --library {name}"))
            root.mkdir(parents=True, exist_ok=True)
        return cls(root, name, readonly)

    def close(self) -> None:
        self.catalogue.close()

    def writer_lock(self, wait: bool = False):
        """One writer at a time; a second `muser index` waits or is refused with a clear message."""
        return _writer_lock(self.root, self.name, wait)

    @classmethod
    def set_aside(cls, name: str = "default", wait: bool = False) -> Path | None:
        """Move the library's catalogue aside (kept as `catalogue-TIME.sqlite.bad`, with its WAL)
        and drop its index files, so that the next `muser index` starts from scratch: the way out
        of a damaged catalogue. The moved file, or None when there was none."""
        root = library_dir(name)
        source = root / "catalogue.sqlite"
        if not source.exists():
            return None
        with _writer_lock(root, name, wait):
            kept = root / f"catalogue-{time.strftime('%Y%m%d-%H%M%S')}.sqlite.bad"
            for suffix in ("", "-wal", "-shm"):
                if Path(f"{source}{suffix}").exists():
                    os.replace(f"{source}{suffix}", f"{kept}{suffix}")
            for path in root.glob("index-*.hnsw*"):
                path.unlink(missing_ok=True)
        return kept

    # -- the folders it indexes ------------------------------------------------------------------
    def remember_folders(self, roots: list[Path]) -> None:
        """Add `roots` to the folders this library indexes (what `muser serve` re-indexes)."""
        known = self.catalogue.get_meta("folders")
        folders = json.loads(known) if known else []
        for root in (os.path.abspath(r) for r in roots):
            if root not in folders:
                folders.append(root)
        self.catalogue.set_meta("folders", json.dumps(folders))

    def folders(self) -> list[str]:
        """The folders `muser index` was given for this library; for a library indexed before
        they were recorded, the deepest folder that holds every catalogued file."""
        known = self.catalogue.get_meta("folders")
        if known:
            return json.loads(known)
        paths = [p for p in self.catalogue.states()]
        if not paths:
            return []
        return [os.path.dirname(paths[0]) if len(paths) == 1 else os.path.commonpath(paths)]

    # -- vectors for a long-lived reader ---------------------------------------------------------
    def vectors_with_logits(self, key: str | None, ids: set[int] | None = None,
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Catalogue.vectors_with_logits of this library's model; with keep_in_memory the whole
        set is read once per catalogue generation and `ids` picked from it."""
        if not self.keep_in_memory:
            return self.catalogue.vectors_with_logits(self.model_hash, key, ids)
        state = (self.catalogue.generation, self.model_hash, key)
        if self._vectors_kept is None or self._vectors_kept[0] != state:
            self._vectors_kept = (state, self.catalogue.vectors_with_logits(self.model_hash, key))
        all_ids, vectors, logits = self._vectors_kept[1]
        if ids is None:
            return all_ids, vectors, logits
        keep = np.isin(all_ids, np.fromiter(ids, dtype=np.int64, count=len(ids)))  # (N,)
        return all_ids[keep], vectors[keep], None if logits is None else logits[keep]

    # -- model identity -------------------------------------------------------------------------
    @property
    def model_hash(self) -> str:
        return self.catalogue.get_meta("model_hash") or ""

    def adopt_model(self, model_hash: str, dim: int) -> bool:
        """Record the checkpoint this library is embedded with; True if it changed (re-embed all)."""
        for stale in self.root.glob("text-head-*.npz"):  # query heads nothing reads: search takes
            stale.unlink(missing_ok=True)  # the text head from the checkpoint's numpy section
        old = self.model_hash
        if old == model_hash:
            return False
        self.catalogue.set_model(model_hash, dim)
        self._remove_index_files(keep=None)
        return bool(old)

    def check_model(self, model_hash: str) -> None:
        if self.model_hash and self.model_hash != model_hash:
            raise ModelMismatchError(
                f"library {self.name!r} was indexed with checkpoint {self.model_hash[:12]}, "
                f"but this one is {model_hash[:12]}: run `muser index` again to re-embed it")

    # -- ANN index ------------------------------------------------------------------------------
    def _index_file(self, generation: int) -> Path:
        return self.root / f"index-{generation}.hnsw"

    @property
    def index_generation(self) -> int:
        """The catalogue generation the saved index file holds (-1: none saved)."""
        return int(self.catalogue.get_meta("index_generation") or -1)

    def index_file(self) -> Path | None:
        """The saved index file, or None when there is none (yet)."""
        path = self._index_file(self.index_generation)
        return path if self.index_generation >= 0 and path.exists() else None

    def _remove_index_files(self, keep: Path | None) -> None:
        for path in self.root.glob("index-*.hnsw*"):
            if path != keep:
                path.unlink(missing_ok=True)

    def ann(self) -> tuple[AnnIndex, bool]:
        """The index, brought up to date with the catalogue; True if it differs from the file.
        With keep_in_memory it is loaded once per catalogue generation."""
        if not self.keep_in_memory:
            return self._load_ann()
        state = (self.catalogue.generation, self.index_generation, self.model_hash)
        if self._ann_kept is None or self._ann_kept[0] != state:
            self._ann_kept = (state, self._load_ann()[0])
        return self._ann_kept[1], False

    def _load_ann(self) -> tuple[AnnIndex, bool]:
        cat = self.catalogue
        with cat.snapshot():
            model, dim = self.model_hash, int(cat.get_meta("embed_dim") or 0)
            saved_gen = int(cat.get_meta("index_generation") or -1)
            ids = cat.ids(model)
            changes = cat.changes_since(saved_gen)
            path = self._index_file(saved_gen)
            recorded = cat.get_meta("index_checksum")
            ann = None
            if saved_gen >= 0 and path.exists() and _intact(path, recorded):
                try:
                    ann = AnnIndex.load(path, dim, set(ids.tolist()))
                except (RuntimeError, OSError):  # unreadable index file: rebuilt below
                    ann = None
            if ann is None or (changes and ann.needs_compaction()):
                return AnnIndex.build(*cat.vectors(model), dim), True
            if not changes:
                return ann, recorded is None  # a file saved before checksums: the next sync records one
            # deletions are already applied: load() marks every label the catalogue no longer has
            ann.put(*cat.vectors(model, {tid for tid, op in changes if op == "put"}))
        return ann, True

    def sync_index(self) -> AnnIndex:
        """Write the index for the catalogue's current generation (atomically) and prune old ones."""
        generation = self.catalogue.generation
        ann, changed = self.ann()
        target = self._index_file(generation)
        if changed or not target.exists():
            written = ann.save(target)
            with self.catalogue.transaction() as db:
                self.catalogue.set_meta("index_generation", str(generation), db)
                self.catalogue.set_meta("index_checksum", written, db)
            self.catalogue.forget_changes(generation)
            self._remove_index_files(keep=target)
        return ann
