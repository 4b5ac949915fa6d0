"""corpus.mma --only-split / --render-soundfont: the same plan, one split, another soundfont."""
import pytest

from muser_train.errors import CorpusOptionError
from muser_train.corpus.mma import restrict, soundfont_path

TASKS = [{"split": "train", "soundfont": "FluidR3_GM", "out_path": "a.ogg"},
         {"split": "test", "soundfont": "TimGM6mb", "out_path": "b.ogg"}]


def test_only_split_keeps_the_planned_tasks_of_that_split():
    assert restrict(TASKS, "test", None) == [TASKS[1]]
    assert restrict(TASKS, None, None) == TASKS


def test_render_soundfont_replaces_the_planned_one(tmp_path):
    sf = tmp_path / "other.sf2"
    sf.write_bytes(b"RIFF")
    (task,) = restrict(TASKS, "test", f"OPL3={sf}")
    assert task["soundfont"] == "OPL3" and soundfont_path(task) == str(sf)
    assert soundfont_path(TASKS[0]).endswith("FluidR3_GM.sf2")  # untouched without the option


@pytest.mark.parametrize("bad", ["no-equals-sign", "X=/nonexistent/file.sf2", "=/tmp"])
def test_a_bad_soundfont_is_a_one_line_error(bad):
    with pytest.raises(CorpusOptionError, match="--render-soundfont"):
        restrict(TASKS, None, bad)


def test_subsample_keeps_the_plan_and_its_held_out_grooves(monkeypatch, tmp_path):
    """Every Nth task of the same plan: a task kept keeps its split, groove and progression."""
    import argparse
    from muser_train.corpus import mma
    if not mma.MMA_LIB.is_dir():
        pytest.skip("MMA groove library not installed")
    pytest.importorskip("music21", reason="the plan's classical pieces need the [train] extra")
    args = argparse.Namespace(out=str(tmp_path), clips_per_style=4, classical_clips=8, seed=0, jobs=1)
    full = mma.plan(args)[0]
    assert mma.plan(args)[0] == full  # the plan is a function of its arguments and seed
    kept = restrict(full[::3], None, None)
    held_out = {(t["genre"], t["variant"], t.get("piece")) for t in full if t["split"] == "test"}
    assert {(t["genre"], t["variant"], t.get("piece")) for t in kept if t["split"] == "train"}.isdisjoint(held_out)
    assert any(t["split"] == "test" for t in kept) and len(kept) == (len(full) + 2) // 3


def test_complement_renders_exactly_what_subsample_leaves_out():
    """--complement-of N plus --subsample N is the whole plan, each task once, in plan order."""
    from muser_train.corpus.mma import thin
    plan = [{"i": i} for i in range(20)]
    every_6th, rest = thin(plan, subsample=6), thin(plan, complement_of=6)
    assert [t["i"] for t in every_6th] == [0, 6, 12, 18]
    assert len(rest) == 16 and not {t["i"] for t in rest} & {t["i"] for t in every_6th}
    assert sorted(t["i"] for t in every_6th + rest) == list(range(20))
    assert thin(plan) == plan and thin(plan, complement_of=1) == plan


def test_complement_with_subsample_is_a_one_line_error(tmp_path):
    from muser_train.corpus import mma
    with pytest.raises(CorpusOptionError, match="exclude each other"):
        mma.main(["--out", str(tmp_path / "x"), "--subsample", "6", "--complement-of", "6"])

