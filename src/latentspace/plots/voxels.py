"""A matplotlib figure of volumes rendered from several views (the renders: :mod:`latentspace.modalities.voxels`)."""

from __future__ import annotations

import math

import numpy as np

from latentspace.errors import UserError
from latentspace.modalities.voxels import _as_volumes, render_voxels, voxel_image  # noqa: F401
from latentspace.plots.samples import _mpl


def voxel_grid(volumes, n: int = 16, *, ncols: int | None = None, title: str | None = None, labels=None,
               **render):
    """A matplotlib figure of the first ``n`` volumes rendered from several views.

    Parameters
    ----------
    volumes : tensor or array
        Occupancies in [0, 1], ``(m, D, H, W)`` or ``(m, 1, D, H, W)``.
    n : int
        How many to draw (the first ``n``).
    ncols : int, optional
        Items per row; about ``sqrt(n)`` if None.
    title : str, optional
    labels : sequence of str, optional
        A caption per item.
    **render
        Passed to :func:`render_voxels` (``views``, ``threshold``, ``up``, ``size``).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import torch
    >>> fig = voxel_grid(torch.rand(4, 8, 8, 8) > 0.7, n=4)
    """
    plt = _mpl()
    v = _as_volumes(volumes)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise UserError(f"n must be a positive integer, got {n!r}")
    v = v[:int(n)]
    pics = render_voxels(v, **render)
    ncols = int(ncols or math.ceil(math.sqrt(len(v))))
    nrows = math.ceil(len(v) / ncols)
    h, w = pics.shape[1:3]
    cell = 1.8
    head = (0.3 if title else 0) + (0.18 if labels is not None else 0)   # inches above the first row
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * cell, nrows * cell * h / w + head), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(v):
            ax.axis("off")
            continue
        ax.imshow(pics[i], interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():  # a light frame holds one item's views together
            spine.set_color("0.75")
        if labels is not None and i < len(labels):
            ax.set_title(str(labels[i]), fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.99 - (head + 0.05 * bool(head)) / fig.get_figheight(),
                        wspace=0.04, hspace=0.12 if labels is not None else 0.04)
    return fig
