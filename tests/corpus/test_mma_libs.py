"""corpus.mma --library more: the GTZAN-genre grooves of MMA's other groove libraries."""
import argparse
import re
import shutil
import subprocess

import pytest

from muser_train.corpus import build, mma

needs_mma = pytest.mark.skipif(not mma.MMA_LIB.is_dir() or shutil.which("mma") is None,
                               reason="Debian mma not installed")


def groove_text(*variants: str, time: int = 4) -> str:
    defs = "\n".join(f"DefGroove {v} a pattern" for v in variants)
    return f"Begin Doc\n  A test groove.\nEnd\nTime {time}\n{defs}\nDefGroove {variants[0]}End x\n"


@pytest.fixture
def fake_mma(tmp_path, monkeypatch):
    """An MMA tree with one stdlib groove and a 'more' library of 6 jazz files and 2 country."""
    root = tmp_path / "lib"
    (root / "stdlib").mkdir(parents=True)
    (root / "stdlib" / "swing.mma").write_text(groove_text("Swing"))
    more = {"jazz": [f"casio/jazz{i}" for i in range(6)], "country": ["kara/west", "yamaha/old"]}
    for files in more.values():
        for f in files:
            (root / f).parent.mkdir(exist_ok=True)
            (root / f"{f}.mma").write_text(groove_text(f.split("/")[1].title() + "Main",
                                                       time=3 if f == "yamaha/old" else 4))
    monkeypatch.setattr(mma, "MMA_LIB", root / "stdlib")
    monkeypatch.setattr(mma, "MMA_ROOT", root)
    monkeypatch.setitem(mma.LIBRARIES, "more", more)
    return more


def plan(library: str, clips: int = 4, min_clips: int = 0, seed: int = 0):
    args = argparse.Namespace(seed=seed, out="out", clips_per_style=clips, classical_clips=0,
                              library=library, min_clips_per_genre=min_clips)
    return mma.plan(args)


def test_groove_files_resolve_in_stdlib_or_by_library(fake_mma):
    assert mma.groove_file("swing") == mma.MMA_LIB / "swing.mma"
    assert mma.groove_file("yamaha/old") == mma.MMA_ROOT / "yamaha" / "old.mma"
    assert mma.groove_beats_per_bar("yamaha/old") == 3
    assert mma.groove_variants("kara/west") == ["WestMain"]  # the ending is not a variant


def test_few_files_train_on_all_many_hold_out_whole_files(fake_mma):
    tasks, info, heldout, *_ = plan("more")
    country = [t for t in tasks if t["genre"] == "country"]
    assert country and all(t["split"] == "train" for t in country)
    test_files = set(heldout["files"]["jazz"])
    assert len(test_files) == round(0.25 * 6) and "country" not in heldout["files"]
    for t in tasks:
        if t["genre"] == "jazz":
            assert (t["split"] == "test") == (t["groove"] in test_files)
    assert not heldout["variants"]
    assert set(info) == {f for files in fake_mma.values() for f in files}
    assert all("piece" not in t for t in tasks)  # no classical from the other libraries


def test_genres_with_few_files_get_more_clips_per_file(fake_mma):
    tasks = plan("more", clips=4, min_clips=12)[0]
    per_genre = {g: sum(t["genre"] == g for t in tasks) for g in ("jazz", "country")}
    assert per_genre == {"jazz": 24, "country": 12}  # 6 x 4, and 2 x ceil(12 / 2)
    assert len({t["out_path"] for t in tasks}) == len(tasks)
    assert all("/" not in t["out_path"].split("/audio/")[-1].split("/", 1)[1] for t in tasks)


def test_the_song_loads_another_librarys_file_before_its_groove(fake_mma):
    task = next(t for t in plan("more")[0] if t["groove"] == "kara/west")
    lines = mma.mma_song({**task, "transpose": 2}).splitlines()
    assert lines[:4] == ["Transpose 2", "Use kara/west", f"Tempo {task['tempo']}", "Groove WestMain"]
    stdlib_task = {**task, "groove": "swing", "variant": "Swing", "transpose": 0}
    assert not any(line.startswith("Use") for line in mma.mma_song(stdlib_task).splitlines())


def test_the_stdlib_plan_has_none_of_the_other_libraries(fake_mma, monkeypatch):
    monkeypatch.setattr(mma, "classical_pieces", lambda: ([], []))  # no music21 needed
    tasks = [t for t in plan("stdlib")[0] if "piece" not in t]
    assert {t["groove"] for t in tasks} == {"swing"}


def test_the_build_source_renders_training_clips_of_the_other_libraries():
    module, args = build.BUILDERS["mma_libs"]
    assert module == "muser_train.corpus.mma"
    assert args[args.index("--library") + 1] == "more"
    assert args[args.index("--only-split") + 1] == "train"
    assert "mma_libs" in build.UNSCORED_SOURCES and "mma_libs" in build.MMA_SOURCES
    assert "mma_libs" in build.OPTIONAL_SOURCES and "mma_libs" not in build.SOURCES


@needs_mma
def test_every_listed_groove_file_exists_and_uses_no_stdlib_groove():
    stdlib = {f for files in mma.GENRE_GROOVES.values() for f in files}
    for files in mma.MORE_GENRE_GROOVES.values():
        for f in files:
            path = mma.groove_file(f)
            assert path.is_file(), f
            assert mma.groove_variants(f), f
            text = path.read_text(errors="ignore")
            for used in re.findall(r"^\s*(?:Include|Use)\s+(\S+)", text, flags=re.M | re.I):
                assert used.rsplit("/", 1)[-1].lower() not in stdlib, (f, used)
            own = {n.lower() for n in re.findall(r"^\s*DefGroove\s+(\S+)", text, flags=re.M | re.I)}
            for named in re.findall(r"^\s*Groove\s+(\S+)", text, flags=re.M | re.I):
                assert named.lower() in own, (f, named)  # never a groove of another file


@needs_mma
def test_use_renders_the_librarys_groove_not_stdlibs_of_the_same_name(tmp_path):
    """casio/jazzwaltz and stdlib jazzwaltz both define JazzWaltz: the song must get casio's."""
    task = {"progression": "I-IV-I-V", "tempo": 150, "variant": "JazzWaltz", "transpose": 0, "bars": 4}
    midis = []
    for groove in ("casio/jazzwaltz", "jazzwaltz"):
        song, mid = tmp_path / f"{groove.replace('/', '-')}.mma", tmp_path / f"{groove.replace('/', '-')}.mid"
        song.write_text(mma.mma_song({**task, "groove": groove}))
        subprocess.run(["mma", "-f", str(mid), str(song)], capture_output=True, timeout=60, cwd=tmp_path)
        assert mid.is_file(), groove
        midis.append(mid.read_bytes())
    assert midis[0] != midis[1]


def _plan_hash(**extra) -> str:
    import hashlib
    import json

    args = argparse.Namespace(seed=3, out="out", clips_per_style=4, classical_clips=0, library="more",
                              min_clips_per_genre=0, **extra)
    tasks, info, heldout, *_ = mma.plan(args)
    tasks = mma.retempo(tasks, (60, 200), seed=3, root=extra.get("mma_root"))
    return hashlib.sha1(json.dumps([tasks, info, heldout], sort_keys=True).encode()).hexdigest()


def test_a_root_parameter_plans_as_the_default_root(fake_mma, monkeypatch):
    """The /usr/share/mma root is a parameter: a library passed in gives the plan the default gave."""
    root = mma.MMA_ROOT
    by_default = _plan_hash()
    monkeypatch.setattr(mma, "MMA_LIB", root / "absent" / "stdlib")
    monkeypatch.setattr(mma, "MMA_ROOT", root / "absent")
    assert _plan_hash(mma_root=root) == by_default
    assert mma.groove_file("yamaha/old", root) == root / "yamaha" / "old.mma"
    assert mma.groove_beats_per_bar("yamaha/old", root) == 3
