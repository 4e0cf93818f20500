"""Generated items beside their nearest training items: the quickest look at memorisation.

- :func:`nearest_training_items`: for each sample, its nearest training item in data space;
- :func:`nearest_neighbour_gallery`: pairs drawn side by side (images) or joined by a line
  over the training points (2-D points), each with its distance.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from latentspace.data.dataset import Dataset
from latentspace.errors import UserError
from latentspace.plots.samples import _mpl, imshow_arrays, scatter_reference


def nearest_training_items(samples, train, *, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of and Euclidean distance to each sample's nearest training item, in data space.

    Parameters
    ----------
    samples : tensor (n, *shape)
        Data-space items (generated, or held-out real items for comparison).
    train : tensor (N, *shape) or Dataset
        Data-space training items, or a dataset (read a slice at a time: memory-mapped data is
        never held whole).
    batch : int
        Samples compared at once (memory: ``batch * N`` distances).

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        ``index`` (n,) int64 into ``train`` and ``distance`` (n,) float32.

    Examples
    --------
    >>> idx, dist = nearest_training_items(torch.tensor([[0.0, 0.1]]), torch.tensor([[5.0, 5], [0, 0]]))
    >>> int(idx[0]), round(float(dist[0]), 3)
    (1, 0.1)
    """
    if isinstance(train, Dataset):
        return _nearest_in_chunks(samples, train, batch)
    s = torch.as_tensor(samples, dtype=torch.float32).reshape(len(samples), -1)
    t = torch.as_tensor(train, dtype=torch.float32).reshape(len(train), -1)
    if s.shape[1] != t.shape[1]:
        raise UserError(f"samples have {s.shape[1]} features but the training items {t.shape[1]}; "
                        "compare items of the same dataset")
    if len(t) == 0:
        raise UserError("there are no training items to compare with")
    idx, dist = [], []
    k = min(8, len(t))
    for i in range(0, len(s), batch):
        chunk = s[i:i + batch]
        # Fast distances pick candidates; exact ones (no |a|²+|b|²-2ab cancellation) choose among them.
        cand = torch.cdist(chunk, t).topk(k, dim=1, largest=False).indices
        exact = (chunk[:, None, :] - t[cand]).norm(dim=-1)
        best = exact.min(dim=1)
        idx.append(cand.gather(1, best.indices[:, None])[:, 0])
        dist.append(best.values)
    if not idx:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0)
    return torch.cat(idx), torch.cat(dist)


def _nearest_in_chunks(samples, data: Dataset, batch: int, items: int = 8192):
    """:func:`nearest_training_items` over ``data`` read a slice of ``items`` at a time."""
    best_idx = best_dist = None
    for start, chunk in data.data_chunks(items):
        idx, dist = nearest_training_items(samples, chunk, batch=batch)
        if best_idx is None:
            best_idx, best_dist = idx + start, dist
        else:
            closer = dist < best_dist   # ties keep the earlier item, as one pass over all items does
            best_idx = torch.where(closer, idx + start, best_idx)
            best_dist = torch.where(closer, dist, best_dist)
    if best_idx is None:
        raise UserError("there are no training items to compare with")
    return best_idx, best_dist


def nearest_neighbour_gallery(samples, neighbours, distances, info, *, reference=None, ncols: int = 4,
                              title: str | None = None):
    """A figure of generated items beside their nearest training items, with the distances.

    Parameters
    ----------
    samples : tensor (k, *shape)
        Data-space generated items.
    neighbours : tensor (k, *shape)
        The training item nearest to each sample.
    distances : sequence of k floats
        The distance of each pair (in whatever space it was measured).
    info : DataInfo
        Describes the items (modality, shape).
    reference : tensor (m, 2), optional
        For points: training items drawn underneath in grey.
    ncols : int
        Pairs per row, for images.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Pictures as the modality draws them (volumes as oblique renders); points: each sample
        joined to its neighbour over the training points.
    """
    plt = _mpl()
    samples = torch.as_tensor(samples).detach().float().cpu()
    neighbours = torch.as_tensor(neighbours).detach().float().cpu()
    distances = [float(d) for d in distances]
    if not (len(samples) == len(neighbours) == len(distances)) or len(samples) == 0:
        raise UserError(f"give as many neighbours and distances as samples (at least one), got "
                        f"{len(samples)}, {len(neighbours)} and {len(distances)}")
    if info.spec.scatter:
        fig = _points_gallery(plt, samples, neighbours, reference)
    else:
        fig = _image_gallery(plt, imshow_arrays(info.spec.display(samples, info)),
                             imshow_arrays(info.spec.display(neighbours, info)), distances, ncols)
    if title:
        fig.suptitle(title)
    return fig


def _points_gallery(plt, samples, neighbours, reference):
    fig, ax = plt.subplots(figsize=(5, 5))
    if reference is not None:
        scatter_reference(ax, reference, label="training")
    s = samples.reshape(len(samples), -1)[:, :2].numpy()
    t = neighbours.reshape(len(neighbours), -1)[:, :2].numpy()
    for a, b in zip(s, t):
        ax.plot([a[0], b[0]], [a[1], b[1]], "-", c="0.35", lw=0.7)
    ax.scatter(t[:, 0], t[:, 1], s=14, c="C0", label="nearest training item", zorder=3)
    ax.scatter(s[:, 0], s[:, 1], s=14, c="C3", marker="x", label="generated", zorder=4)
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def _image_gallery(plt, samples, neighbours, distances, ncols):
    """Pairs of pictures (arrays for imshow) side by side, ``ncols`` pairs per row."""
    k = len(samples)
    ncols = max(1, min(int(ncols), k))
    nrows = math.ceil(k / ncols)
    h, w = samples[0].shape[:2]
    cell, gap = 1.1, 0.35
    ratios = ([1, 1, gap] * ncols)[:-1]
    fig, grid = plt.subplots(nrows, 3 * ncols - 1, squeeze=False, gridspec_kw={"width_ratios": ratios},
                             figsize=(cell * sum(ratios) + 0.2, nrows * (cell * h / w + 0.5)))
    for r in range(nrows):
        for c in range(ncols - 1):
            grid[r, 3 * c + 2].axis("off")
    for i in range(nrows * ncols):
        r, c = divmod(i, ncols)
        pair = grid[r, 3 * c], grid[r, 3 * c + 1]
        for ax in pair:
            ax.set_xticks([])
            ax.set_yticks([])
        if i >= k:
            for ax in pair:
                ax.axis("off")
            continue
        for ax, item, label, colour in ((pair[0], samples[i], "generated", "C3"),
                                        (pair[1], neighbours[i], "training", "C0")):
            ax.imshow(item, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            for spine in ax.spines.values():
                spine.set_color(colour)
                spine.set_linewidth(1.5)
            ax.set_xlabel(label, fontsize=7, labelpad=1)
        pair[0].set_title(f"d = {_short(distances[i])}", fontsize=8, loc="left")
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.06, top=0.92, wspace=0.06, hspace=0.5)
    return fig


def _short(value: float) -> str:
    return f"{value:.3g}" if np.isfinite(value) else str(value)
