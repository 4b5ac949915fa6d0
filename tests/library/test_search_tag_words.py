"""`muser search` with a query that is one tag word ("sad", "80s", "piano"): ranked by the trained
head's probability on the stored track vectors, not by the word's text embedding."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from muser_model.core import vocab_groups as VG
from muser_model.core.checkpoint import load_checkpoint, save_checkpoint
from muser_model.core.scoring import Scorer, sigmoid
from muser_model.library.store import Library
from muser_model.numpy_engine.audio import NumpyMuser
from tests.helpers.library_fixtures import json_lines, make_library, run_cli

MSD, MTT = list(VG.VOCABULARIES["msd"].labels), list(VG.VOCABULARIES["mtt"].labels)


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
    root = tmp_path_factory.mktemp("tagwords")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MUSER_HOME", str(root / "home"))
        files = make_library(root / "music")
        res = run_cli("index", root / "music", "-c", headed_checkpoint, "--workers", 1)
        assert res.exit_code == 0, res.stderr
        yield files


def _head_order(checkpoint, kind: str, label: str) -> tuple[list[str], np.ndarray]:
    """Paths of the indexed tracks, best first by the head's probability of `label`, and those
    probabilities, computed here from the stored vectors."""
    lib = Library.open("default")
    ids, vectors = lib.catalogue.vectors(lib.model_hash)
    heads = NumpyMuser.load(checkpoint).assets.heads
    labels = MSD if kind == "msd" else MTT
    probs = sigmoid(vectors @ heads[f"{kind}.weight"].T + heads[f"{kind}.bias"])[:, labels.index(label)]
    rows = lib.catalogue.rows(ids.tolist())
    order = np.lexsort((ids, -probs))
    return [rows[int(ids[i])]["path"] for i in order], probs[order]


def test_head_tag_matches_a_headed_label_msd_first(headed_checkpoint, msd_checkpoint):
    scorer = Scorer(NumpyMuser.load(headed_checkpoint))
    assert scorer.head_tag("sad") == ("msd", MSD.index("sad"))
    assert scorer.head_tag("  Heavy   Metal ") == ("msd", MSD.index("heavy metal"))
    assert scorer.head_tag("hip-hop") == ("msd", MSD.index("Hip-Hop"))
    assert scorer.head_tag("rock") == ("msd", MSD.index("rock"))  # in both: the teachers' MSD-50 first
    assert scorer.head_tag("piano") == ("tags", MTT.index("piano"))  # MTT-50 only
    assert scorer.head_tag("sad piano") is None and scorer.head_tag("melancholic") is None
    # without an MTT head, "piano" has no head to rank by
    assert Scorer(NumpyMuser.load(msd_checkpoint)).head_tag("piano") is None


def test_one_tag_word_is_ranked_by_its_head(library, headed_checkpoint):
    res = run_cli("search", "sad", "--json", "-n", 10, "-c", headed_checkpoint)
    assert res.exit_code == 0, res.stderr
    hits = json_lines(res.stdout)
    paths, probs = _head_order(headed_checkpoint, "msd", "sad")
    assert [h["path"] for h in hits] == paths
    assert [h["score"] for h in hits] == pytest.approx(probs.tolist(), abs=1e-4)
    assert {(h["score_kind"], h["ranked_by_tag"]) for h in hits} == {("probability", "msd:sad")}
    assert "ranked by the trained head's probability of the tag msd:sad" in res.stderr


def test_an_mtt_word_uses_the_mtt_head(library, headed_checkpoint):
    hits = json_lines(run_cli("search", "Piano", "--json", "-c", headed_checkpoint).stdout)
    assert [h["path"] for h in hits] == _head_order(headed_checkpoint, "tags", "piano")[0]
    assert hits[0]["ranked_by_tag"] == "mtt:piano"


def test_more_words_are_a_text_search(library, headed_checkpoint):
    res = run_cli("search", "sad piano", "--json", "-c", headed_checkpoint)
    assert res.exit_code == 0, res.stderr
    hits = json_lines(res.stdout)
    assert hits and {(h["score_kind"], h["ranked_by_tag"]) for h in hits} == {("cosine", "")}
    assert "ranked by" not in res.stderr


def test_filters_hold_for_a_tag_word(library, headed_checkpoint):
    hits = json_lines(run_cli("search", "sad artist:\"ann lee\"", "--json", "-c", headed_checkpoint).stdout)
    assert {h["artist"].rstrip("\x01") for h in hits} == {"Ann Lee"} and len(hits) == 2
    everything, _ = _head_order(headed_checkpoint, "msd", "sad")
    assert [h["path"] for h in hits] == [p for p in everything if p in {h["path"] for h in hits}]


def test_the_torch_fallback_ranks_a_tag_word_alike(library, headed_checkpoint, monkeypatch):
    import muser_model.library.query as query

    fast = json_lines(run_cli("search", "80s", "--json", "-c", headed_checkpoint).stdout)
    monkeypatch.setattr(query, "numpy_query_model", lambda checkpoint: None)
    slow = json_lines(run_cli("search", "80s", "--json", "-c", headed_checkpoint).stdout)
    assert [h["path"] for h in fast] == [h["path"] for h in slow]
    assert [h["score"] for h in fast] == pytest.approx([h["score"] for h in slow], abs=1e-4)
    assert slow[0]["ranked_by_tag"] == "msd:80s"
