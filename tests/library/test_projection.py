"""The music map: a 2-D layout of the library's vectors that keeps neighbours near, cached per
catalogue generation and stable across a small re-index."""
from __future__ import annotations

import numpy as np
import pytest

from muser_model.library import projection
from muser_model.library.projection import compute_layout, map_layout
from muser_model.library.records import TrackRow
from muser_model.library.store import Library

HASH = "f" * 64
E = 32


def _clusters(n: int, clusters: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(unit vectors (n, E), cluster labels (n,)): each cluster a centre plus variation along
    three directions of its own, as songs of one style differ in a few ways."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, E))
    basis = rng.standard_normal((clusters, 3, E))
    labels = np.arange(n) % clusters
    v = centres[labels] + 0.5 * np.einsum("nl,nle->ne", rng.standard_normal((n, 3)), basis[labels])
    v += 0.05 * rng.standard_normal((n, E))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32), labels


def _knn_preserved(x: np.ndarray, y: np.ndarray, k: int = 10) -> float:
    """Mean fraction of each point's k nearest (cosine) in `x` that are among its k nearest in `y`."""
    far = 1 - x @ x.T
    flat = ((y[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(far, np.inf)
    np.fill_diagonal(flat, np.inf)
    a, b = np.argsort(far, axis=1)[:, :k], np.argsort(flat, axis=1)[:, :k]
    return float(np.mean([len(set(p) & set(q)) / k for p, q in zip(a, b)]))


@pytest.fixture(scope="module")
def six_clusters():
    x, labels = _clusters(600)
    return x, labels, compute_layout(x)


def test_clusters_sit_apart_on_the_map(six_clusters):
    _, labels, xy = six_clusters
    centres = np.stack([xy[labels == c].mean(axis=0) for c in range(6)])
    spread = np.mean([np.linalg.norm(xy[labels == c] - centres[c], axis=1).mean() for c in range(6)])
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1)[np.triu_indices(6, 1)]
    assert gaps.min() > 3 * spread  # even the two nearest clusters are well apart
    assert spread > 0.02  # yet each cluster's tracks spread out, not piled on one spot
    nearest = ((xy[:, None] - centres[None]) ** 2).sum(-1).argmin(axis=1)
    assert np.mean(nearest == labels) > 0.99


def test_neighbours_stay_neighbours_better_than_with_pca(six_clusters):
    x, _, xy = six_clusters
    ours = _knn_preserved(x, xy)
    pca = _knn_preserved(x, projection._pca(projection._unit(x)))
    assert ours > pca + 0.15, (ours, pca)


def test_the_map_fills_the_unit_square_with_finite_points(six_clusters):
    xy = six_clusters[2]
    assert xy.dtype == np.float32 and xy.shape == (600, 2) and np.isfinite(xy).all()
    assert xy.min() >= 0 and xy.max() <= 1
    assert np.allclose(xy.min(axis=0), projection.MARGIN) and np.allclose(xy.max(axis=0), 1 - projection.MARGIN)


def test_edges_are_fuzzy_memberships_the_same_both_ways():
    x, _ = _clusters(60, clusters=2)
    head, tail, weight = projection.fuzzy_graph(*projection.knn(projection._unit(x), 5))
    assert (weight > 0).all() and (weight <= 1).all()  # a fuzzy union of two memberships stays one
    both_ways = dict(zip(zip(head.tolist(), tail.tolist()), weight.tolist()))
    assert all(both_ways[(j, i)] == w for (i, j), w in both_ways.items()) and len(both_ways) == len(head)
    assert (head != tail).all() and max(both_ways.values()) == 1.0  # each point's nearest: full membership


def test_one_seed_gives_one_layout():
    x, _ = _clusters(150, clusters=3, seed=1)
    assert np.array_equal(compute_layout(x, seed=3), compute_layout(x, seed=3))
    assert not np.array_equal(compute_layout(x, seed=3), compute_layout(x, seed=4))


@pytest.mark.parametrize("vectors", [np.zeros((0, E)), np.ones((1, E)), np.eye(E)[:2], np.ones((20, E)),
                                     np.repeat(np.eye(E)[:3], 7, axis=0), np.zeros((5, E))],
                         ids=["none", "one", "two", "all-copies", "three-sets-of-copies", "zero-vectors"])
def test_small_and_degenerate_libraries_get_a_map(vectors):
    progress = []
    xy = compute_layout(vectors, on_progress=progress.append)
    assert xy.shape == (len(vectors), 2) and xy.dtype == np.float32
    assert np.isfinite(xy).all() and (xy >= 0).all() and (xy <= 1).all()
    assert progress[-1] == 1.0 and progress == sorted(progress)
    if len(vectors) == 2:
        assert np.linalg.norm(xy[0] - xy[1]) > 0.5  # the two are not piled on one spot


# -- the map of a library -----------------------------------------------------------------------

@pytest.fixture
def library(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    lib = Library.open("default", create=True)
    lib.adopt_model(HASH, E)
    yield lib
    lib.close()


def _put(lib: Library, vectors: np.ndarray, first: int = 0) -> None:
    lib.catalogue.put_tracks([TrackRow(f"/music/t{first + i:04d}.ogg", 1, 1, v, {"title": f"t{first + i}"}, 60.0, 12)
                              for i, v in enumerate(vectors)], HASH)


@pytest.fixture
def counted(monkeypatch):
    """How many times map_layout computed a layout."""
    calls = []
    real = projection.compute_layout

    def counting(*args, **kwargs):
        calls.append(kwargs.get("init"))
        return real(*args, **kwargs)

    monkeypatch.setattr(projection, "compute_layout", counting)
    return calls


def _maps(lib: Library) -> list[str]:
    return sorted(p.name for p in lib.root.glob("map-*"))


def test_the_map_is_computed_once_per_generation(library, counted):
    x, _ = _clusters(200, clusters=4)
    _put(library, x)
    first = map_layout(library)
    assert first.generation == library.catalogue.generation and first.model_hash == HASH
    assert np.array_equal(first.ids, np.sort(library.catalogue.ids(HASH))) and first.ids.dtype == np.int64
    assert _maps(library) == [f"map-{first.generation}.npz"]
    again = map_layout(library)
    assert len(counted) == 1  # read back, not recomputed
    assert np.array_equal(again.ids, first.ids) and np.array_equal(again.xy, first.xy)


def test_a_new_generation_recomputes_and_replaces_the_old_map(library, counted):
    x, _ = _clusters(210, clusters=3)
    _put(library, x[:200])
    old = map_layout(library)
    _put(library, x[200:], first=200)
    new = map_layout(library)
    assert len(counted) == 2 and new.generation > old.generation and len(new.ids) == 210
    assert _maps(library) == [f"map-{new.generation}.npz"]


def test_a_damaged_map_file_is_computed_again(library, counted):
    x, _ = _clusters(100, clusters=2)
    _put(library, x)
    path = library.root / f"map-{library.catalogue.generation}.npz"
    path.write_bytes(b"PK\x03\x04 cut short")
    layout = map_layout(library)
    assert len(counted) == 1 and len(layout.ids) == 100
    assert map_layout(library).xy.tolist() == layout.xy.tolist() and len(counted) == 1  # the file was rewritten


def test_an_empty_library_has_an_empty_map(library):
    layout = map_layout(library)
    assert layout.ids.shape == (0,) and layout.xy.shape == (0, 2) and layout.xy.dtype == np.float32


def test_a_map_of_another_model_is_not_used(library, counted):
    x, _ = _clusters(100, clusters=2)
    _put(library, x)
    map_layout(library)
    np.savez(library.root / f"map-{library.catalogue.generation}.npz", format=projection.FORMAT,
             generation=library.catalogue.generation, model_hash="0" * 64, ids=np.arange(3), xy=np.zeros((3, 2)))
    layout = map_layout(library)
    assert len(counted) == 2 and len(layout.ids) == 100
    assert counted[-1] is None  # nor its positions as a start


def test_a_read_only_library_computes_its_map_and_writes_nothing(library, counted):
    x, _ = _clusters(100, clusters=2)
    _put(library, x)
    library.close()
    reader = Library.open("default", readonly=True)
    try:
        layout = map_layout(reader)
        assert len(layout.ids) == 100 and np.isfinite(layout.xy).all()
        assert _maps(reader) == [] and len(counted) == 1
    finally:
        reader.close()


def test_a_few_new_tracks_leave_the_map_where_it_was(library, counted):
    x, labels = _clusters(612, clusters=6, seed=2)
    _put(library, x[:600])
    before = map_layout(library)
    _put(library, x[600:], first=600)
    after = map_layout(library)
    assert counted[-1] is not None  # started from the previous map
    moved = np.linalg.norm(after.xy[:600] - before.xy, axis=1)  # ids are given in order of insertion
    assert moved.mean() < 0.04, moved.mean()
    cluster_centres = np.stack([before.xy[labels[:600] == c].mean(axis=0) for c in range(6)])
    placed = ((after.xy[600:, None] - cluster_centres[None]) ** 2).sum(-1).argmin(axis=1)
    assert np.array_equal(placed, labels[600:])  # each new track amid its own cluster
