import torch

from muser_model.core.errors import NotAudioError
from muser_model.torch_engine.inference import Scorer, embed_files
from muser_model.torch_engine.runtime import load_model


def _track(lm, path, **kw):
    (result,) = list(embed_files(lm, [path], **kw))
    return result


def test_same_file_same_vector_across_runs(tiny_checkpoint, clips):
    first = _track(load_model(tiny_checkpoint, "cpu"), clips[2]).track()
    second = _track(load_model(tiny_checkpoint, "cpu"), clips[2]).track()
    assert torch.equal(first, second)


def test_windows_follow_window_and_hop(tiny_model, clips):
    # tiny config: 2 s windows; c.flac is 7 s -> windows at 0, 2, 4, 6 (the last 1 s, padded)
    assert _track(tiny_model, clips[2]).wave.shape[0] == 4
    assert _track(tiny_model, clips[2], hop_s=1.0).wave.shape[0] == 7
    emb = _track(tiny_model, clips[2])
    assert torch.allclose(emb.track().norm(), torch.tensor(1.0), atol=1e-5)


def test_batching_across_files_does_not_change_results(tiny_model, clips):
    alone = [_track(tiny_model, p).track() for p in clips]
    together = [r.track() for r in embed_files(tiny_model, clips, batch_size=3)]
    for a, b in zip(alone, together):
        assert torch.allclose(a, b, atol=1e-5)


def test_errors_keep_their_place_in_order(tiny_model, clips, tmp_path):
    bad = tmp_path / "bad.mp3"
    bad.write_text("not audio at all")
    results = list(embed_files(tiny_model, [clips[0], bad, clips[1]], batch_size=2))
    assert [type(r).__name__ for r in results] == ["TrackEmbedding", "NotAudioError", "TrackEmbedding"]
    assert isinstance(results[1], NotAudioError) and "bad.mp3" in str(results[1])
    assert results[2].path == clips[1]


def test_silence_lead_in_moves_a_window_mean_little(tiny_model, tmp_path):
    import numpy as np
    import soundfile as sf

    from tests.conftest import tone

    music = tone(330.0, 20.0, seed=5)
    sf.write(tmp_path / "plain.wav", music, 16000)
    sf.write(tmp_path / "lead.wav", np.concatenate([np.zeros(int(1.2 * 16000), np.float32), music]), 16000)
    a = _track(tiny_model, tmp_path / "plain.wav").track()
    b = _track(tiny_model, tmp_path / "lead.wav").track()
    assert float(a @ b) > 0.9


def test_zero_shot_genre_scores_are_probabilities(tiny_model, clips):
    emb = torch.stack([_track(tiny_model, p).track() for p in clips])
    scores, kind, method = Scorer(tiny_model).scores(emb, "genres")
    assert (kind, method) == ("probability", "zero-shot")
    assert scores.shape == (3, 10) and torch.allclose(scores.sum(1), torch.ones(3), atol=1e-5)
    tags, kind, _ = Scorer(tiny_model).scores(emb, "tags")
    assert kind == "cosine" and tags.shape == (3, 50) and tags.abs().max() <= 1.0 + 1e-5


def test_heads_are_used_when_present(tiny_checkpoint, clips, tmp_path):
    from muser_model.core.checkpoint import load_checkpoint
    from muser_model.torch_engine.checkpoint_export import save_checkpoint

    ckpt = load_checkpoint(tiny_checkpoint)
    e = ckpt.config.embed_dim
    ckpt.heads = {"genres.weight": torch.zeros(10, e), "genres.bias": torch.arange(10.0)}
    save_checkpoint(ckpt, tmp_path / "heads.muser")
    lm = load_model(tmp_path / "heads.muser", "cpu")
    scores, kind, method = Scorer(lm).scores(_track(lm, clips[0]).track()[None], "genres")
    assert method == "head" and int(scores.argmax()) == 9  # the bias alone decides: "rock"


def test_tagging_never_builds_the_text_tower(tiny_checkpoint, clips):
    from muser_model.tagging import tag_files

    lm = load_model(tiny_checkpoint, "cpu")
    (result,) = list(tag_files(lm, clips[:1]))
    assert result.tags and lm.model.text_encoder is None  # stored label embeddings were enough
    lm.embed_texts(["piano"])
    assert lm.model.text_encoder is not None


def test_bf16_inference_stays_close_to_fp32(tiny_checkpoint, clips):
    fp32 = _track(load_model(tiny_checkpoint, "cpu", "fp32"), clips[2]).track()
    bf16_model = load_model(tiny_checkpoint, "cpu", "bf16")
    assert bf16_model.autocast_dtype == torch.bfloat16
    bf16 = _track(bf16_model, clips[2]).track()
    assert float(fp32 @ bf16) > 0.99
    assert torch.equal(bf16, _track(bf16_model, clips[2]).track())  # still deterministic
