r"""Projections of latent codes to 2-D: where a model that encodes puts the items.

- :func:`project_latents`: the posterior means :math:`E[z|x]` of items projected to 2-D (PCA by
  default; t-SNE from scikit-learn; UMAP when ``umap-learn`` is installed);
- :func:`latent_projection`: a scatter plot of them, coloured by label with a legend of class
  names.

A conditional VAE's means are :math:`E[z|x, y]`, given each item's label: they carry the style of
an item and not its class (the label tells the class), so classes overlap in the projection by
design. A VQ-VAE's discrete codes are projected as their quantised code vectors.
"""

from __future__ import annotations

import numpy as np

from latentspace.errors import UserError
from latentspace.plots.encoded import check_encodes, items_of, posterior_means, subset
from latentspace.plots.samples import _mpl

__all__ = ["METHODS", "check_method", "project_latents", "latent_projection"]

#: projections of latent codes to 2-D
METHODS = ("auto", "pca", "tsne", "umap")


def check_method(method: str) -> str:
    """``method`` if it is one of :data:`METHODS` that can run here, else a UserError."""
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
    check_method(method)
    check_encodes(model, "latent codes to project")
    items, labels, _ = items_of(model, x, labels)
    codes = posterior_means(model, items, labels).numpy()
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
    check_method(method)
    check_encodes(model, "latent codes to project")
    items, labels, own_classes = items_of(model, x, labels)
    keep = subset(len(items), n, seed if n is not None and len(items) > n else None)
    items = items[keep]
    labels = labels[keep] if labels is not None else None
    proj = project_latents(model, items, method, seed=seed, labels=labels if model.conditional else None)
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
    if title is None and model.conditional:
        title = (f"E[z|x, y] of {len(xy):,} items given their labels ({_method_words(proj['method'])}):\n"
                 "z carries the style and the label the class, so classes should overlap")
    elif title is None and model.latent == "discrete":
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
