"""`muser tag` with both tag vocabularies: MTT-50 ("tags") and MSD-50 ("msd") from a checkpoint's
vocabulary table, in --json (`tags_by_vocabulary`, every entry naming vocab and group) and in
the human lines, from a trained head or zero-shot, alike in both engines."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from muser_cli.main import app
from muser_model.core import vocab_groups as VG
from muser_model.core.checkpoint import load_checkpoint
from muser_model.torch_engine.checkpoint_export import save_checkpoint
from muser_model.core.scoring import Scorer, normalize, sigmoid
from muser_model.numpy_engine.audio import NumpyMuser, embed_files as np_embed_files
from muser_model.tagging import tag_files, tag_files_numpy
from muser_model.torch_engine.runtime import load_model

runner = CliRunner()
ORIGINS = {name: v.origin for name, v in VG.VOCABULARIES.items()}
ODD = "[bold]x[/bold] :fire:"


def _records(*args) -> list[dict]:
    res = runner.invoke(app, ["tag", *map(str, args), "--json"])
    assert res.exit_code == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def _assert_named(entries: list[dict], vocab: str) -> None:
    for entry in entries:
        assert entry["vocab"] == vocab
        assert entry["group"] == VG.tag(f"{vocab}:{entry['label']}").group


@pytest.fixture(scope="module")
def msd_zero_shot(msd_checkpoint, tmp_path_factory):
    """The MSD checkpoint without its MSD head: the table and prompt embeddings only."""
    ckpt = load_checkpoint(msd_checkpoint)
    ckpt.heads = {}
    path = tmp_path_factory.mktemp("zs") / "zero-shot.muser"
    save_checkpoint(ckpt, path)
    return path


@pytest.fixture(scope="module")
def odd_label(msd_checkpoint, tmp_path_factory):
    """The MSD checkpoint with a markup-like first MSD label that its head always ranks first."""
    ckpt = load_checkpoint(msd_checkpoint)
    ckpt.vocabularies["vocabularies"]["msd"]["tags"][0]["label"] = ODD
    ckpt.heads["msd.bias"] = ckpt.heads["msd.bias"].clone()
    ckpt.heads["msd.bias"][0] = 50.0
    path = tmp_path_factory.mktemp("odd") / "odd.muser"
    save_checkpoint(ckpt, path)
    return path


@pytest.mark.parametrize("engine", [pytest.param("numpy", marks=pytest.mark.slow), "torch"])
def test_json_shows_both_vocabularies_with_vocab_and_group(engine, msd_checkpoint, clips):
    for record in _records(*clips, "-c", msd_checkpoint, "--timeline", "-k", "4", "--engine", engine):
        by_vocab = record["tags_by_vocabulary"]
        assert list(by_vocab) == ["mtt", "msd"] and record["vocabularies"] == ORIGINS
        assert by_vocab["mtt"] == record["tags"]  # `tags` stays the MTT list
        _assert_named(by_vocab["mtt"], "mtt")
        _assert_named(by_vocab["msd"], "msd")
        assert len(by_vocab["msd"]) == 4
        assert {(e["method"], e["kind"]) for e in by_vocab["msd"]} == {("head", "probability")}
        # the headline genre comes from the MSD-50 head's families; GTZAN-10 stays beside it
        assert all((g["vocab"], g["group"]) == ("muser", "genre") for g in record["genres"])
        assert record["genre"]["label"] in [g["label"] for g in record["genres"]] + ["no clear genre"]
        assert isinstance(record["genre"]["clear"], bool) and record["genre"]["candidates"]
        assert all((g["vocab"], g["group"]) == ("gtzan", "genre") for g in record["gtzan"])
        for window in record["timeline"]:
            assert list(window["tags_by_vocabulary"]) == ["mtt", "msd"]
            _assert_named(window["tags_by_vocabulary"]["msd"], "msd")


def test_msd_tags_are_the_best_of_the_msd_head(msd_checkpoint, clips):
    model = NumpyMuser.load(msd_checkpoint)
    heads = model.assets.heads
    labels = list(VG.VOCABULARIES["msd"].labels)
    records = _records(*clips, "-c", msd_checkpoint, "--engine", "numpy")
    for emb, record in zip(np_embed_files(model, clips), records, strict=True):
        probs = sigmoid(emb.track() @ heads["msd.weight"].T + heads["msd.bias"])  # (50,)
        best = np.argsort(-probs, kind="stable")[:5]
        got = record["tags_by_vocabulary"]["msd"]
        assert [e["label"] for e in got] == [labels[i] for i in best]
        assert np.allclose([e["score"] for e in got], probs[best], atol=1e-4)


def test_checkpoint_without_table_shows_mtt_only(tiny_checkpoint, clips):
    (record,) = _records(clips[0], "-c", tiny_checkpoint)
    assert list(record["tags_by_vocabulary"]) == ["mtt"] and record["vocabularies"] == {"mtt": ORIGINS["mtt"]}
    _assert_named(record["tags"], "mtt")


def test_msd_without_head_is_zero_shot_cosine(msd_zero_shot, clips):
    model = NumpyMuser.load(msd_zero_shot)
    prompts = model.assets.label_embeddings["msd"]  # (50, E)
    labels = list(VG.VOCABULARIES["msd"].labels)
    (emb,) = np_embed_files(model, clips[:1])
    (record,) = _records(clips[0], "-c", msd_zero_shot, "--engine", "numpy")
    got = record["tags_by_vocabulary"]["msd"]
    assert {(e["method"], e["kind"]) for e in got} == {("zero-shot", "cosine")}
    cos = prompts @ emb.track()  # (50,)
    assert [e["label"] for e in got] == [labels[i] for i in np.argsort(-cos, kind="stable")[:5]]


def _groups_of_line(line: str) -> list[tuple[str, list[str]]]:
    """'  msd     genre: a 0.7, b 0.5; era: 90s 0.3 (head, probability)' -> [(group, [labels])]."""
    body = re.fullmatch(r"  msd {5}(.*) \((head|zero-shot), (probability|cosine)\)", line)
    assert body, line
    groups = []
    for part in body.group(1).split("; "):
        group, scores = part.split(": ", 1)
        groups.append((group, [re.fullmatch(r"(.+) \d\.\d\d", s).group(1) for s in scores.split(", ")]))
    return groups


def test_human_output_shows_msd_tags_by_group(msd_checkpoint, clips):
    res = runner.invoke(app, ["tag", str(clips[0]), "-c", str(msd_checkpoint), "--engine", "numpy"])
    assert res.exit_code == 0, res.stderr
    (line,) = [line for line in res.stdout.splitlines() if line.startswith("  msd ")]
    groups = _groups_of_line(line)
    (record,) = _records(clips[0], "-c", msd_checkpoint, "--engine", "numpy")
    msd = record["tags_by_vocabulary"]["msd"]
    assert sorted(label for _, labels in groups for label in labels) == sorted(e["label"] for e in msd)
    assert len({group for group, _ in groups}) == len(groups)  # each group once
    for group, labels in groups:
        assert all(VG.tag(f"msd:{label}").group == group for label in labels)
    assert groups[0][1][0] == msd[0]["label"]  # the best tag's group comes first


def test_human_output_of_checkpoint_without_table_has_no_msd_line(tiny_checkpoint, clips):
    res = runner.invoke(app, ["tag", str(clips[0]), "-c", str(tiny_checkpoint), "--engine", "numpy"])
    assert res.exit_code == 0 and not any(line.startswith("  msd") for line in res.stdout.splitlines())


def test_human_timeline_rows_show_the_msd_tags_of_each_window(msd_checkpoint, clips):
    args = [clips[2], "-c", msd_checkpoint, "--engine", "numpy", "--timeline", "-k", 2]
    res = runner.invoke(app, ["tag", *map(str, args)])
    assert res.exit_code == 0, res.stderr
    rows = [line for line in res.stdout.splitlines() if re.match(r"\s+\d+\.\d-", line)]
    (record,) = _records(*args)
    assert len(rows) == len(record["timeline"]) > 1
    for line, window in zip(rows, record["timeline"]):
        msd = ", ".join(f"{e['label']} {e['score']:.2f}" for e in window["tags_by_vocabulary"]["msd"])
        assert line.endswith(f" | msd: {msd}")


def test_tag_labels_from_the_table_print_literally(odd_label, clips):
    res = runner.invoke(app, ["tag", str(clips[0]), "-c", str(odd_label), "--engine", "numpy"],
                        env={"FORCE_COLOR": "1"})
    (line,) = [line for line in res.stdout.splitlines() if line.startswith("  msd ")]
    assert line.startswith(f"  msd     genre: {ODD} 1.00") and "\x1b" not in res.stdout


def test_numpy_and_torch_engines_agree_on_the_msd_head(msd_checkpoint, clips):
    lm = load_model(msd_checkpoint, "cpu", "fp32")
    nm = NumpyMuser.load(msd_checkpoint)
    a = list(tag_files(lm, clips, k=50, timeline=True))
    b = list(tag_files_numpy(nm, clips, k=50, timeline=True))
    for x, y in zip(a, b, strict=True):
        sx = {e.label: e.score for e in x.extra_tags["msd"]}
        sy = {e.label: e.score for e in y.extra_tags["msd"]}
        assert sx.keys() == sy.keys() and len(sx) == 50
        assert max(abs(sx[k] - sy[k]) for k in sx) <= 1e-4
    # the head itself: the same embeddings through each engine's scorer
    emb = normalize(np.random.default_rng(0).standard_normal((6, nm.config.embed_dim)).astype(np.float32))
    from muser_model.torch_engine.inference import Scorer as TorchScorer

    torch_probs = TorchScorer(lm).head_scores(torch.from_numpy(emb), "msd").numpy()  # (6, 50)
    numpy_probs = Scorer(nm).head_scores(emb, "msd")
    assert np.abs(torch_probs - numpy_probs).max() < 1e-6
