"""How much of the machine's fp32 matmul peak a training step reaches.

Measures the best fp32 matrix-product rate of this machine (square ``torch.mm`` of a few sizes),
counts the floating-point operations of one training step with ``torch.utils.flop_counter`` (forward
and backward of every network the step runs; a multiply-add counts as 2), times the steps through
the real engine, and prints the step's rate as a fraction of the peak.

Usage::

    python benchmarks/peak.py [--model dcgan] [--mnist-dir ../shared/data/mnist] [--steps 200]

Measure on an idle machine. The last line is a JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

import latentspace as ls
from latentspace.threads import set_threads
from latentspace.train.engine import Batch

DEFAULT_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def matmul_peak(sizes=(1024, 2048, 3072), seconds: float = 2.0) -> float:
    """The best fp32 ``torch.mm`` rate over ``sizes``, in GFLOP/s (2 n^3 operations a product)."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.mm(a, b)
        reps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / len(sizes):
            torch.mm(a, b)
            reps += 1
        best = max(best, 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9)
    return best


def step_flops(model, data, batch_size: int) -> float:
    """Floating-point operations of one ``train_step`` on a batch of the training items."""
    x = data.x[:batch_size]
    if model.info_.spec.spatial_dims == 2:
        x = x.contiguous(memory_format=torch.channels_last)
    y = data.y[:batch_size] if data.y is not None else None
    counter = FlopCounterMode(display=False)
    with counter:
        model.train_step(Batch(x=x, y=y, step=10, steps=1000, epoch=0), 10)
    return float(counter.get_total_flops())


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="dcgan")
    p.add_argument("--mnist-dir", default=str(DEFAULT_MNIST))
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--threads", type=int)
    args = p.parse_args(argv)
    threads = set_threads(args.threads)
    data = ls.data.load("mnist", data_dir=args.mnist_dir)
    model = ls.models.create(args.model).fit(data, steps=5, progress=False)   # built at the CPU defaults
    batch = model._default_batch_size(data)
    flops = step_flops(model, data, batch)
    t0 = time.perf_counter()
    model.fit(data, steps=args.steps, progress=False)
    steps_per_s = args.steps / (time.perf_counter() - t0)
    peak = matmul_peak()
    achieved = flops * steps_per_s / 1e9
    out = {"model": args.model, "threads": threads, "batch_size": batch, "gflop_per_step": round(flops / 1e9, 3),
           "steps_per_s": round(steps_per_s, 2), "items_per_s": round(steps_per_s * batch),
           "achieved_gflops": round(achieved, 1), "matmul_peak_gflops": round(peak, 1),
           "fraction_of_peak": round(achieved / peak, 3)}
    print(f"torch {torch.__version__}, {threads} threads, {platform.machine()}: {args.model} at batch {batch}, "
          f"{out['gflop_per_step']} GFLOP a step, {out['steps_per_s']} steps/s = {out['achieved_gflops']} GFLOP/s; "
          f"fp32 matmul peak {out['matmul_peak_gflops']} GFLOP/s: {100 * out['fraction_of_peak']:.0f}%")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
