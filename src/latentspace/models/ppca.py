r"""Probabilistic PCA (``ppca``; Tipping & Bishop, 1999), a classical model (see :mod:`latentspace.models.classical`).

:math:`x = W z + \mu + \varepsilon`, :math:`z \sim \mathcal N(0, I_k)`,
:math:`\varepsilon \sim \mathcal N(0, \sigma^2 I_d)`, so
:math:`p(x) = \mathcal N(x;\, \mu,\, W W^\top + \sigma^2 I)`. Maximum likelihood gives
:math:`W = U_k (\Lambda_k - \sigma^2 I)^{1/2}` and
:math:`\sigma^2 = \frac1{d-k}\sum_{i>k} \lambda_i` from the eigen-decomposition
:math:`U \Lambda U^\top` of the data covariance: the PCA subspace of
:mod:`latentspace.models.classical` with a standard normal density on it.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from latentspace.errors import UserError
from latentspace.models.base import register
from latentspace.models.classical import _LOG_2PI, _Classical


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
    encodes = True
    latent = "continuous"
    inversion = "exact"

    def __init__(self, n_components: int = 32):
        self.n_components = n_components

    def _subspace_size(self, info, n):
        if int(self.n_components) < 1:
            raise UserError(f"n_components must be a positive integer, got {self.n_components}")
        if info.dim < 2:
            raise UserError("ppca needs items with at least 2 features")
        return min(int(self.n_components), info.dim - 1)

    def _fit_base(self, y, seed):
        # z = whitened PCA coordinates; their density is N(0, I) (see latentspace.models.classical).
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

    def latent_width(self) -> int | None:
        return self.pca_.k if self.pca_ is not None else None

    def invert_exact(self, xm, mask, prior_weight):
        """The exact minimiser for the linear decoder: a ridge regression on the visible features."""
        w = torch.from_numpy(self.components_)                      # (D, k) model space
        mu = torch.from_numpy(self.pca_.mean)
        x = xm.reshape(len(xm), -1).double() - mu
        mk = mask.reshape(len(mask), -1).double()
        k = w.shape[1]
        jitter = 1e-10 * float((w ** 2).sum(0).max().clamp_min(1e-30))
        eye = torch.eye(k, dtype=torch.float64) * (prior_weight + jitter)
        out = []
        chunk = max(1, 2 ** 24 // max(1, w.numel()))
        for i in range(0, len(x), chunk):
            mi, xi = mk[i:i + chunk], x[i:i + chunk]
            a = torch.einsum("nd,dk,dj->nkj", mi, w, w) + eye
            b = torch.einsum("nd,dk->nk", mi * xi, w)
            out.append(torch.linalg.solve(a, b))
        return torch.cat(out).float()

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
        z = self._as_codes(z, self.pca_.k, torch.float64).numpy()
        x = z @ self.components_.T + self.pca_.mean
        return self.info_.to_data(torch.from_numpy(x).float().reshape(len(z), *self.info_.shape))

    def _base_state(self):
        return {}, {}

    def _set_base_state(self, tensors, extra):
        pass
