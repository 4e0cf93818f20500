r"""Gaussian mixture (``gmm``), a classical model (see :mod:`latentspace.models.classical`).

Fitted by EM (:class:`sklearn.mixture.GaussianMixture`):
:math:`p(y) = \sum_{c=1}^C \pi_c\, \mathcal N(y;\, \mu_c,\, \Sigma_c)`.
"""

from __future__ import annotations

import numpy as np

from latentspace.errors import UserError
from latentspace.models.base import register
from latentspace.models.classical import _Classical, _np, _t


@register
class GMM(_Classical):
    """Gaussian mixture fitted by EM (:class:`sklearn.mixture.GaussianMixture`).

    :math:`p(y) = \\sum_c \\pi_c \\mathcal N(y; \\mu_c, \\Sigma_c)`, in model space or, with
    ``pca_components``, in a PCA-whitened subspace with an isotropic Gaussian (ML residual
    variance) on the discarded directions, which keeps ``score_samples`` a proper density in
    data space (see :mod:`latentspace.models.classical`). The likelihood is exact.

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
