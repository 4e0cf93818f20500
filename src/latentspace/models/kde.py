r"""Gaussian kernel density estimate (``kde``), a classical model (see :mod:`latentspace.models.classical`).

With ``m`` centres :math:`y_j` and bandwidth :math:`h`:
:math:`p(y) = \frac1m \sum_{j=1}^m \mathcal N(y;\, y_j,\, h^2 I)`.
``"scott"``: :math:`h = \bar\sigma\, m^{-1/(k+4)}`; ``"silverman"``:
:math:`h = \bar\sigma\, (m (k+2)/4)^{-1/(k+4)}`, with :math:`\bar\sigma^2` the mean
per-feature variance of the centres (``ddof=1``) and ``k`` their dimension (in 1-D this is
exactly :class:`scipy.stats.gaussian_kde`); ``"cv"``: the :math:`h` of highest
leave-one-out likelihood, searched around Scott's. The rules of thumb assume one
roughly Gaussian bump and over-smooth multimodal data such as ``grid25``; use ``"cv"``
there.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from latentspace.errors import UserError
from latentspace.models.base import register
from latentspace.models.classical import _LOG_2PI, _Classical, _np, _parse_bandwidth, _t


@register
class KDE(_Classical):
    """Gaussian kernel density estimate.

    :math:`p(y) = \\frac1m \\sum_j \\mathcal N(y; y_j, h^2 I)` over ``m`` kernel centres, in
    model space or, with ``pca_components``, in a PCA-whitened subspace with an isotropic
    Gaussian (ML residual variance) on the discarded directions, which keeps ``score_samples``
    a proper density in data space (see :mod:`latentspace.models.classical`). The likelihood is exact.

    Parameters
    ----------
    bandwidth : {"scott", "silverman", "cv"} or float
        Kernel width ``h``. The rules of thumb scale with the centres' mean per-feature
        standard deviation (1 in the whitened subspace) and over-smooth multimodal data;
        ``"cv"`` picks ``h`` by leave-one-out likelihood of (up to) 1,000 centres (a log
        grid from Scott's ``h`` times 10^-2.5 to 10^0.5, refined by golden section). A
        number is ``h`` itself, in model-space units (whitened units when PCA is used).
    pca_components : int, "auto" or None
        Fit in a whitened subspace of this many components. ``"auto"``: none for points,
        ``min(64, dim // 2)`` for images and other high-dimensional modalities.
    max_points : int
        At most this many training items (a seeded random subset) serve as kernel centres,
        which keeps scoring and memory bounded on large sets (scoring costs
        ``O(n_query * max_points * k)``).

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("ring8", n=2000, n_test=200)
    >>> kde = ls.models.create("kde").fit(data)
    >>> kde.sample(5, seed=0).shape
    torch.Size([5, 2])
    >>> kde.score_samples(data.test.to_data()[:3]).shape
    torch.Size([3])
    """

    name = "kde"

    def __init__(self, bandwidth="scott", pca_components="auto", max_points: int = 20000):
        self.bandwidth = bandwidth
        self.pca_components = pca_components
        self.max_points = max_points

    def _fit_base(self, y, seed):
        if int(self.max_points) < 2:
            raise UserError(f"max_points must be at least 2, got {self.max_points}")
        if len(y) > self.max_points:
            idx = np.sort(np.random.default_rng(seed).choice(len(y), int(self.max_points), replace=False))
            y = y[idx]
        self.centres_ = np.ascontiguousarray(y, dtype=np.float64)
        m, k = y.shape
        bw = _parse_bandwidth(self.bandwidth)
        if isinstance(bw, float):
            self.bandwidth_ = bw
            return
        spread = math.sqrt(float(y.var(axis=0, ddof=1).mean()))
        if spread == 0:
            raise UserError("all training items are identical; a KDE needs spread "
                            "(or give a float bandwidth)")
        if bw == "silverman":
            self.bandwidth_ = (m * (k + 2) / 4) ** (-1 / (k + 4)) * spread
            return
        scott = m ** (-1 / (k + 4)) * spread
        self.bandwidth_ = scott if bw == "scott" else self._cv_bandwidth(scott, seed)

    def _cv_bandwidth(self, scott: float, seed: int, n_query: int = 1000) -> float:
        """The ``h`` of best leave-one-out log-likelihood of up to ``n_query`` centres.

        A coarse log grid from Scott's ``h`` times 10^-2.5 to 10^0.5, then a golden-section
        search around its best point.
        """
        c = torch.from_numpy(self.centres_)
        m, k = c.shape
        n_query = max(1, min(m, n_query, int(4e7 // m)))
        idx = torch.from_numpy(np.sort(np.random.default_rng(seed + 1).choice(m, n_query, replace=False)))
        q = c[idx]
        d2 = ((q ** 2).sum(1, keepdim=True) + (c ** 2).sum(1) - 2 * q @ c.T).clamp_min_(0).float()
        d2[torch.arange(n_query), idx] = float("inf")  # leave each item itself out

        def score(log_h):
            lse = torch.logsumexp(d2 * float(-0.5 * math.exp(-2 * log_h)), dim=1).double().mean()
            return float(lse) - math.log(m - 1) - 0.5 * k * (_LOG_2PI + 2 * log_h)

        step = 0.5 * math.log(10)
        grid = math.log(scott) + step * np.arange(-5, 2)
        best = int(np.argmax([score(g) for g in grid]))
        lo, hi = grid[best] - step, grid[best] + step
        ratio = (math.sqrt(5) - 1) / 2
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        fa, fb = score(a), score(b)
        for _ in range(12):
            if fa > fb:
                hi, b, fb = b, a, fa
                a = hi - ratio * (hi - lo)
                fa = score(a)
            else:
                lo, a, fa = a, b, fb
                b = lo + ratio * (hi - lo)
                fb = score(b)
        return float(math.exp((lo + hi) / 2))

    def _base_log_prob(self, y):
        c = torch.from_numpy(self.centres_)
        q = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float64))
        m, k = c.shape
        h2 = self.bandwidth_ ** 2
        c2 = (c ** 2).sum(1)
        chunk = max(1, int(2e7 // m))
        out = []
        for i in range(0, len(q), chunk):
            qi = q[i:i + chunk]
            d2 = ((qi ** 2).sum(1, keepdim=True) + c2 - 2 * qi @ c.T).clamp_min_(0)
            out.append(torch.logsumexp(d2 / (-2 * h2), dim=1))
        lse = torch.cat(out).numpy() if out else np.zeros(0)
        return lse - math.log(m) - 0.5 * k * (_LOG_2PI + math.log(h2))

    def _base_sample(self, n, rng):
        j = rng.integers(0, len(self.centres_), size=n)
        return self.centres_[j] + self.bandwidth_ * rng.standard_normal((n, self.centres_.shape[1]))

    def _base_state(self):
        return {"centres": _t(self.centres_)}, {"bandwidth": self.bandwidth_}

    def _set_base_state(self, tensors, extra):
        self.centres_ = _np(tensors["centres"])
        self.bandwidth_ = float(extra["bandwidth"])
