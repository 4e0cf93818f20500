"""Two trainings at once on one machine: each one's speed against one training alone.

Runs ``latentspace train MODEL`` (as a user would, through the command line) for a fixed number of
steps: once alone, then twice at the same time, and prints the steps/s of each, and the ratio. The
ratio is what a second job on the same cores costs (the target: each at least 40% of one alone).

Usage::

    python benchmarks/side_by_side.py [--model vae] [--steps 300] [--threads N] [--wait-policy ACTIVE]

``--wait-policy ACTIVE`` shows the cost of OpenMP's spinning idle threads, whose spin latentspace
shortens by default (``latentspace.threads``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def command(args, out: Path) -> list[str]:
    cmd = [sys.executable, "-m", "latentspace.cli", "train", args.model, "--data", "mnist", "--data-dir",
           args.data_dir, "--steps", str(args.steps), "--batch-size", "128", "--out", str(out), "--no-progress",
           "--checkpoint-every", str(10 * args.steps)]
    return cmd + (["--threads", str(args.threads)] if args.threads else [])


def run(args, n: int, folder: Path) -> list[float]:
    """Start ``n`` trainings at once; the steps/s of each (from its metrics.csv: training time only)."""
    env = dict(os.environ)
    if args.wait_policy:
        env["OMP_WAIT_POLICY"] = args.wait_policy
    outs = [folder / f"run-{n}-{i}" for i in range(n)]
    procs = [subprocess.Popen(command(args, o), env=env, stderr=subprocess.DEVNULL) for o in outs]
    for p in procs:
        if p.wait():
            raise SystemExit(f"a training failed (exit {p.returncode})")
    speeds = []
    for o in outs:
        last = (o / "metrics.csv").read_text().splitlines()[-1].split(",")
        speeds.append(int(last[0]) / float(last[1]))
    return speeds


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="vae")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--data-dir", default=str(DEFAULT_MNIST))
    p.add_argument("--threads", type=int)
    p.add_argument("--wait-policy", choices=["ACTIVE", "PASSIVE"])
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        alone, = run(args, 1, Path(tmp))
        pair = run(args, 2, Path(tmp))
    print(f"{args.model}, {args.steps} steps, batch 128, threads {args.threads or 'default'}, "
          f"OMP_WAIT_POLICY {args.wait_policy or os.environ.get('OMP_WAIT_POLICY') or 'latentspace default'}")
    print(f"alone: {alone:.2f} steps/s; side by side: {pair[0]:.2f} and {pair[1]:.2f} steps/s "
          f"({100 * min(pair) / alone:.0f}% and {100 * max(pair) / alone:.0f}% of alone); "
          f"{time.perf_counter() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
