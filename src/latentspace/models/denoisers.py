r"""Time-conditioned networks shared by the diffusion and flow-matching families.

Both families learn a vector field :math:`f_\theta(x_t, t[, y])` with the shape of the items: DDPM's
noise prediction :math:`\epsilon_\theta(x_t, t)` and flow matching's velocity :math:`v_\theta(x_t, t)`.
The network is chosen by the modality (``info.spec.spatial_dims``), as the other families' are:

- points (0 spatial dimensions): an MLP on :math:`[x, \text{emb}(t), \text{emb}(y)]` (:class:`PointField`);
- images, spectrograms (2-D), signals (1-D) and volumes (3-D): a small U-Net (Ronneberger et al. 2015,
  in the form of Ho et al. 2020 without attention) whose residual blocks add the time and class
  embeddings to their features (:class:`UNet`).

Time :math:`t \in [0, 1]` enters through sinusoidal features of :math:`1000\,t` (Vaswani et al. 2017),
so that DDPM's integer steps :math:`t/T` and flow matching's continuous times share one embedding. A
class label, when the model is conditional, is a learned embedding with one extra row, the *null*
label :math:`\varnothing` used for the unconditional branch of classifier-free guidance (Ho & Salimans
2022); ``y=None`` means :math:`\varnothing` for every item.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from latentspace.models.nets import CONV

#: time features: sinusoids of 1000 t, as DDPM's integer steps
TIME_SCALE = 1000.0


def time_features(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features ``(n, dim)`` of times ``t`` ``(n,)`` in [0, 1]."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = TIME_SCALE * t.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], 1)


class Conditioning(nn.Module):
    """The embedding of time (and class label) that every block of a network receives."""

    def __init__(self, dim: int, num_classes: int = 0):
        super().__init__()
        self.dim = dim
        self.num_classes = num_classes
        self.time = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        # row num_classes is the null label of classifier-free guidance
        self.label = nn.Embedding(num_classes + 1, dim) if num_classes else None

    def forward(self, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time(time_features(t, self.dim))
        if self.label is not None:
            if y is None:
                y = torch.full((len(t),), self.num_classes, dtype=torch.long, device=t.device)
            emb = emb + self.label(y)
        return emb


def as_times(t, n: int, device) -> torch.Tensor:
    """Times as an ``(n,)`` float tensor (a number is broadcast)."""
    t = torch.as_tensor(t, dtype=torch.float32, device=device)
    return t.expand(n) if t.ndim == 0 else t


class PointField(nn.Module):
    """An MLP field for points: ``(x (n, d), t (n,), y) -> (n, d)``.

    Each hidden layer sees the features and the time/label embedding (added), with SiLU activations.
    """

    def __init__(self, dim: int, hidden: int = 256, layers: int = 3, num_classes: int = 0):
        super().__init__()
        self.cond = Conditioning(hidden, num_classes)
        self.inp = nn.Linear(dim, hidden)
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.out = nn.Linear(hidden, dim)
        self.act = nn.SiLU()

    def forward(self, x, t, y=None):
        emb = self.cond(as_times(t, len(x), x.device), y)
        h = self.inp(x.flatten(1)) + emb
        for layer in self.hidden:
            h = layer(self.act(h)) + emb
        return self.out(self.act(h)).view_as(x)


def _groups(channels: int) -> int:
    return math.gcd(channels, 8)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the conditioning embedding added between, and a skip."""

    def __init__(self, dims: int, c_in: int, c_out: int, emb_dim: int, dropout: float = 0.0):
        super().__init__()
        conv = CONV[dims]
        self.norm1 = nn.GroupNorm(_groups(c_in), c_in)
        self.conv1 = conv(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(_groups(c_out), c_out)
        self.drop = nn.Dropout(dropout)
        self.conv2 = conv(c_out, c_out, 3, padding=1)
        self.skip = conv(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.act = nn.SiLU()
        self.dims = dims

    def forward(self, x, emb):
        h = self.conv1(self.act(self.norm1(x)))
        h = h + self.emb(self.act(emb)).view(len(x), -1, *[1] * self.dims)
        h = self.conv2(self.drop(self.act(self.norm2(h))))
        return self.skip(x) + h


def to_patches(x: torch.Tensor, p: int) -> torch.Tensor:
    """Space to depth: ``(n, c, *sides)`` -> ``(n, c p^d, *sides / p)``, each ``p^d`` block of pixels
    (voxels) as channels (``pixel_unshuffle`` for any number of spatial dimensions)."""
    if p == 1:
        return x
    n, c, *sides = x.shape
    d = len(sides)
    split = [v for s in sides for v in (s // p, p)]
    x = x.reshape(n, c, *split)
    order = [0, 1, *[3 + 2 * i for i in range(d)], *[2 + 2 * i for i in range(d)]]
    return x.permute(order).reshape(n, c * p ** d, *[s // p for s in sides])


def from_patches(x: torch.Tensor, p: int) -> torch.Tensor:
    """Depth to space, the inverse of :func:`to_patches`."""
    if p == 1:
        return x
    n, cp, *small = x.shape
    d = len(small)
    c = cp // p ** d
    x = x.reshape(n, c, *[p] * d, *small)
    order = [0, 1, *[v for i in range(d) for v in (2 + d + i, 2 + i)]]
    return x.permute(order).reshape(n, c, *[s * p for s in small])


def unet_levels(spatial: tuple[int, ...], mults: tuple[int, ...]) -> int:
    """How many resolutions the U-Net uses: halve while every side is even and at least 8, at most
    ``len(mults)`` resolutions (28 -> 14 -> 7 for MNIST; 32 -> 16 -> 8 for 32^3 volumes)."""
    levels, sizes = 1, list(spatial)
    while levels < len(mults) and all(s % 2 == 0 and s >= 8 for s in sizes):
        sizes = [s // 2 for s in sizes]
        levels += 1
    return levels


class UNet(nn.Module):
    """A small U-Net field for items ``(C, *spatial)`` over 1, 2 or 3 spatial dimensions.

    Parameters
    ----------
    shape : tuple
        Item shape ``(channels, *spatial)``.
    width : int
        Channels at full resolution; level ``i`` has ``width * mults[i]``.
    mults : tuple of int
        Channel multipliers per resolution (fewer are used when the sides cannot be halved).
    blocks : int
        Residual blocks per resolution on the way down (one more on the way up, as in DDPM).
    num_classes : int
        Classes for a label embedding (0: unconditional).
    patch : int
        Side of the blocks of pixels (voxels) folded into channels before the first convolution
        and unfolded after the last (space to depth): ``patch=2`` runs every level at half the
        resolution with :math:`2^d` times the input channels, about 3x faster on a CPU for MNIST
        (benchmarks/diffusion_mnist.py). The sides must be divisible by it.
    """

    def __init__(self, shape, width: int = 32, mults=(1, 2, 2), blocks: int = 1, num_classes: int = 0,
                 dropout: float = 0.0, patch: int = 1):
        super().__init__()
        channels, *spatial = shape
        if any(s % patch for s in spatial):
            raise ValueError(f"patch {patch} does not divide the item's sides {tuple(spatial)}")
        self.patch = patch
        channels, spatial = channels * patch ** len(spatial), [s // patch for s in spatial]
        dims = len(spatial)
        conv = CONV[dims]
        emb_dim = 4 * width
        self.dims = dims
        self.cond = Conditioning(emb_dim, num_classes)
        levels = unet_levels(tuple(spatial), tuple(mults))
        widths = [width * m for m in mults[:levels]]
        self.inp = conv(channels, width, 3, padding=1)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        skips, c = [width], width
        for i, w in enumerate(widths):
            for _ in range(blocks):
                self.down.append(ResBlock(dims, c, w, emb_dim, dropout))
                c = w
                skips.append(c)
            if i < levels - 1:
                self.downsample.append(conv(c, c, 3, stride=2, padding=1))
                skips.append(c)
        self.mid = nn.ModuleList([ResBlock(dims, c, c, emb_dim, dropout), ResBlock(dims, c, c, emb_dim, dropout)])
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            for _ in range(blocks + 1):
                self.up.append(ResBlock(dims, c + skips.pop(), w, emb_dim, dropout))
                c = w
            if i > 0:
                self.upsample.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                                   conv(c, c, 3, padding=1)))
        self.out = nn.Sequential(nn.GroupNorm(_groups(c), c), nn.SiLU(), conv(c, channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)
        self.blocks, self.levels = blocks, levels

    def forward(self, x, t, y=None):
        emb = self.cond(as_times(t, len(x), x.device), y)
        h = self.inp(to_patches(x, self.patch))
        hs = [h]
        blocks = iter(self.down)
        for i in range(self.levels):
            for _ in range(self.blocks):
                h = next(blocks)(h, emb)
                hs.append(h)
            if i < self.levels - 1:
                h = self.downsample[i](h)
                hs.append(h)
        for block in self.mid:
            h = block(h, emb)
        blocks = iter(self.up)
        for i in range(self.levels):
            for _ in range(self.blocks + 1):
                h = next(blocks)(torch.cat([h, hs.pop()], 1), emb)
            if i < self.levels - 1:
                h = self.upsample[i](h)
        return from_patches(self.out(h), self.patch)


def field_for(info, *, num_classes: int = 0, hidden: int = 256, layers: int = 3, width: int = 32,
              mults=(1, 2, 2), blocks: int = 1, dropout: float = 0.0, patch: int = 1) -> nn.Module:
    """The field network for items described by ``info``: an MLP for points, a U-Net otherwise
    (``patch``: see :class:`UNet`)."""
    if not info.spec.spatial:
        return PointField(info.dim, hidden, layers, num_classes)
    return UNet(tuple(info.shape), width, tuple(mults), blocks, num_classes, dropout, patch)
