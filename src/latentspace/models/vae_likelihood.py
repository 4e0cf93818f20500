"""The VAE family's likelihoods and its fitted prior: the methods of :class:`~latentspace.models.vae.VAE`
that score items (the equations are in :mod:`latentspace.models.vae` and :mod:`latentspace.models.latent_prior`)."""

from __future__ import annotations

import math

import torch

from latentspace.errors import UserError
from latentspace.models.latent_prior import MixturePrior
from latentspace.models.likelihoods import TEST_BINARIZE_SEED, binarize

#: training items whose posterior draws the mixture prior is fitted to (a seeded subset of larger sets);
#: 20,000 MNIST codes fit 50 components in about 10 s on 2 cores
PRIOR_ITEMS = 20_000
#: codes per mixture component at least (fewer components for small sets)
ITEMS_PER_COMPONENT = 100
PRIOR_SEED = 0


class VAELikelihood:
    """Mixed into :class:`~latentspace.models.vae.VAE`: the prior, ``elbo`` and ``score_samples``."""

    #: the mixture fitted to the aggregate posterior after training (None: N(0, I))
    prior_ = None

    def _log_prior(self, t: dict) -> torch.Tensor:
        """log p(z) of ``log_weights``' draws: the fitted mixture's, else the standard normal's."""
        return self.prior_.log_prob(t["z"]) if self.prior_ is not None else t["log_pz"]

    def prior_codes(self, n: int, seed=None) -> torch.Tensor:
        """``n`` latent codes drawn from the model's prior (the fitted mixture, else N(0, I))."""
        if self.prior_ is not None:
            return self.prior_.sample(n, seed)
        return self._noise(n, seed, self.z_dim)

    @torch.no_grad()
    def _fit_prior(self, data) -> MixturePrior:
        """The mixture fitted to one posterior draw for each of (up to ``PRIOR_ITEMS``) training items."""
        g = torch.Generator().manual_seed(PRIOR_SEED)
        index = torch.randperm(len(data.x), generator=g)[:PRIOR_ITEMS].sort().values
        x = data.to_data(data.x[index])
        if self.binarized:  # the encoder saw binarised items in training
            x = binarize(x, PRIOR_SEED)
        xm = self.info_.to_model(x).to(self.device_)
        y = data.y[index].to(self.device_) if self.conditional else None
        self.set_train(False)
        mu, logvar = self._posteriors(xm, y)
        z = mu + torch.randn(mu.shape, generator=g).to(mu.device) * torch.exp(0.5 * logvar)
        components = min(int(self.prior_components), max(1, len(z) // ITEMS_PER_COMPONENT))
        return MixturePrior.fit(z, components, seed=PRIOR_SEED).to(self.device_)

    def _posteriors(self, xm, y=None, batch: int = 1024):
        parts = [self._posterior(xm[i:i + batch], None if y is None else y[i:i + batch])
                 for i in range(0, len(xm), batch)]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def likelihood_items(self, x):
        """The items a held-out likelihood is measured on, and a note saying how they were made.

        For a model trained on binarised items: ``x`` binarised once with the fixed seed
        ``TEST_BINARIZE_SEED`` (:func:`binarize`); otherwise ``x`` itself and None.
        """
        if not self.binarized:
            return x, None
        return binarize(x, TEST_BINARIZE_SEED), (f"binarised once with fixed seed {TEST_BINARIZE_SEED} "
                                                 "(trained on dynamic binarisations)")

    def _jacobian(self) -> float:
        return self._log_det_to_data() if self.obs_model == "gaussian" else 0.0

    @torch.no_grad()
    def elbo(self, x, labels=None) -> torch.Tensor:
        """Per-item ELBO (nats; one reparameterised draw) of data-space items ``x``.

        The KL is analytic under the N(0, I) prior, and the one draw's :math:`\\log q(z|x) - \\log p(z)`
        under a fitted mixture prior.

        For ``cvae`` it bounds log p(x|y) and needs ``labels``.
        """
        xm, y = self._items_and_labels(x, labels, "ELBO")
        self.set_train(False)

        def one(xb, yb=None):
            t = self.log_weights(xb, yb, 1)
            if self.prior_ is not None:  # no closed form: the one draw's log q(z|x) - log p(z)
                return (t["log_px"] + self._log_prior(t) - t["log_qz"])[0]
            kl = 0.5 * (t["mu"] ** 2 + t["logvar"].exp() - 1.0 - t["logvar"]).sum(1)
            return t["log_px"][0] - kl

        return self._map(one, xm, y).cpu().double() + self._jacobian()

    @torch.no_grad()
    def score_samples(self, x, k: int | None = None, seed: int | None = 0, labels=None,
                      max_draws: int = 4096) -> torch.Tensor:
        """Importance-sampled estimate of log p(x) per data-space item (nats); cvae: log p(x|y).

        ``log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x)`` with ``z_i ~ q(z|x)``, ``p(z)`` the model's prior
        (the fitted mixture when there is one, see :mod:`~latentspace.models.latent_prior`): a stochastic lower
        bound on log p(x) (in expectation) that tightens as ``k`` grows (default: the ``k``
        parameter, 1000), and equals the ELBO in expectation at ``k=1``.

        Parameters
        ----------
        x : tensor (n, *shape)
            Data-space items. For a model trained on binarised items they should be binary,
            e.g. from :meth:`likelihood_items` (as ``evaluate`` does); the Bernoulli likelihood
            of grey levels is a cross-entropy, not a log-probability.
        k : int, optional
            Importance samples per item.
        seed : int, optional
            Seeds the draws (None: the global generator).
        labels : tensor (n,) of int
            The items' classes; required by cvae, refused by the unconditional flavours.
        max_draws : int
            Decoder evaluations per batch (fewer for large items), which bounds the memory.

        Returns
        -------
        torch.Tensor
            ``(n,)`` float64. A log-density of the data-space values for the Gaussian likelihood,
            a log-probability for the Bernoulli (binary data) and logistic (256 levels) ones, a
            log-density on [0, 1] for the continuous Bernoulli.
        """
        k = int(k or self.k)
        if k < 1:
            raise UserError(f"k must be a positive integer, got {k}")
        xm, y = self._items_and_labels(x, labels, "likelihood (log p(x|y))")
        self.set_train(False)
        gen = torch.Generator(device=self.device_).manual_seed(seed) if seed is not None else None
        draws = max(1, min(int(max_draws), 2 ** 22 // max(1, self.info_.dim)))   # ~16 MB of targets per pass
        k_block = min(k, draws)
        chunk = max(1, draws // k_block)
        out = []
        for i in range(0, len(xm), chunk):
            xb = xm[i:i + chunk]
            yb = y[i:i + chunk] if y is not None else None
            blocks = []
            for j in range(0, k, k_block):
                eps = torch.randn((min(k_block, k - j), len(xb), self.z_dim), generator=gen, device=xb.device)
                t = self.log_weights(xb, yb, eps=eps)
                blocks.append(t["log_px"] + self._log_prior(t) - t["log_qz"])
            out.append(torch.logsumexp(torch.cat(blocks).double(), 0) - math.log(k))
        return torch.cat(out).cpu() + self._jacobian()

