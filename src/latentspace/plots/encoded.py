"""Items and their codes for the latent pictures of models that encode (shared by
:mod:`.reconstruction`, :mod:`.projection`, :mod:`.walks` and the dispatcher :mod:`.encoding`).

Everything here reads the model's declared capabilities (``encodes``, ``latent``,
``conditional``) and raises a :class:`~latentspace.errors.UserError` saying what to use instead
when a picture cannot be drawn.
"""

from __future__ import annotations

import numpy as np
import torch

from latentspace.data.dataset import Dataset
from latentspace.errors import UserError
from latentspace.latent import class_index, class_names, encode_items, require_latent


def check_encodes(model, what: str) -> None:
    """Refuse a model without an encoder, or one not fitted yet, with a UserError saying why."""
    if not model.encodes:
        raise UserError(f"{model.name!r} cannot encode items, so it has no {what}; use a model with an "
                        "encoder (vae, beta-vae, iwae, ... or ppca)")
    model._check_fitted()


def check_2d(model) -> None:
    """Refuse a model without a 2-D continuous latent space (the manifold needs one)."""
    d = require_latent(model)
    if d != 2:
        raise UserError(f"the latent manifold is drawn for 2-D latent spaces, but {model.name!r} has {d}-d "
                        "codes; train one with --set latent_dim=2, or look at the latent projection or a traversal")


def check_count(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise UserError(f"{name} must be an integer of at least {minimum}, got {value!r}")
    return int(value)


def items_of(model, x, labels=None):
    """(data-space items ``(n, *shape)``, labels ``(n,)`` or None, class names or None).

    ``x`` is a :class:`~latentspace.data.dataset.Dataset` (its items, labels and class names) or
    data-space items.
    """
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


def subset(n_total: int, n: int | None, seed: int | None) -> torch.Tensor:
    """Indices of ``n`` of ``n_total`` items: the first ones (seed None) or a seeded random choice."""
    n = n_total if n is None else min(check_count("n", n), n_total)
    if seed is None:
        return torch.arange(n)
    return torch.randperm(n_total, generator=torch.Generator().manual_seed(int(seed)))[:n]


def check_labelled(model, labels) -> None:
    """Refuse items without labels for a conditional model, which encodes given the class."""
    if labels is None and model.conditional:
        raise UserError(f"{model.name} encodes items given their classes (E[z|x, y]); give a Dataset with labels "
                        "(e.g. data.test) or the items' labels=")


def encode(model, items: torch.Tensor, labels=None, **options) -> torch.Tensor:
    """``encode`` of data-space items, given their labels for a conditional model (ignored otherwise)."""
    check_labelled(model, labels)
    return encode_items(model, items, labels if model.conditional else None, **options)


def posterior_means(model, items: torch.Tensor, labels=None) -> torch.Tensor:
    """Posterior means ``(n, d)`` (flattened) of data-space items, float64 (cvae: :math:`E[z|x, y]`).

    A model that encodes to discrete codes (``latent == "discrete"``: a VQ-VAE's indices) gives its
    quantised code vectors instead (``encode(x, vectors=True)``).
    """
    options = {"vectors": True} if model.latent == "discrete" else {}
    z = encode(model, items, labels, **options)
    if not z.is_floating_point():
        raise UserError(f"{model.name!r} encodes items as discrete codes, which have no means to project "
                        "or compare; use a model with continuous latents")
    return z.reshape(len(items), -1).double()


def class_name(model, label) -> str:
    """The name of class ``label`` (an index or name) of a conditional model."""
    return class_names(model)[class_index(model, label)]
