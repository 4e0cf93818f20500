"""Walks through a model's latent space: linear and spherical interpolation, and a picture of them.

- :func:`lerp` and :func:`slerp` make the latent codes of a path between two codes;
- :func:`latent_size` tells whether (and how wide) a model has a latent space;
- :func:`interpolation_paths` decodes paths between encodings of real items (models that can
  encode) or between random Gaussian codes (spherical interpolation, which keeps the codes at
  the typical norm of a Gaussian draw instead of cutting through the low-norm middle);
- :func:`interpolation_strip` draws the decoded paths: rows of images, or paths over a
  scatter of real points for 2-D data.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from latentspace.errors import UserError


def _endpoints(z0, z1) -> tuple[torch.Tensor, torch.Tensor]:
    z0 = torch.as_tensor(z0, dtype=torch.float32)
    z1 = torch.as_tensor(z1, dtype=torch.float32)
    if z0.shape != z1.shape or z0.ndim != 1:
        raise UserError(f"interpolation needs two codes of the same shape (d,), got {tuple(z0.shape)} "
                        f"and {tuple(z1.shape)}; pass one code at a time")
    return z0, z1


def _check_steps(steps) -> int:
    if isinstance(steps, bool) or int(steps) != steps or steps < 2:
        raise UserError(f"steps must be an integer of at least 2 (the two ends), got {steps!r}")
    return int(steps)


def lerp(z0, z1, steps: int = 10) -> torch.Tensor:
    """Linear interpolation: ``steps`` codes from ``z0`` to ``z1`` inclusive.

    Parameters
    ----------
    z0, z1 : tensor or array of shape (d,)
        The two end codes.
    steps : int
        Number of codes on the path, at least 2.

    Returns
    -------
    torch.Tensor
        ``(steps, d)`` float32; row 0 is ``z0`` and the last row ``z1``.

    Examples
    --------
    >>> lerp([0.0, 0.0], [1.0, 2.0], steps=3).tolist()
    [[0.0, 0.0], [0.5, 1.0], [1.0, 2.0]]
    """
    z0, z1 = _endpoints(z0, z1)
    t = torch.linspace(0, 1, _check_steps(steps))[:, None]
    return (1 - t) * z0 + t * z1


def slerp(z0, z1, steps: int = 10) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985): along the great circle from ``z0`` to ``z1``,
    with the norm interpolated linearly.

    For Gaussian latent codes this keeps every code at a typical norm (about ``sqrt(d)``),
    where a straight line would pass through the unlikely region near the origin. Nearly
    parallel codes fall back to :func:`lerp`.

    Parameters
    ----------
    z0, z1 : tensor or array of shape (d,)
    steps : int
        Number of codes on the path, at least 2.

    Returns
    -------
    torch.Tensor
        ``(steps, d)`` float32; row 0 is ``z0`` and the last row ``z1``.

    Examples
    --------
    >>> z = slerp([1.0, 0.0], [0.0, 1.0], steps=3)
    >>> [round(v, 4) for v in z[1].tolist()]
    [0.7071, 0.7071]
    """
    z0, z1 = _endpoints(z0, z1)
    steps = _check_steps(steps)
    n0, n1 = z0.norm(), z1.norm()
    if n0 < 1e-12 or n1 < 1e-12:
        return lerp(z0, z1, steps)
    u0, u1 = z0 / n0, z1 / n1
    omega = torch.arccos((u0 @ u1).clamp(-1.0, 1.0))
    if omega < 1e-4 or math.pi - float(omega) < 1e-4:  # parallel or opposite: no unique circle
        return lerp(z0, z1, steps)
    t = torch.linspace(0, 1, steps)[:, None]
    direction = (torch.sin((1 - t) * omega) * u0 + torch.sin(t * omega) * u1) / torch.sin(omega)
    out = direction * ((1 - t) * n0 + t * n1)
    out[0], out[-1] = z0, z1  # exact ends despite rounding
    return out


def _overrides(model, method: str) -> bool:
    """Whether ``model`` implements ``method`` itself (not the base class's NotImplementedError)."""
    from latentspace.models.base import GenerativeModel

    impl = getattr(type(model), method, None)
    return impl is not None and impl is not getattr(GenerativeModel, method)


def can_encode(model) -> bool:
    """Whether ``model`` maps data-space items to latent codes (VAE, PPCA)."""
    return _overrides(model, "encode")


def latent_size(model) -> int | None:
    """Width of a model's latent space, or None when it has none (KDE, GMM).

    GANs and VAEs name it ``z_dim`` (``latent_dim`` when set), PPCA its number of components.
    """
    if not _overrides(model, "decode"):
        return None
    for attr in ("z_dim", "latent_dim"):
        value = getattr(model, attr, None)
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0:
            return int(value)
    pca = getattr(model, "pca_", None)
    if pca is not None and hasattr(pca, "k"):
        return int(pca.k)
    return None


def interpolation_paths(model, real=None, *, rows: int = 3, steps: int = 10, seed: int = 0) -> dict:
    """Decoded paths through ``model``'s latent space, ready for :func:`interpolation_strip`.

    Models that can encode walk linearly between the encodings of pairs of ``real`` items
    (data-space, e.g. held-out ones); the others, or when ``real`` is None, walk spherically
    between pairs of standard normal codes drawn with ``seed``.

    Parameters
    ----------
    model : GenerativeModel
        A fitted model with a latent space (see :func:`latent_size`).
    real : tensor (m, *item shape), optional
        Real items to pick the ends from (needs ``m >= 2``).
    rows : int
        Number of paths.
    steps : int
        Codes per path, ends included.
    seed : int
        Picks the real items, or draws the random codes.

    Returns
    -------
    dict
        ``paths``: data-space items ``(rows, steps, *shape)``; ``ends``: the real items at the
        ends ``(rows, 2, *shape)`` or None; ``method``: ``"lerp"`` or ``"slerp"``; ``between``:
        ``"encodings of real items"`` or ``"random Gaussian codes"``.
    """
    d = latent_size(model)
    if d is None:
        raise UserError(f"{model.name!r} has no latent space to walk through; use a gan, vae or ppca model")
    rows = max(1, int(rows))
    g = torch.Generator().manual_seed(int(seed))
    ends = None
    if real is not None and can_encode(model) and len(real) >= 2:
        real = torch.as_tensor(real, dtype=torch.float32)
        pick = torch.stack([torch.randperm(len(real), generator=g)[:2] for _ in range(rows)])
        ends = real[pick]  # (rows, 2, *shape)
        codes = model.encode(ends.reshape(rows * 2, *real.shape[1:])).float().cpu().reshape(rows, 2, -1)
        method, between, walk = "lerp", "encodings of real items", lerp
    else:
        codes = torch.randn(rows, 2, d, generator=g)
        method, between, walk = "slerp", "random Gaussian codes", slerp
    z = torch.cat([walk(codes[r, 0], codes[r, 1], steps) for r in range(rows)])
    x = torch.as_tensor(model.decode(z)).detach().float().cpu()
    return {"paths": x.reshape(rows, steps, *x.shape[1:]), "ends": ends, "method": method, "between": between}


def interpolation_strip(paths, info, *, ends=None, reference=None, title: str | None = None):
    """A figure of latent interpolations: one row per path.

    Parameters
    ----------
    paths : tensor (steps, *shape) or (rows, steps, *shape)
        Decoded data-space items along each path (see :func:`interpolation_paths`).
    info : DataInfo
        Describes the items (modality, shape); the model's ``info_``.
    ends : tensor (rows, 2, *shape), optional
        Real items whose encodings start and end each path, drawn at both ends of the row.
    reference : tensor (m, 2), optional
        For points: real items drawn underneath in grey.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Images: a grid of rows; points: each path as a line over the reference, coloured
        from start to end.
    """
    from latentspace.plots.samples import _mpl

    plt = _mpl()
    x = torch.as_tensor(paths).detach().float().cpu()
    item_ndim = len(info.shape)
    if x.ndim == item_ndim + 1:
        x = x[None]
    if x.ndim != item_ndim + 2:
        raise UserError(f"paths must have shape (rows, steps, {', '.join(map(str, info.shape))}), "
                        f"got {tuple(x.shape)}")
    if info.modality == "points":
        fig = _points_strip(plt, x, ends, reference)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    else:
        fig = _image_strip(plt, x, ends)
        if title:
            fig.suptitle(title, fontsize=9)
    return fig


def _points_strip(plt, x, ends, reference):
    fig, ax = plt.subplots(figsize=(5, 5))
    if reference is not None:
        ref = torch.as_tensor(reference)[:, :2].numpy()
        ax.scatter(ref[:, 0], ref[:, 1], s=2, c="0.8", label="real")
    cmap = plt.get_cmap("viridis")
    steps = x.shape[1]
    for r in range(x.shape[0]):
        pts = x[r].reshape(steps, -1)[:, :2].numpy()
        ax.plot(pts[:, 0], pts[:, 1], "-", c="0.3", lw=0.8)
        ax.scatter(pts[:, 0], pts[:, 1], c=np.linspace(0, 1, steps), cmap=cmap, s=22, zorder=3,
                   edgecolors="k", linewidths=0.3)
        if ends is not None:
            e = torch.as_tensor(ends[r]).reshape(2, -1)[:, :2].numpy()
            ax.scatter(e[:, 0], e[:, 1], marker="x", c="C3", s=40, zorder=4)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("start: dark, end: yellow", fontsize=8)
    return fig


def _as_picture(item: torch.Tensor) -> np.ndarray:
    """One data-space image ``(C, H, W)`` (or volume, shown as its max projection) for imshow."""
    if item.ndim == 4:  # volume (1, D, H, W)
        item = item.amax(dim=1)
    if item.ndim == 2:
        item = item[None]
    arr = item.clamp(0, 1).permute(1, 2, 0).numpy()
    return arr[..., 0] if arr.shape[-1] == 1 else arr


def _image_strip(plt, x, ends):
    rows, steps = x.shape[:2]
    cols = steps + (2 if ends is not None else 0)
    h, w = _as_picture(x[0, 0]).shape[:2]
    cell = 0.75
    fig, axes = plt.subplots(rows, cols, figsize=(cols * cell, rows * cell * h / w + 0.35), squeeze=False)
    for r in range(rows):
        items = list(x[r])
        if ends is not None:
            items = [torch.as_tensor(ends[r, 0])] + items + [torch.as_tensor(ends[r, 1])]
        for c, item in enumerate(items):
            ax = axes[r, c]
            ax.imshow(_as_picture(item), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            is_end = ends is not None and c in (0, cols - 1)
            for spine in ax.spines.values():
                spine.set_visible(is_end)
                spine.set_color("C3")
                spine.set_linewidth(1.5)
            if r == 0 and is_end:
                ax.set_title("real", fontsize=7, color="C3")
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.99 - 0.3 / fig.get_figheight(),
                        wspace=0.06, hspace=0.06)
    return fig
