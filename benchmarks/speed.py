"""Training steps/s, items/s and sampling samples/s per model family, at the defaults for the device.

Usage::

    python benchmarks/speed.py [--mnist-dir ../shared/data/mnist] [--device cpu] [--only dcgan vae]

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


def train_speed(model, data, steps: int, batch_size: int | None, device) -> tuple[float, int]:
    """(steps per second, batch size) after a short warm-up, through the real engine (no run folder);
    ``batch_size`` None: the model's default for this device."""
    fit = {"batch_size": batch_size} if batch_size else {}
    model.fit(data, steps=5, progress=False, device=device, **fit)
    t0 = time.perf_counter()
    model.fit(data, steps=steps, progress=False, device=device, **fit)
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    batch = batch_size or model._default_batch_size(data)
    return steps / (time.perf_counter() - t0), batch


def sample_speed(model, n: int) -> float:
    model.sample(min(n, 256), seed=0)
    t0 = time.perf_counter()
    model.sample(n, seed=0)
    return n / (time.perf_counter() - t0)


#: (label, model, parameters, dataset, batch size or None for the model's default, steps timed)
CASES = [
    ("gan (MLPs 3x256)", "gan", {}, "grid25", 256, 300),
    ("dcgan", "dcgan", {}, "mnist", None, 100),
    ("cgan", "cgan", {}, "mnist", None, 100),
    ("wgan-gp (5 critic steps)", "wgan-gp", {}, "mnist", None, 30),
    ("vae", "vae", {}, "mnist", None, 300),
    ("vae, conv nets", "vae", {"arch": "conv"}, "mnist", 128, 100),
    ("iwae (k_train 5)", "iwae", {}, "mnist", None, 200),
    ("vqvae (both stages)", "vqvae", {}, "mnist", None, 60),
    ("flow (NSF, zuko)", "flow", {}, "grid25", None, 300),
    ("ddpm (MLP 3x128, 1,000 ancestral steps)", "ddpm", {}, "grid25", None, 300),
    ("flow-matching (MLP 3x512, midpoint 20 steps)", "flow-matching", {}, "grid25", None, 300),
    ("flow (multiscale, depth 8, width 32, variational dequantisation)", "flow", {}, "mnist", None, 30),
    ("ddpm (U-Net 16, patch 2, 100 ancestral steps)", "ddpm", {}, "mnist", None, 30),
    ("flow-matching (U-Net 32, patch 2, midpoint 8 steps)", "flow-matching", {}, "mnist", None, 30),
    ("flow-matching conditional (guidance 1: two passes a step)", "flow-matching", {"conditional": True}, "mnist",
     None, 30),
]
#: samples timed per model (the default: 10,000); the iterative samplers take fewer
SAMPLES = {"ddpm": 1000, "flow-matching": 2000}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mnist-dir", default=str(DEFAULT_MNIST))
    p.add_argument("--device", default=None)
    p.add_argument("--only", nargs="*", help="labels' first words to run (default: all)")
    args = p.parse_args()
    device = str(pick_device(args.device))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()},"
          f" device {device}")
    datasets = {"grid25": ls.data.load("grid25")}
    if Path(args.mnist_dir).is_dir():
        datasets["mnist"] = ls.data.load("mnist", data_dir=args.mnist_dir)
    else:
        print(f"(mnist not found at {args.mnist_dir}: skipping the MNIST rows)")
    for label, name, params, data_name, batch, steps in CASES:
        if data_name not in datasets or (args.only and label.split()[0] not in args.only):
            continue
        model = ls.models.create(name, **params)
        steps_s, batch = train_speed(model, datasets[data_name], steps, batch, device)
        samples_s = sample_speed(model, SAMPLES.get(name, 10_000))
        print(f"{label:<26} {data_name:<7} batch {batch:>3}: {steps_s:8.2f} train steps/s "
              f"({steps_s * batch:9.0f} items/s), {samples_s:10.0f} samples/s")


if __name__ == "__main__":
    main()
