"""`muser search` through the grounding layer: vocabulary words rank by the calibrated heads
(blended with the text embedding), free text by the embedding alone, and --explain / --json say how
the query was read."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from muser_model.core import vocab_groups as VG
from muser_model.core.checkpoint import load_checkpoint
from muser_model.torch_engine.checkpoint_export import save_checkpoint
from muser_model.core.scoring import sigmoid
from muser_model.library.store import Library
from muser_model.numpy_engine.audio import NumpyMuser
from tests.helpers.library_fixtures import json_lines, make_library, run_cli

MTT = list(VG.VOCABULARIES["mtt"].labels)


@pytest.fixture(scope="module")
def headed_checkpoint(msd_checkpoint, tmp_path_factory):
    """The MSD checkpoint with a random linear MTT-50 head beside its MSD-50 one."""
    ckpt = load_checkpoint(msd_checkpoint)
    g = torch.Generator().manual_seed(7)
    e = ckpt.config.embed_dim
    ckpt.heads = {**ckpt.heads, "tags.weight": torch.randn(50, e, generator=g), "tags.bias": torch.randn(50, generator=g)}
    path = tmp_path_factory.mktemp("headed") / "headed.muser"
    save_checkpoint(ckpt, path)
    return path


@pytest.fixture(scope="module")
def library(tmp_path_factory, headed_checkpoint):
    """A small library indexed once for the module (the tests only read it)."""
    root = tmp_path_factory.mktemp("grounded")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MUSER_HOME", str(root / "home"))
        files = make_library(root / "music")
        res = run_cli("index", root / "music", "-c", headed_checkpoint, "--workers", 1)
        assert res.exit_code == 0, res.stderr
        yield files


def _stored() -> tuple[list[str], np.ndarray]:
    lib = Library.open("default")
    ids, vectors = lib.catalogue.vectors(lib.model_hash)
    rows = lib.catalogue.rows(ids.tolist())
    return [rows[int(i)]["path"] for i in ids], vectors


def test_a_vocabulary_word_ranks_by_its_head(library, headed_checkpoint):
    res = run_cli("search", "piano", "--json", "-n", 50, "-c", headed_checkpoint)
    assert res.exit_code == 0, res.stderr
    hits = json_lines(res.stdout)
    assert {h["score_kind"] for h in hits} == {"blend"}
    paths, vectors = _stored()
    heads = NumpyMuser.load(headed_checkpoint).assets.heads
    probs = sigmoid(vectors @ heads["tags.weight"].T + heads["tags.bias"])[:, MTT.index("piano")]
    by_head = [paths[i] for i in np.argsort(-probs)]
    by_heads_part = [h["path"] for h in sorted(hits, key=lambda h: -h["parts"]["heads"])]
    assert by_heads_part == by_head  # the heads' part is a monotone function of the head
    assert hits[0]["query"]["weights"]["heads"] == pytest.approx(0.9)


def test_free_text_ranks_by_the_embedding(library, headed_checkpoint):
    from muser_model.text_model import numpy_text_model

    hits = json_lines(run_cli("search", "rainy night", "--json", "-n", 50, "-c", headed_checkpoint).stdout)
    assert {h["score_kind"] for h in hits} == {"cosine"}
    paths, vectors = _stored()
    query = numpy_text_model(headed_checkpoint).embed(["rainy night"])[0]
    assert [h["path"] for h in hits] == [paths[i] for i in np.argsort(-(vectors @ query))]
    assert hits[0]["query"]["weights"] == {"heads": 0.0, "text": 1.0}


def test_explain_says_how_the_query_was_read(library, headed_checkpoint):
    res = run_cli("search", "melancholic piano", "--explain", "-c", headed_checkpoint)
    assert res.exit_code == 0, res.stderr
    assert "query: melancholic piano -> heads 0.90: sad|mellow (msd:sad, axis:valence-, msd:Mellow) + " \
           "piano (mtt:piano) | text 0.10" in res.stderr
    assert "calibration: this library (" in res.stderr


def test_json_carries_the_query_object(library, headed_checkpoint):
    hits = json_lines(run_cli("search", "no drums, sad rainy", "--json", "-c", headed_checkpoint).stdout)
    query = hits[0]["query"]
    terms = query["reading"]["terms"]
    assert [(t["concepts"], t["negated"]) for t in terms] == [(["drums"], True), (["sad"], False)]
    assert query["reading"]["free_words"] == ["rainy"]
    assert query["weights"]["heads"] == pytest.approx(0.9)


def test_filters_hold_for_a_grounded_query(library, headed_checkpoint):
    hits = json_lines(run_cli("search", "sad artist:\"ann lee\"", "--json", "-c", headed_checkpoint).stdout)
    assert {h["artist"].rstrip("\x01") for h in hits} == {"Ann Lee"} and len(hits) == 2


def test_the_torch_fallback_ranks_a_grounded_query_alike(library, headed_checkpoint, monkeypatch):
    import muser_model.text_model as text_model

    fast = json_lines(run_cli("search", "sad piano", "--json", "-c", headed_checkpoint).stdout)
    monkeypatch.setattr(text_model, "numpy_text_model", lambda checkpoint: None)
    slow = json_lines(run_cli("search", "sad piano", "--json", "-c", headed_checkpoint).stdout)
    assert [h["path"] for h in fast] == [h["path"] for h in slow]
    assert [h["score"] for h in fast] == pytest.approx([h["score"] for h in slow], abs=1e-4)
    assert [h["parts"] for h in fast] == [pytest.approx(h["parts"], abs=1e-4) for h in slow]


def test_search_reads_the_heads_logits_that_index_stored(library, headed_checkpoint):
    """`muser index` stores each track's head logits with its predictions; a grounded search reads
    them instead of running the heads over every candidate, and ranks exactly as if it had."""
    import sqlite3

    from muser_model.library.predict import scorer_predictor
    from muser_model.text_model import numpy_text_model

    model = numpy_text_model(headed_checkpoint)
    lib = Library.open("default")
    ids, vectors = lib.catalogue.vectors(lib.model_hash)
    key = scorer_predictor(model.scorer, model.content_hash, model.reference).key
    stored = lib.catalogue.head_logits(lib.model_hash, key, ids)
    assert stored is not None and np.allclose(stored, model.grounder.all_logits(vectors), atol=1e-5)
    catalogue = lib.root / "catalogue.sqlite"
    lib.close()
    with_stored = json_lines(run_cli("search", "sad piano", "--json", "-n", 50, "-c", headed_checkpoint).stdout)
    with sqlite3.connect(catalogue) as db:
        db.execute("UPDATE tracks SET head_logits=NULL")  # as a library indexed before they were stored
    computed = json_lines(run_cli("search", "sad piano", "--json", "-n", 50, "-c", headed_checkpoint).stdout)
    assert [h["path"] for h in with_stored] == [h["path"] for h in computed]
    assert [h["score"] for h in with_stored] == pytest.approx([h["score"] for h in computed], abs=1e-4)
