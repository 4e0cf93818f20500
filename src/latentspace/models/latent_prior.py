r"""A mixture prior fitted to a trained VAE's aggregate posterior (ex-post density estimation).

A VAE is trained with :math:`p(z) = \mathcal N(0, I)`, but the codes its encoder gives the
training items, the aggregate posterior :math:`q_\phi(z) = \frac1N \sum_n q_\phi(z|x_n)`, do not
fill that ball: prior draws fall in holes the decoder never learnt, and decode to blurred
blends. After training we fit, by EM, a Gaussian mixture

.. math::
    p_\psi(z) = \sum_{c=1}^{C} \pi_c\, \mathcal N(z;\, m_c,\, L_c L_c^\top)

to one draw :math:`z_n \sim q_\phi(z|x_n)` per training item, and use it in place of
:math:`\mathcal N(0, I)` wherever the prior appears after training: ``sample`` decodes
:math:`z \sim p_\psi`, and the likelihood estimate becomes

.. math::
    \log p(x) \approx \log \frac1K \sum_{i=1}^{K} \frac{p_\theta(x|z_i)\, p_\psi(z_i)}{q_\phi(z_i|x)},

the importance-sampled marginal likelihood of the model :math:`p_\psi(z)\,p_\theta(x|z)`, which
is a proper density like the first. (Ghosh et al. 2020, "From variational to deterministic
autoencoders": ex-post density estimation; Dai & Wipf 2019, the two-stage VAE; Tomczak &
Welling 2018: the aggregate posterior is the prior that maximises the ELBO.)

Fitting draws, not posterior means, matters: along the units the VAE switched off,
:math:`q(z|x) \approx \mathcal N(0, 1)` for every item, so the means have almost no spread there
and a mixture fitted to them is a needle where q puts its mass. Measured on MNIST (the CPU
defaults, 24,000 steps), held-out NLL with k = 1000 on 500 test digits: N(0, I) 86.40 nats;
a 20-component mixture fitted to the means 5,195 nats; fitted to draws 84.70 nats, and FD
0.62 against 3.95 (10,000 samples, our domain features).
"""

from __future__ import annotations

import math
import warnings

import torch

LOG_2PI = math.log(2 * math.pi)


class MixturePrior:
    """A full-covariance Gaussian mixture over latent codes, kept as tensors.

    Parameters
    ----------
    weights : tensor (C,)
        Mixing proportions :math:`\\pi_c` (summing to one).
    means : tensor (C, d)
        Component means :math:`m_c`.
    scale_tril : tensor (C, d, d)
        Lower Cholesky factors :math:`L_c` of the component covariances.

    Examples
    --------
    >>> import torch
    >>> z = torch.randn(2000, 3, generator=torch.Generator().manual_seed(0))
    >>> prior = MixturePrior.fit(z, components=2, seed=0)
    >>> prior.sample(5, seed=1).shape, prior.log_prob(z[:4]).shape
    (torch.Size([5, 3]), torch.Size([4]))
    """

    def __init__(self, weights: torch.Tensor, means: torch.Tensor, scale_tril: torch.Tensor):
        self.weights = weights
        self.means = means
        self.scale_tril = scale_tril

    @classmethod
    def fit(cls, z: torch.Tensor, components: int, seed: int = 0) -> "MixturePrior":
        """EM (:class:`sklearn.mixture.GaussianMixture`, k-means start) on codes ``z`` (n, d)."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture
        from threadpoolctl import threadpool_limits

        components = max(1, min(int(components), len(z)))
        gm = GaussianMixture(components, covariance_type="full", max_iter=200, reg_covar=1e-5, random_state=seed)
        # EM's products are small (d x d per component); threaded BLAS only slows them (see models/gmm.py)
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            warnings.simplefilter("ignore", ConvergenceWarning)  # a prior short of convergence is still a density
            gm.fit(z.double().cpu().numpy())
        cov = torch.as_tensor(gm.covariances_, dtype=torch.float64)
        return cls(torch.as_tensor(gm.weights_, dtype=torch.float32), torch.as_tensor(gm.means_, dtype=torch.float32),
                   torch.linalg.cholesky(cov).float())

    @property
    def components(self) -> int:
        return len(self.weights)

    def to(self, device) -> "MixturePrior":
        return MixturePrior(self.weights.to(device), self.means.to(device), self.scale_tril.to(device))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """:math:`\\log p_\\psi(z)` for codes ``z`` (..., d); returns (...)."""
        shape, d = z.shape[:-1], z.shape[-1]
        flat = z.reshape(-1, d)
        diff = (flat[None] - self.means[:, None]).transpose(1, 2)                         # (C, d, m)
        white = torch.linalg.solve_triangular(self.scale_tril, diff, upper=False)          # L_c^-1 (z - m_c)
        log_det = torch.log(torch.diagonal(self.scale_tril, dim1=1, dim2=2)).sum(1)        # log |L_c|
        log_n = -0.5 * (d * LOG_2PI + (white ** 2).sum(1)) - log_det[:, None]               # (C, m)
        return torch.logsumexp(torch.log(self.weights)[:, None] + log_n, 0).reshape(shape)

    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """``n`` codes drawn on the CPU from ``seed`` (device-independent), on the prior's device."""
        g = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        weights, means, tril = self.weights.cpu(), self.means.cpu(), self.scale_tril.cpu()
        c = torch.multinomial(weights, n, replacement=True, generator=g)
        eps = torch.randn(n, means.shape[1], generator=g)
        z = means[c] + (tril[c] @ eps[:, :, None])[:, :, 0]
        return z.to(self.means.device)

    def state(self) -> dict:
        return {"weights": self.weights.cpu(), "means": self.means.cpu(), "scale_tril": self.scale_tril.cpu()}

    @classmethod
    def from_state(cls, state: dict | None) -> "MixturePrior | None":
        if not state:
            return None
        return cls(state["weights"].float(), state["means"].float(), state["scale_tril"].float())
