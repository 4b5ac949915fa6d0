"""bench/heldout_clips.py: the reference sample and where an excerpt's source lies."""
from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "heldout_clips.py"
_spec = importlib.util.spec_from_file_location("heldout_clips", BENCH)
hc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hc)


def _rows(sizes: dict[str, int]) -> list[dict]:
    return [{"id": f"{p}/{k}", "package": p, "split": "train"} for p, n in sizes.items()
            for k in range(n)] + [{"id": "t/0", "package": "big", "split": "test"}]


def test_the_reference_sample_is_proportional_with_a_floor_per_package():
    rows = _rows({"big": 700, "mid": 250, "small": 40, "few": 10, "tiny": 2})
    picked = hc.sample_reference(rows, 100, seed=0)
    per = Counter(r["package"] for r in picked)
    assert len(picked) == 100 and len({r["id"] for r in picked}) == 100
    assert per["few"] == 3 and per["tiny"] == 2   # the floor of 3 (all of a 2-row package)
    assert per["small"] == 4                       # 100 * 40 / 1002, above the floor
    assert per["big"] > per["mid"] > per["small"]
    assert all(r["split"] == "train" for r in picked)


def test_the_reference_sample_is_seeded():
    rows = _rows({"a": 50, "b": 30})
    assert hc.sample_reference(rows, 20, seed=1) == hc.sample_reference(rows, 20, seed=1)
    assert hc.sample_reference(rows, 20, seed=1) != hc.sample_reference(rows, 20, seed=2)


def test_archive_members_are_read_from_their_extracted_copy(tmp_path):
    assert hc.source_path(tmp_path, "p", "usr/share/g/music.pk3:music/a.ogg") == \
        tmp_path / "members" / "p" / "music.pk3" / "music" / "a.ogg"
    assert hc.source_path(tmp_path, "p", "usr/share/g/a.xm") == tmp_path / "root" / "p" / "usr/share/g/a.xm"
