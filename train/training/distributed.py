"""Data-parallel training across processes started by `torchrun` (DDP).

`torchrun --nproc_per_node=N -m muser_cli.main train ...` sets RANK / WORLD_SIZE / LOCAL_RANK;
without them training runs in one process. NCCL on CUDA, gloo on CPU. Embeddings are gathered
from every rank with gradients before the contrastive loss, so each step sees the global batch's
negatives and the summed gradient equals single-process training on that global batch.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        """(B, ...) on each rank -> (world * B, ...) in rank order, differentiable."""
        if not self.enabled:
            return x
        from torch.distributed.nn.functional import all_gather

        return torch.cat(all_gather(x))

    def mean(self, value: float) -> float:
        """A Python number averaged over ranks (for logging)."""
        if not self.enabled:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return float(t) / self.world_size

    def close(self) -> None:
        """Leave the process group once every rank is done with it: without the barrier a rank
        that finishes first tears down its connections while a peer may still be inside the last
        collective, and the peer's gloo thread aborts."""
        if self.enabled and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def setup(device: torch.device, init_method: str | None = None) -> DistEnv:
    """Join the process group when launched by torchrun; otherwise a one-process environment.

    `init_method`: how the ranks find each other (torch's default, env://, reads MASTER_ADDR and
    MASTER_PORT); a file:// path needs no port, so tests cannot collide on one.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistEnv(device=device)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method=init_method,
                                rank=rank, world_size=world)
    return DistEnv(rank, world, local, device)
