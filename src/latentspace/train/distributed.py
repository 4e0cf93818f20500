"""DistributedDataParallel under ``torchrun``: process-group set-up and small collectives.

``torchrun --nproc_per_node N -m latentspace.cli train ...`` sets ``RANK``, ``WORLD_SIZE``
and ``LOCAL_RANK``; we initialise the process group from them (NCCL on CUDA, gloo on CPU).
Only rank 0 writes files; every rank sees a disjoint shard of each global batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    # -- collectives for models (no-ops in one process) -----------------------------------------
    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` summed over all processes, in place; returned."""
        if self.enabled:
            dist.all_reduce(t)
        return t

    def all_reduce_mean(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` averaged over all processes (a new tensor when distributed)."""
        return self.all_reduce_sum(t) / self.world if self.enabled else t

    def broadcast(self, t: torch.Tensor, src: int = 0) -> torch.Tensor:
        """``t`` replaced, in place, by rank ``src``'s copy; returned."""
        if self.enabled:
            dist.broadcast(t, src)
        return t


def init_distributed(device: torch.device | None = None) -> DistEnv:
    """Join the process group when launched by torchrun (``WORLD_SIZE`` > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistEnv()
    env = DistEnv(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        cuda = torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda")
        if cuda:
            torch.cuda.set_device(env.local_rank)
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return env


def barrier(env: DistEnv) -> None:
    if env.enabled:
        dist.barrier()


def any_rank(env: DistEnv, flags: list[bool], device) -> list[bool]:
    """Each flag true on every rank if it is true on any rank (a NaN, a Ctrl-C): one all-reduce."""
    if not env.enabled:
        return list(flags)
    t = torch.tensor([1.0 if f else 0.0 for f in flags], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v > 0) for v in t.tolist()]


def gather_tensor(env: DistEnv, t: torch.Tensor, device) -> list[torch.Tensor]:
    """All ranks' copies of a same-shaped tensor, in rank order (on CPU)."""
    if not env.enabled:
        return [t.cpu()]
    src = t.to(device)
    out = [torch.empty_like(src) for _ in range(env.world)]
    dist.all_gather(out, src)
    return [o.cpu() for o in out]
