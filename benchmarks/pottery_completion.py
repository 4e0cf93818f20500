"""Reconstruction of vessel profiles from a fragment, as IberianGAN measured it (Navarro et al. 2022).

Trains MODEL on the training profiles of the Iberian collection (``--data pottery``) for ``--time``,
cuts each held-out profile into a rim part and a base part (``--cut`` of the way down its height,
``Profile.fragment_mask``), and fills in the missing part by inverting the model's decoder on the
kept part (``latentspace.latent.complete``). The baseline fills it from the training profile closest
on the kept part. Per item, the root-mean-square error over the missing part's pixels and over the
given part's pixels (images in [0, 1]); mean and standard deviation over the held-out profiles.

IberianGAN's figures (0.021 +- 0.011 with the base missing, 0.027 +- 0.009 with the rim missing)
are not pixel errors: they are Procrustes distances between 25 outline landmarks of the true and
the completed missing part, over the items within one standard deviation of the mean (their
notebooks ``7-ValidShape-*.ipynb``). This script reports that measure too
(:mod:`latentspace.metrics.outlines`): ``shape_missing`` (all items), ``shape_missing_trimmed``
(as IberianGAN averaged) and ``nearest_shape``.

Usage::

    python benchmarks/pottery_completion.py --data-dir ../shared/data/pottery_profiles [--model vae]
        [--time 5m] [--size 64] [--cut 0.5] [--steps 300] [--restarts 4]

The last line is one JSON object: ``rmse_missing``, ``rmse_given`` and ``nearest`` (pixels), and
``shape_missing``, ``shape_missing_trimmed``, ``nearest_shape`` and ``nearest_shape_trimmed``
(landmarks), each ``{"base": .., "rim": ..}`` ("base": the base is missing), their ``*_std``, and
``train_seconds``. ``--train-steps N`` trains for N steps instead of ``--time``, so the figures do
not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import latentspace as ls
from latentspace.cli import _duration, _parse_set
from latentspace.latent import complete
from latentspace.metrics.outlines import part_rmse, trimmed
from latentspace.runs import load_run
from latentspace.threads import set_threads

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "pottery_profiles"
#: the part that is missing -> the fragment that is kept
KEEP = {"base": "rim", "rim": "base"}


def rmse(a: torch.Tensor, b: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """Per item, the root-mean-square difference over the values ``where`` is True."""
    sq = ((a - b) ** 2 * where).flatten(1).sum(1)
    return (sq / where.flatten(1).sum(1).clamp_min(1)).sqrt()


def nearest_fill(x: torch.Tensor, kept: torch.Tensor, train: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """Each item's missing part from the training item closest to it on its kept part."""
    flat_train = train.flatten(1)
    out = []
    for i in range(0, len(x), batch):
        xb, kb = x[i:i + batch].flatten(1), kept[i:i + batch].flatten(1).float()
        # squared distance on the kept values: sum_k m (x - t)^2 = m.x^2 - 2 (m x).t + m.t^2
        d = (kb * xb ** 2).sum(1, keepdim=True) - 2 * (kb * xb) @ flat_train.T + kb @ (flat_train ** 2).T
        best = flat_train[d.argmin(1)]
        out.append(torch.where(kb.bool(), xb, best).view(-1, *x.shape[1:]))
    return torch.cat(out)


def _mean_std(values) -> tuple:
    """Mean and sample standard deviation of the finite values, rounded (None where there are none)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    mean = round(float(v.mean()), 4) if len(v) else None
    return mean, (round(float(v.std(ddof=1)), 4) if len(v) > 1 else None)


def _figure(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=str(DEFAULT_DIR))
    p.add_argument("--data", default="pottery", choices=("pottery", "pottery-synthetic"),
                   help="the profiles (pottery-synthetic: the embedded ones, for a quick check)")
    p.add_argument("--items", type=int, help="complete only the first N held-out profiles")
    p.add_argument("--model", default="vae")
    p.add_argument("--time", type=_duration, default=300.0, help="training budget (default 5m)")
    p.add_argument("--train-steps", type=int, help="train for this many steps instead of --time")
    p.add_argument("--run", help="complete with the model of this run folder (trained on the same profiles) "
                                 "instead of training one")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a model parameter; repeatable")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--cut", type=float, default=0.5)
    p.add_argument("--steps", type=int, default=300, help="Adam steps of each inversion")
    p.add_argument("--restarts", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int)
    args = p.parse_args(argv)
    threads = set_threads(args.threads)

    where = {"data_dir": args.data_dir} if args.data == "pottery" else {}
    data = ls.data.load(args.data, size=args.size, **where)
    if args.run:
        model, _ = load_run(args.run)
        if tuple(model.info_.shape) != tuple(data.info.shape):
            raise SystemExit(f"the run {args.run} was trained on items of shape {tuple(model.info_.shape)}, "
                             f"not the {tuple(data.info.shape)} of --size {args.size}")
        args.model, train_seconds = model.name, None          # trained elsewhere: see the run's metrics.csv
    else:
        model = ls.models.create(args.model, **_parse_set(args.set))
        t0 = time.perf_counter()
        budget = {"steps": args.train_steps} if args.train_steps else {"time": args.time}
        model.fit(data, seed=args.seed, progress=False, **budget)
        train_seconds = time.perf_counter() - t0
    x, train = data.test.to_data()[:args.items], data.to_data()
    spec = data.info.spec
    out = {"model": args.model, "size": args.size, "cut": args.cut, "items": len(x), "threads": threads,
           "train_seconds": None if train_seconds is None else round(train_seconds, 1), "run": args.run}
    keys = ("rmse_missing", "rmse_given", "nearest", "shape_missing", "shape_missing_trimmed", "nearest_shape",
            "nearest_shape_trimmed")
    for key in keys:
        out[key], out[key + "_std"] = {}, {}
    out["shape_untraced"] = {}
    t1 = time.perf_counter()
    for missing, keep in KEEP.items():
        kept = spec.fragment_mask(x, keep, args.cut)
        whole = complete(model, x, kept, steps=args.steps, restarts=args.restarts, seed=args.seed)
        near = nearest_fill(x, kept, train)
        shape, shape_near = part_rmse(x, whole, ~kept), part_rmse(x, near, ~kept)
        out["shape_untraced"][missing] = int(np.isnan(shape).sum())
        for key, value in (("rmse_missing", rmse(whole, x, ~kept)), ("rmse_given", rmse(whole, x, kept)),
                           ("nearest", rmse(near, x, ~kept)), ("shape_missing", shape),
                           ("shape_missing_trimmed", trimmed(shape)), ("nearest_shape", shape_near),
                           ("nearest_shape_trimmed", trimmed(shape_near))):
            out[key][missing], out[key + "_std"][missing] = _mean_std(value)
    out["complete_seconds"] = round(time.perf_counter() - t1, 1)
    trained = f"the run {args.run}" if args.run else f"{train_seconds:.0f} s of training"
    print(f"{args.model} on {len(data)} training profiles ({args.size} px), {trained}; "
          f"{len(x)} held-out profiles cut at {args.cut} of their height")
    for missing in KEEP:
        print(f"  {missing} missing: RMSE over the missing part {out['rmse_missing'][missing]:.4f} "
              f"+- {out['rmse_missing_std'][missing]:.4f}; nearest training profile "
              f"{out['nearest'][missing]:.4f} +- {out['nearest_std'][missing]:.4f}; over the given part "
              f"{out['rmse_given'][missing]:.4f}")
        print(f"  {missing} missing, outline landmarks (Procrustes RMSE): {_figure(out['shape_missing'][missing])} "
              f"+- {_figure(out['shape_missing_std'][missing])} "
              f"(within one sd: {_figure(out['shape_missing_trimmed'][missing])}); "
              f"nearest {_figure(out['nearest_shape'][missing])} (within one sd: "
              f"{_figure(out['nearest_shape_trimmed'][missing])}); completions without ink in the missing part "
              f"{out['shape_untraced'][missing]}")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
