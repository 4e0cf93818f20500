r"""Denoising diffusion probabilistic models (``ddpm``; Ho et al. 2020), with DDIM sampling and
classifier-free guidance.

**Forward process.** A fixed Markov chain adds Gaussian noise to an item :math:`x_0` over
:math:`T` steps (``timesteps``) with variances :math:`\beta_1, \dots, \beta_T` (``schedule``: linear,
Ho et al. 2020, or cosine, Nichol & Dhariwal 2021; :mod:`~latentspace.models.diffusion_schedules`),
:math:`q(x_t|x_{t-1}) = \mathcal N(\sqrt{1 - \beta_t}\, x_{t-1}, \beta_t I)`. With :math:`\alpha_t = 1 - \beta_t`
and :math:`\bar\alpha_t = \prod_{s \le t} \alpha_s` it has the closed form

.. math::
    q(x_t|x_0) = \mathcal N(\sqrt{\bar\alpha_t}\, x_0, (1 - \bar\alpha_t) I), \qquad
    x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \epsilon, \quad \epsilon \sim \mathcal N(0, I),

and the posterior :math:`q(x_{t-1}|x_t, x_0) = \mathcal N(\tilde\mu_t(x_t, x_0), \tilde\beta_t I)`,

.. math::
    \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1 - \bar\alpha_t} x_0
                + \frac{\sqrt{\alpha_t}\,(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t} x_t, \qquad
    \tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t} \beta_t.

**Reverse process.** A network :math:`\epsilon_\theta(x_t, t)` predicts the noise (a U-Net for images
and volumes, an MLP for points: :func:`~latentspace.models.denoisers.field_for`, time :math:`t/T`), so that
:math:`p_\theta(x_{t-1}|x_t) = \mathcal N(\mu_\theta(x_t, t), \sigma_t^2 I)` with

.. math::
    \mu_\theta(x_t, t) = \tilde\mu_t\big(x_t, \hat x_0\big), \qquad
    \hat x_0 = \frac{x_t - \sqrt{1 - \bar\alpha_t}\, \epsilon_\theta(x_t, t)}{\sqrt{\bar\alpha_t}}
    \;\Longleftrightarrow\;
    \mu_\theta = \frac{1}{\sqrt{\alpha_t}}\Big(x_t
    - \frac{\beta_t}{\sqrt{1 - \bar\alpha_t}}\epsilon_\theta(x_t, t)\Big),

and :math:`\sigma_t^2 = \tilde\beta_t` (one of Ho et al.'s two fixed choices). Training minimises Ho et
al.'s simplified objective, :math:`t` uniform on :math:`\{1, \dots, T\}`:

.. math::
    L_\text{simple} = \mathbb E_{t, x_0, \epsilon} \big\|\epsilon - \epsilon_\theta(\sqrt{\bar\alpha_t}\, x_0
    + \sqrt{1 - \bar\alpha_t}\, \epsilon, t)\big\|^2 .

**The bound** (``score_samples``, ``likelihood_kind = "bound"``): :math:`-\log p_\theta(x_0) \le L_\text{vlb}`,

.. math::
    L_\text{vlb} = \underbrace{\mathrm{KL}(q(x_T|x_0) \,\|\, \mathcal N(0, I))}_{L_T}
    + \sum_{t=2}^{T} \underbrace{\mathbb E_q \mathrm{KL}(q(x_{t-1}|x_t, x_0) \,\|\, p_\theta(x_{t-1}|x_t))}_{L_{t-1}}
    \underbrace{- \,\mathbb E_q \log p_\theta(x_0|x_1)}_{L_0},

where with :math:`\sigma_t^2 = \tilde\beta_t` each KL is the distance of the means,

.. math::
    L_{t-1} = \mathbb E_{x_0, \epsilon} \frac{\beta_t^2}{2 \tilde\beta_t \alpha_t (1 - \bar\alpha_t)}
    \|\epsilon - \epsilon_\theta(x_t, t)\|^2 .

The decoder :math:`p_\theta(x_0|x_1)` has mean :math:`\hat x_0(x_1)` and variance :math:`\sigma_1^2 = \beta_1`
(:math:`\tilde\beta_1 = 0`): a Gaussian density for continuous data (``likelihood_of = "density"``; the
affine map's Jacobian makes it a density of data-space values), Ho et al.'s discretised Gaussian over
256 levels for images in [0, 1] (``"discrete-8bit"``, a probability of 8-bit items).
``score_samples`` returns :math:`-L_\text{vlb}` estimated with fixed-seed noise: :math:`L_T` exactly,
:math:`L_0` and each :math:`L_{t-1}` from one draw of :math:`x_t`, and the sum over :math:`t` either
over every step (``bound_steps >= T - 1``) or stratified: :math:`\{2..T\}` split into ``bound_steps``
runs of consecutive steps, short at small :math:`t` where the terms are largest
(:func:`~latentspace.models.diffusion_schedules.bound_runs`), one step drawn per run and weighted by
the run's length. Either way it is an unbiased Monte Carlo estimate of the bound, not the bound itself;
it costs ``bound_steps + 1`` network passes per item (so ``nll_items`` limits what ``evaluate`` scores).

**Sampling** walks down from :math:`x_T \sim \mathcal N(0, I)` along ``sample_steps`` evenly spaced
steps :math:`\tau_1 < \dots < \tau_S = T` (all :math:`T` when ``sample_steps >= T``):

- ``sampler="ddpm"``: ancestral sampling, :math:`x_{\tau_{i-1}} \sim \mathcal N(\tilde\mu(x_{\tau_i}, \hat x_0),
  \tilde\beta I)` of the respaced process (:math:`\beta' = 1 - \bar\alpha_{\tau_i}/\bar\alpha_{\tau_{i-1}}`;
  Nichol & Dhariwal 2021), :math:`\hat x_0` clipped to [-1, 1] for data with a natural range, and the
  last step's mean :math:`\hat x_0` returned without noise;
- ``sampler="ddim"`` (Song et al. 2021, :math:`\eta = 0`): deterministic,

  .. math::
      x_{\tau_{i-1}} = \sqrt{\bar\alpha_{\tau_{i-1}}}\, \hat x_0(x_{\tau_i})
      + \sqrt{1 - \bar\alpha_{\tau_{i-1}}}\, \epsilon_\theta(x_{\tau_i}, \tau_i).

For data with a natural range (images, volumes) the downward walk clips :math:`\hat x_0` to [-1, 1] and
uses the noise that agrees with it, as the DDIM sampler of Nichol & Dhariwal's code does.

``encode`` runs the DDIM update upwards (:math:`x_0 \to x_T`, the discretised probability-flow
ODE) and ``decode`` downwards, so codes are :math:`x_T` of width :math:`D` and a round trip is exact up
to the ODE's discretisation (``sample_steps``).

**Classifier-free guidance** (Ho & Salimans 2022; ``conditional=True``): the network also sees the label
:math:`y`, replaced in training by the null label :math:`\varnothing` with probability ``p_uncond``, so
one network learns :math:`\epsilon_\theta(x_t, y)` and :math:`\epsilon_\theta(x_t, \varnothing)`; sampling
(and ``encode``/``decode``) use

.. math::
    \tilde\epsilon_\theta(x_t, y) = (1 + w)\, \epsilon_\theta(x_t, y) - w\, \epsilon_\theta(x_t, \varnothing),

:math:`w` = ``guidance``; the bound of :math:`\log p(x|y)` uses :math:`\epsilon_\theta(x_t, y)` (no guidance).
Sampling and encoding use the EMA copy of the network (``ema_decay``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from latentspace.errors import UserError
from latentspace.models.base import optional_labels, register
from latentspace.models.denoisers import field_for
from latentspace.models.diffusion_schedules import (SCHEDULES, NoiseSchedule, bound_runs, discretized_gaussian_nll,
                                                    gaussian_nll, step_sequence)
from latentspace.models.ddpm_recipes import CPU_RECIPES, GPU_RECIPES, SAMPLE_STEPS
from latentspace.models.neural import NeuralModel

SAMPLERS = ("ddpm", "ddim")
#: fixed seed of the noise in ``score_samples`` (a deterministic estimate of the bound)
BOUND_SEED = 1234
#: items per network batch when sampling, encoding and bounding: points, and items with spatial dimensions
CHUNK_POINTS, CHUNK_ITEMS = 4096, 256

@register
class DDPM(NeuralModel):
    """A denoising diffusion model: :math:`\\epsilon`-prediction, ancestral or DDIM sampling, the bound.

    Parameters
    ----------
    schedule : {"linear", "cosine"}
        The noise schedule :math:`\\beta_t` (see :mod:`~latentspace.models.diffusion_schedules`).
    timesteps : int
        :math:`T`, the steps of the forward process (1000, as in Ho et al. 2020).
    sampler : {"ddpm", "ddim"}
        Ancestral sampling or deterministic DDIM (:math:`\\eta = 0`) in ``sample`` (ancestral was the better
        of the two on grid25 and on digits: see :mod:`~latentspace.models.ddpm_recipes`).
    sample_steps : int
        Steps of the sampler and of ``encode``/``decode`` (evenly spaced over 1..T; at least ``T``: every
        step). None: 1000 for points, 100 for images and volumes (measured where
        :mod:`~latentspace.models.ddpm_recipes` says).
    hidden, layers : int
        MLP width (None: 256; 128 on a CPU) and hidden layers, for points.
    width : int
        U-Net channels at full resolution (None: 64; 16 on a CPU), for items with spatial dimensions.
    mults : tuple of int
        U-Net channel multipliers per resolution.
    blocks : int
        U-Net residual blocks per resolution.
    dropout : float
        U-Net dropout.
    patch : int
        U-Net space-to-depth patch (:class:`~latentspace.models.denoisers.UNet`; 2 runs every level at half the
        resolution, 3.6 times faster a step on MNIST on a CPU); must divide the items' sides. None: 2 on a CPU
        for items whose sides are even and at least 16 (MNIST), 1 otherwise (digits, and on a GPU).
    lr : float
        Adam learning rate (None: 1e-3 for points, and for images and volumes on a CPU; 2e-4, Ho et al.'s,
        for images and volumes on a GPU).
    ema_decay : float
        Sampling, encoding and the bound use an exponential moving average of the network with this decay
        (0: the trained weights).
    conditional : bool
        Class-conditional (labelled data): ``sample(n, labels=...)``, classifier-free guidance.
    p_uncond : float
        Probability that a training label is replaced by the null label (0.1, as Ho & Salimans 2022).
    guidance : float
        :math:`w` of classifier-free guidance at sampling (0: the conditional model alone; 1, Ho & Salimans'
        middle setting, is not tuned here).
    bound_steps : int
        Steps :math:`t` at which ``score_samples`` evaluates :math:`L_{t-1}` per item (stratified; at
        least ``T - 1``: every step). None: every step for points, 50 for items with spatial dimensions
        on a CPU (100 on a GPU).

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("moons", n=500)
    >>> ddpm = ls.models.create("ddpm", timesteps=100).fit(data, steps=20, progress=False)
    >>> ddpm.sample(4, seed=0).shape
    torch.Size([4, 2])
    >>> ddpm.encode(data.test.to_data()[:3]).shape
    torch.Size([3, 2])
    """

    name = "ddpm"
    likelihood_kind = "bound"
    encodes = True
    latent = "continuous"
    inversion = None
    ema_nets = ("eps",)
    nll_items = 500
    default_steps = 50000
    default_batch_size = 128
    default_lr_schedule = "cosine"
    choices = {"schedule": SCHEDULES, "sampler": SAMPLERS}
    param_types = {"hidden": int, "width": int, "lr": float, "bound_steps": int, "sample_steps": int, "patch": int}

    def __init__(self, schedule: str = "linear", timesteps: int = 1000, sampler: str = "ddpm",
                 sample_steps: int | None = None, hidden: int | None = None, layers: int = 3,
                 width: int | None = None, mults: tuple = (1, 2, 2), blocks: int = 1, dropout: float = 0.0,
                 patch: int | None = None, lr: float | None = None, ema_decay: float = 0.999, conditional: bool = False,
                 p_uncond: float = 0.1, guidance: float = 1.0, bound_steps: int | None = None):
        self.schedule = schedule
        self.timesteps = timesteps
        self.sampler = sampler
        self.sample_steps = sample_steps
        self.hidden = hidden
        self.layers = layers
        self.width = width
        self.mults = mults
        self.blocks = blocks
        self.dropout = dropout
        self.patch = patch
        self.lr = lr
        self.ema_decay = ema_decay
        self.conditional = conditional
        self.p_uncond = p_uncond
        self.guidance = guidance
        self.bound_steps = bound_steps

    # -- settings ----------------------------------------------------------------------------------------
    @staticmethod
    def _kind(info) -> str:
        return "items" if info.spec.spatial else "points"

    def sized_recipe(self, info) -> dict:
        return dict(CPU_RECIPES[self._kind(info)]) if self.sized_for_ == "cpu" else {}

    def setting(self, name: str, info=None):
        """A parameter's value, or (left at None) the CPU recipe's or the GPU default for the data."""
        value = getattr(self, name)
        if value is not None:
            return value
        info = info or self.info_
        kind = self._kind(info)
        return self.sized_recipe(info).get(name, GPU_RECIPES[kind].get(name))

    def resolved_params(self) -> dict:
        out = super().resolved_params()
        if self.info_ is not None:
            kind = self._kind(self.info_)
            names = ("hidden", "lr", "bound_steps") if kind == "points" else ("width", "lr", "bound_steps")
            out.update({k: self.setting(k) for k in names})
            if kind == "items":
                out["patch"] = self.field_patch()
            out["sample_steps"] = self.steps_of_sampler
        return out

    def field_patch(self, info=None) -> int:
        """The U-Net's patch: ``patch``, or on a CPU 2 for items with even sides of at least 16, else 1."""
        if self.patch is not None:
            return int(self.patch)
        sides = (info or self.info_).shape[1:]
        large = all(side % 2 == 0 and side >= 16 for side in sides)
        return 2 if self.sized_for_ == "cpu" and large else 1

    @property
    def steps_of_sampler(self) -> int:
        """The sampler's steps (``sample_steps``, or by the data when None)."""
        if self.sample_steps is not None:
            return int(self.sample_steps)
        return SAMPLE_STEPS[self._kind(self.info_)]

    @property
    def num_classes(self) -> int:
        return self.info_.num_classes if self.conditional else 0

    @property
    def discrete(self) -> bool:
        """Whether the decoder :math:`p(x_0|x_1)` is Ho et al.'s discretised one (images in [0, 1])."""
        return self.info_ is not None and self.info_.spec.spatial and self.info_.clip == (0.0, 1.0)

    @property
    def likelihood_of(self) -> str:
        return "discrete-8bit" if self.discrete else "density"

    def _check_params(self) -> None:
        for name, low in (("timesteps", 2), ("layers", 0), ("blocks", 1)):
            value = getattr(self, name)
            if int(value) != value or value < low:
                raise UserError(f"{name} must be an integer >= {low}, got {value!r}")
        for name in ("hidden", "width", "bound_steps", "sample_steps", "patch"):
            value = getattr(self, name)
            if value is not None and (int(value) != value or value < 1):
                raise UserError(f"{name} must be a positive integer, got {value!r}")
        if not 0 <= self.p_uncond < 1:
            raise UserError(f"p_uncond must be in [0, 1), got {self.p_uncond!r}")
        if not 0 <= self.ema_decay < 1:
            raise UserError(f"ema_decay must be in [0, 1), got {self.ema_decay!r}")
        if self.guidance < 0:
            raise UserError(f"guidance must be >= 0, got {self.guidance!r}")
        if self.lr is not None and self.lr <= 0:
            raise UserError(f"lr must be positive, got {self.lr!r}")

    def _check_data(self, data) -> None:
        if self.conditional and (data.y is None or data.info.num_classes < 2):
            raise UserError(f"a conditional ddpm needs class labels and {data.name} has none; use a labelled "
                            "dataset or conditional=false")

    # -- networks -----------------------------------------------------------------------------------------
    def _build(self, info):
        self._check_params()
        if self.conditional and info.num_classes < 2:
            raise UserError("a conditional ddpm needs at least two classes in the data's description")
        if info.spec.spatial and any(side % self.field_patch(info) for side in info.shape[1:]):
            raise UserError(f"patch {self.patch} does not divide the items' sides {tuple(info.shape[1:])}; "
                            "use a patch that does (1 always does)")
        self.schedule_ = NoiseSchedule(self.schedule, int(self.timesteps))
        net = field_for(info, num_classes=info.num_classes if self.conditional else 0,
                        hidden=self.setting("hidden", info), layers=int(self.layers),
                        width=self.setting("width", info), mults=tuple(self.mults), blocks=int(self.blocks),
                        dropout=float(self.dropout), patch=self.field_patch(info) if info.spec.spatial else 1)
        return {"eps": net}

    def configure_optimizers(self):
        self.opt_ = torch.optim.Adam(self.nets_["eps"].parameters(), lr=self.setting("lr"))
        return {"eps": self.opt_}

    # -- training -----------------------------------------------------------------------------------------
    def _drop_labels(self, y):
        """Labels with each replaced by the null label (index ``num_classes``) with probability ``p_uncond``."""
        if y is None or self.p_uncond == 0:
            return y
        drop = torch.rand(len(y), device=y.device) < self.p_uncond
        return torch.where(drop, torch.full_like(y, self.num_classes), y)

    def loss_simple(self, x0, y=None, net=None):
        """:math:`L_\\text{simple}` on model-space items ``x0`` (labels ``y``), one draw of ``t`` and ``eps`` each."""
        net = net or self.net("eps")
        t = torch.randint(1, self.schedule_.T + 1, (len(x0),), device=x0.device)
        eps = torch.randn_like(x0)
        xt = self.schedule_.q_sample(x0, t, eps)
        return F.mse_loss(net(xt, self.schedule_.times(t), y), eps)

    def train_step(self, batch, step):
        y = self._drop_labels(batch.y) if self.conditional else None
        loss = self.loss_simple(batch.x, y)
        self.opt_.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_.step()
        return {"loss": loss.detach().item()}

    # -- the reverse process ----------------------------------------------------------------------------
    def _eps(self, xt, t, y=None, guided: bool = True):
        """:math:`\\epsilon_\\theta(x_t, t[, y])` of the EMA network; with labels and ``guided``, the
        classifier-free guided :math:`\\tilde\\epsilon`."""
        net = self.eval_net("eps")
        times = self.schedule_.times(t)
        eps = net(xt, times, y)
        w = float(self.guidance)
        if y is None or not guided or w == 0:
            return eps
        return (1 + w) * eps - w * net(xt, times, None)

    def _steps(self, n: int, step: int, device) -> torch.Tensor:
        return torch.full((n,), int(step), dtype=torch.long, device=device)

    def _clip_x0(self, x0):
        return x0.clamp(-1, 1) if self.info_.clip is not None else x0

    def _ancestral(self, xT, y, noise):
        """DDPM ancestral sampling down ``sample_steps`` steps, ``noise(shape)`` giving each step's draw."""
        seq = step_sequence(self.schedule_.T, self.steps_of_sampler)
        x = xT
        for i in range(len(seq) - 1, -1, -1):
            t, s = self._steps(len(x), seq[i], x.device), self._steps(len(x), seq[i - 1] if i else 0, x.device)
            x0 = self._clip_x0(self.schedule_.predict_x0(x, t, self._eps(x, t, y)))
            mean, var = self.schedule_.posterior(x0, x, t, s)
            x = mean + var.sqrt() * noise(x.shape) if i else mean
        return x

    def _ddim(self, x, y, upwards: bool):
        """The deterministic DDIM walk over ``sample_steps`` steps: down (x_T -> x_0) or up (x_0 -> x_T)."""
        seq = [0] + step_sequence(self.schedule_.T, self.steps_of_sampler)
        pairs = list(zip(seq[:-1], seq[1:]))  # (s, t), s < t
        for s, t in (pairs if upwards else reversed(pairs)):
            frm, to = (s, t) if upwards else (t, s)
            t_from = self._steps(len(x), frm, x.device)
            eps = self._eps(x, self._steps(len(x), max(frm, 1), x.device) if upwards else t_from, y)
            if not upwards and self.info_.clip is not None:  # x0_hat clipped to [-1, 1], eps made to agree
                eps = self.schedule_.clipped_eps(x, t_from, eps)
            x = self.schedule_.ddim_step(x, t_from, self._steps(len(x), to, x.device), eps)
        return x

    # -- labels -------------------------------------------------------------------------------------------
    def _labels_for(self, n: int, labels, *, required: bool = False, what: str = ""):
        return optional_labels(self, n, labels, required=required, what=what)

    def _chunk(self) -> int:
        return CHUNK_ITEMS if self.info_.spec.spatial else CHUNK_POINTS

    def _chunks(self, n: int):
        size = self._chunk()
        return [(i, min(n, i + size)) for i in range(0, n, size)]

    # -- the API ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n, *, seed=None, labels=None, **cond):
        """``n`` items in data space from :math:`x_T \\sim \\mathcal N(0, I)` (drawn on the CPU from ``seed``)
        by ``sampler``; a conditional model draws the classes ``labels`` (one for all, or one per item;
        default: the classes in turn) with guidance ``guidance``."""
        self._check_fitted()
        n = self._check_n(n)
        y = self._labels_for(n, labels)
        base = int(seed) if seed is not None else int(torch.randint(0, 2 ** 31 - 1, ()).item())
        xT = self._noise(n, base, self.info_.dim).view(n, *self.info_.shape)
        self.set_train(False)
        out = []
        for c, (a, b) in enumerate(self._chunks(n)):
            yc = None if y is None else y[a:b].to(self.device_)
            if self.sampler == "ddim":
                out.append(self._ddim(xT[a:b], yc, upwards=False))
            else:
                g = torch.Generator().manual_seed((base * 1_000_003 + c + 1) % (2 ** 63))
                out.append(self._ancestral(xT[a:b], yc,
                                           lambda shape, g=g: torch.randn(shape, generator=g).to(self.device_)))
        return self._to_data(torch.cat(out))

    @torch.no_grad()
    def encode(self, x, labels=None):
        """Codes :math:`x_T` ``(n, D)`` of data-space items: the DDIM ODE from :math:`x_0` up to :math:`T`."""
        xm = self._as_model_space(x)
        y = self._labels_for(len(xm), labels, required=True, what="encoding")
        self.set_train(False)
        out = [self._ddim(xm[a:b].to(self.device_), None if y is None else y[a:b].to(self.device_), upwards=True)
               for a, b in self._chunks(len(xm))]
        return torch.cat(out).flatten(1).float().cpu() if out else torch.empty(0, self.info_.dim)

    @torch.no_grad()
    def decode(self, z, labels=None):
        """Data-space items from codes :math:`x_T` ``(n, D)``: the DDIM ODE down to :math:`x_0`."""
        self._check_fitted()
        z = self._as_codes(z, self.info_.dim).view(-1, *self.info_.shape)
        y = self._labels_for(len(z), labels)
        self.set_train(False)
        out = [self._ddim(z[a:b].to(self.device_), None if y is None else y[a:b].to(self.device_), upwards=False)
               for a, b in self._chunks(len(z))]
        return self._to_data(torch.cat(out)) if out else torch.empty(0, *self.info_.shape)

    def latent_width(self) -> int:
        return self.info_.dim if self.info_ is not None else None

    # -- the bound ------------------------------------------------------------------------------------------
    def bound_terms(self, x0, y=None, *, generator=None):
        """The terms of :math:`L_\\text{vlb}` (nats, float64, per model-space item ``x0``): ``prior``
        (:math:`L_T`), ``diffusion`` (:math:`\\sum_{t=2}^T L_{t-1}`, estimated as the module says) and
        ``decoder`` (:math:`L_0`, of model-space values: no Jacobian), each ``(n,)``."""
        sched, n, dev = self.schedule_, len(x0), x0.device
        g = generator or torch.Generator().manual_seed(BOUND_SEED)
        edges = bound_runs(sched.T, int(self.setting("bound_steps")))  # runs [e_k, e_k+1)
        K, sizes = len(edges) - 1, edges[1:] - edges[:-1]
        t = edges[:-1] + (torch.rand(n, K, generator=g, dtype=torch.float64) * sizes).long()  # one step per run
        diffusion = torch.zeros(n, dtype=torch.float64)
        for k in range(K):
            eps = torch.randn(x0.shape, generator=g).to(dev)
            tk = t[:, k].to(dev)
            err = (eps - self._eps(sched.q_sample(x0, tk, eps), tk, y, guided=False)).double()
            diffusion += sched.eps_weight(t[:, k]) * sizes[k] * err.flatten(1).pow(2).sum(1).cpu()
        one = self._steps(n, 1, dev)
        eps = torch.randn(x0.shape, generator=g).to(dev)
        x1 = sched.q_sample(x0, one, eps)
        mean = sched.predict_x0(x1, one, self._eps(x1, one, y, guided=False))
        var = float(sched.beta[1])
        decoder = discretized_gaussian_nll(x0, mean.clamp(-1, 1), var) if self.discrete else gaussian_nll(x0, mean, var)
        return {"prior": sched.prior_kl(x0).cpu(), "diffusion": diffusion, "decoder": decoder.cpu()}

    @torch.no_grad()
    def score_samples(self, x, labels=None):
        """:math:`-L_\\text{vlb}` per data-space item (nats): a lower bound on :math:`\\log p(x)` (of
        :math:`\\log p(x|y)` for a conditional model, ``labels`` required), estimated with fixed-seed
        noise as the module says. A density of data-space values (the affine map's Jacobian added), or
        for images in [0, 1] a probability of their 8-bit values (each item rounded to 256 levels)."""
        xm = self._as_model_space(x)
        y = self._labels_for(len(xm), labels, required=True, what="likelihood")
        if self.discrete:  # the 8-bit levels the discretised decoder gives a probability of
            xm = self.info_.to_model((self.info_.to_data(xm) * 255).round() / 255)
        self.set_train(False)
        g = torch.Generator().manual_seed(BOUND_SEED)
        out = []
        for a, b in self._chunks(len(xm)):
            yc = None if y is None else y[a:b].to(self.device_)
            terms = self.bound_terms(xm[a:b].to(self.device_), yc, generator=g)
            out.append(-(terms["prior"] + terms["diffusion"] + terms["decoder"]))
        ll = torch.cat(out) if out else torch.empty(0, dtype=torch.float64)
        jacobian = 0.0 if self.discrete else self._log_det_to_data()
        return (ll + jacobian).float()
