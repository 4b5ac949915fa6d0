import numpy as np
import pytest
import torch

from muser_model.core.config import named_config
from muser_model.torch_engine.features import mel_filterbank
from muser_model.torch_engine.model import Muser
from muser_model.torch_engine.text_tower import MiniLM, Tokenizer, tower_dir


@pytest.mark.parametrize("name", ["tiny", "default", pytest.param("paper", marks=pytest.mark.slow)])
def test_every_named_config_builds_and_embeds(name):
    torch.manual_seed(0)
    cfg = named_config(name)
    model = Muser(cfg).eval()
    wave = torch.randn(1, int(cfg.audio.window_s * cfg.audio.sample_rate))
    with torch.no_grad():
        out = model(wave=wave, text_features=torch.randn(1, cfg.text.width))
    for emb in (out.wave, out.spec, out.text):
        assert emb.shape == (1, cfg.embed_dim)
        assert torch.allclose(emb.norm(dim=-1), torch.ones(1), atol=1e-5)
    assert set(model.logit_scales()) == {"wave_spec", "wave_text", "spec_text"}


@pytest.mark.slow
def test_paper_config_is_large_and_default_is_small():
    paper = sum(Muser(named_config("paper")).parameter_counts()[k] for k in ("waveform", "spectrogram", "text"))
    default = Muser(named_config("default")).parameter_counts()
    assert paper > 80e6
    assert default["waveform"] + default["spectrogram"] < 5e6


def test_logit_scales_are_clamped():
    model = Muser(named_config("tiny"))
    with torch.no_grad():
        model.log_scales.fill_(10.0)
    assert all(float(s.detach()) == 100.0 for s in model.logit_scales().values())


def test_text_tower_trainable_layers():
    cfg = named_config("tiny")
    cfg.text.trainable_layers = 2
    model = Muser(cfg)
    trainable = {n.split(".")[1] for n, p in model.text_encoder.named_parameters() if p.requires_grad}
    assert trainable == {"4", "5"}
    assert any(k.startswith("text_encoder.layers.5.") for k in model.checkpoint_state())
    assert not any(k.startswith("text_encoder.layers.3.") for k in model.checkpoint_state())


def test_mel_filterbank_matches_librosa():
    librosa = pytest.importorskip("librosa")
    ours = mel_filterbank(16000, 512, 64, 0.0, 8000.0)
    ref = librosa.filters.mel(sr=16000, n_fft=512, n_mels=64, fmin=0.0, fmax=8000.0)
    assert np.abs(ours - ref).max() < 1e-6


@pytest.mark.slow  # imports transformers (4-5 s)
def test_minilm_port_matches_transformers():
    transformers = pytest.importorskip("transformers")
    cfg = named_config("default").text
    ours = MiniLM(cfg)
    ours.load_pretrained()
    ours.eval()
    ids, mask = Tokenizer(cfg.max_tokens)(["melancholic piano", "fast drums in a loud rock song", "ok"])
    ref_model = transformers.BertModel.from_pretrained(str(tower_dir()), local_files_only=True).eval()
    with torch.no_grad():
        hidden = ref_model(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).float()
        ref = (hidden * m).sum(1) / m.sum(1)
        got = ours(ids, mask)
    assert (got - ref).abs().max() < 1e-4


def test_sentence_similarity_is_sensible():
    cfg = named_config("default").text
    tower = MiniLM(cfg)
    tower.load_pretrained()
    tower.eval()
    ids, mask = Tokenizer(cfg.max_tokens)(["a sad piano ballad", "melancholic piano music", "fast heavy metal drums"])
    with torch.no_grad():
        e = torch.nn.functional.normalize(tower(ids, mask), dim=-1)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2
