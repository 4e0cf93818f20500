"""Sample pictures: an image grid, a 2-D scatter, or shaded multi-view renders of volumes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from latentspace.storage import atomic_write_bytes


def _mpl():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def image_grid(x, ncols: int | None = None, pad: int = 1) -> np.ndarray:
    """Tile data-space images ``(n, C, H, W)`` in [0, 1] into one uint8 array ``(H', W', C)``.

    Volumes ``(n, 1, D, H, W)`` are shown as their maximum projection along depth.
    """
    x = torch.as_tensor(x).detach().float().cpu()
    if x.ndim == 5:  # volume: occupancy seen from the front
        x = x.amax(dim=2)
    if x.ndim == 3:
        x = x[:, None]
    n, c, h, w = x.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    canvas = np.ones((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), dtype=np.float32)
    arr = x.clamp(0, 1).permute(0, 2, 3, 1).numpy()
    for i in range(n):
        r, col = divmod(i, ncols)
        canvas[pad + r * (h + pad):pad + r * (h + pad) + h, pad + col * (w + pad):pad + col * (w + pad) + w] = arr[i]
    return (canvas * 255).round().astype(np.uint8)


def item_grid(x, info, ncols: int | None = None) -> np.ndarray:
    """A uint8 picture of data-space items: :func:`image_grid`, or voxel renders for volumes."""
    if info.modality == "volume":
        from latentspace.plots.voxels import voxel_image

        return voxel_image(x, ncols=ncols, threshold=info.extra.get("threshold", 0.5),
                           up=info.extra.get("up_axis", -1))
    return image_grid(x, ncols=ncols)


def samples_figure(x, info, title: str | None = None, reference=None):
    """A matplotlib figure of data-space samples ``x`` for a dataset described by ``info``.

    For points, ``reference`` (data-space real items) is drawn underneath in grey.
    """
    plt = _mpl()
    x = torch.as_tensor(x).detach().cpu()
    if info.modality == "points":
        fig, ax = plt.subplots(figsize=(5, 5))
        if reference is not None:
            ref = torch.as_tensor(reference)[:, :2].numpy()
            ax.scatter(ref[:, 0], ref[:, 1], s=2, c="0.75", label="real")
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

    Images are written pixel-exact as a grid (no resampling); points as a scatter plot; volumes as
    shaded renders from four views (see :mod:`latentspace.plots.voxels`).
    """
    import io

    path = Path(path)
    buf = io.BytesIO()
    if info.modality == "points":
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
    import io

    from latentspace.errors import UserError

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
