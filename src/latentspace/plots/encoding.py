r"""Latent pictures of models that encode (the VAE family, PPCA): what the encoder and decoder have learned.

- :func:`reconstructions`: held-out items beside ``decode(encode(x))``, the decoder's mean at the
  posterior mean (rows of input / reconstruction for images and volumes; lines from each point to
  its reconstruction for 2-D data);
- :func:`latent_manifold`: the decoder over a grid of 2-D codes at the prior's quantiles
  (Kingma & Welling 2014, Fig. 4): :math:`z_i = \Phi^{-1}(q_i)` for evenly spaced
  :math:`q_i \in [0.05, 0.95]`, so that each tile covers the same prior mass;
- :func:`latent_projection`: the posterior means :math:`E[z|x]` of held-out items projected to
  2-D (PCA by default; t-SNE from scikit-learn; UMAP when ``umap-learn`` is installed), coloured
  by label with a legend of class names; :func:`project_latents` gives the coordinates;
- :func:`item_interpolation`: decoded straight (or spherical) paths between the encodings of
  pairs of items, the items at both ends;
- :func:`latent_traversal`: one latent dimension varied at a time, the dimensions chosen by
  :func:`latent_activity` — the variance across the data of the posterior mean,
  :math:`A_u = \mathrm{Var}_x(E_{q(z|x)}[z_u])` (Burda et al. 2016), near 0 for the dimensions a
  (beta-)VAE leaves unused; :func:`active_dims` lists those above a threshold;
- :func:`latent_picture` draws any of them by name, from a model and its dataset: what
  ``latentspace plot RUN --kind KIND`` and the report use.

Conditional models. The conditional VAE (``cvae``) encodes and decodes *given the class*
:math:`y`: its reconstructions are :math:`\text{decode}(E[z|x, y], y)` with each item's own
label, and its latent means are :math:`E[z|x, y]`, which carry the style of an item and not
its class (the label tells the class), so classes overlap in the projection by design.
Items from a :class:`~latentspace.data.dataset.Dataset` bring their labels; tensors of items
need ``labels=``. Pictures that decode codes without items (the manifold, a traversal) draw
one class, ``label=`` (an index or a class name; default the first class), and interpolation
walks between two items of one class. A conditional GAN (``cgan``) has no encoder: only the
manifold (2-D codes) and traversals apply, with ``label=`` as above.

Every function returns a matplotlib figure (Agg backend) and raises
:class:`~latentspace.errors.UserError` for a model that cannot do what is asked (a GAN or KDE has
no encoder; the manifold needs a 2-D latent space).

Examples
--------
>>> import latentspace as ls
>>> from latentspace.plots.encoding import latent_projection, reconstructions
>>> data = ls.data.load("digits")
>>> ppca = ls.models.create("ppca", n_components=8).fit(data)
>>> fig = reconstructions(ppca, data.test, n=8)
>>> fig = latent_projection(ppca, data.test)            # PCA of E[z|x], coloured by digit
"""

from __future__ import annotations

import math

import numpy as np
import torch

from latentspace.errors import UserError
from latentspace.latent import (_class_names, _decode, _labels, _latent_dim, can_encode, class_index, encode_items,
                                has_discrete_codes, interpolate, is_conditional, traverse)
from latentspace.plots.latent import _as_picture, interpolation_strip, rendered, same_class_pairs, traversal_grid
from latentspace.plots.samples import _mpl, image_grid

__all__ = ["reconstruct", "reconstructions", "manifold_codes", "latent_manifold", "project_latents",
           "latent_projection", "latent_activity", "active_dims", "item_interpolation", "latent_traversal",
           "latent_picture", "check_picture", "default_n", "KINDS", "METHODS"]

#: the pictures :func:`latent_picture` draws
KINDS = ("reconstructions", "manifold", "latents", "interpolation", "traversal")
#: projections of latent codes to 2-D
METHODS = ("auto", "pca", "tsne", "umap")
#: kinds that need real items (a dataset) to draw
NEEDS_ITEMS = ("reconstructions", "latents", "interpolation")


# -- checks and inputs ------------------------------------------------------------------------
def _name(model) -> str:
    return getattr(model, "name", None) or type(model).__name__


def _check_encodes(model, what: str) -> None:
    """Refuse a model without an encoder, or one not fitted yet, with a UserError saying why."""
    if not can_encode(model):
        raise UserError(f"{_name(model)!r} cannot encode items, so it has no {what}; use a model with an "
                        "encoder (vae, beta-vae, iwae, ... or ppca)")
    if getattr(model, "info_", None) is None and hasattr(model, "_check_fitted"):
        model._check_fitted()


def _check_count(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise UserError(f"{name} must be an integer of at least {minimum}, got {value!r}")
    return int(value)


def _items(model, x, labels=None):
    """(data-space items ``(n, *shape)``, labels ``(n,)`` or None, class names or None).

    ``x`` is a :class:`~latentspace.data.dataset.Dataset` (its items, labels and class names) or
    data-space items.
    """
    from latentspace.data.dataset import Dataset

    if isinstance(x, Dataset):
        items, classes = x.to_data(), x.classes
        labels = x.y if labels is None else labels
    else:
        items = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x, dtype=torch.float32)
        classes = model.info_.classes
    items = items.detach().float().cpu()
    shape = tuple(model.info_.shape)
    if items.ndim != len(shape) + 1 or tuple(items.shape[1:]) != shape or len(items) == 0:
        raise UserError(f"items have shape {tuple(items.shape)}, but the model was fitted on {shape}; "
                        f"give (n, {', '.join(map(str, shape))}) items or a Dataset")
    if labels is not None:
        labels = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels)
        if labels.shape != (len(items),):
            raise UserError(f"labels have shape {tuple(labels.shape)}; give one per item, ({len(items)},)")
        labels = labels.long().cpu()
    return items, labels, classes


def _subset(n_total: int, n: int | None, seed: int | None) -> torch.Tensor:
    """Indices of ``n`` of ``n_total`` items: the first ones (seed None) or a seeded random choice."""
    n = n_total if n is None else min(_check_count("n", n), n_total)
    if seed is None:
        return torch.arange(n)
    return torch.randperm(n_total, generator=torch.Generator().manual_seed(int(seed)))[:n]


def _check_labelled(model, labels) -> None:
    """Refuse items without labels for a conditional model, which encodes given the class."""
    if labels is None and is_conditional(model):
        raise UserError(f"{_name(model)} encodes items given their classes (E[z|x, y]); give a Dataset with labels "
                        "(e.g. data.test) or the items' labels=")


def _encode(model, items: torch.Tensor, labels=None, **options) -> torch.Tensor:
    """``encode`` of data-space items, given their labels for a conditional model."""
    _check_labelled(model, labels)
    return encode_items(model, items, labels if is_conditional(model) else None, **options)


def _codes(model, items: torch.Tensor, labels=None) -> torch.Tensor:
    """Posterior means ``(n, d)`` (flattened) of data-space items, float64 (cvae: :math:`E[z|x, y]`).

    A model that encodes to discrete codes (a VQ-VAE's indices) gives its code vectors instead,
    when its ``encode`` offers them (``vectors=True``).
    """
    z = _encode(model, items, labels)
    if not z.is_floating_point():
        import inspect

        if "vectors" not in inspect.signature(model.encode).parameters:
            raise UserError(f"{_name(model)!r} encodes items as discrete codes, which have no means to project "
                            "or compare; use a model with continuous latents")
        z = _encode(model, items, labels, vectors=True)
    return z.reshape(len(items), -1).double()


def _class_name(model, label) -> str:
    """The name of class ``label`` (an index or name) of a conditional model."""
    return _class_names(model)[class_index(model, label)]


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
    _check_encodes(model, "reconstructions")
    items, labels, _ = _items(model, x, labels)
    z = _encode(model, items, labels)
    return _decode(model, z, labels if is_conditional(model) else None)


def reconstructions(model, x, labels=None, *, n: int | None = None, seed: int | None = None,
                    ncols: int | None = None, reference=None, title: str | None = None):
    """A figure of items beside their reconstructions ``decode(encode(x))``.

    Parameters
    ----------
    model : GenerativeModel
        A fitted model that encodes (see :func:`latentspace.latent.can_encode`).
    x : Dataset or tensor (m, *shape)
        Data-space items (e.g. ``data.test``).
    labels : tensor (m,) of int, optional
        The items' classes (default: a Dataset's own): a conditional VAE reconstructs given
        them, ``decode(encode(x, y), y)``, and needs them.
    n : int, optional
        How many to show: 16 images or volumes, 500 points by default.
    seed : int, optional
        Picks ``n`` items at random; the first ``n`` if None.
    ncols : int, optional
        Items per row (images and volumes; default up to 8): each row of inputs has its row of
        reconstructions under it.
    reference : tensor (k, 2), optional
        For points: real items drawn underneath in grey.
    title : str, optional
        Default: none, or for a conditional model a line saying that each item is
        reconstructed given its own label.

    Returns
    -------
    matplotlib.figure.Figure
        Images: ``2 n`` pictures (volumes as oblique voxel renders); points: one scatter of the
        inputs (blue) with a line to each reconstruction (red crosses).

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("digits")
    >>> ppca = ls.models.create("ppca", n_components=8).fit(data)
    >>> fig = reconstructions(ppca, data.test, n=6, ncols=3)
    >>> sum(1 for ax in fig.axes if ax.images)
    12
    """
    _check_encodes(model, "reconstructions")
    items, labels, _ = _items(model, x, labels)
    _check_labelled(model, labels)
    info = model.info_
    n = n if n is not None else (500 if info.modality == "points" else 16)
    keep = _subset(len(items), n, seed)
    items = items[keep]
    labels = labels[keep] if labels is not None and is_conditional(model) else None
    recon = reconstruct(model, items, labels)
    if title is None and is_conditional(model):
        title = "each item reconstructed given its own label: decode(E[z|x, y], y)"
    plt = _mpl()
    if info.modality == "points":
        fig = _points_pairs(plt, items, recon, reference)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        return fig
    fig = _image_pairs(plt, rendered(items, info), rendered(recon, info), ncols or min(8, len(items)))
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def _points_pairs(plt, items, recon, reference):
    fig, ax = plt.subplots(figsize=(5, 5))
    if reference is not None:
        ref = torch.as_tensor(reference)[:, :2].numpy()
        ax.scatter(ref[:, 0], ref[:, 1], s=2, c="0.8", label="real")
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
    """Rows of inputs, each with its row of reconstructions under it, and a gap between pairs of rows."""
    n = len(inputs)
    ncols = max(1, min(int(ncols), n))
    blocks = math.ceil(n / ncols)
    h, w = _as_picture(inputs[0]).shape[:2]
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
            ax.imshow(_as_picture(items[i]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
    for b in range(blocks):
        axes[3 * b, 0].set_ylabel("input", fontsize=7)
        axes[3 * b + 1, 0].set_ylabel("recon.", fontsize=7, color="C3")
    fig.subplots_adjust(left=0.6 / fig.get_figwidth(), right=0.99, bottom=0.01,
                        top=0.99 - 0.3 / fig.get_figheight(), wspace=0.06, hspace=0.06)
    return fig


# -- the 2-D manifold ----------------------------------------------------------------------------
def _check_2d(model) -> None:
    d = _latent_dim(model)
    if d != 2:
        raise UserError(f"the latent manifold is drawn for 2-D latent spaces, but {_name(model)!r} has {d}-d "
                        "codes; train one with --set latent_dim=2, or look at the latent projection or a traversal")


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
    n = _check_count("n", n, 2)
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
        Images and volumes: one picture of ``n x n`` tiles (volumes as oblique renders), axes
        labelled with the codes; points: the decoded grid as a mesh.

    Examples
    --------
    >>> import latentspace as ls
    >>> ppca = ls.models.create("ppca", n_components=2).fit(ls.data.load("digits"))
    >>> fig = latent_manifold(ppca, n=10)
    >>> fig.axes[0].images[0].get_array().shape
    (91, 91)
    """
    _check_2d(model)
    y = class_index(model, label)
    z = manifold_codes(n, lo, hi)
    n = z.shape[0]
    info = model.info_
    x = _decode(model, z.reshape(-1, 2), y if is_conditional(model) else None)
    if title is None and is_conditional(model):
        title = f"decoded as class {_class_name(model, y)}"
    plt = _mpl()
    if info.modality == "points":
        fig = _points_mesh(plt, x.reshape(n, n, -1)[..., :2].numpy(), reference)
    else:
        fig = _tiles(plt, rendered(x, info), z[0, :, 0].numpy(), z[:, 0, 1].numpy())
    if title:
        fig.axes[0].set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def _tiles(plt, pics, z0, z1):
    n = len(z0)
    grid = image_grid(pics, ncols=n)
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
        ref = torch.as_tensor(reference)[:, :2].numpy()
        ax.scatter(ref[:, 0], ref[:, 1], s=2, c="0.8", label="real")
    for i in range(len(x)):
        ax.plot(x[i, :, 0], x[i, :, 1], "-", c="C0", lw=0.6)   # constant z[1]
        ax.plot(x[:, i, 0], x[:, i, 1], "-", c="C1", lw=0.6)   # constant z[0]
    ax.scatter(x[..., 0].ravel(), x[..., 1].ravel(), s=6, c="k", zorder=3)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("decoded grid of codes: blue lines keep z[1], orange lines keep z[0]", fontsize=8)
    return fig


# -- projections of the latent means ------------------------------------------------------------
def _check_method(method: str) -> str:
    if method not in METHODS:
        raise UserError(f"unknown projection method {method!r}; use one of {', '.join(METHODS)}")
    if method == "umap":
        try:
            import umap  # noqa: F401
        except ImportError:
            raise UserError("method 'umap' needs the umap-learn package, which is not installed: "
                            "pip install umap-learn (or use method 'pca' or 'tsne')") from None
    return method


def project_latents(model, x, method: str = "auto", *, seed: int = 0, labels=None) -> dict:
    """The posterior means of items, projected to 2-D (cvae: :math:`E[z|x, y]`, given each item's label).

    Parameters
    ----------
    model : GenerativeModel
        A fitted model that encodes.
    x : Dataset or tensor (n, *shape)
        Data-space items.
    method : {"auto", "pca", "tsne", "umap"}
        ``pca``: the first two principal components of the codes (scikit-learn's PCA);
        ``tsne``: scikit-learn's t-SNE (PCA start, perplexity up to 30); ``umap``: UMAP, when
        ``umap-learn`` is installed; ``auto``: the codes themselves when they have two dimensions
        (or one), PCA otherwise.
    seed : int
        Seeds t-SNE and UMAP.
    labels : tensor (n,) of int, optional
        The items' classes (default: a Dataset's own); a conditional VAE encodes given them
        and needs them.

    Returns
    -------
    dict
        ``coords`` (n, 2) float64 array; ``codes`` (n, d) the posterior means; ``method`` the
        projection used; ``axes`` the two axis labels.

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("digits")
    >>> ppca = ls.models.create("ppca", n_components=8).fit(data)
    >>> p = project_latents(ppca, data.test)
    >>> p["coords"].shape, p["method"]
    ((359, 2), 'pca')
    """
    _check_method(method)
    _check_encodes(model, "latent codes to project")
    items, labels, _ = _items(model, x, labels)
    codes = _codes(model, items, labels).numpy()
    n, d = codes.shape
    if method == "auto":
        method = "codes" if d <= 2 else "pca"
    if method != "codes" and n < 3:
        raise UserError(f"a {method} projection needs at least 3 items, got {n}")
    if method == "codes":
        coords = codes if d == 2 else np.column_stack([codes[:, 0], np.zeros(n)])
        axes = ("z[0]", "z[1]" if d == 2 else "")
    elif method == "pca":
        from sklearn.decomposition import PCA

        k = min(2, d)
        pca = PCA(n_components=k).fit(codes)
        coords = pca.transform(codes)
        coords = coords if k == 2 else np.column_stack([coords, np.zeros(n)])
        ratio = list(pca.explained_variance_ratio_) + [0.0]
        axes = (f"PC 1 ({100 * ratio[0]:.0f}% of the variance)", f"PC 2 ({100 * ratio[1]:.0f}%)" if k == 2 else "")
    elif method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, (n - 1) / 3))
        coords = TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=int(seed)).fit_transform(codes)
        axes = ("t-SNE 1", "t-SNE 2")
    else:
        import umap

        coords = umap.UMAP(n_components=2, random_state=int(seed)).fit_transform(codes)
        axes = ("UMAP 1", "UMAP 2")
    return {"coords": np.asarray(coords, dtype=np.float64), "codes": codes, "method": method, "axes": axes}


def _class_colours(plt, k: int):
    """A colour map with one colour per class (tab10, tab20, or viridis beyond 20 classes)."""
    from matplotlib.colors import ListedColormap

    if k <= 10:
        return ListedColormap(plt.get_cmap("tab10").colors[:max(k, 1)])
    if k <= 20:
        return ListedColormap(plt.get_cmap("tab20").colors[:k])
    return plt.get_cmap("viridis")


def latent_projection(model, x, labels=None, *, method: str = "auto", n: int | None = 2000, seed: int = 0,
                      classes=None, title: str | None = None):
    """A scatter plot of the posterior means of items projected to 2-D, coloured by label.

    Parameters
    ----------
    model : GenerativeModel
        A fitted model that encodes.
    x : Dataset or tensor (m, *shape)
        Data-space items; a Dataset brings its labels and class names.
    labels : tensor (m,) of int, optional
        A class per item (default: the Dataset's); points are one colour without labels.
    method : {"auto", "pca", "tsne", "umap"}
        See :func:`project_latents`.
    n : int, optional
        At most this many items, a seeded random subset (all if None).
    seed : int
        Picks the subset, seeds t-SNE and UMAP.
    classes : sequence of str, optional
        Class names for the legend (default: the Dataset's, or the model's).
    title : str, optional
        Default: what is drawn; for a conditional VAE, that the means are :math:`E[z|x, y]`
        given each item's label (which it needs), so they hold the style and the classes overlap.

    Returns
    -------
    matplotlib.figure.Figure
        One axes whose first collection holds the points; with labels, its array is the
        labels and the legend names the classes (a colour bar beyond 20 classes).

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("digits")
    >>> ppca = ls.models.create("ppca", n_components=8).fit(data)
    >>> fig = latent_projection(ppca, data.test, method="pca")
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()][:3]
    ['0', '1', '2']
    """
    _check_method(method)
    _check_encodes(model, "latent codes to project")
    items, labels, own_classes = _items(model, x, labels)
    keep = _subset(len(items), n, seed if n is not None and len(items) > n else None)
    items = items[keep]
    labels = labels[keep] if labels is not None else None
    proj = project_latents(model, items, method, seed=seed, labels=labels if is_conditional(model) else None)
    xy = proj["coords"]
    plt = _mpl()
    fig, ax = plt.subplots(figsize=(6.4, 5))
    size = 5 if len(xy) > 1000 else 12
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=size, c="C0", alpha=0.8, linewidths=0)
    else:
        names = list(classes if classes is not None else (own_classes or []))
        k = max(len(names), int(labels.max()) + 1)
        names = names if len(names) == k else [str(i) for i in range(k)]
        cmap = _class_colours(plt, k)
        sc = ax.scatter(xy[:, 0], xy[:, 1], s=size, c=labels.numpy(), cmap=cmap, vmin=-0.5, vmax=k - 0.5,
                        alpha=0.85, linewidths=0)
        _class_legend(fig, ax, sc, names)
    ax.set_xlabel(proj["axes"][0], fontsize=9)
    ax.set_ylabel(proj["axes"][1], fontsize=9)
    ax.tick_params(labelsize=8)
    if title is None and is_conditional(model):
        title = (f"E[z|x, y] of {len(xy):,} items given their labels ({_method_words(proj['method'])}):\n"
                 "z carries the style and the label the class, so classes should overlap")
    elif title is None and has_discrete_codes(model):
        title = f"quantised code vectors z_q(x) of {len(xy):,} items ({_method_words(proj['method'])})"
    ax.set_title(title or f"posterior means of {len(xy):,} items ({_method_words(proj['method'])})", fontsize=10)
    fig.tight_layout()
    return fig


def _method_words(method: str) -> str:
    return {"codes": "the 2-D codes themselves", "pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}[method]


def _class_legend(fig, ax, sc, names: list[str]) -> None:
    from matplotlib.lines import Line2D

    k = len(names)
    if k > 20:
        fig.colorbar(sc, ax=ax, label="class")
        return
    handles = [Line2D([], [], ls="", marker="o", ms=5, color=sc.cmap(sc.norm(i)), label=str(name))
               for i, name in enumerate(names)]
    ax.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False,
              title="class", title_fontsize=8)


# -- activity, interpolation, traversal ---------------------------------------------------------------
def latent_activity(model, x, labels=None) -> torch.Tensor:
    """Per latent dimension, the variance across items of the posterior mean (Burda et al. 2016).

    :math:`A_u = \\mathrm{Var}_x(E_{q(z|x)}[z_u])` (the population variance over ``x``): a
    dimension that the encoder does not use has posterior means near the prior's 0 for every
    item, so an activity near 0 (Burda et al. call a unit active above 0.01). A conditional VAE
    encodes given the items' ``labels`` (default: a Dataset's own), which it needs.

    Returns
    -------
    torch.Tensor
        ``(d,)`` float64.

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("digits")
    >>> ppca = ls.models.create("ppca", n_components=4).fit(data)
    >>> latent_activity(ppca, data.test).shape
    torch.Size([4])
    """
    _check_encodes(model, "latent activity")
    items, labels, _ = _items(model, x, labels)
    return _codes(model, items, labels).var(0, correction=0)


def active_dims(model, x, *, threshold: float = 0.01, n: int | None = None, labels=None) -> list[int]:
    """The latent dimensions with activity (:func:`latent_activity`) above ``threshold``, most active first.

    Parameters
    ----------
    model : GenerativeModel
        A fitted model that encodes.
    x : Dataset or tensor (m, *shape)
        Data-space items.
    threshold : float
        Smallest activity of an active dimension (0.01 in Burda et al. 2016).
    n : int, optional
        At most this many.
    labels : tensor (m,) of int, optional
        The items' classes, for a conditional VAE (default: a Dataset's own).

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("digits")
    >>> ppca = ls.models.create("ppca", n_components=4).fit(data)
    >>> active_dims(ppca, data, n=2)  # PPCA's codes are whitened: all active, the leading ones most
    [0, 1]
    """
    activity = latent_activity(model, x, labels)
    order = torch.argsort(activity, descending=True, stable=True)
    dims = [int(k) for k in order if activity[k] > threshold]
    return dims if n is None else dims[:_check_count("n", n)]


def item_interpolation(model, a, b, *, steps: int = 10, method: str = "linear", reference=None,
                       title: str | None = None, labels=None):
    """A figure of decoded paths between the encodings of items ``a`` and ``b``, the items at both ends.

    Parameters
    ----------
    model : GenerativeModel
        A fitted model that encodes.
    a, b : tensor (*shape) or (n, *shape)
        Data-space items (one path per pair).
    steps : int
        Decoded items per path, ends included.
    method : {"linear", "slerp"}
        Straight lines between the posterior means (the default), or spherical interpolation.
    reference : tensor (k, 2), optional
        For points: real items drawn underneath in grey.
    title : str, optional
    labels : int, str or sequence, optional
        Conditional VAE only (required): the class of each pair, one class or one per pair;
        both items are encoded given it and the path decoded as it (each row is labelled
        with its class). Pick the two items of a pair from that class.

    Returns
    -------
    matplotlib.figure.Figure
        See :func:`latentspace.plots.latent.interpolation_strip`: one row of ``steps + 2``
        pictures per pair, the real items framed in red at both ends.

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("digits")
    >>> ppca = ls.models.create("ppca", n_components=8).fit(data)
    >>> x = data.test.to_data()
    >>> fig = item_interpolation(ppca, x[:2], x[2:4], steps=6)
    >>> sum(1 for ax in fig.axes if ax.images)
    16
    """
    _check_encodes(model, "encodings to interpolate between")
    shape = tuple(model.info_.shape)
    a = torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a, dtype=torch.float32).cpu()
    b = torch.as_tensor(np.asarray(b) if not isinstance(b, torch.Tensor) else b, dtype=torch.float32).cpu()
    a, b = (a[None] if a.ndim == len(shape) else a), (b[None] if b.ndim == len(shape) else b)
    if a.shape != b.shape:
        raise UserError(f"a and b must hold the same number of items of the same shape, got {tuple(a.shape)} "
                        f"and {tuple(b.shape)}")
    y = _labels(model, labels, len(a), default="required")
    paths = interpolate(model, a, b, steps=steps, method=method, inputs="items", labels=y)
    names = _class_names(model)
    rows = None if y is None else [names[int(k)] for k in y]
    return interpolation_strip(paths, model.info_, ends=torch.stack([a, b], 1), reference=reference, title=title,
                               row_labels=rows)


def latent_traversal(model, x=None, *, dims=None, n_dims: int = 8, span: float = 3.0, steps: int = 7, around=None,
                     title: str | None = None, label=None, labels=None):
    """A figure of one latent dimension varied at a time, the most active dimensions first.

    Parameters
    ----------
    model : GenerativeModel
        A fitted latent model (any with a decoder; the dimensions are chosen by activity only
        for models that encode).
    x : Dataset or tensor (m, *shape), optional
        Items to measure :func:`latent_activity` on; the rows are then the ``n_dims`` most
        active dimensions (their activity in the row labels). Without items, the first ``n_dims``.
    dims : list of int, optional
        The dimensions to vary, overriding the choice above.
    n_dims : int
        Rows when ``dims`` is None.
    span : float
        Largest change, in prior standard deviations.
    steps : int
        Items per row.
    around : tensor (d,) or item, optional
        The code to start from, or an item to encode (default the prior's mean).
    title : str, optional
    label : int or str, optional
        Conditional models (cvae, cgan) only: the class (index or name) every item is decoded
        as; default the first class. An item ``around`` is encoded given it (then it is
        required). The title names the class.
    labels : tensor (m,) of int, optional
        The classes of the items ``x`` (default: a Dataset's own), which a conditional VAE
        encodes given.

    Returns
    -------
    matplotlib.figure.Figure
        See :func:`latentspace.plots.latent.traversal_grid`.

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("digits")
    >>> ppca = ls.models.create("ppca", n_components=6).fit(data)
    >>> fig = latent_traversal(ppca, data, n_dims=3, steps=5)
    >>> [fig.axes[r * 5].get_ylabel().split()[0] for r in range(3)]
    ['z[0]', 'z[1]', 'z[2]']
    """
    d = _latent_dim(model)
    n_dims = _check_count("n_dims", n_dims)
    y = class_index(model, label)
    activity = None
    if dims is None:
        if x is not None and can_encode(model):
            activity = latent_activity(model, x, labels)
            dims = [int(k) for k in torch.argsort(activity, descending=True, stable=True)[:n_dims]]
        else:
            dims = list(range(min(d, n_dims)))
    grid = traverse(model, around, dims, span=span, steps=steps, label=label)
    if title is None and is_conditional(model):
        name = _class_name(model, y)
        title = (f"class {name}: the {len(dims)} most active of {d} dims (Var of E[z|x, y])" if activity is not None
                 else f"decoded as class {name}")
    elif title is None and activity is not None:
        title = f"the {len(dims)} most active of {d} latent dims (activity: Var of E[z|x] over items)"
    fig = traversal_grid(grid, model.info_, dims=dims, span=span, title=title)
    if activity is not None and model.info_.modality != "points":
        steps = grid.shape[1]
        for r, k in enumerate(dims):
            fig.axes[r * steps].set_ylabel(f"z[{k}]\n{float(activity[k]):.2g}", fontsize=7, rotation=0,
                                           ha="right", va="center")
        fig.subplots_adjust(left=0.55 / fig.get_figwidth())
    return fig


# -- by name ---------------------------------------------------------------------------------------
def default_n(kind: str, info) -> int:
    """What ``n`` means for each kind, and its default: items (reconstructions: 16, or 500 points),
    codes per side (manifold: 15, 8 for volumes, 20 for points), items at most (latents: 2000),
    pairs (interpolation: 3, 4 for points), dimensions (traversal: 8)."""
    points, volume = info.modality == "points", info.modality == "volume"
    return {"reconstructions": 500 if points else 16, "manifold": 20 if points else (8 if volume else 15),
            "latents": 2000, "interpolation": 4 if points else 3, "traversal": 8}[kind]


def check_picture(kind: str, model=None, *, n: int | None = None, method: str = "auto", label=None) -> None:
    """Refuse, before any work, a picture that cannot be drawn: an unknown kind or method, a bad
    ``n``, a model without an encoder (reconstructions, latents, interpolation) or without a 2-D
    latent space (manifold), a ``label`` that is not one of a conditional model's classes (or
    any label for an unconditional model).

    Examples
    --------
    >>> check_picture("histogram")
    Traceback (most recent call last):
    ...
    latentspace.errors.UserError: unknown picture kind 'histogram'; use one of reconstructions, manifold, latents, \
interpolation, traversal
    """
    if kind not in KINDS:
        raise UserError(f"unknown picture kind {kind!r}; use one of {', '.join(KINDS)}")
    _check_method(method)
    if n is not None:
        _check_count("n", n, 2 if kind == "manifold" else 1)
    if model is None:
        return
    if kind in NEEDS_ITEMS:
        _check_encodes(model, {"reconstructions": "reconstructions", "latents": "latent codes to project",
                               "interpolation": "encodings to interpolate between"}[kind])
        if kind == "interpolation":
            _latent_dim(model)  # a walk needs continuous codes (a VQ-VAE's discrete grid has none)
    elif kind == "manifold":
        _check_2d(model)
    else:
        _latent_dim(model)
    class_index(model, label)


def _reference(data, n: int, seed: int):
    if data is None:
        return None
    idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(int(seed)))[:n]
    return data.to_data(data.x[idx])


def latent_picture(kind: str, model, data=None, *, n: int | None = None, method: str = "auto", seed: int = 0,
                   label=None):
    """Draw a latent picture by name, from a model and the dataset it was trained on.

    Parameters
    ----------
    kind : {"reconstructions", "manifold", "latents", "interpolation", "traversal"}
        :func:`reconstructions`, :func:`latent_manifold`, :func:`latent_projection`,
        :func:`item_interpolation` or :func:`latent_traversal`.
    model : GenerativeModel
        A fitted model.
    data : Dataset, optional
        Its dataset; items come from the held-out split (``data.test``) when there is one.
        Needed for reconstructions, latents and interpolation; a traversal uses it to pick the
        most active dimensions.
    n : int, optional
        Items, codes per side, items at most, pairs or dimensions (see :func:`default_n`).
    method : {"auto", "pca", "tsne", "umap"}
        The projection of ``latents``.
    seed : int
        Picks the items (and seeds t-SNE and UMAP).
    label : int or str, optional
        Conditional models (cvae, cgan) only: the class (index or name) the manifold and the
        traversal are decoded as (default the first class), and the class whose items an
        interpolation walks between (default: each pair from the class of a random item).
        Reconstructions and latent means use each item's own label.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("digits")
    >>> ppca = ls.models.create("ppca", n_components=8).fit(data)
    >>> fig = latent_picture("interpolation", ppca, data, n=2)
    """
    check_picture(kind, model, n=n, method=method, label=label)
    if kind in NEEDS_ITEMS and data is None:
        raise UserError(f"a picture of {kind} needs items to encode; give the dataset the model was trained on")
    if data is not None and tuple(data.shape) != tuple(model.info_.shape):
        raise UserError(f"the model makes items of shape {tuple(model.info_.shape)} but {data.name} has "
                        f"{tuple(data.shape)}; give the data it was trained on")
    n = n if n is not None else default_n(kind, model.info_)
    held = data.test if data is not None and data.test is not None else data
    points = model.info_.modality == "points"
    reference = _reference(data, 2000, seed) if points else None
    conditional = is_conditional(model)
    if kind == "reconstructions":
        return reconstructions(model, held, n=n, seed=seed, reference=reference)
    if kind == "manifold":
        return latent_manifold(model, n, reference=reference, label=label)
    if kind == "latents":
        return latent_projection(model, held, method=method, n=n, seed=seed)
    if kind == "interpolation":
        items = held.to_data()
        if len(items) < 2:
            raise UserError("interpolation needs at least 2 items to walk between")
        g = torch.Generator().manual_seed(int(seed))
        if conditional:  # two items of one class, encoded and decoded given it
            _check_labelled(model, held.y)
            pick = same_class_pairs(held.y, n, g, label=None if label is None else class_index(model, label))
            return item_interpolation(model, items[pick[:, 0]], items[pick[:, 1]], reference=reference,
                                      labels=held.y[pick[:, 0]],
                                      title="each row between two items of one class, given its label")
        pick = torch.stack([torch.randperm(len(items), generator=g)[:2] for _ in range(n)])
        return item_interpolation(model, items[pick[:, 0]], items[pick[:, 1]], reference=reference)
    return latent_traversal(model, held if data is not None and can_encode(model) else None, n_dims=n, label=label)
