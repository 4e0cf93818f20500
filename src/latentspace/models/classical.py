r"""Classical generative models on scikit-learn: ``kde``, ``gmm`` and ``ppca``.

All three are fitted in *model space* (``data.x`` flattened to ``(n, d)``) and have an exact
likelihood. ``score_samples`` takes *data-space* items and returns the log-density in nats
of the data-space distribution, i.e. the model-space log-density plus the log-Jacobian of
the affine map ``model = (data - shift) / scale``:

.. math::

    \log p_{\text{data}}(x) = \log p_{\text{model}}\big((x - t)/s\big) - \textstyle\sum_i \log |s_i| .

Samples are mapped back with ``info.to_data`` and clipped to the data's range where it has
one (pixels); the density is that of the unclipped model.

Densities (``y`` is the space the model is fitted in, see *subspace* below):

- **kde** -- Gaussian kernel density estimate with ``m`` centres :math:`y_j` and bandwidth
  :math:`h`: :math:`p(y) = \frac1m \sum_{j=1}^m \mathcal N(y;\, y_j,\, h^2 I)`.
  ``"scott"``: :math:`h = \bar\sigma\, m^{-1/(k+4)}`; ``"silverman"``:
  :math:`h = \bar\sigma\, (m (k+2)/4)^{-1/(k+4)}`, with :math:`\bar\sigma^2` the mean
  per-feature variance of the centres (``ddof=1``) and ``k`` their dimension (in 1-D this is
  exactly :class:`scipy.stats.gaussian_kde`); ``"cv"``: the :math:`h` of highest
  leave-one-out likelihood, searched around Scott's. The rules of thumb assume one
  roughly Gaussian bump and over-smooth multimodal data such as ``grid25``; use ``"cv"``
  there.
- **gmm** -- Gaussian mixture fitted by EM (:class:`sklearn.mixture.GaussianMixture`):
  :math:`p(y) = \sum_{c=1}^C \pi_c\, \mathcal N(y;\, \mu_c,\, \Sigma_c)`.
- **ppca** -- probabilistic PCA (Tipping & Bishop, 1999): :math:`x = W z + \mu + \varepsilon`,
  :math:`z \sim \mathcal N(0, I_k)`, :math:`\varepsilon \sim \mathcal N(0, \sigma^2 I_d)`, so
  :math:`p(x) = \mathcal N(x;\, \mu,\, W W^\top + \sigma^2 I)`. Maximum likelihood gives
  :math:`W = U_k (\Lambda_k - \sigma^2 I)^{1/2}` and
  :math:`\sigma^2 = \frac1{d-k}\sum_{i>k} \lambda_i` from the eigen-decomposition
  :math:`U \Lambda U^\top` of the data covariance.

**Subspace.** For high-dimensional data (images) ``kde`` and ``gmm`` may be fitted in a
PCA-whitened ``k``-dimensional subspace (``pca_components``). To keep a proper density in
the full space, the discarded directions get an isotropic Gaussian with the ML residual
variance, exactly as in PPCA. With :math:`\tilde x = x - \mu`,
:math:`z = \Lambda_k^{-1/2} U_k^\top \tilde x` and :math:`r = (I - U_k U_k^\top)\tilde x`:

.. math::

    \log p(x) = \log p_Z(z) - \tfrac12 \textstyle\sum_{i\le k} \log\lambda_i
                - \tfrac{d-k}{2}\log(2\pi\sigma^2) - \frac{\lVert r\rVert^2}{2\sigma^2},

and PPCA is the special case :math:`p_Z = \mathcal N(0, I_k)`. Eigenvalues and
:math:`\sigma^2` are floored at ``1e-6`` times the mean per-feature variance so that
degenerate data (e.g. pixels that are always black) still gives a finite density.

Fitted models are saved without pickle: all arrays go to safetensors (float64), the rest
to JSON, and loading rebuilds the same objects, so samples and scores are reproduced exactly.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from latentspace.data.dataset import Dataset
from latentspace.errors import UserError
from latentspace.models.base import GenerativeModel, register

_VAR_FLOOR = 1e-6  # relative to the mean per-feature variance
_LOG_2PI = math.log(2 * math.pi)


# -- parameter parsing (values may arrive as strings from ``--set key=value``) -------------------
def _parse_pca(value):
    """``pca_components``: ``"auto"``, ``None`` (no PCA) or a positive int."""
    if value is None or value == "auto":
        return value
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("none", "null", "off", "0", ""):
            return None
        if v == "auto":
            return "auto"
        try:
            value = float(v)
        except ValueError:
            raise UserError("pca_components must be 'auto', 'none' or a positive integer, "
                            f"got {v!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer() \
            or value < 0:
        raise UserError(f"pca_components must be 'auto', 'none' or a positive integer, got {value!r}")
    return int(value) or None  # 0 means no PCA


def _parse_bandwidth(value):
    """``bandwidth``: ``"scott"``, ``"silverman"``, ``"cv"`` or a positive float."""
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("scott", "silverman", "cv"):
            return v
        try:
            value = float(v)
        except ValueError:
            raise UserError(f"bandwidth must be 'scott', 'silverman', 'cv' or a positive number, "
                            f"got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value <= 0:
        raise UserError(f"bandwidth must be 'scott', 'silverman', 'cv' or a positive number, got {value!r}")
    return float(value)


def _t(a) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float64)


# -- the PCA subspace with an isotropic Gaussian on the discarded directions ----------------------
class _Subspace:
    """``x = mean + U^T (sqrt(var) * z) + r``, ``r`` isotropic with ``noise`` variance off the subspace."""

    def __init__(self, mean, components, variances, noise):
        self.mean = mean              # (d,)
        self.components = components  # (k, d), orthonormal rows
        self.variances = variances    # (k,)
        self.noise = float(noise)     # sigma^2 of the d - k discarded directions

    @property
    def dim(self) -> int:
        return self.components.shape[1]

    @property
    def k(self) -> int:
        return self.components.shape[0]

    @classmethod
    def fit(cls, x: np.ndarray, k: int, seed: int) -> "_Subspace":
        from sklearn.decomposition import PCA

        n, d = x.shape
        k = max(1, min(int(k), d, n))
        pca = PCA(n_components=k, random_state=seed).fit(x)
        mean = pca.mean_.astype(np.float64)
        u = pca.components_.astype(np.float64)
        xc = x - mean
        variances = (xc @ u.T).var(axis=0)            # ML variances along the components
        total = float((xc ** 2).sum(axis=1).mean())   # trace of the ML covariance
        floor = max(_VAR_FLOOR * total / d, 1e-12)
        noise = (total - variances.sum()) / (d - k) if d > k else floor
        return cls(mean, u, np.maximum(variances, floor), max(noise, floor))

    def project(self, x):
        """(whitened coordinates z, log-density of the discarded part + whitening Jacobian)."""
        xc = x - self.mean
        proj = xc @ self.components.T
        z = proj / np.sqrt(self.variances)
        extra = np.full(len(x), -0.5 * np.log(self.variances).sum())
        if self.dim > self.k:
            r = xc - proj @ self.components
            extra += -0.5 * (self.dim - self.k) * (_LOG_2PI + math.log(self.noise)) \
                - 0.5 * (r ** 2).sum(axis=1) / self.noise
        return z, extra

    def reconstruct(self, z, rng):
        """Map whitened coordinates back, adding isotropic noise off the subspace."""
        x = self.mean + (z * np.sqrt(self.variances)) @ self.components
        if self.dim > self.k:
            eps = rng.standard_normal((len(z), self.dim)) * math.sqrt(self.noise)
            x += eps - (eps @ self.components.T) @ self.components
        return x

    def state(self, prefix: str = "pca."):
        tensors = {prefix + "mean": _t(self.mean), prefix + "components": _t(self.components),
                   prefix + "variances": _t(self.variances),
                   prefix + "noise_variance": _t(np.array(self.noise))}
        return tensors

    @classmethod
    def from_state(cls, tensors, prefix: str = "pca.") -> "_Subspace":
        return cls(_np(tensors[prefix + "mean"]), _np(tensors[prefix + "components"]),
                   _np(tensors[prefix + "variances"]), float(tensors[prefix + "noise_variance"]))


# -- shared machinery --------------------------------------------------------------------------------
class _Classical(GenerativeModel):
    """Fit/sample/score/save plumbing; subclasses supply a density on the fitted space."""

    likelihood_kind = "exact"
    _score_batch = 4096

    def set_params(self, **params):
        super().set_params(**params)
        if "pca_components" in params:
            self.pca_components = _parse_pca(self.pca_components)
        if "bandwidth" in params:
            self.bandwidth = _parse_bandwidth(self.bandwidth)
        return self

    # subclass hooks (y: (n, k) float64 in the fitted space) ----------------------------------------
    def _fit_base(self, y: np.ndarray, seed: int) -> None:
        raise NotImplementedError

    def _base_log_prob(self, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _base_sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _base_state(self) -> tuple[dict, dict]:
        raise NotImplementedError

    def _set_base_state(self, tensors: dict, extra: dict) -> None:
        raise NotImplementedError

    def _subspace_size(self, info, n: int) -> int | None:
        """Number of PCA components to fit in, or None to fit in model space."""
        k = _parse_pca(self.pca_components)
        if k == "auto":
            k = None if info.modality == "points" else min(64, info.dim // 2)
        if k is not None and k >= info.dim:
            k = None  # the whole space: nothing to discard
        return k

    # the API ------------------------------------------------------------------------------------------
    def fit(self, data: Dataset, *, seed: int = 0, out=None, overwrite: bool = False, **options):
        """Fit to ``data`` (a :class:`~latentspace.data.Dataset`) in one go.

        Parameters
        ----------
        data : Dataset
        seed : int
            Seeds PCA, initialisation and subsampling; the fit is deterministic for a seed.
        out : path, optional
            Run folder: ``config.json``, the model in ``out/model`` and a picture of samples
            (like the training engine does for neural models).
        overwrite : bool
            Replace a run already in ``out``.
        **options
            Training-engine options (``steps``, ``batch_size``, ``progress``, ...) are accepted
            and ignored: these models are fitted in closed form or by EM.
        """
        if not isinstance(data, Dataset):
            raise UserError("fit expects a latentspace Dataset (see latentspace.data.load), "
                            f"got {type(data).__name__}")
        if len(data) < 2:
            raise UserError(f"{self.name} needs at least 2 items to fit, got {len(data)}")
        seed = 0 if seed is None else int(seed)
        if out is not None:
            from latentspace.train import run as runfolder

            runfolder.prepare(out, resume=False, overwrite=overwrite)
        x = data.x.reshape(len(data), -1).double().numpy()
        k = self._subspace_size(data.info, len(x))
        self.pca_ = _Subspace.fit(x, k, seed) if k is not None else None
        y = self.pca_.project(x)[0] if self.pca_ is not None else x
        self._fit_base(y, seed)
        self.info_ = data.info
        if out is not None:
            from latentspace.train import run as runfolder

            runfolder.write_run(self, data, out, {"seed": seed})
        return self

    def _model_space_sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        y = self._base_sample(n, rng)
        return self.pca_.reconstruct(y, rng) if self.pca_ is not None else y

    def sample(self, n: int, *, seed: int | None = None, **cond) -> torch.Tensor:
        """``n`` items in data space, float32 ``(n, *shape)``; the same ``seed`` gives the same items."""
        self._check_fitted()
        n = self._check_n(n)
        if cond:
            raise UserError(f"{self.name!r} is unconditional; it takes no {', '.join(sorted(cond))}")
        rng = np.random.default_rng(seed)
        x = self._model_space_sample(n, rng)
        x = torch.from_numpy(x).float().reshape(n, *self.info_.shape)
        return self.info_.to_data(x)

    def _model_space_log_prob(self, x: np.ndarray) -> np.ndarray:
        if self.pca_ is None:
            return self._base_log_prob(x)
        z, extra = self.pca_.project(x)
        return self._base_log_prob(z) + extra

    def score_samples(self, x) -> torch.Tensor:
        """Exact log-density (nats, float64) of data-space items ``x`` of shape ``(n, *shape)``."""
        xm = self._as_model_space(x)
        xm = xm.reshape(len(xm), -1).double().numpy()
        out = np.concatenate([self._model_space_log_prob(xm[i:i + self._score_batch])
                              for i in range(0, len(xm), self._score_batch)]) if len(xm) else np.zeros(0)
        return torch.from_numpy(out + self._log_det_to_data())

    # persistence --------------------------------------------------------------------------------------
    def _get_state(self):
        tensors, extra = self._base_state()
        if self.pca_ is not None:
            tensors.update(self.pca_.state())
        extra["pca"] = self.pca_ is not None
        return tensors, extra

    def _set_state(self, tensors, extra):
        self.pca_ = _Subspace.from_state(tensors) if extra.get("pca") else None
        self._set_base_state(tensors, extra)


@register
class KDE(_Classical):
    """Gaussian kernel density estimate.

    :math:`p(y) = \\frac1m \\sum_j \\mathcal N(y; y_j, h^2 I)` over ``m`` kernel centres, in
    model space or, with ``pca_components``, in a PCA-whitened subspace with an isotropic
    Gaussian (ML residual variance) on the discarded directions, which keeps ``score_samples``
    a proper density in data space (see the module docstring). The likelihood is exact.

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


@register
class GMM(_Classical):
    """Gaussian mixture fitted by EM (:class:`sklearn.mixture.GaussianMixture`).

    :math:`p(y) = \\sum_c \\pi_c \\mathcal N(y; \\mu_c, \\Sigma_c)`, in model space or, with
    ``pca_components``, in a PCA-whitened subspace with an isotropic Gaussian (ML residual
    variance) on the discarded directions, which keeps ``score_samples`` a proper density in
    data space (see the module docstring). The likelihood is exact.

    Parameters
    ----------
    n_components : int
        Number of mixture components. The default 25 recovers all modes of ``grid25``.
    covariance_type : {"full", "diag", "spherical", "tied"}
    pca_components : int, "auto" or None
        Fit in a whitened subspace of this many components. ``"auto"``: none for points,
        ``min(64, dim // 2)`` for images and other high-dimensional modalities.
    max_iter : int
        EM iterations per initialisation.
    n_init : int
        Initialisations; the best (highest likelihood) is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}
        How the responsibilities are initialised.
    reg_covar : float
        Added to the covariance diagonals (in the fitted space's units).

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("grid25", n=5000, n_test=500)
    >>> gmm = ls.models.create("gmm").fit(data)
    >>> gmm.sample(4, seed=1).shape
    torch.Size([4, 2])
    """

    name = "gmm"
    choices = {"covariance_type": ("full", "diag", "spherical", "tied"),
               "init_params": ("kmeans", "k-means++", "random", "random_from_data")}

    def __init__(self, n_components: int = 25, covariance_type: str = "full", pca_components="auto",
                 max_iter: int = 200, n_init: int = 1, init_params: str = "kmeans", reg_covar: float = 1e-6):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.pca_components = pca_components
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.reg_covar = reg_covar

    def _fit_base(self, y, seed):
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture

        for key in ("covariance_type", "init_params"):
            if getattr(self, key) not in self.choices[key]:
                raise UserError(f"parameter {key!r} of 'gmm' must be one of {list(self.choices[key])}, "
                                f"got {getattr(self, key)!r}")
        if not 1 <= int(self.n_components) <= len(y):
            raise UserError(f"n_components must lie in 1..{len(y)} (the number of items), "
                            f"got {self.n_components}")
        gm = GaussianMixture(n_components=int(self.n_components), covariance_type=self.covariance_type,
                             max_iter=int(self.max_iter), n_init=int(self.n_init),
                             init_params=self.init_params, reg_covar=float(self.reg_covar), random_state=seed)
        # EM's matrix products are small (one k x k covariance per component): single-threaded
        # BLAS loses little on an idle machine, and threaded BLAS on a busy one (other jobs,
        # several processes) was measured 10-100x slower. scikit-learn's KMeans does the same.
        from threadpoolctl import threadpool_limits

        with warnings.catch_warnings(record=True) as caught, threadpool_limits(limits=1, user_api="blas"):
            warnings.simplefilter("always", ConvergenceWarning)
            gm.fit(y)
        self.converged_ = bool(gm.converged_)
        for w in caught:  # pass on anything but scikit-learn's convergence warning, reworded below
            if not issubclass(w.category, ConvergenceWarning):
                warnings.warn(w.message, w.category, stacklevel=3)
        if not self.converged_:
            warnings.warn(f"gmm: EM did not converge in max_iter={self.max_iter} iterations; "
                          "raise max_iter (--set max_iter=...)", stacklevel=3)
        self.gmm_ = gm
        self._prepare_sampler()

    def _prepare_sampler(self):
        gm = self.gmm_
        k = gm.means_.shape[1]
        cov = gm.covariances_
        if self.covariance_type == "full":
            self.chol_ = np.linalg.cholesky(cov)
        elif self.covariance_type == "tied":
            self.chol_ = np.broadcast_to(np.linalg.cholesky(cov), (gm.n_components, k, k))
        elif self.covariance_type == "diag":
            self.chol_ = np.sqrt(cov)[:, None, :] * np.eye(k)
        else:  # spherical
            self.chol_ = np.sqrt(cov)[:, None, None] * np.eye(k)

    def _base_log_prob(self, y):
        return self.gmm_.score_samples(y)

    def _base_sample(self, n, rng):
        gm = self.gmm_
        w = gm.weights_ / gm.weights_.sum()
        comp = rng.choice(len(w), size=n, p=w)
        eps = rng.standard_normal((n, gm.means_.shape[1]))
        out = np.empty_like(eps)
        for c in np.unique(comp):
            idx = comp == c
            out[idx] = gm.means_[c] + eps[idx] @ self.chol_[c].T
        return out

    def _base_state(self):
        gm = self.gmm_
        tensors = {"weights": _t(gm.weights_), "means": _t(gm.means_), "covariances": _t(gm.covariances_),
                   "precisions_cholesky": _t(gm.precisions_cholesky_)}
        return tensors, {"covariance_type": self.covariance_type, "converged": self.converged_}

    def _set_base_state(self, tensors, extra):
        from sklearn.mixture import GaussianMixture

        means = _np(tensors["means"])
        gm = GaussianMixture(n_components=len(means), covariance_type=extra["covariance_type"])
        gm.weights_ = _np(tensors["weights"])
        gm.means_ = means
        gm.covariances_ = _np(tensors["covariances"])
        gm.precisions_cholesky_ = _np(tensors["precisions_cholesky"])
        pc = gm.precisions_cholesky_
        if gm.covariance_type == "full":
            gm.precisions_ = pc @ np.transpose(pc, (0, 2, 1))
        elif gm.covariance_type == "tied":
            gm.precisions_ = pc @ pc.T
        else:
            gm.precisions_ = pc ** 2
        gm.n_features_in_ = means.shape[1]
        gm.converged_ = bool(extra.get("converged", True))
        self.covariance_type = gm.covariance_type
        self.converged_ = gm.converged_
        self.gmm_ = gm
        self._prepare_sampler()


@register
class PPCA(_Classical):
    """Probabilistic PCA (Tipping & Bishop, 1999), fitted by maximum likelihood via PCA.

    :math:`x = W z + \\mu + \\varepsilon` with :math:`z \\sim \\mathcal N(0, I_k)` and
    :math:`\\varepsilon \\sim \\mathcal N(0, \\sigma^2 I)`, so
    :math:`p(x) = \\mathcal N(\\mu, W W^\\top + \\sigma^2 I)`; the ML solution is
    :math:`W = U_k(\\Lambda_k - \\sigma^2 I)^{1/2}` and :math:`\\sigma^2` the mean discarded
    eigenvalue. The likelihood is exact. ``encode`` gives the posterior mean
    :math:`E[z|x] = M^{-1} W^\\top (x - \\mu)`, :math:`M = W^\\top W + \\sigma^2 I`;
    ``decode`` gives :math:`W z + \\mu` (both with data-space items).

    Parameters
    ----------
    n_components : int
        Latent dimension ``k``, capped at ``dim - 1`` (and at the number of items).

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("digits")
    >>> ppca = ls.models.create("ppca", n_components=16).fit(data)
    >>> ppca.sample(3, seed=0).shape
    torch.Size([3, 1, 8, 8])
    >>> ppca.encode(data.test.to_data()[:3]).shape
    torch.Size([3, 16])
    """

    name = "ppca"

    def __init__(self, n_components: int = 32):
        self.n_components = n_components

    def _subspace_size(self, info, n):
        if int(self.n_components) < 1:
            raise UserError(f"n_components must be a positive integer, got {self.n_components}")
        if info.dim < 2:
            raise UserError("ppca needs items with at least 2 features")
        return min(int(self.n_components), info.dim - 1)

    def _fit_base(self, y, seed):
        # z = whitened PCA coordinates; their density is N(0, I) (see the module docstring).
        # Keep the ML solution valid (lambda_i >= sigma^2) even for an approximate PCA.
        self.pca_.variances = np.maximum(self.pca_.variances, self.pca_.noise)

    @property
    def components_(self) -> np.ndarray:
        """``W`` of shape ``(d, k)`` in model space."""
        s = self.pca_
        return s.components.T * np.sqrt(np.maximum(s.variances - s.noise, 0.0))

    @property
    def noise_variance_(self) -> float:
        return self.pca_.noise

    def _base_log_prob(self, z):
        return -0.5 * (z ** 2).sum(axis=1) - 0.5 * z.shape[1] * _LOG_2PI

    def _model_space_sample(self, n, rng):
        w, s = self.components_, self.pca_
        z = rng.standard_normal((n, w.shape[1]))
        eps = rng.standard_normal((n, w.shape[0])) * math.sqrt(s.noise)
        return z @ w.T + s.mean + eps

    def encode(self, x) -> torch.Tensor:
        """Posterior mean of ``z`` given data-space items, float32 ``(n, k)``."""
        xm = self._as_model_space(x)
        xm = xm.reshape(len(xm), -1).double().numpy()
        w = self.components_
        m = w.T @ w + self.pca_.noise * np.eye(w.shape[1])
        z = np.linalg.solve(m, w.T @ (xm - self.pca_.mean).T).T
        return torch.from_numpy(z).float()

    def decode(self, z) -> torch.Tensor:
        """Mean of ``p(x|z)``, ``W z + mu``, as data-space items."""
        self._check_fitted()
        z = np.asarray(z.detach().cpu() if isinstance(z, torch.Tensor) else z, dtype=np.float64)
        k = self.pca_.k
        if z.ndim != 2 or z.shape[1] != k:
            raise UserError(f"latent codes must have shape (n, {k}), got {tuple(z.shape)}")
        x = z @ self.components_.T + self.pca_.mean
        return self.info_.to_data(torch.from_numpy(x).float().reshape(len(z), *self.info_.shape))

    def _base_state(self):
        return {}, {}

    def _set_base_state(self, tensors, extra):
        pass
