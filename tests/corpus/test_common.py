"""muser_train.corpus.common: the atomic writes, summaries, excerpts and key names every builder uses."""
import json
import random

import numpy as np
import pytest

from muser_train.corpus import common


def test_write_csv_replaces_the_file_whole_or_not_at_all(tmp_path):
    path = tmp_path / "captions.csv"
    common.write_csv(path, ["path", "text"], [{"path": "a.ogg", "text": "old"}])

    def rows():
        yield {"path": "b.ogg", "text": "new"}
        raise KeyboardInterrupt  # interrupted half-way through the rows

    with pytest.raises(KeyboardInterrupt):
        common.write_csv(path, ["path", "text"], rows())
    assert common.read_csv(path) == (["path", "text"], [{"path": "a.ogg", "text": "old"}])
    assert [p.name for p in tmp_path.iterdir()] == ["captions.csv"]


def test_write_csv_extra_keys_raise_unless_ignored(tmp_path):
    row = {"path": "a.ogg", "text": "t", "stray": "x"}
    with pytest.raises(ValueError):
        common.write_csv(tmp_path / "a.csv", ["path", "text"], [row])
    common.write_csv(tmp_path / "b.csv", ["path", "text"], [row], extra="ignore")
    assert common.read_csv(tmp_path / "b.csv")[1] == [{"path": "a.ogg", "text": "t"}]


def test_finish_writes_the_summary_and_prints_the_shown_keys(tmp_path, capsys):
    summary = {"clips": 3, "hours": common.hours(3), "failure_list": ["long"]}
    common.finish(tmp_path, summary, ("clips", "hours"))
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert json.loads(capsys.readouterr().out) == {"clips": 3, "hours": 0.01}


def test_counts():
    rows = [{"genre": "jazz", "split": "train"}, {"genre": "jazz", "split": "test"},
            {"genre": "blues", "split": "train"}, {"split": "train"}]
    assert common.count_by(rows, "genre") == {"": 1, "blues": 1, "jazz": 2}
    assert common.split_counts(rows[:3], "genre") == {"jazz": {"train": 1, "test": 1},
                                                      "blues": {"train": 1, "test": 0}}


def test_excerpt_is_one_clip_inside_the_signal():
    y = np.arange(int(30 * common.SR), dtype=np.float32)  # (n,) 30 s, sample value = its index
    n = int(common.CLIP_S * common.SR)
    fixed = common.excerpt(y, 2.0)
    assert len(fixed) == n and fixed[0] == 2 * common.SR
    for seed in range(20):
        drawn = common.excerpt(y, 1.0, random.Random(seed), latest_start=100.0)
        assert len(drawn) == n and 1 * common.SR <= drawn[0] <= len(y) - n


class _Key:
    class tonic:  # noqa: N801 - music21's attribute names
        name = "E-"
    mode = "major"


class _Score:
    def __init__(self, fails: bool):
        self.fails = fails

    def analyze(self, what):
        if self.fails:
            raise ValueError("no notes")
        return _Key()


def test_score_key_names_flats_and_falls_back():
    assert common.score_key(_Score(False)) == "Eb major"
    assert common.score_key(_Score(True)) == ""
    assert common.score_key(_Score(True), unknown="unknown") == "unknown"


def test_caption_words():
    assert common.with_article("organ piece") == "an organ piece"
    assert common.with_article(" jazz waltz", cap=True) == "A jazz waltz"
    assert common.with_article("8-bit tune") == "an 8-bit tune"
    assert [common.join_words(w) for w in ([], ["a"], ["a", "b"], ["a", "b", "c"])] == \
        ["", "a", "a and b", "a, b and c"]
