r"""Latent dimensions and walks between items: activity, interpolation and traversal pictures.

- :func:`latent_activity`: per latent dimension the variance across the data of the posterior
  mean, :math:`A_u = \mathrm{Var}_x(E_{q(z|x)}[z_u])` (Burda et al. 2016), near 0 for the
  dimensions a (beta-)VAE leaves unused; :func:`active_dims` lists those above a threshold;
- :func:`item_interpolation`: decoded straight (or spherical) paths between the encodings of
  pairs of items, the items at both ends;
- :func:`latent_traversal`: one latent dimension varied at a time, the most active first.

A conditional VAE encodes given each item's class; interpolation walks between two items of one
class, and a traversal is decoded as one class (``label=``). A conditional GAN has no encoder:
only traversals apply.
"""

from __future__ import annotations

import torch

from latentspace.errors import UserError
from latentspace.latent import as_float, class_index, class_names, interpolate, labels_for, require_latent, traverse
from latentspace.plots.encoded import check_count, check_encodes, class_name, items_of, posterior_means
from latentspace.plots.latent import interpolation_strip, traversal_grid

__all__ = ["latent_activity", "active_dims", "item_interpolation", "latent_traversal"]


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
    check_encodes(model, "latent activity")
    items, labels, _ = items_of(model, x, labels)
    return posterior_means(model, items, labels).var(0, correction=0)


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
    return dims if n is None else dims[:check_count("n", n)]


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
        See :func:`latentspace.plots.interpolation_strip`: one row of ``steps + 2``
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
    check_encodes(model, "encodings to interpolate between")
    shape = tuple(model.info_.shape)
    a, b = as_float(a), as_float(b)
    a, b = (a[None] if a.ndim == len(shape) else a), (b[None] if b.ndim == len(shape) else b)
    if a.shape != b.shape:
        raise UserError(f"a and b must hold the same number of items of the same shape, got {tuple(a.shape)} "
                        f"and {tuple(b.shape)}")
    y = labels_for(model, labels, len(a), default="required")
    paths = interpolate(model, a, b, steps=steps, method=method, inputs="items", labels=y)
    names = class_names(model)
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
        See :func:`latentspace.plots.traversal_grid`.

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("digits")
    >>> ppca = ls.models.create("ppca", n_components=6).fit(data)
    >>> fig = latent_traversal(ppca, data, n_dims=3, steps=5)
    >>> [fig.axes[r * 5].get_ylabel().split()[0] for r in range(3)]
    ['z[0]', 'z[1]', 'z[2]']
    """
    d = require_latent(model)
    n_dims = check_count("n_dims", n_dims)
    y = class_index(model, label)
    activity = None
    if dims is None:
        if x is not None and model.encodes:
            activity = latent_activity(model, x, labels)
            dims = [int(k) for k in torch.argsort(activity, descending=True, stable=True)[:n_dims]]
        else:
            dims = list(range(min(d, n_dims)))
    grid = traverse(model, around, dims, span=span, steps=steps, label=label)
    if title is None and model.conditional:
        name = class_name(model, y)
        title = (f"class {name}: the {len(dims)} most active of {d} dims (Var of E[z|x, y])" if activity is not None
                 else f"decoded as class {name}")
    elif title is None and activity is not None:
        title = f"the {len(dims)} most active of {d} latent dims (activity: Var of E[z|x] over items)"
    fig = traversal_grid(grid, model.info_, dims=dims, span=span, title=title)
    if activity is not None and not model.info_.spec.scatter:
        steps = grid.shape[1]
        for r, k in enumerate(dims):
            fig.axes[r * steps].set_ylabel(f"z[{k}]\n{float(activity[k]):.2g}", fontsize=7, rotation=0,
                                           ha="right", va="center")
        fig.subplots_adjust(left=0.55 / fig.get_figwidth())
    return fig
