"""Data-parallel training on CPU with gloo and two processes."""
import os
import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F

from muser_model.core.checkpoint import load_checkpoint
from muser_model.torch_engine.loss import symmetric_infonce
from tests.training.test_train import _corpus


def _data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 6, generator=g), torch.randn(8, 6, generator=g)


def _model():
    torch.manual_seed(0)
    return torch.nn.Linear(6, 4)


def _contrastive(model, xa, xb, gather):
    za, zb = F.normalize(model(xa), dim=-1), F.normalize(model(xb), dim=-1)
    return symmetric_infonce(gather(za), gather(zb), 10.0)


def _worker(rank: int, rendezvous: str, out: str) -> None:
    from torch.nn.parallel import DistributedDataParallel

    from muser_train.training import distributed

    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank))
    env = distributed.setup(torch.device("cpu"), init_method=rendezvous)
    xa, xb = _data()
    model = _model()
    ddp = DistributedDataParallel(model)
    share = slice(4 * rank, 4 * rank + 4)  # this rank's half of the global batch of 8
    za, zb = F.normalize(ddp(xa[share]), dim=-1), F.normalize(ddp(xb[share]), dim=-1)
    loss = symmetric_infonce(env.gather(za), env.gather(zb), 10.0)
    loss.backward()
    if rank == 0:
        torch.save({"loss": loss.detach(), "grad": model.weight.grad.clone()}, out)
    env.close()


@pytest.mark.slow
def test_gathered_loss_gives_the_single_process_gradient(tmp_path):
    out = tmp_path / "rank0.pt"
    # a rendezvous file rather than a port: a port picked free can be taken before rank 0 binds it
    mp.spawn(_worker, args=((tmp_path / "rendezvous").as_uri(), str(out)), nprocs=2, join=True)
    got = torch.load(out)
    model = _model()
    xa, xb = _data()
    loss = _contrastive(model, xa, xb, lambda z: z)
    loss.backward()
    assert torch.allclose(got["loss"], loss.detach(), atol=1e-6)
    assert torch.allclose(got["grad"], model.weight.grad, atol=1e-6)
    # without the gather each rank would see only 4 negatives: a different (wrong) loss
    local = _contrastive(_model(), xa[:4], xb[:4], lambda z: z)
    assert not torch.allclose(local.detach(), loss.detach(), atol=1e-3)


@pytest.mark.slow
def test_torchrun_two_processes_end_to_end(tmp_path):
    corpus = _corpus(tmp_path / "corpus", per_genre=4)
    out = tmp_path / "ddp.muser"
    # --standalone: the rendezvous port is bound by the OS, not guessed
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "muser_cli.main", "train", "--data", "folder", "--data-dir", str(corpus), "--out", str(out),
           "--model", "tiny", "--epochs", "1", "--batch-size", "2", "--clip-seconds", "4", "--device", "cpu"]
    env = {**os.environ, "MUSER_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    ckpt = load_checkpoint(out)
    assert ckpt.training["world_size"] == 2 and ckpt.training["batch_size"] == 4
    assert ckpt.training["steps"] == 9 // 4
    assert done.stderr.count("training clips") == 1  # only rank 0 talks

