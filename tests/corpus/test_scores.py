"""The music21 score renderer: labels from what was rendered, pieces never in both splits."""
import shutil
from collections import defaultdict

import pytest

from muser_model.core.vocab import MTT_TAGS

corpus_scores = pytest.importorskip("muser_train.corpus.scores")
pytest.importorskip("music21")


def test_folk_tune_kind_and_pace_come_from_the_title():
    assert corpus_scores.folk_kind("Miss Mc Leod's Reel")[0] == "reel"
    assert corpus_scores.folk_kind("The Rakes Of Kildare Jig")[2] == "fast"
    assert corpus_scores.folk_kind("Lament For The Dead")[2] == "slow"
    assert corpus_scores.folk_kind("Airlie Castle")[0] == "tune"  # "air" must be a whole word
    assert corpus_scores.tune_title("/x/7thRegimentReel.abc") == "7th Regiment Reel"


def test_every_piece_is_in_one_split_and_sources_are_planned(tmp_path):
    tasks = corpus_scores.plan(tmp_path, seed=0, scale=0.05)
    splits = defaultdict(set)
    for t in tasks:
        splits[t["piece"]].add(t["split"])
    assert all(len(s) == 1 for s in splits.values())
    assert {t["source"] for t in tasks} == {s.name for s in corpus_scores.SOURCES}
    assert all(t["per_part"] == [40, 40, 41, 42] for t in tasks if t["source"] == "beethoven")
    again = corpus_scores.plan(tmp_path, seed=0, scale=0.05)
    assert [t["piece"] for t in again] == [t["piece"] for t in tasks]  # reproducible
    only = corpus_scores.plan(tmp_path, seed=0, scale=0.05, sources=["trecento"])
    assert {t["source"] for t in only} == {"trecento"}


def test_tags_are_mtt_words_and_follow_the_programs():
    task = {"period": "folk", "per_part": []}
    tags = corpus_scores._tags(task, {"programs": [40]}, "fast", solo=True)
    assert tags == ["violin", "strings", "solo", "fast", "no vocals"]
    choir = corpus_scores._tags({"period": "renaissance"}, {"programs": [52]}, "", solo=False)
    assert "choir" in choir and "classical" in choir and "no vocals" not in choir
    assert set(tags + choir) <= set(MTT_TAGS)


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("fluidsynth"), reason="fluidsynth not installed")
def test_renders_and_captions_one_folk_tune(tmp_path):
    tasks = [t for t in corpus_scores.plan(tmp_path, seed=0, scale=0.01) if t["source"] == "ryansMammoth"][:1]
    task, res, err = corpus_scores.render(tasks[0])
    assert err is None, err
    row = corpus_scores.make_row(task, res, tmp_path)
    assert row["genre"] == "other" and "solo" in row["tags"].split(";")
    texts = [row["text"]] + row["texts"].split(" | ")
    assert any(task["title"] in t for t in texts)
    assert (tmp_path / row["path"]).stat().st_size > 10_000
