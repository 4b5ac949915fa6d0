"""The four musicnn checkpoints and their label lists (no torch, no numpy: the converter uses it).

The label lists are data beside the weights, `train/teacher/labels.json`, copied by the converter
from the wheel's musicnn/configuration.py (MTT_LABELS, MSD_LABELS): index i of a teacher's output
is the score of labels(vocab)[i].
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

TEACHER_DIR = Path(__file__).resolve().parents[1] / "teacher"
LABELS_FILE = TEACHER_DIR / "labels.json"
VOCABS = ("mtt", "msd")
# labels.json key -> the wheel's configuration.py name
CONFIG_NAMES = {"mtt": "MTT_LABELS", "msd": "MSD_LABELS"}


@dataclass(frozen=True)
class TeacherSpec:
    name: str        # "mtt_musicnn": the .npz stem and the registry key
    checkpoint: str  # "MTT_musicnn": the checkpoint folder in the wheel
    vocab: str       # "mtt" (MagnaTagATune top-50) or "msd" (Million Song Dataset Last.fm top-50)
    family: str      # "musicnn" or "vgg": the module of muser_train.teachers that builds it

    @property
    def weights(self) -> Path:
        return TEACHER_DIR / f"{self.name}.npz"


TEACHERS: dict[str, TeacherSpec] = {
    s.name: s for s in (
        TeacherSpec("mtt_musicnn", "MTT_musicnn", "mtt", "musicnn"),
        TeacherSpec("mtt_vgg", "MTT_vgg", "mtt", "vgg"),
        TeacherSpec("msd_musicnn", "MSD_musicnn", "msd", "musicnn"),
        TeacherSpec("msd_vgg", "MSD_vgg", "msd", "vgg"),
    )
}


def members(vocab: str) -> list[TeacherSpec]:
    """The teachers that output `vocab`'s labels (two each)."""
    if vocab not in VOCABS:
        raise KeyError(f"unknown vocabulary {vocab!r} (known: {', '.join(VOCABS)})")
    return [s for s in TEACHERS.values() if s.vocab == vocab]


@lru_cache(maxsize=None)
def _label_table(path: Path = LABELS_FILE) -> dict[str, tuple[str, ...]]:
    with open(path, encoding="utf-8") as fh:
        raw = json.load(fh)
    return {v: tuple(raw[v]) for v in VOCABS}


def labels(vocab: str) -> tuple[str, ...]:
    """The 50 output labels of `vocab` ("mtt" or "msd"), in the checkpoints' output order."""
    if vocab not in VOCABS:
        raise KeyError(f"unknown vocabulary {vocab!r} (known: {', '.join(VOCABS)})")
    return _label_table()[vocab]
