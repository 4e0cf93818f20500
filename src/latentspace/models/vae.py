r"""Variational autoencoders (Kingma & Welling 2014; Rezende et al. 2014).

An encoder gives a diagonal Gaussian :math:`q_\phi(z|x) = \mathcal N(\mu_\phi(x), \sigma^2_\phi(x))`,
a decoder a likelihood :math:`p_\theta(x|z)`, and the prior is :math:`p(z) = \mathcal N(0, I)`.
Training maximises the evidence lower bound (ELBO) with the reparameterisation
:math:`z = \mu + \sigma \odot \epsilon`:

.. math::
    \log p(x) \ge \mathcal L(x) = \mathbb E_{q(z|x)}[\log p_\theta(x|z)]
    - \mathrm{KL}(q_\phi(z|x) \,\|\, p(z))

whose two terms, reconstruction and KL, are logged separately (``rec`` is
:math:`-\mathbb E_q \log p(x|z)` and ``kl`` the KL, both in nats per item).

Likelihoods (``likelihood``): ``bernoulli`` over pixel intensities in [0, 1] (the default for
images; exact for binary data, a bound on the continuous-valued cross-entropy otherwise), and
``gaussian`` with a learned per-feature variance (the default for points).

``score_samples`` estimates :math:`\log p(x)` by importance sampling with ``k`` draws from
:math:`q(z|x)` (Burda et al. 2016):

.. math::
    \log p(x) \approx \log \frac1k \sum_{i=1}^k \frac{p_\theta(x, z_i)}{q_\phi(z_i|x)}, \quad z_i \sim q_\phi(z|x),

a stochastic lower bound (in expectation) that tightens as ``k`` grows.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from latentspace.errors import UserError
from latentspace.models.base import register
from latentspace.models.nets import decoder_for, encoder_for, is_spatial
from latentspace.models.neural import NeuralModel

LOG_2PI = math.log(2 * math.pi)


def gaussian_log_prob(x, mu, logvar):
    """Diagonal Gaussian log-density, summed over all but the first dimension."""
    lp = -0.5 * (LOG_2PI + logvar + (x - mu) ** 2 * torch.exp(-logvar))
    return lp.flatten(1).sum(1)


@register
class VAE(NeuralModel):
    """A variational autoencoder with MLP (points) or conv (images, volumes) encoder and decoder.

    Parameters
    ----------
    latent_dim : int
        Size of z (0: 8 for points, 32 otherwise).
    likelihood : {"auto", "bernoulli", "gaussian"}
        Decoder likelihood; ``auto`` is Bernoulli for images and volumes, Gaussian for points.
    hidden, layers : int
        MLP width and depth (points).
    width : int
        Channels of the first conv layer (images, volumes).
    beta : float
        Weight of the KL term (1 is the ELBO).
    lr : float
        Adam learning rate.
    k : int
        Importance samples per item in ``score_samples``.

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("moons", n=2000)
    >>> vae = ls.models.create("vae").fit(data, steps=20, progress=False)
    >>> vae.encode(data.test.to_data()[:3]).shape
    torch.Size([3, 8])
    """

    name = "vae"
    likelihood_kind = "estimate"
    choices = {"likelihood": ("auto", "bernoulli", "gaussian")}
    default_steps = 5000
    default_batch_size = 128

    def __init__(self, latent_dim: int = 0, likelihood: str = "auto", hidden: int = 256, layers: int = 2,
                 width: int = 32, beta: float = 1.0, lr: float = 1e-3, k: int = 1000):
        self.latent_dim = latent_dim
        self.likelihood = likelihood
        self.hidden = hidden
        self.layers = layers
        self.width = width
        self.beta = beta
        self.lr = lr
        self.k = k

    @property
    def z_dim(self) -> int:
        if self.latent_dim:
            return self.latent_dim
        return 8 if self.info_ is not None and not is_spatial(self.info_) else 32

    @property
    def obs_model(self) -> str:
        if self.likelihood != "auto":
            return self.likelihood
        return "bernoulli" if is_spatial(self.info_) else "gaussian"

    # -- networks ------------------------------------------------------------------
    def _build(self, info):
        if self.obs_model == "bernoulli" and info.clip != (0.0, 1.0):
            raise UserError("likelihood 'bernoulli' needs data in [0, 1] (images or volumes); "
                            "use --set likelihood=gaussian")
        nets = {
            "encoder": encoder_for(info, 2 * self.z_dim, hidden=self.hidden, layers=self.layers, width=self.width),
            "decoder": decoder_for(info, self.z_dim, hidden=self.hidden, layers=self.layers, width=self.width,
                                   norm=None),
        }
        if self.obs_model == "gaussian":
            nets["obs"] = _LogVar(info.shape)
        return nets

    def configure_optimizers(self):
        params = [p for net in self.nets_.values() for p in net.parameters()]
        self.opt_ = torch.optim.Adam(params, lr=self.lr)
        return {"vae": self.opt_}

    # -- the model's pieces ------------------------------------------------------------
    def _posterior(self, x):
        mu, logvar = self.net("encoder")(x).chunk(2, dim=1)
        return mu, logvar.clamp(-12, 8)

    def _target(self, x):
        """Model-space items as the likelihood's target: [0, 1] intensities for Bernoulli."""
        return self.info_.to_data(x) if self.obs_model == "bernoulli" else x

    def _log_px_given_z(self, target, out):
        if self.obs_model == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, target, reduction="none").flatten(1).sum(1)
        return gaussian_log_prob(target, out, self.net("obs")().expand_as(out))

    def _elbo_terms(self, x):
        mu, logvar = self._posterior(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        rec = -self._log_px_given_z(self._target(x), self.net("decoder")(z))
        kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1)
        return rec, kl

    def train_step(self, batch, step):
        rec, kl = self._elbo_terms(batch["x"])
        loss = (rec + self.beta * kl).mean()
        self.opt_.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_.step()
        return {"loss": loss.item(), "elbo": -(rec + kl).mean().item(), "rec": rec.mean().item(),
                "kl": kl.mean().item()}

    # -- the API ------------------------------------------------------------------------
    def _decode_mean(self, z):
        out = self.net("decoder")(z)
        if self.obs_model == "bernoulli":
            return self.info_.to_model(torch.sigmoid(out))
        return out

    @torch.no_grad()
    def sample(self, n, *, seed=None, **cond):
        """``n`` items in data space: decoder means (Bernoulli probabilities or Gaussian means)
        at latent codes drawn from the prior."""
        self._check_fitted()
        return self.decode(self._noise(self._check_n(n), seed, self.z_dim))

    @torch.no_grad()
    def decode(self, z):
        """Decoder means for latent codes ``z`` (n, latent_dim), in data space."""
        self._check_fitted()
        z = torch.as_tensor(z, dtype=torch.float32)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise UserError(f"latent codes must have shape (n, {self.z_dim}), got {tuple(z.shape)}")
        self.set_train(False)
        return self._to_data(self._batched(self._decode_mean, z.to(self.device_)))

    @torch.no_grad()
    def encode(self, x):
        """Posterior means E[z|x] of data-space items ``x``."""
        xm = self._as_model_space(x)
        self.set_train(False)
        return self._batched(lambda b: self._posterior(b)[0], xm.to(self.device_)).cpu()

    @torch.no_grad()
    def elbo(self, x) -> torch.Tensor:
        """Per-item ELBO (nats, one reparameterised draw) of data-space items ``x``."""
        xm = self._as_model_space(x)
        self.set_train(False)

        def one(b):
            rec, kl = self._elbo_terms(b)
            return -(rec + kl)

        return self._batched(one, xm.to(self.device_)).cpu().double() + self._jacobian()

    def _jacobian(self) -> float:
        return self._log_det_to_data() if self.obs_model == "gaussian" else 0.0

    @torch.no_grad()
    def score_samples(self, x, k: int | None = None, seed: int | None = 0) -> torch.Tensor:
        """Importance-sampled estimate of log p(x) per data-space item (nats).

        ``log (1/k) sum_i p(x, z_i) / q(z_i|x)`` with ``z_i ~ q(z|x)``. A stochastic lower bound
        on log p(x) that tightens as ``k`` (default: the ``k`` parameter) grows; batched so that
        about 4k decoder evaluations run at once (larger batches are slower on a CPU). For the
        Bernoulli likelihood it is a log-probability of binary data (a log-density only in the
        Gaussian case).
        """
        k = int(k or self.k)
        if k < 1:
            raise UserError(f"k must be a positive integer, got {k}")
        xm = self._as_model_space(x).to(self.device_)
        self.set_train(False)
        gen = torch.Generator(device=self.device_).manual_seed(seed) if seed is not None else None
        chunk = max(1, 4096 // k)
        out = []
        for i in range(0, len(xm), chunk):
            xb = xm[i:i + chunk]
            mu, logvar = self._posterior(xb)
            std = torch.exp(0.5 * logvar)
            # (k, b, d) draws from q; decoded as one batch of k*b items
            eps = torch.randn((k, *mu.shape), generator=gen, device=mu.device)
            z = mu + eps * std
            zf = z.reshape(-1, self.z_dim)
            target = self._target(xb).repeat(k, *[1] * (xb.ndim - 1))
            log_px = self._log_px_given_z(target, self.net("decoder")(zf)).view(k, -1)
            log_pz = (-0.5 * (LOG_2PI + zf ** 2)).sum(1).view(k, -1)
            log_qz = (-0.5 * (LOG_2PI + logvar + eps ** 2)).sum(2)
            out.append(torch.logsumexp(log_px + log_pz - log_qz, 0) - math.log(k))
        return torch.cat(out).cpu().double() + self._jacobian()


class _LogVar(nn.Module):
    """A learned per-feature log-variance for the Gaussian likelihood."""

    def __init__(self, shape):
        super().__init__()
        self.logvar = nn.Parameter(torch.full(tuple(shape), -2.0))

    def forward(self):
        return self.logvar.clamp(-10, 5)
