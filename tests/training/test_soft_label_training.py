"""Teacher soft labels in training: scores attached to clips, captions sampled from them, head and
genre targets, the merged corpus scores, and a run whose checkpoint carries the MSD-50 head."""
import random

import numpy as np
import pytest
import torch

from muser_model.core.checkpoint import load_checkpoint
from muser_model.core.vocab import GTZAN_GENRES, MTT_TAGS
from muser_model.core.vocab_groups import VOCABULARIES
from muser_train.corpus.build import merge_scores
from muser_train.teachers.score_manifest import load_table
from muser_train.training.datasets import DatasetError, Example, read_folder
from muser_train.training.heads import genre_targets, head_targets, teacher_vocabularies
from muser_train.training.teacher_labels import genre_evidence, genre_target, sample_tags, teacher_captions
from tests.training.test_train import _corpus

MSD = VOCABULARIES["msd"].labels


def _probs(vocab: str, **high: float) -> np.ndarray:
    labels = VOCABULARIES[vocab].labels
    p = np.full(len(labels), 0.01, np.float32)
    for label, value in high.items():
        p[labels.index(label.replace("_", " "))] = value
    return p


def _metal() -> dict[str, np.ndarray]:
    return {"mtt": _probs("mtt", metal=0.8, loud=0.6, guitar=0.5),
            "msd": _probs("msd", metal=0.7, heavy_metal=0.5, rock=0.4)}


from tests.conftest import write_scores as _write_scores


# -- captions and genre evidence --------------------------------------------------------------
def test_captions_name_the_strong_tags_in_varied_wording():
    captions = teacher_captions(_metal(), random.Random(0), n=4)
    assert captions[0].startswith("the music is characterized by ")
    assert all("metal" in c for c in captions)  # the strongest tag is always drawn
    assert len({c.split()[0] for c in captions}) >= 3  # template, list and sentences differ


def test_captions_are_seeded_and_never_use_weak_tags():
    a = teacher_captions(_metal(), random.Random(7), n=6)
    assert a == teacher_captions(_metal(), random.Random(7), n=6)
    weak = {"classical", "jazz", "sad", "piano", "country"}
    assert not any(w in c.split(", ") for c in a for w in weak)


def test_sampled_tags_are_at_most_k_in_rank_order():
    tags = sample_tags(_metal(), random.Random(1), k_max=2)
    assert 1 <= len(tags) <= 2 and tags[0][0] == "metal"


def test_genre_evidence_maps_msd_tags_to_gtzan():
    ev = genre_evidence(_metal())
    assert GTZAN_GENRES[int(ev.argmax())] == "metal"
    assert ev[GTZAN_GENRES.index("metal")] == pytest.approx(0.8)  # max of msd metal, mtt metal
    assert ev[GTZAN_GENRES.index("rock")] == pytest.approx(0.4)
    assert ev[GTZAN_GENRES.index("reggae")] == 0.0  # no teacher tag stands for reggae


def test_weak_genre_evidence_gives_no_target():
    dist, weight = genre_target({"mtt": _probs("mtt"), "msd": _probs("msd", ambient=0.6)})
    assert weight == 0.0
    dist, weight = genre_target(_metal())
    assert weight == pytest.approx(0.8) and dist.sum() == pytest.approx(1.0)


# -- head targets -----------------------------------------------------------------------------
def test_head_targets_prefer_teacher_probabilities_and_fall_back_to_hard_tags():
    scored = Example("a.wav", ["x"], tags=["guitar"], teacher=_metal())
    tagged = Example("b.wav", ["x"], tags=["piano"])
    bare = Example("c.wav", ["x"])
    target, weight = head_targets([scored, tagged, bare], "tags", list(MTT_TAGS))
    assert torch.allclose(target[0], torch.from_numpy(_metal()["mtt"]))
    assert target[1, MTT_TAGS.index("piano")] == 1.0 and target[1].sum() == 1.0
    assert weight.flatten().tolist() == [1.0, 1.0, 0.0]
    target, weight = head_targets([scored, tagged], "msd", list(MTT_TAGS))
    assert target.shape == (2, 50) and weight.flatten().tolist() == [1.0, 0.0]
    _, weight = head_targets([scored], "tags", list(MTT_TAGS), soft=False)
    assert weight.flatten().tolist() == [1.0]  # hard tags only


def test_a_partly_scored_corpus_trains_the_tag_heads_on_the_teachers_only():
    """Joint training and frozen-embedding fits: once the teachers scored some clips, an
    unscored clip's metadata tags are no MTT target (weight 0); without any scores they are."""
    from muser_train.training.heads import _tag_kind_targets, tag_targets
    scored = Example("a.wav", ["x"], tags=["guitar"], teacher=_metal())
    render = Example("b.wav", ["x"], tags=["piano"])
    kinds = {k: w.flatten().tolist() for k, _, w in
             _tag_kind_targets([scored, render], list(MTT_TAGS), {"msd": []}, soft=True)}
    assert kinds == {"tags": [1.0, 0.0], "msd": [1.0, 0.0]}
    kinds = {k: w.flatten().tolist() for k, _, w in
             _tag_kind_targets([render], list(MTT_TAGS), {"msd": []}, soft=True)}
    assert kinds == {"tags": [1.0]}  # no teacher scores anywhere: the hard tags, no MSD head
    _, weight = tag_targets([scored, render], "tags", list(MTT_TAGS))
    assert weight.flatten().tolist() == [1.0, 0.0]
    _, weight = tag_targets([scored, render], "tags", list(MTT_TAGS), soft=False)
    assert weight.flatten().tolist() == [1.0, 1.0]  # --no-soft-labels: every clip's hard tags


def test_genre_targets_one_hot_for_known_genres_and_evidence_otherwise():
    rock = Example("r.wav", ["x"], genre="rock", teacher=_metal())
    game = Example("g.wav", ["x"], genre="other", teacher=_metal())
    plain = Example("p.wav", ["x"], genre="other")
    target, weight = genre_targets([rock, game, plain], list(GTZAN_GENRES), evidence_weight=0.5)
    assert target[0, GTZAN_GENRES.index("rock")] == 1.0  # the known label wins over the teachers
    assert GTZAN_GENRES[int(target[1].argmax())] == "metal"
    assert weight.tolist() == pytest.approx([1.0, 0.4, 0.0])


def test_teacher_vocabularies_are_the_scored_extra_ones():
    assert teacher_vocabularies([Example("a.wav", ["x"], teacher=_metal())]) == {"msd": list(MSD)}
    assert teacher_vocabularies([Example("a.wav", ["x"])]) == {}


# -- scores beside a folder -------------------------------------------------------------------
def test_folder_clips_get_their_scores_by_path(tmp_path):
    corpus = _corpus(tmp_path / "c")
    table = _write_scores(corpus, ["audio/blues/blues_0.wav", "audio/rock/rock_1.wav"])
    clips = {c.path.name: c for c in read_folder(corpus)}
    np.testing.assert_allclose(clips["blues_0.wav"].teacher["msd"],
                               table.scores["audio/blues/blues_0.wav"]["msd"].astype(np.float32))
    assert set(clips["rock_1.wav"].teacher) == {"mtt", "msd"}
    assert clips["blues_1.wav"].teacher == {}


def test_unreadable_scores_file_is_a_dataset_error_naming_it(tmp_path):
    corpus = _corpus(tmp_path / "c")
    (corpus / "ensemble_scores.npz").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="ensemble_scores.npz"):
        read_folder(corpus)


def test_merged_scores_use_the_merged_ids(tmp_path):
    for name in ("mma", "realmusic"):
        (tmp_path / name).mkdir()
        _write_scores(tmp_path / name, [f"audio/{name}_0.flac"], seed=len(name))
    assert merge_scores(tmp_path, ["mma", "realmusic", "games"]) == 2
    merged = load_table(tmp_path / "ensemble_scores.npz")
    assert set(merged.scores) == {"mma/audio/mma_0.flac", "realmusic/audio/realmusic_0.flac"}


# -- a run (the scored_corpus fixture is in conftest.py) -----------------------------------------
@pytest.mark.slow
def test_finetuned_heads_include_msd_with_soft_targets(scored_corpus, tmp_path):
    from muser_train.training.trainer import TrainConfig, train
    cfg = TrainConfig(data="folder", data_dir=str(scored_corpus), out=str(tmp_path / "s.muser"),
                      model="tiny", epochs=1, batch_size=4, clip_s=6.0, warmup_steps=1,
                      heads="finetune", select="none")
    logs = []
    result = train(cfg, log=logs.append)
    ckpt = load_checkpoint(result.out)
    assert ckpt.heads["msd.weight"].shape[0] == 50 and ckpt.heads["tags.weight"].shape[0] == 50
    assert "msd" in ckpt.label_embeddings and ckpt.label_embeddings["msd"].shape[0] == 50
    assert {"head_msd", "head_tags", "head_genres"} <= set(result.history[0])
    assert any("have teacher scores" in line for line in logs)
    table = getattr(ckpt, "vocabularies", {})
    assert [t["label"] for t in table["vocabularies"]["msd"]["tags"]] == list(MSD)


def test_soft_labels_off_ignores_the_scores(scored_corpus, tmp_path):
    from muser_train.training.trainer import TrainConfig, train
    cfg = TrainConfig(data="folder", data_dir=str(scored_corpus), out=str(tmp_path / "h.muser"),
                      model="tiny", epochs=1, batch_size=4, clip_s=6.0, warmup_steps=1,
                      heads="finetune", select="none", soft_labels=False)
    ckpt = load_checkpoint(train(cfg, log=lambda _m: None).out)
    assert "msd.weight" not in ckpt.heads


@pytest.mark.slow
def test_prompt_alignment_trains_the_zero_shot_scores(scored_corpus, tmp_path):
    from muser_train.training.trainer import TrainConfig, train
    cfg = TrainConfig(data="folder", data_dir=str(scored_corpus), out=str(tmp_path / "p.muser"),
                      model="tiny", epochs=1, batch_size=4, clip_s=6.0, warmup_steps=1,
                      heads="none", select="none", prompt_weight=1.0)
    result = train(cfg, log=lambda _m: None)
    assert {"prompt_genres", "prompt_tags", "prompt_msd"} <= set(result.history[0])
    assert all(v == v for k, v in result.history[0].items() if k.startswith("prompt_"))  # finite
    state = torch.load(tmp_path / "p.muser.run" / "state.pt", weights_only=False)
    assert "prompt_affine.msd" in state["module"]


def test_finetuning_starts_the_heads_from_the_init_checkpoint(tiny_checkpoint):
    from muser_train.training.trainer import TrainModule, start_heads_from
    from muser_model.torch_engine.runtime import build_model
    ckpt = load_checkpoint(tiny_checkpoint)
    module = TrainModule(build_model(ckpt, torch.device("cpu")), {"genres": 10, "tags": 50, "msd": 50})
    heads = {"tags.weight": torch.ones(50, ckpt.config.embed_dim), "tags.bias": torch.zeros(50),
             "genres.weight": torch.ones(3, ckpt.config.embed_dim), "genres.bias": torch.zeros(3)}
    assert start_heads_from(module, heads) == ["tags"]  # genres: another shape, msd: absent
    assert torch.equal(module.heads["tags"].weight, heads["tags.weight"])


def test_heads_and_prompt_scales_learn_faster_than_the_towers(tiny_checkpoint):
    from muser_model.torch_engine.runtime import build_model
    from muser_train.training.trainer import TrainConfig, TrainModule, parameter_groups
    ckpt = load_checkpoint(tiny_checkpoint)
    module = TrainModule(build_model(ckpt, torch.device("cpu")), {"tags": 50, "msd": 50}, ["msd"])
    slow, fast = parameter_groups(module, TrainConfig(lr=1e-3, head_lr_scale=10.0))
    assert fast["lr"] == pytest.approx(1e-2) and "lr" not in slow
    assert {id(p) for p in fast["params"]} == {id(p) for p in [*module.heads.parameters(),
                                                                *module.prompt_affine.parameters()]}
    n_trainable = sum(1 for p in module.parameters() if p.requires_grad)
    assert len(slow["params"]) + len(fast["params"]) == n_trainable


@pytest.mark.slow  # fine-tunes, then probes (1.2 s)
def test_finetune_then_probe_refits_every_head(scored_corpus, tmp_path):
    from muser_train.training.trainer import TrainConfig, train
    cfg = TrainConfig(data="folder", data_dir=str(scored_corpus), out=str(tmp_path / "fp.muser"),
                      model="tiny", epochs=1, batch_size=4, clip_s=6.0, warmup_steps=1,
                      heads="finetune+probe", select="none")
    result = train(cfg, log=lambda _m: None)
    last = load_checkpoint(tmp_path / "fp.muser.run" / "last.muser").heads
    final = load_checkpoint(result.out).heads
    assert {"tags.weight", "msd.weight", "genres.weight"} <= set(final)
    assert not torch.equal(last["msd.weight"], final["msd.weight"])  # refitted after training
    assert "head_msd" in result.history[0]  # and trained jointly before


def test_genre_targets_without_genres_are_empty_rows():
    target, weight = genre_targets([Example("a.wav", ["x"], tags=["piano"])], [])
    assert target.shape == (1, 0) and weight.tolist() == [0.0]
