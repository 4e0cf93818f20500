r"""Nearest-neighbour scores of generated samples: fidelity, diversity and memorisation.

- :func:`precision_recall` (Kynkäänniemi et al. 2019) and :func:`density_coverage`
  (Naeem et al. 2020): fidelity and diversity from k-nearest-neighbour balls;
- :func:`memorisation`: samples suspiciously close to a training item, against the held-out floor.

Distances are exact (see :mod:`latentspace.metrics.pairwise`). All are re-exported by
:mod:`latentspace.metrics.scores`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from latentspace.errors import UserError
from latentspace.metrics.pairwise import (_blocks, _centred, _check_k, _features, _knn_radii_sq, _nearest, _pair,
                                          _same_dim)


# --------------------------------------------------------------------------- k-NN scores


def precision_recall(real, fake, k: int = 5) -> dict:
    r"""Improved precision and recall (Kynkäänniemi et al. 2019) from k-NN balls.

    Each point gets a ball reaching its ``k``-th nearest neighbour within its own set (itself
    excluded). **Precision** is the fraction of fake points inside the union of the real balls
    (fidelity); **recall** is the fraction of real points inside the union of the fake balls
    (diversity).

    Parameters
    ----------
    real, fake : array or tensor of shape (n, d)
        Feature vectors, more than ``k`` rows each.
    k : int
        Neighbour that sets each ball's radius.

    Returns
    -------
    dict
        ``precision`` and ``recall`` (floats in [0, 1]).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> real = rng.normal(size=(500, 2))
    >>> pr = precision_recall(real, 0.1 * rng.normal(size=(500, 2)))  # collapsed onto the centre
    >>> pr["precision"] == 1.0, pr["recall"] < 0.2
    (True, True)
    """
    k = _check_k(k)
    a, b = _pair(real, fake, k + 1, f" for k={k} neighbours")
    a, b = _centred(a, b)
    r_real, r_fake = _knn_radii_sq(a, k), _knn_radii_sq(b, k)
    fake_in = torch.zeros(len(b), dtype=torch.bool)
    real_in = torch.zeros(len(a), dtype=torch.bool)
    for start, d2 in _blocks(b, a):  # fake rows against real columns
        fake_in[start:start + len(d2)] = (d2 <= r_real[None, :]).any(1)
        real_in |= (d2 <= r_fake[start:start + len(d2), None]).any(0)
    return {"precision": float(fake_in.double().mean()), "recall": float(real_in.double().mean())}


def density_coverage(real, fake, k: int = 5) -> dict:
    r"""Density and coverage (Naeem et al. 2020) from the real points' k-NN balls.

    With :math:`B(x_i, r_i)` the ball around real point :math:`x_i` reaching its ``k``-th
    nearest real neighbour, **density** is :math:`\frac{1}{kM} \sum_j \sum_i 1[y_j \in B(x_i, r_i)]`
    over the :math:`M` fake points :math:`y_j` (about 1 for fake points from the real
    distribution, above 1 when they crowd into dense regions), and **coverage** is the fraction
    of real balls that contain at least one fake point.

    Parameters
    ----------
    real : array or tensor of shape (n, d)
        Real feature vectors, more than ``k`` rows.
    fake : array or tensor of shape (m, d)
        Fake feature vectors.
    k : int
        Neighbour that sets each ball's radius.

    Returns
    -------
    dict
        ``density`` (float >= 0, unbounded) and ``coverage`` (float in [0, 1]).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> real = rng.normal(size=(500, 2))
    >>> dc = density_coverage(real, real[:100])  # copies of a fifth of the real points
    >>> round(dc["density"], 3) >= 1.0, dc["coverage"] < 0.9
    (True, True)
    """
    k = _check_k(k)
    a = _features(real, "real", k + 1, f" for k={k} neighbours")
    b = _features(fake, "fake", 1)
    _same_dim(a, b, "real", "fake")
    a, b = _centred(a, b)
    r_real = _knn_radii_sq(a, k)
    inside = 0
    nearest_fake = torch.full((len(a),), math.inf)
    for _, d2 in _blocks(b, a):  # fake rows against real columns
        inside += int(torch.count_nonzero(d2 <= r_real[None, :]))
        nearest_fake = torch.minimum(nearest_fake, d2.min(0).values)
    return {"density": inside / (k * len(b)), "coverage": float((nearest_fake <= r_real).double().mean())}


# --------------------------------------------------------------------------- memorisation


def memorisation(samples, train, heldout, quantile: float = 0.01, n_pairs: int = 8) -> dict:
    """Samples suspiciously close to a training item, measured against held-out real items.

    Each sample's distance to its nearest training item is compared with a threshold: the
    ``quantile`` of the held-out real items' nearest-training distances. Held-out items are
    themselves closer than that for about a ``quantile`` of them (the floor); a model that
    copies its training items scores near 1.

    Parameters
    ----------
    samples : array or tensor of shape (n, d)
        Features of generated samples.
    train : array or tensor of shape (N, d)
        Features of the training items.
    heldout : array or tensor of shape (h, d)
        Features of held-out real items (not used in training).
    quantile : float
        Quantile of the held-out distances used as the threshold, in (0, 1).
    n_pairs : int
        How many of the closest sample-training pairs to report.

    Returns
    -------
    dict
        ``memorised_fraction`` (samples at or below the threshold), ``heldout_fraction`` (the same
        for the held-out items: the floor), ``threshold``, ``median_nn_distance`` and
        ``heldout_median_nn_distance`` (median nearest-training distance of samples and held-out
        items) and ``closest_pairs``: a list of up to ``n_pairs`` dicts ``{"sample": index,
        "train": index, "distance": float}``, the samples closest to the training set, ascending.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> train, heldout = rng.normal(size=(1000, 8)), rng.normal(size=(500, 8))
    >>> memorisation(train[:200], train, heldout)["memorised_fraction"]
    1.0
    """
    s = _features(samples, "samples")
    t = _features(train, "train")
    h = _features(heldout, "heldout")
    _same_dim(s, t, "samples", "train")
    _same_dim(h, t, "heldout", "train")
    if not (isinstance(quantile, (int, float)) and 0 < quantile < 1):
        raise UserError(f"quantile must be a number in (0, 1), got {quantile!r}")
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, (int, np.integer)) or n_pairs < 0:
        raise UserError(f"n_pairs must be a non-negative integer, got {n_pairs!r}")
    t32, s32, h32 = _centred(t, s, h)
    d_s, idx_s = _nearest(s32, t32)
    d_h, _ = _nearest(h32, t32)
    threshold = float(np.quantile(d_h.double().numpy(), quantile))
    # The closest pairs, with their distances recomputed exactly in float64.
    pick = d_s.topk(min(int(n_pairs), len(s)), largest=False).indices
    exact = (s[pick] - t[idx_s[pick]]).norm(dim=1)
    pairs = sorted(({"sample": int(i), "train": int(idx_s[i]), "distance": float(e)} for i, e in zip(pick, exact)),
                   key=lambda p: (p["distance"], p["sample"]))
    return {"memorised_fraction": float((d_s <= threshold).double().mean()),
            "heldout_fraction": float((d_h <= threshold).double().mean()),
            "threshold": threshold,
            "median_nn_distance": float(np.median(d_s.numpy())),
            "heldout_median_nn_distance": float(np.median(d_h.numpy())),
            "closest_pairs": pairs}
