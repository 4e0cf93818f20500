"""Paths through a latent space: interpolation, the truncation trick and traversals.

- :func:`lerp` and :func:`slerp` make paths between two codes; :func:`interpolate` decodes
  one between two codes, or between two items for models that can encode (VAE, PPCA);
- :func:`truncated_noise` and :func:`sample_truncated`: the truncation trick (Brock et al.
  2019), codes drawn with every :math:`|z_i| \\le` ``threshold``, which trades variety for
  typical-looking items;
- :func:`traverse` varies one latent dimension at a time around a code.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from latentspace.errors import UserError
from latentspace.latent.codes import (check_count, check_positive, check_steps, class_index, decode_codes,
                                      encode_items, labels_for, parse_codes, require_latent)

__all__ = ["lerp", "slerp", "interpolate", "truncated_noise", "sample_truncated", "traverse"]


# -- paths between two codes -------------------------------------------------------------------------
def _endpoints(z0, z1) -> tuple[torch.Tensor, torch.Tensor]:
    z0 = torch.as_tensor(z0, dtype=torch.float32)
    z1 = torch.as_tensor(z1, dtype=torch.float32)
    if z0.shape != z1.shape or z0.ndim != 1:
        raise UserError(f"interpolation needs two codes of the same shape (d,), got {tuple(z0.shape)} "
                        f"and {tuple(z1.shape)}; pass one code at a time")
    return z0, z1


def lerp(z0, z1, steps: int = 10) -> torch.Tensor:
    """Linear interpolation: ``steps`` codes from ``z0`` to ``z1`` inclusive.

    Parameters
    ----------
    z0, z1 : tensor or array of shape (d,)
        The two end codes.
    steps : int
        Number of codes on the path, at least 2.

    Returns
    -------
    torch.Tensor
        ``(steps, d)`` float32; row 0 is ``z0`` and the last row ``z1``.

    Examples
    --------
    >>> lerp([0.0, 0.0], [1.0, 2.0], steps=3).tolist()
    [[0.0, 0.0], [0.5, 1.0], [1.0, 2.0]]
    """
    z0, z1 = _endpoints(z0, z1)
    t = torch.linspace(0, 1, check_steps(steps))[:, None]
    return (1 - t) * z0 + t * z1


def slerp(z0, z1, steps: int = 10) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985): along the great circle from ``z0`` to ``z1``,
    with the norm interpolated linearly.

    For Gaussian latent codes this keeps every code at a typical norm (about ``sqrt(d)``),
    where a straight line would pass through the unlikely region near the origin. Nearly
    parallel codes fall back to :func:`lerp`.

    Parameters
    ----------
    z0, z1 : tensor or array of shape (d,)
    steps : int
        Number of codes on the path, at least 2.

    Returns
    -------
    torch.Tensor
        ``(steps, d)`` float32; row 0 is ``z0`` and the last row ``z1``.

    Examples
    --------
    >>> z = slerp([1.0, 0.0], [0.0, 1.0], steps=3)
    >>> [round(v, 4) for v in z[1].tolist()]
    [0.7071, 0.7071]
    """
    z0, z1 = _endpoints(z0, z1)
    steps = check_steps(steps)
    n0, n1 = z0.norm(), z1.norm()
    if n0 < 1e-12 or n1 < 1e-12:
        return lerp(z0, z1, steps)
    u0, u1 = z0 / n0, z1 / n1
    omega = torch.arccos((u0 @ u1).clamp(-1.0, 1.0))
    if omega < 1e-4 or math.pi - float(omega) < 1e-4:  # parallel or opposite: no unique circle
        return lerp(z0, z1, steps)
    t = torch.linspace(0, 1, steps)[:, None]
    direction = (torch.sin((1 - t) * omega) * u0 + torch.sin(t * omega) * u1) / torch.sin(omega)
    out = direction * ((1 - t) * n0 + t * n1)
    out[0], out[-1] = z0, z1  # exact ends despite rounding
    return out


# -- interpolation ------------------------------------------------------------------------------------
def interpolate(model, a, b, steps: int = 8, method: str = "slerp", *, inputs: str = "auto",
                labels=None) -> torch.Tensor:
    """Decoded items along a path through ``model``'s latent space from ``a`` to ``b``.

    Parameters
    ----------
    model : GenerativeModel
        A fitted latent model (gan, vae, ppca).
    a, b : tensor or array
        Latent codes ``(d,)`` or ``(n, d)``; or, for models that can encode (vae, ppca),
        data-space items ``(*shape)`` or ``(n, *shape)``, which are encoded first.
    steps : int
        Items on each path, ends included.
    method : {"slerp", "linear"}
        Spherical (keeps Gaussian codes at a typical norm) or straight-line interpolation.
    inputs : {"auto", "codes", "items"}
        What ``a`` and ``b`` are; ``auto`` tells from the shape.
    labels : int, str or sequence, optional
        Conditional models (cvae, cgan) only: the class of each path, one class (index or name)
        or one per path. Every code on a path is decoded given its class, and items at the ends
        are encoded given it (a cvae's ends are then :math:`E[z|x, y]`). Default between codes:
        the first class; between items it is required. A path between items of two classes is
        best drawn from codes encoded by hand (``model.encode(x, labels=y)``).

    Returns
    -------
    torch.Tensor
        Data-space items ``(steps, *shape)``, or ``(n, steps, *shape)`` for batches of ends.

    Examples
    --------
    >>> import torch
    >>> import latentspace as ls
    >>> data = ls.data.load("digits")
    >>> ppca = ls.models.create("ppca", n_components=8).fit(data)
    >>> interpolate(ppca, torch.zeros(8), torch.ones(8), steps=4).shape
    torch.Size([4, 1, 8, 8])
    """
    walks = {"slerp": slerp, "linear": lerp, "lerp": lerp}
    if method not in walks:
        raise UserError(f"method must be 'slerp' or 'linear', got {method!r}")
    steps = check_steps(steps)
    ta, items_a, batched_a = parse_codes(model, a, "a", inputs)
    tb, items_b, batched_b = parse_codes(model, b, "b", inputs)
    if len(ta) != len(tb) and 1 not in (len(ta), len(tb)):
        raise UserError(f"a and b hold {len(ta)} and {len(tb)} ends; give the same number (or one of them once)")
    n = max(len(ta), len(tb))
    y = labels_for(model, labels, n, default="required" if items_a or items_b else "first")

    def ends(t, items):
        if not items:
            return t.expand(n, -1)
        if y is None:
            return encode_items(model, t).float().expand(n, -1)
        return encode_items(model, t.expand(n, *t.shape[1:]), y).float()  # each path's end given its class

    za, zb = ends(ta, items_a), ends(tb, items_b)
    z = torch.stack([walks[method](za[i], zb[i], steps) for i in range(n)])
    x = decode_codes(model, z.reshape(n * steps, -1), None if y is None else y.repeat_interleave(steps))
    x = x.reshape(n, steps, *x.shape[1:])
    return x if (batched_a or batched_b) else x[0]


# -- truncation ---------------------------------------------------------------------------------------
def truncated_noise(n: int, dim: int, threshold: float | None = 1.0, seed: int | None = None, *,
                    psi: float = 1.0) -> torch.Tensor:
    """Standard normal codes with every entry inside ``[-threshold, threshold]`` (the truncation trick).

    Each entry is drawn from :math:`\\mathcal N(0, 1)` conditioned on :math:`|z_i| \\le`
    ``threshold`` — what BigGAN's "resample the entries beyond the threshold until none is
    left" gives (Brock et al. 2019) — exactly and in one pass, by the inverse CDF. Smaller
    thresholds give more typical, less varied items. ``psi`` then scales the codes towards
    the prior's mean, the truncation of StyleGAN (Karras et al. 2019) in a Gaussian latent.

    Parameters
    ----------
    n, dim : int
        Number of codes and their width.
    threshold : float or None
        Largest allowed ``|z_i|``; None (or ``inf``) draws plain normal codes, the same as a
        model's ``_noise(n, seed, dim)``.
    seed : int, optional
        The same seed gives the same codes.
    psi : float
        Factor in (0, 1] applied to the codes afterwards.

    Returns
    -------
    torch.Tensor
        ``(n, dim)`` float32.

    Examples
    --------
    >>> z = truncated_noise(1000, 16, threshold=0.5, seed=0)
    >>> bool(z.abs().max() <= 0.5)
    True
    """
    n, dim = check_count("n", n), check_count("dim", dim)
    threshold = check_positive("threshold", threshold, allow_none=True)
    psi = check_positive("psi", psi)
    if psi > 1:
        raise UserError(f"psi must lie in (0, 1], got {psi}")
    g = torch.Generator().manual_seed(int(seed)) if seed is not None else None
    if threshold is None or math.isinf(threshold):
        return torch.randn(n, dim, generator=g) * psi
    # |z| = -ndtri(u), u ~ U(Phi(-t), 1/2): the half-normal truncated at t; then a random sign
    low = 0.5 * math.erfc(threshold / math.sqrt(2.0))
    u = low + (0.5 - low) * torch.rand(n, dim, generator=g, dtype=torch.float64)
    sign = torch.randint(0, 2, (n, dim), generator=g, dtype=torch.float64) * 2 - 1
    z = (-torch.special.ndtri(u)).clamp(0.0, threshold) * sign
    return (z * psi).float()


def sample_truncated(model, n: int, threshold: float | None = 1.0, seed: int | None = None, *,
                     psi: float = 1.0, labels=None) -> torch.Tensor:
    """``n`` items decoded from truncated codes (see :func:`truncated_noise`), in data space.

    It decodes directly: a GAN's rejection sampling is not applied. Conditional models (cvae,
    cgan) draw items of ``labels`` (one class, index or name, or one per item; default the
    classes in turn, as ``sample`` does).

    Examples
    --------
    >>> import latentspace as ls
    >>> ppca = ls.models.create("ppca", n_components=8).fit(ls.data.load("digits"))
    >>> sample_truncated(ppca, 4, threshold=0.7, seed=0).shape
    torch.Size([4, 1, 8, 8])
    """
    d = require_latent(model)
    z = truncated_noise(n, d, threshold, seed, psi=psi)
    return decode_codes(model, z, labels_for(model, labels, len(z), default="cycle"))


# -- traversal ----------------------------------------------------------------------------------------
def _check_dims(dims, d: int) -> list[int]:
    if dims is None:
        return list(range(min(d, 10)))
    dims = [dims] if isinstance(dims, (int, np.integer)) and not isinstance(dims, bool) else list(dims)
    bad = [k for k in dims if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < d]
    if bad or not dims:
        raise UserError(f"dims must be latent dimensions in 0..{d - 1}, got {bad[0] if bad else 'none'!r}")
    return [int(k) for k in dims]


def traverse(model, z0=None, dims=None, span: float = 3.0, steps: int = 7, *, inputs: str = "auto",
             label=None) -> torch.Tensor:
    """Decoded items varying one latent dimension at a time around ``z0``.

    Row ``i`` adds ``linspace(-span, span, steps)`` to dimension ``dims[i]`` of ``z0`` and
    keeps the other dimensions, so an odd ``steps`` puts ``z0``'s own item in the middle column.

    Parameters
    ----------
    model : GenerativeModel
        A fitted latent model (gan, vae, ppca).
    z0 : tensor (d,) or item (*shape), optional
        The code to start from (an item is encoded first, for vae and ppca); the prior's mean
        (zeros) if None.
    dims : int or list of int, optional
        Dimensions to vary; the first ``min(d, 10)`` if None (for PPCA, those of the largest
        variance).
    span : float
        Largest change, in prior standard deviations.
    steps : int
        Items per row.
    label : int or str, optional
        Conditional models (cvae, cgan) only: the class (index or name) every item is decoded
        as; default the first class. An item ``z0`` is encoded given it, and then it is required.

    Returns
    -------
    torch.Tensor
        Data-space items ``(len(dims), steps, *shape)``; draw it with
        :func:`latentspace.plots.traversal_grid`.

    Examples
    --------
    >>> import latentspace as ls
    >>> ppca = ls.models.create("ppca", n_components=8).fit(ls.data.load("digits"))
    >>> traverse(ppca, dims=[0, 1], steps=5).shape
    torch.Size([2, 5, 1, 8, 8])
    """
    d = require_latent(model)
    steps = check_steps(steps)
    span = check_positive("span", span)
    dims = _check_dims(dims, d)
    y = class_index(model, label)
    if z0 is None:
        base = torch.zeros(d)
    else:
        t, items, batched = parse_codes(model, z0, "z0", inputs)
        if batched:
            raise UserError(f"z0 must be one code ({d},) or one item, got a batch of {len(t)}")
        if items and model.conditional and label is None:
            raise UserError(f"{model.name} encodes z0 given its class: pass label=... (its class index or name)")
        base = (encode_items(model, t, y if model.conditional else None).float() if items else t)[0]
    z = base.repeat(len(dims), steps, 1)
    offsets = torch.linspace(-span, span, steps)
    for i, k in enumerate(dims):
        z[i, :, k] += offsets
    x = decode_codes(model, z.reshape(-1, d), y if model.conditional else None)
    return x.reshape(len(dims), steps, *x.shape[1:])
