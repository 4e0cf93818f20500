r"""A network trained to complete items: a context encoder with an adversarial loss (Pathak et al. 2016).

Inverting a generator (``latentspace.latent.complete``) asks a model trained to *draw* items to
fill in a missing part. This model is trained for the completion itself, as IberianGAN (Navarro et
al. 2022) did for pottery. Each training item :math:`x` (model space) is cut by a random mask
:math:`m` (1 where kept): the modality's own fragments where it has them (a profile's rim or base,
cut at a fraction :math:`u \sim U[\text{cut\_low}, \text{cut\_high}]` of its height, see
``Profile.fragment_mask``), a random box otherwise. A U-Net :math:`G` sees the kept part and the mask
and fills in the rest; the completion keeps what was given:

.. math::
    \hat x = G([\,m \odot x,\; m\,]), \qquad c = m \odot x + (1 - m) \odot \hat x .

The losses, with :math:`D` a discriminator of whole items (spectrally normalised) and
:math:`\lambda` = ``adv_weight``:

.. math::
    L_\text{rec} = \frac{\sum (1 - m)\,|\hat x - x|}{\sum (1 - m)}, \qquad
    L_D = -\log D(x) - \log(1 - D(c)), \qquad
    L_G = L_\text{rec} + \lambda\,(-\log D(c)).

:math:`L_\text{rec}` alone gives the mean of the plausible completions, blurred where they differ;
the adversarial term asks for one sharp completion that a discriminator takes for a whole item
(Pathak et al. weighed it 0.001 against an L2 loss; with L1, 0.01 here).

The model draws no new items from noise: ``sample(n)`` returns completions of training items (a bank
of ``bank_size`` kept with the model) cut by seeded random masks, so that training snapshots and the
report show what it does. Use :meth:`Inpaint.complete` (or ``latentspace.latent.complete``, or
``latentspace complete RUN``) on items of your own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from latentspace.errors import UserError
from latentspace.models.base import register
from latentspace.models.gan_losses import spectral_normalise
from latentspace.models.nets import ConvEncoder, eval_mode
from latentspace.models.neural import NeuralModel

#: the deepest U-Net: four halvings (64 px -> 4 px)
MAX_DEPTH = 4


class UNet(nn.Module):
    """Images ``(c_in, H, W)`` -> ``(c_out, H, W)`` in [-1, 1]: ``depth`` stride-2 convs down; up, nearest
    upsampling and a 3x3 conv over the upsampled features joined to the same level's on the way down
    (Ronneberger et al. 2015), so the completion lines up with the kept part at full resolution."""

    def __init__(self, c_in: int, c_out: int, width: int, depth: int):
        super().__init__()
        widths = [width * min(2 ** i, 4) for i in range(depth)]
        self.down = nn.ModuleList()
        c = c_in
        for i, w in enumerate(widths):
            self.down.append(nn.Sequential(nn.Conv2d(c, w, 4, stride=2, padding=1),
                                           nn.BatchNorm2d(w) if i else nn.Identity(), nn.LeakyReLU(0.2)))
            c = w
        self.up = nn.ModuleList()
        for i in reversed(range(depth)):
            skip = widths[i - 1] if i else c_in
            w = widths[i - 1] if i else width
            self.up.append(nn.Sequential(nn.Conv2d(c + skip, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU()))
            c = w
        self.out = nn.Conv2d(c, c_out, 3, padding=1)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        skips, h = [], u
        for block in self.down:
            skips.append(h)
            h = block(h)
        for join in self.up:
            h = join(torch.cat([F.interpolate(h, scale_factor=2, mode="nearest"), skips.pop()], dim=1))
        return torch.tanh(self.out(h))


def unet_depth(spatial) -> int:
    """Halvings the U-Net makes: while both sides stay even and at least 4 pixels, at most ``MAX_DEPTH``."""
    depth, sides = 0, list(spatial)
    while depth < MAX_DEPTH and all(s % 2 == 0 and s // 2 >= 4 for s in sides):
        sides, depth = [s // 2 for s in sides], depth + 1
    return depth


def random_boxes(shape, low: float, high: float, generator=None) -> torch.Tensor:
    """Masks ``shape`` = (n, C, H, W), True outside one random box per item whose sides are a uniform
    fraction in [low, high] of the item's."""
    n, _, h, w = shape
    out = torch.ones(shape, dtype=torch.bool)
    for i in range(n):
        bh, bw = (max(1, round(s * (low + (high - low) * float(torch.rand((), generator=generator)))))
                  for s in (h, w))
        top = int(torch.randint(0, h - bh + 1, (), generator=generator))
        left = int(torch.randint(0, w - bw + 1, (), generator=generator))
        out[i, :, top:top + bh, left:left + bw] = False
    return out


@register
class Inpaint(NeuralModel):
    """A U-Net trained to complete cut items, with an L1 and an adversarial loss (see the module).

    Logged: ``rec`` (L1 over the missing values, model space), ``adv`` (-log D(c)), ``d_loss``.

    Parameters
    ----------
    width : int
        Channels of the U-Net's first level (doubling per level, at most 4x) and of the discriminator.
    adv_weight : float
        Weight :math:`\\lambda` of the adversarial loss (0: a plain context encoder, blurred where unsure).
    cut_low, cut_high : float
        Range of the uniform fraction of a profile's height at which training fragments are cut.
    box_low, box_high : float
        Range of the sides of the random box cut out of items of other modalities, as fractions.
    lr : float
        Adam learning rate (betas 0.5, 0.999) of both networks.
    bank_size : int
        Training items kept with the model for ``sample``.

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("pottery-synthetic", n=64, n_test=8, size=32)
    >>> model = ls.models.create("inpaint", width=8).fit(data, steps=5, progress=False)
    >>> x = data.test.to_data()
    >>> kept = data.info.spec.fragment_mask(x, "rim")
    >>> whole = model.complete(x, kept)
    >>> bool((whole[kept] == x[kept]).all()), tuple(whole.shape)
    (True, (8, 1, 32, 32))
    """

    name = "inpaint"
    completes = True
    default_steps = 3000
    default_batch_size = 32

    bank_ = None

    def __init__(self, width: int = 16, adv_weight: float = 0.01, cut_low: float = 0.3, cut_high: float = 0.7,
                 box_low: float = 0.25, box_high: float = 0.5, lr: float = 2e-4, bank_size: int = 256):
        self.width = width
        self.adv_weight = adv_weight
        self.cut_low = cut_low
        self.cut_high = cut_high
        self.box_low = box_low
        self.box_high = box_high
        self.lr = lr
        self.bank_size = bank_size

    # -- checks and networks -------------------------------------------------------------------
    def _check_params(self) -> None:
        for name in ("width", "bank_size"):
            if int(getattr(self, name)) < 1:
                raise UserError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not (self.adv_weight >= 0 and self.lr > 0):
            raise UserError(f"adv_weight must be >= 0 and lr > 0, got {self.adv_weight!r} and {self.lr!r}")
        for low, high in (("cut_low", "cut_high"), ("box_low", "box_high")):
            if not 0.0 < getattr(self, low) <= getattr(self, high) < 1.0:
                raise UserError(f"{low} and {high} must satisfy 0 < {low} <= {high} < 1, got "
                                f"{getattr(self, low)!r} and {getattr(self, high)!r}")

    def _check_data(self, data) -> None:
        if len(data.shape) != 3 or data.info.spec.spatial_dims != 2:
            raise UserError(f"inpaint completes images (channels, height, width); {data.name} has items of shape "
                            f"{tuple(data.shape)}: use latentspace.latent.complete with a vae or gan instead")
        if unet_depth(data.shape[1:]) < 1:
            raise UserError(f"inpaint needs image sides that are even and at least 8 pixels, got "
                            f"{data.shape[1]}x{data.shape[2]}")

    def _resolve(self, data) -> None:
        g = torch.Generator().manual_seed(0)
        self.bank_ = data.x[torch.randperm(len(data), generator=g)[:self.bank_size]].clone().float()

    def _build(self, info):
        self._check_params()
        channels, *spatial = info.shape
        D = ConvEncoder(tuple(info.shape), 1, width=self.width, norm=None)
        return {"G": UNet(channels + 1, channels, self.width, unet_depth(spatial)), "D": D}

    def build(self, info, device=None):
        super().build(info, device)
        spectral_normalise(self.nets_["D"])
        return self

    def configure_optimizers(self):
        self.opt_g_ = torch.optim.Adam(self.nets_["G"].parameters(), lr=self.lr, betas=(0.5, 0.999))
        self.opt_d_ = torch.optim.Adam(self.nets_["D"].parameters(), lr=self.lr, betas=(0.5, 0.999))
        return {"G": self.opt_g_, "D": self.opt_d_}

    # -- training ------------------------------------------------------------------------------
    def training_masks(self, x_model: torch.Tensor, generator=None) -> torch.Tensor:
        """Random kept-masks for model-space items: the modality's fragments (a random part, cut at a
        random fraction) when it has them, else one random box cut out of each item."""
        spec = self.info_.spec
        fragments = spec.fragments
        if not fragments:
            return random_boxes(tuple(x_model.shape), self.box_low, self.box_high, generator).to(x_model.device)
        x = self.info_.to_data(x_model.detach().float().cpu())
        masks = []
        for item in x:
            part = fragments[int(torch.randint(len(fragments), (), generator=generator))]
            cut = self.cut_low + (self.cut_high - self.cut_low) * float(torch.rand((), generator=generator))
            masks.append(spec.fragment_mask(item[None], part, cut)[0] if (item < 0.5).any()
                         else torch.ones_like(item, dtype=torch.bool))
        return torch.stack(masks).to(x_model.device)

    def _fill(self, G, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """The completion ``c = m x + (1 - m) G([m x, m])`` of model-space items (``m`` float)."""
        x_hat = G(torch.cat([x * m, m], dim=1))
        return m * x + (1 - m) * x_hat, x_hat

    def train_step(self, batch, step):
        x = batch.x
        m = self.training_masks(x).to(x.dtype)
        c, x_hat = self._fill(self.net("G"), x, m)
        d_loss = (F.softplus(-self.net("D")(x)) + F.softplus(self.net("D")(c.detach()))).mean()
        self.opt_d_.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d_.step()
        missing = 1 - m
        rec = ((x_hat - x).abs() * missing).sum() / missing.sum().clamp_min(1)
        adv = F.softplus(-self.net("D")(c)).mean()
        loss = rec + self.adv_weight * adv
        self.opt_g_.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g_.step()
        return {"rec": rec.item(), "adv": adv.item(), "d_loss": d_loss.item()}

    # -- the API -------------------------------------------------------------------------------
    @torch.no_grad()
    def complete(self, x, mask) -> torch.Tensor:
        """Data-space items ``x`` ``(n, *shape)`` with the values where ``mask`` is False filled in; the
        others are returned as given."""
        self._check_fitted()
        x = torch.as_tensor(x, dtype=torch.float32).cpu()
        m = torch.as_tensor(mask).cpu().bool().expand_as(x)
        if tuple(x.shape[1:]) != tuple(self.info_.shape):
            raise UserError(f"items have shape {tuple(x.shape[1:])}, but the model completes items of shape "
                            f"{tuple(self.info_.shape)}")
        if not torch.isfinite(torch.where(m, x, 0.0)).all():
            raise UserError("the kept values contain NaN or inf; mark them hidden in the mask or fix them")
        xm = self.info_.to_model(torch.where(m, x, 0.0)).to(self.device_)
        G = self.eval_net("G")
        with eval_mode(G):
            c = self._batched(lambda a, b: self._fill(G, a, b)[0], xm, m.to(self.device_, torch.float32), batch=256)
        return torch.where(m, x, self._to_data(c))

    @torch.no_grad()
    def sample(self, n, *, seed=None, **cond):
        """Completions of ``n`` training items from the bank, each cut by a seeded random mask (this model
        draws no new items from noise: see :meth:`complete`)."""
        self._check_fitted()
        n = self._check_n(n)
        g = torch.Generator().manual_seed(int(seed) if seed is not None else int(torch.randint(2**62, ())))
        x = self.bank_[torch.randint(len(self.bank_), (n,), generator=g)]
        return self.complete(self.info_.to_data(x), self.training_masks(x, generator=g))

    # -- persistence ---------------------------------------------------------------------------
    def _get_state(self):
        tensors, extra = super()._get_state()
        tensors["bank"] = {"x": self.bank_}
        return tensors, extra

    def _set_state(self, tensors, extra):
        super()._set_state(tensors, extra)
        self.bank_ = tensors["bank"]["x"].float()
