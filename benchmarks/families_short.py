"""One short, seeded run of every registered model: a fingerprint of what each family computes.

Run it before and after a change that should change no result (a refactor): every line must
match. Each model is fitted on a small embedded dataset with seed 0 (neural models: a few
hundred steps), then the script prints a digest of 256 samples (SHA-256 of their float32
bytes), their mean, and the mean log-likelihood of 200 held-out items where the model has one.

    python benchmarks/families_short.py            # every registered model
    python benchmarks/families_short.py gan vae    # some of them
"""

from __future__ import annotations

import hashlib
import sys
import time

import torch

import latentspace as ls

#: (dataset, loader options, fit options) per model; the rest use DEFAULT
DEFAULT = ("digits", {}, {"steps": 200})
RUNS = {
    "kde": ("grid25", {"n": 2000}, {}),
    "gmm": ("grid25", {"n": 2000}, {}),
    "ppca": ("digits", {}, {}),
    "gan": ("grid25", {"n": 2000}, {"steps": 300}),
    "wgan-gp": ("grid25", {"n": 2000}, {"steps": 300}),
    "vae": ("moons", {"n": 2000}, {"steps": 300}),
}


def digest(x: torch.Tensor) -> str:
    return hashlib.sha256(x.detach().float().contiguous().numpy().tobytes()).hexdigest()[:16]


def one(name: str) -> str:
    source, options, fit = RUNS.get(name, DEFAULT)
    data = ls.data.load(source, **options)
    model = ls.models.create(name)
    t0 = time.perf_counter()
    if name == "cyclegan":
        a = ls.data.load("digits", classes="0,1,2,3,4")
        b = ls.data.load("digits", classes="5,6,7,8,9")
        model.set_params(width=8, d_width=8, blocks=1, bank_size=64)
        model.fit(a, data_b=b, steps=50, seed=0, progress=False)
        data = b
    else:
        if name in ("vqvae",):
            model.set_params(width=16, prior_width=16)
        model.fit(data, seed=0, progress=False, **({"batch_size": 64} if fit else {}), **fit)
    seconds = time.perf_counter() - t0
    x = model.sample(256, seed=0)
    line = f"{name:<10} {source:<7} samples {digest(x)} mean {float(x.mean()):+.6f}"
    if model.likelihood_kind is not None:
        xt = data.test.to_data()[:200]
        kwargs = {"labels": data.test.y[:200]} if getattr(model, "conditional", False) else {}
        if name in ("vae", "beta-vae", "iwae", "cvae"):
            kwargs["k"] = 50
            xt = model.likelihood_items(xt)[0]
        line += f" loglik {float(model.score_samples(xt, **kwargs).mean()):+.4f}"
    return line + f"  ({seconds:.1f} s)"


def main(names: list[str]) -> None:
    torch.set_num_threads(1)  # deterministic and comparable, whatever else runs
    for name in names or sorted(ls.models.registry()):
        print(one(name), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
