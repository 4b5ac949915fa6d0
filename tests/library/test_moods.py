"""The library's energy and valence: stored by `muser index`, filtered by range, sorted, and
`tag:` filters read as search reads them."""
from __future__ import annotations

import pytest
import torch

from muser_model.core.checkpoint import load_checkpoint
from muser_model.library.query import QueryError, parse_range
from muser_model.torch_engine.checkpoint_export import save_checkpoint
from tests.helpers.library_fixtures import json_lines, make_library, run_cli


@pytest.fixture(scope="module")
def library(tmp_path_factory, msd_checkpoint):
    """A small library indexed once with the MSD checkpoint plus a random MTT head (every axis
    has its tags)."""
    ckpt = load_checkpoint(msd_checkpoint)
    g = torch.Generator().manual_seed(3)
    e = ckpt.config.embed_dim
    ckpt.heads = {**ckpt.heads, "tags.weight": torch.randn(50, e, generator=g), "tags.bias": torch.randn(50, generator=g)}
    root = tmp_path_factory.mktemp("moods")
    checkpoint = root / "headed.muser"
    save_checkpoint(ckpt, checkpoint)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MUSER_HOME", str(root / "home"))
        make_library(root / "music")
        res = run_cli("index", root / "music", "-c", checkpoint, "--workers", 1)
        assert res.exit_code == 0, res.stderr
        yield checkpoint


def _list(*args: str) -> list[dict]:
    res = run_cli("list", "--json", *args)
    assert res.exit_code == 0, res.stderr
    return json_lines(res.stdout)


def test_index_stores_energy_and_valence(library):
    rows = _list()
    assert rows and all(0.0 < r["energy"] < 1.0 and 0.0 < r["valence"] < 1.0 for r in rows)
    assert len({r["energy"] for r in rows}) > 1  # one value per track, not a constant


@pytest.mark.parametrize("axis", ["energy", "valence"])
def test_sort_orders_by_the_axis(library, axis):
    rows = _list("--sort", axis)
    assert [r[axis] for r in rows] == sorted(r[axis] for r in rows)
    assert [r[axis] for r in _list("--sort", axis, "-r")] == sorted((r[axis] for r in rows), reverse=True)


def test_a_range_term_filters(library):
    everything = _list()
    middle = sorted(r["energy"] for r in everything)[len(everything) // 2]
    high = _list(f"energy:>{middle}")
    assert high and all(r["energy"] >= middle for r in high)
    assert len(high) < len(everything)
    low = _list(f"energy:..{middle}")
    assert {r["path"] for r in low} | {r["path"] for r in high} == {r["path"] for r in everything}


def test_search_sorts_its_hits_by_energy(library):
    hits = json_lines(run_cli("search", "music", "--json", "-n", 50, "--sort", "energy", "-c", library).stdout)
    assert [h["energy"] for h in hits] == sorted((h["energy"] for h in hits), reverse=True)
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))


@pytest.mark.parametrize("text, want", [(">0.6", (0.6, None)), ("<0.3", (None, 0.3)), ("0.2..0.5", (0.2, 0.5)),
                                        ("0.6..", (0.6, None)), ("..0.4", (None, 0.4)), (">=0.5", (0.5, None))])
def test_range_forms(text, want):
    assert parse_range("energy", text) == want


@pytest.mark.parametrize("text", ["high", ">1.5", "0.8..0.2", "", ".."])
def test_bad_ranges_are_one_line_errors(text):
    with pytest.raises(QueryError, match="bad energy range"):
        parse_range("energy", text)


def _stored_tags(row: dict) -> set[str]:
    """The ids of a row's stored tags that pass their vocabulary's floor (as `--tag` needs)."""
    from muser_model.library.predict import tag_min_probability

    return {f"{t['vocab']}:{t['label']}" for t in row["predicted_tags"] if t["score"] >= tag_min_probability(t["vocab"])}


def test_a_tag_filter_reads_words_as_search_does(library):
    from muser_model.core import vocab_groups
    from muser_model.core.concepts import CONCEPTS, tag_ids

    rows = _list()
    present = set().union(*(_stored_tags(r) for r in rows))
    labels = {label.lower() for v in vocab_groups.VOCABULARIES.values() for label in v.labels}
    # a phrase that is no tag label ("melancholic", "rocking"), of a concept some track has a tag of
    concept, phrase = next((c, p) for c in CONCEPTS if set(tag_ids([c.name])) & present
                           for p in c.phrases if p not in labels and " " not in p)
    wanted = {r["path"] for r in rows if _stored_tags(r) & set(tag_ids([concept.name]))}
    got = {r["path"] for r in _list(f"tag:{phrase}")}
    assert got == wanted and got
    assert {r["path"] for r in _list(f'tag:"no {phrase}"')} == {r["path"] for r in rows} - wanted
