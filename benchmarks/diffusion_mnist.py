"""Sample quality of the ODE/SDE families on MNIST within a CPU-time budget.

Trains ``flow-matching`` (default) or ``ddpm`` on the 60,000 MNIST training digits for at most
``--cpu-minutes`` of process CPU time on ``--threads`` threads (default 1, so CPU time is the wall time
of one core), then draws ``--n`` samples (default 10,000) and scores them with
:func:`latentspace.metrics.evaluate` against MNIST: the Fréchet distance in the domain classifier's
features (our best unconditional GAN run: 0.58; the conditional GAN, ``cgan``: 0.26; held-out real
digits: 0.086) and the classifier's class shares (each of the 10 digits should take 5-15%).
``--set conditional=true`` trains a class-conditional model, sampled with classifier-free guidance and
the classes in turn (2026-12-05: 3,900 steps, 14.1 CPU-minutes, FD 0.29).

The training length is a step count, chosen before training from the CPU time of a few timed steps
(``--steps`` sets it instead), so that the run is reproducible and its CPU time stays within the budget;
``fit(time=...)`` would stop on the wall clock, which a shared machine stretches.

Usage::

    python benchmarks/diffusion_mnist.py --data-dir ../shared/data/mnist [--model flow-matching|ddpm]
        [--cpu-minutes 15] [--set width=32 --set patch=2 ...] [--n 10000] [--out runs/fm-mnist]

Prints the settings, training and sampling times, the scores, and as its last line one JSON object
with ``fd``, ``class_min``, ``class_max``, ``classes``, ``train_cpu_minutes``, ``steps``,
``sample_seconds`` and ``samples_per_second`` (and more).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

import latentspace as ls
from latentspace.cli_data import parse_pairs

DEFAULT_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
#: the GAN's best FD on MNIST in our domain features (docs/gan-family.md), and held-out real digits'
GAN_FD, FLOOR_FD = 0.58, 0.086
#: steps timed to choose the run's length, and the share of the budget they may plan for
CALIBRATION_STEPS, BUDGET_SHARE = 8, 0.93


def cpu_seconds_per_step(name: str, params: dict, data, batch_size: int) -> float:
    """Process CPU seconds of one training step: runs of 2 and 2 + ``CALIBRATION_STEPS`` steps (after
    one run that pays the one-time costs), their difference over the extra steps."""
    def run(steps: int) -> float:
        c0 = time.process_time()
        ls.models.create(name, **params).fit(data, steps=steps, batch_size=batch_size, progress=False)
        return time.process_time() - c0

    run(2)
    short = run(2)
    return max(run(2 + CALIBRATION_STEPS) - short, 1e-3) / CALIBRATION_STEPS


def class_shares(results: dict) -> list[float]:
    hist = results["details"]["class_histogram"]
    counts = list(hist.values()) if isinstance(hist, dict) else list(hist)
    total = float(sum(counts))
    return [c / total for c in counts]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=str(DEFAULT_MNIST))
    p.add_argument("--model", default="flow-matching", choices=("flow-matching", "ddpm"))
    p.add_argument("--cpu-minutes", type=float, default=15.0)
    p.add_argument("--steps", type=int, help="training steps (default: as many as the CPU budget allows)")
    p.add_argument("--batch-size", type=int, help="default: the model's CPU-sized batch")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a model parameter (repeatable)")
    p.add_argument("--n", type=int, default=10000, help="samples to draw and score")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", help="run folder (config, metrics.csv, checkpoints, the model)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    params = parse_pairs(args.set, "--set")
    data = ls.data.load("mnist", data_dir=args.data_dir)
    probe = ls.models.create(args.model, **params)
    probe.sized_for_ = probe._sized_for(None)  # the defaults fit sizes for this machine
    batch = args.batch_size or probe._default_batch_size(data)
    steps = args.steps
    per_step = None
    if steps is None:
        per_step = cpu_seconds_per_step(args.model, params, data, batch)
        steps = max(1, int(BUDGET_SHARE * args.cpu_minutes * 60 / per_step))
    print(f"{args.model} on MNIST: {params or 'defaults'}, batch {batch}, {steps:,} steps"
          + (f" ({per_step:.3f} CPU s a step measured)" if per_step else "")
          + f"; {args.threads} thread(s), {platform.processor() or platform.machine()}, load {os.getloadavg()}",
          flush=True)

    model = ls.models.create(args.model, **params)
    c0, w0 = time.process_time(), time.perf_counter()
    model.fit(data, steps=steps, batch_size=batch, seed=args.seed, out=args.out, overwrite=bool(args.out),
              progress=False)
    train_cpu, train_wall = time.process_time() - c0, time.perf_counter() - w0
    print(f"trained {steps:,} steps: {train_cpu / 60:.2f} CPU-minutes, {train_wall / 60:.2f} minutes wall; "
          f"resolved {model.resolved_params()}", flush=True)

    c0, w0 = time.process_time(), time.perf_counter()
    x = model.sample(args.n, seed=args.seed)
    sample_cpu, sample_wall = time.process_time() - c0, time.perf_counter() - w0
    print(f"sampled {args.n:,} items: {sample_cpu:.1f} CPU s, {sample_wall:.1f} s wall "
          f"({args.n / sample_cpu:.1f} samples per CPU second)", flush=True)

    res = ls.metrics.evaluate(x, data, seed=args.seed)
    shares = class_shares(res)
    s, f = res["scores"], res["floor"]
    print(f"FD {s['fd']:.4f} (floor {f['fd']:.4f}; GAN {GAN_FD}), precision {s['precision']:.3f}, "
          f"recall {s['recall']:.3f}, coverage {s['coverage']:.3f}, classes {sum(v > 0 for v in shares)}/10 "
          f"at {100 * min(shares):.1f}%-{100 * max(shares):.1f}%", flush=True)
    out = {"model": args.model, "params": params, "batch_size": batch, "steps": steps,
           "train_cpu_minutes": round(train_cpu / 60, 3), "train_wall_minutes": round(train_wall / 60, 3),
           "fd": s["fd"], "fd_floor": f["fd"], "precision": s["precision"], "recall": s["recall"],
           "class_min": min(shares), "class_max": max(shares), "classes": int(sum(v > 0 for v in shares)),
           "sample_seconds": round(sample_cpu, 1), "sample_wall_seconds": round(sample_wall, 1),
           "samples_per_second": round(args.n / sample_cpu, 2), "threads": args.threads,
           "load": os.getloadavg()}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
