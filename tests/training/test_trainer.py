"""`muser train` / muser_train.training.trainer: every dataset layout, fine-tuning, resume, heads, caches, bad input."""
import json

import pytest
import torch
from typer.testing import CliRunner

from muser_cli.main import app
from muser_model.core.checkpoint import load_checkpoint
from tests.helpers.dataset_fixtures import make_fma, make_gtzan, make_mtt
from tests.training.test_train import _corpus
from muser_train.training.trainer import TrainConfig, Trainer, train

runner = CliRunner()


@pytest.fixture(autouse=True)
def _private_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))


def _cfg(data, data_dir, out, **kw) -> TrainConfig:
    base = dict(data=data, data_dir=str(data_dir), out=str(out), model="tiny", epochs=2, batch_size=2,
                clip_s=6.0, warmup_steps=1, heads="none")
    base.update(kw)
    return TrainConfig(**base)


def _weights(path):
    return {k: v for k, v in load_checkpoint(path).state_dict.items() if v.is_floating_point()}


def _make(name, root):
    if name == "fma_small":
        return make_fma(root, n=8)["data_dir"]
    if name == "mtt":
        return make_mtt(root)["data_dir"]
    if name == "gtzan":
        make_gtzan(root)
        return root
    return _corpus(root)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) for n in ("fma_small", "mtt", "gtzan")]
                         + ["folder"])
def test_two_steps_on_each_dataset_layout(tmp_path, name):
    data_dir = _make(name, tmp_path / "data")
    logs = []
    result = train(_cfg(name, data_dir, tmp_path / "out.muser", epochs=1, max_steps=2, batch_size=2,
                        select="none"), log=logs.append)
    assert result.steps >= 1
    state = torch.load(tmp_path / "out.muser.run" / "state.pt", weights_only=False)
    assert state["config"]["data"] == name
    assert all(torch.isfinite(v).all() for v in state["module"].values() if v.is_floating_point())
    assert any("training clips" in line for line in logs)


@pytest.mark.slow
def test_train_cli_then_tag_uses_the_new_checkpoint(tmp_path):
    corpus = _corpus(tmp_path / "corpus")
    (corpus / "audio" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with open(corpus / "captions.csv", "a") as f:
        f.write("audio/broken.wav,broken clip,,blues,,train\n")
    out = tmp_path / "trained.muser"
    res = runner.invoke(app, ["train", "--data", "folder", "--data-dir", str(corpus), "--out", str(out),
                              "--model", "tiny", "--epochs", "2", "--batch-size", "4", "--clip-seconds", "4"])
    assert res.exit_code == 0, res.stderr
    assert res.stdout.strip() == str(out)
    assert "broken.wav" in res.stderr  # named, skipped, not fatal
    ckpt = load_checkpoint(out)
    assert ckpt.training["clips_train"] == 9 and ckpt.training["clips_skipped"] == 1
    assert [r["epoch"] for r in ckpt.training["history"]] == [1, 2]
    assert {"genres.weight", "tags.weight"} <= set(ckpt.heads)  # linear probe by default
    tagged = runner.invoke(app, ["tag", str(corpus / "audio" / "jazz"), "--json", "-c", str(out)])
    assert tagged.exit_code == 0, tagged.stderr
    rows = [json.loads(line) for line in tagged.stdout.splitlines()]
    assert len(rows) == 4 and rows[0]["genre"]["method"] == "head"


@pytest.mark.slow
@pytest.mark.parametrize("epochs,batch,stop_at", [(2, 4, 2), (1, 2, 2)])  # epoch boundary, mid-epoch
def test_resume_matches_an_uninterrupted_run(tmp_path, epochs, batch, stop_at):
    corpus = _corpus(tmp_path / "corpus", per_genre=4)  # 9 train clips
    common = dict(epochs=epochs, batch_size=batch, noise_prob=0.5, lowpass_prob=0.5, select="none")
    straight = train(_cfg("folder", corpus, tmp_path / "a.muser", **common), log=lambda _m: None)
    assert straight.finished and straight.steps == 4
    first = train(_cfg("folder", corpus, tmp_path / "b.muser", max_steps=stop_at, **common), log=lambda _m: None)
    assert not first.finished and first.steps == stop_at and not (tmp_path / "b.muser").exists()
    logs = []
    resumed = train(_cfg("folder", corpus, tmp_path / "b.muser", resume=True, **common), log=logs.append)
    assert resumed.finished and resumed.steps == 4
    assert any("resuming" in line for line in logs)
    a, b = _weights(tmp_path / "a.muser"), _weights(tmp_path / "b.muser")
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < 1e-5, worst
    # and the run really trained: weights moved away from a different seed's start
    other = train(_cfg("folder", corpus, tmp_path / "c.muser", seed=1, **common), log=lambda _m: None)
    assert other.finished
    c = _weights(tmp_path / "c.muser")
    assert max(float((a[k] - c[k]).abs().max()) for k in a) > 1e-3


def test_resume_without_state_is_a_clear_error(tmp_path):
    corpus = _corpus(tmp_path / "corpus")
    res = runner.invoke(app, ["train", "--data", "folder", "--data-dir", str(corpus), "--out",
                              str(tmp_path / "x.muser"), "--model", "tiny", "--resume"])
    assert res.exit_code == 2 and "state.pt" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.slow
def test_finetune_from_init_starts_from_its_weights(tmp_path, tiny_checkpoint):
    make_gtzan(tmp_path / "gtzan")
    out = tmp_path / "ft.muser"
    result = train(_cfg("gtzan", tmp_path / "gtzan", out, init=str(tiny_checkpoint), lr=0.0, epochs=1),
                   log=lambda _m: None)
    assert result.finished
    before, after = _weights(tiny_checkpoint), _weights(out)
    moving = [k for k in before if "running_" not in k and "num_batches" not in k]
    assert all(torch.equal(before[k], after[k]) for k in moving)  # lr 0: the init weights, untouched
    ckpt = load_checkpoint(out)
    assert ckpt.genres == ["blues", "classical", "hiphop", "rock"]  # the dataset's own genres
    assert ckpt.training["init"] == str(tiny_checkpoint)
    assert ckpt.training["selected"]["metric"] == "accuracy"


@pytest.mark.slow
def test_jointly_trained_heads_are_stored(tmp_path):
    corpus = _corpus(tmp_path / "corpus")
    result = train(_cfg("folder", corpus, tmp_path / "h.muser", heads="finetune", epochs=1, batch_size=4),
                   log=lambda _m: None)
    heads = load_checkpoint(result.out).heads
    assert heads["genres.weight"].shape[0] == 10 and heads["tags.weight"].shape[0] == 50
    assert {"head_genres", "head_tags"} <= set(result.history[0])


@pytest.mark.slow
def test_best_epoch_is_selected_on_validation(tmp_path):
    make_gtzan(tmp_path / "gtzan")
    result = train(_cfg("gtzan", tmp_path / "gtzan", tmp_path / "g.muser", epochs=3, lr=3e-3),
                   log=lambda _m: None)
    scores = [r["valid_accuracy"] for r in result.history]
    selected = load_checkpoint(result.out).training["selected"]
    assert selected["score"] == max(scores)
    assert selected["epoch"] == scores.index(max(scores)) + 1


@pytest.mark.slow
def test_accumulation_and_bf16_autocast(tmp_path):
    corpus = _corpus(tmp_path / "corpus", per_genre=4)
    result = train(_cfg("folder", corpus, tmp_path / "acc.muser", epochs=1, batch_size=2, accum_steps=2,
                        amp="bf16", select="none"), log=lambda _m: None)
    assert result.finished and result.steps == 9 // 4
    assert all(torch.isfinite(v).all() for v in _weights(result.out).values())


@pytest.mark.slow
def test_second_run_reuses_the_caches(tmp_path):
    corpus = _corpus(tmp_path / "corpus")
    cfg = _cfg("folder", corpus, tmp_path / "one.muser", epochs=1, select="none")
    train(cfg, log=lambda _m: None)
    cache = tmp_path / "home" / "cache" / "train"
    assert len(list(cache.glob("waves-*"))) == 1 and len(list(cache.glob("text-*.npy"))) == 1  # no validation decode
    logs = []
    train(_cfg("folder", corpus, tmp_path / "two.muser", epochs=1, select="none"), log=logs.append)
    assert any("from cache" in line for line in logs)


def test_template_replaces_the_first_caption(tmp_path):
    make_gtzan(tmp_path / "gtzan")
    trainer = Trainer(_cfg("gtzan", tmp_path / "gtzan", tmp_path / "t.muser", template="a {genre} record"))
    from muser_train.training.trainer import load_examples

    ex = load_examples(trainer.cfg).examples[0]
    assert ex.texts[0] == f"a {ex.genre.replace('hiphop', 'hip hop')} record"


@pytest.mark.parametrize("args,needle", [
    (["--data", "gtzan", "--data-dir", "{tmp}/nope"], "nope"),
    (["--data", "spotify", "--data-dir", "{tmp}"], "--data 'spotify'"),
    (["--data", "folder", "--data-dir", "{tmp}", "--heads", "deep"], "--heads"),
])
def test_bad_options_give_one_clear_line(tmp_path, args, needle):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    res = runner.invoke(app, ["train", *args, "--out", str(tmp_path / "o.muser"), "--model", "tiny"])
    assert res.exit_code == 2, res.stderr
    assert needle in res.stderr and "Traceback" not in res.stderr


def test_changed_csv_header_and_missing_files_are_reported(tmp_path):
    fma = make_fma(tmp_path / "fma", n=8, omit_columns=(("track", "genre_top"),))
    res = runner.invoke(app, ["train", "--data", "fma_small", "--data-dir", str(fma["data_dir"]), "--out",
                              str(tmp_path / "o.muser"), "--model", "tiny"])
    assert res.exit_code == 2 and "tracks.csv" in res.stderr and "Traceback" not in res.stderr
    mtt = make_mtt(tmp_path / "mtt", missing=(2,))
    logs = []
    train(_cfg("mtt", mtt["data_dir"], tmp_path / "m.muser", epochs=1, max_steps=1), log=logs.append)
    assert any("missing" in line and str(mtt["paths"][2]) in line for line in logs)
