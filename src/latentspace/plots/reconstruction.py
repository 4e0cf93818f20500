r"""Reconstructions and the 2-D latent manifold: what the encoder and decoder of a model have learned.

- :func:`reconstruct` and :func:`reconstructions`: held-out items beside ``decode(encode(x))``,
  the decoder's mean at the posterior mean (rows of input / reconstruction for pictures; lines
  from each point to its reconstruction for 2-D data);
- :func:`manifold_codes` and :func:`latent_manifold`: the decoder over a grid of 2-D codes at the
  prior's quantiles (Kingma & Welling 2014, Fig. 4): :math:`z_i = \Phi^{-1}(q_i)` for evenly
  spaced :math:`q_i \in [0.05, 0.95]`, so that each tile covers the same prior mass.

A conditional VAE reconstructs each item given its own label, :math:`\text{decode}(E[z|x, y], y)`;
the manifold of a conditional model is decoded as one class (``label=``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from latentspace.errors import UserError
from latentspace.latent import class_index, decode_codes
from latentspace.modalities import tile
from latentspace.plots.encoded import (check_2d, check_count, check_encodes, check_labelled, class_name, encode,
                                       items_of, subset)
from latentspace.plots.samples import _mpl, imshow_arrays, scatter_reference

__all__ = ["reconstruct", "reconstructions", "manifold_codes", "latent_manifold"]


# -- reconstructions ----------------------------------------------------------------------------
def reconstruct(model, x, labels=None) -> torch.Tensor:
    """``decode(encode(x))``: data-space reconstructions of data-space items ``x``.

    For VAEs it is the decoder's mean at the posterior mean; for PPCA the projection onto the
    principal subspace. A conditional VAE reconstructs given each item's label,
    ``decode(encode(x, y), y)``: it needs ``labels`` (one per item; default a Dataset's own),
    which unconditional models do not use.

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("digits")
    >>> ppca = ls.models.create("ppca", n_components=8).fit(data)
    >>> reconstruct(ppca, data.test.to_data()[:4]).shape
    torch.Size([4, 1, 8, 8])
    """
    check_encodes(model, "reconstructions")
    items, labels, _ = items_of(model, x, labels)
    z = encode(model, items, labels)
    return decode_codes(model, z, labels if model.conditional else None)


def reconstructions(model, x, labels=None, *, n: int | None = None, seed: int | None = None,
                    ncols: int | None = None, reference=None, title: str | None = None):
    """A figure of items beside their reconstructions ``decode(encode(x))``.

    Parameters
    ----------
    model : GenerativeModel
        A fitted model that encodes (``model.encodes``).
    x : Dataset or tensor (m, *shape)
        Data-space items (e.g. ``data.test``).
    labels : tensor (m,) of int, optional
        The items' classes (default: a Dataset's own): a conditional VAE reconstructs given
        them, ``decode(encode(x, y), y)``, and needs them.
    n : int, optional
        How many to show: ``info.spec.reconstructions`` by default (16 pictures, 500 points).
    seed : int, optional
        Picks ``n`` items at random; the first ``n`` if None.
    ncols : int, optional
        Items per row (pictures; default up to 8): each row of inputs has its row of
        reconstructions under it.
    reference : tensor (k, 2), optional
        For points: real items drawn underneath in grey.
    title : str, optional
        Default: none, or for a conditional model a line saying that each item is
        reconstructed given its own label.

    Returns
    -------
    matplotlib.figure.Figure
        Pictures: ``2 n`` of them (as ``spec.display`` draws items: volumes as oblique voxel
        renders); points: one scatter of the inputs (blue) with a line to each reconstruction
        (red crosses).

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("digits")
    >>> ppca = ls.models.create("ppca", n_components=8).fit(data)
    >>> fig = reconstructions(ppca, data.test, n=6, ncols=3)
    >>> sum(1 for ax in fig.axes if ax.images)
    12
    """
    check_encodes(model, "reconstructions")
    items, labels, _ = items_of(model, x, labels)
    check_labelled(model, labels)
    info = model.info_
    n = n if n is not None else info.spec.reconstructions
    keep = subset(len(items), n, seed)
    items = items[keep]
    labels = labels[keep] if labels is not None and model.conditional else None
    recon = reconstruct(model, items, labels)
    if title is None and model.conditional:
        title = "each item reconstructed given its own label: decode(E[z|x, y], y)"
    plt = _mpl()
    if info.spec.scatter:
        fig = _points_pairs(plt, items, recon, reference)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        return fig
    pictures = [imshow_arrays(info.spec.display(v, info)) for v in (items, recon)]
    fig = _image_pairs(plt, *pictures, ncols or min(8, len(items)))
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def _points_pairs(plt, items, recon, reference):
    fig, ax = plt.subplots(figsize=(5, 5))
    if reference is not None:
        scatter_reference(ax, reference)
    a = items.reshape(len(items), -1)[:, :2].numpy()
    b = recon.reshape(len(recon), -1)[:, :2].numpy()
    segments = np.stack([a, b], 1)
    from matplotlib.collections import LineCollection

    ax.add_collection(LineCollection(segments, colors="0.45", linewidths=0.5))
    ax.scatter(a[:, 0], a[:, 1], s=8, c="C0", label="input", zorder=3)
    ax.scatter(b[:, 0], b[:, 1], s=12, c="C3", marker="x", linewidths=0.8, label="reconstruction", zorder=4)
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="upper right", fontsize=8)
    return fig


def _image_pairs(plt, inputs, outputs, ncols: int):
    """Rows of inputs, each with its row of reconstructions under it, and a gap between pairs of rows
    (pictures as arrays for imshow)."""
    n = len(inputs)
    ncols = max(1, min(int(ncols), n))
    blocks = math.ceil(n / ncols)
    h, w = inputs[0].shape[:2]
    ratios = ([1, 1, 0.25] * blocks)[:-1]
    cell = 0.75
    fig, axes = plt.subplots(len(ratios), ncols, squeeze=False, gridspec_kw={"height_ratios": ratios},
                             figsize=(ncols * cell + 0.7, cell * h / w * sum(ratios) + 0.35))
    for b in range(blocks - 1):
        for ax in axes[3 * b + 2]:
            ax.axis("off")
    for i in range(blocks * ncols):
        b, c = divmod(i, ncols)
        for row, items in ((3 * b, inputs), (3 * b + 1, outputs)):
            ax = axes[row, c]
            if i >= n:
                ax.axis("off")
                continue
            ax.imshow(items[i], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
    for b in range(blocks):
        axes[3 * b, 0].set_ylabel("input", fontsize=7)
        axes[3 * b + 1, 0].set_ylabel("recon.", fontsize=7, color="C3")
    fig.subplots_adjust(left=0.6 / fig.get_figwidth(), right=0.99, bottom=0.01,
                        top=0.99 - 0.3 / fig.get_figheight(), wspace=0.06, hspace=0.06)
    return fig


# -- the 2-D manifold ----------------------------------------------------------------------------
def manifold_codes(n: int = 15, lo: float = 0.05, hi: float = 0.95) -> torch.Tensor:
    """A grid of 2-D codes at the quantiles of the standard normal prior.

    Row ``r`` (from the top) has ``z[1] = Phi^-1(q[n-1-r])`` and column ``c`` has
    ``z[0] = Phi^-1(q[c])``, with ``q = linspace(lo, hi, n)``: up and right are positive, as in a
    scatter plot of the codes.

    Returns
    -------
    torch.Tensor
        ``(n, n, 2)`` float32.

    Examples
    --------
    >>> z = manifold_codes(3, 0.1, 0.9)
    >>> [round(v, 3) for v in z[0, 0].tolist()], [round(v, 3) for v in z[2, 2].tolist()]
    ([-1.282, 1.282], [1.282, -1.282])
    """
    n = check_count("n", n, 2)
    if not (isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and 0.0 < lo < hi < 1.0):
        raise UserError(f"quantiles must satisfy 0 < lo < hi < 1, got lo={lo!r}, hi={hi!r}")
    v = torch.special.ndtri(torch.linspace(float(lo), float(hi), n, dtype=torch.float64)).float()
    z0 = v[None, :].expand(n, n)
    z1 = v.flip(0)[:, None].expand(n, n)
    return torch.stack([z0, z1], -1)


def latent_manifold(model, n: int = 15, *, lo: float = 0.05, hi: float = 0.95, reference=None,
                    title: str | None = None, label=None):
    """A figure of the decoder over a 2-D latent space: items decoded from :func:`manifold_codes`.

    The picture of Kingma & Welling (2014, Fig. 4): how the items change across the latent
    plane, each tile covering the same prior mass.

    Parameters
    ----------
    model : GenerativeModel
        A fitted model with a 2-D latent space (e.g. ``vae`` with ``latent_dim=2``).
    n : int
        Codes per side (``n * n`` in all).
    lo, hi : float
        The range of prior quantiles, in (0, 1).
    reference : tensor (k, 2), optional
        For points: real items drawn underneath in grey.
    title : str, optional
        Default: none, or for a conditional model the class drawn.
    label : int or str, optional
        Conditional models (cvae, cgan) only: the class (index or name) every code is decoded
        as; default the first class.

    Returns
    -------
    matplotlib.figure.Figure
        Pictures: one of ``n x n`` tiles (as ``spec.display`` draws items: volumes as oblique
        renders), axes labelled with the codes; points: the decoded grid as a mesh.

    Examples
    --------
    >>> import latentspace as ls
    >>> ppca = ls.models.create("ppca", n_components=2).fit(ls.data.load("digits"))
    >>> fig = latent_manifold(ppca, n=10)
    >>> fig.axes[0].images[0].get_array().shape
    (91, 91)
    """
    check_2d(model)
    y = class_index(model, label)
    z = manifold_codes(n, lo, hi)
    n = z.shape[0]
    info = model.info_
    x = decode_codes(model, z.reshape(-1, 2), y if model.conditional else None)
    if title is None and model.conditional:
        title = f"decoded as class {class_name(model, y)}"
    plt = _mpl()
    if info.spec.scatter:
        fig = _points_mesh(plt, x.reshape(n, n, -1)[..., :2].numpy(), reference)
    else:
        fig = _tiles(plt, info.spec.display(x, info), z[0, :, 0].numpy(), z[:, 0, 1].numpy())
    if title:
        fig.axes[0].set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def _tiles(plt, pics, z0, z1):
    n = len(z0)
    grid = tile(pics, ncols=n)
    h, w = pics.shape[-2:]
    size = min(9.0, max(4.0, 0.45 * n))
    fig, ax = plt.subplots(figsize=(size + 0.6, size * grid.shape[0] / grid.shape[1] + 0.5))
    ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=255,
              interpolation="nearest")
    every = max(1, math.ceil(n / 8))
    ticks = list(range(0, n, every))
    ax.set_xticks([1 + c * (w + 1) + (w - 1) / 2 for c in ticks], [f"{z0[c]:.2g}" for c in ticks], fontsize=7)
    ax.set_yticks([1 + r * (h + 1) + (h - 1) / 2 for r in ticks], [f"{z1[r]:.2g}" for r in ticks], fontsize=7)
    ax.set_xlabel("z[0]", fontsize=9)
    ax.set_ylabel("z[1]", fontsize=9)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return fig


def _points_mesh(plt, x, reference):
    fig, ax = plt.subplots(figsize=(5, 5))
    if reference is not None:
        scatter_reference(ax, reference)
    for i in range(len(x)):
        ax.plot(x[i, :, 0], x[i, :, 1], "-", c="C0", lw=0.6)   # constant z[1]
        ax.plot(x[:, i, 0], x[:, i, 1], "-", c="C1", lw=0.6)   # constant z[0]
    ax.scatter(x[..., 0].ravel(), x[..., 1].ravel(), s=6, c="k", zorder=3)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("decoded grid of codes: blue lines keep z[1], orange lines keep z[0]", fontsize=8)
    return fig
