r"""The layers of the multiscale image flow (RealNVP, Dinh et al. 2017; Glow, Kingma & Dhariwal 2018).

Every layer is a bijection :math:`h \mapsto h'` of tensors ``(n, c, *spatial)`` (1-, 2- or 3-D) with
``forward(h) -> (h', log|det ∂h'/∂h|)`` (the log-determinant per item, shape ``(n,)``) and
``inverse(h') -> h``:

- :class:`ActNorm`: :math:`h' = s \odot (h + b)`, per channel, initialised from the first batch so that
  :math:`h'` has zero mean and unit variance per channel; :math:`\log|\det| = P \sum_c \log|s_c|`
  (:math:`P` positions);
- :class:`InvConv`: the invertible 1x1 convolution :math:`h'_{:, p} = W h_{:, p}` at every position
  :math:`p`, :math:`W` initialised to a random rotation; :math:`\log|\det| = P \log|\det W|`;
- :class:`AffineCoupling`: split the channels :math:`h = (h_a, h_b)`,
  :math:`(\log s, t) = \mathrm{NN}(h_a)`, :math:`h'_b = s \odot h_b + t` with
  :math:`s = \sigma(\cdot + 2)` (Glow), :math:`h'_a = h_a`; :math:`\log|\det| = \sum \log s`;
- :func:`squeeze`: each :math:`2^d` block of positions becomes channels (volume-preserving);
- :class:`SplitPrior`: at the end of a scale, half of the channels :math:`h_b` leave the flow as codes
  :math:`z = (h_b - \mu(h_a)) \odot e^{-\log\sigma(h_a)}` (Glow's learned prior on the factored-out half,
  written as a bijection so that every code is standard normal);
- :class:`DequantizationFlow`: the noise distribution :math:`q(u | x)` of variational dequantisation
  (Ho et al. 2019, Flow++): :math:`u = \sigma(g(\epsilon; x))`, :math:`\epsilon \sim \mathcal N(0, I)`,
  with :math:`g` a few affine couplings whose networks also see the item :math:`x`.

:class:`MultiscaleFlow` chains them: per scale, squeeze, ``depth`` steps of (actnorm, 1x1 conv,
coupling), then factor out half the channels; the codes of all scales, flattened and joined, are
:math:`z = f(x)`, of the items' size :math:`D`.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from latentspace.models.nets import CONV

_CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def squeeze(h: torch.Tensor) -> torch.Tensor:
    """``(n, c, *s)`` -> ``(n, c 2^d, *s/2)``: each 2x..x2 block of positions becomes channels."""
    n, c, *s = h.shape
    d = len(s)
    h = h.reshape(n, c, *[v for size in s for v in (size // 2, 2)])
    halves = [3 + 2 * i for i in range(d)]   # axes of the 2s
    outer = [2 + 2 * i for i in range(d)]    # axes of the s/2
    perm = [0, 1] + halves + outer
    return h.permute(*perm).reshape(n, c * 2 ** d, *[size // 2 for size in s])


def unsqueeze(h: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`squeeze`."""
    n, c2, *s = h.shape
    d = len(s)
    c = c2 // 2 ** d
    h = h.reshape(n, c, *[2] * d, *s)
    perm = [0, 1] + [v for i in range(d) for v in (2 + d + i, 2 + i)]
    return h.permute(*perm).reshape(n, c, *[size * 2 for size in s])


def positions(h: torch.Tensor) -> int:
    return math.prod(h.shape[2:])


def _per_channel(v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    return v.view(1, -1, *[1] * (h.ndim - 2))


class ActNorm(nn.Module):
    """Per-channel affine map with data-dependent initialisation (Glow)."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.log_scale = nn.Parameter(torch.zeros(channels))
        self.register_buffer("initialized", torch.tensor(0, dtype=torch.uint8))

    @torch.no_grad()
    def _initialise(self, h):
        dims = [0] + list(range(2, h.ndim))
        mean, std = h.mean(dims), h.std(dims, correction=0)
        self.bias.copy_(-mean)
        self.log_scale.copy_(-torch.log(std + 1e-6))
        self.initialized.fill_(1)

    def forward(self, h):
        if self.training and not int(self.initialized):
            self._initialise(h)
        out = (h + _per_channel(self.bias, h)) * _per_channel(self.log_scale.exp(), h)
        return out, self.log_scale.sum().expand(len(h)) * positions(h)

    def inverse(self, h):
        return h * _per_channel((-self.log_scale).exp(), h) - _per_channel(self.bias, h)


class InvConv(nn.Module):
    """The invertible 1x1 convolution of Glow, with a full matrix ``W`` (c x c)."""

    def __init__(self, channels: int):
        super().__init__()
        w = torch.linalg.qr(torch.randn(channels, channels))[0]
        self.weight = nn.Parameter(w)

    def _mix(self, h, w):
        return _CONV_FN[h.ndim - 2](h, w.view(*w.shape, *[1] * (h.ndim - 2)))

    def forward(self, h):
        log_det = torch.linalg.slogdet(self.weight)[1]
        return self._mix(h, self.weight), log_det.expand(len(h)) * positions(h)

    def inverse(self, h):
        return self._mix(h, torch.linalg.inv(self.weight))


def coupling_net(spatial_dims: int, c_in: int, c_out: int, width: int) -> nn.Sequential:
    """NN of a coupling: 3x3 conv, 1x1 conv, 3x3 conv (last layer zero: the coupling starts as identity)."""
    conv = CONV[spatial_dims]
    last = conv(width, c_out, 3, padding=1)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return nn.Sequential(conv(c_in, width, 3, padding=1), nn.ReLU(), conv(width, width, 1), nn.ReLU(), last)


class AffineCoupling(nn.Module):
    """Glow's affine coupling on a channel split, :math:`s = \\sigma(\\cdot + 2)`."""

    def __init__(self, spatial_dims: int, channels: int, width: int):
        super().__init__()
        self.keep = channels // 2
        self.nn = coupling_net(spatial_dims, self.keep, 2 * (channels - self.keep), width)

    def _scale_shift(self, h_a):
        raw_s, t = self.nn(h_a).chunk(2, 1)
        log_s = F.logsigmoid(raw_s + 2.0)
        return log_s, t

    def forward(self, h):
        h_a, h_b = h[:, :self.keep], h[:, self.keep:]
        log_s, t = self._scale_shift(h_a)
        out = torch.cat([h_a, h_b * log_s.exp() + t], 1)
        return out, log_s.flatten(1).sum(1)

    def inverse(self, h):
        h_a, h_b = h[:, :self.keep], h[:, self.keep:]
        log_s, t = self._scale_shift(h_a)
        return torch.cat([h_a, (h_b - t) * (-log_s).exp()], 1)


class FlowStep(nn.Module):
    """One step of flow: actnorm, invertible 1x1 convolution, affine coupling."""

    def __init__(self, spatial_dims: int, channels: int, width: int):
        super().__init__()
        self.layers = nn.ModuleList([ActNorm(channels), InvConv(channels),
                                     AffineCoupling(spatial_dims, channels, width)])

    def forward(self, h):
        total = torch.zeros(len(h), device=h.device, dtype=h.dtype)
        for layer in self.layers:
            h, log_det = layer(h)
            total = total + log_det
        return h, total

    def inverse(self, h):
        for layer in reversed(self.layers):
            h = layer.inverse(h)
        return h


class SplitPrior(nn.Module):
    """Factor out half the channels as standard normal codes, given the half that stays."""

    def __init__(self, spatial_dims: int, channels: int, width: int):
        super().__init__()
        self.keep = channels // 2
        self.nn = coupling_net(spatial_dims, self.keep, 2 * (channels - self.keep), width)

    def forward(self, h):
        h_a, h_b = h[:, :self.keep], h[:, self.keep:]
        mu, log_sigma = self.nn(h_a).chunk(2, 1)
        z = (h_b - mu) * (-log_sigma).exp()
        return h_a, z, -log_sigma.flatten(1).sum(1)

    def inverse(self, h_a, z):
        mu, log_sigma = self.nn(h_a).chunk(2, 1)
        return torch.cat([h_a, z * log_sigma.exp() + mu], 1)


def scales_possible(spatial: tuple[int, ...]) -> int:
    """How many times every spatial size halves evenly."""
    count, sizes = 0, list(spatial)
    while all(s % 2 == 0 and s >= 2 for s in sizes):
        count += 1
        sizes = [s // 2 for s in sizes]
    return count


class MultiscaleFlow(nn.Module):
    """The multiscale flow ``x (n, c, *s) -> z (n, D)`` and its log-determinant.

    Parameters
    ----------
    shape : tuple
        Item shape ``(c, *spatial)``; every spatial size must halve ``levels`` times.
    levels : int
        Scales (each: squeeze, ``depth`` steps, then half the channels factored out, but the last).
    depth : int
        Steps of flow per scale.
    width : int
        Channels of the coupling networks.
    """

    def __init__(self, shape: tuple, levels: int, depth: int, width: int):
        super().__init__()
        self.shape = tuple(shape)
        self.levels = levels
        spatial_dims = len(shape) - 1
        channels = shape[0]
        self.steps = nn.ModuleList()
        self.splits = nn.ModuleList()
        for level in range(levels):
            channels *= 2 ** spatial_dims
            self.steps.append(nn.ModuleList(FlowStep(spatial_dims, channels, width) for _ in range(depth)))
            if level < levels - 1:
                self.splits.append(SplitPrior(spatial_dims, channels, width))
                channels -= channels // 2
        self.code_shapes = self._code_shapes()

    def _code_shapes(self) -> list[tuple]:
        with torch.no_grad():
            h = torch.zeros(1, *self.shape)
            shapes = []
            for level in range(self.levels):
                h = squeeze(h)
                if level < self.levels - 1:
                    keep = h.shape[1] // 2
                    shapes.append((h.shape[1] - keep, *h.shape[2:]))
                    h = h[:, :keep]
            shapes.append(tuple(h.shape[1:]))
        return shapes

    def forward(self, x):
        """``(z (n, D), log|det ∂z/∂x| (n,))``."""
        h, total, codes = x, torch.zeros(len(x), device=x.device, dtype=x.dtype), []
        for level in range(self.levels):
            h = squeeze(h)
            for step in self.steps[level]:
                h, log_det = step(h)
                total = total + log_det
            if level < self.levels - 1:
                h, z, log_det = self.splits[level](h)
                total = total + log_det
                codes.append(z.flatten(1))
        codes.append(h.flatten(1))
        return torch.cat(codes, 1), total

    def inverse(self, z):
        """Items ``(n, c, *s)`` for codes ``z (n, D)``."""
        sizes = [math.prod(s) for s in self.code_shapes]
        parts = [p.reshape(len(z), *s) for p, s in zip(z.split(sizes, 1), self.code_shapes)]
        h = parts[-1]
        for level in reversed(range(self.levels)):
            if level < self.levels - 1:
                h = self.splits[level].inverse(h, parts[level])
            for step in reversed(self.steps[level]):
                h = step.inverse(h)
            h = unsqueeze(h)
        return h


class ConditionalCoupling(AffineCoupling):
    """An affine coupling whose network sees a context ``c`` beside ``h_a`` (same spatial size)."""

    def __init__(self, spatial_dims: int, channels: int, context: int, width: int):
        super().__init__(spatial_dims, channels, width)
        self.nn = coupling_net(spatial_dims, self.keep + context, 2 * (channels - self.keep), width)

    def forward(self, h, c):
        h_a, h_b = h[:, :self.keep], h[:, self.keep:]
        log_s, t = self._scale_shift(torch.cat([h_a, c], 1))
        return torch.cat([h_a, h_b * log_s.exp() + t], 1), log_s.flatten(1).sum(1)

    def inverse(self, h, c):
        h_a, h_b = h[:, :self.keep], h[:, self.keep:]
        log_s, t = self._scale_shift(torch.cat([h_a, c], 1))
        return torch.cat([h_a, (h_b - t) * (-log_s).exp()], 1)


class DequantizationFlow(nn.Module):
    r""":math:`q(u | x)` on :math:`(0, 1)^D` for variational dequantisation (Ho et al. 2019, Flow++).

    ``forward(x, eps)`` maps standard normal noise ``eps`` (the items' shape) to
    :math:`u = \sigma(g(\epsilon; x))` and returns ``(u, log q(u | x))`` per item:
    :math:`\log q = \log \mathcal N(\epsilon) - \log|\det \partial g / \partial \epsilon|
    - \sum \log \sigma'(g)`. :math:`g`: a squeeze, then ``depth`` steps of (1x1 convolution, affine
    coupling whose network sees the squeezed item), then the inverse squeeze. Items need even sizes.
    """

    def __init__(self, shape: tuple, depth: int, width: int):
        super().__init__()
        spatial_dims = len(shape) - 1
        channels = shape[0] * 2 ** spatial_dims
        self.mixes = nn.ModuleList(InvConv(channels) for _ in range(depth))
        self.couplings = nn.ModuleList(ConditionalCoupling(spatial_dims, channels, channels, width)
                                       for _ in range(depth))

    def forward(self, x, eps):
        c, h = squeeze(x), squeeze(eps)
        log_q = -0.5 * (math.log(2 * math.pi) + eps.flatten(1) ** 2).sum(1)
        for mix, coupling in zip(self.mixes, self.couplings):
            h, log_det = mix(h)
            log_q = log_q - log_det
            h, log_det = coupling(h, c)
            log_q = log_q - log_det
        h = unsqueeze(h)
        log_q = log_q - (F.logsigmoid(h) + F.logsigmoid(-h)).flatten(1).sum(1)
        return torch.sigmoid(h), log_q
