"""The 3-D GAN on ModelNet10 chairs: does it draw varied chairs, and how far is it from the floor?

Trains the GAN on the 711 training chairs (32³ voxels) of
``../shared/data/voxels/modelnet10_vox32_chair_monitor_train.npz`` with the volume defaults
(transposed 3-D convs, the discriminator gate ``d_gate=0.8`` of Wu et al. 2016, a mode-seeking
term of weight 0.05) — or takes a finished run with ``--run`` — then scores samples against the
178 held-out chairs on the features of a 3-D conv autoencoder trained on the training chairs
(cached), with :func:`latentspace.metrics.evaluate`: the same figures as ``latentspace
evaluate``, next to the floor (held-out chairs against training chairs).

Also prints how varied the samples are in voxels: the mean Hamming distance between two
samples over that between two held-out chairs (1 for the data; ~0 for a collapsed generator),
and the occupied fraction of voxels.

Usage::

    python benchmarks/gan3d_chairs.py [--steps 6000] [--width 16] [--batch-size 32] [--threads 2]
    python benchmarks/gan3d_chairs.py --run runs/gan-chairs --picture docs/gan3d-chairs.png

The picture: 16 samples (seed 0), then 8 held-out chairs, each from four views.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

import latentspace as ls
from latentspace.metrics import evaluate

DEFAULT_DATA = (Path(__file__).resolve().parents[2] / "shared" / "data" / "voxels"
                / "modelnet10_vox32_chair_monitor_train.npz")


def pairwise_hamming(volumes: torch.Tensor, threshold: float = 0.5) -> float:
    """Mean fraction of voxels on which two different volumes of the set disagree."""
    v = (volumes > threshold).float().flatten(1)
    n = len(v)
    return float(torch.cdist(v, v, p=1).sum() / (n * (n - 1)) / v.shape[1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--run", help="score this finished run (folder or model) instead of training one")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="another gan parameter")
    p.add_argument("--n", type=int, default=10000, help="samples scored")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--picture", help="write a PNG: 16 samples, then 8 held-out chairs")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data = ls.data.load(args.data, classes="chair")
    cpu = platform.processor() or platform.machine()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {cpu}")
    print(f"{data!r}")

    if args.run:
        model = ls.load(args.run)
        print(f"loaded {args.run}: {model!r}")
    else:
        params = {"width": args.width, **{k: v for k, _, v in (s.partition("=") for s in args.set)}}
        model = ls.models.create("gan", **params)
        print(f"gan {model!r}: {args.steps} steps of batch {args.batch_size}, seed {args.seed}")
        t0 = time.perf_counter()
        model.fit(data, steps=args.steps, batch_size=args.batch_size, seed=args.seed, progress=False)
        seconds = time.perf_counter() - t0
        print(f"training wall time: {seconds:.1f} s ({seconds / args.steps:.3f} s/step)")

    report = evaluate(model, data, n=args.n, seed=args.seed, nll_items=10, progress=False)
    scores, floor = report["scores"], report["floor"]
    for key in ("fd", "kid_mean", "precision", "recall", "density", "coverage", "c2st_accuracy",
                "memorised_fraction"):
        print(f"{key:>20}: {scores[key]:8.4f}   floor {floor[key]:8.4f}")

    samples = model.sample(1000, seed=args.seed)
    held_out = data.test.to_data()
    print(f"pairwise Hamming distance, samples over held-out chairs: "
          f"{pairwise_hamming(samples) / pairwise_hamming(held_out):.3f}; occupied voxels: "
          f"samples {float((samples > 0.5).float().mean()):.4f}, held-out {float((held_out > 0.5).float().mean()):.4f}")

    if args.picture:
        from latentspace.plots import voxel_grid

        volumes = torch.cat([samples[:16], held_out[:8]])
        labels = [f"sample {i}" for i in range(16)] + [f"held-out {i}" for i in range(8)]
        voxel_grid(volumes, n=24, ncols=8, labels=labels).savefig(args.picture, dpi=80, bbox_inches="tight")
        print(f"wrote {args.picture}")


if __name__ == "__main__":
    main()
