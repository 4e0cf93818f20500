"""PacGAN's toy-data metrics (Lin et al. 2018, following VEEGAN, Srivastava et al. 2017).

For samples from a model of a 2-D mixture of spherical Gaussians with known means and a
common standard deviation ``sigma`` (``ring8``, ``grid25``; the protocol draws 2,500 samples):

- a sample is **high quality** if its Euclidean distance to the nearest mode mean is below
  ``3 sigma``;
- a mode is **captured** if at least one high-quality sample has it as its nearest mode. This
  is the count of PacGAN's released evaluation code (modes with a non-zero count of
  high-quality samples); ``min_count`` raises the bar for stricter variants;
- **reverse KL** is :math:`\\mathrm{KL}(p \\,\\|\\, u) = \\sum_i p_i \\log(K p_i)` between the
  histogram :math:`p` of the high-quality samples over the ``K`` modes and the true, uniform
  mode distribution :math:`u`. No epsilon is needed: :math:`u` is nowhere zero, and empty
  model bins add nothing (:math:`0 \\log 0 = 0`). So it is 0 for perfectly balanced samples
  and :math:`\\log K` when all high-quality samples sit on one mode. With no high-quality
  sample at all the histogram is undefined; it is then reported as :math:`\\log K`, the value
  of total collapse, so that the number stays finite (and JSON-safe).
"""

from __future__ import annotations

import math

import numpy as np

from latentspace.errors import UserError


def _as_array(samples) -> np.ndarray:
    if hasattr(samples, "detach"):  # a torch tensor, maybe on a GPU
        samples = samples.detach().cpu().numpy()
    return np.asarray(samples, dtype=np.float64)


def toy2d_metrics(samples, modes, sigma: float, *, threshold: float = 3.0, min_count: int = 1) -> dict:
    """Modes captured, high-quality fraction and reverse KL of data-space 2-D ``samples``.

    Parameters
    ----------
    samples : array or tensor of shape (n, 2)
        Samples in data space (e.g. ``model.sample(2500)``).
    modes : array-like of shape (K, 2)
        The mixture's mode means (``data.info.extra["modes"]``).
    sigma : float
        The modes' common standard deviation (``data.info.extra["sigma"]``).
    threshold : float
        A sample is high quality within ``threshold * sigma`` of its nearest mode.
    min_count : int
        High-quality samples a mode needs to count as captured (PacGAN: 1).

    Returns
    -------
    dict
        ``modes_captured`` (int), ``modes_total`` (K), ``high_quality_fraction`` (in [0, 1]),
        ``reverse_kl`` (nats, in [0, log K]).

    Examples
    --------
    >>> import numpy as np
    >>> modes = [[0.0, 0.0], [1.0, 0.0]]
    >>> toy2d_metrics(np.array([[0.0, 0.01], [1.0, 0.0], [5.0, 5.0]]), modes, 0.05)["modes_captured"]
    2
    """
    x = _as_array(samples)
    means = _as_array(modes)
    if x.ndim != 2 or len(x) == 0:
        raise UserError(f"toy metrics need samples of shape (n, 2) with n >= 1, got {x.shape}")
    if means.ndim != 2 or means.shape[1] != x.shape[1] or len(means) == 0:
        raise UserError(f"modes of shape {means.shape} do not match samples of shape {x.shape}")
    if not (sigma > 0 and math.isfinite(sigma)):
        raise UserError(f"sigma must be a positive number, got {sigma!r}")
    k = len(means)
    nearest = np.empty(len(x), dtype=np.int64)
    dist = np.empty(len(x))
    for i in range(0, len(x), 65536):  # bounded memory for large sample sets
        d2 = ((x[i:i + 65536, None, :] - means[None, :, :]) ** 2).sum(-1)
        nearest[i:i + 65536] = d2.argmin(1)
        dist[i:i + 65536] = np.sqrt(d2.min(1))
    hq = dist < threshold * sigma  # NaN samples are never high quality
    counts = np.bincount(nearest[hq], minlength=k)
    if counts.sum() == 0:
        reverse_kl = math.log(k)
    else:
        p = counts / counts.sum()
        nz = p > 0
        reverse_kl = max(0.0, float((p[nz] * np.log(p[nz] * k)).sum()))
    return {"modes_captured": int((counts >= max(1, int(min_count))).sum()), "modes_total": k,
            "high_quality_fraction": float(hq.mean()), "reverse_kl": reverse_kl}
