"""The corpus pseudo-tagger (muser_train.corpus.pseudo_tags) with the MTT-50 teacher."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("librosa")
pytest.importorskip("torch")

from muser_model.core.vocab import MTT_TAGS  # noqa: E402
from tests.helpers.teacher_fixtures import SR, chords, noise  # noqa: E402


def _read(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow  # embeds and scores a corpus (2 s); merging and patch spacing stay fast below
def test_pseudo_tags_on_a_tiny_corpus(tmp_path, capsys):
    from muser_train.corpus import pseudo_tags
    sf.write(tmp_path / "a.wav", chords(4.0), SR)
    sf.write(tmp_path / "b.wav", noise(4.0), SR)
    (tmp_path / "c.wav").write_bytes(b"this is not audio at all" * 10)
    with open(tmp_path / "captions.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["path", "text", "texts", "tags", "split"])
        w.writeheader()
        for name in ("a.wav", "b.wav", "c.wav"):
            w.writerow({"path": name, "text": f"clip {name}", "texts": f"alt {name}",
                        "tags": "x;y", "split": "train"})

    res = pseudo_tags.run(tmp_path, jobs=1)
    assert res == {"rows": 3, "scored": 2, "skipped": 1}
    err = capsys.readouterr().err
    assert err.count("skip ") == 1 and "c.wav" in err
    rows = _read(tmp_path / "captions.csv")
    assert [r["path"] for r in rows] == ["a.wav", "b.wav", "c.wav"]
    for r in rows[:2]:
        tags = r["teacher_tags"].split(";")
        assert tags and set(tags) <= set(MTT_TAGS)
        texts = r["texts"].split(" | ")
        assert texts[0] == f"alt {r['path']}"
        assert f"the music is characterized by {', '.join(tags)}" in texts
    assert rows[2]["teacher_tags"] == "" and rows[2]["texts"] == "alt c.wav"
    z = np.load(tmp_path / "teacher_scores.npz")
    assert list(z["paths"]) == ["a.wav", "b.wav"] and z["scores"].shape == (2, 50)
    assert list(z["tags"]) == list(MTT_TAGS)

    first = (tmp_path / "captions.csv").read_bytes()
    pseudo_tags.run(tmp_path, jobs=2)  # again, through worker processes: nothing changes
    assert (tmp_path / "captions.csv").read_bytes() == first
    np.testing.assert_allclose(np.load(tmp_path / "teacher_scores.npz")["scores"], z["scores"],
                               atol=1e-6)


def test_merge_texts_replaces_old_teacher_texts():
    from muser_train.corpus.pseudo_tags import choose_tags, merge_texts
    s = np.zeros(50, np.float32)
    s[MTT_TAGS.index("rock")], s[MTT_TAGS.index("guitar")], s[MTT_TAGS.index("loud")] = .6, .3, .05
    assert choose_tags(s) == ["rock", "guitar"]
    t1 = merge_texts("mine", "", ["rock", "guitar"])
    assert t1 == ("mine | the music is characterized by rock, guitar"
                  " | the music is characterized by rock")
    assert merge_texts(t1, "rock;guitar", ["piano"]) == "mine | the music is characterized by piano"


def test_spread_keeps_evenly_spaced_patches():
    from muser_train.corpus.pseudo_tags import spread

    stack = np.arange(8)[:, None, None] * np.ones((1, 3, 2))
    assert [int(p[0, 0]) for p in spread(stack, 2)] == [2, 6]
    assert len(spread(stack, 0)) == 8 and len(spread(stack[:1], 4)) == 1
