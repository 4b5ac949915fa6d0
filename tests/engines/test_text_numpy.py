"""The torch-free text path used by `muser search` (its embeddings against the torch model: test_search.py)."""

import numpy as np
import torch

from muser_model.numpy_engine.text import gelu


def test_gelu_matches_torch_exact_gelu():
    x = np.linspace(-6, 6, 1001, dtype=np.float32)
    assert np.abs(gelu(x) - torch.nn.functional.gelu(torch.from_numpy(x)).numpy()).max() < 1e-6


def test_safetensors_are_mapped_not_copied(tmp_path):
    import pytest
    from safetensors.numpy import save_file

    from muser_model.core.errors import TextTowerError
    from muser_model.core.text_assets import read_safetensors

    rng = np.random.default_rng(0)
    arrays = {"emb": rng.standard_normal((7, 5)).astype(np.float32), "half": np.arange(3, dtype=np.float16),
              "ids": np.arange(4, dtype=np.int64).reshape(2, 2), "odd": rng.standard_normal(3).astype(np.float64)}
    save_file(arrays, str(tmp_path / "w.safetensors"))
    read = read_safetensors(tmp_path / "w.safetensors")
    assert set(read) == set(arrays)
    for name, value in arrays.items():
        assert read[name].dtype == value.dtype and np.array_equal(read[name], value)
        assert not read[name].flags.writeable and read[name].flags.aligned  # a view of the mapped file

    (tmp_path / "short.safetensors").write_bytes(b"\x10\x00")
    with pytest.raises(TextTowerError, match="short.safetensors"):
        read_safetensors(tmp_path / "short.safetensors")
    header = b'{"flags":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}}'
    (tmp_path / "bool.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + b"\x01\x00")
    with pytest.raises(TextTowerError, match="bool.safetensors: tensor flags has unsupported dtype BOOL"):
        read_safetensors(tmp_path / "bool.safetensors")
    header = b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'
    (tmp_path / "cut.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + b"\x00" * 8)
    with pytest.raises(TextTowerError, match="cut.safetensors: not a readable safetensors file"):
        read_safetensors(tmp_path / "cut.safetensors")
