"""The CUDA path: loading, tagging, indexing and a training step on a GPU agree with the CPU.

Skipped where torch sees no GPU (CI, laptops); run on a GPU machine with `pytest tests/engines/test_cuda.py`.
"""
import pytest
import torch

from muser_model.torch_engine.inference import embed_files
from muser_model.library.scan import ScanOptions, index_library, open_index_model
from muser_model.library.store import Library
from muser_model.torch_engine.runtime import load_model
from muser_model.tagging import tag_files
from tests.helpers.library_fixtures import make_library

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def _track(lm, path):
    (result,) = list(embed_files(lm, [path]))
    return result.track().float().cpu()


def test_fp32_on_cuda_matches_the_cpu(tiny_checkpoint, clips):
    cpu = _track(load_model(tiny_checkpoint, "cpu", "fp32"), clips[2])
    gpu_model = load_model(tiny_checkpoint, "cuda", "fp32")
    assert gpu_model.device.type == "cuda" and gpu_model.autocast_dtype is None
    assert float((cpu - _track(gpu_model, clips[2])).abs().max()) < 1e-3  # TF32 may be on


def test_auto_precision_on_cuda_stays_close(tiny_checkpoint, clips):
    cpu = _track(load_model(tiny_checkpoint, "cpu", "fp32"), clips[2])
    gpu_model = load_model(tiny_checkpoint, "cuda", "auto")
    assert gpu_model.autocast_dtype in (torch.bfloat16, torch.float16)
    assert float(cpu @ _track(gpu_model, clips[2])) > 0.99


def test_tags_on_cuda_are_the_cpu_tags(tiny_checkpoint, clips):
    cpu = list(tag_files(load_model(tiny_checkpoint, "cpu", "fp32"), clips, k=3))
    gpu = list(tag_files(load_model(tiny_checkpoint, "cuda", "fp32"), clips, k=3))
    for a, b in zip(cpu, gpu):
        assert [t.label for t in a.genres] == [t.label for t in b.genres]
        assert max(abs(x.score - y.score) for x, y in zip(a.tags, b.tags)) < 1e-3


def test_index_on_cuda_uses_torch_and_matches_the_cpu(tiny_checkpoint, tmp_path, monkeypatch):
    make_library(tmp_path / "music")
    vectors = {}
    for device in ("cpu", "cuda"):
        monkeypatch.setenv("MUSER_HOME", str(tmp_path / device))
        model = open_index_model(tiny_checkpoint, device, "fp32", "auto" if device == "cuda" else "torch")
        lib = Library.open("default", create=True)
        with lib.writer_lock():
            summary = index_library(lib, [tmp_path / "music"], model, ScanOptions(workers=2))
        assert (summary.engine, summary.failed) == ("torch", 0)
        ids, vecs = lib.catalogue.vectors(model.content_hash)
        paths = [lib.catalogue.db.execute("SELECT path FROM tracks WHERE id=?", (int(i),)).fetchone()[0]
                 for i in ids]
        vectors[device] = dict(zip(paths, vecs))
        lib.close()
    assert vectors["cpu"].keys() == vectors["cuda"].keys() and vectors["cpu"]
    assert max(float(abs(vectors["cpu"][p] - vectors["cuda"][p]).max()) for p in vectors["cpu"]) < 1e-3


def test_one_epoch_of_training_on_cuda(tmp_path, monkeypatch):
    from muser_model.core.checkpoint import load_checkpoint
    from tests.training.test_train import _corpus
    from muser_train.training.trainer import TrainConfig, train

    monkeypatch.setenv("MUSER_HOME", str(tmp_path / "home"))
    logs = []
    out = tmp_path / "gpu.muser"
    cfg = TrainConfig(data="folder", data_dir=str(_corpus(tmp_path / "corpus")), out=str(out), model="tiny",
                      epochs=1, batch_size=4, clip_s=4.0, warmup_steps=1, device="cuda")
    assert train(cfg, log=logs.append).steps >= 1
    assert any("cuda" in line for line in logs)
    weights = load_checkpoint(out).state_dict
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())
    assert load_model(out, "cpu").device.type == "cpu"  # a GPU-trained checkpoint loads anywhere
