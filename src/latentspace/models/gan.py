r"""Generative adversarial networks (Goodfellow et al. 2014), with a choice of losses.

A generator :math:`G` maps noise :math:`z \sim \mathcal N(0, I)` to items; a discriminator (for
the Wasserstein losses, a *critic*) :math:`D` scores items. ``loss`` picks the game, with
:math:`\sigma` the logistic function and :math:`[u]_+ = \max(0, u)`:

- ``"ns"`` (default, non-saturating; Goodfellow et al. 2014): :math:`D` outputs a logit and minimises
  the cross-entropy, the generator the non-saturating loss, which has the fixed point of the
  minimax game but strong gradients when :math:`D` wins early on:

  .. math::
      L_D = -\mathbb E_x \log \sigma(D(x)) - \mathbb E_z \log(1 - \sigma(D(G(z)))), \qquad
      L_G = -\mathbb E_z \log \sigma(D(G(z)));

- ``"lsgan"`` (least squares, Mao et al. 2017), which penalises samples by their distance to the
  decision boundary, not only their side of it:

  .. math::
      L_D = \tfrac12 \mathbb E_x (D(x) - 1)^2 + \tfrac12 \mathbb E_z D(G(z))^2, \qquad
      L_G = \tfrac12 \mathbb E_z (D(G(z)) - 1)^2;

- ``"hinge"`` (Lim & Ye 2017, Miyato et al. 2018):

  .. math::
      L_D = \mathbb E_x [1 - D(x)]_+ + \mathbb E_z [1 + D(G(z))]_+, \qquad L_G = -\mathbb E_z D(G(z));

- ``"wgan"`` (Arjovsky et al. 2017): the critic estimates the Wasserstein-1 distance
  :math:`W(p_\text{data}, p_G) = \max_{\|D\|_L \le 1} \mathbb E_x D(x) - \mathbb E_z D(G(z))`, so

  .. math::
      L_D = \mathbb E_z D(G(z)) - \mathbb E_x D(x), \qquad L_G = -\mathbb E_z D(G(z)),

  and every weight of :math:`D` is clipped to :math:`[-c, c]` (``clip``) after each critic step,
  a crude bound on its Lipschitz constant; RMSprop, ``lr = 5e-5``, ``d_steps`` = 5 critic steps
  per generator step;
- ``"wgan-gp"`` (Gulrajani et al. 2017): the Wasserstein critic with a gradient penalty instead
  of clipping,

  .. math::
      L_D = \mathbb E_z D(G(z)) - \mathbb E_x D(x)
            + \lambda\, \mathbb E_{\hat x} \big(\|\nabla_{\hat x} D(\hat x)\|_2 - 1\big)^2, \qquad
      \hat x = \epsilon x + (1 - \epsilon) G(z),\ \epsilon \sim U[0, 1] \text{ per item},

  the norm taken over each item's whole gradient (:func:`gradient_penalty`); :math:`\lambda` is
  ``gp_lambda``; Adam with ``lr = 1e-4``, betas (0, 0.9), 5 critic steps (for points, a recipe
  measured on grid25: see ``loss_recipes``). The penalty is per item, so the critic must not
  mix items: no BatchNorm in it.

The stabilising hacks are options:

- ``label_smoothing`` (one-sided, Salimans et al. 2016): real targets :math:`1-s`, fakes 0 — for
  the losses with targets, ``ns`` and ``lsgan``;
- ``dcgan_init``: N(0, 0.02) weights (Radford et al. 2016); Adam with ``lr=2e-4``, ``beta1=0.5``;
- ``ema_decay``: sample from an exponential moving average of :math:`G`'s weights
  (Yazıcı et al. 2019), which sharpens samples and damps oscillation;
- ``instance_noise``: Gaussian noise on the discriminator's inputs, annealed to 0;
- ``lr_d``: the discriminator's own learning rate (two time-scale update rule, Heusel et al. 2017);
- ``pac`` (PacGAN, Lin et al. 2018): :math:`D` judges ``pac`` samples jointly, which
  penalises mode collapse;
- ``top_k`` (Sinha et al. 2020): the generator learns only from the samples :math:`D` rates
  best — any loss;
- ``mode_seeking`` (Mao et al. 2019): the generator also minimises
  :math:`\lambda \big/ \big(\overline{|G(z_1) - G(z_2)|} / \overline{|z_1 - z_2|} + 10^{-5}\big)` over
  pairs of its batch, so two codes far apart must give items far apart — a generator that
  maps every :math:`z` to one item pays for it;
- ``spectral_norm`` (Miyato et al. 2018): every linear and conv weight of :math:`D` is divided by
  its largest singular value :math:`\sigma(W)` (one power iteration per forward), which bounds
  :math:`D`'s Lipschitz constant by 1 (times that of its activations);
- ``diffaugment`` (Zhao et al. 2020): the same random differentiable transforms on real and
  generated items before :math:`D`, in both steps (:mod:`latentspace.models.augment`);
- ``rejection_sampling`` (discriminator rejection sampling, Azadi et al. 2019): an optimal
  discriminator's logit is :math:`D^*(x) = \log p_\text{data}(x) / p_G(x)`, so accepting a
  generated :math:`x` with probability :math:`\exp(D(x) - D_\max)` turns samples of
  :math:`p_G` into samples of :math:`p_\text{data}` (as far as :math:`D` is optimal) — ``ns``
  only: no other loss makes :math:`D` a log density ratio.

Networks follow the modality: MLPs for points, a stride-2 conv discriminator and an
upsample+conv generator for images (2-D), transposed convs for volumes (3-D). Neither
discriminator has BatchNorm. On volumes the GAN is the 3-D GAN (Wu et al. 2016): by default
it gates the discriminator (``d_gate=0.8``) and adds a light mode-seeking term
(``mode_seeking=0.05``), without which it drew one chair for every :math:`z` on ModelNet10
(docs/gan-family.md). The registry also holds the GAN under other defaults: ``dcgan``,
``wgan`` and ``wgan-gp``.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

import torch
from torch import nn

from latentspace.errors import UserError
from latentspace.models.augment import diff_augment, parse_policy
from latentspace.models.base import register
from latentspace.models.gan_losses import (LOSSES, TARGET_LOSSES, d_accuracy, discriminator_loss,  # noqa: F401
                                           generator_loss, gradient_penalty, has_batch_norm, mode_seeking_ratio,
                                           spectral_normalise)
from latentspace.models.gan_recipes import CPU_NS_RECIPES, LOSS_RECIPES, RECIPES, recipe, sizing_note
from latentspace.models.gan_rejection import D_MAX_ITEMS, largest_logit, rejection_sample
from latentspace.models.nets import ConvDecoder, ConvEncoder, check_network, dcgan_init, eval_mode, mlp
from latentspace.models.neural import NeuralModel

@register
class GAN(NeuralModel):
    r"""A GAN with an MLP (points) or convolutional (images, volumes) generator and discriminator.

    Parameters left at None take the defaults of ``recipes`` (by modality), overridden by
    those of ``loss_recipes`` (by loss and modality).

    Parameters
    ----------
    latent_dim : int
        Size of the noise vector z (0: 8 for points, 64 otherwise).
    hidden : int
        Width of the MLP layers (points); 128 in the ``wgan-gp`` preset.
    layers : int
        Hidden layers of each MLP (points).
    width : int, optional
        Channels of the first conv layer, doubled at each stride; None: the recipe's (images: 64, 32 on a CPU).
    upsample : {"auto", "nearest", "transposed"}
        How a conv generator grows its output: nearest-neighbour upsampling then a 3x3 conv
        (free of checkerboard artefacts), or stride-2 transposed convs (DCGAN, the 3-D GAN of
        Wu et al. 2016; a third of the cost). ``auto``: nearest for images, transposed for
        volumes, where a 3x3x3 conv at full size would dominate every step.
    lr : float
        Learning rate of the generator (None: by modality and loss).
    beta1, beta2 : float
        Adam betas (None: by modality and loss).
    label_smoothing : float
        One-sided label smoothing: the discriminator's target for real items is
        ``1 - label_smoothing`` (losses ``ns`` and ``lsgan`` only), which keeps it from
        growing over-confident.
    dcgan_init : bool
        Initialise weights from N(0, 0.02) as in DCGAN.
    ema_decay : float
        Sampling uses an exponential moving average of the generator's weights with this decay
        (0 disables it), which damps the oscillation of the adversarial game.
    pac : int
        PacGAN packing degree: the discriminator sees ``pac`` samples at once.
    lr_d : float
        Discriminator learning rate (None: by modality and loss); one other than ``lr`` is the
        two time-scale update rule (Heusel et al. 2017), which lets the discriminator track
        the generator.
    d_steps : int
        (None: by loss — 5 for ``wgan``, and for ``wgan-gp`` on images and volumes; 1 otherwise.)
        Discriminator (critic) updates per generator update, each on its own slice of the batch.
    instance_noise : float
        (None: by modality.) Standard deviation (model space) of Gaussian noise added to every discriminator input,
        annealed linearly to 0 at half the run (Sønderby et al. 2017): it makes the real and
        generated distributions overlap early on, so the generator is pulled towards every mode;
        the second half sharpens the samples.
    g_batch_norm : bool
        BatchNorm in the hidden layers of an MLP generator (conv generators always have it).
    g_init_std : float
        MLP generators only: at initialisation, rescale the output layer so that generated
        points start with this standard deviation (model space, where the data have std 1).
        A generator spread over the data from the start reaches every mode, instead of
        growing out of the single point that a small initialisation gives (but see
        docs/gan-grid25.md: on grid25 it trades precision for coverage). 0 keeps the plain
        initialisation.
    r1_gamma : float
        (None: by modality.) Weight of the R1 penalty ``gamma/2 * E ||grad_x D(x)||^2`` on real
        items (Mescheder et al. 2018), which makes the non-saturating GAN converge locally
        instead of circling its equilibrium. 0 disables it.
    top_k : float
        (None: by modality and loss.) Top-k training (Sinha et al. 2020), for every loss: the
        generator learns only from the fraction ``top_k`` of its batch that the discriminator
        rates most real; the fraction falls linearly from 1 to ``top_k`` over the first half of
        the run. Late in training the worst samples (those between modes) would pull good
        samples off their modes; ignoring them sharpens the samples. 1 disables it.
    rejection_sampling : bool
        (None: on for points with loss ``ns``, off otherwise.) ``sample`` keeps each
        generated item with probability ``exp(D(x) - D_max)`` (discriminator rejection
        sampling), ``D_max`` being the largest logit over 20,000 generated items after
        training. It removes the samples the discriminator knows to be wrong (for points,
        those on the strips between modes) at the price of drawing ~1/acceptance candidates;
        ``decode(z)`` stays the plain generator. Needs ``pac=1`` and ``loss="ns"``.
    loss : {"ns", "lsgan", "hinge", "wgan", "wgan-gp"}
        The adversarial game (see the module's documentation).
    optimizer : {"adam", "rmsprop"}
        (None: RMSprop for ``wgan``, Adam otherwise.) The optimiser of both networks.
    clip : float
        ``wgan`` only: the critic's weights are clipped to ``[-clip, clip]`` after each step.
    gp_lambda : float
        (None: 10, as in the paper; 1 for points.) ``wgan-gp`` only: weight of the gradient penalty.
    mode_seeking : float
        (None: 0.05 for volumes, 0 otherwise; 0 is off.) Weight :math:`\lambda` of the
        mode-seeking term (Mao et al. 2019): the generator's batch is split into pairs
        :math:`(z_1, z_2)` (for a conditional GAN, with the same label) and the generator also
        minimises :math:`\lambda / (\text{ratio} + 10^{-5})`, the ratio being the mean absolute
        difference of the two items over that of the two codes. A generator that ignores its
        noise (mode collapse) makes the ratio small and the term large.
    d_gate : float
        (None: 0.8 for volumes with losses ``ns``, ``lsgan``, ``hinge``, 0 otherwise; 0 is off.)
        Skip the discriminator's update on a batch where its accuracy (real items scored real,
        generated items scored fake) already exceeds ``d_gate``, as the 3-D GAN does with 0.8
        (Wu et al. 2016): on small or binary data (voxels) the discriminator otherwise wins
        within a few hundred steps and the generator's gradient vanishes. Losses ``ns``,
        ``lsgan`` and ``hinge``; the logged ``d_acc`` is that accuracy.
    minibatch_std : int
        (0: off.) Conv discriminators only: append the minibatch standard deviation over groups
        of this many items as a feature map before the last layer (Karras et al. 2018), so the
        discriminator can see a lack of variety: a generator that has collapsed onto one item
        is told apart from the data. Real and generated items are never grouped together.
    spectral_norm : bool
        Spectral normalisation of every linear and conv layer of the discriminator, which keeps
        its largest singular value at 1 and so bounds its Lipschitz constant.
    diffaugment : str
        DiffAugment policy (images and volumes), a comma-separated subset of
        ``translation,cutout,color`` (color: images only; empty: off): the discriminator sees
        real and generated items through the same kind of random differentiable transforms,
        which keeps it from memorising a small training set.
    generator, discriminator : torch.nn.Module, optional
        Networks of your own in place of the built-in ones (each independently): the generator
        maps codes ``(n, latent_dim)`` (``latent_dim`` required) to model-space items ``(n, *shape)``,
        the discriminator items to one score each, ``(n, 1)`` or ``(n,)``. Checked for shape when
        the model is built; copies are trained (yours are left as they are); ``load`` needs them again.

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("ring8", n=2000)
    >>> gan = ls.models.create("gan").fit(data, steps=20, progress=False)
    >>> gan.sample(5, seed=0).shape
    torch.Size([5, 2])
    """

    name = "gan"
    latent = "continuous"
    inversion = "gradient"
    #: normalisation in a conv discriminator: a per-item GroupNorm(1, C) ("layer"). Without one the
    #: DCGAN discriminator sat at chance on MNIST (D = 0.5 from step 400, generator collapsed onto
    #: 3s); BatchNorm over a batch of real and generated items lets it tell the batches apart by
    #: their statistics instead of judging items; a per-item norm trains (docs/gan-family.md).
    conv_d_norm = "layer"
    ema_nets = ("G",)

    #: defaults of the parameters left at None, by modality, and what each loss changes in them
    #: (measured where :mod:`latentspace.models.gan_recipes` says)
    recipes, loss_recipes, cpu_ns = RECIPES, LOSS_RECIPES, CPU_NS_RECIPES
    param_types = {"width": int, "lr": float, "lr_d": float, "beta1": float, "beta2": float, "instance_noise": float,
                   "r1_gamma": float, "top_k": float, "rejection_sampling": bool, "d_steps": int, "optimizer": str,
                   "gp_lambda": float, "d_gate": float, "mode_seeking": float}
    choices = {"loss": LOSSES, "optimizer": (None, "adam", "rmsprop"), "upsample": ("auto", "nearest", "transposed")}
    default_lr_schedule = "linear"

    def __init__(self, latent_dim: int = 0, hidden: int = 256, layers: int = 3, width: int | None = None,
                 lr: float | None = None, beta1: float | None = None, beta2: float | None = None,
                 label_smoothing: float = 0.0, dcgan_init: bool = True, ema_decay: float = 0.999, pac: int = 1,
                 lr_d: float | None = None, d_steps: int | None = None, instance_noise: float | None = None,
                 g_batch_norm: bool = False, g_init_std: float = 0.0, r1_gamma: float | None = None,
                 top_k: float | None = None, rejection_sampling: bool | None = None, loss: str = "ns",
                 optimizer: str | None = None, clip: float = 0.01, gp_lambda: float | None = None,
                 spectral_norm: bool = False, diffaugment: str = "", upsample: str = "auto",
                 d_gate: float | None = None, minibatch_std: int = 0, mode_seeking: float | None = None,
                 generator=None, discriminator=None):
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.layers = layers
        self.width = width
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.label_smoothing = label_smoothing
        self.dcgan_init = dcgan_init
        self.ema_decay = ema_decay
        self.pac = pac
        self.lr_d = lr_d
        self.d_steps = d_steps
        self.instance_noise = instance_noise
        self.g_batch_norm = g_batch_norm
        self.g_init_std = g_init_std
        self.r1_gamma = r1_gamma
        self.top_k = top_k
        self.rejection_sampling = rejection_sampling
        self.loss = loss
        self.optimizer = optimizer
        self.clip = clip
        self.gp_lambda = gp_lambda
        self.spectral_norm = spectral_norm
        self.diffaugment = diffaugment
        self.upsample = upsample
        self.d_gate = d_gate
        self.minibatch_std = minibatch_std
        self.mode_seeking = mode_seeking
        self.generator = generator
        self.discriminator = discriminator

    def upsample_for(self, info) -> str:
        """The conv generator's upsampling for data described by ``info`` (``upsample`` resolved)."""
        return info.spec.conv_upsample if self.upsample == "auto" else self.upsample

    def _default_steps(self, data):
        return self.recipe(data.info)["steps"]

    def _default_batch_size(self, data):
        return self.recipe(data.info)["batch_size"]

    def _default_lr_schedule(self, data):
        return self.recipe(data.info).get("lr_schedule", self.default_lr_schedule)

    def sizing_note(self, cfg) -> str | None:
        return sizing_note(self.recipes, self.loss_recipes, self.info_, self.loss, self.sized_for_, self.cpu_ns)

    # -- settings -------------------------------------------------------------------
    def recipe(self, info) -> dict:
        """The defaults for data described by ``info``: ``recipes`` updated by ``loss_recipes``."""
        return recipe(self.recipes, self.loss_recipes, info, self.loss, self.sized_for_, self.cpu_ns)

    #: the settings resolved when the networks were built: {parameter: value used}
    settings_ = None

    def setting(self, name: str):
        """A parameter's value, or the modality's and loss's default when it was left at None."""
        if self.settings_ is None:
            return self.setting_from(self.info_, name)
        return self.settings_[name]

    def resolved_params(self) -> dict:
        return {**super().resolved_params(), **(self.settings_ or {}), "latent_dim": self.z_dim,
                "upsample": self.upsample_for(self.info_)}

    def setting_from(self, info, name: str):
        value = getattr(self, name)
        return self.recipe(info)[name] if value is None else value

    def _check_options(self, info) -> None:
        """Refuse parameter values that do not fit together or the data, before building anything."""
        for name, low in (("latent_dim", 0), ("hidden", 1), ("layers", 0), ("width", 1)):
            value = self.setting_from(info, name) if name == "width" else getattr(self, name)
            if int(value) != value or value < low:
                raise UserError(f"{name} must be an integer >= {low}, got {value!r}")
        for name in ("lr", "lr_d"):
            if not self.setting_from(info, name) > 0:
                raise UserError(f"{name} must be a positive learning rate, got {self.setting_from(info, name)!r}")
        if self.loss not in LOSSES:
            raise UserError(f"unknown GAN loss {self.loss!r}; use one of {', '.join(LOSSES)}")
        if not 0.0 <= self.label_smoothing < 0.5:
            raise UserError(f"label_smoothing must lie in [0, 0.5), got {self.label_smoothing}")
        if self.label_smoothing and self.loss not in TARGET_LOSSES:
            raise UserError(f"label_smoothing needs a loss with targets; use loss in {TARGET_LOSSES} "
                            "or label_smoothing=0")
        if not 0.0 < self.setting_from(info, "top_k") <= 1.0:
            raise UserError(f"top_k must lie in (0, 1], got {self.top_k}")
        if self.pac < 1:
            raise UserError(f"pac must be at least 1, got {self.pac}")
        if self.setting_from(info, "d_steps") < 1:
            raise UserError(f"d_steps must be at least 1, got {self.d_steps}")
        if self.rejection_sampling and self.pac > 1:
            raise UserError("rejection_sampling needs a discriminator that judges single items; "
                            "use pac=1 or rejection_sampling=false")
        if self.rejection_sampling and self.loss != "ns":
            raise UserError(f"rejection_sampling needs the logistic discriminator of loss='ns', not {self.loss!r}; "
                            "use loss='ns' or rejection_sampling=false")
        if self.clip <= 0:
            raise UserError(f"clip must be positive, got {self.clip}")
        if self.minibatch_std < 0 or self.minibatch_std == 1 or (self.minibatch_std and not info.spec.spatial):
            raise UserError(f"minibatch_std is a group size >= 2 (0: off) for conv discriminators (images, "
                            f"volumes); got {self.minibatch_std} for {info.modality}")
        gate = self.setting_from(info, "d_gate")
        if not 0.0 <= gate <= 1.0 or (gate > 0 and self.loss in ("wgan", "wgan-gp")):
            raise UserError(f"d_gate must lie in [0, 1] (0: off) and needs a classifying discriminator "
                            f"(loss ns, lsgan or hinge); got {gate} with loss={self.loss!r}")
        if self.setting_from(info, "mode_seeking") < 0:
            raise UserError(f"mode_seeking is a weight >= 0 (0: off), got {self.setting_from(info, 'mode_seeking')}")
        if self.setting_from(info, "gp_lambda") < 0:
            raise UserError(f"gp_lambda must be non-negative, got {self.gp_lambda}")
        parse_policy(self.diffaugment, info.spec.spatial_dims)
        if self.generator is not None and not self.latent_dim:
            raise UserError("a generator of your own needs latent_dim, the width of its input codes; "
                            "pass latent_dim=... with generator=...")

    # -- networks ------------------------------------------------------------------
    @property
    def z_dim(self) -> int:
        if self.latent_dim:
            return self.latent_dim
        return 8 if self.info_ is not None and not self.info_.spec.spatial else 64

    def latent_width(self) -> int:
        return self.z_dim

    @contextmanager
    def differentiable_decoder(self):
        """The (EMA) generator in eval mode: ``decode(z, y)`` -> model-space items."""
        G = self.eval_net("G")
        with eval_mode(G):
            yield (lambda z, y: G(z, y)) if self.conditional else (lambda z, y: G(z))

    def build(self, info, device=None) -> "GAN":
        """The networks of ``_build``, with spectral normalisation on the discriminator if asked for;
        the recipe's defaults resolved into ``settings_``."""
        self._check_options(info)
        self.settings_ = {name: self.setting_from(info, name) for name in self.param_types}
        super().build(info, device)
        if self.loss == "wgan-gp" and has_batch_norm(self.nets_["D"]):
            raise UserError("wgan-gp penalises each item's gradient, and a BatchNorm critic mixes items; "
                            "use a critic with LayerNorm/GroupNorm or no norm")
        if self.spectral_norm:
            spectral_normalise(self.nets_["D"])
        return self

    def _build(self, info):
        G, D = self._own_networks(info, self.z_dim, info.shape)
        if G is None or D is None:
            G0, D0 = self._default_networks(info)
            G, D = G if G is not None else G0, D if D is not None else D0
        return {"G": G, "D": D}

    def _own_networks(self, info, z_in: int, d_in: tuple):
        """Copies of the networks the user passed (None where not), checked for shape: G maps codes
        ``(n, z_in)`` to items, D packed items ``(n, *d_in)`` to one score each."""
        G = D = None
        if self.generator is not None:
            G = check_network("generator", copy.deepcopy(self.generator), torch.zeros(2, z_in), [(2, *info.shape)])
        if self.discriminator is not None:
            d_in = (d_in[0] * self.pac, *d_in[1:])
            D = check_network("discriminator", copy.deepcopy(self.discriminator), torch.zeros(2, *d_in),
                              [(2, 1), (2,)])
        return G, D

    def _default_networks(self, info):
        """The built-in networks: MLPs for points, conv nets for spatial items."""
        if info.spec.spatial:
            channels, *spatial = info.shape
            G = ConvDecoder(self.z_dim, info.shape, width=self.setting("width"), norm="batch", out_act=nn.Tanh(),
                            upsample=self.upsample_for(info))
            D = ConvEncoder((channels * self.pac, *spatial), 1, width=self.setting("width"), norm=self.conv_d_norm,
                            minibatch_std=self.minibatch_std)
        else:
            norm = nn.BatchNorm1d if self.g_batch_norm else None
            G = nn.Sequential(mlp([self.z_dim] + [self.hidden] * self.layers + [info.dim], act=nn.ReLU, norm=norm),
                              nn.Unflatten(1, tuple(info.shape)))
            D = nn.Sequential(nn.Flatten(), mlp([info.dim * self.pac] + [self.hidden] * self.layers + [1]))
        if self.dcgan_init:
            dcgan_init(G)
            dcgan_init(D)
        if self.g_init_std > 0 and not info.spec.spatial:
            out_layer = [m for m in G.modules() if isinstance(m, nn.Linear)][-1]
            with torch.no_grad():
                spread = G(torch.randn(4096, self.z_dim)).std()
                out_layer.weight.mul_(self.g_init_std / spread.clamp_min(1e-12))
                out_layer.bias.zero_()
        return G, D

    def _optimizer(self, params, lr: float) -> torch.optim.Optimizer:
        if self.setting("optimizer") == "rmsprop":
            return torch.optim.RMSprop(params, lr=lr)
        return torch.optim.Adam(params, lr=lr, betas=(self.setting("beta1"), self.setting("beta2")))

    def configure_optimizers(self):
        self.opt_g_ = self._optimizer(self.nets_["G"].parameters(), self.setting("lr"))
        self.opt_d_ = self._optimizer(self.nets_["D"].parameters(), self.setting("lr_d"))
        return {"G": self.opt_g_, "D": self.opt_d_}

    def _pack(self, x: torch.Tensor) -> torch.Tensor:
        """Group ``pac`` consecutive items into one discriminator input (along features/channels)."""
        if self.pac == 1:
            return x
        n = len(x) - len(x) % self.pac
        x = x[:n]
        return x.reshape(n // self.pac, self.pac * x.shape[1], *x.shape[2:])

    # -- the two networks, as subclasses see them -------------------------------------
    conditional = False  # conditional subclasses pass labels ``y`` to both networks

    def generate(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Items (model space) from latent codes ``z`` (and labels ``y``, for conditional GANs)."""
        return self.net("G")(z)

    def discriminate(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Logits for (packed) items ``x`` (and labels ``y``, for conditional GANs)."""
        return self.net("D")(x)

    # -- training -------------------------------------------------------------------
    def train_step(self, batch, step):
        x = batch.x
        y = batch.y if self.conditional else None
        first_half = max(0.0, 1.0 - 2.0 * batch.progress)  # 1 -> 0 over the first half of the run
        noise_std = self.setting("instance_noise") * first_half
        keep = self.setting("top_k") + (1.0 - self.setting("top_k")) * first_half
        d_steps, gamma, loss = self.setting("d_steps"), self.setting("r1_gamma"), self.loss
        gate, seeking = self.setting("d_gate"), self.setting("mode_seeking")

        def seen(items):  # what D sees of a group of items: augmented, noised, packed (a pack never mixes groups)
            if self.diffaugment:
                items = diff_augment(items, self.diffaugment)
            if noise_std > 0:
                items = items + noise_std * torch.randn_like(items)
            return self._pack(items)

        def noise(n):
            return torch.randn(n, self.z_dim, device=x.device)

        # Discriminator: one forward on both halves per step, each step on its own slice of the batch.
        # Generated items of a conditional GAN get the real batch's labels (the same label distribution).
        chunks = zip(x.chunk(d_steps), y.chunk(d_steps) if y is not None else [None] * d_steps)
        for real, labels in chunks:
            with torch.no_grad():  # no graph through G in the discriminator's step
                fake = self.generate(noise(len(real)), labels)
            if gamma > 0:
                real = real.detach().requires_grad_(True)
            real_seen, fake_seen = seen(real), seen(fake)
            both = None if y is None else torch.cat([labels, labels])
            if self.minibatch_std:  # batch statistics: real and generated items in separate forwards
                real_out, fake_out = self.discriminate(real_seen, labels), self.discriminate(fake_seen, labels)
            else:
                real_out, fake_out = self.discriminate(torch.cat([real_seen, fake_seen]), both).chunk(2)
            loss_d = discriminator_loss(real_out, fake_out, loss, self.label_smoothing)
            logs = {}
            if loss == "wgan-gp" and self.setting("gp_lambda") > 0:
                gp = gradient_penalty(lambda v, labels=labels: self.discriminate(v, labels), real_seen, fake_seen)
                loss_d, logs["gp"] = loss_d + self.setting("gp_lambda") * gp, gp.item()
            if gamma > 0:
                (grad,) = torch.autograd.grad(real_out.sum(), real, create_graph=True)
                loss_d = loss_d + 0.5 * gamma * grad.pow(2).flatten(1).sum(1).mean()
            if gate > 0:
                logs["d_acc"] = d_accuracy(real_out, fake_out, loss, self.dist_)
                if logs["d_acc"] > gate:
                    continue
            self.opt_d_.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d_.step()
            if loss == "wgan":
                with torch.no_grad():
                    for p in self.nets_["D"].parameters():
                        p.clamp_(-self.clip, self.clip)

        # Generator, on the best-rated fraction ``keep`` of its batch (top-k training).
        z, half = noise(len(x)), len(x) // 2
        seeking = seeking if half > 0 else 0.0  # a batch of one has no pair
        if seeking and y is not None:  # pairs (z_1, z_2) share their label
            y = torch.cat([y[:half], y[:half], y[2 * half:]])
        fake = self.generate(z, y)
        gen_out = self.discriminate(seen(fake), y)
        if keep < 1.0:
            gen_out = gen_out.flatten().topk(max(1, round(keep * gen_out.numel()))).values
        loss_g = generator_loss(gen_out, loss)
        if seeking:
            ratio = mode_seeking_ratio(fake[:half], fake[half:2 * half], z[:half], z[half:2 * half])
            loss_g = loss_g + seeking / (ratio + 1e-5)
            logs["ms_ratio"] = ratio.item()
        self.opt_g_.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g_.step()
        score = torch.sigmoid if loss == "ns" else (lambda t: t)  # D's probability of "real", or its raw score
        return dict(loss_d=loss_d.item(), loss_g=loss_g.item(), d_real=score(real_out).mean().item(),
                    d_fake=score(fake_out).mean().item(), **logs)

    # -- rejection sampling (see :mod:`latentspace.models.gan_rejection`) --------------------
    d_max_ = None

    def _rejects(self) -> bool:
        return bool(self.setting("rejection_sampling")) and self.pac == 1 and self.d_max_ is not None

    def end_training(self, data) -> None:
        """Record ``D_max`` for rejection sampling: the largest logit over generated items."""
        self.d_max_ = None
        if self.setting("rejection_sampling") and self.pac == 1:
            self.d_max_ = largest_logit(self.eval_net("G"), self.nets_["D"],
                                        self._noise(D_MAX_ITEMS, 0, self.z_dim), self._batched)

    def _rejection_sample(self, n: int, seed) -> torch.Tensor:
        x, self.acceptance_ = rejection_sample(self.eval_net("G"), self.nets_["D"], self.d_max_, n, seed,
                                               z_dim=self.z_dim, item_dim=self.info_.dim, device=self.device_,
                                               batched=self._batched)
        return x

    # -- the API ------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n, *, seed=None, **cond):
        """``n`` items in data space; the same ``seed`` gives the same items.

        With ``rejection_sampling`` (the default for points) the discriminator filters the
        generator's output; ``decode`` gives the plain generator.
        """
        self._check_fitted()
        n = self._check_n(n)
        if self._rejects():
            return self._to_data(self._rejection_sample(n, seed))
        return self.decode(self._noise(n, seed, self.z_dim))

    def _get_state(self):
        tensors, extra = super()._get_state()
        return tensors, {**extra, "d_max": self.d_max_}

    def _set_state(self, tensors, extra):
        super()._set_state(tensors, extra)
        self.d_max_ = extra.get("d_max")

    @torch.no_grad()
    def decode(self, z):
        """Generator output for latent codes ``z`` (n, latent_dim), in data space."""
        self._check_fitted()
        z = self._as_codes(z, self.z_dim)
        with eval_mode(self.eval_net("G")):
            return self._to_data(self._batched(self.eval_net("G"), z.to(self.device_)))
