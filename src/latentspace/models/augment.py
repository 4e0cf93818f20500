r"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for GAN discriminators.

A discriminator trained on few items memorises them; augmenting only the real items would
teach the generator to produce augmented items. DiffAugment applies the same family of random,
differentiable transforms :math:`T` to real *and* generated items, in the discriminator's and in
the generator's step:

.. math::
    L_D = \ell_D\big(D(T(x)),\, D(T(G(z)))\big), \qquad L_G = \ell_G\big(D(T(G(z)))\big),

each item drawing its own transform. Because :math:`T` is differentiable, :math:`\nabla_\theta L_G`
reaches the generator through it.

The transforms (a ``policy`` names them, comma-separated):

- ``translation``: shift by up to 1/8 of each spatial size, zero-filled (images and volumes);
- ``cutout``: zero a random square (cube) of half the size, centred anywhere (images and volumes);
- ``color``: random brightness :math:`x + b`, saturation :math:`\bar x_c + s (x - \bar x_c)` and contrast
  :math:`\bar x + c (x - \bar x)`, with :math:`b \sim U[-\frac12, \frac12]`, :math:`s \sim U[0, 2]`,
  :math:`c \sim U[\frac12, \frac32]` (images only).
"""

from __future__ import annotations

import torch

from latentspace.errors import UserError

#: the transforms a policy may name, and the spatial dimensionalities each applies to
TRANSFORMS = {"color": (2,), "translation": (2, 3), "cutout": (2, 3)}


def parse_policy(policy: str, spatial_dims: int | None = None) -> list[str]:
    """The transform names of ``policy`` (``"translation,cutout,color"``; empty: none), checked.

    ``spatial_dims`` (2 for images, 3 for volumes, 0 for points) checks that each transform
    applies to such items.
    """
    names = [p.strip().lower() for p in (policy or "").split(",") if p.strip()]
    for name in names:
        if name not in TRANSFORMS:
            raise UserError(f"unknown diffaugment transform {name!r}; use a comma-separated subset of "
                            f"{', '.join(TRANSFORMS)}, or '' for none")
        if spatial_dims is not None and spatial_dims not in TRANSFORMS[name]:
            kind = {0: "points", 2: "images", 3: "volumes"}.get(spatial_dims, f"{spatial_dims}-D items")
            raise UserError(f"diffaugment {name!r} does not apply to {kind}; "
                            + ("use diffaugment='' for points" if spatial_dims == 0
                               else "use 'translation,cutout' for volumes"))
    return names


def _uniform(x: torch.Tensor, low: float, high: float, generator) -> torch.Tensor:
    """One uniform draw per item, shaped to broadcast over the item."""
    u = torch.rand(len(x), *[1] * (x.ndim - 1), generator=generator, device=x.device, dtype=x.dtype)
    return low + (high - low) * u


def color(x: torch.Tensor, generator=None) -> torch.Tensor:
    """Random brightness, saturation and contrast per item (images ``(n, C, H, W)``)."""
    x = x + _uniform(x, -0.5, 0.5, generator)
    mean_c = x.mean(dim=1, keepdim=True)
    x = mean_c + _uniform(x, 0.0, 2.0, generator) * (x - mean_c)
    mean = x.mean(dim=tuple(range(1, x.ndim)), keepdim=True)
    return mean + _uniform(x, 0.5, 1.5, generator) * (x - mean)


def _shift(x: torch.Tensor, dim: int, shift: torch.Tensor) -> torch.Tensor:
    """Shift each item along ``dim`` by its own integer ``shift`` (n,), filling with zeros."""
    size = x.shape[dim]
    shape = [1] * x.ndim
    shape[dim] = size
    source = torch.arange(size, device=x.device).view(shape) - shift.view(-1, *[1] * (x.ndim - 1))
    inside = (source >= 0) & (source < size)
    index = source.clamp(0, size - 1).expand(*x.shape[:dim], size, *x.shape[dim + 1:])
    return torch.gather(x, dim, index) * inside.to(x.dtype)


def translation(x: torch.Tensor, ratio: float = 0.125, generator=None) -> torch.Tensor:
    """Shift each item by up to ``ratio`` of each spatial size (zero padding); ``(n, C, *spatial)``."""
    for dim in range(2, x.ndim):
        most = int(x.shape[dim] * ratio + 0.5)
        if most:
            shift = torch.randint(-most, most + 1, (len(x),), generator=generator, device=x.device)
            x = _shift(x, dim, shift)
    return x


def cutout(x: torch.Tensor, ratio: float = 0.5, generator=None) -> torch.Tensor:
    """Zero a random square (cube) of ``ratio`` times each spatial size per item; ``(n, C, *spatial)``."""
    keep = torch.zeros(len(x), *[1] * (x.ndim - 1), dtype=torch.bool, device=x.device)
    for dim in range(2, x.ndim):
        size = x.shape[dim]
        cut = int(size * ratio + 0.5)
        centre = torch.randint(0, size + (1 - cut % 2), (len(x),), generator=generator, device=x.device)
        start = (centre - cut // 2).view(-1, *[1] * (x.ndim - 1))
        shape = [1] * x.ndim
        shape[dim] = size
        pos = torch.arange(size, device=x.device).view(shape)
        keep = keep | (pos < start) | (pos >= start + cut)  # outside the cut along any axis
    return x * keep.to(x.dtype)


_APPLY = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: torch.Tensor, policy: str, generator=None) -> torch.Tensor:
    """Apply the transforms of ``policy`` to items ``x`` (``(n, C, *spatial)``), each drawn per item.

    Differentiable in ``x``; the identity when ``policy`` is empty. Transforms apply in the
    order color, translation, cutout, as in the paper's code, whatever order ``policy`` names.
    """
    names = parse_policy(policy, x.ndim - 2 if x.ndim > 2 else 0)
    for name in ("color", "translation", "cutout"):
        if name in names:
            x = _APPLY[name](x, generator=generator)
    return x


def jitter(x: torch.Tensor, scale: float = 0.1, shift: float = 0.0625, generator=None) -> torch.Tensor:
    """Classic augmentation for classifiers: scale each item by a factor in ``[1 - scale, 1 + scale]``
    about its centre and shift it by up to ``shift`` of each spatial size, filling with the edge values
    (white stays white around a drawing, black around a digit). Images ``(n, C, H, W)`` and volumes
    ``(n, C, D, H, W)``; bilinear (trilinear) resampling, differentiable in ``x``."""
    import torch.nn.functional as F

    n, dims = len(x), x.ndim - 2
    if dims not in (2, 3):
        raise UserError(f"jitter applies to images and volumes, got items of shape {tuple(x.shape[1:])}")
    factor = 1 + scale * (2 * torch.rand(n, generator=generator, device=x.device) - 1)
    move = shift * 2 * (2 * torch.rand(n, dims, generator=generator, device=x.device) - 1)  # grid units: 2 = size
    theta = torch.zeros(n, dims, dims + 1, device=x.device, dtype=x.dtype)
    theta[:, range(dims), range(dims)] = (1 / factor).to(x.dtype)[:, None]
    theta[:, :, dims] = move.to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
