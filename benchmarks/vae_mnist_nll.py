"""Test NLL of the VAE family on dynamically binarised MNIST against training time.

Trains one flavour for a time budget and, at several points of *training* time (evaluation
excluded), estimates the test negative log-likelihood with ``score_samples`` (importance
sampling, k = 1000 by default) on the first ``--items`` test digits binarised once with a fixed
seed (``VAE.likelihood_items``), with the negative ELBO and the active units beside it.
Training items are binarised afresh each time they are drawn (``binarize="dynamic"``, the
default for the Bernoulli likelihood). Published anchors on this protocol after 3,280 epochs
(Burda et al. 2016, one stochastic layer): VAE 86.76, IWAE (k=50) 84.78 nats.

Usage::

    python benchmarks/vae_mnist_nll.py --flavour vae  [--budget 1200] [--items 2000] [--k 1000]
    python benchmarks/vae_mnist_nll.py --flavour iwae --set k_train=5
    python benchmarks/vae_mnist_nll.py --flavour vae --budget 30 --items 50 --k 100   # a quick try

Prints a table (training seconds, steps, epochs, NLL in nats and bits/dim, negative ELBO,
active units, evaluation seconds) as it goes, and writes ``OUT/nll_curve.json`` and
``OUT/nll_curve.csv`` after every evaluation (``OUT`` = ``--out``, default
``runs/vae-mnist-nll-FLAVOUR``); ``--save`` also saves the final model to ``OUT/model``.
The default ``--threads 1`` avoids the slowdown of OpenMP threads competing for shared cores.
"""

from __future__ import annotations

import argparse
import csv
import math
import platform
import time
from pathlib import Path

import torch

import latentspace as ls
from latentspace.cli_data import parse_pairs
from latentspace.storage import atomic_write_json
from latentspace.train import pick_device
from latentspace.train.batches import IndexBatches

DEFAULT_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"

#: flavour -> (registry name, parameters): the classic MNIST VAE's MLPs (784-512-512-32 and back),
#: 6-13 times faster per item than the default conv nets on a CPU (docs/vae-family.md). ``best`` is
#: the one that did best per CPU-minute in short runs; the 20-minute runs may change that.
FLAVOURS = {
    "vae": ("vae", dict(arch="mlp", hidden=512, layers=2, latent_dim=32)),
    "iwae": ("iwae", dict(arch="mlp", hidden=512, layers=2, latent_dim=32, k_train=5)),
    "best": ("vae", dict(arch="mlp", hidden=512, layers=2, latent_dim=32)),
}


def eval_points(budget: float, spec: str | None) -> list[float]:
    """Training times (s) at which to evaluate: ``spec`` (comma-separated seconds) or fractions of the budget."""
    if spec:
        points = sorted({float(s) for s in spec.split(",") if s.strip()})
    else:
        points = [budget * f for f in (1 / 20, 1 / 10, 1 / 4, 1 / 2, 3 / 4, 1)]
    points = [p for p in points if 0 < p <= budget]
    return points if points and points[-1] == budget else points + [budget]


@torch.no_grad()
def measure(model, x, y, k: int, seed: int) -> dict:
    kw = {"labels": y} if y is not None else {}
    ll = model.score_samples(x, k=k, seed=seed, **kw)
    torch.manual_seed(seed)
    elbo = model.elbo(x, **kw)
    dim = x[0].numel()
    nll = -float(ll.mean())
    return {"nll_nats": nll, "nll_bits_per_dim": nll / (dim * math.log(2)),
            "nll_sem": float(ll.std() / math.sqrt(len(ll))) if len(ll) > 1 else float("nan"),
            "nelbo_nats": -float(elbo.mean()), "active_units": model.active_units(x, **kw)}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--flavour", choices=sorted(FLAVOURS), default="best")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="model parameter, e.g. --set hidden=256")
    p.add_argument("--data-dir", default=str(DEFAULT_MNIST))
    p.add_argument("--budget", type=float, default=1200.0, help="training seconds (default 1200 = 20 min)")
    p.add_argument("--evals", help="training seconds at which to evaluate, comma-separated "
                                   "(default: 5, 10, 25, 50, 75 and 100%% of the budget)")
    p.add_argument("--items", type=int, default=2000, help="first N fixed-seed-binarised test digits scored")
    p.add_argument("--k", type=int, default=1000, help="importance samples per test digit")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr-decay", choices=("cosine", "none"), default="cosine",
                   help="cosine: the learning rate falls to 0 over the training-time budget")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: with other jobs on the cores, 2 OpenMP threads ran a step "
                        "15-30x slower than 1; use 2 on an otherwise idle 2-core machine)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda (default: cuda when available)")
    p.add_argument("--out", help="output folder (default runs/vae-mnist-nll-FLAVOUR)")
    p.add_argument("--save", action="store_true", help="save the final model to OUT/model")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    out = Path(args.out or f"runs/vae-mnist-nll-{args.flavour}")
    out.mkdir(parents=True, exist_ok=True)

    name, params = FLAVOURS[args.flavour]
    params = {**params, **parse_pairs(args.set, "--set")}
    data = ls.data.load("mnist", data_dir=args.data_dir)
    torch.manual_seed(args.seed)
    model = ls.models.create(name, **params).build(data.info, device)
    optimizers = model.configure_optimizers()
    test_x, note = model.likelihood_items(data.test.to_data())
    test_x = test_x[:args.items]
    test_y = data.test.y[:args.items] if model.conditional else None
    points = eval_points(args.budget, args.evals)
    print(f"{name} {model.get_params()}", flush=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()},"
          f" device {device}; batch {args.batch_size}, lr decay {args.lr_decay}; test NLL on the first "
          f"{len(test_x)} test digits, {note or 'as they are'}, k={args.k}", flush=True)

    x_all = data.x.to(device)
    if x_all.ndim == 4:
        x_all = x_all.contiguous(memory_format=torch.channels_last)
    y_all = data.y.to(device) if model.conditional else None
    batches = IndexBatches(len(data), args.batch_size, args.seed)
    for opt in optimizers.values():
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"]

    rows: list[dict] = []
    head = f"{'train s':>8} {'steps':>7} {'epochs':>7} {'NLL nats':>9} {'+-':>5} {'bits/dim':>8} {'-ELBO':>7} " \
           f"{'active':>6} {'eval s':>7}"
    print(head, flush=True)
    train_s, step, sums, count = 0.0, 0, {}, 0
    sync = (lambda: torch.cuda.synchronize()) if device.type == "cuda" else (lambda: None)
    model.set_train(True)
    for point in points:
        while train_s < point:
            t0 = time.perf_counter()
            if args.lr_decay == "cosine":
                factor = 0.5 * (1 + math.cos(math.pi * min(1.0, train_s / args.budget)))
                for opt in optimizers.values():
                    for group in opt.param_groups:
                        group["lr"] = group["initial_lr"] * factor
            idx = batches.indices(step).to(device)
            logs = model.train_step({"x": x_all[idx], "y": y_all[idx] if y_all is not None else None,
                                     "epoch": batches.epoch_of(step), "progress": train_s / args.budget}, step)
            sync()
            train_s += time.perf_counter() - t0
            step += 1
            if not all(math.isfinite(v) for v in logs.values()):
                raise SystemExit(f"the loss became NaN/inf at step {step}: {logs}; lower the learning rate")
            for key, v in logs.items():
                sums[key] = sums.get(key, 0.0) + v
            count += 1
        model.set_train(False)
        t0 = time.perf_counter()
        res = measure(model, test_x, test_y, args.k, args.seed)
        eval_s = time.perf_counter() - t0
        epochs = round(step * args.batch_size / len(data), 2)
        row = {"train_seconds": round(train_s, 2), "steps": step, "epochs": epochs, **res,
               "train_elbo": sums.get("elbo", 0.0) / max(count, 1), "eval_seconds": round(eval_s, 2)}
        rows.append(row)
        sums, count = {}, 0
        print(f"{row['train_seconds']:8.0f} {step:7d} {row['epochs']:7.1f} {res['nll_nats']:9.2f} "
              f"{res['nll_sem']:5.2f} {res['nll_bits_per_dim']:8.4f} {res['nelbo_nats']:7.2f} "
              f"{res['active_units']:>6} {eval_s:7.1f}", flush=True)
        atomic_write_json(out / "nll_curve.json", {
            "flavour": args.flavour, "model": name, "params": model.get_params(), "batch_size": args.batch_size,
            "lr_decay": args.lr_decay, "budget_seconds": args.budget, "test_items": len(test_x), "k": args.k,
            "test_items_note": note, "threads": torch.get_num_threads(), "device": str(device),
            "torch": torch.__version__, "seed": args.seed, "curve": rows})
        with open(out / "nll_curve.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        model.set_train(True)
    model.set_train(False)
    if args.save:
        model.end_training(data)
        model.save(out / "model")
    print(f"wrote {out / 'nll_curve.json'} and {out / 'nll_curve.csv'}", flush=True)


if __name__ == "__main__":
    main()
