"""The music map: every indexed track as a point in 2-D, similar-sounding tracks close together.

A UMAP-like layout (McInnes, Healy & Melville 2018) in plain numpy, torch-free:

1. the K nearest neighbours of each vector by cosine (exact up to EXACT_KNN_UP_TO tracks, else
   hnswlib);
2. fuzzy edge weights w_ij = exp(-(d_ij - rho_i) / sigma_i), rho_i the distance to i's nearest
   (non-identical) neighbour and sigma_i set so that each point's weights sum to log2(K); made
   symmetric by the fuzzy union w_ij + w_ji - w_ij w_ji;
3. positions start from PCA to 2-D (or from given ones), then EPOCHS of SGD on UMAP's loss with
   curve q = 1 / (1 + A d^2): in every epoch each edge pulls its two ends together as often as its
   weight says (an edge of weight w every 1/w epochs) and each pull also pushes its head away
   from NEGATIVES random points. One epoch's updates are all computed from the positions at its
   start and summed per point with bincount (UMAP applies them one edge at a time; summing is
   what makes it vectorisable, and the per-coordinate clip keeps the sums bounded).

The layout of a library is kept in `map-<generation>.npz` beside its catalogue: a derived file,
recomputed when the catalogue changes. A recomputation starts from the previous map (known
tracks where they were, new ones amid their neighbours) and runs fewer, gentler epochs, so that
a small re-index does not move the whole map.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from muser_model.library.store import Library

K = 15  # neighbours per point: UMAP's default, local enough to keep clusters apart
EPOCHS = 200  # a fresh layout of up to EPOCH_BUDGET / EPOCHS tracks; fewer for more (at least
EPOCH_BUDGET = 2_000_000  # MIN_EPOCHS), so that time grows about linearly: a 50,000-track map in
MIN_EPOCHS = 100  # half a minute on 2 cores (bench/map_projection.py)
REFINE_EPOCHS = 40  # a layout started from the previous map
REFINE_LEARNING_RATE = 0.1  # ... with small steps: it is near its optimum already
MIN_KNOWN = 0.5  # below this fraction of tracks placed before, the previous map is ignored
NEGATIVES = 5  # repulsive samples per attractive one
A = 1.0  # the curve q = 1 / (1 + A d^2): UMAP's with b = 1 (no powers: cheaper), as t-SNE's
CLIP = 4.0  # largest gradient step per coordinate, as UMAP
INIT_SCALE = 10.0  # initial positions span [-10, 10], as UMAP's
EXACT_KNN_UP_TO = 2048  # tracks: exact neighbours from the Gram matrix (faster than hnswlib, and exact)
MARGIN = 0.02  # the 0..1 output keeps this much free at each side
FORMAT = 1  # of the map-*.npz file

Progress = Callable[[float], None] | None


@dataclass(frozen=True, eq=False)
class MapLayout:
    generation: int  # lib.catalogue.generation it was computed for
    model_hash: str
    ids: np.ndarray  # (N,) int64 track ids, ascending
    xy: np.ndarray  # (N, 2) float32, each axis scaled to 0..1


# -- the layout of a library --------------------------------------------------------------------

def map_layout(lib: Library, on_progress: Progress = None) -> MapLayout:
    """The layout for the library's current generation: read from `map-<generation>.npz` in
    lib.root when it matches (generation and model hash), else computed and saved atomically
    (older map-*.npz removed). A read-only library (lib.readonly, or an unwritable folder)
    computes without saving."""
    cat = lib.catalogue
    with cat.snapshot():  # the generation and the vectors of one committed state
        generation, model = cat.generation, lib.model_hash
        cached = _load(_map_file(lib.root, generation))
        if cached is not None and cached.generation == generation and cached.model_hash == model:
            return cached
        ids, vectors = cat.vectors(model)
    order = np.argsort(ids, kind="stable")
    ids, vectors = ids[order].astype(np.int64), vectors[order]
    xy = compute_layout(vectors, init=_previous_positions(lib.root, model, ids), on_progress=on_progress)
    layout = MapLayout(generation, model, ids, xy)
    if not lib.readonly:
        _save(lib.root, layout)
    return layout


def _map_file(root: Path, generation: int) -> Path:
    return root / f"map-{generation}.npz"


def _load(path: Path) -> MapLayout | None:
    """The layout in `path`; None when it is missing, unreadable or malformed."""
    try:
        with np.load(path, allow_pickle=False) as f:
            if int(f["format"]) != FORMAT:
                return None
            ids, xy = f["ids"].astype(np.int64), f["xy"].astype(np.float32)
            layout = MapLayout(int(f["generation"]), str(f["model_hash"]), ids, xy)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError):
        return None
    if xy.shape != (len(ids), 2) or ids.ndim != 1 or not np.isfinite(xy).all():
        return None
    return layout


def _previous_positions(root: Path, model: str, ids: np.ndarray) -> np.ndarray | None:
    """(N, 2) positions of `ids` in the newest earlier map of the same model, NaN rows for the
    tracks it lacks; None when there is no such map."""
    for _, path in sorted(((_generation_of(p), p) for p in root.glob("map-*.npz")), reverse=True):
        old = _load(path)
        if old is None or old.model_hash != model or not len(old.ids):
            continue
        init = np.full((len(ids), 2), np.nan, np.float32)
        at = np.clip(np.searchsorted(old.ids, ids), 0, len(old.ids) - 1)
        known = old.ids[at] == ids
        init[known] = old.xy[at[known]]
        return init
    return None


def _generation_of(path: Path) -> int:
    number = path.stem.removeprefix("map-")
    return int(number) if number.isdigit() else -1


def _save(root: Path, layout: MapLayout) -> None:
    """Write the layout atomically and remove the other maps; a folder that cannot be written
    (read-only mount, full disk) leaves the map unsaved: it is recomputed next time."""
    target = _map_file(root, layout.generation)
    try:
        fd, tmp = tempfile.mkstemp(dir=root, prefix=f"{target.name}.", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, format=FORMAT, generation=layout.generation, model_hash=layout.model_hash,
                     ids=layout.ids, xy=layout.xy)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        return
    for path in root.glob("map-*.npz"):
        if path != target:
            path.unlink(missing_ok=True)


# -- the layout of vectors ----------------------------------------------------------------------

def compute_layout(vectors: np.ndarray, seed: int = 0, init: np.ndarray | None = None,
                   on_progress: Progress = None) -> np.ndarray:
    """(N, 2) float32 positions, each axis scaled to 0..1, of the (N, E) `vectors`: near in
    cosine, near on the map. `init` (N, 2): start positions (any scale; NaN rows: place these
    amid their neighbours) for a short refinement instead of a fresh layout. Deterministic for
    a seed."""
    n = len(vectors)
    if n <= 1:
        _report(on_progress, 1.0)
        return np.full((n, 2), 0.5, np.float32)
    rng = np.random.default_rng(seed)
    x = _unit(vectors)  # (N, E)
    neighbours, distances = knn(x, min(K, n - 1), seed)  # (N, k) each
    _report(on_progress, 0.1)
    head, tail, weight = fuzzy_graph(neighbours, distances)
    start = _start_positions(init, neighbours)
    if start is None:
        y, epochs, rate = _pca(x), max(MIN_EPOCHS, min(EPOCHS, EPOCH_BUDGET // n)), 1.0
    else:
        y, epochs, rate = start, REFINE_EPOCHS, REFINE_LEARNING_RATE
    y = y + rng.normal(scale=1e-4, size=y.shape)  # identical vectors start apart
    y = optimise(y.astype(np.float32), head, tail, weight, epochs, rate, rng,
                 lambda f: _report(on_progress, 0.1 + 0.9 * f))
    _report(on_progress, 1.0)
    return _to_unit_square(y)


def _report(on_progress: Progress, fraction: float) -> None:
    if on_progress is not None:
        on_progress(min(1.0, fraction))


def _unit(vectors: np.ndarray) -> np.ndarray:
    x = np.nan_to_num(np.asarray(vectors, np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def knn(x: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(indices (N, k), cosine distances (N, k)) of each unit row's k nearest other rows,
    nearest first."""
    labels = None
    if len(x) > EXACT_KNN_UP_TO:
        try:
            labels, dist = _hnsw_knn(x, k + 1, seed)
        except RuntimeError:  # hnswlib found fewer than k+1 (a library of thousands of copies)
            labels = None
    if labels is None:
        labels, dist = _exact_knn(x, k + 1)
    # drop each row itself; where k+1 copies hide it, drop the farthest instead
    own = labels == np.arange(len(x))[:, None]  # (N, k+1)
    own[~own.any(axis=1), -1] = True
    keep = ~own
    return labels[keep].reshape(len(x), k), np.maximum(dist[keep].reshape(len(x), k), 0.0)


def _exact_knn(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact neighbours from the Gram matrix, EXACT_KNN_UP_TO rows at a time, ties broken by
    index."""
    labels = np.empty((len(x), k), np.int64)
    dist = np.empty((len(x), k), np.float32)
    for start in range(0, len(x), EXACT_KNN_UP_TO):
        block = slice(start, start + EXACT_KNN_UP_TO)
        d = 1.0 - x[block] @ x.T  # (b, N)
        part = np.argpartition(d, k - 1, axis=1)[:, :k]  # (b, k), unordered
        near = np.take_along_axis(d, part, axis=1)
        order = np.lexsort((part, near), axis=1)
        labels[block] = np.take_along_axis(part, order, axis=1)
        dist[block] = np.take_along_axis(near, order, axis=1)
    return labels, dist


def _hnsw_knn(x: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Approximate neighbours (recall 0.99 on 50,000 clustered vectors). The graph is built on
    one thread: threads insert in a varying order, which changes a few neighbours from run to
    run, and the map with them; the queries, independent of each other, run on two."""
    import hnswlib

    index = hnswlib.Index(space="ip", dim=x.shape[1])  # unit rows: 1 - inner product is the cosine distance
    index.init_index(max_elements=len(x), ef_construction=64, M=12, random_seed=seed)
    index.add_items(x, np.arange(len(x)), num_threads=1)
    index.set_ef(max(2 * k, 48))
    labels, dist = index.knn_query(x, k=k, num_threads=2)
    return labels.astype(np.int64), dist.astype(np.float32)


def fuzzy_graph(neighbours: np.ndarray, distances: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(head (M,), tail (M,), weight (M,)) of the symmetric fuzzy neighbour graph, each
    undirected edge listed in both directions."""
    n, k = neighbours.shape
    w = _membership(distances).ravel()  # (N k,)
    i = np.repeat(np.arange(n), k)
    j = neighbours.ravel()
    pair = np.minimum(i, j) * n + np.maximum(i, j)
    keys, inverse = np.unique(pair, return_inverse=True)
    total = np.bincount(inverse, weights=w)
    squares = np.bincount(inverse, weights=w * w)
    both = (total * total - squares) / 2  # w_ij w_ji for a pair seen both ways, 0 for one way
    union = total - both
    lo, hi = keys // n, keys % n
    keep = (union > 0) & (lo != hi)
    lo, hi, union = lo[keep], hi[keep], union[keep].astype(np.float32)
    return np.concatenate([lo, hi]), np.concatenate([hi, lo]), np.concatenate([union, union])


def _membership(distances: np.ndarray, iterations: int = 48) -> np.ndarray:
    """(N, k) weights exp(-(d - rho) / sigma), sigma by bisection so each row sums to log2(k)."""
    d = distances.astype(np.float64)
    positive = np.where(d > 0, d, np.inf)
    rho = positive.min(axis=1, keepdims=True)
    rho[~np.isfinite(rho)] = 0.0  # all copies: every weight 1
    excess = np.maximum(d - rho, 0.0)  # (N, k)
    target = np.log2(max(d.shape[1], 2))
    lo, hi = np.zeros((len(d), 1)), np.full((len(d), 1), np.inf)
    sigma = np.ones((len(d), 1))
    for _ in range(iterations):
        total = np.exp(-excess / sigma).sum(axis=1, keepdims=True)
        over = total > target
        hi = np.where(over, sigma, hi)
        lo = np.where(over, lo, sigma)
        sigma = np.where(np.isinf(hi), sigma * 2, (lo + hi) / 2)
    sigma = np.maximum(sigma, 1e-3 * d.mean(axis=1, keepdims=True) + 1e-12)
    return np.exp(-excess / sigma)


def _pca(x: np.ndarray) -> np.ndarray:
    """(N, 2) projection on the two main axes, spanning [-INIT_SCALE, INIT_SCALE]."""
    centred = x - x.mean(axis=0)
    cov = (centred.T @ centred).astype(np.float64)  # (E, E)
    _, vecs = np.linalg.eigh(cov)
    axes = vecs[:, ::-1][:, :2]  # (E, 2)
    axes *= np.where(axes[np.abs(axes).argmax(axis=0), [0, 1]] < 0, -1.0, 1.0)  # a fixed sign
    return _scaled(centred @ axes)


def _scaled(y: np.ndarray) -> np.ndarray:
    y = y - y.mean(axis=0)
    return y * (INIT_SCALE / max(float(np.abs(y).max()), 1e-12))


def _start_positions(init: np.ndarray | None, neighbours: np.ndarray) -> np.ndarray | None:
    """`init` at the working scale, each NaN row at the mean of its placed neighbours; None when
    fewer than MIN_KNOWN of the rows are placed (a fresh layout does better)."""
    if init is None:
        return None
    y = np.array(init, np.float64)
    placed = np.isfinite(y).all(axis=1)
    if placed.mean() < MIN_KNOWN:
        return None
    y[placed] = _scaled(y[placed])
    for _ in range(4):  # a new track whose neighbours are all new: placed on a later round
        todo = np.flatnonzero(~placed)
        if not len(todo):
            break
        near = neighbours[todo]  # (T, k)
        ok = placed[near]  # (T, k)
        count = ok.sum(axis=1)
        sums = np.einsum("tk,tkc->tc", ok, np.nan_to_num(y[near]))
        done = count > 0
        y[todo[done]] = sums[done] / count[done, None]
        placed[todo[done]] = True
    y[~placed] = y[placed].mean(axis=0)
    return y


def optimise(y: np.ndarray, head: np.ndarray, tail: np.ndarray, weight: np.ndarray, epochs: int,
             rate: float, rng: np.random.Generator, on_progress: Callable[[float], None]) -> np.ndarray:
    """`epochs` of vectorised SGD on the (N, 2) positions `y`; the learning rate falls linearly
    from `rate` to 0."""
    n = len(y)
    if not len(head):
        return y
    keep = weight >= weight.max() / epochs  # edges too weak to be sampled once
    head, tail, weight = head[keep], tail[keep], weight[keep]
    every = weight.max() / weight  # epochs between two samples of an edge
    due = every.copy()
    px, py = (np.ascontiguousarray(y[:, c], np.float32) for c in (0, 1))  # one array per axis: fast gathers
    pool = _NegativePool(rng, n, int(NEGATIVES * (1 / every).sum()))
    for epoch in range(epochs):
        alpha = np.float32(rate * (1.0 - epoch / epochs))
        now = np.flatnonzero(due <= epoch + 1)
        due[now] += every[now]
        h, t = head[now], tail[now]  # (S,)
        hx, hy = px[h], py[h]
        pull = _attraction(hx - px[t], hy - py[t])
        hn = np.repeat(h, NEGATIVES)  # (S NEGATIVES,)
        other = pool.take(len(hn))
        push = _repulsion(np.repeat(hx, NEGATIVES) - px[other], np.repeat(hy, NEGATIVES) - py[other], hn == other)
        points = np.concatenate([h, t, hn])
        for p, (pull_c, push_c) in zip((px, py), zip(pull, push)):
            step = np.concatenate([pull_c, -pull_c, push_c]) * alpha
            p += np.bincount(points, weights=step, minlength=n).astype(np.float32)
        if epoch % 10 == 9:
            on_progress((epoch + 1) / epochs)
    return np.stack([px, py], axis=1)


class _NegativePool:
    """Random points for the negative samples: slices at random offsets of one stream drawn
    once (drawing afresh every epoch costs as much as the rest of the repulsion)."""

    def __init__(self, rng: np.random.Generator, n: int, per_epoch: int) -> None:
        self.rng = rng
        self.points = rng.integers(0, n, 4 * per_epoch + 4096, dtype=np.int32)

    def take(self, count: int) -> np.ndarray:
        start = int(self.rng.integers(0, len(self.points)))
        part = self.points[start : start + count]
        while len(part) < count:  # wrapped past the end
            part = np.concatenate([part, self.points[: count - len(part)]])
        return part


def _attraction(dx: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steps (x (S,), y (S,)) moving the heads of edges towards their tails (the tails: minus
    these): the gradient of log q, q = 1 / (1 + A d^2)."""
    coef = np.float32(-2 * A) / (1 + np.float32(A) * (dx * dx + dy * dy))
    return np.clip(coef * dx, -CLIP, CLIP), np.clip(coef * dy, -CLIP, CLIP)


def _repulsion(dx: np.ndarray, dy: np.ndarray, itself: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steps (x (S,), y (S,)) moving heads away from random points (none from themselves): the
    gradient of log(1 - q)."""
    d2 = dx * dx + dy * dy
    coef = np.float32(2) / ((np.float32(0.001) + d2) * (1 + np.float32(A) * d2))
    coef[itself] = 0
    return np.clip(coef * dx, -CLIP, CLIP), np.clip(coef * dy, -CLIP, CLIP)


def _to_unit_square(y: np.ndarray) -> np.ndarray:
    """Each axis to [MARGIN, 1 - MARGIN]; an axis without extent to 0.5."""
    y = np.nan_to_num(y.astype(np.float64))
    low, span = y.min(axis=0), np.ptp(y, axis=0)
    flat = span <= 1e-12
    scaled = MARGIN + (1 - 2 * MARGIN) * (y - low) / np.where(flat, 1.0, span)
    scaled[:, flat] = 0.5
    return scaled.astype(np.float32)
