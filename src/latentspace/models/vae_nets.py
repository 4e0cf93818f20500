"""The VAE family's networks: the encoder giving :math:`q(z|x)`, the decoder giving the parameters of
:math:`p(x|z)` (either wrapping a body network, built-in or the user's own), and the learned
variance of a Gaussian likelihood."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def join_label(h: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``h`` with the one-hot label appended: as constant channels when ``h`` has spatial dimensions."""
    onehot = F.one_hot(y, num_classes).to(h.dtype)
    if h.ndim > 2:
        onehot = onehot.reshape(*onehot.shape, *[1] * (h.ndim - 2)).expand(-1, -1, *h.shape[2:])
    return torch.cat([h, onehot], 1)


class Encoder(nn.Module):
    """``(mu, log sigma^2)`` of :math:`q(z|x)`, or :math:`q(z|x, y)` when ``num_classes`` > 0.

    ``body`` maps items (flattened first when ``flatten``), with the one-hot label appended, to
    ``2 * latent_dim`` numbers (mean, then log-variance) or to a tuple ``(mu, logvar)``.
    """

    def __init__(self, body: nn.Module, num_classes: int = 0, flatten: bool = False):
        super().__init__()
        self.body, self.num_classes, self.flatten = body, num_classes, flatten

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None):
        h = x.flatten(1) if self.flatten else x
        if self.num_classes:
            h = join_label(h, y, self.num_classes)
        out = self.body(h)
        mu, logvar = out if isinstance(out, (tuple, list)) else out.chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 8.0)


class Decoder(nn.Module):
    """The parameters of :math:`p(x|z)` (or :math:`p(x|z, y)`): ``body`` on the code with the one-hot label appended.

    The output has shape ``(n, P * C, *spatial)`` for ``P`` parameters per feature (2 for the
    discretised logistic: mean, then log-scale).
    """

    def __init__(self, body: nn.Module, out_shape, num_classes: int = 0):
        super().__init__()
        self.body, self.num_classes, self.out_shape = body, num_classes, tuple(out_shape)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None):
        if self.num_classes:
            z = join_label(z, y, self.num_classes)
        return self.body(z).reshape(len(z), *self.out_shape)


class LogVar(nn.Module):
    """A learned per-feature log-variance for the Gaussian likelihood."""

    def __init__(self, shape):
        super().__init__()
        self.logvar = nn.Parameter(torch.full(tuple(shape), -2.0))

    def forward(self):
        return self.logvar.clamp(-10, 5)


#: the VAE family's defaults on a CPU, by modality: for images (``sized_for="cpu"``): the classic MNIST VAE's MLPs
#: (784-512-512-32 and back), 6-13 times faster per item than the conv nets there, batch 100 and a
#: cosine decay over 24,000 steps: 24,457 steps in 10 minutes reached a held-out NLL of 88.28 nats on
#: dynamically binarised MNIST with one thread beside another job (docs/vae-family.md)
#: Spectrograms likewise: at 64x64 the conv VAE took about 5 s a step on the two birds of
#: benchmarks/birdsong_latents.py, the MLPs 0.1 s; 3,000 steps (5 minutes) gave held-out k-NN label accuracy
#: 0.99-1.00 from the latent means (docs/birdsong.md).
CPU_RECIPES = {"image": {"arch": "mlp", "hidden": 512, "batch_size": 100, "lr_schedule": "cosine", "steps": 24000},
               "spectrogram": {"arch": "mlp", "hidden": 512, "batch_size": 100, "lr_schedule": "cosine",
                               "steps": 3000}}
