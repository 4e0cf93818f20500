"""CycleGAN on bold-MNIST: does unpaired training learn a known translation?

Domain A is the first half of MNIST's training digits, domain B the other half made bold
(3x3 grey dilation; see :mod:`latentspace.data.pairs`): no digit appears in both and no pair
is given. MNIST's test digits keep the pairing, so each translation ``G(a)`` is scored
against the true answer ``bold(a)``:

- pixel error, mean ``|G(a) - bold(a)|`` and mean squared error (intensities in [0, 1]),
  beside the identity baseline ``|a - bold(a)|`` (translating nothing);
- the same for the way back, ``|F(bold(a)) - a|`` against ``|bold(a) - a|``;
- label kept: the fraction of ``G(a)`` that a classifier trained on bold digits (the
  cached classifier feature extractor of ``bold-mnist``) assigns ``a``'s label; beside it,
  that classifier's accuracy on ``bold(a)`` (the ceiling) and on ``a`` itself.

Usage::

    python benchmarks/cyclegan_bold.py [--mnist-dir ../shared/data/mnist] [--steps 1100] [--threads 1]

Prints the settings, the training wall time and one line per figure. The defaults (a small
model: width 16, 3 residual blocks, batch 16, 1,100 steps) train in under 10 minutes on
one CPU thread.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

import latentspace as ls
from latentspace.metrics.features import feature_extractor

DEFAULT_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def pixel_errors(x: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """(mean absolute error, mean squared error) per pixel."""
    d = x - target
    return float(d.abs().mean()), float(d.pow(2).mean())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mnist-dir", default=str(DEFAULT_MNIST))
    p.add_argument("--steps", type=int, default=1100)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--limit", type=int, help="training digits per domain (default: all 30,000)")
    p.add_argument("--n-test", type=int, default=10000, help="held-out digits scored")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a cyclegan parameter (defaults here: width=16, blocks=3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--device", default="cpu")
    p.add_argument("--picture", help="write a PNG: rows of a, G(a), bold(a) for 16 test digits")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    params = {"width": 16, "blocks": 3, **{k: v for k, _, v in (s.partition("=") for s in args.set)}}

    a = ls.data.load("mnist-half", data_dir=args.mnist_dir, limit=args.limit)
    b = ls.data.load("bold-mnist", data_dir=args.mnist_dir, limit=args.limit)
    model = ls.models.create("cyclegan", **params)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"{platform.processor() or platform.machine()}, device {args.device}")
    print(f"cyclegan {model!r}: {len(a)} + {len(b)} unpaired training digits, {args.steps} steps of batch "
          f"{args.batch_size}, seed {args.seed}")

    t0 = time.perf_counter()
    model.fit(a, data_b=b, steps=args.steps, batch_size=args.batch_size, seed=args.seed, progress=False,
              device=args.device)
    seconds = time.perf_counter() - t0
    print(f"training wall time: {seconds:.1f} s ({seconds / args.steps:.3f} s/step)")

    x = a.test.to_data()[:args.n_test]
    truth = b.test.to_data()[:args.n_test]  # bold(x), item by item
    labels = a.test.y[:args.n_test]
    fake = model.translate(x, "a2b")
    back = model.translate(truth, "b2a")

    l1, mse = pixel_errors(fake, truth)
    l1_id, mse_id = pixel_errors(x, truth)
    print(f"A->B on {len(x)} test digits: |G(a) - bold(a)| = {l1:.4f} (identity {l1_id:.4f}), "
          f"MSE {mse:.4f} (identity {mse_id:.4f})")
    l1_b, mse_b = pixel_errors(back, x)
    print(f"B->A: |F(bold(a)) - a| = {l1_b:.4f} (identity {l1_id:.4f}), MSE {mse_b:.4f} (identity {mse_id:.4f})")

    clf = feature_extractor(b, "classifier")
    kept = float((clf.predict(fake) == labels).float().mean())
    ceiling = float((clf.predict(truth) == labels).float().mean())
    plain = float((clf.predict(x) == labels).float().mean())
    print(f"label kept by a bold-digit classifier: {100 * kept:.1f}% of G(a) "
          f"(on bold(a): {100 * ceiling:.1f}%, on untranslated a: {100 * plain:.1f}%)")

    if args.picture:
        from PIL import Image

        from latentspace.plots.samples import image_grid

        grid = image_grid(torch.cat([x[:16], fake[:16], truth[:16]]), ncols=16)
        Image.fromarray(grid.squeeze(-1)).resize((grid.shape[1] * 3, grid.shape[0] * 3), Image.NEAREST) \
            .save(args.picture)
        print(f"wrote {args.picture}")


if __name__ == "__main__":
    main()
