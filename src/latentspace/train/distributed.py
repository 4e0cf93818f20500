"""DistributedDataParallel under ``torchrun``: process-group set-up and small collectives.

``torchrun --nproc_per_node N -m latentspace.cli train ...`` sets ``RANK``, ``WORLD_SIZE``
and ``LOCAL_RANK``; we initialise the process group from them (NCCL on CUDA, gloo on CPU).
Only rank 0 writes files; every rank sees a disjoint shard of each global batch.

A process that dies or stops answering must not leave the others waiting for ever: every
collective gives up after ``LATENTSPACE_DIST_TIMEOUT`` seconds (default 300), and a failed
collective ends training with :class:`DistributedFailure`, a one-line message saying which
checkpoint is kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from latentspace.errors import UserError

#: environment variable: seconds a collective waits for the other processes before giving up
TIMEOUT_ENV = "LATENTSPACE_DIST_TIMEOUT"
DEFAULT_TIMEOUT = 300.0


class DistributedFailure(RuntimeError):
    """Another training process died or stopped answering; the message says what is kept."""


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


def timeout_seconds() -> float:
    """Seconds a collective waits for the other processes (``LATENTSPACE_DIST_TIMEOUT``, default 300)."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise UserError(f"{TIMEOUT_ENV} must be a positive number of seconds, got {raw!r}; e.g. "
                        f"{TIMEOUT_ENV}=300")
    return value


def init_distributed(device: torch.device | None = None) -> DistEnv:
    """Join the process group when launched by torchrun (``WORLD_SIZE`` > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistEnv()
    env = DistEnv(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        timeout = timedelta(seconds=timeout_seconds())
        cuda = torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda")
        if cuda:
            torch.cuda.set_device(env.local_rank)
        dist.init_process_group(backend="nccl" if cuda else "gloo", timeout=timeout)
    return env


#: words in the messages of failed collectives (gloo's and NCCL's own errors are plain RuntimeErrors)
_COMMUNICATION = ("gloo", "nccl", "c10d", "timed out", "connection reset", "connection closed", "broken pipe")


def is_communication_error(error: BaseException) -> bool:
    """Whether ``error`` is a failed collective (a process died or did not answer in time)."""
    if isinstance(error, dist.DistError):  # torch >= 2.1; gloo's transport errors are plain RuntimeErrors
        return True
    text = str(error).lower()
    return any(word in text for word in _COMMUNICATION)


def lost_peer(env: DistEnv, last_checkpoint: int | None) -> DistributedFailure:
    """The error that ends this process's training after a failed collective; the process group is
    torn down first (it cannot be used again, and a live group can abort the interpreter at exit)."""
    import gc

    try:
        dist.destroy_process_group()
    except Exception:  # noqa: BLE001 - the group is broken already; exiting cleanly is what matters
        pass
    gc.collect()
    kept = (f"the last checkpoint (step {last_checkpoint}) is kept in the run folder, continue with --resume"
            if last_checkpoint is not None else "no checkpoint was written")
    return DistributedFailure(
        f"process {env.rank} of {env.world} stopped training: another process died or did not answer within "
        f"{timeout_seconds():g} s ({TIMEOUT_ENV}); {kept}")


def barrier(env: DistEnv) -> None:
    if env.enabled:
        dist.barrier()


def agree(env: DistEnv, values: list[float], device) -> list[float]:
    """Each value's largest over the ranks, on every rank (a flag raised anywhere; the slowest rank's
    clock): one all-reduce. Values are floats (flags as 0/1; float64, so seconds keep their precision)."""
    if not env.enabled:
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


def any_rank(env: DistEnv, flags: list[bool], device) -> list[bool]:
    """Each flag true on every rank if it is true on any rank (a NaN, a Ctrl-C): one all-reduce."""
    return [v > 0 for v in agree(env, [1.0 if f else 0.0 for f in flags], device)]


def gather_tensor(env: DistEnv, t: torch.Tensor, device) -> list[torch.Tensor]:
    """All ranks' copies of a same-shaped tensor, in rank order (on CPU)."""
    if not env.enabled:
        return [t.cpu()]
    src = t.to(device)
    out = [torch.empty_like(src) for _ in range(env.world)]
    dist.all_gather(out, src)
    return [o.cpu() for o in out]
