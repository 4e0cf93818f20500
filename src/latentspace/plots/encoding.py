r"""Latent pictures of a model, drawn by name: what ``latentspace plot RUN --kind KIND`` and the report use.

The pictures themselves live beside this dispatcher, by purpose:

- :mod:`.reconstruction`: :func:`reconstructions` (held-out items beside ``decode(encode(x))``)
  and :func:`latent_manifold` (the decoder over a grid of 2-D codes at the prior's quantiles,
  Kingma & Welling 2014, Fig. 4);
- :mod:`.projection`: :func:`latent_projection` (the posterior means :math:`E[z|x]` of held-out
  items projected to 2-D: PCA, t-SNE or UMAP, coloured by label); :func:`project_latents` gives
  the coordinates;
- :mod:`.walks`: :func:`item_interpolation` (decoded paths between the encodings of pairs of
  items), :func:`latent_traversal` (one latent dimension varied at a time, the dimensions chosen
  by :func:`latent_activity`, :math:`A_u = \mathrm{Var}_x(E_{q(z|x)}[z_u])`, Burda et al. 2016)
  and :func:`active_dims`;
- :mod:`.encoded`: the items and codes they share, and the checks.

:func:`latent_picture` draws any of them from a model and its dataset; :func:`check_picture`
refuses, before any work, one that cannot be drawn. What a model can do is what it declares
(``encodes``, ``latent``, ``conditional``); how items are drawn is what their modality says
(``info.spec``: pictures from ``spec.display``, volumes as oblique renders, or a scatter of points).

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
>>> from latentspace.plots import latent_projection, reconstructions
>>> data = ls.data.load("digits")
>>> ppca = ls.models.create("ppca", n_components=8).fit(data)
>>> fig = reconstructions(ppca, data.test, n=8)
>>> fig = latent_projection(ppca, data.test)            # PCA of E[z|x], coloured by digit
"""

from __future__ import annotations

import torch

from latentspace.data.dataset import held_out
from latentspace.errors import UserError
from latentspace.latent import class_index, require_latent
from latentspace.plots.encoded import check_2d, check_count, check_encodes, check_labelled
from latentspace.plots.latent import same_class_pairs
from latentspace.plots.projection import METHODS, check_method, latent_projection, project_latents
from latentspace.plots.reconstruction import latent_manifold, manifold_codes, reconstruct, reconstructions
from latentspace.plots.walks import active_dims, item_interpolation, latent_activity, latent_traversal

__all__ = ["KINDS", "NEEDS_ITEMS", "METHODS", "default_n", "check_picture", "latent_picture",
           # the pictures it draws, importable from here as before
           "reconstruct", "reconstructions", "manifold_codes", "latent_manifold", "project_latents",
           "latent_projection", "latent_activity", "active_dims", "item_interpolation", "latent_traversal"]

#: the pictures :func:`latent_picture` draws
KINDS = ("reconstructions", "manifold", "latents", "interpolation", "traversal")
#: kinds that need real items (a dataset) to draw
NEEDS_ITEMS = ("reconstructions", "latents", "interpolation")
#: rows of a traversal by default (latent dimensions)
TRAVERSAL_DIMS = 8


def default_n(kind: str, info) -> int:
    """What ``n`` means for each kind, and its default from the modality (``info.spec``): items
    (reconstructions: ``spec.reconstructions``, 16, or 500 points), codes per side (manifold:
    ``spec.manifold_side``, 15, 8 for volumes, 20 for points), items at most (latents:
    ``spec.scatter_items``, 2000), pairs (interpolation: ``spec.interpolation_rows``, 3, 4 for
    points), dimensions (traversal: 8)."""
    spec = info.spec
    return {"reconstructions": spec.reconstructions, "manifold": spec.manifold_side, "latents": spec.scatter_items,
            "interpolation": spec.interpolation_rows, "traversal": TRAVERSAL_DIMS}[kind]


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
    check_method(method)
    if n is not None:
        check_count("n", n, 2 if kind == "manifold" else 1)
    if model is None:
        return
    if kind in NEEDS_ITEMS:
        check_encodes(model, {"reconstructions": "reconstructions", "latents": "latent codes to project",
                              "interpolation": "encodings to interpolate between"}[kind])
        if kind == "interpolation":
            require_latent(model)  # a walk needs continuous codes (a VQ-VAE's discrete grid has none)
    elif kind == "manifold":
        check_2d(model)
    else:
        require_latent(model)
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
    held = held_out(data) if data is not None else None
    spec = model.info_.spec
    reference = _reference(data, spec.scatter_items, seed) if spec.scatter else None
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
        if model.conditional:  # two items of one class, encoded and decoded given it
            check_labelled(model, held.y)
            pick = same_class_pairs(held.y, n, g, label=None if label is None else class_index(model, label))
            return item_interpolation(model, items[pick[:, 0]], items[pick[:, 1]], reference=reference,
                                      labels=held.y[pick[:, 0]],
                                      title="each row between two items of one class, given its label")
        pick = torch.stack([torch.randperm(len(items), generator=g)[:2] for _ in range(n)])
        return item_interpolation(model, items[pick[:, 0]], items[pick[:, 1]], reference=reference)
    return latent_traversal(model, held if data is not None and model.encodes else None, n_dims=n, label=label)
