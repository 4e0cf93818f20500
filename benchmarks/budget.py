"""Quality per CPU-minute: train a model for a time budget, then score 10,000 samples.

Trains ``MODEL`` with ``fit(data, time=...)`` (the same as ``latentspace train MODEL --time``), draws
``--n`` samples and scores them with ``latentspace.evaluate``. The features come from our domain
classifier on MNIST, trained once and cached. The script prints FD, precision, recall, coverage and
the class spread beside the real-vs-real floor (held-out items in place of the samples), and the
held-out NLL where the model has one. The last line is a JSON object with every figure and
``train_seconds``.

Usage::

    python benchmarks/budget.py dcgan --data mnist --data-dir ../shared/data/mnist --time 10m
    python benchmarks/budget.py vae --data mnist --data-dir DIR --time 5m --set arch=mlp
    python benchmarks/budget.py gan --data grid25 --time 2m

Measure on an idle machine: a second job on the same cores changes the figures a lot (see
``latentspace.threads``).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

import latentspace as ls
from latentspace.cli import _duration, _parse_set
from latentspace.metrics.evaluation import evaluate
from latentspace.threads import set_threads
from latentspace.train.callbacks import Callback

DEFAULT_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
SHOWN = ("fd", "precision", "recall", "coverage", "class_coverage", "class_entropy", "c2st_accuracy", "nll_nats")


class LastStep(Callback):
    step = 0

    def on_step(self, model, step):
        self.step = step


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--data", default="mnist")
    p.add_argument("--data-dir", default=str(DEFAULT_MNIST))
    p.add_argument("--time", type=_duration, default=600.0, help="training budget: 90s, 10m, 1h (default 10m)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a model parameter; repeatable")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--n", type=int, default=10_000, help="samples scored (default 10,000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int)
    p.add_argument("--out", help="also keep the run folder here")
    args = p.parse_args(argv)
    threads = set_threads(args.threads)

    options = {"data_dir": args.data_dir} if args.data in ("mnist", "fashion-mnist") else {}
    data = ls.data.load(args.data, **options)
    model = ls.models.create(args.model, **_parse_set(args.set))
    fit = {"batch_size": args.batch_size} if args.batch_size else {}
    last = LastStep()
    t0 = time.perf_counter()
    model.fit(data, time=args.time, seed=args.seed, progress=False, out=args.out, callbacks=[last], **fit)
    train_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    results = evaluate(model, data, n=args.n, seed=args.seed)
    eval_seconds = time.perf_counter() - t1

    scores, floor, details = results["scores"], results["floor"], results["details"]
    print(f"torch {torch.__version__}, {threads} threads, {platform.machine()}, {args.model} on {args.data}, "
          f"budget {args.time:.0f} s: {last.step} steps in {train_seconds:.0f} s")
    print(f"{'score':<16}{'samples':>10}{'floor':>10}")
    for key in SHOWN:
        if key in scores:
            print(f"{key:<16}{scores[key]:>10.4g}{floor.get(key, float('nan')):>10.4g}")
    hist = details.get("class_histogram")
    if hist:
        total = sum(hist)
        print("classes %: " + " ".join(f"{100 * h / total:.1f}" for h in hist))
    out = {"model": args.model, "data": args.data, "params": model.json_params(), "time_budget": args.time,
           "train_seconds": round(train_seconds, 1), "eval_seconds": round(eval_seconds, 1),
           "steps": last.step, "threads": threads,
           "scores": {k: scores[k] for k in SHOWN if k in scores},
           "floor": {k: floor[k] for k in SHOWN if k in floor},
           "class_histogram": hist}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
