"""Train/test splits of the excerpt corpora (games, realmusic, renders): whole pieces held out.

Within each unit (a package, a render engine) the `fraction` of its groups (pieces: every excerpt
and variant of one tune) whose seeded SHA-1 is smallest goes to test, so the split depends only
on the seed and the group names, never on the order they were found in.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

TEST_FRACTION = 0.15
MIN_GROUPS_FOR_TEST = 3  # a unit with fewer pieces holds none out


def assign_splits(groups_by_unit: Mapping[str, Iterable[str]], seed: int,
                  fraction: float = TEST_FRACTION) -> dict[str, str]:
    """group -> "train"/"test", for every group of every unit (repeated names count once)."""
    out = {}
    for groups in groups_by_unit.values():
        ranked = sorted(set(groups), key=lambda g: hashlib.sha1(f"{seed}:{g}".encode()).hexdigest())
        n_test = round(fraction * len(ranked)) if len(ranked) >= MIN_GROUPS_FOR_TEST else 0
        for i, g in enumerate(ranked):
            out[g] = "test" if i < n_test else "train"
    return out


def groups_by(items: Iterable, unit: str, group: str = "group") -> dict[str, list[str]]:
    """unit value -> the `group` attribute of its items, e.g. package -> pieces."""
    out: dict[str, list[str]] = {}
    for item in items:
        out.setdefault(getattr(item, unit), []).append(getattr(item, group))
    return out
