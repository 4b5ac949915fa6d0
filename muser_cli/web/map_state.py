"""The page's music map: the library's 2-D layout (library.projection) as the JSON the page draws,
computed in a thread of its own once per catalogue generation, so that searches never wait on it.
"""
from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass

from muser_model.library.store import Library


@dataclass(frozen=True)
class MapBody:
    plain: bytes
    zipped: bytes


class MapState:
    def __init__(self, library: str, generation: Callable[[], int]) -> None:
        self.library = library
        self.generation = generation  # the catalogue's generation now (read on the library thread)
        self._lock = threading.Lock()
        self._ready: tuple[int, MapBody] | None = None  # (generation, JSON body)
        self._computing: int | None = None
        self._done = 0.0
        self.error = ""

    def get(self) -> tuple[MapBody | None, float]:
        """(the JSON body for the current generation, or None while it is computed; progress)."""
        wanted = self.generation()
        with self._lock:
            if self._ready is not None and self._ready[0] == wanted:
                return self._ready[1], 1.0
            if self._computing != wanted:
                self._computing, self._done, self.error = wanted, 0.0, ""
                threading.Thread(target=self._compute, args=(wanted,), name="muser-map", daemon=True).start()
            return None, self._done

    def _compute(self, generation: int) -> None:
        try:
            plain = map_json(_open(self.library), self._progress)
            body = MapBody(plain, gzip.compress(plain, 6))
        except Exception as exc:  # noqa: BLE001  reported by the page, the server carries on
            with self._lock:
                self.error, self._computing = f"the map could not be computed: {exc}", None
            return
        with self._lock:
            self._ready, self._computing = (generation, body), None

    def _progress(self, done: float) -> None:
        self._done = float(done)


def _open(library: str) -> Library:
    """The library opened so that its layout can be saved beside it; read-only where it cannot."""
    from muser_model.core.errors import StorageError

    try:
        return Library.open(library)
    except StorageError:
        return Library.open(library, readonly=True)


def map_json(lib: Library, on_progress: Callable[[float], None] | None = None) -> bytes:
    """The map of `lib` as the page reads it: parallel arrays, one entry per track."""
    from muser_model.library.projection import map_layout

    try:
        layout = map_layout(lib, on_progress)
        labels = lib.catalogue.labels()
    finally:
        lib.close()
    keep = [i for i, track_id in enumerate(layout.ids.tolist()) if track_id in labels]
    ids = [int(layout.ids[i]) for i in keep]
    genres = sorted({labels[t][2] for t in ids if labels[t][2]})
    genre_index = {g: k for k, g in enumerate(genres)}
    body = {
        "generation": layout.generation, "count": len(ids), "ids": ids,
        "x": [round(float(layout.xy[i, 0]), 4) for i in keep],
        "y": [round(float(layout.xy[i, 1]), 4) for i in keep],
        "genres": genres,
        "genre": [genre_index.get(labels[t][2], -1) for t in ids],
        "energy": [-1 if labels[t][3] is None else round(float(labels[t][3]), 3) for t in ids],
        "labels": [labels[t][0] for t in ids],
    }
    # ASCII: a file name that is not UTF-8 (held as surrogate escapes) is sent as \u escapes
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("ascii")
