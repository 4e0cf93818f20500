r"""Flow matching: ``flow-matching``, a continuous normalizing flow trained without simulation.

A velocity field :math:`v_\theta(x, t)` defines the flow :math:`\frac{d}{dt}\phi_t(x) = v_\theta(\phi_t(x), t)`,
:math:`\phi_0(x) = x`, that carries the noise :math:`p_0 = \mathcal N(0, I)` at :math:`t = 0` to the
model :math:`p_1` at :math:`t = 1` (a continuous normalizing flow, Chen et al. 2018). *Conditional flow
matching* (Lipman et al. 2023) regresses :math:`v_\theta` onto the velocity :math:`u_t(x | x_1)` of a
path that ends at one data item :math:`x_1`; its expected loss has the same gradient as regressing onto
the marginal field that carries :math:`p_0` to the data, which is never computed. With the Gaussian path
of Lipman et al. (their "OT" path) and :math:`x_0 \sim p_0`:

.. math::
    x_t = \big(1 - (1 - \sigma_\min) t\big) x_0 + t x_1, \qquad
    u_t = \frac{d x_t}{d t} = x_1 - (1 - \sigma_\min) x_0,

.. math::
    \mathcal L_\text{CFM}(\theta) = \mathbb E_{t \sim U[0,1],\, (x_0, x_1) \sim \pi}
    \big\| v_\theta(x_t, t) - u_t \big\|^2 .

With ``sigma_min`` :math:`= \sigma_\min = 0` (the default) the path is the straight line of
rectified flow (Liu et al. 2023) and of I-CFM (Tong et al. 2023) with :math:`\sigma = 0`.
``coupling`` chooses :math:`\pi`: ``independent`` draws :math:`x_0` and :math:`x_1` independently
(:math:`\pi = p_0 \otimes q`); ``ot`` pairs the noise of a batch with its items by the exact optimal
transport plan between the two batches under :math:`\|x_0 - x_1\|^2` (OT-CFM, Tong et al. 2023): a
permutation, found by solving an assignment problem (:func:`~latentspace.models.ode.ot_pairing`).
The paths then cross less, the marginal field is straighter, and a few ODE steps suffice.

Sampling integrates :math:`dx/dt = v_\theta(x, t)` from :math:`x_0 \sim p_0` at :math:`t = 0` to
:math:`t = 1` with a fixed-step ``solver`` (Euler, midpoint or RK4; :mod:`latentspace.models.ode`) in
``sample_steps`` steps. ``decode(z)`` is that map, ``encode(x)`` integrates it backwards (data to
noise): the latent space is the noise, of the items' size :math:`D`.

The likelihood follows from the instantaneous change of variables (Chen et al. 2018; FFJORD,
Grathwohl et al. 2019), integrated backwards from :math:`x_1 = x`:

.. math::
    \log p_1(x) = \log p_0(x_0) - \int_0^1 \nabla \cdot v_\theta(x_t, t)\, dt .

For points the divergence is exact (one backward pass per dimension): ``likelihood_kind`` is
``exact``, up to the ODE solver's error (RK4 in ``likelihood_steps`` steps; under 1e-3 nats on a flow
of known density, tests/test_flow_matching.py). For images and volumes it is Hutchinson's estimator
:math:`\nabla \cdot v = \mathbb E_\epsilon[\epsilon^\top (\partial v / \partial x) \epsilon]` with ``k``
Rademacher probes held fixed along each item's path, as in FFJORD: ``likelihood_kind`` is
``estimate`` -- unbiased for :math:`\log p_1(x)` of the flow, not a bound. It is a density of the
continuous data-space values (the affine map's Jacobian added; :math:`\log p` of 8-bit pictures in
[0, 1] is not a probability of 256 levels, which would need dequantised training).

Class-conditional models (``conditional=True``) see the label :math:`y` and, with probability
``p_uncond``, the null label :math:`\varnothing` in training; sampling uses classifier-free guidance
(Ho & Salimans 2022) on the velocity, :math:`\tilde v = (1 + w)\, v_\theta(x, t, y) - w\, v_\theta(x, t,
\varnothing)` with :math:`w` = ``guidance``; the likelihood :math:`\log p_1(x | y)` uses the unguided
:math:`v_\theta(x, t, y)`.
"""

from __future__ import annotations

import math

import torch

from latentspace.errors import UserError
from latentspace.models.base import optional_labels, register
from latentspace.models.denoisers import as_times, field_for
from latentspace.models.neural import NeuralModel
from latentspace.models.ode import (SOLVERS, divergence_exact, divergence_hutchinson, integrate, ot_pairing,
                                    rademacher)

LOG_2PI = math.log(2 * math.pi)
#: defaults for a CPU, by spatial dimensions (0: points). grid25 (``latentspace train flow-matching --data
#: grid25 --threads 1``, hidden 512, OT): 25/25 modes, 90.0% and 91.6% of samples within 3 sigma (seeds 0, 1)
#: in 178 and 173 CPU s. MNIST: 0.24 CPU s a step of 64 at width 32, patch 2: 3,500 steps fit 15 CPU-minutes
#: (benchmarks/diffusion_mnist.py; 1,450 steps, 5.8 CPU-minutes, gave FD 2.94 on 10,000 samples).
CPU_RECIPES = {0: {"steps": 4500, "batch_size": 256, "lr_schedule": "cosine"},
               "spatial": {"width": 32, "patch": 2, "steps": 3500, "batch_size": 64, "lr_schedule": "cosine"}}
#: ODE steps of sampling when ``sample_steps`` is None: by spatial dimensions (0: points); on MNIST
#: midpoint with 5, 10 and 20 steps gave the same FD (12.8, 12.6, 12.8 on 1,000 samples of a 3-minute model)
SAMPLE_STEPS = {0: 20, "spatial": 8}
#: seed of the Hutchinson probes (``score_samples`` is a deterministic function of its items)
PROBE_SEED = 1234


@register
class FlowMatching(NeuralModel):
    """Conditional flow matching (Lipman et al. 2023): an ODE from noise to data, with a likelihood.

    Parameters
    ----------
    coupling : {"independent", "ot"}
        How noise and items are paired in a batch: independently, or by the batch's exact
        optimal-transport plan (OT-CFM, Tong et al. 2023). On grid25 (6,000 steps, hidden 256, seed 0)
        ``ot`` put 87% of samples within 3 sigma of a mode against 82% for ``independent``; its
        assignment costs about 7 ms a step for a batch of 256 points and 1.4 ms for 64 MNIST digits.
    sigma_min : float
        :math:`\\sigma_\\min` of the path (0: the straight path of rectified flow).
    hidden, layers : int
        Width and hidden layers of the MLP field (points). On grid25 hidden 512 put 92% of samples
        within 3 sigma of a mode against 87% for 256 (6,000 steps, seed 0).
    width : int, optional
        Channels of the U-Net at its first resolution (images, volumes); None: 64, or 32 on a CPU.
    mults, blocks, dropout
        The U-Net's channel multipliers per resolution, residual blocks per resolution, dropout.
    patch : int, optional
        Pixels (voxels) per side folded into channels before the U-Net (space to depth, see
        :class:`~latentspace.models.denoisers.UNet`); None: 1, or 2 on a CPU where the sides allow.
        On MNIST, 3 CPU-minutes of width 32 with patch 2 (723 steps) gave FD 6.9 on 2,000 samples,
        width 64 with patch 4 (1,665 steps) 11.9 (benchmarks/diffusion_mnist.py).
    lr : float
        Adam learning rate.
    ema_decay : float
        Sampling, encoding and the likelihood use an exponential moving average of the field's
        weights with this decay (0, the default: the trained weights). After runs whose learning rate
        anneals to 0 (the cosine default) the trained weights did as well or better than an average
        with decay 0.999: on grid25 90.0% of samples within 3 sigma against 89.1% (seed 0), on MNIST
        FD 12.6 against 12.8 (1,000 samples, a 3-minute model); keep an average for constant rates.
    sample_steps : int, optional
        ODE steps of ``sample``, ``encode`` and ``decode``; None: 20 for points, 8 for images and volumes.
    solver : {"euler", "midpoint", "rk4"}
        Their fixed-step solver (1, 2 and 4 field evaluations a step).
    likelihood_steps : int
        RK4 steps of ``score_samples``.
    k : int
        Hutchinson probes per item for the likelihood of images and volumes (points: exact trace).
    conditional : bool
        Learn :math:`v(x, t, y)` from the data's labels; ``sample(n, labels=...)``.
    p_uncond : float
        Conditional models: the share of training items shown the null label.
    guidance : float
        Conditional models: classifier-free guidance weight :math:`w` in sampling (0: none).

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("moons", n=1000)
    >>> fm = ls.models.create("flow-matching", hidden=64).fit(data, steps=20, progress=False)
    >>> fm.sample(5, seed=0).shape
    torch.Size([5, 2])
    >>> fm.encode(data.test.to_data()[:3]).shape
    torch.Size([3, 2])
    >>> fm.score_samples(data.test.to_data()[:3]).shape
    torch.Size([3])
    """

    name = "flow-matching"
    likelihood_kind = "estimate"  # images and volumes (Hutchinson); points: "exact", set when built
    #: held-out items of the likelihood in ``evaluate`` (images: each costs 4 * likelihood_steps * (1 + k) passes)
    nll_items = 100
    likelihood_estimator = "hutchinson"
    encodes = True
    latent = "continuous"
    ema_nets = ("v",)
    choices = {"coupling": ("independent", "ot"), "solver": tuple(SOLVERS)}
    param_types = {"width": int, "patch": int, "sample_steps": int}
    default_steps = 20000
    default_batch_size = 128
    default_lr_schedule = "cosine"

    def __init__(self, coupling: str = "ot", sigma_min: float = 0.0, hidden: int = 512, layers: int = 3,
                 width: int | None = None, mults: tuple = (1, 2, 2), blocks: int = 1, dropout: float = 0.0,
                 patch: int | None = None,
                 lr: float = 1e-3, ema_decay: float = 0.0, sample_steps: int | None = None, solver: str = "midpoint",
                 likelihood_steps: int = 16, k: int = 1, conditional: bool = False, p_uncond: float = 0.1,
                 guidance: float = 1.0):
        self.coupling = coupling
        self.sigma_min = sigma_min
        self.hidden = hidden
        self.layers = layers
        self.width = width
        self.mults = mults
        self.blocks = blocks
        self.dropout = dropout
        self.patch = patch
        self.lr = lr
        self.ema_decay = ema_decay
        self.sample_steps = sample_steps
        self.solver = solver
        self.likelihood_steps = likelihood_steps
        self.k = k
        self.conditional = conditional
        self.p_uncond = p_uncond
        self.guidance = guidance

    # -- sizing and construction -----------------------------------------------------------------
    def sized_recipe(self, info) -> dict:
        if self.sized_for_ != "cpu":
            return {}
        return dict(CPU_RECIPES["spatial" if info.spec.spatial else 0])

    @property
    def field_width(self) -> int:
        """U-Net channels at full resolution (``width``, else sized for the machine)."""
        return int(self.width) if self.width else self.sized_recipe(self.info_).get("width", 64)

    @property
    def ode_steps(self) -> int:
        """ODE steps of sampling, encoding and decoding (``sample_steps``, else by modality)."""
        if self.sample_steps:
            return int(self.sample_steps)
        return SAMPLE_STEPS["spatial" if self.info_.spec.spatial else 0]

    @property
    def field_patch(self) -> int:
        """Space-to-depth patch of the U-Net (``patch``, else sized for the machine where the sides allow)."""
        if self.patch:
            return int(self.patch)
        patch = self.sized_recipe(self.info_).get("patch", 1)
        return patch if all(s % patch == 0 for s in self.info_.shape[1:]) else 1

    def resolved_params(self) -> dict:
        spatial = self.info_ is not None and self.info_.spec.spatial
        extra = {"width": self.field_width, "patch": self.field_patch} if spatial else {}
        if self.info_ is not None:
            extra["sample_steps"] = self.ode_steps
        return {**super().resolved_params(), **extra}

    @property
    def num_classes(self) -> int:
        return self.info_.num_classes if self.conditional else 0

    def _check_params(self) -> None:
        for name, least in (("hidden", 1), ("layers", 0), ("blocks", 1), ("likelihood_steps", 1), ("k", 1)):
            if int(getattr(self, name)) < least:
                raise UserError(f"{name} must be at least {least}, got {getattr(self, name)}")
        if self.sample_steps is not None and int(self.sample_steps) < 1:
            raise UserError(f"sample_steps must be at least 1, got {self.sample_steps}")
        if self.patch is not None and int(self.patch) < 1:
            raise UserError(f"patch must be at least 1, got {self.patch}")
        if self.patch and any(s % int(self.patch) for s in self.info_.shape[1:]):
            raise UserError(f"patch {self.patch} does not divide the items' sides {tuple(self.info_.shape[1:])}; "
                            "choose a divisor or leave it out")
        if self.width is not None and int(self.width) < 8:
            raise UserError(f"width must be at least 8 (GroupNorm groups), got {self.width}")
        if not 0.0 <= float(self.sigma_min) < 1.0:
            raise UserError(f"sigma_min must lie in [0, 1), got {self.sigma_min}")
        if not 0.0 <= float(self.p_uncond) < 1.0:
            raise UserError(f"p_uncond must lie in [0, 1), got {self.p_uncond}")
        if not 0.0 <= float(self.ema_decay) < 1.0:
            raise UserError(f"ema_decay must lie in [0, 1), got {self.ema_decay}")

    def _check_data(self, data) -> None:
        if self.conditional and (data.y is None or data.info.num_classes < 2):
            raise UserError(f"conditional flow matching needs class labels and {data.name} has none; use a "
                            "labelled dataset or conditional=false")

    def build(self, info, device=None) -> "FlowMatching":
        self.info_ = info
        self._check_params()
        super().build(info, device)
        # points: the exact trace (and every held-out item); images and volumes: Hutchinson's estimate
        self.likelihood_kind = "estimate" if info.spec.spatial else "exact"
        self.nll_items = type(self).nll_items if info.spec.spatial else None
        return self

    def _build(self, info) -> dict:
        field = field_for(info, num_classes=self.num_classes, hidden=int(self.hidden), layers=int(self.layers),
                          width=self.field_width, mults=tuple(self.mults), blocks=int(self.blocks),
                          dropout=float(self.dropout), patch=self.field_patch)
        return {"v": field}

    def configure_optimizers(self) -> dict:
        self.opt_ = torch.optim.Adam(self.nets_["v"].parameters(), lr=self.lr)
        return {"v": self.opt_}

    # -- training --------------------------------------------------------------------------------
    def path(self, x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor):
        """:math:`(x_t, u_t)` of the conditional path at times ``t`` ``(n,)``."""
        tb = t.view(-1, *[1] * (x1.ndim - 1))
        s = 1.0 - float(self.sigma_min)
        return (1 - s * tb) * x0 + tb * x1, x1 - s * x0

    def couple(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """The noise ``x0`` reordered to pair with the items ``x1`` as ``coupling`` says."""
        return x0[ot_pairing(x0, x1)] if self.coupling == "ot" else x0

    def train_step(self, batch, step: int) -> dict:
        x1 = batch.x
        x0 = self.couple(torch.randn_like(x1), x1)
        t = torch.rand(len(x1), device=x1.device)
        xt, ut = self.path(x0, x1, t)
        y = None
        if self.conditional:
            drop = torch.rand(len(x1), device=x1.device) < float(self.p_uncond)
            y = torch.where(drop, torch.full_like(batch.y, self.num_classes), batch.y)
        loss = (self.net("v")(xt, t, y) - ut).square().mean()
        self.opt_.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_.step()
        return {"loss": float(loss.detach())}

    # -- the field and its ODE ---------------------------------------------------------------------
    def _labels_for(self, n: int, labels, *, required: bool = False, what: str = "") -> torch.Tensor | None:
        """Labels for ``n`` items on the model's device: None for unconditional models; cycled when absent."""
        y = optional_labels(self, n, labels, required=required, what=what)
        return None if y is None else y.to(self.device_)

    def velocity(self, y: torch.Tensor | None, guidance: float):
        """The field :math:`\\tilde v(x, t)` to integrate, ``f(state, t)`` for
        :func:`~latentspace.models.ode.integrate`: the EMA network given labels ``y`` (None: unconditional),
        guided with weight ``guidance``."""
        net = self.eval_net("v")
        w = float(guidance)

        def f(state, t):
            x = state[0]
            tt = as_times(t, len(x), x.device)
            if y is None or w == 0:
                return (net(x, tt, y),)
            null = torch.full_like(y, self.num_classes)
            cond, uncond = net(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([y, null])).chunk(2)
            return ((1 + w) * cond - w * uncond,)

        return f

    def _flow(self, x: torch.Tensor, y, t0: float, t1: float) -> torch.Tensor:
        f = self.velocity(y, self.guidance if y is not None else 0.0)
        return integrate(f, x, t0, t1, self.ode_steps, self.solver)

    def _run(self, x: torch.Tensor, labels, t0: float, t1: float, batch: int) -> torch.Tensor:
        self.set_train(False)
        x = x.to(self.device_)
        if labels is None:
            return self._batched(lambda xb: self._flow(xb, None, t0, t1), x, batch=batch)
        return self._batched(lambda xb, yb: self._flow(xb, yb, t0, t1), x, labels, batch=batch)

    @property
    def _batch(self) -> int:
        return 256 if self.info_.spec.spatial else 4096

    # -- the API -----------------------------------------------------------------------------------
    def latent_width(self) -> int:
        return int(self.info_.dim) if self.info_ is not None else None

    @torch.no_grad()
    def sample(self, n, *, seed=None, labels=None, **cond):
        """``n`` items in data space: noise from ``seed`` carried to :math:`t = 1` by the ODE.

        Conditional models: ``labels`` is one class for all items or one per item (default: the
        classes in turn), sampled with classifier-free guidance ``guidance``.
        """
        self._check_fitted()
        n = self._check_n(n)
        y = self._labels_for(n, labels)
        return self.decode(self._noise(n, seed, self.info_.dim), labels=None if y is None else y.cpu())

    @torch.no_grad()
    def decode(self, z, labels=None):
        """The ODE's map from noise codes ``z`` ``(n, D)`` at :math:`t = 0` to data-space items at :math:`t = 1`."""
        self._check_fitted()
        z = self._as_codes(z, self.info_.dim).view(-1, *self.info_.shape)
        y = self._labels_for(len(z), labels)
        return self._to_data(self._run(z, y, 0.0, 1.0, self._batch))

    @torch.no_grad()
    def encode(self, x, labels=None):
        """Codes ``(n, D)``: data-space items carried back to :math:`t = 0` by the ODE (conditional models:
        given ``labels``, the items' classes)."""
        xm = self._as_model_space(x)
        y = self._labels_for(len(xm), labels, required=True, what="encoding")
        return self._run(xm, y, 1.0, 0.0, self._batch).flatten(1).cpu()

    @torch.no_grad()
    def score_samples(self, x, labels=None, k: int | None = None) -> torch.Tensor:
        """:math:`\\log p_1(x)` (nats; conditional models: :math:`\\log p_1(x | y)` given ``labels``) of
        data-space items by the instantaneous change of variables, RK4 in ``likelihood_steps`` steps;
        ``k`` Hutchinson probes for images and volumes (default: the model's ``k``)."""
        xm = self._as_model_space(x).to(self.device_)
        y = self._labels_for(len(xm), labels, required=True, what="likelihood")
        probes = int(k or self.k)
        if probes < 1:
            raise UserError(f"k (Hutchinson probes) must be at least 1, got {k}")
        self.set_train(False)
        batch = 128 if self.info_.spec.spatial else 4096
        starts = torch.arange(0, len(xm), batch)
        out = [self._log_density(xm[i:i + batch], None if y is None else y[i:i + batch], probes, int(i))
               for i in starts]
        ll = torch.cat(out) if out else torch.empty(0)
        return (ll + self._log_det_to_data()).cpu()

    def _log_density(self, x: torch.Tensor, y, probes: int, offset: int) -> torch.Tensor:
        """Model-space :math:`\\log p_1(x)` of one batch: the state :math:`(x_t, a_t)` with
        :math:`da/dt = \\nabla \\cdot v` integrated from :math:`t = 1` (:math:`a = 0`) to 0."""
        net = self.eval_net("v")
        eps = (rademacher(probes, x.shape, PROBE_SEED + offset).to(x.device) if self.info_.spec.spatial
               else None)

        def f(state, t):
            with torch.enable_grad():
                xt = state[0].detach().requires_grad_(True)
                v = net(xt, as_times(t, len(xt), xt.device), y)
                div = divergence_exact(v, xt) if eps is None else divergence_hutchinson(v, xt, eps)
            return v.detach(), div.detach()

        x0, a0 = integrate(f, (x, torch.zeros(len(x), device=x.device)), 1.0, 0.0, int(self.likelihood_steps),
                           "rk4")
        log_p0 = -0.5 * x0.flatten(1).square().sum(1) - 0.5 * self.info_.dim * LOG_2PI
        return log_p0 + a0
