"""muser_model.core.vocab_groups: the MTT-50 / MSD-50 table with a group per tag (torch-free)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from muser_model.core import vocab_groups as VG
from muser_model.core.errors import VocabularyError
from muser_model.core.vocab import MTT_TAGS
from muser_train.teachers.specs import labels

REPO = Path(__file__).resolve().parents[2]


def test_every_label_of_both_vocabularies_has_a_known_group():
    for name in ("mtt", "msd"):
        v = VG.VOCABULARIES[name]
        assert len(v.tags) == 50
        assert all(t.group in VG.GROUPS for t in v.tags)
        assert [t.index for t in v.tags] == list(range(50))
    used = {t.group for v in VG.VOCABULARIES.values() for t in v.tags}
    assert used == set(VG.GROUPS)  # no group is empty


def test_labels_are_in_the_teachers_output_order():
    assert VG.VOCABULARIES["mtt"].labels == labels("mtt") == MTT_TAGS
    assert VG.VOCABULARIES["msd"].labels == labels("msd")


def test_shared_labels_stay_distinct_by_vocabulary():
    shared = set(VG.VOCABULARIES["mtt"].labels) & set(VG.VOCABULARIES["msd"].labels)
    assert {"rock", "metal", "guitar", "pop", "country"} <= shared
    for label in shared:
        a, b = VG.tag(f"mtt:{label}"), VG.tag(f"msd:{label}")
        assert a.id != b.id and (a.vocab, b.vocab) == ("mtt", "msd")
        assert a.group == b.group  # same word, same kind of tag
    assert VG.tag("msd:Hip-Hop").index == 33 and VG.tag("mtt:no vocals").group == "vocals"


def test_groups_hold_what_their_rule_says():
    assert VG.ids_in_group("era") == ["msd:00s", "msd:80s", "msd:90s", "msd:oldies", "msd:70s",
                                      "msd:60s"]
    assert "mtt:rock" in VG.ids_in_group("genre") and "msd:sad" in VG.ids_in_group("mood", "msd")
    assert VG.ids_in_group("mood", "mtt") == ["mtt:weird"]
    with pytest.raises(VocabularyError, match="unknown group 'tempo'"):
        VG.ids_in_group("tempo")
    with pytest.raises(VocabularyError, match="unknown tag id 'rock'"):
        VG.tag("rock")


def test_round_trip_through_json():
    data = json.loads(json.dumps(VG.to_dict()))
    assert data["groups"] == list(VG.GROUPS)
    assert data["vocabularies"]["msd"]["tags"][33] == {"label": "Hip-Hop", "group": "genre"}
    assert VG.from_dict(data) == VG.VOCABULARIES


def test_a_bad_table_is_refused():
    data = VG.to_dict()
    data["vocabularies"]["mtt"]["tags"][7]["group"] = "style"
    with pytest.raises(VocabularyError, match="mtt:rock: unknown group 'style'"):
        VG.from_dict(data)
    data["vocabularies"]["mtt"]["tags"][7]["group"] = "genre"
    del data["vocabularies"]["msd"]["origin"]
    with pytest.raises(VocabularyError, match="malformed vocabulary table"):
        VG.from_dict(data)


def test_importing_it_does_not_import_torch_or_numpy():
    code = ("import sys, muser_model.core.vocab_groups; "
            "print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
