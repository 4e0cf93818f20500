r"""The variational autoencoder family: ``vae``, ``beta-vae``, ``cvae`` and ``iwae``.

A VAE (Kingma & Welling 2014; Rezende et al. 2014) has an encoder giving a diagonal Gaussian
posterior :math:`q_\phi(z|x) = \mathcal N(\mu_\phi(x), \operatorname{diag}\sigma^2_\phi(x))`, a
decoder giving a likelihood :math:`p_\theta(x|z)`, and the prior :math:`p(z) = \mathcal N(0, I)`.
With the reparameterisation :math:`z = \mu + \sigma \odot \epsilon`, :math:`\epsilon \sim \mathcal N(0, I)`,
training maximises the evidence lower bound (ELBO)

.. math::
    \log p_\theta(x) \ge \mathcal L(x) = \underbrace{\mathbb E_{q_\phi(z|x)} \log p_\theta(x|z)}_{-\text{rec}}
    - \underbrace{\mathrm{KL}(q_\phi(z|x) \,\|\, p(z))}_{\text{kl}}, \qquad
    \mathrm{KL} = \sum_{j=1}^{d} \tfrac12 \big(\mu_j^2 + \sigma_j^2 - 1 - \log \sigma_j^2\big),

the reconstruction term estimated with ``k_train`` draws of :math:`z` per item and the KL in
closed form. The loss of a batch is

.. math::
    \text{loss} = \text{rec} + w_t \cdot \text{KL}, \qquad
    w_t = \beta \min(1, t / T_\text{warm-up}),

so ``beta`` (:math:`\beta`; beta-VAE, Higgins et al. 2017: :math:`\beta > 1` trades reconstruction
for a more factorised code) weights the KL and ``warmup`` (:math:`T`, KL annealing; Bowman et al.
2016, Sønderby et al. 2016) ramps that weight linearly from 0 over the first :math:`T` steps.
With free bits (``free_bits`` :math:`= \lambda`, Kingma et al. 2016) each latent dimension's KL,
averaged over the batch, is floored at :math:`\lambda` nats, so that the optimiser gains nothing
from pushing a dimension's KL below :math:`\lambda` (which would switch the unit off):

.. math::
    \text{KL}_\lambda = \sum_{j=1}^{d} \max\big(\lambda, \tfrac1B \textstyle\sum_{b=1}^{B} \mathrm{KL}_j(x_b)\big).

The importance-weighted autoencoder (``objective="iwae"``, the ``iwae`` flavour; Burda et al.
2016) trains on the tighter :math:`k`-sample bound (:math:`k` = ``k_train``)

.. math::
    \mathcal L_k(x) = \mathbb E_{z_1..z_k \sim q(z|x)} \log \frac1k \sum_{i=1}^{k} w_i, \qquad
    \log w_i = \log p_\theta(x|z_i) + w_t \big(\log p(z_i) - \log q_\phi(z_i|x)\big),

with :math:`\mathcal L_1 = \mathcal L \le \mathcal L_k \le \mathcal L_{k+1} \le \log p(x)` when
:math:`w_t = 1` (``beta`` and ``warmup`` scale the prior-to-posterior ratio of every weight).

The conditional VAE (``cvae``; Sohn et al. 2015) sees a class label :math:`y` in both networks,
:math:`q_\phi(z|x, y)` and :math:`p_\theta(x|z, y)`, with the same prior, and bounds
:math:`\log p_\theta(x|y)`; ``sample(n, labels=...)`` draws items of the requested classes.

Likelihoods :math:`p_\theta(x|z)` (``likelihood``: ``bernoulli``, ``gaussian``, ``continuous-bernoulli``,
``logistic``), each a product over features, and the binarisation of items (``binarize``) are stated in
:mod:`latentspace.models.likelihoods`.

``score_samples`` estimates :math:`\log p(x)` by importance sampling with :math:`K` = ``k`` draws
from :math:`q(z|x)`:

.. math::
    \log p(x) \approx \log \frac1K \sum_{i=1}^{K} \frac{p_\theta(x|z_i)\, p(z_i)}{q_\phi(z_i|x)},
    \qquad z_i \sim q_\phi(z|x),

which is :math:`\mathcal L_K`: a stochastic lower bound on :math:`\log p(x)` (in expectation)
that tightens as :math:`K` grows. The estimator is validated against probabilistic PCA, where
:math:`\log p(x)` is exact (tests/test_vae.py).

After training, the unconditional flavours replace :math:`\mathcal N(0, I)` in sampling and in
``score_samples`` by a Gaussian mixture fitted to the aggregate posterior (``prior="auto"``; stated
and measured in :mod:`latentspace.models.latent_prior`); ``prior="normal"`` keeps :math:`\mathcal N(0, I)`.

Active units (Burda et al. 2016): latent dimension :math:`u` is active when
:math:`A_u = \operatorname{Cov}_x\big(\mathbb E_{q(z|x)}[z_u]\big) > 10^{-2}`.
"""

from __future__ import annotations

import copy
import math
from contextlib import contextmanager

import torch
from torch import nn

from latentspace.errors import UserError
from latentspace.models.base import check_labels, register
from latentspace.models.likelihoods import (LIKELIHOOD_OF, LOG_2PI, TEST_BINARIZE_SEED, UNIT_LIKELIHOODS,  # noqa: F401
                                            auto_likelihood, bernoulli_log_prob,
                                            continuous_bernoulli_log_norm, continuous_bernoulli_log_prob,
                                            continuous_bernoulli_mean, discretized_logistic_log_prob,
                                            gaussian_log_prob, log_px_given_z, unit_mean)
from latentspace.models.nets import ConvDecoder, ConvEncoder, check_network, mlp
from latentspace.models.neural import NeuralModel
from latentspace.models.latent_prior import MixturePrior
from latentspace.models.vae_likelihood import VAELikelihood
from latentspace.models.vae_nets import CPU_RECIPES, Decoder, Encoder, LogVar

#: decoder likelihoods p(x|z)
LIKELIHOODS = ("auto", "bernoulli", "gaussian", "continuous-bernoulli", "logistic")
#: network families: by modality, MLPs, or convolutions
ARCHS = ("auto", "mlp", "conv")
#: training objectives
OBJECTIVES = ("elbo", "iwae")
#: how training items are binarised
BINARIZE = ("auto", "dynamic", "off")
#: the prior after training: auto is the fitted mixture for the unconditional flavours, N(0, I) for cvae
PRIORS = ("auto", "normal", "mixture")


@register
class VAE(VAELikelihood, NeuralModel):
    """A variational autoencoder; the flavours ``beta-vae``, ``cvae`` and ``iwae`` are this model too.

    Parameters
    ----------
    latent_dim : int
        Size of z (0: 8 for points, 32 otherwise).
    likelihood : {"auto", "bernoulli", "gaussian", "continuous-bernoulli", "logistic"}
        Decoder likelihood (see :mod:`~latentspace.models.likelihoods`); ``auto`` is Bernoulli for
        binary-like data in [0, 1] (ink on a background such as MNIST, occupancies: at least half the
        values within 0.1 of 0 or 1), the 8-bit discretised logistic for other data in [0, 1] (grey
        pictures), Gaussian otherwise (points, spectrograms in dB). All but ``gaussian`` need data in [0, 1].
    sigma : float
        Gaussian likelihood only: 0 learns one variance per feature; > 0 fixes the standard
        deviation (in model space, e.g. [-1, 1] for images, standardised units for points).
    arch : {"auto", "mlp", "conv"}
        Networks: ``auto`` is MLPs for points and for images on a CPU (``vae_nets.CPU_RECIPES``), else
        stride-2 convs; ``mlp`` flattens images (the classic MNIST VAE, and the fastest on a CPU).
    hidden, layers : int
        MLP width (None: 256; 512 for images on a CPU) and number of hidden layers; ``layers=0``: linear
        maps, whatever ``arch`` (with a Gaussian likelihood, probabilistic PCA's family, exact log p(x)).
    width : int
        Channels of the first conv layer (``conv``), doubled at each stride.
    beta : float
        Weight of the KL term (1: the ELBO; 4 in ``beta-vae``).
    warmup : int
        KL warm-up: the KL weight rises linearly from 0 to ``beta`` over this many steps (0: off).
    free_bits : float
        Free bits per latent dimension, in nats (0: off): each dimension's batch-mean KL is floored
        at this value in the loss.
    objective : {"elbo", "iwae"}
        Training bound: the ELBO, or the importance-weighted bound with ``k_train`` samples.
    k_train : int
        Posterior draws per item in training (``elbo``: their reconstruction terms are averaged;
        ``iwae``: the k of the bound; 5 in ``iwae``).
    binarize : {"auto", "dynamic", "off"}
        ``dynamic``: each training item is binarised afresh (Bernoulli of its intensities) every
        time it is drawn, and the held-out likelihood in ``evaluate`` is measured on a fixed-seed
        binarisation of the test split (:meth:`likelihood_items`). ``auto``: dynamic for the
        Bernoulli likelihood (for which grey levels are not a likelihood), off otherwise.
    lr : float
        Adam learning rate.
    k : int
        Importance samples per item in ``score_samples`` (default 1000).
    prior : {"auto", "normal", "mixture"}
        The prior :math:`p(z)` after training, in ``sample`` and ``score_samples`` (training always
        uses N(0, I)). ``mixture``: a Gaussian mixture fitted by EM to one posterior draw per training
        item (up to 20,000) after the last step (:mod:`~latentspace.models.latent_prior`); measured on
        MNIST it cut FD from 3.95 to 0.39 and the held-out NLL from 86.40 to 84.14 nats. ``auto``:
        ``mixture``, except N(0, I) for ``cvae``, whose prior is per class.
    prior_components : int
        Components of the mixture prior (fewer for small sets: at most one per 100 fitted codes). 50
        was the best of 10, 20 and 50 on MNIST (FD 1.09, 0.62, 0.39).
    encoder, decoder : torch.nn.Module, optional
        Networks of your own in place of the built-in ones (each independently; ``latent_dim``
        required). The encoder maps model-space items ``(n, *shape)`` (cvae: with the one-hot
        label joined as channels, or as features for points) to ``(n, 2 * latent_dim)`` (mean,
        then log-variance) or a tuple ``(mu, logvar)``; the decoder maps codes ``(n, latent_dim)``
        (cvae: with the one-hot label appended) to the likelihood's parameters ``(n, *shape)`` (or
        flat; the logistic likelihood: twice the channels). Checked for shape when the model is
        built; copies are trained; ``latentspace.load(path, encoder=..., decoder=...)`` needs them again.

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("moons", n=2000)
    >>> vae = ls.models.create("vae").fit(data, steps=20, progress=False)
    >>> vae.encode(data.test.to_data()[:3]).shape
    torch.Size([3, 8])
    >>> vae.score_samples(data.test.to_data()[:3], k=50).shape
    torch.Size([3])
    """

    name = "vae"
    conditional = False
    likelihood_kind = "estimate"
    encodes = True
    latent = "continuous"
    inversion = "gradient"
    reports_elbo = True
    choices = {"likelihood": LIKELIHOODS, "arch": ARCHS, "objective": OBJECTIVES, "binarize": BINARIZE,
               "prior": PRIORS}
    default_steps = 5000
    default_batch_size = 128

    active_units_ = None

    def __init__(self, latent_dim: int = 0, likelihood: str = "auto", sigma: float = 0.0, arch: str = "auto",
                 hidden: int | None = None, layers: int = 2, width: int = 32, beta: float = 1.0, warmup: int = 0,
                 free_bits: float = 0.0, objective: str = "elbo", k_train: int = 1, binarize: str = "auto",
                 lr: float = 1e-3, k: int = 1000, prior: str = "auto", prior_components: int = 50,
                 encoder=None, decoder=None):
        self.latent_dim = latent_dim
        self.likelihood = likelihood
        self.sigma = sigma
        self.arch = arch
        self.hidden = hidden
        self.layers = layers
        self.width = width
        self.beta = beta
        self.warmup = warmup
        self.free_bits = free_bits
        self.objective = objective
        self.k_train = k_train
        self.binarize = binarize
        self.lr = lr
        self.k = k
        self.prior = prior
        self.prior_components = prior_components
        self.encoder = encoder
        self.decoder = decoder

    # -- settings resolved against the data ---------------------------------------------------
    @property
    def z_dim(self) -> int:
        if self.latent_dim:
            return int(self.latent_dim)
        return 8 if self.info_ is not None and not self.info_.spec.spatial else 32

    def latent_width(self) -> int:
        return self.z_dim

    @contextmanager
    def differentiable_decoder(self):
        """The decoder's mean ``decode(z, y)`` -> model-space items, in eval mode."""
        self.set_train(False)
        yield self._decode_mean

    def resolved_params(self) -> dict:
        own = [k for k in ("encoder", "decoder") if getattr(self, k) is not None]
        return {**super().resolved_params(), "latent_dim": self.z_dim, "likelihood": self.obs_model,
                "binarize": self.binarized, "networks": self.network_kind(), "own_networks": own,
                "prior": self.prior_kind}

    #: the likelihood ``auto`` resolved to, from the training items' values (see ``auto_likelihood``)
    likelihood_ = None

    def _resolve(self, data) -> None:
        self.likelihood_ = (auto_likelihood(data.to_data(data.x[:2000]), data.info.clip)
                            if self.likelihood == "auto" else self.likelihood)

    @property
    def obs_model(self) -> str:
        """The likelihood in use (``auto`` resolved from the data)."""
        if self.likelihood != "auto":
            return self.likelihood
        if self.likelihood_ is not None:
            return self.likelihood_
        # not fitted through fit (or saved before the choice was recorded): by the range alone
        return "bernoulli" if self.info_ is not None and self.info_.clip == (0.0, 1.0) else "gaussian"

    @property
    def likelihood_of(self) -> str:
        binary = self.obs_model == "bernoulli" and self.binarized
        return "discrete-binary" if binary else LIKELIHOOD_OF[self.obs_model]

    @property
    def prior_kind(self) -> str:
        """``normal`` or ``mixture``: the prior used after training (``auto`` resolved)."""
        if self.prior == "auto":
            return "normal" if self.conditional else "mixture"
        return self.prior

    @property
    def binarized(self) -> bool:
        """Whether training items are binarised (and held-out items too, with a fixed seed)."""
        if self.binarize == "auto":
            return self.obs_model == "bernoulli"
        return self.binarize == "dynamic"

    @property
    def num_classes(self) -> int:
        return self.info_.num_classes if self.conditional else 0

    def network_kind(self, info=None) -> str:
        """``linear``, ``mlp`` or ``conv``: the encoder and decoder built for ``info``."""
        info = info or self.info_
        if int(self.layers) == 0:
            return "linear"
        if self.arch == "auto":
            return self.sized_recipe(info).get("arch", "conv" if info.spec.spatial else "mlp")
        if self.arch == "conv" and not info.spec.spatial:
            raise UserError("arch 'conv' needs images, spectrograms or volumes; use arch=mlp (or auto) for points")
        return self.arch

    def sized_recipe(self, info) -> dict:
        return info.spec.lookup(CPU_RECIPES, {}) if self.sized_for_ == "cpu" else {}

    def kl_weight(self, step: int) -> float:
        """:math:`w_t = \\beta \\min(1, t / T)`: the KL's weight at training step ``step`` (0-based)."""
        ramp = min(1.0, step / self.warmup) if self.warmup > 0 else 1.0
        return float(self.beta) * ramp

    def _check_params(self):
        checks = [("latent_dim", self.latent_dim, 0), ("hidden", self.hidden or 1, 1), ("layers", self.layers, 0),
                  ("width", self.width, 1), ("warmup", self.warmup, 0), ("k_train", self.k_train, 1),
                  ("k", self.k, 1), ("prior_components", self.prior_components, 1)]
        for name, value, low in checks:
            if int(value) != value or value < low:
                raise UserError(f"{name} must be an integer >= {low}, got {value!r}")
        for name in ("beta", "free_bits", "sigma"):
            if getattr(self, name) < 0:
                raise UserError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.lr <= 0:
            raise UserError(f"lr must be positive, got {self.lr!r}")
        if self.conditional and self.prior == "mixture":
            raise UserError(f"{self.name}'s prior is N(0, I) given each class; the mixture prior is for the "
                            "unconditional flavours: use prior=auto (or normal)")
        if self.objective == "iwae" and self.free_bits > 0:
            raise UserError("free bits floor the ELBO's per-dimension KL, which the iwae bound has not; "
                            "use free_bits=0 with objective iwae")

    # -- networks ------------------------------------------------------------------------------
    def _build(self, info):
        self._check_params()
        self.prior_ = None  # fitted after training, on the networks being built now
        obs = self.obs_model
        if obs in UNIT_LIKELIHOODS and info.clip != (0.0, 1.0):
            raise UserError(f"likelihood {obs!r} needs data in [0, 1] (images or volumes); "
                            "use --set likelihood=gaussian")
        if self.binarize == "dynamic" and info.clip != (0.0, 1.0):
            raise UserError("binarize 'dynamic' needs intensities in [0, 1] (images or volumes); use binarize=off")
        if self.sigma > 0 and obs != "gaussian":
            raise UserError(f"sigma fixes the Gaussian likelihood's spread, and the likelihood is {obs!r}; "
                            "drop sigma or use likelihood=gaussian")
        k = info.num_classes if self.conditional else 0
        if self.conditional and k < 2:
            raise UserError(f"{self.name} needs at least two classes in the data's description")
        p = 2 if obs == "logistic" else 1
        channels, *spatial = info.shape
        out_shape = (p * channels, *spatial)
        z, kind = self.z_dim, self.network_kind(info)
        if (self.encoder is not None or self.decoder is not None) and not self.latent_dim:
            raise UserError("networks of your own need latent_dim, the width of the codes between them; "
                            "pass latent_dim=... with encoder=/decoder=")
        if kind == "conv":
            enc = Encoder(ConvEncoder((channels + k, *spatial), 2 * z, width=self.width), k)
            dec = Decoder(ConvDecoder(z + k, out_shape, width=self.width, norm=None,
                                      upsample=info.spec.conv_upsample), out_shape, k)
        else:
            depth, h = int(self.layers), self.hidden or self.sized_recipe(info).get("hidden", 256)
            enc = Encoder(mlp([info.dim + k] + [h] * depth + [2 * z]), k, flatten=True)
            dec = Decoder(mlp([z + k] + [h] * depth + [p * info.dim], act=nn.ReLU), out_shape, k)
        if self.encoder is not None:  # the user's: items with the one-hot label joined -> 2z numbers or (mu, logvar)
            joined = (channels + k, *spatial) if info.spec.spatial else (info.dim + k,)
            enc = Encoder(check_network("encoder", copy.deepcopy(self.encoder), torch.zeros(2, *joined),
                                        [(2, 2 * z), [(2, z), (2, z)]]), k)
        if self.decoder is not None:  # the user's: codes with the one-hot label joined -> p(x|z)'s parameters
            dec = Decoder(check_network("decoder", copy.deepcopy(self.decoder), torch.zeros(2, z + k),
                                        [(2, *out_shape), (2, math.prod(out_shape))]), out_shape, k)
        nets = {"encoder": enc, "decoder": dec}
        if obs == "gaussian" and self.sigma == 0:
            nets["obs"] = LogVar(info.shape)
        return nets

    def configure_optimizers(self):
        params = [p for net in self.nets_.values() for p in net.parameters()]
        self.opt_ = torch.optim.Adam(params, lr=self.lr)
        return {"vae": self.opt_}

    # -- the model's pieces ------------------------------------------------------------------
    def _posterior(self, x, y=None):
        """``(mu, logvar)`` of q(z|x[, y]) for model-space items."""
        return self.net("encoder")(x, y)

    def _target(self, x):
        """Model-space items as the likelihood's target: [0, 1] values for the unit likelihoods."""
        return self.info_.to_data(x) if self.obs_model in UNIT_LIKELIHOODS else x

    def _obs_logvar(self):
        if "obs" in self.nets_:
            return self.net("obs")()
        return torch.tensor(2 * math.log(self.sigma), device=self.device_)

    def _log_px_given_z(self, target, out):
        """log p(x|z) per item, from the likelihood's target and the decoder's output."""
        obs = self.obs_model
        return log_px_given_z(obs, target, out, self._obs_logvar() if obs == "gaussian" else None)

    def log_weights(self, x, y=None, k: int = 1, eps=None):
        """Log-densities for ``k`` reparameterised posterior draws per model-space item.

        Parameters
        ----------
        x : tensor (n, *shape)
            Model-space items.
        y : tensor (n,) of int, optional
            Labels (cvae).
        k : int
            Draws per item (ignored when ``eps`` is given).
        eps : tensor (k, n, latent_dim), optional
            The standard normal noise of :math:`z = \\mu + \\sigma \\epsilon` (default: fresh).

        Returns
        -------
        dict
            ``log_px`` = log p(x|z_i), ``log_pz`` = log p(z_i), ``log_qz`` = log q(z_i|x), each
            ``(k, n)``, with log p(z) under N(0, I) (the training prior); ``mu`` and ``logvar`` of q, each
            ``(n, latent_dim)``; the draws ``z``, ``(k, n, latent_dim)``.
        """
        mu, logvar = self._posterior(x, y)
        if eps is None:
            eps = torch.randn((k, *mu.shape), device=mu.device, dtype=mu.dtype)
        k, n = eps.shape[0], len(x)
        z = mu + eps * torch.exp(0.5 * logvar)
        yk = y.repeat(k) if y is not None else None
        target = self._target(x).repeat(k, *[1] * (x.ndim - 1))
        log_px = self._log_px_given_z(target, self.net("decoder")(z.reshape(k * n, -1), yk)).view(k, n)
        log_pz = (-0.5 * (LOG_2PI + z ** 2)).sum(2)
        log_qz = (-0.5 * (LOG_2PI + logvar + eps ** 2)).sum(2)
        return {"log_px": log_px, "log_pz": log_pz, "log_qz": log_qz, "mu": mu, "logvar": logvar, "z": z}

    def loss_terms(self, x, y=None, step: int = 0, eps=None) -> dict:
        """The training objective on model-space items ``x`` at step ``step`` (tensors).

        Returns ``loss`` (what is minimised), ``rec`` (:math:`-\\log p(x|z)`, mean over draws and
        items), ``kl`` (the analytic KL, mean over items), ``elbo`` (``-(rec + kl)``),
        ``kl_weight`` (:math:`w_t`), ``kl_term`` (what the KL adds to the loss before the weight:
        the KL or its free-bits version) and, for ``iwae``, ``bound`` (:math:`\\mathcal L_k`).
        """
        k = int(self.k_train)
        t = self.log_weights(x, y, k, eps)
        mu, logvar = t["mu"], t["logvar"]
        w = self.kl_weight(step)
        rec = -t["log_px"].mean(0)
        kl_dims = 0.5 * (mu ** 2 + logvar.exp() - 1.0 - logvar)  # (n, d)
        kl = kl_dims.sum(1)
        if self.free_bits > 0:
            kl_term = kl_dims.mean(0).clamp_min(float(self.free_bits)).sum()
        else:
            kl_term = kl.mean()
        out = {"rec": rec.mean(), "kl": kl.mean(), "elbo": -(rec + kl).mean(), "kl_term": kl_term,
               "kl_weight": torch.tensor(w)}
        if self.objective == "iwae":
            log_w = t["log_px"] + w * (t["log_pz"] - t["log_qz"])
            bound = torch.logsumexp(log_w, 0) - math.log(t["log_px"].shape[0])
            out["bound"] = bound.mean()
            out["loss"] = -out["bound"]
        else:
            out["loss"] = out["rec"] + w * kl_term
        return out

    def _train_items(self, x):
        """Training items as the model sees them: dynamically binarised when ``binarized``."""
        if not self.binarized:
            return x
        return self.info_.to_model(torch.bernoulli(self.info_.to_data(x)))

    def train_step(self, batch, step):
        x = self._train_items(batch.x)
        y = batch.y if self.conditional else None
        terms = self.loss_terms(x, y, step)
        self.opt_.zero_grad(set_to_none=True)
        terms["loss"].backward()
        self.opt_.step()
        keys = ["loss", "elbo", "rec", "kl"] + (["bound"] if "bound" in terms else []) + ["kl_weight"]
        return {key: terms[key].detach().item() for key in keys}

    def end_training(self, data) -> None:
        """Count the active units on (up to) 2,000 training items; fit the mixture prior (``prior``)."""
        x = data.to_data(data.x[:2000])
        x, _ = self.likelihood_items(x)
        y = data.y[:2000] if self.conditional else None
        self.active_units_ = self.active_units(x, labels=y)
        self.prior_ = self._fit_prior(data) if self.prior_kind == "mixture" else None

    # -- labels (cvae) ---------------------------------------------------------------------------
    def _labels_for(self, n: int, labels, *, required: bool = False, what: str = "") -> torch.Tensor | None:
        """Labels for ``n`` items on the model's device: None for unconditional models; cycled when absent."""
        if not self.conditional:
            if labels is not None:
                raise UserError(f"{self.name!r} is unconditional and takes no labels; drop labels= or use cvae")
            return None
        k = self.info_.num_classes
        if labels is None:
            if required:
                raise UserError(f"{self.name} {what} needs the items' labels: pass labels=... (one class per item)")
            return (torch.arange(n) % k).to(self.device_)
        return check_labels(n, labels, k, self.info_.classes, self.name).to(self.device_)

    # -- the API -------------------------------------------------------------------------------
    def _decode_mean(self, z, y=None):
        """The mean of p(x|z[, y]) in model space."""
        out = self.net("decoder")(z, y)
        return self.info_.to_model(unit_mean(self.obs_model, out)) if self.obs_model in UNIT_LIKELIHOODS else out

    @torch.no_grad()
    def sample(self, n, *, seed=None, labels=None, **cond):
        """``n`` items in data space: decoder means at latent codes drawn from the prior (:meth:`prior_codes`).

        For ``cvae``, ``labels`` gives one class for all items or one per item (default: the
        classes in turn). The means are Bernoulli probabilities (continuous-Bernoulli means,
        logistic means clipped to [0, 1], Gaussian means).
        """
        self._check_fitted()
        n = self._check_n(n)
        y = self._labels_for(n, labels)
        return self.decode(self.prior_codes(n, seed), labels=None if y is None else y.cpu())

    @torch.no_grad()
    def decode(self, z, labels=None):
        """Decoder means for latent codes ``z`` (n, latent_dim) (and ``labels`` for cvae), in data space."""
        self._check_fitted()
        z = self._as_codes(z, self.z_dim)
        y = self._labels_for(len(z), labels)
        self.set_train(False)
        if y is None:
            return self._to_data(self._batched(self._decode_mean, z.to(self.device_)))
        return self._to_data(self._batched(self._decode_mean, z.to(self.device_), y))

    def _items_and_labels(self, x, labels, what: str):
        xm = self._as_model_space(x).to(self.device_)
        return xm, self._labels_for(len(xm), labels, required=True, what=what)

    def _map(self, fn, xm, y):
        return self._batched(fn, xm) if y is None else self._batched(fn, xm, y)

    @torch.no_grad()
    def encode(self, x, labels=None):
        """Posterior means E[z|x] (cvae: E[z|x, y], ``labels`` required) of data-space items ``x``."""
        xm, y = self._items_and_labels(x, labels, "encoding")
        self.set_train(False)
        return self._map(lambda *b: self._posterior(*b)[0], xm, y).cpu()

    @torch.no_grad()
    def latent_activity(self, x, labels=None) -> torch.Tensor:
        """Per latent dimension, :math:`A_u = \\operatorname{Cov}_x(\\mathbb E_{q(z|x)}[z_u])` (float64, ``(d,)``)."""
        return self.encode(x, labels).double().var(0, correction=0)

    def active_units(self, x, labels=None, threshold: float = 0.01) -> int:
        """How many latent dimensions are active, :math:`A_u > 0.01` (Burda et al. 2016), on items ``x``.

        Examples
        --------
        >>> import latentspace as ls
        >>> data = ls.data.load("moons", n=500)
        >>> vae = ls.models.create("vae", latent_dim=4).fit(data, steps=30, progress=False)
        >>> 0 <= vae.active_units(data.test.to_data()) <= 4
        True
        """
        return int((self.latent_activity(x, labels) > threshold).sum())

    # -- persistence ---------------------------------------------------------------------------------
    def _get_state(self):
        tensors, extra = super()._get_state()
        if self.prior_ is not None:
            tensors["prior"] = self.prior_.state()
        return tensors, {**extra, "active_units": self.active_units_, "likelihood": self.obs_model}

    def _set_state(self, tensors, extra):
        self.likelihood_ = extra.get("likelihood")  # the networks' shape depends on it
        super()._set_state(tensors, extra)
        self.active_units_ = extra.get("active_units")
        self.prior_ = MixturePrior.from_state(tensors.get("prior"))
