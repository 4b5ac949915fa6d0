"""`muser search` and `muser similar`: a query vector, the ANN index, metadata filters, hits."""
from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from muser_model.core.errors import MuserError
from muser_model.core.reading import Reading
from muser_model.library.filters import AXES, TEXT_FIELDS, Filters, like_pattern  # noqa: F401  (re-exported)
from muser_model.library.predict import scorer_predictor
from muser_model.library.store import Library, LibraryError
from muser_model.text_model import TextModel, explain_reading

EXACT_BELOW = 4096  # filtered candidate sets smaller than this are ranked exactly
DUPLICATE_COSINE = 0.999  # `--no-duplicates`, `muser duplicates`: see library.duplicates


class EmptyLibraryError(LibraryError):
    pass


class QueryError(MuserError):
    pass


_FIELD_TERM = re.compile(r'(?<![\w-])(artist|album|genre|title|year|predicted-genre|tag|energy|valence):'
                         r'(?:"([^"]*)"|(\S+))',
                         re.IGNORECASE)


def parse_query(text: str, filters: Filters | None = None) -> tuple[str, Filters]:
    """Split `field:value` terms (artist, album, genre, title, year, predicted-genre, tag) off a
    free-text query.

    `year:1990-1999`, `year:2001`, quoted values `artist:"Nina Simone"`, `tag:"no vocals"`;
    `tag:` may repeat (all must hold).
    """
    filters = filters or Filters()
    for m in _FIELD_TERM.finditer(text):
        key, value = m.group(1).lower(), m.group(2) if m.group(2) is not None else m.group(3)
        if key == "year":
            filters.year_min, filters.year_max = parse_years(value)
        elif key == "tag":
            filters.tags = [*filters.tags, value]
        elif key == "predicted-genre":
            filters.predicted_genre = value
        elif key in AXES:
            filters.ranges = {**filters.ranges, key: parse_range(key, value)}
        else:
            setattr(filters, key, value)
    return " ".join(_FIELD_TERM.sub(" ", text).split()), filters


_RANGE = re.compile(r"\s*(?:(?P<op>>=|<=|>|<)\s*(?P<bound>\d*\.?\d+)|(?P<low>\d*\.?\d+)?\s*\.\.\s*(?P<high>\d*\.?\d+)?)\s*")


def parse_range(field: str, value: str) -> tuple[float | None, float | None]:
    """`>0.6`, `<0.3`, `0.2..0.5`, `0.6..`, `..0.4` -> (low, high) on the 0..1 scale of `field`."""
    m = _RANGE.fullmatch(value)
    if not m or not (m.group("op") or m.group("low") or m.group("high")):
        raise QueryError(f"bad {field} range {value!r}: use >0.6, <0.4, 0.2..0.5, 0.6.. or ..0.4 (0 to 1)")
    if m.group("op"):
        bound = float(m.group("bound"))
        low, high = (bound, None) if m.group("op").startswith(">") else (None, bound)
    else:
        low, high = (float(x) if x else None for x in (m.group("low"), m.group("high")))
    if any(v is not None and not 0 <= v <= 1 for v in (low, high)) or (low is not None and high is not None
                                                                       and low > high):
        raise QueryError(f"bad {field} range {value!r}: bounds go from 0 to 1, low before high")
    return low, high


def parse_years(value: str) -> tuple[int | None, int | None]:
    """`1990`, `1990-1999`, `1990-`, `-1999`, and beets' range form `1990..1999`, `1990..`,
    `..1999` -> (first, last), inclusive, either end open (None)."""
    m = re.fullmatch(r"\s*(\d{4})?\s*(?:(-|\.\.)\s*(\d{4})?)?\s*", value)
    if not m or not (m.group(1) or m.group(3)):
        raise QueryError(f"bad year range {value!r}: use 1990, 1990-1999 (or 1990..1999), 1990- or -1999")
    low = int(m.group(1)) if m.group(1) else None
    high = int(m.group(3)) if m.group(3) else (low if not m.group(2) else None)
    if low is not None and high is not None and low > high:
        raise QueryError(f"bad year range {value!r}: the first year is after the last")
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
    predicted_genre: str = ""  # muser's prediction ('' until `muser index` has predicted it)
    predicted_tags: list[dict] = field(default_factory=list)  # [{"label", "score"}] best first
    energy: float | None = None  # muser's prediction, 0 calm .. 1 energetic
    valence: float | None = None  # 0 sad .. 1 happy
    score_kind: str = "cosine"  # or "blend": heads and text embedding, calibrated (core.grounding)
    parts: dict = field(default_factory=dict)  # a blend's parts: {"heads": z, "text": z}
    id: int | None = None  # the catalogue's track id (the web page plays and links tracks by it)

    query: dict | None = None  # with --json: how the text was read (query.Search.query)

    def to_json(self) -> dict:
        # fields one level deep, not dataclasses.asdict: its deep copy was 0.5 ms a hit
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["predicted_tags"] = [dict(t) for t in self.predicted_tags]
        data["parts"] = dict(self.parts)
        if data["query"] is None:
            del data["query"]
        return data


def check_ready(lib: Library, model_hash: str) -> None:
    """Raise unless the library was embedded by `model_hash` and holds indexed tracks."""
    lib.check_model(model_hash)
    if not lib.catalogue.counts().get("ok"):
        raise EmptyLibraryError(f"library {lib.name!r} has no indexed tracks yet; run: muser index DIR")


def _candidates(lib: Library, filters: Filters) -> set[int] | None:
    return lib.catalogue.select_ids(filters) if filters.active() else None


def _rank(lib: Library, query: np.ndarray, limit: int, filters: Filters,
          exclude: int | None = None, collapse: float | None = None) -> list[Hit]:
    """The `limit` best tracks for `query`; with `collapse`, a track whose cosine to a better
    hit is at least `collapse` is left out (its duplicate stands for it)."""
    allowed = _candidates(lib, filters)
    want = limit + (1 if exclude is not None else 0)
    if collapse is not None:
        want = 2 * want + 8  # room for the duplicates left out; see _collapse
    if allowed is not None and len(allowed) < EXACT_BELOW:
        ids, vectors = lib.catalogue.vectors(lib.model_hash, allowed)
        sims = vectors @ query if len(ids) else np.zeros(0)
        order = np.argsort(-sims)[:want]
        scored = [(int(ids[i]), float(sims[i])) for i in order]
    else:
        ann, _ = lib.ann()
        scored = ann.query(query, want, allowed)
    scored = [(i, s) for i, s in scored if i != exclude]
    return _hits(lib, scored, limit, collapse, query if exclude is not None else None)


def _hits(lib: Library, scored: list[tuple[int, float]], limit: int, collapse: float | None,
          seed: np.ndarray | None = None, annotate: Callable[[Hit, int], None] | None = None) -> list[Hit]:
    """Hits for the best-first (track id, score) pairs: near-duplicates collapsed (see
    _collapse), cut to `limit`; `annotate(hit, track_id)` adds what the ranking knows of each."""
    if collapse is not None:
        scored = _collapse(lib, scored, collapse, seed)
    scored = scored[:limit]
    rows = lib.catalogue.rows(i for i, _ in scored)
    hits = []
    for rank, (track_id, score) in enumerate(scored, 1):
        if track_id in rows:
            hits.append(hit_from_row(rank, score, rows[track_id]))
            if annotate is not None:
                annotate(hits[-1], track_id)
    return hits


def _collapse(lib: Library, scored: list[tuple[int, float]], threshold: float,
              seed: np.ndarray | None = None) -> list[tuple[int, float]]:
    """`scored` without the tracks whose cosine to a better-ranked kept one (or to `seed`, the
    vector of an indexed `similar` target) is >= `threshold`."""
    ids, vectors = lib.catalogue.vectors(lib.model_hash, [i for i, _ in scored])
    by_id = dict(zip(ids.tolist(), vectors))
    kept: list[tuple[int, float]] = []
    kept_vectors: list[np.ndarray] = [] if seed is None else [seed]
    for track_id, score in scored:
        vector = by_id.get(track_id)
        if vector is None:
            continue
        if kept_vectors and float(np.max(np.stack(kept_vectors) @ vector)) >= threshold:
            continue
        kept.append((track_id, score))
        kept_vectors.append(vector)
    return kept


def hit_from_row(rank: int, score: float, row: dict) -> Hit:
    return Hit(rank, round(score, 4), row["path"], row["title"], row["artist"], row["album"],
               row["genre"], row["year"], row["duration"], row["predicted_genre"], row["predicted_tags"],
               _rounded(row.get("energy")), _rounded(row.get("valence")), id=row.get("id"))


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


HIT_SORTS = ("score", "energy", "valence", "duration", "year")


def sort_hits(hits: list[Hit], key: str, reverse: bool = False) -> list[Hit]:
    """The hits re-ordered by `key` (HIT_SORTS; "score" keeps the ranking), highest first, or
    lowest first with `reverse`; tracks without the value last. Ranks follow the new order."""
    if key not in HIT_SORTS:
        raise QueryError(f"unknown sort order {key!r}; use one of {', '.join(HIT_SORTS)}")
    if key != "score":
        known = [h for h in hits if getattr(h, key) is not None]
        known.sort(key=lambda h: getattr(h, key), reverse=not reverse)
        hits = known + [h for h in hits if getattr(h, key) is None]
    elif reverse:
        hits = hits[::-1]
    for rank, hit in enumerate(hits, 1):
        hit.rank = rank
    return hits


@dataclass
class Search:
    hits: list[Hit]
    query: dict  # how the text was read: `explain` (one line), reading, weights, calibration


def search_text(lib: Library, model: TextModel, text: str, limit: int = 10,
                filters: Filters | None = None, collapse: float | None = None) -> Search:
    """Rank the library's tracks against a text query with the checkpoint of `model` (whose hash
    must be the library's). With `collapse` (a cosine, e.g. DUPLICATE_COSINE) near-identical tracks
    count once.

    The text is read onto the trained vocabularies (`core.reading`). A query the reading covers
    ranks every candidate by the blend of the calibrated heads and the text embedding
    (`core.grounding`); a query it does not cover at all ranks by the cosine of the text embedding
    alone, through the ANN index for large libraries."""
    words, filters = parse_query(text, filters)
    if not words and not filters.active():
        raise QueryError("empty query: give some words, e.g. muser search \"melancholic piano\"")
    check_ready(lib, model.content_hash)
    if not words:  # filters only: rank the matching tracks by their genre or artist
        words = " ".join(filter(None, [filters.genre, filters.predicted_genre, *filters.tags,
                                       filters.artist])) or "music"
    reading = model.read(words)
    if model.grounder.coverage(reading) == 0:
        query = np.asarray(model.embed([words]), dtype=np.float32)[0]
        return Search(_rank(lib, query, limit, filters, collapse=collapse), explain_query(model, reading, 0.0, ""))
    return _rank_blended(lib, model, reading, limit, filters, collapse)


def _rank_blended(lib: Library, model: TextModel, reading: Reading, limit: int, filters: Filters,
                  collapse: float | None) -> Search:
    """Every candidate scored by the blend; ties by track id."""
    key = scorer_predictor(model.scorer, model.content_hash, model.reference).key  # of the stored logits
    ids, vectors, stored = lib.vectors_with_logits(key, _candidates(lib, filters))
    if not len(ids):
        return Search([], explain_query(model, reading, model.grounder.coverage(reading), model.grounder.source))
    blend = model.blend(vectors, reading, population_source=f"this library ({len(ids)} tracks)", logits=stored)
    want = limit if collapse is None else 2 * limit + 8
    order = np.lexsort((ids, -blend.score))[:want]
    position = {int(ids[i]): int(i) for i in order}

    def annotate(hit: Hit, track_id: int) -> None:
        i = position[track_id]
        hit.score_kind = "blend"
        hit.parts = {"heads": round(float(blend.grounded[i]), 4), "text": round(float(blend.text[i]), 4)}

    hits = _hits(lib, [(int(ids[i]), float(blend.score[i])) for i in order], limit, collapse, annotate=annotate)
    return Search(hits, explain_query(model, reading, blend.weight, blend.calibration))


def explain_query(model: TextModel, reading: Reading, weight: float, calibration: str) -> dict:
    """The `query` object of --json; `explain` is the line --explain prints. `calibration` says
    what the scores were standardised over ("": nothing, a plain cosine ranking)."""
    return {"text": reading.text, "explain": explain_reading(model, reading, weight),
            "reading": reading.to_json(), "weights": {"heads": round(weight, 4), "text": round(1 - weight, 4)},
            "calibration": calibration or "none"}


def similar(lib: Library, model_hash: str, embed_file: Callable[[Path], np.ndarray], target: str,
            limit: int = 10, filters: Filters | None = None, collapse: float | None = None) -> list[Hit]:
    """Tracks that sound like `target`: an audio file (indexed or not), or an indexed track named
    by a unique part of its title or path. `embed_file` (e.g. scan.embed_file with the checkpoint
    of `model_hash`) runs only for a file that is not in the library. With `collapse`, copies of
    an indexed target are left out too."""
    check_ready(lib, model_hash)
    filters = filters or Filters()
    track_id = lib.catalogue.find_path(os.path.abspath(target))
    if track_id is None and not Path(target).exists():
        track_id = track_by_name(lib, target)
    vector = None if track_id is None else _track_vector(lib, track_id)
    if vector is not None:
        return _rank(lib, vector, limit, filters, exclude=track_id, collapse=collapse)
    query = embed_file(Path(target))
    return _rank(lib, query, limit, filters, collapse=collapse)


def similar_to_track(lib: Library, model_hash: str, track_id: int, limit: int = 10,
                     filters: Filters | None = None, collapse: float | None = None) -> list[Hit]:
    """Tracks that sound like the indexed track `track_id` (QueryError when it is not indexed)."""
    check_ready(lib, model_hash)
    vector = _track_vector(lib, track_id)
    if vector is None:
        raise QueryError(f"no indexed track has id {track_id}")
    return _rank(lib, vector, limit, filters or Filters(), exclude=track_id, collapse=collapse)


def _track_vector(lib: Library, track_id: int) -> np.ndarray | None:
    """(E,) the stored vector of a good track, or None."""
    ids, vectors = lib.catalogue.vectors(lib.model_hash, [track_id])
    return vectors[0] if len(ids) else None


def track_by_name(lib: Library, name: str) -> int:
    rows = lib.catalogue.find_by_name(name, limit=6)
    if not rows:
        raise QueryError(f"{name}: no such file, and no indexed track has it in its title or path")
    if len(rows) > 1:
        shown = "; ".join(r[1] for r in rows[:5])
        raise QueryError(f"{name!r} matches several tracks ({shown}{'; ...' if len(rows) > 5 else ''}): "
                         "give more of the title or the path")
    return rows[0][0]
