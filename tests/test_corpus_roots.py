"""The /usr/share roots of the corpus builders are parameters: planning from a library passed in
gives the plan that patching the module's default root gave."""
import argparse
import hashlib
import json

import pytest

from muser_train.corpus import mma


def _groove(variant: str, time: int = 4) -> str:
    return f"Begin Doc\n  A test groove.\nEnd\nTime {time}\nDefGroove {variant} a pattern\nDefGroove {variant}End x\n"


@pytest.fixture
def library(tmp_path, monkeypatch):
    root = tmp_path / "lib"
    (root / "stdlib").mkdir(parents=True)
    (root / "stdlib" / "swing.mma").write_text(_groove("Swing"))
    more = {"jazz": [f"casio/jazz{i}" for i in range(6)], "country": ["kara/west", "yamaha/old"]}
    for files in more.values():
        for f in files:
            (root / f).parent.mkdir(exist_ok=True)
            (root / f"{f}.mma").write_text(_groove(f.split("/")[1].title() + "Main", 3 if f == "yamaha/old" else 4))
    monkeypatch.setitem(mma.LIBRARIES, "more", more)
    return root


def _plan_hash(**extra) -> str:
    args = argparse.Namespace(seed=3, out="out", clips_per_style=4, classical_clips=0, library="more",
                              min_clips_per_genre=0, **extra)
    tasks, info, heldout, *_ = mma.plan(args)
    tasks = mma.retempo(tasks, (60, 200), seed=3, root=extra.get("mma_root"))
    return hashlib.sha1(json.dumps([tasks, info, heldout], sort_keys=True).encode()).hexdigest()


def test_a_root_parameter_plans_as_the_patched_default(library, monkeypatch):
    given = _plan_hash(mma_root=library)
    monkeypatch.setattr(mma, "MMA_LIB", library / "stdlib")
    monkeypatch.setattr(mma, "MMA_ROOT", library)
    assert given == _plan_hash()


def test_groove_files_resolve_under_the_given_root(library):
    assert mma.groove_file("swing", library) == library / "stdlib" / "swing.mma"
    assert mma.groove_file("yamaha/old", library) == library / "yamaha" / "old.mma"
    assert mma.groove_beats_per_bar("yamaha/old", library) == 3
