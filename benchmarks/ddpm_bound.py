"""The ddpm on grid25 with its CPU defaults: modes, high-quality samples and the bound, by training length.

Issue 17's target: with no option but the data, ``latentspace train ddpm --data grid25`` then ``evaluate``
reaches at least 24 of 25 modes and 90% high-quality samples (PacGAN's protocol, 2,500 samples) with at
most 3 CPU-minutes of training. The script trains the default model (one thread, process CPU time) for
each length given (default: a tenth, a half and all of the default 20,000 steps; each run is its own
planned run, so its cosine schedule ends at its length), and prints the training time, PacGAN's
scores of 2,500 samples from each sampler setting, and the held-out bound (nats, 500 items, an upper bound
on the NLL; the data's own entropy is 0.066 nats).

    python benchmarks/ddpm_bound.py                 # seed 0, 2000 10000 20000 steps
    python benchmarks/ddpm_bound.py --seed 1 20000

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import torch

import latentspace as ls
from latentspace.metrics.toy2d import toy2d_metrics

#: sampler settings scored after each run
SAMPLERS = [("ddpm", 1000), ("ddpm", 100), ("ddim", 100)]


def entropy_grid25(sigma: float = 0.05, modes: int = 25) -> float:
    """Differential entropy (nats) of 25 well-separated equal Gaussians of std ``sigma`` in 2-D."""
    return math.log(modes) + math.log(2 * math.pi * math.e * sigma ** 2)


def one_run(data, steps: int, seed: int) -> dict:
    model = ls.models.create("ddpm")
    cpu, wall = time.process_time(), time.time()
    model.fit(data, steps=steps, seed=seed, progress=False)
    out = {"steps": steps, "seed": seed, "train_cpu_s": round(time.process_time() - cpu, 1),
           "train_wall_s": round(time.time() - wall, 1), "load": os.getloadavg()[0]}
    extra = data.info.extra
    for sampler, k in SAMPLERS:
        model.sampler, model.sample_steps = sampler, k
        toy = toy2d_metrics(model.sample(2500, seed=0), extra["modes"], extra["sigma"])
        hq = round(float(toy["high_quality_fraction"]), 4)
        out[f"{sampler}{k}"] = {"modes": int(toy["modes_captured"]), "hq": hq}
    model.sampler, model.sample_steps = "ddpm", None
    cpu = time.process_time()
    out["bound_nll_nats"] = round(-float(model.score_samples(data.test.to_data()[:500]).double().mean()), 4)
    out["bound_cpu_s"] = round(time.process_time() - cpu, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("steps", nargs="*", type=int, default=[2000, 10000, 20000])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = ls.data.load("grid25")
    runs = []
    for steps in args.steps:
        runs.append(one_run(data, steps, args.seed))
        print(json.dumps(runs[-1]), flush=True)
    print(json.dumps({"benchmark": "ddpm_bound", "data_entropy_nats": round(entropy_grid25(), 4), "runs": runs}))


if __name__ == "__main__":
    main()
