r"""The VQ-VAE's networks (see :mod:`latentspace.models.vqvae` for the objective): the vector quantiser
with its EMA codebook and dead-code restarts, the conv and MLP encoders and decoders around it, and
the PixelCNN prior over the code grid (masked convolutions, gated residual blocks).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from latentspace.errors import UserError
from latentspace.models.nets import mlp


# -- the quantiser ---------------------------------------------------------------------------------
def perplexity(counts: torch.Tensor) -> torch.Tensor:
    """Codebook perplexity ``exp(H(p))`` of code-use counts (K for uniform use, 1 for a single code).

    Examples
    --------
    >>> float(perplexity(torch.tensor([5.0, 5.0, 5.0, 5.0])))
    4.0
    >>> float(perplexity(torch.tensor([0.0, 7.0, 0.0])))
    1.0
    """
    p = counts.double() / counts.sum().clamp_min(1e-12)
    return torch.exp(-(p * torch.log(p.clamp_min(1e-30))).sum()).float()


class VectorQuantizer(nn.Module):
    """A codebook of ``K`` vectors in ``R^D``: nearest-code quantisation, EMA updates, restarts.

    ``forward(z_e)`` takes encoder outputs ``(n, D, *grid)`` and returns the straight-through
    quantised vectors ``z_e + sg[z_q - z_e]`` (same shape), the code indices ``(n, *grid)``, the
    per-item commitment term ``||z_e - sg[e]||^2`` and codebook term ``||sg[z_e] - e||^2``
    (the latter carries gradient to the codebook only when ``decay`` is 0).
    :meth:`ema_update` moves the codes (``decay`` > 0) and restarts dead ones; call it once per
    training step with the batch's ``z_e`` and indices.

    Parameters
    ----------
    K, D : int
        Number and size of the codes.
    decay : float
        EMA decay gamma in [0, 1); 0 learns the codes by gradient of the codebook term instead.
    restart_after : int
        Steps without use after which a code is set to a random encoder output (0: never).

    Examples
    --------
    >>> vq = VectorQuantizer(K=4, D=2)
    >>> z_q, k, commit, codebook = vq(torch.randn(3, 2, 5, 5))
    >>> z_q.shape, k.shape, commit.shape
    (torch.Size([3, 2, 5, 5]), torch.Size([3, 5, 5]), torch.Size([3]))
    """

    def __init__(self, K: int, D: int, decay: float = 0.99, restart_after: int = 20):
        super().__init__()
        self.K, self.D, self.decay, self.restart_after = K, D, decay, restart_after
        self.embed = nn.Parameter(torch.empty(K, D).uniform_(-1.0 / K, 1.0 / K), requires_grad=decay == 0)
        self.register_buffer("cluster_size", torch.zeros(K))     # N_i
        self.register_buffer("embed_sum", torch.zeros(K, D))     # m_i
        self.register_buffer("unused", torch.zeros(K))           # steps since code i was last used
        self.register_buffer("initialised", torch.zeros(()))     # codes set from data yet?

    @staticmethod
    def flat(z: torch.Tensor) -> torch.Tensor:
        """``(n, D, *grid)`` -> ``(n * prod(grid), D)``, positions in raster order."""
        return z.movedim(1, -1).reshape(-1, z.shape[1])

    def nearest(self, z_flat: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code of each row of ``z_flat`` (squared Euclidean distance)."""
        e = self.embed.detach()
        d = (z_flat.pow(2).sum(1, keepdim=True) - 2 * z_flat @ e.T + e.pow(2).sum(1))
        return d.argmin(1)

    def lookup(self, k: torch.Tensor) -> torch.Tensor:
        """Code indices ``(n, *grid)`` -> code vectors ``(n, D, *grid)``."""
        return F.embedding(k, self.embed).movedim(-1, 1)

    def forward(self, z_e: torch.Tensor):
        k = self.codes(z_e)
        z_q = self.lookup(k)
        commit = (z_e - z_q.detach()).pow(2).flatten(1).sum(1)
        codebook = (z_e.detach() - z_q).pow(2).flatten(1).sum(1)
        z_st = z_e + (z_q - z_e).detach()  # straight-through: the decoder's gradient goes to z_e
        return z_st, k, commit, codebook

    @torch.no_grad()
    def ema_update(self, z_e: torch.Tensor, k: torch.Tensor, dist=None) -> dict:
        """One training step's codebook update; returns the batch's usage statistics.

        Under ``torchrun`` (``dist``: the engine's process-group handle) counts and sums are
        all-reduced and restart vectors come from rank 0, so every process keeps the same codebook.
        """
        z = self.flat(z_e.detach()).float()
        k = k.reshape(-1)
        onehot = F.one_hot(k, self.K).to(z.dtype)
        n = onehot.sum(0)                       # n_i
        s = onehot.T @ z                        # s_i
        if dist is not None:
            dist.all_reduce_sum(n)
            dist.all_reduce_sum(s)
        stats = {"perplexity": float(perplexity(n)), "usage": float((n > 0).float().mean())}
        if self.decay > 0:
            g = self.decay
            self.cluster_size.mul_(g).add_(n, alpha=1 - g)
            self.embed_sum.mul_(g).add_(s, alpha=1 - g)
            seen = self.cluster_size > 1e-20
            self.embed.data[seen] = self.embed_sum[seen] / self.cluster_size[seen, None]
        self.unused.add_(1).masked_fill_(n > 0, 0)
        dead = self.unused >= self.restart_after if self.restart_after > 0 else torch.zeros_like(n, dtype=torch.bool)
        stats["restarts"] = float(dead.sum())
        if stats["restarts"]:
            self.restart(z, dead, dist)
        return stats

    @torch.no_grad()
    def initialise(self, z_e: torch.Tensor, dist=None) -> bool:
        """Set every code to a random encoder output the first time it is called (data-dependent
        initialisation); returns whether it did."""
        if bool(self.initialised):
            return False
        self.restart(self.flat(z_e.detach()).float(), torch.ones(self.K, dtype=torch.bool, device=z_e.device), dist)
        self.initialised.fill_(1)
        return True

    def codes(self, z_e: torch.Tensor) -> torch.Tensor:
        """Code indices ``(n, *grid)`` of encoder outputs ``(n, D, *grid)``."""
        return self.nearest(self.flat(z_e.detach())).view(z_e.shape[0], *z_e.shape[2:])

    @torch.no_grad()
    def restart(self, z_flat: torch.Tensor, dead: torch.Tensor, dist=None) -> None:
        """Set the codes flagged in ``dead`` to random rows of ``z_flat`` (encoder outputs)."""
        m = int(dead.sum())
        pick = (torch.randperm(len(z_flat), device=z_flat.device)[:m] if len(z_flat) >= m
                else torch.randint(len(z_flat), (m,), device=z_flat.device))
        new = z_flat[pick].clone()
        if dist is not None:
            dist.broadcast(new, 0)
        self.embed.data[dead] = new.to(self.embed.dtype)
        self.cluster_size[dead] = 0.0
        self.embed_sum[dead] = 0.0
        self.unused[dead] = 0.0


# -- encoder and decoder ---------------------------------------------------------------------------
def grid_sizes(spatial: tuple, downsample: int = 0) -> list[tuple]:
    """Spatial sizes from the item's down to the code grid, halving (rounding up) each time.

    ``downsample`` is the number of halvings; 0 chooses it: at least one, then more while the
    grid's longest side exceeds 8 (28x28 -> 7x7, 8x8 -> 4x4, 64x64 -> 8x8, 32^3 -> 8^3).
    """
    sizes = [tuple(int(s) for s in spatial)]
    if downsample:
        for _ in range(downsample):
            if min(sizes[-1]) < 2:
                raise UserError(f"downsample={downsample} halves items of size {sizes[0]} below one position "
                                "per side; use a smaller downsample (or 0 to choose it from the data)")
            sizes.append(tuple(math.ceil(s / 2) for s in sizes[-1]))
        return sizes
    if min(sizes[0]) < 4:
        raise UserError(f"items of spatial size {sizes[0]} are too small for vqvae's conv encoder (need >= 4 "
                        "per side); resize them, or load them as points")
    sizes.append(tuple(math.ceil(s / 2) for s in sizes[0]))
    while max(sizes[-1]) > 8 and min(sizes[-1]) >= 4:
        sizes.append(tuple(math.ceil(s / 2) for s in sizes[-1]))
    return sizes


class ResBlock(nn.Module):
    """``h + W_1x1 relu(W_3x3 relu(h))`` (the VQ-VAE paper's residual block)."""

    def __init__(self, conv, width: int):
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), conv(width, width, 3, padding=1), nn.ReLU(), conv(width, width, 1))

    def forward(self, h):
        return h + self.body(h)


class ConvVQEncoder(nn.Module):
    """Items ``(C, *spatial)`` -> vectors ``(D, *grid)``: stride-2 convs, residual blocks, a 1x1 conv."""

    def __init__(self, shape, sizes, D: int, width: int, res_blocks: int):
        super().__init__()
        channels, *spatial = shape
        conv = nn.Conv2d if len(spatial) == 2 else nn.Conv3d
        layers: list[nn.Module] = []
        c = channels
        for i in range(len(sizes) - 1):
            even = all(s % 2 == 0 for s in sizes[i])
            layers += [conv(c, width, 4 if even else 3, stride=2, padding=1), nn.ReLU()]
            c = width
        layers.append(conv(c, width, 3, padding=1))
        layers += [ResBlock(conv, width) for _ in range(res_blocks)]
        layers += [nn.ReLU(), conv(width, D, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class ConvVQDecoder(nn.Module):
    """Vectors ``(D, *grid)`` -> ``(C, *spatial)`` outputs: a 3x3 conv, residual blocks, then
    nearest-neighbour upsampling and 3x3 convs back to the exact item size."""

    def __init__(self, shape, sizes, D: int, width: int, res_blocks: int):
        super().__init__()
        channels, *spatial = shape
        conv = nn.Conv2d if len(spatial) == 2 else nn.Conv3d
        layers: list[nn.Module] = [conv(D, width, 3, padding=1)]
        layers += [ResBlock(conv, width) for _ in range(res_blocks)]
        layers.append(nn.ReLU())
        c = width
        for size in sizes[-2::-1]:
            c_out = width if size != sizes[0] else max(width // 2, 8)
            layers += [nn.Upsample(size=size, mode="nearest"), conv(c, c_out, 3, padding=1), nn.ReLU()]
            c = c_out
        layers.append(conv(c, channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z)


class MLPVQEncoder(nn.Module):
    """Points ``(dim,)`` -> ``slots`` vectors ``(D, 1, slots)`` (a 1 x slots code grid)."""

    def __init__(self, dim: int, slots: int, D: int, hidden: int, layers: int):
        super().__init__()
        self.slots, self.D = slots, D
        self.net = mlp([dim] + [hidden] * layers + [slots * D], act=nn.ReLU)

    def forward(self, x):
        return self.net(x.flatten(1)).view(len(x), self.slots, self.D).transpose(1, 2).unsqueeze(2)


class MLPVQDecoder(nn.Module):
    """``(D, 1, slots)`` code vectors -> points of ``shape``."""

    def __init__(self, shape, slots: int, D: int, hidden: int, layers: int):
        super().__init__()
        self.shape = tuple(shape)
        self.net = mlp([slots * D] + [hidden] * layers + [int(math.prod(shape))], act=nn.ReLU)

    def forward(self, z):
        return self.net(z.squeeze(2).transpose(1, 2).flatten(1)).view(len(z), *self.shape)


# -- the PixelCNN prior ----------------------------------------------------------------------------
def causal_mask(kernel_size: tuple, mask_type: str) -> torch.Tensor:
    """A kernel mask keeping the positions before the centre in raster order (and the centre for "B").

    Works for 1-, 2- and 3-D kernels of odd sides.

    Examples
    --------
    >>> causal_mask((3, 3), "A").int().tolist()
    [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    """
    if mask_type not in ("A", "B"):
        raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
    order = torch.arange(math.prod(kernel_size)).view(kernel_size)
    centre = order[tuple(k // 2 for k in kernel_size)]
    return (order < centre) if mask_type == "A" else (order <= centre)


class MaskedConv(nn.Module):
    """A same-padded 2-D or 3-D convolution whose kernel only sees earlier positions (raster order).

    Type "A" also hides the centre (the first layer: a position must not see its own code);
    type "B" keeps it (later layers: the centre holds features of earlier positions only).
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: tuple, mask_type: str):
        super().__init__()
        conv = nn.Conv2d if len(kernel_size) == 2 else nn.Conv3d
        self.conv = conv(c_in, c_out, kernel_size, padding=tuple(k // 2 for k in kernel_size))
        self.mask_type = mask_type
        mask = causal_mask(tuple(kernel_size), mask_type).to(torch.float32)
        self.register_buffer("mask", mask.expand_as(self.conv.weight).clone(), persistent=False)

    def forward(self, x):
        return self.conv._conv_forward(x, self.conv.weight * self.mask, self.conv.bias)


class GatedResBlock(nn.Module):
    """``h + W_1x1 (tanh(W_f * h) * sigmoid(W_g * h))`` with a type-B masked conv for ``W_f, W_g``."""

    def __init__(self, width: int, kernel_size: tuple):
        super().__init__()
        conv = nn.Conv2d if len(kernel_size) == 2 else nn.Conv3d
        self.masked = MaskedConv(width, 2 * width, kernel_size, "B")
        self.out = conv(width, width, 1)

    def forward(self, h):
        f, g = self.masked(h).chunk(2, dim=1)
        return h + self.out(torch.tanh(f) * torch.sigmoid(g))


class PixelCNN(nn.Module):
    """Logits ``(n, K, *grid)`` of ``p(k_t | k_<t)`` for code grids ``(n, *grid)`` of integers.

    An embedding of each code, a type-A masked conv (kernel up to 7, 5 in 3-D), ``layers`` gated
    residual blocks with type-B 3-wide masked convs, and a 1x1 head. Every output at position t
    depends on codes at positions before t (raster order) only.
    """

    def __init__(self, K: int, grid: tuple, width: int = 48, layers: int = 3):
        super().__init__()
        dims = len(grid)
        conv = nn.Conv2d if dims == 2 else nn.Conv3d
        first = 7 if dims == 2 else 5

        def kernel(k):  # no wider than the grid needs (2 * side - 1), odd
            return tuple(min(k, 2 * s - 1) for s in grid)

        self.embed = nn.Embedding(K, width)
        self.first = MaskedConv(width, width, kernel(first), "A")
        self.blocks = nn.Sequential(*[GatedResBlock(width, kernel(3)) for _ in range(layers)])
        self.head = nn.Sequential(nn.ReLU(), conv(width, width, 1), nn.ReLU(), conv(width, K, 1))

    def forward(self, k: torch.Tensor) -> torch.Tensor:
        h = self.embed(k).movedim(-1, 1)
        if h.ndim == 4:
            h = h.contiguous(memory_format=torch.channels_last)
        return self.head(self.blocks(self.first(h)))


# -- the model ----------------------------------------------------------------------------------------
