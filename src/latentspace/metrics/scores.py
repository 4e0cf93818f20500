r"""Sample-quality scores: two sets of feature vectors in, plain numbers out.

Each score is a function of a *real* (reference) set and a *fake* (generated) set of feature
vectors, arrays or tensors of shape ``(n, d)``, and can be used on its own:

- :func:`frechet_distance` (FD, the "FID" formula on any features) and
  :func:`kernel_inception_distance` (KID), both computed by torchmetrics;
- :func:`precision_recall` (Kynkäänniemi et al. 2019) and :func:`density_coverage`
  (Naeem et al. 2020): fidelity and diversity from k-nearest-neighbour balls;
- :func:`mmd_rbf`: the unbiased squared maximum mean discrepancy with a Gaussian kernel;
- :func:`classifier_two_sample_test`: held-out accuracy of a classifier telling the sets apart;
- :func:`memorisation`: samples suspiciously close to a training item, against the held-out floor;
- :func:`class_scores`: class coverage, entropy and conditional accuracy of predicted labels.

Nearest-neighbour scores are exact: squared Euclidean distances, computed as
:func:`torch.cdist` does for large inputs (float32, on data centred on the reference set's mean)
in row blocks of at most 2**23 entries, so that 10,000 x 10,000 points never need the full
distance matrix at once; all comparisons are between squared distances computed the same way.
A ball of radius ``r`` around a point is closed: a point at distance exactly ``r`` lies inside.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import nn

from latentspace.errors import UserError

#: entries of one block of pairwise distances (float32): 2**23 is 32 MiB
_BLOCK_ELEMENTS = 2**23
#: points the median heuristic of :func:`mmd_rbf` looks at, at most
_MEDIAN_POINTS = 2000


# --------------------------------------------------------------------------- input checks


def _as_tensor(x, name: str) -> torch.Tensor:
    """``x`` (tensor, array or nested list) as a CPU float64 tensor, or a one-line UserError."""
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
    else:
        try:
            t = torch.as_tensor(np.asarray(x))
        except (TypeError, ValueError, RuntimeError) as err:
            raise UserError(f"{name} must be an array or tensor of numbers, got {type(x).__name__} ({err})") from None
    if t.is_complex() or t.dtype == torch.bool:
        raise UserError(f"{name} must hold real numbers, got dtype {t.dtype}; pass float features")
    return t.to(torch.float64)


def _check_finite(t: torch.Tensor, name: str) -> None:
    bad = ~torch.isfinite(t)
    if bad.any():
        rows = int(bad.reshape(len(t), -1).any(1).sum())
        raise UserError(f"{name} contains NaN or inf in {rows} of {len(t)} rows; drop or fix those rows before scoring")


def _features(x, name: str, min_rows: int = 1, why: str = "") -> torch.Tensor:
    """A validated ``(n, d)`` float64 feature tensor with at least ``min_rows`` rows."""
    t = _as_tensor(x, name)
    if t.ndim != 2 or t.shape[1] == 0:
        raise UserError(f"{name} must be feature vectors of shape (n, d), got shape {tuple(t.shape)}; "
                        "flatten items or pass them through a feature extractor first")
    if len(t) < min_rows:
        raise UserError(f"{name} has {len(t)} rows but needs at least {min_rows}{why}; pass more items")
    _check_finite(t, name)
    return t


def _same_dim(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    if a.shape[1:] != b.shape[1:]:
        raise UserError(f"{name_a} has items of shape {tuple(a.shape[1:])} but {name_b} has {tuple(b.shape[1:])}; "
                        "compute both with the same feature extractor")


def _pair(real, fake, min_rows: int = 1, why: str = "", names=("real", "fake")):
    a = _features(real, names[0], min_rows, why)
    b = _features(fake, names[1], min_rows, why)
    _same_dim(a, b, *names)
    return a, b


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise UserError(f"k must be a positive integer, got {k!r}")
    return int(k)


# --------------------------------------------------------------------------- distances


#: features up to this width get float64 distances
_FLOAT64_MAX_DIM = 16


def _centred(reference: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Copies of all sets centred on ``reference``'s mean (distances unchanged, less cancellation).

    float32, except for low-dimensional features (points): there the squared-distance expansion
    loses tiny distances to cancellation in float32 (neighbours 1e-4 apart in PacGAN's ring
    read as 0), while float64 costs little at that width.
    """
    centre = reference.mean(0)
    dtype = torch.float64 if reference.shape[1] <= _FLOAT64_MAX_DIM else torch.float32
    return [(t - centre).to(dtype) for t in (reference, *others)]


def _blocks(a: torch.Tensor, b: torch.Tensor, exclude_self: bool = False):
    """Yield ``(start, d2)``: squared distances of rows ``start:start + m`` of ``a`` to all rows of ``b``.

    ``|a|^2 + |b|^2 - 2 a.b`` (clamped at 0), the expansion :func:`torch.cdist` uses for large
    inputs, without its square root. With ``exclude_self`` (``a`` is ``b``) each row's distance
    to itself is set to +inf.
    """
    a_sq = (a * a).sum(1, keepdim=True)
    b_sq = (b * b).sum(1)
    step = max(1, _BLOCK_ELEMENTS // max(1, len(b)))
    for start in range(0, len(a), step):
        d2 = torch.addmm(a_sq[start:start + step], a[start:start + step], b.T, alpha=-2.0)
        d2.add_(b_sq).clamp_min_(0.0)
        if exclude_self:
            rows = torch.arange(len(d2))
            d2[rows, rows + start] = math.inf
        yield start, d2


def _knn_radii_sq(x: torch.Tensor, k: int) -> torch.Tensor:
    """Squared distance from each row of ``x`` to its ``k``-th nearest other row of ``x``."""
    radii = torch.empty(len(x), dtype=x.dtype)
    for start, d2 in _blocks(x, x, exclude_self=True):
        radii[start:start + len(d2)] = d2.topk(k, dim=1, largest=False).values[:, -1]
    return radii


def _nearest(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance from each row of ``a`` to its nearest row of ``b``, and that row's index."""
    dist = torch.empty(len(a), dtype=a.dtype)
    index = torch.empty(len(a), dtype=torch.long)
    for start, d2 in _blocks(a, b):
        dist[start:start + len(d2)], index[start:start + len(d2)] = d2.min(1)
    exact = (a.double() - b[index].double()).norm(dim=1)  # the expansion's rounding, removed
    return exact.to(a.dtype), index


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
    was_training = module.training
    module.eval()
    try:
        device = next((p.device for p in module.parameters()), torch.device("cpu"))
        metric.to(device)
        with torch.no_grad():
            for items, is_real in ((real, True), (fake, False)):
                for start in range(0, len(items), batch_size):
                    metric.update(items[start:start + batch_size].to(device), real=is_real)
    finally:
        module.train(was_training)


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


# --------------------------------------------------------------------------- MMD and C2ST


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


def classifier_two_sample_test(real, fake, seed: int = 0, test_fraction: float = 0.3) -> dict:
    """Classifier two-sample test: held-out accuracy of a classifier telling real from fake.

    The larger set is subsampled (seeded) to the size of the smaller one, the pooled points are
    split (stratified, seeded) into training and test parts, standardised with the training
    part's statistics, and a :class:`sklearn.ensemble.HistGradientBoostingClassifier` (100
    rounds, one thread: about 1 s for 2 x 10,000 points of 64 features) learns to tell them
    apart. Accuracy 0.5 means the sets are indistinguishable to it, 1 that they are perfectly
    separable (Lopez-Paz & Oquab 2017).

    Parameters
    ----------
    real, fake : array or tensor of shape (n, d)
        Feature vectors, at least 4 rows each.
    seed : int
        Seed of the subsampling, the split and the classifier.
    test_fraction : float
        Share of the balanced, pooled points held out for the accuracy, in (0, 1).

    Returns
    -------
    dict
        ``c2st_accuracy`` (held-out accuracy, float in [0, 1]; 0.5 is best) and ``c2st_n_test``
        (held-out points it was measured on).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> res = classifier_two_sample_test(rng.normal(size=(500, 2)), rng.normal(size=(500, 2)) + 3)
    >>> res["c2st_accuracy"] > 0.9
    True
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

    a, b = (t.numpy() for t in _pair(real, fake, 4, " to train and test a classifier"))
    if not (isinstance(test_fraction, (int, float)) and 0 < test_fraction < 1):
        raise UserError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
    rng = np.random.default_rng(seed)
    n = min(len(a), len(b))
    a = a[np.sort(rng.choice(len(a), n, replace=False))] if len(a) > n else a
    b = b[np.sort(rng.choice(len(b), n, replace=False))] if len(b) > n else b
    x = np.concatenate([a, b])
    y = np.repeat([0, 1], n)
    n_test = min(max(2, round(2 * n * test_fraction)), 2 * n - 2)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=n_test, stratify=y,
                                                        random_state=int(rng.integers(2**31)))
    scaler = StandardScaler().fit(x_train)
    clf = HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=seed)
    # One OpenMP thread: on a few busy cores, more threads spin-wait and run many times slower.
    with threadpool_limits(limits=1, user_api="openmp"):
        clf.fit(scaler.transform(x_train), y_train)
        accuracy = float((clf.predict(scaler.transform(x_test)) == y_test).mean())
    return {"c2st_accuracy": accuracy, "c2st_n_test": int(len(y_test))}


# --------------------------------------------------------------------------- memorisation, classes


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


def _labels(x, name: str, n_classes: int) -> np.ndarray:
    t = _as_tensor(x, name)
    if t.ndim != 1 or len(t) == 0:
        raise UserError(f"{name} must be a non-empty 1-D array of class labels, got shape {tuple(t.shape)}")
    _check_finite(t, name)
    if not bool((t == t.round()).all()):
        raise UserError(f"{name} must hold integer class labels, got fractional values; pass predicted classes")
    labels = t.long().numpy()
    if labels.min() < 0 or labels.max() >= n_classes:
        raise UserError(f"{name} holds labels in [{labels.min()}, {labels.max()}] outside [0, {n_classes - 1}]; "
                        "check n_classes")
    return labels


def class_scores(predicted, n_classes: int, requested=None, min_share: float = 0.01) -> dict:
    """Class coverage, class-histogram entropy and conditional accuracy of predicted labels.

    Parameters
    ----------
    predicted : array or tensor of int, shape (n,)
        Classes of the samples, as a classifier predicts them.
    n_classes : int
        Number of classes K; labels lie in [0, K).
    requested : array or tensor of int, shape (n,), optional
        Labels a conditional model was asked for.
    min_share : float
        Share of the samples a class needs to count as covered, in (0, 1].

    Returns
    -------
    dict
        ``class_coverage`` (fraction of the K classes holding at least ``min_share`` of the
        samples), ``class_entropy`` (entropy of the class histogram divided by log K: 1 for
        uniform, 0 for one class; 1 when K = 1), ``class_histogram`` (list of K shares summing to
        1) and, with ``requested``, ``conditional_accuracy`` (fraction predicted == requested).

    Examples
    --------
    >>> res = class_scores([0, 1, 2, 3], 4, requested=[0, 1, 2, 0])
    >>> res["class_coverage"], res["class_entropy"], res["conditional_accuracy"]
    (1.0, 1.0, 0.75)
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise UserError(f"n_classes must be a positive integer, got {n_classes!r}")
    if not (isinstance(min_share, (int, float)) and 0 < min_share <= 1):
        raise UserError(f"min_share must be a number in (0, 1], got {min_share!r}")
    labels = _labels(predicted, "predicted", int(n_classes))
    share = np.bincount(labels, minlength=n_classes) / len(labels)
    nz = share[share > 0]
    entropy = float(-(nz * np.log(nz)).sum() / math.log(n_classes)) if n_classes > 1 else 1.0
    out = {"class_coverage": float((share >= min_share).mean()), "class_entropy": min(1.0, max(0.0, entropy)),
           "class_histogram": [float(p) for p in share]}
    if requested is not None:
        wanted = _labels(requested, "requested", int(n_classes))
        if len(wanted) != len(labels):
            raise UserError(f"requested has {len(wanted)} labels but predicted has {len(labels)}; "
                            "pass one requested label per sample")
        out["conditional_accuracy"] = float((labels == wanted).mean())
    return out
