"""What a model offers in its latent space, class labels, and codes or items given by the user.

The model declares its capabilities (:class:`latentspace.models.base.GenerativeModel`:
``encodes``, ``latent``, ``conditional``, ``inversion``, ``latent_width()``); this module reads
them and turns what a caller passes (codes or items, a class index or name, one label or one per
item) into tensors, with a :class:`~latentspace.errors.UserError` that says what to give instead.
It talks only to the model object it is given and imports no model family.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from latentspace.data import labels as data_labels
from latentspace.errors import UserError

__all__ = ["can_encode", "is_conditional", "latent_size", "has_discrete_codes", "class_names", "class_index",
           "labels_for", "require_latent", "encode_items", "decode_codes", "parse_codes", "as_float"]


# -- capabilities (trivial reads, kept for older callers) -----------------------------------------------
def can_encode(model) -> bool:
    """Whether ``model`` maps data-space items to latent codes (``model.encodes``: VAE, PPCA, VQ-VAE)."""
    return bool(model.encodes)


def is_conditional(model) -> bool:
    """Whether ``model`` decodes given a class label (``model.conditional``: cvae, cgan)."""
    return bool(model.conditional)


def latent_size(model) -> int | None:
    """Width of a model's continuous latent space (``model.latent_width()``), or None when it has none.

    Examples
    --------
    >>> import latentspace as ls
    >>> latent_size(ls.models.create("kde")) is None
    True
    """
    return model.latent_width()


def has_discrete_codes(model) -> bool:
    """Whether ``model`` encodes items to discrete codes only (``model.latent == "discrete"``: a VQ-VAE)."""
    return model.latent == "discrete"


def require_latent(model) -> int:
    """The latent width of a fitted model with continuous codes, or a UserError saying what to use instead."""
    model._check_fitted()
    if model.latent == "discrete":
        raise UserError(f"{model.name!r} encodes items as a grid of discrete codes, with no continuous latent "
                        "dimensions to walk along or vary; draw its reconstructions or latents instead, or use a vae")
    d = model.latent_width() if model.latent == "continuous" else None
    if d is None:
        raise UserError(f"{model.name!r} has no latent space; use a gan, vae or ppca model")
    return int(d)


# -- class labels -------------------------------------------------------------------------------------------
def class_names(model) -> list[str]:
    """The class names of a fitted model's data (empty when it has none)."""
    return [str(c) for c in (model.info_.classes or [])] if model.info_ is not None else []


def class_index(model, label=None) -> int:
    """The class index of ``label`` for a conditional model: an index, or a class name.

    Parameters
    ----------
    model : GenerativeModel
        A fitted conditional model (cvae, cgan).
    label : int or str, optional
        A class index (``0 .. K-1``) or a class name; a string is looked up among the names
        first, then read as an index (as ``--classes`` does). None: the first class, 0.

    Returns
    -------
    int

    Examples
    --------
    >>> import latentspace as ls
    >>> cvae = ls.models.create("cvae", width=8).fit(ls.data.load("digits"), steps=2, progress=False)
    >>> class_index(cvae), class_index(cvae, 7), class_index(cvae, "3")
    (0, 7, 3)
    """
    if not model.conditional:
        if label is not None:
            raise UserError(f"{model.name!r} is unconditional and takes no class label; drop the label "
                            "(labels are for cvae and cgan)")
        return 0
    return 0 if label is None else data_labels.class_index(label, class_names(model), model.name)


def labels_for(model, labels, n: int, *, default: str = "first", what: str = "labels") -> torch.Tensor | None:
    """Labels ``(n,)`` (int64) for a conditional model, None for an unconditional one (which refuses labels).

    ``labels`` is one class (index or name) for all ``n``, or one per item; None gives the first
    class (``default="first"``), the classes in turn (``"cycle"``), or a UserError (``"required"``).
    """
    if not model.conditional:
        if labels is not None:
            raise UserError(f"{model.name!r} is unconditional and takes no {what}; drop them (labels are for cvae "
                            "and cgan)")
        return None
    k = len(class_names(model))
    if labels is None:
        if default == "required":
            raise UserError(f"{model.name} is conditional and needs the items' classes: pass {what}=... (one class, "
                            "or one per item)")
        return torch.arange(n) % k if default == "cycle" else torch.zeros(n, dtype=torch.long)
    return data_labels.class_labels(labels, n, class_names(model), model.name, what)


# -- codes and items ---------------------------------------------------------------------------------------
def as_float(v) -> torch.Tensor:
    """``v`` (tensor, array or nested sequence) as a float32 CPU tensor."""
    return torch.as_tensor(np.asarray(v) if not isinstance(v, torch.Tensor) else v, dtype=torch.float32).cpu()


def parse_codes(model, v, what: str, inputs: str = "auto") -> tuple[torch.Tensor, bool, bool]:
    """``(t, is_items, batched)``: ``v`` as a batch of codes ``(n, d)`` or of items ``(n, *shape)``."""
    if inputs not in ("auto", "codes", "items"):
        raise UserError(f"inputs must be 'auto', 'codes' or 'items', got {inputs!r}")
    d = require_latent(model)
    shape = tuple(model.info_.shape)
    t = as_float(v)
    is_code = t.ndim in (1, 2) and tuple(t.shape[-1:]) == (d,)
    is_item = t.ndim in (len(shape), len(shape) + 1) and tuple(t.shape[t.ndim - len(shape):]) == shape
    if inputs == "auto" and is_code and is_item and not model.encodes:
        inputs = "codes"  # a model that cannot encode only takes codes
    if inputs == "auto" and is_code and is_item:
        raise UserError(f"{what} of shape {tuple(t.shape)} could be latent codes or items; "
                        "pass inputs='codes' or inputs='items'")
    if (inputs == "codes" and not is_code) or (inputs == "items" and not is_item) or not (is_code or is_item):
        raise UserError(f"{what} has shape {tuple(t.shape)}; give latent codes ({d},) or (n, {d}), "
                        f"or items {shape} or (n, {', '.join(map(str, shape))})")
    if is_code and inputs != "items":
        return (t if t.ndim == 2 else t[None]), False, t.ndim == 2
    if not model.encodes:
        raise UserError(f"{model.name!r} cannot encode items; pass latent codes of shape ({d},), "
                        "e.g. invert(model, x)[0]")
    batched = t.ndim == len(shape) + 1
    return (t if batched else t[None]), True, batched


def encode_items(model, x: torch.Tensor, labels=None, **options) -> torch.Tensor:
    """``model.encode`` of data-space items ``x`` ``(n, *shape)``, given their classes for a conditional model.

    ``labels``: one class (index or name) or one per item; required by conditional models
    (the cvae's :math:`E[z|x, y]`), refused by the others. ``options`` go to ``encode``
    (``vectors=True`` for a VQ-VAE's code vectors).
    """
    y = labels_for(model, labels, len(x), default="required")
    z = model.encode(x, **options) if y is None else model.encode(x, labels=y, **options)
    return torch.as_tensor(z).detach().cpu()


def decode_codes(model, z: torch.Tensor, labels=None) -> torch.Tensor:
    """Data-space items decoded from codes ``z``; conditional models given ``labels`` (one class or
    one per code; default the first class), unconditional ones refusing them."""
    y = labels_for(model, labels, len(z))
    out = model.decode(z) if y is None else model.decode(z, labels=y)
    return torch.as_tensor(out).detach().float().cpu()


# -- argument checks ---------------------------------------------------------------------------------------
def check_steps(steps) -> int:
    if isinstance(steps, bool) or int(steps) != steps or steps < 2:
        raise UserError(f"steps must be an integer of at least 2 (the two ends), got {steps!r}")
    return int(steps)


def check_positive(name: str, value, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or math.isnan(value) or value <= 0:
        raise UserError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def check_count(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise UserError(f"{name} must be an integer of at least {minimum}, got {value!r}")
    return int(value)
