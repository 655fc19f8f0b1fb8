"""torchrun / DDP helpers: process-group setup from the environment, rank checks."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "init_distributed", "all_reduce_mean"]


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group that ``torchrun`` describes (WORLD_SIZE > 1); NCCL on CUDA, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    if device_type == "cuda":
        torch.cuda.set_device(info.local_rank)
    return info


def all_reduce_mean(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    if not info.enabled or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64)
    dist.all_reduce(t)
    return {k: float(v) / info.world_size for k, v in zip(keys, t)}


def check_replicas_in_sync(module: torch.nn.Module, info: DistInfo) -> None:
    """Raise if this rank's parameters differ from the other ranks' (a desync bug); then
    give every rank rank 0's buffers (BatchNorm statistics drift per rank between the
    broadcasts DDP does at each forward)."""
    if not info.enabled:
        return
    with torch.no_grad():
        local = torch.stack([p.detach().double().sum() for p in module.parameters()]).cpu()
        for b in module.buffers():
            dist.broadcast(b, 0)
    gathered = [torch.zeros_like(local) for _ in range(info.world_size)]
    dist.all_gather(gathered, local)
    for r, other in enumerate(gathered):
        if not torch.equal(other, gathered[0]):
            raise RuntimeError(f"DDP replicas out of sync: rank {r} differs from rank 0")


def cleanup_distributed(info: DistInfo) -> None:
    """Leave together: a rank tearing gloo down while rank 0 still writes its last
    checkpoint aborts the job ("terminate called without an active exception")."""
    if info.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
