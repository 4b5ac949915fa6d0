"""`muser search` and `muser similar`: a query vector, the ANN index, metadata filters, hits."""
from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from muser_model.core.errors import MuserError
from muser_model.core.scoring import Scorer
from muser_model.library.filters import TEXT_FIELDS, Filters, like_pattern  # noqa: F401  (re-exported)
from muser_model.library.store import Library, LibraryError

TextEmbedder = Callable[[list[str]], np.ndarray]  # texts -> (N, E) normalised

EXACT_BELOW = 4096  # filtered candidate sets smaller than this are ranked exactly
DUPLICATE_COSINE = 0.999  # `--no-duplicates`, `muser duplicates`: see library.duplicates


class EmptyLibraryError(LibraryError):
    pass


class QueryError(MuserError):
    pass


_FIELD_TERM = re.compile(r'(?<![\w-])(artist|album|genre|title|year|predicted-genre|tag):(?:"([^"]*)"|(\S+))',
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
        else:
            setattr(filters, key, value)
    return " ".join(_FIELD_TERM.sub(" ", text).split()), filters


def parse_years(value: str) -> tuple[int | None, int | None]:
    m = re.fullmatch(r"\s*(\d{4})?\s*(?:(-)\s*(\d{4})?)?\s*", value)
    if not m or not (m.group(1) or m.group(3)):
        raise QueryError(f"bad year range {value!r}: use 1990, 1990-1999, 1990- or -1999")
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
    score_kind: str = "cosine"  # or "probability": the query was one tag word, ranked by its head
    ranked_by_tag: str = ""  # that tag, "vocab:label" (e.g. "msd:sad"); "" for a text ranking

    def to_json(self) -> dict:
        return asdict(self)


def numpy_query_model(checkpoint: Path) -> tuple[TextEmbedder, Scorer] | None:
    """(query embedder, scorer of the checkpoint's heads) without torch, from the checkpoint's
    own numpy section (its MiniLM, text projection and heads; loading it takes ~0.03 s): None
    for a checkpoint without that section, or one that fine-tuned its text tower (the numpy
    MiniLM is the frozen one)."""
    from muser_model.core.checkpoint import has_numpy_section
    from muser_model.numpy_engine.audio import NumpyMuser

    if not has_numpy_section(checkpoint):
        return None
    model = NumpyMuser.load(checkpoint)
    return (model.embed_texts, Scorer(model)) if model.can_embed_text else None


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


def _rank_by_head(lib: Library, scorer: Scorer, head_tag: tuple[str, int], limit: int,
                  filters: Filters, collapse: float | None = None) -> list[Hit]:
    """The `limit` tracks (of those `filters` allow) with the highest probability of one tag
    from its trained head, on the stored track vectors; ties by track id."""
    kind, index = head_tag
    ids, vectors = lib.catalogue.vectors(lib.model_hash, _candidates(lib, filters))
    if not len(ids):
        return []
    probs = scorer.head_scores(vectors, kind)[:, index]  # (N,)
    want = limit if collapse is None else 2 * limit + 8
    order = np.lexsort((ids, -probs))[:want]
    vocab = scorer.assets.vocab_and_groups(kind)[0]
    tag = f"{vocab}:{scorer.assets.vocabulary(kind)[index]}"
    hits = _hits(lib, [(int(ids[i]), float(probs[i])) for i in order], limit, collapse)
    for hit in hits:
        hit.score_kind, hit.ranked_by_tag = "probability", tag
    return hits


def _hits(lib: Library, scored: list[tuple[int, float]], limit: int, collapse: float | None,
          seed: np.ndarray | None = None) -> list[Hit]:
    """Hits for the best-first (track id, score) pairs: near-duplicates collapsed (see
    _collapse), cut to `limit`."""
    if collapse is not None:
        scored = _collapse(lib, scored, collapse, seed)
    scored = scored[:limit]
    rows = lib.catalogue.rows(i for i, _ in scored)
    return [_hit(rank, score, rows[i]) for rank, (i, score) in enumerate(scored, 1) if i in rows]


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


def _hit(rank: int, score: float, row: dict) -> Hit:
    return Hit(rank, round(score, 4), row["path"], row["title"], row["artist"], row["album"],
               row["genre"], row["year"], row["duration"], row["predicted_genre"], row["predicted_tags"])


def search_text(lib: Library, embed: TextEmbedder, model_hash: str, text: str, limit: int = 10,
                filters: Filters | None = None, collapse: float | None = None,
                scorer: Scorer | None = None) -> list[Hit]:
    """Rank the library's tracks against a text query; `embed` maps texts into the space of the
    checkpoint whose hash is `model_hash` (the numpy path or `LoadedModel.embed_texts`). With
    `collapse` (a cosine, e.g. DUPLICATE_COSINE) near-identical tracks count once.

    With `scorer` (the same checkpoint's), a query that is exactly one tag of a vocabulary with a
    trained head ("sad", "80s", "heavy metal", "piano") is ranked by that head's probability
    instead: the heads follow the teachers far more closely than a single word's text embedding
    does (docs/MODEL_CARD.md). Any other query, or a tag with more words, is a text search."""
    words, filters = parse_query(text, filters)
    if not words and not filters.active():
        raise QueryError("empty query: give some words, e.g. muser search \"melancholic piano\"")
    check_ready(lib, model_hash)
    head_tag = scorer.head_tag(words) if scorer is not None and words else None
    if head_tag is not None:
        return _rank_by_head(lib, scorer, head_tag, limit, filters, collapse)
    if not words:  # filters only: rank the matching tracks by their genre or artist
        words = " ".join(filter(None, [filters.genre, filters.predicted_genre, *filters.tags,
                                       filters.artist])) or "music"
    query = np.asarray(embed([words]), dtype=np.float32)[0]
    return _rank(lib, query, limit, filters, collapse=collapse)


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
        track_id = _track_by_name(lib, target)
    if track_id is not None:
        ids, vectors = lib.catalogue.vectors(lib.model_hash, [track_id])
        if len(ids):
            return _rank(lib, vectors[0], limit, filters, exclude=track_id, collapse=collapse)
    query = embed_file(Path(target))
    return _rank(lib, query, limit, filters, collapse=collapse)


def _track_by_name(lib: Library, name: str) -> int:
    rows = lib.catalogue.find_by_name(name, limit=6)
    if not rows:
        raise QueryError(f"{name}: no such file, and no indexed track has it in its title or path")
    if len(rows) > 1:
        shown = "; ".join(r[1] for r in rows[:5])
        raise QueryError(f"{name!r} matches several tracks ({shown}{'; ...' if len(rows) > 5 else ''}): "
                         "give more of the title or the path")
    return rows[0][0]
