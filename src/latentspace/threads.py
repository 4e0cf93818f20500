"""How many CPU threads torch computes with, and how its idle threads wait.

- **Threads**: the cores this process may run on (``os.sched_getaffinity``, which follows
  ``taskset``, Slurm's CPU sets and container CPU sets), shared among the processes that
  ``torchrun`` starts on the machine (``LOCAL_WORLD_SIZE``). ``--threads N`` on every command
  that computes, or :func:`set_threads`, chooses another number.
- **Waiting**: torch's CPU build runs its threads under OpenMP (GNU libgomp on Linux), whose idle
  threads spin for a long while (300,000 rounds) before they sleep, burning the cores another
  process needs. latentspace shortens the spin to 2,000 rounds (``GOMP_SPINCOUNT=2000``) unless the
  environment already says how threads should wait (``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``);
  this takes effect only when latentspace is imported before torch (the command line always is).

Measured on 2 cores (a conv VAE on MNIST, batch 128, steps/s, two runs each;
``benchmarks/side_by_side.py`` for the pairs):

==========================================  ===========  ===========  ========
idle threads                                one alone    two at once  of alone
==========================================  ===========  ===========  ========
spin long (libgomp's default)               13.1, 14.2   2.4, 2.3     16-17%
spin 2,000 rounds (ours)                    14.1, 14.0   6.1, 6.1     44%
sleep at once (``OMP_WAIT_POLICY=PASSIVE``)  12.7, 13.1   6.7, 6.7     51%
one thread each, spin long                  7.9          7.7, 7.7     55%
==========================================  ===========  ===========  ========

So a training alone keeps its speed, and several trainings on one machine each get about half of
it rather than a sixth; giving each ``--threads`` = cores / trainings is better still.
"""

from __future__ import annotations

import os
import sys

from latentspace.errors import UserError

WAIT_ENV = "OMP_WAIT_POLICY"
SPIN_ENV = "GOMP_SPINCOUNT"
#: rounds an idle OpenMP thread spins before it sleeps (libgomp's default: 300,000)
SPIN_ROUNDS = "2000"


def prefer_sleeping_threads() -> None:
    """Let OpenMP's idle threads sleep soon (``GOMP_SPINCOUNT=2000``) unless the environment says how they
    should wait; only before torch is imported (OpenMP reads the setting when it starts)."""
    if "torch" not in sys.modules and WAIT_ENV not in os.environ and SPIN_ENV not in os.environ:
        os.environ[SPIN_ENV] = SPIN_ROUNDS


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
