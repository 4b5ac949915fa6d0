"""The one scoring stack (muser_model.core.scoring): top-k, heads, zero-shot, open labels; both
engines through it."""
import numpy as np
import pytest

from muser_model.core.scoring import LabelScore, Scorer, ScoringAssets, TrackEmbedding, normalize, top_k


class _Engine:
    """A stand-in engine: texts embed to fixed unit vectors."""

    def __init__(self, assets: ScoringAssets, texts: dict[str, np.ndarray]) -> None:
        self.assets, self.texts, self.calls = assets, texts, []

    def embed_windows(self, windows, batch_size=16):
        raise AssertionError("not used")

    def embed_texts(self, texts):
        self.calls.append(list(texts))
        return np.stack([self.texts[t] for t in texts])


def _assets(**kw) -> ScoringAssets:
    base = dict(tags=["a", "b"], genres=["rock", "jazz"], templates={"tag_prompt": "{label}", "genre_prompt": "g {label}"},
                zero_shot_scale=10.0)
    return ScoringAssets(**{**base, **kw})


def test_top_k_breaks_ties_in_label_order_at_the_reported_precision():
    scores = np.array([0.1, 0.29999, 0.3, 0.30001, 0.5], np.float32)
    ranked = top_k(scores, ["v", "w", "x", "y", "z"], 4, "cosine", "zero-shot")
    assert [s.label for s in ranked] == ["z", "w", "x", "y"]  # w, x, y all read 0.3000: label order
    assert ranked[1] == LabelScore("w", 0.3, "cosine", "zero-shot")
    assert [s.label for s in top_k(scores[:2], ["v", "w"], 5, "cosine", "zero-shot")] == ["w", "v"]


def test_stored_prompts_are_used_and_other_labels_are_embedded():
    e = np.eye(3, dtype=np.float32)
    engine = _Engine(_assets(label_embeddings={"tags": e[:2]}), {"calm": e[2], "g rock": e[0], "g jazz": e[1]})
    scorer = Scorer(engine)
    cos, kind, method = scorer.scores(e[:1], "tags")
    assert (kind, method) == ("cosine", "zero-shot") and cos.tolist() == [[1.0, 0.0]]
    assert engine.calls == []  # the checkpoint's tag prompts were stored
    probs, kind, _ = scorer.scores(e[:1], "genres")
    assert kind == "probability" and engine.calls == [["g rock", "g jazz"]]
    assert probs[0, 0] == pytest.approx(1 / (1 + np.exp(-10.0)), rel=1e-5)  # softmax of scale * cosine


def test_heads_win_over_zero_shot_unless_asked():
    e = np.eye(2, dtype=np.float32)
    heads = {"genres.weight": np.zeros((2, 2), np.float32), "genres.bias": np.array([0.0, 3.0], np.float32)}
    scorer = Scorer(_Engine(_assets(label_embeddings={"genres": e}, heads=heads), {}))
    probs, kind, method = scorer.scores(e[:1], "genres")
    assert method == "head" and int(probs.argmax()) == 1 and probs.sum() == pytest.approx(1.0)
    _, _, method = scorer.scores(e[:1], "genres", "zero-shot")
    assert method == "zero-shot"


def test_one_open_label_has_a_similarity_and_no_softmax():
    """A softmax over one word is always 1.00: only its cosine is meaningful."""
    v = normalize(np.array([[1.0, 1.0, 0.0]], np.float32))[0]
    engine = _Engine(_assets(), {"metal": v, "calm": np.array([0, 0, 1], np.float32)})
    cos, probs = Scorer(engine).open_labels(np.array([[1, 0, 0]], np.float32), ["metal"])
    assert probs is None and cos[0, 0] == pytest.approx(2 ** -0.5, rel=1e-5)
    cos, probs = Scorer(engine).open_labels(np.array([[1, 0, 0]], np.float32), ["metal", "calm"])
    assert probs.shape == (1, 2) and probs.sum() == pytest.approx(1.0) and probs[0, 0] > probs[0, 1]


def test_last_window_span_is_clipped_to_the_duration():
    emb = TrackEmbedding("x", np.zeros((29, 4)), np.zeros((29, 4)), 5.0, 5.0, duration_s=143.7)
    assert emb.window_span(0) == (0.0, 5.0)
    assert emb.window_span(28) == (140.0, pytest.approx(143.7))
    assert TrackEmbedding("x", np.zeros((1, 4)), np.zeros((1, 4)), 5.0, 5.0).window_span(0) == (0.0, 5.0)


# -- both engines through the one stack -------------------------------------------------------
def test_numpy_and_torch_engines_score_alike(tiny_checkpoint, tiny_model, clips):
    """Each engine embeds; the same Scorer code scores: tags, genres and open labels to 1e-4."""
    from muser_model.core import embedding
    from muser_model.torch_engine.inference import engine_of
    from muser_model.numpy_engine.audio import NumpyMuser

    engines = [NumpyMuser.load(tiny_checkpoint), engine_of(tiny_model)]
    tracks = [np.stack([t.track() for t in embedding.embed_files(e, clips)]) for e in engines]  # (3, E) each
    scorers = [Scorer(e) for e in engines]
    assert scorers[0].scale == pytest.approx(scorers[1].scale, rel=1e-6)
    for kind in ("tags", "genres"):
        a, b = (s.scores(t, kind)[0] for s, t in zip(scorers, tracks))
        assert np.abs(a - b).max() < 1e-4
    labels = ["calm", "angry piano"]
    (cos_a, p_a), (cos_b, p_b) = (s.open_labels(t, labels) for s, t in zip(scorers, tracks))
    assert np.abs(cos_a - cos_b).max() < 1e-4 and np.abs(p_a - p_b).max() < 1e-4
