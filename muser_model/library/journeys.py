"""Ordered playlists through the embedding space: `muser path A B` and `muser radio SEED`.

Both work on the stored track vectors alone (no model, no torch), over the tracks the filters
allow, and never list a track twice or two near-identical tracks (a cosine of at least
DUPLICATE_COSINE to one already listed: copies, re-encodes).

- **path**: from A to B in `n` steps. Step i goes to the unused track nearest (by cosine) to the
  point i/(n-1) of the way from A's vector to B's (normalised), so the list moves from A's sound
  to B's, as Plexamp's "Sonic Adventure" does.
- **radio**: starts at the seed and drifts: each next track is the unused one nearest to the sum
  of the seed's and the last track's vectors, so it follows the music yet stays tethered to the
  seed. No artist holds more than `per_artist` slots (tracks without an artist tag are not
  capped).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from muser_model.library.filters import Filters
from muser_model.library.query import DUPLICATE_COSINE, Hit, QueryError, check_ready, hit_from_row, track_by_name
from muser_model.library.store import Library

PER_ARTIST = 3  # radio: at most this many tracks of one artist


def resolve_track(lib: Library, target: str | int) -> int:
    """The id of an indexed track named by its id, its path, or a unique part of its title or path."""
    if isinstance(target, int):
        if not len(lib.catalogue.vectors(lib.model_hash, [target])[0]):
            raise QueryError(f"no indexed track has id {target}")
        return target
    track_id = lib.catalogue.find_path(os.path.abspath(target))
    if track_id is None:
        if Path(target).exists():
            raise QueryError(f"{target}: not in the library {lib.name!r}; run: muser index FOLDER")
        track_id = track_by_name(lib, target)
    return track_id


def _pool(lib: Library, filters: Filters | None, must: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(ids (N,), vectors (N, E)) of the tracks the filters allow, plus the `must` tracks."""
    allowed = lib.catalogue.select_ids(filters) if filters is not None and filters.active() else None
    ids, vectors = lib.catalogue.vectors(lib.model_hash, None if allowed is None else allowed | set(must))
    return ids, vectors


def _pick(vectors: np.ndarray, target: np.ndarray, free: np.ndarray, chosen: list[int]) -> int | None:
    """Index of the free row nearest to `target` that is no near-duplicate of a chosen row."""
    sims = np.where(free, vectors @ target, -np.inf)  # (N,)
    for i in np.argsort(-sims, kind="stable"):
        if not free[i]:
            return None
        if not chosen or float(np.max(vectors[chosen] @ vectors[i])) < DUPLICATE_COSINE:
            return int(i)
        free[i] = False  # a copy of a listed track: never again
    return None


def _unit(x: np.ndarray) -> np.ndarray:
    return x / max(float(np.linalg.norm(x)), 1e-12)


def path(lib: Library, model_hash: str, start: str | int, end: str | int, n: int = 12,
         filters: Filters | None = None) -> list[Hit]:
    """`n` tracks from `start` to `end` (both included), each the nearest unused track to its
    point on the way; scores are each track's cosine to its point."""
    if n < 2:
        raise QueryError("a path needs at least 2 tracks (-n 2: just the two ends)")
    check_ready(lib, model_hash)
    a, b = resolve_track(lib, start), resolve_track(lib, end)
    if a == b:
        raise QueryError(f"{start!r} and {end!r} are the same track")
    ids, vectors = _pool(lib, filters, [a, b])
    row = {int(i): k for k, i in enumerate(ids)}
    free = np.ones(len(ids), bool)
    free[[row[a], row[b]]] = False
    chosen, scores = [row[a]], [1.0]
    for step in range(1, n - 1):
        t = step / (n - 1)
        point = _unit((1 - t) * vectors[row[a]] + t * vectors[row[b]])
        pick = _pick(vectors, point, free, chosen + [row[b]])
        if pick is None:
            break
        free[pick] = False
        chosen.append(pick)
        scores.append(float(vectors[pick] @ point))
    chosen.append(row[b])
    scores.append(1.0)
    return _as_hits(lib, ids, chosen, scores)


def radio(lib: Library, model_hash: str, seed: str | int, n: int = 30, per_artist: int = PER_ARTIST,
          filters: Filters | None = None) -> list[Hit]:
    """`n` tracks starting at `seed` and drifting; scores are each track's cosine to the seed."""
    if n < 1 or per_artist < 1:
        raise QueryError("radio needs -n 1 or more and --per-artist 1 or more")
    check_ready(lib, model_hash)
    s = resolve_track(lib, seed)
    ids, vectors = _pool(lib, filters, [s])
    rows = lib.catalogue.rows(ids.tolist())
    artists = [_artist(rows.get(int(i), {})) for i in ids]
    row = {int(i): k for k, i in enumerate(ids)}
    free = np.ones(len(ids), bool)
    free[row[s]] = False
    chosen, counts = [row[s]], {artists[row[s]]: 1}
    while len(chosen) < n:
        full = {a for a, c in counts.items() if a and c >= per_artist}
        capped = free & np.array([a not in full for a in artists])
        pick = _pick(vectors, _unit(vectors[row[s]] + vectors[chosen[-1]]), capped, chosen)
        if pick is None:
            break
        free[pick] = False
        chosen.append(pick)
        counts[artists[pick]] = counts.get(artists[pick], 0) + 1
    return _as_hits(lib, ids, chosen, [float(vectors[i] @ vectors[row[s]]) for i in chosen])


def _artist(row: dict) -> str:
    return " ".join(str(row.get("artist", "")).lower().split())


def _as_hits(lib: Library, ids: np.ndarray, chosen: list[int], scores: list[float]) -> list[Hit]:
    rows = lib.catalogue.rows(int(ids[i]) for i in chosen)
    return [hit_from_row(rank, score, rows[int(ids[i])]) for rank, (i, score) in enumerate(zip(chosen, scores), 1)
            if int(ids[i]) in rows]
