"""The torch-free text path used by `muser search`."""

import numpy as np
import torch

from muser_model.text_numpy import NumpyTextEmbedder, gelu, save_text_head


def test_gelu_matches_torch_exact_gelu():
    x = np.linspace(-6, 6, 1001, dtype=np.float32)
    assert np.abs(gelu(x) - torch.nn.functional.gelu(torch.from_numpy(x)).numpy()).max() < 1e-6


def test_numpy_embedder_matches_the_model(tiny_model, tmp_path):
    model = tiny_model.model
    assert save_text_head(tiny_model.checkpoint.state_dict, model.config.text, tmp_path / "head.npz")
    texts = ["melancholic piano", "fast drums in a loud rock song with distorted guitars", "a"]
    ours = NumpyTextEmbedder(tmp_path / "head.npz")(texts)
    ref = tiny_model.embed_texts(texts).numpy()
    assert ours.shape == ref.shape and np.abs(ours - ref).max() < 1e-4


def test_fine_tuned_towers_are_not_exported(tiny_model, tmp_path):
    import copy

    cfg = copy.deepcopy(tiny_model.model.config.text)
    cfg.trainable_layers = 1
    assert not save_text_head(tiny_model.checkpoint.state_dict, cfg, tmp_path / "head.npz")
    assert not (tmp_path / "head.npz").exists()
