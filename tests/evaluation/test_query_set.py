"""The dev query set for real-music search: its file, its grading and NDCG@10."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from muser_model.core import vocab_groups
from muser_model.core.errors import VocabularyError
from muser_train.evaluation import query_set as qs


def _query(all_, none=(), kind="vocab") -> qs.Query:
    return qs.Query(id="q", text="q", kind=kind, all=tuple(tuple(g) for g in all_), none=tuple(none))


def test_ndcg_matches_a_hand_computed_ranking():
    all_gains = [1.0, 0.5, 0.0, 0.25]
    # results 0.5 then 1.0: DCG = 0.5 + 1/log2(3); ideal top 2 = 1 + 0.5/log2(3)
    want = (0.5 + 1 / math.log2(3)) / (1 + 0.5 / math.log2(3))
    assert qs.ndcg_at_k([0.5, 1.0, 0.0], all_gains, k=2) == pytest.approx(want)
    assert qs.ndcg_at_k([1.0, 0.5, 0.25], all_gains, k=10) == pytest.approx(1.0)
    # only the top K counts: a perfect pair then junk is still perfect at k=2
    assert qs.ndcg_at_k([1.0, 0.5, 0.0, 0.0], all_gains, k=2) == pytest.approx(1.0)
    assert qs.ndcg_at_k([0.0, 0.25], all_gains, k=2) == pytest.approx(
        (0.25 / math.log2(3)) / (1 + 0.5 / math.log2(3)))


def test_ndcg_is_nan_when_nothing_is_relevant():
    assert math.isnan(qs.ndcg_at_k([0.0, 0.0], [0.0, 0.0, 0.0]))


def test_grade_is_a_soft_and_of_groups_times_the_absent_tags():
    q = _query([["mtt:piano", "msd:guitar"], ["msd:sad"]], none=["mtt:drums", "mtt:loud"])
    teacher = {"mtt:piano": 0.2, "msd:guitar": 0.6, "msd:sad": 0.5, "mtt:drums": 0.3, "mtt:loud": 0.1}
    assert qs.grade(q, teacher) == pytest.approx(0.6 * 0.5 * (1 - 0.3))
    teacher["mtt:loud"] = 0.9   # one loud clip: the "none" side drops it
    assert qs.grade(q, teacher) == pytest.approx(0.6 * 0.5 * 0.1)


def test_gains_grade_every_clip_as_grade_does():
    rng = np.random.default_rng(0)
    labels = ["mtt:piano", "msd:guitar", "msd:sad", "mtt:drums"]
    scores = qs.TeacherScores(["a", "b", "c"], {t: rng.random(3) for t in labels})
    q = _query([["mtt:piano", "msd:guitar"], ["msd:sad"]], none=["mtt:drums"])
    assert qs.gains(q, scores) == pytest.approx([qs.grade(q, scores.clip(k)) for k in range(3)])
    assert list(scores.subset(["c", "a"]).ids) == ["c", "a"]


def test_the_committed_queries_load_and_name_only_vocabulary_tags():
    queries = qs.load_queries()
    assert len(queries) >= 36
    free = [q for q in queries if q.kind == "free"]
    assert len(free) >= 6 and all(q.note for q in free)
    for q in queries:
        for t in q.tag_ids():
            assert vocab_groups.tag(t).id == t
    assert any(q.none for q in queries)   # negation is part of the set
    assert sum(len(q.all) >= 2 for q in queries) >= 20   # most combine several concepts


def test_queries_are_not_written_in_tag_ids():
    for q in qs.load_queries():
        assert ":" not in q.text, q.id


def test_an_unknown_tag_is_named_with_its_file_and_query(tmp_path):
    bad = tmp_path / "q.json"
    bad.write_text(json.dumps({"queries": [
        {"id": "x", "text": "x", "kind": "vocab", "all": [["mtt:kazoo"]]}]}))
    with pytest.raises(VocabularyError, match=r"q\.json: query 'x'.*mtt:kazoo"):
        qs.load_queries(bad)


def test_a_repeated_query_id_is_refused(tmp_path):
    q = {"id": "x", "text": "x", "kind": "vocab", "all": [["mtt:piano"]]}
    bad = tmp_path / "q.json"
    bad.write_text(json.dumps({"queries": [q, q]}))
    with pytest.raises(VocabularyError, match="appears twice"):
        qs.load_queries(bad)


def test_label_sets_keep_only_clear_cases():
    cols = {t: np.zeros(4) for sides in qs.LABEL_RULES.values() for tags in sides.values() for t in tags}
    cols["mtt:synth"][:] = [0.6, 0.5, 0.22, 0.1]
    cols["mtt:piano"][:] = [0.1, 0.4, 0.0, 0.6]
    sets = qs.derive_label_sets(qs.TeacherScores(["a", "b", "c", "d"], cols))
    pair = sets["pairs"]["electronic_vs_acoustic"]
    # b leads by 0.1 only; c leads by 0.22 but its own score is under MIN_SIDE (0.25)
    assert pair["electronic"]["ids"] == ["a"]
    assert pair["acoustic"]["ids"] == ["d"]


def test_the_committed_label_sets_follow_their_rule():
    saved = json.loads(qs.LABEL_SETS.read_text())
    scores = qs.TeacherScores.load().subset(qs.test_ids())
    assert saved["pairs"] == qs.derive_label_sets(scores)["pairs"]
    for sides in saved["pairs"].values():
        a, b = (set(s["ids"]) for s in sides.values())
        assert a and b and not a & b
