"""corpus.mma --tempo-range / --genres: genre grooves at tempos outside their narrow ranges."""
import pytest

from muser_train.errors import CorpusOptionError
from muser_train.corpus import build, mma
from muser_train.corpus.common import CLIP_S

TASKS = [
    {"genre": "country", "style": "bluegrass", "groove": "bluegrass", "variant": "BlueGrass",
     "split": "train", "progression": "I-IV-I-V", "tempo": 180, "bars": 12, "out_path": "a/country_0.ogg"},
    {"genre": "other", "style": "samba", "groove": "samba", "variant": "Samba",
     "split": "train", "progression": "I-IV-I-V", "tempo": 170, "bars": 12, "out_path": "a/samba_0.ogg"},
    {"genre": "classical", "style": "chorale", "groove": "bach/bwv1", "piece": "bach/bwv1", "variant": "",
     "split": "train", "progression": "-", "tempo": 70, "out_path": "a/chorale_0.ogg"},
]


def test_without_a_range_only_the_genre_filter_applies():
    assert mma.retempo(TASKS, None) == TASKS
    assert mma.retempo(TASKS, None, ["country", "classical"]) == [TASKS[0], TASKS[2]]


def test_tempos_are_redrawn_in_the_range_with_bars_for_the_whole_clip():
    slow = mma.retempo(TASKS * 20, (60, 70), ["country"])
    assert len(slow) == 20 and all(60 <= t["tempo"] <= 70 for t in slow)
    assert all(t["bars"] * 4 * 60.0 / t["tempo"] >= CLIP_S + mma.MMA_START_S for t in slow)
    assert TASKS[0]["tempo"] == 180  # the plan itself is not changed
    assert {k: v for k, v in slow[0].items() if k not in ("tempo", "bars")} == {
        k: v for k, v in TASKS[0].items() if k not in ("tempo", "bars")}


def test_the_draw_is_seeded_per_clip():
    tasks = [{**TASKS[0], "out_path": f"a/country_{i}.ogg"} for i in range(30)]
    first, again = mma.retempo(tasks, (60, 200)), mma.retempo(tasks, (60, 200))
    assert [t["tempo"] for t in first] == [t["tempo"] for t in again]
    assert len({t["tempo"] for t in first}) > 10  # not one tempo for all
    assert [t["tempo"] for t in mma.retempo(tasks, (60, 200), seed=1)] != [t["tempo"] for t in first]


def test_scores_keep_their_own_tempo_and_are_left_out():
    assert [t["style"] for t in mma.retempo(TASKS, (60, 200))] == ["bluegrass", "samba"]


@pytest.mark.parametrize("lo, hi", [("200", "60"), ("5", "60"), ("60", "900")])
def test_a_bad_range_is_a_one_line_error(tmp_path, lo, hi):
    with pytest.raises(CorpusOptionError, match="--tempo-range"):
        mma.main(["--out", str(tmp_path / "x"), "--tempo-range", lo, hi])


def test_the_build_source_renders_training_genre_grooves_at_other_tempos():
    args = build.BUILDERS["mma_tempo"][1]
    assert args[args.index("--only-split") + 1] == "train"
    assert args[args.index("--tempo-range") + 1: args.index("--tempo-range") + 3] == ["60", "200"]
    assert "other" not in args and "country" in args
    assert "mma_tempo" in build.UNSCORED_SOURCES and "mma_tempo" in build.MMA_SOURCES
