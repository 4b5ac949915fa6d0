"""Tag heads with a hidden layer: the scoring rule by hand, the shape check, both engines alike,
`muser tag --json`, the fit on frozen embeddings, the refit command and `--tag-head-hidden`."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from muser_cli.main import app
from muser_model.core import vocab_groups as VG
from muser_model.core.checkpoint import load_checkpoint
from muser_model.torch_engine.checkpoint_export import save_checkpoint
from muser_model.core.errors import CheckpointExportError
from muser_model.core.scoring import Scorer, head_logits, normalize, sigmoid
from muser_model.numpy_engine.audio import NumpyMuser, embed_files as np_embed_files
from muser_model.tagging import tag_files, tag_files_numpy
from muser_model.torch_engine.inference import TrackEmbedding
from muser_model.torch_engine.runtime import load_model
from muser_train.evaluation.metrics import macro_roc_auc
from muser_train.training.datasets import Example
from muser_train.training.heads import fit_heads, fit_mlp_tag_heads
from muser_train.training.refit_heads import main as refit_main, replace_tag_heads

runner = CliRunner()
HIDDEN = 7


def _mlp(n_in: int, n_out: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"hidden.weight": torch.randn(HIDDEN, n_in, generator=g), "hidden.bias": 0.1 * torch.randn(HIDDEN, generator=g),
            "weight": 0.5 * torch.randn(n_out, HIDDEN, generator=g), "bias": 0.1 * torch.randn(n_out, generator=g)}


@pytest.fixture(scope="module")
def mlp_checkpoint(msd_checkpoint, tmp_path_factory):
    """The MSD checkpoint with random hidden-layer heads for MTT-50 and MSD-50 (genre head: none)."""
    ckpt = load_checkpoint(msd_checkpoint)
    e = ckpt.config.embed_dim
    ckpt.heads = {f"{kind}.{name}": value for i, kind in enumerate(("tags", "msd"))
                  for name, value in _mlp(e, 50, seed=10 + i).items()}
    path = tmp_path_factory.mktemp("mlp") / "mlp heads.muser"
    save_checkpoint(ckpt, path)
    return path


def test_head_logits_by_hand():
    emb = np.array([[1.0, -2.0]])  # (1, E=2)
    linear = {"k.weight": np.array([[3.0, 1.0]]), "k.bias": np.array([0.5])}
    assert head_logits(linear, "k", emb).tolist() == [[3.0 - 2.0 + 0.5]]
    mlp = {"k.hidden.weight": np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),  # (H=3, E=2)
           "k.hidden.bias": np.array([0.0, 0.0, 2.0]),
           "k.weight": np.array([[1.0, 10.0, 100.0]]), "k.bias": np.array([-1.0])}
    # hidden: relu([1, -2, 1]) = [1, 0, 1]; out: 1 + 0 + 100 - 1
    assert head_logits(mlp, "k", emb).tolist() == [[100.0]]


def test_a_hidden_layer_that_does_not_feed_the_head_is_not_saved(mlp_checkpoint, tmp_path):
    ckpt = load_checkpoint(mlp_checkpoint)
    ckpt.heads["msd.hidden.weight"] = ckpt.heads["msd.hidden.weight"][:HIDDEN - 1]
    path = tmp_path / "bad.muser"
    with pytest.raises(CheckpointExportError, match="msd.hidden.weight has shape"):
        save_checkpoint(ckpt, path)
    assert not path.exists()


def test_hidden_heads_round_trip_through_both_sections(mlp_checkpoint):
    ckpt = load_checkpoint(mlp_checkpoint)
    model = NumpyMuser.load(mlp_checkpoint)
    for name, value in ckpt.heads.items():
        assert np.allclose(model.assets.heads[name], value.numpy(), atol=1e-6), name
    assert tuple(ckpt.heads["tags.weight"].shape) == (50, HIDDEN)


def test_numpy_and_torch_engines_agree_on_hidden_heads(mlp_checkpoint, clips):
    from muser_model.torch_engine.inference import Scorer as TorchScorer, embed_files as torch_embed_files

    lm = load_model(mlp_checkpoint, "cpu", "fp32")
    nm = NumpyMuser.load(mlp_checkpoint)
    torch_scorer, numpy_scorer = TorchScorer(lm), Scorer(nm)
    for a, b in zip(torch_embed_files(lm, clips), np_embed_files(nm, clips), strict=True):
        for kind in ("tags", "msd"):
            pa = torch_scorer.head_scores(a.track()[None], kind).numpy()  # (1, 50)
            pb = numpy_scorer.head_scores(b.track()[None], kind)
            assert pa.shape == pb.shape == (1, 50)
            assert np.abs(pa - pb).max() <= 1e-4
    # and what `muser tag` prints (scores rounded to 4 decimals) is the same in both engines
    for x, y in zip(tag_files(lm, clips, k=50), tag_files_numpy(nm, clips, k=50), strict=True):
        sx = {e.label: e.score for e in x.extra_tags["msd"]}
        sy = {e.label: e.score for e in y.extra_tags["msd"]}
        assert sx.keys() == sy.keys() and max(abs(sx[k] - sy[k]) for k in sx) <= 1e-4 + 1e-9


def test_tag_json_scores_come_from_the_hidden_heads(mlp_checkpoint, clips):
    model = NumpyMuser.load(mlp_checkpoint)
    res = runner.invoke(app, ["tag", *map(str, clips), "-c", str(mlp_checkpoint), "--json", "--engine", "numpy"])
    assert res.exit_code == 0, res.stderr
    records = [json.loads(line) for line in res.stdout.splitlines()]
    labels = {"mtt": model.tag_vocabularies()["tags"], "msd": model.tag_vocabularies()["msd"]}
    for emb, record in zip(np_embed_files(model, clips), records, strict=True):
        for vocab, kind in (("mtt", "tags"), ("msd", "msd")):
            probs = sigmoid(head_logits(model.assets.heads, kind, emb.track()[None])[0])  # (50,)
            got = record["tags_by_vocabulary"][vocab]
            assert {e["method"] for e in got} == {"head"}
            assert [e["label"] for e in got] == [labels[vocab][i] for i in np.argsort(-probs, kind="stable")[:5]]
            assert np.allclose([e["score"] for e in got], np.sort(probs)[::-1][:5], atol=1e-4)


def test_info_names_the_hidden_layers(mlp_checkpoint, msd_checkpoint):
    res = runner.invoke(app, ["info", "-c", str(mlp_checkpoint), "--json"])
    assert res.exit_code == 0, res.stderr
    record = json.loads(res.stdout)
    assert record["heads"] == ["msd", "tags"] and record["head_hidden_units"] == {"msd": HIDDEN, "tags": HIDDEN}
    human = runner.invoke(app, ["info", "-c", str(mlp_checkpoint)]).stdout
    assert f"msd ({HIDDEN} hidden units), tags ({HIDDEN} hidden units)" in human
    plain = json.loads(runner.invoke(app, ["info", "-c", str(msd_checkpoint), "--json"]).stdout)
    assert plain["head_hidden_units"] == {}


# -- fitting ------------------------------------------------------------------------------------
def _xor_clips(n: int, seed: int) -> tuple[list[Example], list[TrackEmbedding]]:
    """Clips whose MTT/MSD targets are XOR-like in a 2-d subspace of the embedding: no linear
    head separates them, one hidden layer does."""
    rng = np.random.default_rng(seed)
    emb = normalize(rng.standard_normal((n, 4)).astype(np.float32))
    on = (emb[:, 0] > 0) ^ (emb[:, 1] > 0)
    clips = []
    for flag in on:
        probs = np.full(50, 0.05, np.float32)
        probs[:5] = 0.95 if flag else 0.05
        clips.append(Example("x.wav", ["x"], teacher={"mtt": probs, "msd": probs[::-1].copy()}))
    embs = [_embedding(torch.from_numpy(e[None])) for e in emb]
    return clips, embs


def _embedding(windows: torch.Tensor) -> TrackEmbedding:
    """(1, E) -> a one-window track embedding whose towers both give `windows`."""
    return TrackEmbedding(Path("x.wav"), windows, windows, 5.0, 5.0)


def _auc(heads: dict[str, torch.Tensor], kind: str, clips, embs) -> float:
    x = np.stack([e.track().numpy() for e in embs])
    scores = head_logits({k: v.numpy() for k, v in heads.items()}, kind, x)
    vocab = "mtt" if kind == "tags" else kind
    truth = np.stack([c.teacher[vocab] > 0.5 for c in clips]).astype(int)
    return macro_roc_auc(truth, scores)


@pytest.mark.slow
def test_the_hidden_layer_fits_what_a_linear_head_cannot():
    train, train_embs = _xor_clips(400, seed=0)
    test, test_embs = _xor_clips(200, seed=1)
    linear = fit_heads(train, train_embs, list(VG.VOCABULARIES["mtt"].labels), [], extra_vocabs={
        "msd": list(VG.VOCABULARIES["msd"].labels)})
    mlp = fit_mlp_tag_heads(train, train_embs, list(VG.VOCABULARIES["mtt"].labels),
                            {"msd": list(VG.VOCABULARIES["msd"].labels)}, hidden=32, steps=1500)
    assert set(mlp) == {f"{k}.{n}" for k in ("tags", "msd") for n in ("hidden.weight", "hidden.bias", "weight", "bias")}
    assert tuple(mlp["msd.hidden.weight"].shape) == (32, 4) and tuple(mlp["msd.weight"].shape) == (50, 32)
    for kind in ("tags", "msd"):
        assert _auc(linear, kind, test, test_embs) < 0.7
        assert _auc(mlp, kind, test, test_embs) > 0.9


@pytest.mark.slow
def test_the_fit_is_seeded():
    clips, embs = _xor_clips(64, seed=2)
    tags = list(VG.VOCABULARIES["mtt"].labels)
    a = fit_mlp_tag_heads(clips, embs, tags, hidden=8, steps=20, seed=3)
    b = fit_mlp_tag_heads(clips, embs, tags, hidden=8, steps=20, seed=3)
    c = fit_mlp_tag_heads(clips, embs, tags, hidden=8, steps=20, seed=4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["tags.weight"], c["tags.weight"])


@pytest.mark.slow  # refits the heads of a checkpoint end to end (1.6 s)
def test_replacing_tag_heads_keeps_the_genre_head_and_notes_the_fit(msd_checkpoint):
    ckpt = load_checkpoint(msd_checkpoint)
    e = ckpt.config.embed_dim
    genre = {"genres.weight": torch.ones(10, e), "genres.bias": torch.zeros(10)}
    ckpt.heads = {**ckpt.heads, **genre}
    clips, _ = _xor_clips(32, seed=5)
    clips += [Example("render.wav", ["x"], tags=["piano"]) for _ in range(3)]  # unscored: no target
    embs = [_embedding(torch.from_numpy(normalize(torch.randn(1, e).numpy()))) for _ in clips]
    assert replace_tag_heads(ckpt, clips, embs, hidden=4, steps=5, corpus="c") == ["msd", "tags"]
    assert torch.equal(ckpt.heads["genres.weight"], genre["genres.weight"])
    assert tuple(ckpt.heads["msd.weight"].shape) == (50, 4) and "tags.hidden.bias" in ckpt.heads
    assert ckpt.training["tag_heads"] == {"kind": "mlp", "hidden": 4, "steps": 5, "seed": 0,
                                          "heads": ["msd", "tags"], "clips": 35, "corpus": "c",
                                          "targets": {"tags": 32, "msd": 32}}


def test_start_heads_from_skips_hidden_heads_even_of_a_fitting_shape(tiny_checkpoint):
    from muser_model.torch_engine.runtime import build_model
    from muser_train.training.trainer import TrainModule, start_heads_from
    ckpt = load_checkpoint(tiny_checkpoint)
    e = ckpt.config.embed_dim
    module = TrainModule(build_model(ckpt, torch.device("cpu")), {"tags": 50})
    heads = {"tags.hidden.weight": torch.ones(e, e), "tags.hidden.bias": torch.zeros(e),
             "tags.weight": torch.ones(50, e), "tags.bias": torch.zeros(50)}
    assert start_heads_from(module, heads) == []
    assert not torch.equal(module.heads["tags"].weight, heads["tags.weight"])


# -- the refit command and the training option ------------------------------------------------
@pytest.mark.slow
def test_refit_command_writes_hidden_tag_heads(scored_corpus, msd_checkpoint, tmp_path):
    out = tmp_path / "refit.muser"
    assert refit_main(["--checkpoint", str(msd_checkpoint), "--corpus", str(scored_corpus),
                       "--out", str(out), "--hidden", "6", "--steps", "20", "--device", "cpu"]) == 0
    before, after = load_checkpoint(msd_checkpoint), load_checkpoint(out)
    assert tuple(after.heads["tags.hidden.weight"].shape) == (6, after.config.embed_dim)
    assert tuple(after.heads["msd.weight"].shape) == (50, 6)
    assert after.training["tag_heads"]["clips"] == 9  # the corpus's training split
    assert after.training["tag_heads"]["targets"] == {"tags": 6, "msd": 6}  # its scored clips
    assert all(torch.equal(after.state_dict[k], v) for k, v in before.state_dict.items())  # towers kept
    from muser_train.evaluation.datacard import training_lines
    assert any("refitted with 6 hidden units" in line and "9 training clips (with a target: "
               "msd 6, tags 6)" in line for line in training_lines(after))
    res = runner.invoke(app, ["tag", str(next(scored_corpus.rglob("*.wav"))), "-c", str(out), "--json"])
    assert res.exit_code == 0, res.stderr
    assert {e["method"] for e in json.loads(res.stdout)["tags_by_vocabulary"]["msd"]} == {"head"}


def test_refit_command_errors_are_one_line(msd_checkpoint, tmp_path, capsys):
    out = tmp_path / "never.muser"
    code = refit_main(["--checkpoint", str(msd_checkpoint), "--corpus", str(tmp_path / "no corpus"),
                       "--out", str(out), "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and err[0].startswith("error: ") and "no corpus" in err[0]
    assert not out.exists()


@pytest.mark.slow
def test_training_with_tag_head_hidden_refits_only_the_tag_heads(scored_corpus, tmp_path):
    from muser_train.training.trainer import TrainConfig, train
    cfg = TrainConfig(data="folder", data_dir=str(scored_corpus), out=str(tmp_path / "m.muser"),
                      model="tiny", epochs=1, batch_size=4, clip_s=6.0, warmup_steps=1,
                      heads="finetune", select="none", tag_head_hidden=5)
    ckpt = load_checkpoint(train(cfg, log=lambda _m: None).out)
    assert tuple(ckpt.heads["tags.weight"].shape) == (50, 5) and "msd.hidden.weight" in ckpt.heads
    assert "genres.hidden.weight" not in ckpt.heads
    assert tuple(ckpt.heads["genres.weight"].shape) == (10, ckpt.config.embed_dim)  # trained jointly
    assert ckpt.training["tag_heads"]["hidden"] == 5
