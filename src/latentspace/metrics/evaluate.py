"""One call that scores a fitted model against its data: what ``latentspace evaluate`` prints.

Every sample score comes with its *floor*: the same score for real held-out items, which is
the best a perfect model could expect with the same number of items.
"""

from __future__ import annotations

import time

import torch


def evaluate_run(model, data, n: int = 2500, seed: int = 0, nll_items: int | None = 1000) -> dict:
    """Scores of ``model`` on ``data`` (train split, held-out split in ``data.test``).

    - toy 2-D data with known modes (``ring8``, ``grid25``): PacGAN's metrics on ``n`` samples
      (modes captured, high-quality fraction, reverse KL), and the same for ``n`` real test items;
    - models with a likelihood: held-out negative log-likelihood in nats and bits per dimension,
      on the first ``nll_items`` test items (all when None).
    """
    from latentspace.errors import UserError
    from latentspace.metrics.likelihood import heldout_nll
    from latentspace.metrics.toy2d import toy2d_metrics

    if n < 1:
        raise UserError(f"--n must be a positive integer, got {n}")
    results: dict = {"model": model.name, "data": data.name, "n_samples": n}
    t0 = time.perf_counter()
    x = model.sample(n, seed=seed)
    results["samples_per_s"] = n / max(time.perf_counter() - t0, 1e-9)

    extra = data.info.extra or {}
    if "modes" in extra:
        modes, sigma = extra["modes"], extra["sigma"]
        for key, value in toy2d_metrics(x, modes, sigma).items():
            results[key] = value
        real = data.test.to_data() if data.test is not None else data.to_data()
        g = torch.Generator().manual_seed(seed)
        real = real[torch.randperm(len(real), generator=g)[:n]]
        for key, value in toy2d_metrics(real, modes, sigma).items():
            results[f"floor_{key}"] = value
    if data.test is not None:
        nll = heldout_nll(model, data, max_items=nll_items)
        if nll:
            results.update(nll)
    return results
