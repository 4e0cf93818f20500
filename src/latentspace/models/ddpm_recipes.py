"""The ddpm's defaults for parameters left at None, by whether items are points (an MLP field) or have
spatial dimensions (a U-Net), with where each was measured (2 shared CPU cores, one thread, process CPU time).

- On a CPU (``CPU_RECIPES``, the model's ``sized_recipe``). Points: measured on grid25 with
  ``latentspace train ddpm --data grid25 --threads 1`` then ``evaluate`` (benchmarks/ddpm_bound.py):
  20,000 steps took 92 and 106 CPU-s (seeds 0, 1) and gave 25/25 modes with 98.4% and 97.3%
  high-quality samples; 10,000 steps gave 25/25 but 59.6%, 2,000 steps 23/25 and 2.1% (the modes,
  std 0.018 in model space, need the small-noise end learnt well). The cosine schedule (seed 0, same
  recipe, 90 CPU-s) gave 25/25 and 98.8% with 1000 ancestral steps, 98.2% with 100, 74.9% with DDIM 100,
  and a looser held-out bound (0.62 against 0.46 nats); linear stays the default, as in Ho et al.
  Items: 3,000 steps, learning rate 1e-3 (short runs learn faster than at Ho et al.'s 2e-4): on digits
  (109 CPU-s) FD 0.73, precision 0.97, recall 0.97 and a held-out bound of 222.9 nats (1,000 samples,
  100 ancestral steps) against FD 1.23, 0.94, 0.94 and 256.3 nats at 2e-4 (114 CPU-s);
  docs/flows-and-diffusion/ddpm-digits.png. On MNIST (benchmarks/diffusion_mnist.py, patch 2, 1,000
  samples) 3,000 steps (4.9 CPU-minutes) give FD 10.2 (held-out digits 0.43), recall 0.85, every class
  at 1.9-25.4% of samples, against FD 26.6 and one class at 58% with 2e-4: far from converged, longer
  runs (``--steps``, ``--time``) are needed there. ``patch`` 2 for items with even sides of at least
  16 (MNIST: 0.087 CPU-s a step against 0.31 with patch 1); digits keep 1.
- On a GPU (``GPU_RECIPES``, the class defaults): not measured here; Ho et al.'s learning rate
  2e-4 for images, and wider networks.
- ``SAMPLE_STEPS``: what ``sample_steps=None`` means. Points: ancestral over all 1000 steps (grid25,
  CPU recipe, seed 0: 98.4% high-quality samples; 250 steps 97.4%, 100 steps 94.4%; DDIM 100 steps
  88.5%, 50 steps 80.1%). Items: 100 ancestral steps (digits, CPU recipe at lr 2e-4, 1,000 samples: FD 1.23,
  precision 0.94, recall 0.94; 1000 ancestral steps FD 1.51, 0.93, 0.96 at ten times the cost; DDIM
  100 steps FD 2.51, 0.83, 0.97; DDIM 250 steps FD 2.48).
- ``bound_steps``: the held-out bound sums every step for points (1000 MLP passes per item: 2 CPU-s
  for 500 items) and 50 stratified steps for images on a CPU.
"""

from __future__ import annotations

#: defaults on a CPU, by kind of item
CPU_RECIPES = {
    "points": {"hidden": 128, "steps": 20000, "batch_size": 256, "lr_schedule": "cosine", "bound_steps": 999},
    "items": {"width": 16, "lr": 1e-3, "steps": 3000, "batch_size": 64, "lr_schedule": "cosine", "bound_steps": 50},
}
#: defaults on a GPU (the class defaults), by kind of item
GPU_RECIPES = {
    "points": {"hidden": 256, "lr": 1e-3, "bound_steps": 999},
    "items": {"width": 64, "lr": 2e-4, "bound_steps": 100},
}
#: sampler steps when ``sample_steps`` is None, by kind of item
SAMPLE_STEPS = {"points": 1000, "items": 100}
