"""Walks through a model's latent space, and pictures of them.

- :func:`interpolation_paths` decodes paths between encodings of real items (models that can
  encode) or between random Gaussian codes (spherical interpolation, which keeps the codes at
  the typical norm of a Gaussian draw instead of cutting through the low-norm middle);
  conditional models (cvae, cgan) decode each path as one class, and a cvae walks between two
  items of that class (:func:`same_class_pairs`);
- :func:`interpolation_strip` draws the decoded paths: rows of pictures, or paths over a
  scatter of real points for 2-D data;
- :func:`traversal_grid` draws :func:`latentspace.latent.traverse`'s grid, one row per latent
  dimension.

Items are drawn as their modality shows them (``info.spec``): pictures from ``spec.display``
(volumes as oblique shaded renders), or points in a scatter when ``spec.scatter``. The
latent-space operations themselves (``lerp``, ``slerp``, ``interpolate``, ``traverse``,
``invert``, ...) live in :mod:`latentspace.latent`.
"""

from __future__ import annotations

import numpy as np
import torch

from latentspace.errors import UserError
# the latent-space operations live in latentspace.latent; re-exported here for older callers
from latentspace.latent import can_encode, latent_size, lerp, slerp  # noqa: F401
from latentspace.latent import class_names, decode_codes, encode_items, labels_for
from latentspace.plots.samples import _mpl, imshow_arrays, scatter_reference


def same_class_pairs(labels, n: int, generator: torch.Generator | None = None, *, label: int | None = None):
    """``n`` random pairs of distinct items of one class each: indices ``(n, 2)`` into ``labels``.

    Each pair's first item is drawn at random among the items of a class with at least two
    (of class ``label`` only, when given), its second among the other items of that class.

    Examples
    --------
    >>> pairs = same_class_pairs(torch.tensor([0, 1, 0, 1, 1, 2]), 4, torch.Generator().manual_seed(0))
    >>> y = torch.tensor([0, 1, 0, 1, 1, 2])
    >>> bool((y[pairs[:, 0]] == y[pairs[:, 1]]).all()), bool((pairs[:, 0] != pairs[:, 1]).all())
    (True, True)
    """
    y = torch.as_tensor(labels).long().cpu()
    counts = torch.bincount(y, minlength=int(y.max()) + 1 if len(y) else 1)
    ok = counts[y] >= 2
    if label is not None:
        ok &= y == int(label)
    candidates = ok.nonzero().flatten()
    if len(candidates) == 0:
        which = f"of class {label} " if label is not None else ""
        raise UserError(f"no two items {which}share a class to walk between; give more labelled items")
    out = []
    for _ in range(int(n)):
        i = int(candidates[torch.randint(len(candidates), (1,), generator=generator)])
        others = ((y == y[i]) & (torch.arange(len(y)) != i)).nonzero().flatten()
        out.append((i, int(others[torch.randint(len(others), (1,), generator=generator)])))
    return torch.tensor(out, dtype=torch.long).reshape(-1, 2)


def interpolation_paths(model, real=None, *, labels=None, rows: int = 3, steps: int = 10, seed: int = 0) -> dict:
    """Decoded paths through ``model``'s latent space, ready for :func:`interpolation_strip`.

    Models that can encode walk linearly between the encodings of pairs of ``real`` items
    (data-space, e.g. held-out ones); the others, or when ``real`` is None, walk spherically
    between pairs of standard normal codes drawn with ``seed``.

    Conditional models decode each path as one class: a cvae walks between two ``real`` items
    of the same class (:func:`same_class_pairs`), both encoded given it (:math:`E[z|x, y]`),
    so the path shows a change of style within the class; a model that does not encode (cgan)
    decodes path ``r`` as class ``r mod K``.

    Parameters
    ----------
    model : GenerativeModel
        A fitted model with a continuous latent space (``model.latent_width()``).
    real : tensor (m, *item shape), optional
        Real items to pick the ends from (needs ``m >= 2``).
    labels : tensor (m,) of int, optional
        The classes of ``real``; a conditional model that encodes (cvae) needs them.
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
        ``"encodings of real items"`` or ``"random Gaussian codes"``; ``labels``: the class
        index of each path ``(rows,)`` for conditional models, else None; ``classes``: their names.
    """
    d = model.latent_width()
    if d is None:
        raise UserError(f"{model.name!r} has no latent space to walk through; use a gan, vae or ppca model")
    rows = max(1, int(rows))
    g = torch.Generator().manual_seed(int(seed))
    ends, conditional = None, model.conditional
    y = None
    if real is not None and model.encodes and len(real) >= 2:
        real = torch.as_tensor(real, dtype=torch.float32)
        if conditional:
            ry = labels_for(model, labels, len(real), default="required")
            pick = same_class_pairs(ry, rows, g)
            y = ry[pick[:, 0]]
        else:
            pick = torch.stack([torch.randperm(len(real), generator=g)[:2] for _ in range(rows)])
        ends = real[pick]  # (rows, 2, *shape)
        flat_y = None if y is None else y.repeat_interleave(2)
        codes = encode_items(model, ends.reshape(rows * 2, *real.shape[1:]), flat_y).float().reshape(rows, 2, -1)
        method, between, walk = "lerp", "encodings of real items", lerp
    else:
        codes = torch.randn(rows, 2, d, generator=g)
        method, between, walk = "slerp", "random Gaussian codes", slerp
        if conditional:
            y = labels_for(model, None, rows, default="cycle")
    z = torch.cat([walk(codes[r, 0], codes[r, 1], steps) for r in range(rows)])
    x = decode_codes(model, z, None if y is None else y.repeat_interleave(steps))
    names = class_names(model)
    return {"paths": x.reshape(rows, steps, *x.shape[1:]), "ends": ends, "method": method, "between": between,
            "labels": y, "classes": None if y is None else [names[int(k)] for k in y]}


def interpolation_strip(paths, info, *, ends=None, reference=None, title: str | None = None, row_labels=None):
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
    row_labels : sequence of str, optional
        A label per row (e.g. the class a conditional model decoded it as): beside the row for
        images, at the start of the path for points.

    Returns
    -------
    matplotlib.figure.Figure
        Pictures (images, volumes as oblique renders, ...): a grid of rows; points: each path as
        a line over the reference, coloured from start to end.
    """
    plt = _mpl()
    x = torch.as_tensor(paths).detach().float().cpu()
    item_ndim = len(info.shape)
    if x.ndim == item_ndim + 1:
        x = x[None]
    if x.ndim != item_ndim + 2:
        raise UserError(f"paths must have shape (rows, steps, {', '.join(map(str, info.shape))}), "
                        f"got {tuple(x.shape)}")
    if row_labels is not None and len(row_labels) != x.shape[0]:
        raise UserError(f"row_labels names {len(row_labels)} rows for {x.shape[0]} paths; give one per row")
    if info.spec.scatter:
        fig = _points_strip(plt, x, ends, reference)
        for r, text in enumerate(row_labels or []):
            start = x[r, 0].reshape(-1)[:2].numpy()
            fig.axes[0].annotate(str(text), start, fontsize=7, xytext=(3, 3), textcoords="offset points")
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    else:
        if ends is not None:
            ends = info.spec.display(torch.as_tensor(ends).detach().float().cpu(), info)
        fig = _image_strip(plt, info.spec.display(x, info), ends)
        if row_labels is not None:
            cols = x.shape[1] + (2 if ends is not None else 0)
            for r, text in enumerate(row_labels):
                fig.axes[r * cols].set_ylabel(str(text), fontsize=7, rotation=0, ha="right", va="center")
            longest = max(len(str(t)) for t in row_labels)
            fig.subplots_adjust(left=min(0.4, (0.15 + 0.06 * longest) / fig.get_figwidth()))
        if title:
            fig.suptitle(title, fontsize=9)
    return fig


def _points_strip(plt, x, ends, reference):
    fig, ax = plt.subplots(figsize=(5, 5))
    if reference is not None:
        scatter_reference(ax, reference)
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


def _image_strip(plt, x, ends):
    """Rows of pictures ``x`` (rows, steps, C, H, W) in [0, 1], with ``ends`` (rows, 2, C, H, W) framed in red."""
    x = imshow_arrays(x)
    ends = imshow_arrays(ends) if ends is not None else None
    rows, steps = x.shape[:2]
    cols = steps + (2 if ends is not None else 0)
    h, w = x.shape[2:4]
    cell = 0.75
    fig, axes = plt.subplots(rows, cols, figsize=(cols * cell, rows * cell * h / w + 0.35), squeeze=False)
    for r in range(rows):
        items = list(x[r])
        if ends is not None:
            items = [ends[r, 0]] + items + [ends[r, 1]]
        for c, item in enumerate(items):
            ax = axes[r, c]
            ax.imshow(item, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
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


def traversal_grid(grid, info, *, dims=None, span: float | None = None, title: str | None = None):
    """A figure of a latent traversal: one row per latent dimension, one column per offset.

    Parameters
    ----------
    grid : tensor (rows, steps, *shape)
        Decoded data-space items, from :func:`latentspace.latent.traverse`.
    info : DataInfo
        Describes the items (modality, shape); the model's ``info_``.
    dims : sequence of int, optional
        The dimension of each row, for the row labels (0, 1, ... if None).
    span : float, optional
        The largest offset, for the column labels (none if None).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Pictures: a grid (volumes from the oblique view); points: each row as a path over the
        first two coordinates.

    Examples
    --------
    >>> import latentspace as ls
    >>> from latentspace.latent import traverse
    >>> ppca = ls.models.create("ppca", n_components=8).fit(ls.data.load("digits"))
    >>> fig = traversal_grid(traverse(ppca, dims=[0, 1, 2]), ppca.info_, dims=[0, 1, 2], span=3.0)
    """
    plt = _mpl()
    x = torch.as_tensor(grid).detach().float().cpu()
    if x.ndim != len(info.shape) + 2:
        raise UserError(f"grid must have shape (rows, steps, {', '.join(map(str, info.shape))}), got {tuple(x.shape)}")
    rows, steps = x.shape[:2]
    dims = list(range(rows)) if dims is None else list(dims)
    if len(dims) != rows:
        raise UserError(f"dims names {len(dims)} dimensions for {rows} rows; give one per row")
    if info.spec.scatter:
        fig = _points_strip(plt, x, None, None)
        fig.axes[0].set_xlabel(f"rows: z[{', '.join(map(str, dims))}]; from -span (dark) to +span (yellow)", fontsize=8)
        fig.tight_layout()
    else:
        fig = _image_strip(plt, info.spec.display(x, info), None)  # volumes: oblique renders
        for r, k in enumerate(dims):
            fig.axes[r * steps].set_ylabel(f"z[{k}]", fontsize=7, rotation=0, ha="right", va="center")
        if span is not None:
            for c, value in enumerate(np.linspace(-span, span, steps)):
                fig.axes[c].set_title(f"{value:+.1f}", fontsize=7)
        height = fig.get_figheight() + (0.2 if span is not None else 0.0)
        fig.set_figheight(height)
        top = 0.05 + (0.2 if span is not None else 0.0) + (0.3 if title else 0.0)  # inches
        fig.subplots_adjust(left=0.08, top=1 - top / height)
    if title:
        fig.suptitle(title, fontsize=9, y=1 - 0.04 / fig.get_figheight(), va="top")
    return fig
