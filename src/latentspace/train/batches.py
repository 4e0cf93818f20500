"""Batches by index from in-memory tensors.

The batch at a given step is a pure function of ``(seed, step)``: epoch ``e`` uses the
permutation ``randperm(n)`` drawn from a generator seeded with ``(seed, e)``. So resuming
at step ``k`` needs no iterator state, and under DDP each rank takes its own slice of the
same global batch (``global_batch[rank::world]``), like ``DistributedSampler``.
"""

from __future__ import annotations

import torch

from latentspace.errors import UserError


class IndexBatches:
    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        if batch_size < 1:
            raise UserError(f"batch size must be at least 1, got {batch_size}")
        if batch_size % world:
            raise UserError(f"batch size {batch_size} is not divisible by the {world} processes; "
                            f"use a multiple of {world}")
        # A dataset smaller than one batch trains on all of it each step.
        self.batch_size = min(batch_size, n - n % world) if n >= world else n
        if self.batch_size < world:
            raise UserError(f"{n} items cannot be shared among {world} processes; use fewer processes")
        self.n, self.seed, self.rank, self.world = n, seed, rank, world
        self.per_epoch = n // self.batch_size
        self._epoch, self._perm = None, None

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.n, generator=g)
        return self._perm

    def indices(self, step: int) -> torch.Tensor:
        """This rank's item indices for training step ``step`` (0-based)."""
        epoch, i = divmod(step, self.per_epoch)
        perm = self._permutation(epoch)
        return perm[i * self.batch_size:(i + 1) * self.batch_size][self.rank::self.world]

    def epoch_of(self, step: int) -> int:
        return step // self.per_epoch
