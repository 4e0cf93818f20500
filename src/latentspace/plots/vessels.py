"""Matplotlib figures of vessel half-profiles: as drawn, as sections, revolved in 3-D, or side by side.

The pictures themselves come from :mod:`latentspace.modalities.vessels`; every function takes
data-space profiles ``(n, 1, H, W)`` (black wall on white, axis on the left, rim at the top), e.g.
``data.to_data()`` of the ``pottery`` datasets or ``model.sample(16)``.

- :func:`profile_grid`: the half-profiles as the networks see them;
- :func:`section_grid`: full sections as archaeologists draw them;
- :func:`revolved_grid`: shaded 3-D vessels, a quarter cut away;
- :func:`vessel_figure`: each vessel's section above its 3-D view (what ``docs/archaeology.md`` shows).
"""

from __future__ import annotations

import math

import numpy as np

from latentspace.errors import UserError
from latentspace.modalities.vessels import half_profiles, occupancy, render_vessels, sections, vessel_image  # noqa: F401
from latentspace.plots.samples import _mpl


def _first(x, n):
    """The first ``n`` profiles in data space ``(n, 1, H, W)``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise UserError(f"n must be a positive integer, got {n!r}")
    return 1.0 - occupancy(x)[:int(n), None]


def _grid(pics: list, ncols, labels, title, cell: float, cmap=None):
    """A figure of pictures (arrays for imshow) in a grid, each with an optional caption."""
    plt = _mpl()
    ncols = int(ncols or math.ceil(math.sqrt(len(pics))))
    nrows = math.ceil(len(pics) / ncols)
    h, w = pics[0].shape[:2]
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * cell, nrows * cell * h / w + (0.3 if title else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(pics):
            ax.imshow(pics[i], cmap=cmap, vmin=0, vmax=1 if cmap else None, interpolation="antialiased")
            if labels is not None and i < len(labels):
                ax.set_title(str(labels[i]), fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.99 - (0.35 / fig.get_figheight() if title else 0),
                        wspace=0.05, hspace=0.15 if labels is not None else 0.05)
    return fig


def profile_grid(x, n: int = 16, *, ncols: int | None = None, labels=None, title: str | None = None):
    """A figure of the first ``n`` half-profiles as they are (axis on the left, rim at the top).

    Examples
    --------
    >>> import torch
    >>> x = torch.ones(4, 1, 16, 16); x[:, :, 12:14, :10] = 0; x[:, :, 2:14, 8:10] = 0
    >>> fig = profile_grid(x, n=4, labels=["a", "b", "c", "d"])
    """
    x = _first(x, n)
    return _grid(list(half_profiles(x)[:, 0].numpy()), ncols, labels, title, cell=1.4, cmap="gray")


def section_grid(x, n: int = 16, *, ncols: int | None = None, labels=None, title: str | None = None,
                 side: str = "left"):
    """A figure of the first ``n`` profiles as full sections: the filled profile on ``side`` of the
    dashed axis, its outline mirrored on the other (see :func:`~latentspace.modalities.vessels.sections`).

    Examples
    --------
    >>> import torch
    >>> x = torch.ones(4, 1, 16, 16); x[:, :, 12:14, :10] = 0; x[:, :, 2:14, 8:10] = 0
    >>> fig = section_grid(x, n=4)
    """
    x = _first(x, n)
    return _grid(list(sections(x, side=side)[:, 0].numpy()), ncols, labels, title, cell=2.2, cmap="gray")


def revolved_grid(x, n: int = 16, *, ncols: int | None = None, labels=None, title: str | None = None, **render):
    """A figure of the first ``n`` profiles revolved into shaded 3-D vessels (``**render``: options of
    :func:`~latentspace.modalities.vessels.render_vessels`, e.g. ``zoom=2``, ``cutaway=False``).

    Examples
    --------
    >>> import torch
    >>> x = torch.ones(4, 1, 16, 16); x[:, :, 12:14, :10] = 0; x[:, :, 2:14, 8:10] = 0
    >>> fig = revolved_grid(x, n=4, elevation=30)
    """
    x = _first(x, n)
    return _grid(list(render_vessels(x, **render)), ncols, labels, title, cell=2.2)


def vessel_figure(x, n: int = 8, *, ncols: int | None = None, labels=None, title: str | None = None, **render):
    """Each of the first ``n`` profiles twice: its section above, the revolved vessel below.

    Examples
    --------
    >>> import torch
    >>> x = torch.ones(2, 1, 16, 16); x[:, :, 12:14, :10] = 0; x[:, :, 2:14, 8:10] = 0
    >>> fig = vessel_figure(x, labels=["cup", "cup"])
    """
    plt = _mpl()
    x = _first(x, n)
    secs = sections(x)[:, 0].numpy()
    renders = render_vessels(x, **render)
    ncols = int(ncols or min(len(x), 8))
    nrows = math.ceil(len(x) / ncols)
    cell = 2.0
    hs, ws = secs.shape[1:]
    hr, wr = renders.shape[1:3]
    fig, axes = plt.subplots(2 * nrows, ncols, figsize=(ncols * cell, nrows * cell * (hs / ws + hr / wr) + 0.3),
                             squeeze=False, gridspec_kw={"height_ratios": [hs / ws, hr / wr] * nrows})
    for ax in axes.flat:
        ax.axis("off")
    for i in range(len(x)):
        r, c = divmod(i, ncols)
        axes[2 * r, c].imshow(secs[i], cmap="gray", vmin=0, vmax=1, interpolation="antialiased")
        axes[2 * r + 1, c].imshow(renders[i], interpolation="antialiased")
        if labels is not None and i < len(labels):
            axes[2 * r, c].set_title(str(labels[i]), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.99 - (0.4 / fig.get_figheight() if title else 0),
                        wspace=0.05, hspace=0.12)
    return fig
