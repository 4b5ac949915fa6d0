"""The numpy and torch engines agree on everything the grounding layer adds to `muser tag`: the
genre families and the headline, energy and valence, and --labels read through the heads."""
from __future__ import annotations

import numpy as np
import pytest

from muser_model.core.reference import write_reference
from muser_model.numpy_engine.audio import NumpyMuser
from muser_model.tagging import tag_files, tag_files_numpy

LABELS = ["acoustic", "melancholic piano", "space battle", "no drums"]


@pytest.fixture(scope="module")
def referenced(msd_checkpoint, tmp_path_factory):
    """The MSD checkpoint with a reference set beside it (random unit vectors)."""
    path = tmp_path_factory.mktemp("ref") / msd_checkpoint.name
    path.write_bytes(msd_checkpoint.read_bytes())
    model = NumpyMuser.load(path)
    vectors = np.random.default_rng(0).normal(size=(64, model.config.embed_dim)).astype(np.float32)
    write_reference(path, model.content_hash, vectors / np.linalg.norm(vectors, axis=1, keepdims=True), "test")
    return path


def test_engines_agree_on_grounded_scores(referenced, clips):
    from muser_model.torch_engine.runtime import load_model

    by_numpy = list(tag_files_numpy(NumpyMuser.load(referenced), clips, labels=LABELS))
    by_torch = list(tag_files(load_model(referenced, "cpu"), clips, labels=LABELS))
    for a, b in zip(by_numpy, by_torch):
        assert a.mood.keys() == b.mood.keys() == {"energy", "valence"}
        assert a.mood == pytest.approx(b.mood, abs=1e-4)
        assert [g.label for g in a.genres] == [g.label for g in b.genres]
        assert [g.score for g in a.genres] == pytest.approx([g.score for g in b.genres], abs=1e-4)
        assert (a.headline.label, a.headline.clear) == (b.headline.label, b.headline.clear)
        assert [(s.label, s.method) for s in a.labels] == [(s.label, s.method) for s in b.labels]
        assert [s.score for s in a.labels] == pytest.approx([s.score for s in b.labels], abs=1e-4)
        assert a.label_readings == b.label_readings


def test_a_reference_set_for_another_checkpoint_is_ignored(referenced, msd_checkpoint, tmp_path):
    from muser_model.core.reference import load_reference

    model = NumpyMuser.load(referenced)
    assert load_reference(referenced, model.content_hash) is not None
    assert load_reference(referenced, "0" * 64) is None  # keyed by the checkpoint's hash
    assert load_reference(tmp_path / "none.muser", model.content_hash) is None
