r"""Inversion and completion: the codes whose decoded items match given (partial) items.

:func:`invert` finds the code whose decoded item matches an item, on all its features or on a
visible part only (``mask``):

.. math::
    \hat z = \arg\min_z \; \| m \odot (G(z) - x) \|^2 + \lambda \|z\|^2

(squared error in model space, where images lie in [-1, 1]); :func:`complete` fills the hidden
part of partial items with the decoded :math:`G(\hat z)`. How the minimum is found is the
model's declared ``inversion``: ``"gradient"`` (Adam on the codes through
``model.differentiable_decoder()``: GANs, VAEs) or ``"exact"`` (``model.invert_exact``, in closed
form: PPCA's linear decoder).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from latentspace.errors import UserError
from latentspace.latent.codes import (as_float, check_count, check_positive, decode_codes, labels_for,
                                      require_latent)

__all__ = ["invert", "complete"]


def _items(model, x) -> tuple[torch.Tensor, bool]:
    """Data-space items ``(n, *shape)`` (NaN allowed: it marks hidden features) and whether ``x`` was a batch."""
    shape = tuple(model.info_.shape)
    t = as_float(x)
    if tuple(t.shape) == shape:
        return t[None], False
    if t.ndim != len(shape) + 1 or tuple(t.shape[1:]) != shape or len(t) == 0:
        raise UserError(f"items have shape {tuple(t.shape)}, but the model was fitted on {shape}; "
                        f"give (n, {', '.join(map(str, shape))}) or one item")
    return t, True


def _mask(mask, x: torch.Tensor) -> torch.Tensor:
    """A boolean visibility mask ``x.shape`` (True: visible), from ``mask`` or from x's NaNs."""
    if mask is None:
        m = torch.isfinite(x)
    else:
        m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask).cpu()
        if tuple(m.shape) not in (tuple(x.shape), tuple(x.shape[1:])):
            raise UserError(f"mask has shape {tuple(m.shape)} but the items have {tuple(x.shape)}; give one "
                            f"mask per item {tuple(x.shape)} or one for all {tuple(x.shape[1:])}")
        if m.dtype != torch.bool:
            if not bool(((m == 0) | (m == 1)).all()):
                raise UserError("mask must hold booleans or 0/1 (1: visible, 0: hidden)")
            m = m != 0
        m = m.expand_as(x)
        if bool((m & ~torch.isfinite(x)).any()):
            raise UserError("items have NaN or inf where the mask shows them; hide those features or fix the values")
    empty = ~m.flatten(1).any(1)
    if bool(empty.any()):
        raise UserError(f"the mask hides every feature of item {int(empty.nonzero()[0])}; show at least one")
    return m


def _descend(decode, x: torch.Tensor, m: torch.Tensor, z: torch.Tensor, *, steps: int, lr: float,
             prior_weight: float, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Adam on codes ``z`` (R, b, d) for items ``x`` (b, *shape) (of classes ``y`` (b,) for conditional
    models); returns (codes, objective (R, b))."""
    z = z.clone().requires_grad_(True)
    yr = y.repeat(z.shape[0]) if y is not None else None  # codes are flattened restart-major
    # beta2 = 0.9: the objective is deterministic, and a short memory of the gradient's scale keeps
    # the steps from shrinking with the gradient near the optimum (0.999 stalls there)
    opt = torch.optim.Adam([z], lr=lr, betas=(0.9, 0.9))
    r, b, d = z.shape

    def objective():
        out = decode(z.reshape(r * b, d), yr).reshape(r, b, *x.shape[1:])
        err = ((out - x) * m).pow(2).flatten(2).sum(2)
        return err + prior_weight * z.pow(2).sum(2)

    for step in range(steps):
        for group in opt.param_groups:  # cosine decay to 1% of lr: a precise finish
            group["lr"] = lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(objective().sum(), z)
        z.grad = grad
        opt.step()
    with torch.no_grad():
        return z.detach(), objective()


def _gradient_codes(model, xm, m, y, d: int, *, steps: int, lr: float, restarts: int, seed, prior_weight: float,
                    batch_size: int) -> torch.Tensor:
    """The best of ``restarts`` Adam descents per item through the model's differentiable decoder."""
    device = model.device_
    g = torch.Generator().manual_seed(int(seed)) if seed is not None else None
    starts = torch.randn(restarts, len(xm), d, generator=g)  # drawn at once: batch_size does not matter
    z = torch.empty(len(xm), d)
    with model.differentiable_decoder() as decode:
        for i in range(0, len(xm), batch_size):
            sl = slice(i, i + batch_size)
            zs, obj = _descend(decode, xm[sl].to(device), m[sl].to(device).float(), starts[:, sl].to(device),
                               steps=steps, lr=lr, prior_weight=prior_weight,
                               y=None if y is None else y[sl].to(device))
            best = obj.argmin(0)
            z[sl] = zs[best, torch.arange(zs.shape[1], device=best.device)].cpu()
    return z


def invert(model, x, mask=None, *, steps: int = 500, lr: float = 0.05, restarts: int = 4, seed: int | None = 0,
           prior_weight: float = 0.1, batch_size: int = 128, labels=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Latent codes whose decoded items match ``x`` on its visible features.

    Minimises, for each item, :math:`\\| m \\odot (G(z) - x) \\|^2 + \\lambda \\|z\\|^2` with
    :math:`G` the decoder in model space (images in [-1, 1]) and :math:`\\lambda` =
    ``prior_weight``: the negative log posterior of :math:`z` under the prior
    :math:`\\mathcal N(0, I)` and Gaussian noise of variance :math:`\\lambda` on the visible
    features. Models with ``inversion == "gradient"`` (GANs, VAEs) take ``steps`` Adam steps from
    ``restarts`` random codes per item (``batch_size`` items with all their starts at once) and
    keep the best; models with ``inversion == "exact"`` (PPCA, whose decoder is linear) get the
    exact minimiser (``steps``, ``lr``, ``restarts`` and ``seed`` are unused; for PPCA with
    ``prior_weight = model.noise_variance_`` it is the posterior mean, ``encode`` on complete items).

    Conditional models (cvae, cgan) invert their decoder at the items' classes: :math:`G(z, y)`.

    Parameters
    ----------
    model : GenerativeModel
        A fitted latent model (gan, cgan, vae and its flavours, ppca), or a model trained for
        completion (``completes``: inpaint), which fills the items in itself.
    x : tensor or array
        Data-space items ``(n, *shape)`` or one item ``(*shape)``. NaN marks hidden features
        when no ``mask`` is given.
    mask : tensor or array of bool or 0/1, optional
        Visible features (True or 1), of shape ``x.shape`` or one item's shape (the same for
        every item). Hidden features of ``x`` are never read.
    steps : int
        Adam steps; the learning rate decays from ``lr`` to ``lr / 100`` (cosine).
    lr : float
        Adam learning rate, in prior standard deviations.
    restarts : int
        Random starts per item; the one with the lowest objective is kept.
    seed : int, optional
        Draws the starting codes; the same seed gives the same result.
    prior_weight : float
        :math:`\\lambda` above, at least 0: the variance of the assumed noise on the visible
        features (model space). Larger values keep codes more typical; 0 fits the visible
        features alone. On MNIST completions 0.1 to 2 work better than 0.01 (see
        ``benchmarks/inversion_mnist.py``).
    batch_size : int
        Items optimised together (each with its ``restarts`` codes).
    labels : int, str or sequence, optional
        The items' classes (one class, index or name, or one per item): required by conditional
        models, refused by the others.

    Returns
    -------
    z : torch.Tensor
        Codes ``(n, d)`` (or ``(d,)`` for one item).
    reconstruction : torch.Tensor
        The decoded items in data space, ``x``'s shape.

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("digits")
    >>> ppca = ls.models.create("ppca", n_components=16).fit(data)
    >>> z, x_hat = invert(ppca, data.test.to_data()[:3])
    >>> z.shape, x_hat.shape
    (torch.Size([3, 16]), torch.Size([3, 1, 8, 8]))
    """
    d = require_latent(model)
    if model.inversion not in ("gradient", "exact"):
        raise UserError(f"{model.name!r} has no differentiable decoder to invert through; use a gan, vae or ppca model")
    steps, restarts = check_count("steps", steps), check_count("restarts", restarts)
    batch_size = check_count("batch_size", batch_size)
    lr = check_positive("lr", lr)
    if isinstance(prior_weight, bool) or not isinstance(prior_weight, (int, float, np.integer, np.floating)) \
            or not prior_weight >= 0 or math.isinf(prior_weight):
        raise UserError(f"prior_weight must be a number of at least 0, got {prior_weight!r}")
    items, batched = _items(model, x)
    m = _mask(mask, items)
    y = labels_for(model, labels, len(items), default="required", what="labels")
    xm = model.info_.to_model(torch.where(m, items, torch.zeros(()))) * m  # hidden features: exactly 0
    if model.inversion == "exact":
        z = torch.as_tensor(model.invert_exact(xm, m, float(prior_weight))).float().cpu()
    else:
        z = _gradient_codes(model, xm, m, y, d, steps=steps, lr=lr, restarts=restarts, seed=seed,
                            prior_weight=float(prior_weight), batch_size=batch_size)
    x_hat = decode_codes(model, z, y)
    return (z, x_hat) if batched else (z[0], x_hat[0])


def complete(model, x, mask=None, **options) -> torch.Tensor:
    """Fill in the hidden features of partial items: visible ones from ``x``, hidden ones decoded
    from :func:`invert`'s codes.

    Parameters
    ----------
    model : GenerativeModel
        A fitted latent model (gan, cgan, vae and its flavours, ppca), or a model trained for
        completion (``completes``: inpaint), which fills the items in itself.
    x : tensor or array
        Data-space items ``(n, *shape)`` or one item; NaN marks hidden features when ``mask`` is None.
    mask : tensor or array, optional
        Visible features (True or 1), of ``x``'s shape or one item's shape.
    **options
        Passed to :func:`invert` (``steps``, ``restarts``, ``seed``, ``prior_weight``, ``labels``
        (the items' classes, which conditional models need), ...); not used by models that complete.

    Returns
    -------
    torch.Tensor
        The completed items in data space, ``x``'s shape.

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("digits")
    >>> ppca = ls.models.create("ppca", n_components=16).fit(data)
    >>> x = data.test.to_data()[:2].clone()
    >>> x[:, :, 4:] = float("nan")              # the bottom half is missing
    >>> bool(complete(ppca, x).isfinite().all())
    True
    """
    if model.completes:                  # trained for completion: it fills in the items itself
        model._check_fitted()
        items, batched = _items(model, x)
        out = model.complete(items, _mask(mask, items))
        return out if batched else out[0]
    require_latent(model)
    items, batched = _items(model, x)
    m = _mask(mask, items)
    _, x_hat = invert(model, items, m, **options)
    out = torch.where(m, items, x_hat)
    return out if batched else out[0]
