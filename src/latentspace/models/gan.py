r"""Generative adversarial networks (Goodfellow et al. 2014).

A generator :math:`G` maps noise :math:`z \sim \mathcal N(0, I)` to items; a discriminator
:math:`D` outputs a logit for "real". With :math:`\sigma` the logistic function, the
discriminator minimises the cross-entropy

.. math::
    L_D = -\mathbb E_{x \sim p_\text{data}} \log \sigma(D(x)) - \mathbb E_z \log(1 - \sigma(D(G(z))))

and the generator the *non-saturating* loss :math:`L_G = -\mathbb E_z \log \sigma(D(G(z)))`,
which has the same fixed point as the minimax game but strong gradients when :math:`D`
wins early on.

The classic stabilising hacks are options:

- ``label_smoothing`` (one-sided, Salimans et al. 2016): real targets :math:`1-s`, fakes 0;
- ``dcgan_init``: N(0, 0.02) weights (Radford et al. 2016); Adam with ``lr=2e-4``, ``beta1=0.5``;
- ``ema_decay``: sample from an exponential moving average of :math:`G`'s weights
  (Yazıcı et al. 2019), which sharpens samples and damps oscillation;
- ``instance_noise``: Gaussian noise on the discriminator's inputs, annealed to 0;
- ``pac`` (PacGAN, Lin et al. 2018): :math:`D` judges ``pac`` samples jointly, which
  penalises mode collapse;
- ``top_k`` (Sinha et al. 2020): the generator learns only from the samples :math:`D` rates best;
- ``rejection_sampling`` (discriminator rejection sampling, Azadi et al. 2019): an optimal
  discriminator's logit is :math:`D^*(x) = \log p_\text{data}(x) / p_G(x)`, so accepting a
  generated :math:`x` with probability :math:`\exp(D(x) - D_\max)` turns samples of
  :math:`p_G` into samples of :math:`p_\text{data}` (as far as :math:`D` is optimal).

Networks follow the modality: MLPs for points, a stride-2 conv discriminator and an
upsample+conv generator for images (2-D) and volumes (3-D).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from latentspace.errors import UserError
from latentspace.models.base import register
from latentspace.models.nets import ConvDecoder, ConvEncoder, dcgan_init, is_spatial, mlp
from latentspace.models.neural import NeuralModel


@register
class GAN(NeuralModel):
    """A GAN with an MLP (points) or convolutional (images, volumes) generator and discriminator.

    Parameters
    ----------
    latent_dim : int
        Size of the noise vector z (0: 8 for points, 64 otherwise).
    hidden : int
        Width of the MLP layers (points).
    layers : int
        Hidden layers of each MLP (points).
    width : int
        Channels of the first conv layer (images, volumes); doubled at each stride.
    lr : float
        Adam learning rate of the generator (None: by modality, see ``recipes``).
    beta1, beta2 : float
        Adam betas (None: by modality).
    label_smoothing : float
        One-sided label smoothing: real targets are ``1 - label_smoothing``.
    dcgan_init : bool
        Initialise weights from N(0, 0.02) as in DCGAN.
    ema_decay : float
        Decay of the EMA of the generator's weights used for sampling (0 disables it).
    pac : int
        PacGAN packing degree: the discriminator sees ``pac`` samples at once.
    lr_d : float
        Discriminator learning rate (None: by modality); a larger one than ``lr`` is the two
        time-scale update rule (Heusel et al. 2017).
    d_steps : int
        Discriminator updates per generator update (each on its own batch slice).
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
    top_k : float
        (None: by modality.) Top-k training (Sinha et al. 2020): the generator learns only from
        the fraction ``top_k`` of its batch that the discriminator rates most real; the fraction
        falls linearly from 1 to ``top_k`` over the first half of the run. Late in training the
        worst samples (those between modes) would pull good samples off their modes; ignoring
        them sharpens the samples. 1 disables it.
    rejection_sampling : bool
        (None: by modality — on for points, off for images and volumes.) ``sample`` keeps each
        generated item with probability ``exp(D(x) - D_max)`` (discriminator rejection
        sampling), ``D_max`` being the largest logit over 20,000 generated items after
        training. It removes the samples the discriminator knows to be wrong (for points,
        those on the strips between modes) at the price of drawing ~1/acceptance candidates;
        ``decode(z)`` stays the plain generator. Needs ``pac=1``.
    r1_gamma : float
        (None: by modality.) Weight of the R1 penalty ``gamma/2 * E ||grad_x D(x)||^2`` on real
        items (Mescheder et al. 2018), which makes the non-saturating GAN converge locally
        instead of circling its equilibrium. 0 disables it.

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("ring8", n=2000)
    >>> gan = ls.models.create("gan").fit(data, steps=20, progress=False)
    >>> gan.sample(5, seed=0).shape
    torch.Size([5, 2])
    """

    name = "gan"
    ema_nets = ("G",)
    default_steps = 6000  # images and volumes; points get 12,000 (see _default_steps)
    default_batch_size = 256

    #: defaults of the parameters left at None, by modality: the DCGAN recipe for images and
    #: volumes, and for points a recipe measured on grid25 (see docs/gan-grid25.md)
    recipes = {
        "points": dict(lr=1e-3, lr_d=3e-3, beta1=0.0, beta2=0.9, instance_noise=0.1, r1_gamma=0.0,
                       top_k=0.5, rejection_sampling=True),
        "spatial": dict(lr=2e-4, lr_d=2e-4, beta1=0.5, beta2=0.999, instance_noise=0.0, r1_gamma=0.0,
                        top_k=1.0, rejection_sampling=False),
    }
    param_types = {"lr": float, "lr_d": float, "beta1": float, "beta2": float, "instance_noise": float,
                   "r1_gamma": float, "top_k": float, "rejection_sampling": bool}
    default_lr_schedule = "linear"

    def __init__(self, latent_dim: int = 0, hidden: int = 256, layers: int = 3, width: int = 64,
                 lr: float | None = None, beta1: float | None = None, beta2: float | None = None,
                 label_smoothing: float = 0.0, dcgan_init: bool = True, ema_decay: float = 0.999, pac: int = 1,
                 lr_d: float | None = None, d_steps: int = 1, instance_noise: float | None = None,
                 g_batch_norm: bool = False, g_init_std: float = 0.0, r1_gamma: float | None = None,
                 top_k: float | None = None, rejection_sampling: bool | None = None):
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

    def _default_steps(self, data):
        return self.default_steps if is_spatial(data.info) else 12000

    # -- networks ------------------------------------------------------------------
    @property
    def z_dim(self) -> int:
        if self.latent_dim:
            return self.latent_dim
        return 8 if self.info_ is not None and not is_spatial(self.info_) else 64

    def _build(self, info):
        if not 0.0 <= self.label_smoothing < 0.5:
            raise UserError(f"label_smoothing must lie in [0, 0.5), got {self.label_smoothing}")
        if not 0.0 < self.setting_from(info, "top_k") <= 1.0:
            raise UserError(f"top_k must lie in (0, 1], got {self.top_k}")
        if self.pac < 1:
            raise UserError(f"pac must be at least 1, got {self.pac}")
        if self.rejection_sampling and self.pac > 1:
            raise UserError("rejection_sampling needs a discriminator that judges single items; "
                            "use pac=1 or rejection_sampling=false")
        if is_spatial(info):
            channels, *spatial = info.shape
            G = ConvDecoder(self.z_dim, info.shape, width=self.width, norm="batch", out_act=nn.Tanh())
            D = ConvEncoder((channels * self.pac, *spatial), 1, width=self.width)
        else:
            norm = nn.BatchNorm1d if self.g_batch_norm else None
            G = nn.Sequential(mlp([self.z_dim] + [self.hidden] * self.layers + [info.dim], act=nn.ReLU, norm=norm),
                              nn.Unflatten(1, tuple(info.shape)))
            D = nn.Sequential(nn.Flatten(), mlp([info.dim * self.pac] + [self.hidden] * self.layers + [1]))
        if self.dcgan_init:
            dcgan_init(G)
            dcgan_init(D)
        if self.g_init_std > 0 and not is_spatial(info):
            out_layer = [m for m in G.modules() if isinstance(m, nn.Linear)][-1]
            with torch.no_grad():
                spread = G(torch.randn(4096, self.z_dim)).std()
                out_layer.weight.mul_(self.g_init_std / spread.clamp_min(1e-12))
                out_layer.bias.zero_()
        return {"G": G, "D": D}

    def setting(self, name: str):
        """A parameter's value, or the modality's default when it was left at None."""
        return self.setting_from(self.info_, name)

    def setting_from(self, info, name: str):
        value = getattr(self, name)
        if value is None:
            value = self.recipes["spatial" if is_spatial(info) else "points"][name]
        return value

    def configure_optimizers(self):
        betas = (self.setting("beta1"), self.setting("beta2"))
        self.opt_g_ = torch.optim.Adam(self.nets_["G"].parameters(), lr=self.setting("lr"), betas=betas)
        self.opt_d_ = torch.optim.Adam(self.nets_["D"].parameters(), lr=self.setting("lr_d"), betas=betas)
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
        x = batch["x"]
        y = batch.get("y") if self.conditional else None
        first_half = max(0.0, 1.0 - 2.0 * batch.get("progress", 0.0))  # 1 -> 0 over the first half of the run
        noise_std = self.setting("instance_noise") * first_half
        keep = self.setting("top_k") + (1.0 - self.setting("top_k")) * first_half

        def judge(groups, labels):  # packed separately, so a pack never mixes real and generated items
            items = torch.cat([self._pack(g + noise_std * torch.randn_like(g) if noise_std > 0 else g)
                               for g in groups])
            return self.discriminate(items, None if y is None else torch.cat(labels))

        def noise(n):
            return torch.randn(n, self.z_dim, device=x.device)

        gamma = self.setting("r1_gamma")
        # Discriminator: real -> 1 - s (one-sided smoothing), fake -> 0; one forward on both halves.
        # Generated items of a conditional GAN get the real batch's labels (the same label distribution).
        chunks = zip(x.chunk(self.d_steps), y.chunk(self.d_steps) if y is not None else [None] * self.d_steps)
        for real, labels in chunks:
            fake = self.generate(noise(len(real)), labels).detach()
            if gamma > 0:
                real = real.detach().requires_grad_(True)
            logits = judge([real, fake], [labels, labels])
            real_logits, fake_logits = logits.chunk(2)
            loss_d = (F.binary_cross_entropy_with_logits(
                real_logits, torch.full_like(real_logits, 1.0 - self.label_smoothing))
                + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
            if gamma > 0:
                (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
                loss_d = loss_d + 0.5 * gamma * grad.pow(2).flatten(1).sum(1).mean()
            self.opt_d_.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d_.step()

        # Generator: non-saturating loss -log sigma(D(G(z))).
        fake = self.generate(noise(len(x)), y)
        gen_logits = judge([fake], [y])
        if keep < 1.0:
            gen_logits = gen_logits.flatten().topk(max(1, round(keep * gen_logits.numel()))).values
        loss_g = F.binary_cross_entropy_with_logits(gen_logits, torch.ones_like(gen_logits))
        self.opt_g_.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g_.step()
        return dict(loss_d=loss_d.item(), loss_g=loss_g.item(), d_real=torch.sigmoid(real_logits).mean().item(),
                    d_fake=torch.sigmoid(fake_logits).mean().item())

    # -- rejection sampling -----------------------------------------------------------
    #: generated items whose largest discriminator logit sets the acceptance scale
    D_MAX_ITEMS = 20000
    d_max_ = None

    def _rejects(self) -> bool:
        return bool(self.setting("rejection_sampling")) and self.pac == 1 and self.d_max_ is not None

    @torch.no_grad()
    def end_training(self, data) -> None:
        """Record ``D_max`` for rejection sampling: the largest logit over generated items."""
        self.d_max_ = None
        if not self.setting("rejection_sampling") or self.pac > 1:
            return
        D = self.nets_["D"]
        was = D.training
        D.eval()
        x = self._batched(self.eval_net("G").eval(), self._noise(self.D_MAX_ITEMS, 0, self.z_dim), batch=4096)
        self.d_max_ = float(self._batched(D, x, batch=4096).max())
        D.train(was)

    @torch.no_grad()
    def _rejection_sample(self, n: int, seed) -> torch.Tensor:
        """``n`` generated items (model space), each kept with probability exp(D(x) - D_max)."""
        g = torch.Generator().manual_seed(int(seed)) if seed is not None else torch.Generator().manual_seed(
            int(torch.randint(2**62, ())))
        G, D = self.eval_net("G").eval(), self.nets_["D"]
        was = D.training
        D.eval()
        cap = min(2**20, max(4096, 2**26 // self.info_.dim))  # candidates per round: <= 256 MB of items
        kept, have, drawn, chunk = [], 0, 0, min(cap, max(4096, 8 * n))
        while have < n:
            z = torch.randn(chunk, self.z_dim, generator=g).to(self.device_)
            x = self._batched(G, z, batch=4096)
            logit = self._batched(D, x, batch=4096).flatten().cpu()
            accept = torch.rand(chunk, generator=g) < torch.exp((logit - self.d_max_).clamp(max=0.0))
            kept.append(x[accept.to(x.device)])
            have += int(accept.sum())
            drawn += chunk
            if drawn >= 10_000 * n + 10**6 and have < n:
                raise UserError(f"rejection sampling accepted {have} of {drawn} candidates; the discriminator "
                                "rejects nearly everything — sample with rejection_sampling=false")
            chunk = min(max(chunk, int(1.2 * (n - have) * drawn / max(have, 1))), cap)
        D.train(was)
        self.acceptance_ = have / drawn
        return torch.cat(kept)[:n]

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
        z = torch.as_tensor(z, dtype=torch.float32)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise UserError(f"latent codes must have shape (n, {self.z_dim}), got {tuple(z.shape)}")
        G = self.eval_net("G")
        was = G.training
        G.eval()
        x = self._batched(G, z.to(self.device_))
        G.train(was)
        return self._to_data(x)
