"""How many CPU threads torch computes with, and how its idle threads wait.

- **Threads**: the cores this process may run on (``os.sched_getaffinity``, which follows
  ``taskset``, Slurm's CPU sets and container CPU sets), shared among the processes that
  ``torchrun`` starts on the machine (``LOCAL_WORLD_SIZE``). ``--threads N`` on every command
  that computes, or :func:`set_threads`, chooses another number.
- **Waiting**: torch's CPU build runs its threads under OpenMP, whose idle threads spin by default,
  burning the cores another process needs. latentspace asks them to sleep instead
  (``OMP_WAIT_POLICY=PASSIVE``) unless the environment already says how they should wait; this
  takes effect only when latentspace is imported before torch (the command line always is).

Measured on 2 cores (a conv VAE on MNIST, batch 128, steps/s; ``OMP_WAIT_POLICY`` as given):

=================================  ==========  ===========
                                   spinning    sleeping
=================================  ==========  ===========
one training, 2 threads            13.9        12.8
two side by side, 2 threads each   2.8 each    6.6 each
two side by side, 1 thread each    7.7 each    --
=================================  ==========  ===========

A DCGAN step runs at the same speed either way (2.43 vs 2.50 steps/s). So several trainings on
one machine each get about half its speed, not a fifth; giving each ``--threads`` = cores /
trainings is better still.
"""

from __future__ import annotations

import os
import sys

from latentspace.errors import UserError

WAIT_ENV = "OMP_WAIT_POLICY"


def prefer_sleeping_threads() -> None:
    """Ask OpenMP's idle threads to sleep (``OMP_WAIT_POLICY=PASSIVE``) unless the environment says
    otherwise; only before torch is imported (OpenMP reads the setting when it starts)."""
    if "torch" not in sys.modules:
        os.environ.setdefault(WAIT_ENV, "PASSIVE")


def available_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):   # not Linux
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """The available cores, shared among the local processes under ``torchrun``."""
    try:
        local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        local = 1
    return max(1, available_cores() // local)


def set_threads(n: int | None = None) -> int:
    """Compute with ``n`` threads (default: ``OMP_NUM_THREADS`` when set, else :func:`default_threads`);
    returns the number in use."""
    import torch

    if n is None:
        if os.environ.get("OMP_NUM_THREADS"):   # said by the user, or by torchrun for each process
            return torch.get_num_threads()
        n = default_threads()
    elif isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UserError(f"--threads must be a positive integer, got {n!r}; leave it out to use the "
                        f"{available_cores()} available cores")
    torch.set_num_threads(n)
    return n
