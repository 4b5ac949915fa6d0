"""`muser list`: the catalogue's tracks, filtered and sorted (no vectors, no checkpoint)."""
from __future__ import annotations

from muser_model.library.filters import SORT_KEYS, Filters
from muser_model.library.query import QueryError, parse_query
from muser_model.library.store import Library

LIST_FIELDS = ("path", "title", "artist", "album", "genre", "year", "duration", "predicted_genre",
               "predicted_tags", "energy", "valence", "added")


def list_library(lib: Library, query: str = "", filters: Filters | None = None, sort: str = "path",
                 reverse: bool = False, limit: int | None = None) -> list[dict]:
    """Tracks matching `filters` and `query` (field terms as in search; every other word must occur
    in the title, artist, album or path), sorted by `sort` (a SORT_KEYS key)."""
    if sort not in SORT_KEYS:
        raise QueryError(f"unknown sort order {sort!r}; use one of {', '.join(SORT_KEYS)}")
    words, filters = parse_query(query, filters)
    filters.words = [*filters.words, *words.split()]
    rows = lib.catalogue.list_rows(filters, sort, reverse, limit)
    return [{k: row[k] for k in LIST_FIELDS} for row in rows]
