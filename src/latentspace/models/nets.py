"""Building blocks chosen by the modality (``info.spec``): MLPs for items without spatial
dimensions (points), 1-, 2- or 3-D convs over ``spec.spatial_dims`` (images and spectrograms 2-D,
volumes 3-D).

Every network maps between a flat vector (latent code, or a feature/logit vector) and
items of shape ``info.shape``. Conv nets are sized from the data: the encoder halves
the spatial size with stride-2 convs until it is at most 4, the decoder mirrors it.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch
from torch import nn

from latentspace.errors import UserError

#: conv, transposed conv and batch-norm layers by number of spatial dimensions
CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}
BATCH_NORM = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}


def mlp(sizes: list[int], *, act=nn.LeakyReLU, act_kwargs=None, out_act=None, norm=None) -> nn.Sequential:
    """A fully connected stack ``sizes[0] -> ... -> sizes[-1]`` with activations between layers."""
    act_kwargs = {"negative_slope": 0.2} if act_kwargs is None and act is nn.LeakyReLU else (act_kwargs or {})
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            if norm is not None:
                layers.append(norm(sizes[i + 1]))
            layers.append(act(**act_kwargs))
    if out_act is not None:
        layers.append(out_act)
    return nn.Sequential(*layers)


def _conv_plan(spatial: tuple[int, ...], width: int, max_width: int = 512):
    """Spatial sizes and channel widths of a stride-2 pyramid down to at most 4 per side."""
    sizes = [tuple(spatial)]
    while max(sizes[-1]) > 4:
        sizes.append(tuple(math.ceil(s / 2) for s in sizes[-1]))
    widths = [min(width * 2 ** i, max_width) for i in range(len(sizes) - 1)]
    return sizes, widths


class ConvEncoder(nn.Module):
    """Items ``(C, *spatial)`` -> vector of ``out_dim``: stride-2 convs then a linear head.

    The convs run over the item's spatial dimensions (1, 2 or 3: e.g. 3 for the 3-D GAN's discriminator).
    """

    def __init__(self, shape, out_dim: int, width: int = 32, norm: str | None = None, dropout: float = 0.0,
                 minibatch_std: int = 0):
        super().__init__()
        channels, *spatial = shape
        dims = len(spatial)
        conv = CONV[dims]
        sizes, widths = _conv_plan(spatial, width)
        layers: list[nn.Module] = []
        c_in = channels
        for i, w in enumerate(widths):
            layers.append(conv(c_in, w, kernel_size=4, stride=2, padding=1)
                          if all(s % 2 == 0 for s in sizes[i]) else conv(c_in, w, 3, stride=2, padding=1))
            if norm == "batch" and i > 0:
                layers.append(BATCH_NORM[dims](w))
            elif norm == "layer" and i > 0:
                layers.append(nn.GroupNorm(1, w))
            layers.append(nn.LeakyReLU(0.2))
            if dropout:
                layers.append(nn.Dropout(dropout))
            c_in = w
        self.features = nn.Sequential(*layers)
        self.flat_dim = c_in * int(math.prod(sizes[-1]))
        self.minibatch_std = minibatch_std
        extra = int(math.prod(sizes[-1])) if minibatch_std else 0
        self.head = nn.Linear(self.flat_dim + extra, out_dim)

    def forward(self, x):
        return self.head(conv_features(self.features, x, self.minibatch_std))


def conv_features(features: nn.Module, x: torch.Tensor, minibatch_std: int = 0) -> torch.Tensor:
    """The flattened output of a conv stack, with the minibatch-std channel when ``minibatch_std`` > 0."""
    h = features(x)
    if minibatch_std:
        h = torch.cat([h, group_std(h, minibatch_std)], 1)
    return h.flatten(1)


def group_std(h: torch.Tensor, group: int) -> torch.Tensor:
    """The minibatch standard deviation of Karras et al. 2018, as one extra channel.

    Consecutive items form groups of ``group`` (fewer if the batch does not divide); within each
    group the standard deviation of every feature at every position is averaged over features,
    giving each item its group's value per position. A discriminator that sees it can tell a
    batch of near-identical items (a collapsed generator) from a varied one. Items of one
    forward are grouped together, so real and generated items must go through separate forwards
    (the GAN does so when the option is on).
    """
    n = len(h)
    g = math.gcd(n, group) if n % group else group
    if g < 2:
        return torch.zeros_like(h[:, :1])
    grouped = h.reshape(n // g, g, *h.shape[1:])
    std = (grouped.var(1, unbiased=False) + 1e-8).sqrt().mean(1, keepdim=True)  # (n/g, 1, *spatial)
    return std.repeat_interleave(g, 0)


class ConvDecoder(nn.Module):
    """Vector of ``in_dim`` -> items ``(C, *spatial)``: a linear stem then upsampling blocks.

    ``upsample="nearest"``: nearest-neighbour upsampling followed by a 3x3 conv, which avoids
    the checkerboard artefacts of transposed convolutions (Odena et al. 2016). ``"transposed"``:
    stride-2 transposed convs (kernel 4) as in DCGAN and the 3-D GAN (Wu et al. 2016), the last
    one producing the output channels; they cost a third of upsample+conv, which matters for
    volumes (a 3x3x3 conv at 32^3 dominates a step). Outputs are cropped to the exact size.
    """

    def __init__(self, in_dim: int, shape, width: int = 32, norm: str | None = "batch", out_act=None,
                 upsample: str = "nearest"):
        super().__init__()
        if upsample not in ("nearest", "transposed"):
            raise ValueError(f"upsample must be 'nearest' or 'transposed', got {upsample!r}")
        channels, *spatial = shape
        dims = len(spatial)
        conv, bn = CONV[dims], BATCH_NORM[dims]
        sizes, widths = _conv_plan(spatial, width)
        widths = widths[::-1]
        self.spatial = tuple(spatial)
        self.start = sizes[-1]
        self.start_channels = widths[0] if widths else width
        self.stem = nn.Linear(in_dim, self.start_channels * int(math.prod(self.start)))
        self.stem_norm = bn(self.start_channels) if norm == "batch" else nn.Identity()
        blocks: list[nn.Module] = []
        c_in = self.start_channels
        targets = sizes[::-1][1:]
        transposed = upsample == "transposed" and len(targets) > 0
        tconv = CONV_T[dims]
        for i, size in enumerate(targets):
            last = i == len(targets) - 1
            if transposed:
                c_out = channels if last else widths[i + 1]
                blocks += [tconv(c_in, c_out, 4, stride=2, padding=1), _Crop(size)]
                if last:
                    break
            else:
                c_out = widths[i + 1] if i + 1 < len(widths) else max(width // 2, 8)
                blocks += [nn.Upsample(size=size, mode="nearest"), conv(c_in, c_out, 3, padding=1)]
            if norm == "batch":
                blocks.append(bn(c_out))
            blocks.append(nn.ReLU())
            c_in = c_out
        if not transposed:
            blocks.append(conv(c_in, channels, 3, padding=1))
        if out_act is not None:
            blocks.append(out_act)
        self.blocks = nn.Sequential(*blocks)

    def forward(self, z):
        h = self.stem(z).view(len(z), self.start_channels, *self.start)
        h = torch.relu(self.stem_norm(h))
        return self.blocks(h)


class _Crop(nn.Module):
    """Crop the trailing spatial dimensions to ``size`` (a stride-2 transposed conv doubles them)."""

    def __init__(self, size):
        super().__init__()
        self.size = tuple(size)

    def forward(self, x):
        return x[(..., *(slice(0, s) for s in self.size))]


@contextmanager
def eval_mode(*nets: nn.Module):
    """Put ``nets`` in eval mode for the block, then back in the mode each one was in."""
    was = [net.training for net in nets]
    for net in nets:
        net.eval()
    try:
        yield
    finally:
        for net, mode in zip(nets, was):
            net.train(mode)


def check_network(what: str, net: nn.Module, x: torch.Tensor, shapes: list[tuple]) -> nn.Module:
    """A network of the user's own, checked on ``x`` (in eval mode, without gradients): its output
    must have one of ``shapes``; a one-line UserError says what it gave and what is needed."""
    if not isinstance(net, nn.Module):
        raise UserError(f"{what} must be a torch.nn.Module, got {type(net).__name__}")
    try:
        with torch.no_grad(), eval_mode(net):
            out = net(x)
    except Exception as e:  # the user's code: any error means the input does not fit
        raise UserError(f"your {what} fails on inputs of shape {tuple(x.shape)} ({type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''}); it must take that shape") from None
    got = [tuple(o.shape) for o in out] if isinstance(out, (tuple, list)) else tuple(out.shape)
    if got not in [tuple(s) if not isinstance(s, list) else s for s in shapes]:
        want = " or ".join(str(s) for s in shapes)
        raise UserError(f"your {what} maps inputs {tuple(x.shape)} to {got}; it must give {want} "
                        "(shown for a batch of 2)")
    return net


def encoder_for(info, out_dim: int, *, hidden: int = 256, layers: int = 3, width: int = 32,
                norm: str | None = None) -> nn.Module:
    """Data items -> vector, chosen by modality (MLP for points, convs otherwise)."""
    if info.spec.spatial:
        return ConvEncoder(info.shape, out_dim, width=width, norm=norm)
    return nn.Sequential(nn.Flatten(), mlp([info.dim] + [hidden] * layers + [out_dim]))


def decoder_for(info, in_dim: int, *, hidden: int = 256, layers: int = 3, width: int = 32,
                norm: str | None = "batch", out_act=None) -> nn.Module:
    """Vector -> data items, chosen by modality (MLP for points, upsample+conv otherwise)."""
    if info.spec.spatial:
        return ConvDecoder(in_dim, info.shape, width=width, norm=norm, out_act=out_act)
    net = mlp([in_dim] + [hidden] * layers + [info.dim], act=nn.ReLU,
              norm=nn.BatchNorm1d if norm == "batch" else None, out_act=out_act)
    return nn.Sequential(net, nn.Unflatten(1, tuple(info.shape)))


def dcgan_init(module: nn.Module) -> None:
    """DCGAN weight init (Radford et al. 2016): N(0, 0.02) weights, BatchNorm N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (*CONV.values(), *CONV_T.values(), nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, tuple(BATCH_NORM.values())):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
