"""corpus.splits: the one split rule of games, realmusic and renders gives the splits each builder
gave with its own copy (expected sets computed on the code before they were merged)."""
from types import SimpleNamespace

from muser_train.corpus.splits import assign_splits, groups_by


def _held_out(splits: dict[str, str]) -> list[str]:
    return sorted(g for g, s in splits.items() if s == "test")


def test_games_split_is_unchanged():
    tracks = [SimpleNamespace(package=f"p{i % 3}", group=f"p{i % 3}/g{i // 2}") for i in range(60)]
    splits = assign_splits(groups_by(tracks, "package"), seed=7)
    assert len(splits) == 60
    assert _held_out(splits) == ["p0/g19", "p0/g28", "p0/g4", "p1/g0", "p1/g29", "p1/g5", "p2/g16", "p2/g4", "p2/g7"]


def test_realmusic_split_is_unchanged_and_small_packages_hold_nothing_out():
    groups = {f"pkg{k}": [f"pkg{k}/piece{j}" for j in range(k + 1)] for k in range(8)}
    splits = assign_splits(groups, seed=3)
    assert len(splits) == 36
    assert _held_out(splits) == ["pkg3/piece1", "pkg4/piece1", "pkg5/piece4", "pkg6/piece3", "pkg7/piece1"]


def test_renders_split_is_unchanged():
    renders = [SimpleNamespace(engine=e, group=f"{e}/s{j}") for e in ("lmms", "hydrogen") for j in range(13)]
    splits = assign_splits(groups_by(renders, "engine"), seed=5)
    assert _held_out(splits) == ["hydrogen/s12", "hydrogen/s4", "lmms/s12", "lmms/s5"]


def test_order_and_repeats_do_not_move_a_piece():
    groups = [f"p/t{i}" for i in range(20)]
    a = assign_splits({"p": groups}, seed=1)
    assert a == assign_splits({"p": list(reversed(groups)) + groups[:5]}, seed=1)
    assert sum(v == "test" for v in a.values()) == 3
