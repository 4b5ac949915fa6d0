"""`muser search` and `muser similar`: a query vector, the ANN index, metadata filters, hits."""
from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from muser_model.errors import MuserError
from muser_model.library.store import Library, LibraryError

TextEmbedder = Callable[[list[str]], np.ndarray]  # texts -> (N, E) normalised

EXACT_BELOW = 4096  # filtered candidate sets smaller than this are ranked exactly
TEXT_FIELDS = ("artist", "album", "genre", "title")


class EmptyLibraryError(LibraryError):
    pass


class QueryError(MuserError):
    pass


def like_pattern(value: str) -> str:
    """A SQL LIKE pattern (ESCAPE '\\') matching `value` anywhere, its wildcards taken literally."""
    return "%" + re.sub(r"([%_\\])", r"\\\1", value) + "%"


@dataclass
class Filters:
    artist: str = ""
    album: str = ""
    genre: str = ""
    title: str = ""
    year_min: int | None = None
    year_max: int | None = None

    def active(self) -> bool:
        return any(getattr(self, f) for f in TEXT_FIELDS) or self.year_min is not None or self.year_max is not None

    def where(self) -> tuple[str, list]:
        """SQL condition and parameters: case-insensitive substring match, inclusive year range."""
        parts, params = [], []
        for name in TEXT_FIELDS:
            value = getattr(self, name)
            if value:
                parts.append(f"{name} LIKE ? ESCAPE '\\'")
                params.append(like_pattern(value))
        if self.year_min is not None:
            parts.append("year >= ?")
            params.append(self.year_min)
        if self.year_max is not None:
            parts.append("year <= ?")
            params.append(self.year_max)
        return " AND ".join(parts) or "1", params


def parse_query(text: str, filters: Filters | None = None) -> tuple[str, Filters]:
    """Split `field:value` terms (artist, album, genre, title, year) off a free-text query.

    `year:1990-1999`, `year:2001`, quoted values `artist:"Nina Simone"`.
    """
    filters = filters or Filters()
    pattern = re.compile(r'\b(artist|album|genre|title|year):(?:"([^"]*)"|(\S+))', re.IGNORECASE)
    for m in pattern.finditer(text):
        key, value = m.group(1).lower(), m.group(2) if m.group(2) is not None else m.group(3)
        if key == "year":
            filters.year_min, filters.year_max = parse_years(value)
        else:
            setattr(filters, key, value)
    return " ".join(pattern.sub(" ", text).split()), filters


def parse_years(value: str) -> tuple[int | None, int | None]:
    m = re.fullmatch(r"\s*(\d{4})?\s*(?:(-)\s*(\d{4})?)?\s*", value)
    if not m or not (m.group(1) or m.group(3)):
        raise QueryError(f"bad year range {value!r}: use 1990, 1990-1999, 1990- or -1999")
    low = int(m.group(1)) if m.group(1) else None
    high = int(m.group(3)) if m.group(3) else (low if not m.group(2) else None)
    return low, high


@dataclass
class Hit:
    rank: int
    score: float  # cosine similarity
    path: str
    title: str
    artist: str
    album: str
    genre: str
    year: int | None
    duration: float | None

    def to_json(self) -> dict:
        return asdict(self)


def _ready(lib: Library, model_hash: str) -> None:
    lib.check_model(model_hash)
    if not lib.catalogue.counts().get("ok"):
        raise EmptyLibraryError(f"library {lib.name!r} has no indexed tracks yet; run: muser index DIR")


def _candidates(lib: Library, filters: Filters) -> set[int] | None:
    if not filters.active():
        return None
    where, params = filters.where()
    rows = lib.catalogue.db.execute(f"SELECT id FROM tracks WHERE status='ok' AND {where}", params)
    return {r[0] for r in rows}


def _rank(lib: Library, query: np.ndarray, limit: int, filters: Filters,
          exclude: int | None = None) -> list[Hit]:
    allowed = _candidates(lib, filters)
    want = limit + (1 if exclude is not None else 0)
    if allowed is not None and len(allowed) < EXACT_BELOW:
        ids, vectors = lib.catalogue.vectors(lib.model_hash, allowed)
        sims = vectors @ query if len(ids) else np.zeros(0)
        order = np.argsort(-sims)[:want]
        scored = [(int(ids[i]), float(sims[i])) for i in order]
    else:
        ann, _ = lib.ann()
        scored = ann.query(query, want, allowed)
    scored = [(i, s) for i, s in scored if i != exclude][:limit]
    rows = lib.catalogue.rows(i for i, _ in scored)
    return [_hit(rank, score, rows[i]) for rank, (i, score) in enumerate(scored, 1) if i in rows]


def _hit(rank: int, score: float, row) -> Hit:
    return Hit(rank, round(score, 4), row["path"], row["title"], row["artist"], row["album"],
               row["genre"], row["year"], row["duration"])


def search_text(lib: Library, embed: TextEmbedder, model_hash: str, text: str, limit: int = 10,
                filters: Filters | None = None) -> list[Hit]:
    """Rank the library's tracks against a text query; `embed` maps texts into the space of the
    checkpoint whose hash is `model_hash` (the numpy path or `LoadedModel.embed_texts`)."""
    words, filters = parse_query(text, filters)
    if not words and not filters.active():
        raise QueryError("empty query: give some words, e.g. muser search \"melancholic piano\"")
    _ready(lib, model_hash)
    if not words:  # filters only: rank the matching tracks by their genre or artist
        words = " ".join(filter(None, [filters.genre, filters.artist])) or "music"
    query = np.asarray(embed([words]), dtype=np.float32)[0]
    return _rank(lib, query, limit, filters)


def similar(lib: Library, model_hash: str, embed_file: Callable[[Path], np.ndarray], target: str,
            limit: int = 10, filters: Filters | None = None) -> list[Hit]:
    """Tracks that sound like `target`: an audio file (indexed or not), or an indexed track named
    by a unique part of its title or path. `embed_file` (e.g. scan.embed_file with the checkpoint
    of `model_hash`) runs only for a file that is not in the library."""
    _ready(lib, model_hash)
    filters = filters or Filters()
    track_id = lib.catalogue.find_path(os.path.abspath(target))
    if track_id is None and not Path(target).exists():
        track_id = _track_by_name(lib, target)
    if track_id is not None:
        ids, vectors = lib.catalogue.vectors(lib.model_hash, [track_id])
        if len(ids):
            return _rank(lib, vectors[0], limit, filters, exclude=track_id)
    query = embed_file(Path(target))
    return _rank(lib, query, limit, filters)


def _track_by_name(lib: Library, name: str) -> int:
    pattern = like_pattern(name)
    rows = lib.catalogue.db.execute(
        "SELECT id, path FROM tracks WHERE status='ok' AND (title LIKE ? ESCAPE '\\' OR path LIKE ? ESCAPE '\\') "
        "ORDER BY path LIMIT 6", (pattern, pattern)).fetchall()
    if not rows:
        raise QueryError(f"{name}: no such file, and no indexed track has it in its title or path")
    if len(rows) > 1:
        shown = "; ".join(r[1] for r in rows[:5])
        raise QueryError(f"{name!r} matches several tracks ({shown}{'; ...' if len(rows) > 5 else ''}): "
                         "give more of the title or the path")
    return rows[0][0]
