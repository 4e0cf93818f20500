r"""Normalizing flows: ``flow``, exact log-densities through an invertible map.

A flow is a bijection :math:`f_\theta: x \mapsto z` onto codes with a simple base density
:math:`p_Z = \mathcal N(0, I)`; by the change of variables

.. math::
    \log p_X(x) = \log p_Z(f(x)) + \log \left| \det \frac{\partial f}{\partial x} \right|,

and training maximises it on the training items (the loss is the NLL in bits per dimension,
:math:`-\log p_X(x) / (D \ln 2)`). Sampling is :math:`x = f^{-1}(z)`, :math:`z \sim \mathcal N(0, T^2 I)`
(temperature :math:`T`, Kingma & Dhariwal 2018; :math:`T = 1` samples the model).

**Points** (items without spatial dimensions; through ``zuko``, the ``flows`` extra): a chain of
autoregressive transforms :math:`z_i = \tau(x_i; h_i(x_{<i}))` with the conditioner :math:`h` a masked
MLP (MADE), whose Jacobian is triangular, :math:`\log|\det| = \sum_i \log |\partial \tau / \partial x_i|`:

- ``transform="nsf"`` (default): the neural spline flow (Durkan et al. 2019), :math:`\tau` a monotone
  rational-quadratic spline on :math:`[-5, 5]` with ``bins`` bins (identity outside);
- ``transform="maf"``: the masked autoregressive flow (Papamakarios et al. 2017),
  :math:`z_i = (x_i - \mu_i) e^{-\alpha_i}`.

**Images, spectrograms, signals and volumes**: the multiscale flow of RealNVP (Dinh et al. 2017) with
Glow's steps (Kingma & Dhariwal 2018), :mod:`~latentspace.models.flow_nets`: per scale, a squeeze
(:math:`2^d` neighbouring positions become channels), ``depth`` steps of

.. math::
    \text{actnorm: } h' = s \odot (h + b), \quad \log|\det| = P \textstyle\sum_c \log|s_c|; \qquad
    \text{1x1 conv: } h'_p = W h_p, \quad \log|\det| = P \log|\det W|;

.. math::
    \text{affine coupling: } (h_a, h_b) = h, \quad (\log s, t) = \mathrm{NN}(h_a), \quad
    h' = (h_a,\ s \odot h_b + t), \quad \log|\det| = \textstyle\sum \log s,

(:math:`P` positions per channel; actnorm initialised from the first batch), then half of the channels
factored out as codes (RealNVP's multiscale architecture, with Glow's learned prior for them). The
codes of all scales, joined, are :math:`z` (:math:`D` numbers, ``encode``).

**Dequantisation** (Theis et al. 2016). 8-bit items :math:`x \in \{0, \dots, 255\}^D / 255` (the images'
data space) are discrete; the flow is a density of :math:`y = (255 x + u) / 256`,
:math:`u \sim \mathcal U[0, 1)^D`, on :math:`[0, 1)^D`, and by Jensen's inequality

.. math::
    \log P(x) = \log \int_{[0,1)^D} p_Y\!\big(\tfrac{255 x + u}{256}\big) \frac{du}{256^D}
    \ \ge\ \mathbb E_u \log p_Y\!\big(\tfrac{255 x + u}{256}\big) - D \ln 256,

so ``score_samples`` of 8-bit items is a lower bound on the log-probability of the items
(``likelihood_kind="bound"``, ``likelihood_of="discrete-8bit"``), its bits per dimension comparable
with published figures (RealNVP 1.06 and Glow 1.05 bits/dim on MNIST). The expectation is estimated
with ``k`` draws of :math:`u` from a fixed seed.

**Variational dequantisation** (``dequantize="variational"``; Ho et al. 2019, Flow++): the noise is
drawn from a learned :math:`q(u \mid x)` instead (:class:`~latentspace.models.flow_nets.DequantizationFlow`,
a small flow whose couplings see the item), and the bound becomes

.. math::
    \log P(x) \ \ge\ \mathbb E_{u \sim q(\cdot \mid x)} \Big[\log p_Y\!\big(\tfrac{255 x + u}{256}\big)
    - \log q(u \mid x)\Big] - D \ln 256,

trained jointly (uniform noise is the case :math:`q = 1`): the noise learns to fill each bin where the
flow puts its density, which tightens the bound (on MNIST by about 0.1 bits/dim at equal CPU time,
docs/flows-and-diffusion.md). ``encode`` and ``decode`` use the bin centres
:math:`y = (255 x + \tfrac12)/256`, an exact affine bijection. Items that are not 8-bit (and points)
are modelled as they are: ``score_samples`` is the exact density of data-space values
(``likelihood_kind="exact"``, ``likelihood_of="density"``, the data map's Jacobian added).
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch

from latentspace.errors import UserError
from latentspace.models.base import register
from latentspace.models.flow_nets import ActNorm, DequantizationFlow, MultiscaleFlow, scales_possible
from latentspace.models.neural import NeuralModel

LOG_2PI = math.log(2 * math.pi)
#: transforms of the point flows (zuko)
TRANSFORMS = ("nsf", "maf")
DEQUANTIZE = ("auto", "uniform", "variational", "off")
#: coupling steps of the variational dequantisation flow (Flow++ used 4 on CIFAR-10)
DEQUANT_DEPTH = 4
#: defaults sized for a CPU (measured on MNIST and grid25, see :class:`Flow`)
CPU_RECIPES = {
    "image": {"depth": 8, "width": 32, "lr": 3e-3, "batch_size": 64, "lr_schedule": "cosine", "steps": 13000},
    "vector": {"batch_size": 256, "lr_schedule": "cosine", "steps": 8000},
}
INSTALL = 'pip install "latentspace[flows]"'


def point_flow(transform: str, features: int, transforms: int, hidden: int, bins: int):
    """zuko's NSF or MAF on ``features`` dimensions (imported here: zuko is an optional extra)."""
    try:
        import zuko
    except ImportError:
        raise UserError(f"a flow on points needs the zuko package: {INSTALL}") from None
    kw = {"transforms": transforms, "hidden_features": [hidden, hidden]}
    if transform == "nsf":
        return zuko.flows.NSF(features, bins=bins, **kw)
    return zuko.flows.MAF(features, **kw)


class _PointBijection(torch.nn.Module):
    """zuko's flow as ``forward(x) -> (z, log|det|)`` and ``inverse(z)``, like the image flow."""

    def __init__(self, flow):
        super().__init__()
        self.flow = flow

    def forward(self, x):
        return self.flow.transform().call_and_ladj(x)

    def inverse(self, z):
        return self.flow.transform().inv(z)


@register
class Flow(NeuralModel):
    """A normalizing flow with an exact (points) or bounded (8-bit images) likelihood.

    Parameters
    ----------
    transform : {"nsf", "maf"}
        Points: neural spline flow (Durkan et al. 2019) or masked autoregressive flow (Papamakarios et
        al. 2017), both from zuko.
    transforms : int
        Points: autoregressive transforms chained (their variable order reversed in turn).
    hidden : int
        Points: width of the two hidden layers of each MADE conditioner.
    bins : int
        Points, NSF: spline bins.
    levels : int
        Images: scales (0: as many as the spatial sizes halve evenly, at most 3; 2 for 28x28 MNIST).
    depth : int, optional
        Images: steps of flow per scale (None: 16, Glow's is 32; 8 on a CPU).
    width : int, optional
        Images: channels of the coupling networks (None: 256, Glow's is 512; 32 on a CPU).
    dequantize : {"auto", "uniform", "variational", "off"}
        Images: ``uniform`` models 8-bit items dequantised with uniform noise (the bound above);
        ``variational`` with noise from a learned :math:`q(u | x)` (4 coupling steps at ``width``; 40% more
        CPU time a step); ``off`` models the values as they are; ``auto`` is ``variational`` when every
        training value in [0, 1] lies on the 256 levels k/255, else ``off``.
    logit : float
        8-bit images: :math:`\\alpha` of RealNVP's logit of the dequantised values (0: none, the flow sees
        :math:`y - 1/2`); its log-determinant is part of the likelihood.
    lr : float, optional
        Adam learning rate (None: 1e-3; 2e-3 for images on a CPU).
    temperature : float
        Default temperature :math:`T` of ``sample`` (1: the model's distribution).
    k : int
        Images, dequantised: draws of the noise :math:`u` per item in ``score_samples``.

    Notes
    -----
    Sizes for a CPU (``CPU_RECIPES``; one thread, process CPU time, 2026-12-05). MNIST, test bits/dim
    after 2 CPU-minutes of ``benchmarks/flow_mnist_bpd.py`` (no logit, lr 1e-3): depth x width 4 x 48
    2.70 (1,237 steps), 8 x 32 2.54 (955 steps); after 1 CPU-minute at 8 x 32 with the logit
    (:math:`\\alpha = 0.05`): lr 1e-3 2.07, lr 2e-3 1.94 bits/dim, hence 8 x 32, logit, lr 2e-3, batch
    64; over 30 CPU-minutes (15,646 steps, 16.7 epochs) the test bits/dim of the first 2,000 test digits
    fell 1.64, 1.54, 1.45, 1.42, 1.40, 1.395 at 5, 10, ..., 30 minutes. With variational dequantisation
    (30 CPU-minutes, all 10,000 test digits): lr 2e-3 1.326, width 48 1.296, lr 3e-3 **1.275** (13,177
    steps), hence variational, 8 x 32, lr 3e-3 and 13,000 steps (docs/flows-and-diffusion.md). grid25 (NSF,
    5 transforms, 128 hidden, batch 256, cosine): 3,000 steps (61 CPU-s) found 25/25 modes with 49.9%
    high-quality samples and a held-out NLL of 1.17 nats; 8,000 steps (152 CPU-s) 25/25, 65.2% and
    0.69 nats: the default.

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("moons", n=1000)
    >>> flow = ls.models.create("flow", transforms=2, hidden=32).fit(data, steps=20, progress=False)
    >>> x = data.test.to_data()[:3]
    >>> flow.score_samples(x).shape, flow.encode(x).shape
    (torch.Size([3]), torch.Size([3, 2]))
    >>> bool((flow.decode(flow.encode(x)) - x).abs().max() < 1e-4)
    True
    """

    name = "flow"
    likelihood_kind = "exact"   # "bound" once fitted to 8-bit items (set by ``build``)
    encodes = True
    latent = "continuous"
    inversion = "gradient"
    choices = {"transform": TRANSFORMS, "dequantize": DEQUANTIZE}
    param_types = {"depth": int, "width": int, "lr": float}
    default_steps = 20000
    default_batch_size = 64
    default_lr_schedule = "cosine"
    #: gradient-norm clip: early steps of a deep flow can have huge gradients
    max_grad_norm = 50.0

    dequantized_ = None

    def __init__(self, transform: str = "nsf", transforms: int = 5, hidden: int = 128, bins: int = 8,
                 levels: int = 0, depth: int | None = None, width: int | None = None, dequantize: str = "auto",
                 logit: float = 0.05, lr: float | None = None, temperature: float = 1.0, k: int = 1):
        self.transform = transform
        self.transforms = transforms
        self.hidden = hidden
        self.bins = bins
        self.levels = levels
        self.depth = depth
        self.width = width
        self.dequantize = dequantize
        self.logit = logit
        self.lr = lr
        self.temperature = temperature
        self.k = k

    # -- settings resolved against the data ---------------------------------------------------------
    def sized_recipe(self, info) -> dict:
        key = "image" if info.spec.spatial else "vector"
        return dict(CPU_RECIPES[key]) if self.sized_for_ == "cpu" else {}

    def _sized(self, name: str, default: int) -> int:
        value = getattr(self, name)
        return int(value) if value is not None else int(self.sized_recipe(self.info_).get(name, default))

    @property
    def learning_rate(self) -> float:
        """``lr``, or its default for the data and machine."""
        if self.lr is not None:
            return float(self.lr)
        return float(self.sized_recipe(self.info_).get("lr", 1e-3)) if self.info_ is not None else 1e-3

    def _levels(self, info) -> int:
        possible = scales_possible(info.shape[1:])
        if possible == 0:
            raise UserError(f"the image flow squeezes 2x2 blocks, but items of shape {tuple(info.shape)} have an odd "
                            "size; crop or pad the items to even sizes (e.g. ls.data.load(..., size=...))")
        if self.levels and self.levels > possible:
            raise UserError(f"levels={self.levels} needs sizes that halve {self.levels} times; "
                            f"{tuple(info.shape[1:])} halves {possible} times: use levels<={possible}")
        return int(self.levels) if self.levels else min(3, possible)

    def _resolve(self, data) -> None:
        self.dequantized_ = self._is_8bit(data) if self.dequantize == "auto" else self.dequantize != "off"
        if self.dequantized_ and (data.info.clip != (0.0, 1.0) or not data.info.spec.spatial):
            raise UserError(f"dequantize={self.dequantize!r} needs 8-bit images or volumes in [0, 1] (data space); "
                            "use dequantize='off'")

    @property
    def variational_(self) -> bool:
        """Whether the dequantisation noise is learned (``dequantize="variational"``)."""
        return bool(self.dequantized_) and self.dequantize in ("variational", "auto")

    @staticmethod
    def _is_8bit(data) -> bool:
        if not data.info.spec.spatial or data.info.clip != (0.0, 1.0):
            return False
        levels = data.to_data(data.x[:2000]).double() * 255
        return bool((levels - levels.round()).abs().max() < 1e-3)

    def resolved_params(self) -> dict:
        out = {**super().resolved_params(),
               "dequantize": ("variational" if self.variational_ else "uniform") if self.dequantized_ else "off",
               "lr": self.learning_rate}
        if self.info_ is not None and self.info_.spec.spatial:
            out.update(levels=self._levels(self.info_), depth=self._sized("depth", 16),
                       width=self._sized("width", 256))
        return out

    @property
    def likelihood_of(self) -> str:
        return "discrete-8bit" if self.dequantized_ else "density"

    def _check_params(self) -> None:
        for name in ("transforms", "hidden", "bins", "k"):
            if int(getattr(self, name)) < 1:
                raise UserError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("depth", "width"):
            if getattr(self, name) is not None and int(getattr(self, name)) < 1:
                raise UserError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.levels < 0:
            raise UserError(f"levels must be >= 0 (0: as many as the item size allows), got {self.levels}")
        if not 0 <= self.logit < 0.5:
            raise UserError(f"logit must lie in [0, 0.5) (0: no logit), got {self.logit}")
        if not (self.learning_rate > 0 and self.temperature > 0):
            raise UserError("lr and temperature must be > 0")

    # -- networks --------------------------------------------------------------------------------------
    def _build(self, info):
        self._check_params()
        self.likelihood_kind = "bound" if self.dequantized_ else "exact"
        if info.spec.spatial:
            net = MultiscaleFlow(tuple(info.shape), self._levels(info), self._sized("depth", 16),
                                 self._sized("width", 256))
            if self.variational_:
                return {"flow": net, "dequant": DequantizationFlow(tuple(info.shape), DEQUANT_DEPTH,
                                                                   self._sized("width", 256))}
        else:
            net = _PointBijection(point_flow(self.transform, info.dim, int(self.transforms), int(self.hidden),
                                             int(self.bins)))
        return {"flow": net}

    def configure_optimizers(self):
        self.opt_ = torch.optim.Adam(self.nets_.parameters(), lr=self.learning_rate)
        return {"flow": self.opt_}

    # -- the model's pieces ------------------------------------------------------------------------------
    def _flow_input(self, xm: torch.Tensor, u: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | float]:
        """What the bijection sees, and the log-determinant of getting there (per item).

        Model-space items; for 8-bit items :math:`y = (255 x + u)/256` (``u`` None: the bin centres)
        through RealNVP's logit :math:`h = \\operatorname{logit}(\\alpha + (1 - 2\\alpha) y)`
        (``logit`` = :math:`\\alpha`; 0: :math:`h = y - 1/2`).
        """
        if not self.dequantized_:
            return xm, 0.0
        levels = (self.info_.to_data(xm) * 255).round()
        y = (levels + (0.5 if u is None else u)) / 256
        alpha = float(self.logit)
        if alpha == 0:
            return y - 0.5, 0.0
        s = alpha + (1 - 2 * alpha) * y
        log_det = (math.log(1 - 2 * alpha) - torch.log(s) - torch.log1p(-s)).flatten(1).sum(1)
        return torch.log(s) - torch.log1p(-s), log_det

    def _items_from_input(self, h: torch.Tensor) -> torch.Tensor:
        """Model-space items from the bijection's side (the inverse of :meth:`_flow_input` at bin centres)."""
        if not self.dequantized_:
            return h
        alpha = float(self.logit)
        y = h + 0.5 if alpha == 0 else (torch.sigmoid(h) - alpha) / (1 - 2 * alpha)
        return self.info_.to_model((256 * y - 0.5) / 255)

    def _log_density(self, xm: torch.Tensor, u: torch.Tensor | None) -> torch.Tensor:
        """log-density of the flow's space (``y`` for 8-bit items, model space otherwise), per item."""
        h, log_det = self._flow_input(xm, u)
        return self._log_prob(h) + log_det

    def _offset(self) -> float:
        """What turns the flow's log-density into the reported log-likelihood (nats per item)."""
        return -self.info_.dim * math.log(256) if self.dequantized_ else self._log_det_to_data()

    def _log_prob(self, h: torch.Tensor) -> torch.Tensor:
        """log-density of the bijection's input ``h`` (its own space), per item."""
        z, log_det = self.net("flow")(h)
        return -0.5 * (LOG_2PI + z.flatten(1) ** 2).sum(1) + log_det

    def _initialise_actnorm(self, xm: torch.Tensor) -> None:
        """Glow's data-dependent actnorm initialisation from the first batch (one draw of the dequantisation
        noise), before any gradient step; under DDP every rank then takes rank 0's values (DDP keeps
        parameters in step only from equal starts)."""
        actnorms = [m for m in self.nets_.modules() if isinstance(m, ActNorm)]
        if not actnorms or all(int(m.initialized) for m in actnorms):
            return
        with torch.no_grad():
            u = self._dequant_noise(xm)[0]
            self.nets_["flow"](self._flow_input(xm, u)[0])   # the plain network: the init runs in its forward
            for m in actnorms:
                self.dist_.broadcast(m.bias.data)
                self.dist_.broadcast(m.log_scale.data)

    def _dequant_noise(self, xm: torch.Tensor, generator: torch.Generator | None = None):
        r"""Dequantisation noise ``u`` for model-space items and :math:`\log q(u | x)` per item: uniform
        (:math:`\log q = 0`), or through the dequantisation flow; (None, 0) for items modelled as they are.
        Drawn from ``generator`` on the CPU when one is given, else from the global RNG on the items' device."""
        if not self.dequantized_:
            return None, 0.0
        draw = torch.randn if self.variational_ else torch.rand
        noise = (draw(xm.shape, generator=generator).to(xm.device) if generator is not None
                 else draw(xm.shape, device=xm.device))
        if not self.variational_:
            return noise, 0.0
        centres = ((self.info_.to_data(xm) * 255).round() + 0.5) / 256 - 0.5
        return self.net("dequant")(centres, noise)

    def _bound(self, xm: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        r"""One draw of :math:`\log p_Y(y) - \log q(u | x)` (or the exact log-density), per item."""
        u, log_q = self._dequant_noise(xm, generator)
        return self._log_density(xm, u) - log_q

    def train_step(self, batch, step):
        self._initialise_actnorm(batch.x)
        log_px = self._bound(batch.x) + self._offset()
        bits = -log_px.mean() / (self.info_.dim * math.log(2))
        self.opt_.zero_grad(set_to_none=True)
        bits.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.nets_.parameters(), self.max_grad_norm)
        self.opt_.step()
        return {"loss": bits.item(), "bits_per_dim": bits.item(), "grad_norm": float(norm)}

    # -- the API -----------------------------------------------------------------------------------------
    @torch.no_grad()
    def score_samples(self, x, *, k: int | None = None, seed: int = 0) -> torch.Tensor:
        """Log-likelihood (nats) of data-space items: exact for points and non-8-bit items; for 8-bit
        items the dequantisation bound (module docstring), averaged over ``k`` draws of ``u`` from ``seed``."""
        xm = self._as_model_space(x)
        self.set_train(False)
        draws = int(k or self.k) if self.dequantized_ else 1
        g = torch.Generator().manual_seed(int(seed))
        total = torch.zeros(len(xm), dtype=torch.float64)
        for _ in range(draws):
            total += self._batched(lambda b: self._bound(b.to(self.device_), g), xm, batch=256).double().cpu()
        return (total / draws + self._offset()).float()

    @torch.no_grad()
    def encode(self, x) -> torch.Tensor:
        """Codes :math:`z = f(x)`, ``(n, D)``: the exact bijection (8-bit items at their bin centres)."""
        xm = self._as_model_space(x)
        self.set_train(False)
        return self._batched(lambda b: self.net("flow")(self._flow_input(b.to(self.device_), None)[0])[0].flatten(1),
                             xm, batch=256).cpu()

    def _decode_model(self, z, y=None):
        """Model-space items :math:`f^{-1}(z)` (differentiable in ``z``)."""
        h = self.net("flow").inverse(z if not self.info_.spec.spatial else z.reshape(len(z), -1))
        return self._items_from_input(h.reshape(len(z), *self.info_.shape))

    @torch.no_grad()
    def decode(self, z) -> torch.Tensor:
        """Data-space items :math:`f^{-1}(z)` for codes ``z`` ``(n, D)``."""
        self._check_fitted()
        z = self._as_codes(z, self.info_.dim)
        self.set_train(False)
        return self._to_data(self._batched(lambda b: self._decode_model(b.to(self.device_)), z, batch=256))

    def latent_width(self) -> int:
        return self.info_.dim

    @contextmanager
    def differentiable_decoder(self):
        """``decode(z, y)``: codes to model-space items through :math:`f^{-1}`, in eval mode."""
        self.set_train(False)
        yield self._decode_model

    @torch.no_grad()
    def sample(self, n, *, seed=None, temperature: float | None = None, **cond):
        """``n`` data-space items :math:`f^{-1}(T z)`, :math:`z \\sim \\mathcal N(0, I)` from ``seed`` (on the CPU)."""
        self._check_fitted()
        n = self._check_n(n)
        if cond:
            raise UserError(f"flow is unconditional; drop {', '.join(cond)}")
        t = float(self.temperature if temperature is None else temperature)
        if not t > 0:
            raise UserError(f"temperature must be > 0, got {t}")
        return self.decode(self._noise(n, seed, self.info_.dim).cpu() * t)

    # -- persistence -----------------------------------------------------------------------------------
    def _get_state(self):
        tensors, extra = super()._get_state()
        return tensors, {**extra, "dequantized": bool(self.dequantized_)}

    def _set_state(self, tensors, extra):
        self.dequantized_ = bool(extra.get("dequantized", False))
        super()._set_state(tensors, extra)
