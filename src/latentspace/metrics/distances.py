r"""Distances between two distributions of feature vectors: Fréchet distance, KID and MMD.

- :func:`frechet_distance` (FD, the "FID" formula on any features) and
  :func:`kernel_inception_distance` (KID), both computed by torchmetrics
  (:func:`frechet_distance_numpy`: the textbook formula, a reference);
- :func:`mmd_rbf`: the unbiased squared maximum mean discrepancy with a Gaussian kernel.

All are re-exported by :mod:`latentspace.metrics.scores`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import nn

from latentspace.errors import UserError
from latentspace.models.nets import eval_mode
from latentspace.metrics.pairwise import _as_tensor, _blocks, _centred, _check_finite, _pair, _same_dim

#: points the median heuristic of :func:`mmd_rbf` looks at, at most
_MEDIAN_POINTS = 2000


# --------------------------------------------------------------------------- FD and KID


class _Identity(nn.Module):
    """The features themselves, as ``dtype``: a ``feature`` module for torchmetrics."""

    def __init__(self, num_features: int, dtype: torch.dtype = torch.float64):
        super().__init__()
        self.num_features = int(num_features)
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.dtype)


def _feature_inputs(real, fake, features, min_rows: int, why: str, dtype: torch.dtype = torch.float64):
    """Validated inputs and the module that maps them to features (identity as ``dtype`` when None)."""
    if features is None:
        a, b = _pair(real, fake, min_rows, why)
        return a, b, _Identity(a.shape[1], dtype).eval()
    if not isinstance(features, nn.Module):
        raise UserError(f"features must be None (inputs are features) or a torch.nn.Module, "
                        f"got {type(features).__name__}")
    num = getattr(features, "num_features", None)
    if isinstance(num, torch.Tensor) and num.numel() == 1:
        num = int(num.item())
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 1:
        raise UserError(f"the features module needs an int attribute num_features (its output size), got {num!r}; "
                        "set module.num_features = d")
    a, b = _as_tensor(real, "real"), _as_tensor(fake, "fake")
    for t, name in ((a, "real"), (b, "fake")):
        if t.ndim < 1 or len(t) < min_rows:
            raise UserError(f"{name} has {len(t) if t.ndim else 0} items but needs at least {min_rows}{why}; "
                            "pass more items")
        _check_finite(t, name)
    _same_dim(a, b, "real", "fake")
    dtype = next((p.dtype for p in features.parameters()), torch.float32)
    return a.to(dtype), b.to(dtype), features


def _accumulate(metric, module: nn.Module, real: torch.Tensor, fake: torch.Tensor, batch_size: int) -> None:
    """Feed both sets through ``metric.update`` in batches, with ``module`` in eval mode and no grad."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise UserError(f"batch_size must be a positive integer, got {batch_size!r}")
    device = next((p.device for p in module.parameters()), torch.device("cpu"))
    metric.to(device)
    with torch.no_grad(), eval_mode(module):
        for items, is_real in ((real, True), (fake, False)):
            for start in range(0, len(items), batch_size):
                metric.update(items[start:start + batch_size].to(device), real=is_real)


def frechet_distance(real, fake, features: nn.Module | None = None, batch_size: int = 512) -> float:
    r"""Fréchet distance between Gaussians fitted to two sets of features, by torchmetrics.

    :math:`\|\mu_r - \mu_f\|^2 + \mathrm{tr}(\Sigma_r + \Sigma_f - 2 (\Sigma_r \Sigma_f)^{1/2})`, the
    FID formula (Heusel et al. 2017) on any features, with means and covariances accumulated in
    float64 by :class:`torchmetrics.image.fid.FrechetInceptionDistance`.

    Parameters
    ----------
    real, fake : array or tensor
        Feature vectors of shape (n, d) (at least 2 rows each); with ``features``, raw items of
        shape (n, \*item shape) that ``features`` maps to feature vectors.
    features : torch.nn.Module, optional
        A feature extractor with an int attribute ``num_features`` (its output size). It is run
        in eval mode under ``torch.no_grad`` (its training flag is restored afterwards).
    batch_size : int
        Items fed to the metric at a time.

    Returns
    -------
    float
        The Fréchet distance (>= 0 up to rounding; 0 for identical sets).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(500, 4))
    >>> round(frechet_distance(x, x + [1.0, 0.0, 0.0, 0.0]), 6)
    1.0
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    a, b, module = _feature_inputs(real, fake, features, 2, " to estimate a covariance")
    if features is None:  # FD is translation invariant; centring keeps the float64 moment sums well conditioned
        centre = a.mean(0)
        a, b = a - centre, b - centre
    metric = FrechetInceptionDistance(feature=module)
    _accumulate(metric, module, a, b, batch_size)
    return float(metric.compute())


def frechet_distance_numpy(real_feats, fake_feats) -> float:
    """The textbook Fréchet distance with :func:`scipy.linalg.sqrtm` (real part): a reference.

    Parameters
    ----------
    real_feats, fake_feats : array or tensor of shape (n, d)
        Feature vectors, at least 2 rows each.

    Returns
    -------
    float
        The Fréchet distance, computed in float64.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(500, 4))
    >>> round(frechet_distance_numpy(x, x + [0.0, 2.0, 0.0, 0.0]), 6)
    4.0
    """
    from scipy import linalg

    a, b = (t.numpy() for t in _pair(real_feats, fake_feats, 2, " to estimate a covariance"))
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a = np.atleast_2d(np.cov(a, rowvar=False))
    cov_b = np.atleast_2d(np.cov(b, rowvar=False))
    root = linalg.sqrtm(cov_a @ cov_b)
    root = root[0] if isinstance(root, tuple) else root
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(root.real))


def kernel_inception_distance(real, fake, subsets: int = 100, subset_size: int = 1000,
                              features: nn.Module | None = None, seed: int = 0, batch_size: int = 512) -> dict:
    r"""Kernel inception distance (Bińkowski et al. 2018) on any features, by torchmetrics.

    The unbiased squared MMD with the polynomial kernel :math:`(x^\top y / d + 1)^3`, averaged
    over ``subsets`` random subsets of ``subset_size`` items of each set, computed by
    :class:`torchmetrics.image.kid.KernelInceptionDistance` (in float32 when ``features`` is
    None: 5x faster than float64, and within about 1e-5 relative of it). The subsets are drawn
    from torch's generator seeded with ``seed`` inside :func:`torch.random.fork_rng`: the result
    is deterministic and torch's global random state is left untouched. Unlike the Fréchet
    distance, KID depends on where the features' origin lies (the kernel is not translation
    invariant); it is computed on the features as given.

    Parameters
    ----------
    real, fake : array or tensor
        Feature vectors of shape (n, d) (at least 2 rows each), or raw items with ``features``.
    subsets : int
        Number of random subsets.
    subset_size : int
        Items per subset, clipped to the smaller set's size.
    features : torch.nn.Module, optional
        A feature extractor with an int attribute ``num_features``, as for :func:`frechet_distance`.
    seed : int
        Seed of the subset draws.
    batch_size : int
        Items fed to the metric at a time.

    Returns
    -------
    dict
        ``kid_mean`` and ``kid_std`` (floats; the mean and standard deviation over subsets; the
        mean can be slightly negative for sets from one distribution).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> kid = kernel_inception_distance(rng.normal(size=(300, 8)), rng.normal(size=(300, 8)) + 1, subsets=10)
    >>> kid["kid_mean"] > 0.1
    True
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    for value, name in ((subsets, "subsets"), (subset_size, "subset_size")):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise UserError(f"{name} must be a positive integer, got {value!r}")
    if subset_size < 2:
        raise UserError(f"subset_size must be at least 2 for the unbiased estimate, got {subset_size}")
    a, b, module = _feature_inputs(real, fake, features, 2, " for the unbiased estimate", torch.float32)
    size = int(min(subset_size, len(a), len(b)))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = KernelInceptionDistance(feature=module, subsets=int(subsets), subset_size=size)
    _accumulate(metric, module, a, b, batch_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return {"kid_mean": float(mean), "kid_std": float(std)}


# --------------------------------------------------------------------------- MMD


def _median_distance(z: torch.Tensor) -> float:
    """Median pairwise distance among (a seeded subsample of at most ``_MEDIAN_POINTS``) rows of ``z``."""
    if len(z) > _MEDIAN_POINTS:
        pick = np.random.default_rng(0).choice(len(z), _MEDIAN_POINTS, replace=False)
        z = z[torch.as_tensor(np.sort(pick))]
    rows, cols = torch.triu_indices(len(z), len(z), offset=1)
    d2 = torch.cat([d2.flatten() for _, d2 in _blocks(z, z)]).view(len(z), len(z))
    return float(d2[rows, cols].median().sqrt())


def _kernel_sum(a: torch.Tensor, b: torch.Tensor, gamma: float, exclude_self: bool = False) -> float:
    """Sum of :math:`\\exp(-\\gamma \\|a_i - b_j\\|^2)` over all pairs (float64 accumulation)."""
    total = 0.0
    for _, d2 in _blocks(a, b, exclude_self=exclude_self):
        total += float(d2.mul_(-gamma).exp_().sum(1).double().sum())
    return total


def mmd_rbf(x, y, bandwidth: float | None = None) -> float:
    r"""Unbiased estimate of the squared MMD between two sets with a Gaussian (RBF) kernel.

    :math:`\mathrm{MMD}^2_u = \frac{1}{n(n-1)} \sum_{i \ne i'} k(x_i, x_{i'}) + \frac{1}{m(m-1)}
    \sum_{j \ne j'} k(y_j, y_{j'}) - \frac{2}{nm} \sum_{i, j} k(x_i, y_j)` with
    :math:`k(x, y) = \exp(-\|x - y\|^2 / (2 \sigma^2))` (Gretton et al. 2012).

    Parameters
    ----------
    x, y : array or tensor of shape (n, d) and (m, d)
        Feature vectors, at least 2 rows each.
    bandwidth : float, optional
        The kernel width :math:`\sigma`. Default: the median heuristic, the median pairwise
        distance among the pooled points (a fixed-seed subsample of at most 2,000 of them);
        1 if that median is 0.

    Returns
    -------
    float
        The estimate; about 0 (and possibly slightly negative) for sets from one distribution.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> mmd_rbf(rng.normal(size=(400, 3)), rng.normal(size=(400, 3)) + 2) > 0.3
    True
    """
    a, b = _pair(x, y, 2, " for the unbiased estimate", names=("x", "y"))
    if bandwidth is not None and not (isinstance(bandwidth, (int, float)) and 0 < bandwidth < math.inf):
        raise UserError(f"bandwidth must be a positive number or None (median heuristic), got {bandwidth!r}")
    a, b = _centred(a, b)
    sigma = float(bandwidth) if bandwidth is not None else (_median_distance(torch.cat([a, b])) or 1.0)
    gamma = 1.0 / (2.0 * sigma**2)
    n, m = len(a), len(b)
    k_xx = _kernel_sum(a, a, gamma, exclude_self=True) / (n * (n - 1))
    k_yy = _kernel_sum(b, b, gamma, exclude_self=True) / (m * (m - 1))
    k_xy = _kernel_sum(a, b, gamma) / (n * m)
    return float(k_xx + k_yy - 2.0 * k_xy)
