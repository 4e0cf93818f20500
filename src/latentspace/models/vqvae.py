r"""Vector-quantised VAE (van den Oord, Vinyals & Kavukcuoglu 2017) with a PixelCNN prior.

An encoder maps an item :math:`x` to a grid of vectors :math:`z_e(x) \in \mathbb R^{D}` (one per
grid position), each replaced by its nearest entry of a codebook :math:`e \in \mathbb R^{K \times D}`:

.. math::
    k(x) = \arg\min_j \| z_e(x) - e_j \|_2, \qquad z_q(x) = e_{k(x)},

and a decoder gives the likelihood :math:`p(x|z_q)` (Bernoulli logits for images and volumes in
[0, 1], a Gaussian with a learned per-feature variance otherwise). The VQ-VAE maximises, per item,

.. math::
    \log p(x|z_q(x)) - \|\mathrm{sg}[z_e(x)] - e\|_2^2 - \beta \|z_e(x) - \mathrm{sg}[e]\|_2^2,

i.e. it minimises :math:`L = -\log p(x|z_q) + \|\mathrm{sg}[z_e] - e\|^2 + \beta\|z_e - \mathrm{sg}[e]\|^2`
(squared norms summed over the grid), where :math:`\mathrm{sg}` stops gradients. The decoder's
gradient reaches the encoder *straight through* the quantiser (:math:`z_q + z_e - \mathrm{sg}[z_e]`
in the forward pass). With ``decay`` :math:`\gamma > 0` (the default) the codebook term is
replaced by exponential moving averages (the paper's appendix A.1): for each code :math:`i`,
with :math:`n_i` the number of batch vectors assigned to it and :math:`s_i` their sum,

.. math::
    N_i \leftarrow \gamma N_i + (1 - \gamma) n_i, \qquad
    m_i \leftarrow \gamma m_i + (1 - \gamma) s_i, \qquad e_i = m_i / N_i,

so :math:`e_i` is a weighted mean of the vectors ever assigned to it, recent ones weighing more
(:math:`N` and :math:`m` start at 0; a code is only moved once it has been used, so no Laplace
smoothing is needed). Codes unused for ``restart_after`` steps are *restarted*: set to a random
encoder output of the current batch (Dhariwal et al. 2020), and at the first step every code is
initialised that way. The batch's codebook usage is logged as the perplexity
:math:`\exp(-\sum_i p_i \log p_i)` with :math:`p_i` the share of vectors assigned to code :math:`i`
(K for uniform usage, 1 when one code takes all).

**Prior.** The VQ-VAE's own prior is uniform over codes; to *generate*, a PixelCNN (van den Oord
et al. 2016) learns :math:`p(k) = \prod_t p(k_t | k_{<t})` over the code grid in raster order,
with masked convolutions (mask type A on the first layer: a position does not see itself; type B
after) and gated residual blocks :math:`h + W_{1\times 1}(\tanh(W_f * h) \odot \sigma(W_g * h))`.
``fit`` runs two stages in one run of ``steps`` steps: the VQ-VAE for the first
``1 - prior_fraction`` of them, then the PixelCNN on the codes of training batches from the frozen
encoder. ``sample`` draws codes ancestrally from the PixelCNN and decodes them.

**Likelihood.** With the deterministic one-hot posterior :math:`q(k|x) = [k = k(x)]` the ELBO has
no entropy term, and

.. math::
    \log p(x) = \log \sum_k p(k) p(x|e_k) \ge \log p(x|z_q(x)) + \log p_\text{prior}(k(x)),

a deterministic lower bound (``score_samples``); importance sampling with :math:`k` draws does not
apply, since :math:`q` has a single point.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from latentspace.data.dataset import Dataset
from latentspace.errors import UserError
from latentspace.models.base import register
from latentspace.models.nets import is_spatial, mlp
from latentspace.models.neural import NeuralModel
from latentspace.models.vae import _LogVar, bernoulli_log_prob, gaussian_log_prob


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


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


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
    def ema_update(self, z_e: torch.Tensor, k: torch.Tensor) -> dict:
        """One training step's codebook update; returns the batch's usage statistics.

        Under ``torchrun`` counts and sums are all-reduced and restart vectors come from rank 0,
        so every process keeps the same codebook.
        """
        z = self.flat(z_e.detach()).float()
        k = k.reshape(-1)
        onehot = F.one_hot(k, self.K).to(z.dtype)
        n = onehot.sum(0)                       # n_i
        s = onehot.T @ z                        # s_i
        if _distributed():
            torch.distributed.all_reduce(n)
            torch.distributed.all_reduce(s)
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
            self.restart(z, dead)
        return stats

    @torch.no_grad()
    def initialise(self, z_e: torch.Tensor) -> bool:
        """Set every code to a random encoder output the first time it is called (data-dependent
        initialisation); returns whether it did."""
        if bool(self.initialised):
            return False
        self.restart(self.flat(z_e.detach()).float(), torch.ones(self.K, dtype=torch.bool, device=z_e.device))
        self.initialised.fill_(1)
        return True

    def codes(self, z_e: torch.Tensor) -> torch.Tensor:
        """Code indices ``(n, *grid)`` of encoder outputs ``(n, D, *grid)``."""
        return self.nearest(self.flat(z_e.detach())).view(z_e.shape[0], *z_e.shape[2:])

    @torch.no_grad()
    def restart(self, z_flat: torch.Tensor, dead: torch.Tensor) -> None:
        """Set the codes flagged in ``dead`` to random rows of ``z_flat`` (encoder outputs)."""
        m = int(dead.sum())
        pick = (torch.randperm(len(z_flat), device=z_flat.device)[:m] if len(z_flat) >= m
                else torch.randint(len(z_flat), (m,), device=z_flat.device))
        new = z_flat[pick].clone()
        if _distributed():
            torch.distributed.broadcast(new, 0)
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
@register
class VQVAE(NeuralModel):
    """A VQ-VAE with EMA codebook, dead-code restarts and a PixelCNN prior over its code grid.

    Images and spectrograms use 2-D convs, volumes 3-D convs; the code grid is sized from the
    data (see :func:`grid_sizes`: 28x28 MNIST -> 7x7 codes, 8x8 digits -> 4x4). Points use MLPs
    and ``slots`` code vectors per item (a 1 x slots grid for the PixelCNN). One ``fit`` trains the
    VQ-VAE for the first ``1 - prior_fraction`` of the steps, then the PixelCNN prior on the codes
    of the frozen encoder; an ``lr_schedule`` runs within each stage (so the prior starts at the
    full ``prior_lr``). Resuming within one planned run is exact.

    Logged: ``rec`` (-log p(x|z_q), nats per item), ``commit`` (||z_e - sg[e]||^2 per item),
    ``perplexity`` and ``usage`` (share of codes used) of the batch, ``restarts``; then
    ``prior_nll`` (-log p(k), nats per item) in the prior stage. A logging window that straddles
    the switch averages each column over the whole window.

    Parameters
    ----------
    num_embeddings : int
        Codebook size K.
    embedding_dim : int
        Code vector size D.
    beta : float
        Weight of the commitment loss.
    decay : float
        EMA decay gamma of the codebook in [0, 1); 0 learns the codebook by gradient of
        ``||sg[z_e] - e||^2`` instead.
    restart_after : int
        Training steps a code may stay unused before it is restarted from a random encoder
        output of the batch (0: never).
    width, res_blocks : int
        Channels and residual blocks of the conv encoder and decoder (images, volumes).
    downsample : int
        Halvings from the item to the code grid (0: chosen from the data, see :func:`grid_sizes`).
    slots, hidden, layers : int
        Points only: code vectors per item, MLP width and depth.
    likelihood : {"auto", "bernoulli", "gaussian"}
        Decoder likelihood; ``auto`` is Bernoulli (logits) for data in [0, 1] with a natural range
        (images, volumes), Gaussian with a learned per-feature variance otherwise.
    lr : float
        Adam learning rate of the VQ-VAE.
    prior_width, prior_layers : int
        Channels and gated residual blocks of the PixelCNN.
    prior_lr : float
        Adam learning rate of the PixelCNN.
    prior_fraction : float
        Share of the training steps given to the prior, in (0, 1).

    Attributes
    ----------
    grid_ : tuple
        Shape of the code grid of one item.

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("digits")
    >>> vq = ls.models.create("vqvae", width=16, prior_width=16).fit(data, steps=10, progress=False)
    >>> vq.encode(data.test.to_data()[:2]).shape   # code indices on a 4x4 grid
    torch.Size([2, 4, 4])
    >>> vq.sample(3, seed=0).shape
    torch.Size([3, 1, 8, 8])
    """

    name = "vqvae"
    likelihood_kind = "bound"
    choices = {"likelihood": ("auto", "bernoulli", "gaussian")}
    default_steps = 6000
    default_batch_size = 128

    plan_ = None
    grid_ = None

    def __init__(self, num_embeddings: int = 128, embedding_dim: int = 16, beta: float = 0.25, decay: float = 0.99,
                 restart_after: int = 20, width: int = 32, res_blocks: int = 2, downsample: int = 0,
                 slots: int = 2, hidden: int = 128, layers: int = 2, likelihood: str = "auto", lr: float = 1e-3,
                 prior_width: int = 48, prior_layers: int = 3, prior_lr: float = 1e-3,
                 prior_fraction: float = 0.5):
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.beta = beta
        self.decay = decay
        self.restart_after = restart_after
        self.width = width
        self.res_blocks = res_blocks
        self.downsample = downsample
        self.slots = slots
        self.hidden = hidden
        self.layers = layers
        self.likelihood = likelihood
        self.lr = lr
        self.prior_width = prior_width
        self.prior_layers = prior_layers
        self.prior_lr = prior_lr
        self.prior_fraction = prior_fraction

    # -- checks and networks ---------------------------------------------------------------------
    @property
    def obs_model(self) -> str:
        if self.likelihood != "auto":
            return self.likelihood
        return "bernoulli" if self.info_.clip == (0.0, 1.0) else "gaussian"

    def _check_params(self) -> None:
        for name in ("num_embeddings", "embedding_dim", "width", "slots", "hidden", "layers", "prior_width",
                     "prior_layers"):
            if int(getattr(self, name)) < 1:
                raise UserError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("res_blocks", "downsample", "restart_after"):
            if int(getattr(self, name)) < 0:
                raise UserError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.num_embeddings < 2:
            raise UserError(f"num_embeddings must be at least 2, got {self.num_embeddings}")
        if not 0.0 <= self.decay < 1.0:
            raise UserError(f"decay must lie in [0, 1) (0: learn the codebook by gradient), got {self.decay}")
        if not 0.0 < self.prior_fraction < 1.0:
            raise UserError(f"prior_fraction must lie strictly between 0 and 1, got {self.prior_fraction}")
        for name in ("beta", "lr", "prior_lr"):
            if not getattr(self, name) >= 0:
                raise UserError(f"{name} must be >= 0, got {getattr(self, name)!r}")

    def _build(self, info):
        self._check_params()
        if self.obs_model == "bernoulli" and info.clip != (0.0, 1.0):
            raise UserError("likelihood 'bernoulli' needs data in [0, 1] (images or volumes); "
                            "use --set likelihood=gaussian")
        K, D = self.num_embeddings, self.embedding_dim
        if is_spatial(info):
            if len(info.shape) not in (3, 4):
                raise UserError(f"vqvae takes images (C, H, W) or volumes (C, D, H, W), got items of shape "
                                f"{tuple(info.shape)}")
            sizes = grid_sizes(info.shape[1:], self.downsample)
            self.grid_ = sizes[-1]
            nets = {"encoder": ConvVQEncoder(info.shape, sizes, D, self.width, self.res_blocks),
                    "decoder": ConvVQDecoder(info.shape, sizes, D, self.width, self.res_blocks)}
        else:
            self.grid_ = (1, self.slots)
            nets = {"encoder": MLPVQEncoder(info.dim, self.slots, D, self.hidden, self.layers),
                    "decoder": MLPVQDecoder(info.shape, self.slots, D, self.hidden, self.layers)}
        nets["codebook"] = VectorQuantizer(K, D, self.decay, self.restart_after)
        nets["prior"] = PixelCNN(K, self.grid_, self.prior_width, self.prior_layers)
        if self.obs_model == "gaussian":
            nets["obs"] = _LogVar(info.shape)
        return nets

    def configure_optimizers(self):
        vq = [p for name in ("encoder", "decoder", "codebook", "obs") if name in self.nets_
              for p in self.nets_[name].parameters() if p.requires_grad]
        self.opt_ = torch.optim.Adam(vq, lr=self.lr)
        self.prior_opt_ = torch.optim.Adam(self.nets_["prior"].parameters(), lr=self.prior_lr)
        return {"vqvae": self.opt_, "prior": self.prior_opt_}

    # -- the two training stages ----------------------------------------------------------------
    def fit(self, data: Dataset, *, steps: int | None = None, lr_schedule: str | None = None,
            **options) -> "VQVAE":
        """Train the VQ-VAE, then its PixelCNN prior, with the shared engine.

        Takes the options of :meth:`NeuralModel.fit <latentspace.models.neural.NeuralModel.fit>`.
        The first ``round((1 - prior_fraction) * steps)`` steps (at least 1, at most
        ``steps - 1``) train the VQ-VAE, the rest the prior; ``lr_schedule`` applies within each.
        """
        if isinstance(data, Dataset):
            self.plan_ = {"steps": int(steps or self._default_steps(data)),
                          "lr_schedule": lr_schedule or self._default_lr_schedule(data)}
        return super().fit(data, steps=steps, lr_schedule=lr_schedule, **options)

    def prior_start(self, steps: int) -> int:
        """The first step (0-based) of the prior stage in a run of ``steps`` steps."""
        if steps < 2:
            return steps
        return min(steps - 1, max(1, round((1.0 - self.prior_fraction) * steps)))

    def _stage(self, batch: dict, step: int) -> tuple[str, int, int]:
        """(stage, first step of the stage, steps in the stage) at ``step``."""
        plan = self.plan_ or {}
        steps = plan.get("steps")
        if steps is None:  # driven by the engine without fit: the plan follows from the progress
            progress = float(batch.get("progress") or 0.0)
            steps = round(step / progress) if progress > 0 else None
        if steps is None:
            return "vqvae", 0, 1
        switch = self.prior_start(steps)
        return ("vqvae", 0, switch) if step < switch else ("prior", switch, steps - switch)

    def _stage_lr(self, opt, step: int, start: int, length: int) -> None:
        """Re-time the engine's learning-rate schedule to run within this stage."""
        schedule = (self.plan_ or {}).get("lr_schedule", "constant")
        if schedule == "constant":
            return
        from latentspace.train.engine import lr_factor

        factor = lr_factor(schedule, step - start, max(length, 1))
        for group in opt.param_groups:
            group["lr"] = group.setdefault("initial_lr", group["lr"]) * factor

    def train_step(self, batch, step):
        stage, start, length = self._stage(batch, step)
        x = batch["x"]
        if stage == "vqvae":
            self._stage_lr(self.opt_, step, start, length)
            z_e = self.net("encoder")(x)
            self.nets_["codebook"].initialise(z_e)
            z_q, k, commit, codebook = self.net("codebook")(z_e)
            rec = -self._log_px_given_z(self._target(x), self.net("decoder")(z_q))
            loss = rec + self.beta * commit
            if self.decay == 0:
                loss = loss + codebook
            loss = loss.mean()
            self.opt_.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_.step()
            stats = self.nets_["codebook"].ema_update(z_e, k)
            return {"rec": rec.mean().item(), "commit": commit.mean().item(), **stats}
        self._stage_lr(self.prior_opt_, step, start, length)
        with torch.no_grad():
            k = self.nets_["codebook"].codes(self.nets_["encoder"](x))
        nll = F.cross_entropy(self.net("prior")(k), k, reduction="none").flatten(1).sum(1).mean()
        self.prior_opt_.zero_grad(set_to_none=True)
        nll.backward()
        self.prior_opt_.step()
        return {"prior_nll": nll.item()}

    # -- the model's pieces ------------------------------------------------------------------------
    def _target(self, x):
        """Model-space items as the likelihood's target: [0, 1] intensities for Bernoulli."""
        return self.info_.to_data(x) if self.obs_model == "bernoulli" else x

    def _log_px_given_z(self, target, out):
        if self.obs_model == "bernoulli":
            return bernoulli_log_prob(target, out).flatten(1).sum(1)
        return gaussian_log_prob(target, out, self.net("obs")().expand_as(out)).flatten(1).sum(1)

    def _quantise(self, xm):
        """Model-space items -> code indices ``(n, *grid)``."""
        return self.nets_["codebook"].codes(self.nets_["encoder"](xm))

    def _decode_mean(self, z_q):
        out = self.nets_["decoder"](z_q)
        return self.info_.to_model(torch.sigmoid(out)) if self.obs_model == "bernoulli" else out

    def _codes_to_vectors(self, k):
        z = self.nets_["codebook"].lookup(k)
        return z.contiguous(memory_format=torch.channels_last) if z.ndim == 4 else z

    @torch.no_grad()
    def _ancestral(self, u: torch.Tensor) -> torch.Tensor:
        """Code grids drawn position by position from the PixelCNN, with uniforms ``u`` (n, *grid)."""
        prior = self.nets_["prior"]
        k = torch.zeros(u.shape, dtype=torch.long, device=u.device)
        flat_k, flat_u = k.view(len(k), -1), u.reshape(len(u), -1)
        for t in range(flat_k.shape[1]):
            logits = prior(k).flatten(2)[:, :, t]
            cdf = torch.softmax(logits.double(), 1).cumsum(1)
            u_t = flat_u[:, t:t + 1].double().contiguous()
            flat_k[:, t] = torch.searchsorted(cdf, u_t).squeeze(1).clamp_max(cdf.shape[1] - 1)
        return k

    # -- the API ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample_codes(self, n, *, seed=None) -> torch.Tensor:
        """``n`` code grids ``(n, *grid)`` drawn ancestrally from the PixelCNN prior (raster order)."""
        self._check_fitted()
        n = self._check_n(n)
        g = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        u = torch.rand(n, *self.grid_, generator=g)  # on the CPU: the same codes on any device
        self.set_train(False)
        return self._batched(self._ancestral, u.to(self.device_)).cpu()

    @torch.no_grad()
    def sample(self, n, *, seed=None, **cond):
        """``n`` new items in data space: codes drawn from the PixelCNN prior, then decoded
        (decoder means: Bernoulli probabilities or Gaussian means)."""
        return self.decode(self.sample_codes(n, seed=seed))

    @torch.no_grad()
    def encode(self, x, vectors: bool = False) -> torch.Tensor:
        """Code indices ``(n, *grid)`` (int64) of data-space items ``x``; with ``vectors=True``
        the quantised vectors ``z_q`` ``(n, D, *grid)`` instead."""
        xm = self._as_model_space(x).to(self.device_)
        if xm.ndim == 4:
            xm = xm.contiguous(memory_format=torch.channels_last)
        self.set_train(False)
        k = self._batched(self._quantise, xm)
        return (self._batched(self._codes_to_vectors, k) if vectors else k).cpu()

    @torch.no_grad()
    def decode(self, z) -> torch.Tensor:
        """Data-space decoder means of code indices ``(n, *grid)`` (integers in [0, K)) or of
        code vectors ``(n, D, *grid)`` (floats, decoded as given, so they may lie between codes)."""
        self._check_fitted()
        z = torch.as_tensor(z)
        grid, K, D = tuple(self.grid_), self.num_embeddings, self.embedding_dim
        self.set_train(False)
        if not z.is_floating_point():
            if tuple(z.shape[1:]) != grid or z.ndim != len(grid) + 1:
                raise UserError(f"code indices must have shape (n, {', '.join(map(str, grid))}), got {tuple(z.shape)}")
            if len(z) and (int(z.min()) < 0 or int(z.max()) >= K):
                raise UserError(f"code indices must lie in 0..{K - 1}, got {int(z.min())}..{int(z.max())}")
            z = self._batched(self._codes_to_vectors, z.long().to(self.device_))
        else:
            if tuple(z.shape[1:]) != (D, *grid):
                raise UserError(f"code vectors must have shape (n, {D}, {', '.join(map(str, grid))}) or integer "
                                f"indices (n, {', '.join(map(str, grid))}), got {tuple(z.shape)}")
            if not torch.isfinite(z).all():
                raise UserError("code vectors contain NaN or inf")
            z = z.float().to(self.device_)
            if z.ndim == 4:
                z = z.contiguous(memory_format=torch.channels_last)
        return self._to_data(self._batched(self._decode_mean, z))

    @torch.no_grad()
    def prior_log_prob(self, k) -> torch.Tensor:
        """log p(k) of code grids ``(n, *grid)`` under the PixelCNN prior (nats per item)."""
        self._check_fitted()
        k = torch.as_tensor(k).long().to(self.device_)
        self.set_train(False)

        def one(kb):
            return -F.cross_entropy(self.nets_["prior"](kb), kb, reduction="none").flatten(1).sum(1)

        return self._batched(one, k).cpu().double()

    @torch.no_grad()
    def elbo(self, x) -> torch.Tensor:
        """Per-item ELBO ``log p(x|z_q(x)) + log p(k(x))`` (nats) of data-space items ``x``: the
        same as :meth:`score_samples`."""
        xm = self._as_model_space(x).to(self.device_)
        if xm.ndim == 4:
            xm = xm.contiguous(memory_format=torch.channels_last)
        self.set_train(False)

        def one(b):
            k = self._quantise(b)
            log_px = self._log_px_given_z(self._target(b), self.nets_["decoder"](self._codes_to_vectors(k)))
            log_pk = -F.cross_entropy(self.nets_["prior"](k), k, reduction="none").flatten(1).sum(1)
            return log_px + log_pk

        jacobian = self._log_det_to_data() if self.obs_model == "gaussian" else 0.0
        return self._batched(one, xm).cpu().double() + jacobian

    @torch.no_grad()
    def score_samples(self, x, k: int | None = None) -> torch.Tensor:
        """A lower bound on log p(x) per data-space item (nats): ``log p(x|z_q(x)) + log p(k(x))``.

        With the one-hot posterior q(k|x) = [k = k(x)] the ELBO has no entropy term, and
        ``log p(x) = log sum_k p(k) p(x|e_k) >= log p(k(x)) p(x|e_k(x))``: one term of the sum. The
        bound is deterministic; ``k`` (importance samples, for the VAE family) does not apply
        and is ignored. For the Bernoulli likelihood it bounds the log-probability of binary
        data (for grey levels it is the Bernoulli cross-entropy, not a density); for the
        Gaussian it is a log-density in data space.
        """
        return self.elbo(x)
