"""Test bits/dim of the image flow on MNIST against training CPU time.

Trains ``flow`` (the multiscale RealNVP/Glow-style flow; dequantisation as the model's default, the
variational one on 8-bit digits) for a budget of *process CPU time* (evaluation excluded) and, every
``--every`` CPU-minutes, scores the test digits (all, or the first ``--items``) with ``score_samples``
(the dequantisation lower bound on the log-probability
of the 8-bit digits, one draw of the noise from a fixed seed), printed as bits/dim. The learning
rate follows a cosine over the CPU budget. Published anchors after GPU training: RealNVP 1.06,
Glow 1.05 bits/dim.

Usage::

    python benchmarks/flow_mnist_bpd.py --data-dir ../shared/data/mnist [--minutes 30] [--every 5]
    python benchmarks/flow_mnist_bpd.py --minutes 1 --every 0.5 --items 200     # a quick try
    python benchmarks/flow_mnist_bpd.py --set depth=8 --set width=32             # another size

Prints a table (cpu_minutes, wall_minutes, steps, epochs, train bits/dim, test bits/dim), writes
``OUT/bpd_curve.json`` after every evaluation (``--out``, default ``runs/flow-mnist-bpd``), and ends
with one JSON line: ``test_bits_per_dim``, ``cpu_minutes``, ``steps`` and the settings; ``--save`` also
saves the final model to ``OUT/model``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch

import latentspace as ls
from latentspace.cli_data import parse_pairs
from latentspace.models.flow import CPU_RECIPES
from latentspace.storage import atomic_write_json
from latentspace.train import pick_device
from latentspace.train.batches import IndexBatches
from latentspace.train.engine import Batch

DEFAULT_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def test_bpd(model, x) -> float:
    ll = model.score_samples(x, k=1, seed=0).double()
    return -float(ll.mean()) / (x[0].numel() * math.log(2))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=str(DEFAULT_MNIST))
    p.add_argument("--minutes", type=float, default=30.0, help="training CPU-minutes (default 30)")
    p.add_argument("--every", type=float, default=5.0, help="CPU-minutes between evaluations")
    p.add_argument("--items", type=int, default=0,
                   help="first N test digits scored (default 0: all 10,000; the first 2,000 score about 0.036 "
                        "bits/dim lower than the whole set)")
    p.add_argument("--batch-size", type=int, default=CPU_RECIPES["image"]["batch_size"])
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="model parameter, e.g. --set width=64")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="runs/flow-mnist-bpd")
    p.add_argument("--save", action="store_true", help="save the final model to OUT/model")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    sizes = {k: CPU_RECIPES["image"][k] for k in ("depth", "width", "lr")}
    params = {**sizes, **parse_pairs(args.set, "--set")}
    data = ls.data.load("mnist", data_dir=args.data_dir)
    torch.manual_seed(args.seed)
    model = ls.models.create("flow", **params)
    model._resolve(data)
    model.build(data.info, device)
    (opt,) = model.configure_optimizers().values()
    base_lr = opt.param_groups[0]["lr"]
    test_x = data.test.to_data(data.test.x[:args.items or None])
    x_all = data.x.to(device)
    batches = IndexBatches(len(data), args.batch_size, args.seed)
    budget = args.minutes * 60
    points = [min(budget, args.every * 60 * i) for i in range(1, math.ceil(args.minutes / args.every) + 1)]
    print(f"flow {model.get_params()} batch {args.batch_size}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), device {device}, load {os.getloadavg()[0]:.2f}", flush=True)
    print(f"{'cpu_min':>8} {'wall_min':>8} {'steps':>7} {'epochs':>6} {'train_bpd':>9} {'test_bpd':>8}", flush=True)
    rows, cpu, wall, step, recent = [], 0.0, 0.0, 0, []
    model.set_train(True)
    for point in points:
        while cpu < point:
            c0, w0 = time.process_time(), time.perf_counter()
            for group in opt.param_groups:
                group["lr"] = base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, cpu / budget)))
            idx = batches.indices(step).to(device)
            logs = model.train_step(Batch(x_all[idx], None, step, 0, batches.epoch_of(step)), step)
            cpu += time.process_time() - c0
            wall += time.perf_counter() - w0
            step += 1
            if not math.isfinite(logs["loss"]):
                raise SystemExit(f"the loss became NaN/inf at step {step}; lower the learning rate")
            recent = (recent + [logs["bits_per_dim"]])[-200:]
        bpd = test_bpd(model, test_x)
        model.set_train(True)
        row = {"cpu_minutes": round(cpu / 60, 2), "wall_minutes": round(wall / 60, 2), "steps": step,
               "epochs": round(step * args.batch_size / len(data), 2), "train_bpd": round(sum(recent) / len(recent), 4),
               "test_bpd": round(bpd, 4), "load": round(os.getloadavg()[0], 2)}
        rows.append(row)
        print(f"{row['cpu_minutes']:8.2f} {row['wall_minutes']:8.2f} {step:7d} {row['epochs']:6.2f} "
              f"{row['train_bpd']:9.4f} {row['test_bpd']:8.4f}", flush=True)
        atomic_write_json(out / "bpd_curve.json", {"params": model.get_params(), "batch_size": args.batch_size,
                                                   "test_items": len(test_x), "threads": args.threads,
                                                   "curve": rows})
    model.set_train(False)
    if args.save:
        model.sized_for_ = "cpu"
        model.save(out / "model")
    last = rows[-1]
    print(json.dumps({"test_bits_per_dim": last["test_bpd"], "cpu_minutes": last["cpu_minutes"],
                      "steps": last["steps"], "wall_minutes": last["wall_minutes"], "batch_size": args.batch_size,
                      "test_items": len(test_x), **{k: model.get_params()[k] for k in ("depth", "width")}}))


if __name__ == "__main__":
    main()
