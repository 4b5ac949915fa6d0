"""The vocabulary table in checkpoints: round trip through the payload and the numpy section,
typed errors for a malformed table, and the MTT groups of checkpoints written before tables."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from muser_model.core import vocab_groups as VG
from muser_model.core.checkpoint import load_checkpoint, load_numpy_section, pack_arrays, read_payload, write_checkpoint
from muser_model.torch_engine.checkpoint_export import save_checkpoint
from muser_model.core.errors import CheckpointExportError, CorruptCheckpointError
from muser_model.core.vocab import MTT_TAGS
from muser_model.describe import describe_checkpoint
from muser_model.numpy_engine.audio import NumpyMuser

MTT, MSD = list(VG.VOCABULARIES["mtt"].labels), list(VG.VOCABULARIES["msd"].labels)


def test_table_round_trips_through_save_and_load(msd_checkpoint):
    ckpt = load_checkpoint(msd_checkpoint)
    assert ckpt.vocabularies == VG.to_dict()
    assert ckpt.tag_vocabularies() == {"tags": MTT, "msd": MSD}
    assert [ckpt.vocab_name(kind) for kind in ckpt.tag_vocabularies()] == ["mtt", "msd"]
    assert ckpt.tag_kinds()["msd"].tags[MSD.index("90s")].group == "era"
    assert tuple(ckpt.heads["msd.weight"].shape) == (50, ckpt.config.embed_dim)
    assert tuple(ckpt.label_embeddings["msd"].shape) == (50, ckpt.config.embed_dim)


def test_table_and_msd_arrays_pass_through_the_numpy_section(msd_checkpoint):
    meta, arrays, _ = load_numpy_section(msd_checkpoint)
    assert meta["vocabularies"] == VG.to_dict()
    ckpt = load_checkpoint(msd_checkpoint)
    for name, value in (("heads.msd.weight", ckpt.heads["msd.weight"]), ("heads.msd.bias", ckpt.heads["msd.bias"]),
                        ("label_embeddings.msd", ckpt.label_embeddings["msd"])):
        assert torch.allclose(torch.from_numpy(arrays[name].copy()), value.float())
    model = NumpyMuser.load(msd_checkpoint)
    assert model.tag_vocabularies() == ckpt.tag_vocabularies()
    assert model.assets.extra_tag_kinds == ["msd"]
    assert model.assets.vocab_and_groups("msd") == ("msd", [t.group for t in VG.VOCABULARIES["msd"].tags])


def test_checkpoint_without_table_gets_the_mtt_groups(tiny_checkpoint):
    ckpt = load_checkpoint(tiny_checkpoint)
    assert ckpt.vocabularies == {} and "table" not in ckpt.payload()["vocab"]
    assert ckpt.tag_kinds() == {"tags": VG.VOCABULARIES["mtt"]}
    model = NumpyMuser.load(tiny_checkpoint)
    assert model.assets.tag_kinds == {"tags": VG.VOCABULARIES["mtt"]} and model.assets.extra_tag_kinds == []
    assert describe_checkpoint(tiny_checkpoint)["vocabularies"]["mtt"]["groups"] == VG.group_counts(
        VG.VOCABULARIES["mtt"])


def test_checkpoint_of_other_tags_without_table_puts_them_in_group_other(tiny_checkpoint):
    ckpt = load_checkpoint(tiny_checkpoint)
    ckpt.tags = ["calm", "loud"]
    (main,) = ckpt.tag_kinds().values()
    assert main.name == "mtt" and [(t.label, t.group) for t in main.tags] == [("calm", "other"), ("loud", "other")]


def test_shipped_checkpoint_carries_both_vocabularies_and_their_heads():
    from muser_model.core.checkpoint import default_checkpoint_path
    from muser_model.core.vocab_groups import VOCABULARIES

    path = default_checkpoint_path()
    both = {"tags": list(MTT_TAGS), "msd": list(VOCABULARIES["msd"].labels)}
    ckpt = load_checkpoint(path)
    assert ckpt.tag_vocabularies() == both and NumpyMuser.load(path).tag_vocabularies() == both
    assert {"tags.weight", "msd.weight", "genres.weight"} <= set(ckpt.heads)


def _without_origin(table: dict) -> dict:
    bad = copy.deepcopy(table)
    del bad["vocabularies"]["msd"]["origin"]
    return bad


def _with_unknown_group(table: dict) -> dict:
    bad = copy.deepcopy(table)
    bad["vocabularies"]["msd"]["tags"][0]["group"] = "tempo"
    return bad


def _with_other_mtt_labels(table: dict) -> dict:
    bad = copy.deepcopy(table)
    bad["vocabularies"]["mtt"]["tags"] = bad["vocabularies"]["mtt"]["tags"][:10]
    return bad


def _named_genres(table: dict) -> dict:
    bad = copy.deepcopy(table)
    bad["vocabularies"]["genres"] = bad["vocabularies"].pop("msd")
    return bad


BAD_TABLES = {"no origin": (_without_origin, "origin"), "unknown group": (_with_unknown_group, "tempo"),
              "other mtt labels": (_with_other_mtt_labels, "mtt labels"), "reserved name": (_named_genres, "reserved")}


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_malformed_table_in_the_payload_is_a_typed_error_naming_the_file(case, msd_checkpoint, tmp_path):
    spoil, reason = BAD_TABLES[case]
    ckpt = load_checkpoint(msd_checkpoint)
    ckpt.vocabularies = spoil(ckpt.vocabularies)
    path = tmp_path / "bad table.muser"
    save_checkpoint(ckpt, path, torch_only=True)  # no numpy section: the payload alone carries the table
    with pytest.raises(CorruptCheckpointError) as exc:
        load_checkpoint(path)
    assert str(exc.value).startswith(f"{path}: ") and "vocabulary table" in str(exc.value)
    assert reason in str(exc.value)
    with pytest.raises(CorruptCheckpointError, match="vocabulary table"):
        describe_checkpoint(path)  # muser info


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_malformed_table_in_the_numpy_section_is_a_typed_error_naming_the_file(case, msd_checkpoint, tmp_path):
    spoil, reason = BAD_TABLES[case]
    meta, arrays, _ = load_numpy_section(msd_checkpoint)
    meta = {**meta, "vocabularies": spoil(meta["vocabularies"])}
    _, payload = read_payload(Path(msd_checkpoint))
    path = tmp_path / "bad section.muser"
    write_checkpoint(path, payload, pack_arrays(meta, arrays))
    with pytest.raises(CorruptCheckpointError) as exc:
        NumpyMuser.load(path)
    assert str(exc.value).startswith(f"{path}: ") and reason in str(exc.value)


def test_a_table_that_does_not_fit_the_head_is_not_saved(msd_checkpoint, tmp_path):
    ckpt = load_checkpoint(msd_checkpoint)
    ckpt.heads = {"msd.weight": ckpt.heads["msd.weight"][:40], "msd.bias": ckpt.heads["msd.bias"][:40]}
    path = tmp_path / "short head.muser"
    with pytest.raises(CheckpointExportError, match="msd.weight has shape"):
        save_checkpoint(ckpt, path)
    assert not path.exists()


def test_a_head_that_does_not_fit_is_refused_on_load(msd_checkpoint, tmp_path):
    ckpt = load_checkpoint(msd_checkpoint)
    ckpt.label_embeddings = {**ckpt.label_embeddings, "msd": ckpt.label_embeddings["msd"][:3]}
    path = tmp_path / "short prompts.muser"
    save_checkpoint(ckpt, path, torch_only=True)
    with pytest.raises(CorruptCheckpointError, match="label_embeddings.msd has shape"):
        load_checkpoint(path)
