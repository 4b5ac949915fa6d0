"""The library as the web page sees it: searches, lists, playlists and status as JSON-ready dicts.

Every catalogue read runs on one thread of this service (an SQLite connection stays on the thread
that opened it), so requests are answered one at a time in arrival order; each takes
milliseconds. The text model is loaded once at start, and the library keeps its vectors and ANN
index between queries (`Library.keep_in_memory`), reloading them when the catalogue's generation
moves, so a re-index running beside the server is seen as it commits. The catalogue is opened
read-only: the server reads what the last committed scan wrote (WAL readers never wait on the
writer).
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from muser_cli.web.audio import playability
from muser_model.library.filters import Filters
from muser_model.library.query import DUPLICATE_COSINE, Hit, QueryError, parse_query, parse_range, parse_years
from muser_model.library.store import Library

T = TypeVar("T")

MAX_QUERY_CHARS = 500  # a longer query is refused (413): no description of music needs more
MAX_LIMIT = 500  # results one request may ask for


@dataclass(frozen=True)
class SearchForm:
    """A search request's fields, checked (QueryError names the field and why)."""

    q: str = ""
    limit: int = 50
    predicted_genre: str = ""
    energy: str = ""
    artist: str = ""
    year: str = ""

    def filters(self) -> Filters:
        filters = Filters(artist=self.artist.strip(), predicted_genre=self.predicted_genre.strip())
        if self.year.strip():
            filters.year_min, filters.year_max = parse_years(self.year)
        if self.energy.strip():
            filters.ranges = {"energy": parse_range("energy", self.energy)}
        return filters


class LibraryService:
    """One library, its text model and the thread that reads it."""

    def __init__(self, library: str, checkpoint: Path | None = None, device: str = "auto") -> None:
        self.name, self.checkpoint, self.device = library, checkpoint, device
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="muser-library")
        self.lib: Library | None = None
        self.model = None  # text_model.TextModel, loaded by open()
        self._folders: tuple[int, list[str]] | None = None  # (generation, folders)

    # -- running on the library thread -----------------------------------------------------------
    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the library thread, awaited."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the library thread, waited for (for code that is not async)."""
        return self._thread.submit(fn, *args).result()

    def open(self) -> None:
        """Open the library and load the text model (raises MuserError: no library, wrong model)."""
        self.call(self._open)

    def _open(self) -> None:
        from muser_cli.library_cmds import text_model_for
        from muser_model.text_model import remembering

        self.lib = Library.open(self.name, readonly=True)
        self.lib.keep_in_memory = True
        self.model = text_model_for(self.lib, self.checkpoint, self.device)
        self.model.embed = remembering(self.model.embed)
        if self.model.reader.embed is not None:  # the reading's nearest phrase for words it lacks
            self.model.reader.embed = remembering(self.model.reader.embed)
        self._warm_up()

    def _warm_up(self) -> None:
        """One grounded and one free-text search, so that the vectors, the heads' logits and the ANN
        index are in memory before the first visitor's query."""
        from muser_model.library.query import EmptyLibraryError, search_text

        for words in ("calm music", "the sound of a quiet room"):
            try:
                search_text(self.lib, self.model, words, 1)
            except EmptyLibraryError:  # nothing indexed yet: nothing to warm
                return

    def close(self) -> None:
        if self.lib is not None:
            self.call(self.lib.close)
        self._thread.shutdown(wait=True)

    @property
    def model_hash(self) -> str:
        return self.model.content_hash if self.model is not None else ""

    # -- the requests (each runs on the library thread) ------------------------------------------
    def search(self, form: SearchForm) -> dict:
        """Ranked hits for a text query, or the filtered tracks by artist when the text is empty."""
        from muser_model.library.query import search_text

        words, filters = parse_query(form.q, form.filters())
        if not words:
            if not filters.active():
                raise QueryError("empty query: type some words, e.g. melancholic piano, or pick a filter")
            return {"query": None, "hits": self.list_tracks(filters, form.limit)}
        result = search_text(self.lib, self.model, words, form.limit, filters, DUPLICATE_COSINE)
        return {"query": result.query, "hits": [self.track_json(h) for h in result.hits]}

    def list_tracks(self, filters: Filters, limit: int) -> list[dict]:
        from muser_model.library.query import hit_from_row

        rows = self.lib.catalogue.list_rows(filters, "artist", False, limit)
        return [self.track_json(hit_from_row(rank, 0.0, row)) for rank, row in enumerate(rows, 1)]

    def similar(self, track_id: int, limit: int) -> dict:
        from muser_model.library.query import similar_to_track

        hits = similar_to_track(self.lib, self.model_hash, track_id, limit, collapse=DUPLICATE_COSINE)
        return {"hits": [self.track_json(h) for h in hits]}

    def radio(self, track_id: int, count: int, per_artist: int) -> dict:
        from muser_model.library.journeys import radio

        return {"hits": [self.track_json(h) for h in radio(self.lib, self.model_hash, track_id, count, per_artist)]}

    def path(self, start: int, end: int, count: int) -> dict:
        from muser_model.library.journeys import path

        return {"hits": [self.track_json(h) for h in path(self.lib, self.model_hash, start, end, count)]}

    def tracks(self, ids: list[int]) -> list[Hit]:
        """The good tracks of `ids`, in that order (unknown ids left out)."""
        from muser_model.library.query import hit_from_row

        rows = self.lib.catalogue.rows(ids)
        return [hit_from_row(rank, 0.0, rows[i]) for rank, i in enumerate(ids, 1)
                if i in rows and rows[i]["status"] == "ok"]

    def track(self, track_id: int) -> dict | None:
        found = self.tracks([track_id])
        return self.track_json(found[0]) if found else None

    def audio_file(self, track_id: int) -> str | None:
        """The file of a good track when it lies, symlinks resolved, under one of the library's
        folders; else None (the only files the server sends)."""
        found = self.tracks([track_id])
        if not found:
            return None
        real = os.path.realpath(found[0].path)
        inside = any(Path(real).is_relative_to(os.path.realpath(f)) for f in self.folders())
        return found[0].path if inside and os.path.isfile(real) else None

    def genres(self) -> dict:
        counts = self.lib.catalogue.predicted_genre_counts()
        return {"genres": [{"name": g, "count": n} for g, n in counts if g]}

    def status(self) -> dict:
        from muser_model.library.status import library_status

        report = library_status(self.lib)
        report["folders"] = self.folders()
        return report

    def folders(self) -> list[str]:
        """The library's folders: where a re-index looks, and the only places audio is served from
        (kept per generation: for a library from before they were recorded, working them out
        reads every path)."""
        generation = self.lib.catalogue.generation
        if self._folders is None or self._folders[0] != generation:
            self._folders = (generation, self.lib.folders())
        return self._folders[1]

    def generation(self) -> int:
        return self.lib.catalogue.generation

    def track_json(self, hit: Hit) -> dict:
        data = hit.to_json()
        data.update(playability(hit.path))
        return data


def checked_ids(text: str, most: int = 2000) -> list[int]:
    """`3,7,9` -> [3, 7, 9]; QueryError for anything else."""
    parts = [p for p in text.split(",") if p.strip()]
    if not parts or len(parts) > most or not all(p.strip().isdigit() for p in parts):
        raise QueryError(f"ids: give up to {most} track ids separated by commas, e.g. ids=3,7,9")
    return [int(p) for p in parts]
