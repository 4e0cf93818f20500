"""Training steps/s and sampling samples/s for ``gan`` on ``grid25`` and ``vae`` on ``mnist``.

Usage::

    python benchmarks/speed.py [--mnist-dir ../shared/data/mnist] [--steps 300] [--device cpu]

Prints one line per model with the figures; the numbers in the README come from this script.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

import latentspace as ls
from latentspace.train import pick_device

DEFAULT_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def train_speed(model, data, steps: int, batch_size: int, device) -> float:
    """Steps per second, after a short warm-up, through the real engine (no run folder)."""
    model.fit(data, steps=10, batch_size=batch_size, progress=False, device=device)
    t0 = time.perf_counter()
    model.fit(data, steps=steps, batch_size=batch_size, progress=False, device=device)
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - t0)


def sample_speed(model, n: int) -> float:
    model.sample(min(n, 256), seed=0)
    t0 = time.perf_counter()
    model.sample(n, seed=0)
    return n / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mnist-dir", default=str(DEFAULT_MNIST))
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--device", default=None)
    args = p.parse_args()
    device = str(pick_device(args.device))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()},"
          f" device {device}")

    cases = [("gan", ls.data.load("grid25"), 256)]
    if Path(args.mnist_dir).is_dir():
        cases.append(("vae", ls.data.load("mnist", data_dir=args.mnist_dir), 128))
    else:
        print(f"(mnist not found at {args.mnist_dir}: skipping vae on mnist)")
    for name, data, batch in cases:
        model = ls.models.create(name)
        steps_s = train_speed(model, data, args.steps, batch, device)
        samples_s = sample_speed(model, 10_000)
        print(f"{name:>4} on {data.name:<7} batch {batch:>3}: {steps_s:8.1f} train steps/s "
              f"({steps_s * batch:9.0f} items/s), {samples_s:10.0f} samples/s")


if __name__ == "__main__":
    main()
