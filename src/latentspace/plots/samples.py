"""Sample pictures: an image grid, a 2-D scatter, or shaded multi-view renders of volumes.

How a set of items is drawn follows from its modality (``info.spec``): a scatter of the first
two features (``spec.scatter``) or a grid of pictures (``spec.grid``: images as they are,
volumes from four views, spectrograms colour-mapped).
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np
import torch

from latentspace.errors import UserError
from latentspace.modalities import tile
from latentspace.storage import atomic_write_bytes


def _mpl():
    """pyplot, on the Agg backend unless a backend was already chosen: by ``MPLBACKEND`` (Jupyter's kernel sets
    its inline backend so), or by a program that imported pyplot first. Switching a notebook to Agg would stop it
    showing any figure."""
    import matplotlib

    if "MPLBACKEND" not in os.environ and "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def imshow_arrays(pics: torch.Tensor) -> np.ndarray:
    """Pictures ``(..., C, H, W)`` in [0, 1] (``spec.display``) as arrays for ``imshow``:
    ``(..., H, W)`` for one channel, ``(..., H, W, 3)`` for colour."""
    arr = torch.as_tensor(pics).detach().float().cpu().movedim(-3, -1).numpy()
    return arr[..., 0] if arr.shape[-1] == 1 else arr


def image_grid(x, ncols: int | None = None, pad: int = 1) -> np.ndarray:
    """Tile data-space images ``(n, C, H, W)`` (or ``(n, H, W)``) in [0, 1] into one uint8 array ``(H', W', C)``.

    Other kinds of items are drawn with :func:`item_grid`.
    """
    x = torch.as_tensor(x).detach().float().cpu()
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise UserError(f"image_grid tiles images (n, C, H, W) or (n, H, W), got shape {tuple(x.shape)}; "
                        "draw other items with item_grid(x, info)")
    return tile(x, ncols, pad)


def item_grid(x, info, ncols: int | None = None) -> np.ndarray:
    """A uint8 picture of data-space items, as their modality draws a grid (``info.spec.grid``)."""
    return info.spec.grid(x, info, ncols)


def scatter_reference(ax, reference, label: str = "real", colour: str = "0.8") -> None:
    """Real items (their first two features) as small grey points under a plot of points."""
    ref = torch.as_tensor(reference)[:, :2].numpy()
    ax.scatter(ref[:, 0], ref[:, 1], s=2, c=colour, label=label)


def samples_figure(x, info, title: str | None = None, reference=None):
    """A matplotlib figure of data-space samples ``x`` for a dataset described by ``info``.

    For points, ``reference`` (data-space real items) is drawn underneath in grey.
    """
    plt = _mpl()
    x = torch.as_tensor(x).detach().cpu()
    if info.spec.scatter:
        fig, ax = plt.subplots(figsize=(5, 5))
        if reference is not None:
            scatter_reference(ax, reference, colour="0.75")
        pts = x.reshape(len(x), -1)[:, :2].numpy()
        ax.scatter(pts[:, 0], pts[:, 1], s=3, c="C3", alpha=0.7, label="generated")
        ax.set_aspect("equal", adjustable="datalim")
        if reference is not None:
            ax.legend(loc="upper right", fontsize=8)
    else:
        grid = item_grid(x, info)
        fig, ax = plt.subplots(figsize=(6, 6 * grid.shape[0] / grid.shape[1]))
        ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=255,
                  interpolation="nearest")
        ax.axis("off")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def save_samples(x, info, path, title: str | None = None, reference=None) -> Path:
    """Write a PNG picture of samples ``x`` atomically to ``path``.

    Pictures are written pixel-exact as a grid (no resampling; volumes as shaded renders from four
    views, see :mod:`latentspace.modalities.voxels`); points as a scatter plot.
    """
    path = Path(path)
    buf = io.BytesIO()
    if info.spec.scatter:
        plt = _mpl()
        fig = samples_figure(x, info, title=title, reference=reference)
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
    else:
        from PIL import Image

        grid = item_grid(x, info)
        img = Image.fromarray(grid.squeeze(-1) if grid.shape[-1] == 1 else grid)
        scale = max(1, 256 // max(img.size))
        if scale > 1:
            img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
        img.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
    return path


#: file types :func:`save_figure` writes, by suffix
FIGURE_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}


def save_figure(fig, path, *, dpi: int = 150) -> Path:
    """Write a matplotlib figure atomically to ``path`` (.png, .pdf or .svg) and close it.

    Examples
    --------
    >>> plt = _mpl()
    >>> fig, ax = plt.subplots()
    >>> save_figure(fig, "figure.png")  # doctest: +SKIP
    PosixPath('figure.png')
    """
    path = Path(path)
    fmt = FIGURE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"a figure is written as {', '.join(FIGURE_FORMATS)}; got {path.name!r}")
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format=fmt, dpi=dpi, facecolor="white")
    finally:
        _mpl().close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path
