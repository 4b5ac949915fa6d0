"""The hnswlib wrapper: capacity, ef after load, deletions, compaction, similarities."""
import numpy as np
import pytest

from muser_model.library.ann import EF_SEARCH, AnnIndex


def _vectors(n, d=16, seed=0):
    v = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_grows_past_its_capacity():
    ann = AnnIndex(16, capacity=16)
    vecs = _vectors(100)
    for start in range(0, 100, 10):
        ann.put(np.arange(start, start + 10), vecs[start : start + 10])
    assert ann.size == 100 and ann.index.get_max_elements() >= 100


def test_scores_are_cosine_similarities():
    vecs = _vectors(50)
    ann = AnnIndex.build(np.arange(50), vecs, 16)
    hits = ann.query(vecs[7], 3)
    assert hits[0] == (7, pytest.approx(1.0, abs=1e-5))
    for i, score in hits:
        assert score == pytest.approx(float(vecs[i] @ vecs[7]), abs=1e-5)


def test_ef_is_set_again_after_load(tmp_path):
    vecs = _vectors(50)
    AnnIndex.build(np.arange(50), vecs, 16).save(tmp_path / "i.hnsw")
    loaded = AnnIndex.load(tmp_path / "i.hnsw", 16, set(range(50)))
    assert loaded.index.ef == EF_SEARCH
    assert loaded.query(vecs[3], 1)[0][0] == 3


def test_load_marks_labels_the_catalogue_lost_as_deleted(tmp_path):
    vecs = _vectors(50)
    AnnIndex.build(np.arange(50), vecs, 16).save(tmp_path / "i.hnsw")
    loaded = AnnIndex.load(tmp_path / "i.hnsw", 16, set(range(40)))
    assert loaded.size == 40
    assert all(i < 40 for i, _ in loaded.query(vecs[45], 40))


def test_deleted_ids_come_back_when_put_again():
    vecs = _vectors(20)
    ann = AnnIndex.build(np.arange(20), vecs, 16)
    ann.delete([3, 4])
    assert 3 not in [i for i, _ in ann.query(vecs[3], 18)]
    ann.put(np.array([3]), vecs[3:4])
    assert ann.query(vecs[3], 1)[0][0] == 3 and ann.size == 19


def test_compaction_threshold():
    ann = AnnIndex.build(np.arange(100), _vectors(100), 16)
    ann.delete(list(range(20)))
    assert not ann.needs_compaction()
    ann.delete(list(range(20, 30)))
    assert ann.needs_compaction()


def test_k_larger_than_the_index_and_filters():
    vecs = _vectors(10)
    ann = AnnIndex.build(np.arange(10), vecs, 16)
    assert len(ann.query(vecs[0], 50)) == 10
    assert {i for i, _ in ann.query(vecs[0], 5, allowed={2, 4})} == {2, 4}
    assert AnnIndex(16).query(vecs[0], 5) == []


def test_save_is_atomic_and_leaves_no_temp(tmp_path):
    AnnIndex.build(np.arange(10), _vectors(10), 16).save(tmp_path / "i.hnsw")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["i.hnsw"]


def test_batched_neighbours_are_cosines_best_first():
    vecs = _vectors(40)
    ann = AnnIndex.build(np.arange(40), vecs, 16)
    labels, sims = ann.neighbours(vecs[:5], 3)
    assert labels.shape == sims.shape == (5, 3)
    assert labels[:, 0].tolist() == [0, 1, 2, 3, 4]  # each finds itself first
    for row, (found, scores) in enumerate(zip(labels, sims)):
        assert np.all(np.diff(scores) <= 1e-6)
        assert scores == pytest.approx(vecs[found] @ vecs[row], abs=1e-5)
    ann.delete([0])
    labels, _ = ann.neighbours(vecs[:1], 100, ef=16)  # k is clipped to what is left
    assert labels.shape == (1, 39) and 0 not in labels
    assert ann.index.ef == EF_SEARCH  # a narrow neighbour search leaves later queries as they were
