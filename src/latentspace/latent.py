r"""Working in a model's latent space: interpolation, truncation, traversal, inversion and completion.

Every latent model maps codes :math:`z \in \mathbb R^d` to items: a GAN's noise (``z_dim``), a
VAE's latent (``latent_dim``), PPCA's components (``n_components``), all with the prior
:math:`\mathcal N(0, I)`.

- :func:`lerp` and :func:`slerp` make paths between two codes; :func:`interpolate` decodes
  one between two codes, or between two items for models that can encode (VAE, PPCA);
- :func:`truncated_noise` and :func:`sample_truncated`: the truncation trick (Brock et al.
  2019), codes drawn with every :math:`|z_i| \le` ``threshold``, which trades variety for
  typical-looking items;
- :func:`traverse` varies one latent dimension at a time around a code;
- :func:`invert` finds the code whose decoded item matches an item, on all its features or
  on a visible part only (``mask``), by gradient descent through the decoder:

  .. math::
      \hat z = \arg\min_z \; \| m \odot (G(z) - x) \|^2 + \lambda \|z\|^2

  (squared error in model space, where images lie in [-1, 1]); :func:`complete` fills the
  hidden part of partial items with the decoded :math:`G(\hat z)`.

Conditional models (``cvae``, ``cgan``) decode a code *given a class* :math:`y`, and the cvae
encodes given it too (:math:`E[z|x, y]`: the code carries the style, the label the class).
Every function here takes the class: ``labels=`` (one class, or one per item or path) or, for
:func:`traverse`, ``label=``; a class is an index or a class name. What decodes codes without
items (:func:`interpolate` between codes, :func:`traverse`) uses the first class by default;
what encodes items (:func:`invert`, and interpolation between items of a cvae) needs the
items' classes. Unconditional models refuse labels.

Examples
--------
>>> import torch
>>> import latentspace as ls
>>> from latentspace.latent import complete, interpolate
>>> data = ls.data.load("digits")
>>> ppca = ls.models.create("ppca", n_components=16).fit(data)
>>> x = data.test.to_data()[:2]
>>> interpolate(ppca, x[0], x[1], steps=5).shape
torch.Size([5, 1, 8, 8])
>>> mask = torch.zeros(1, 8, 8, dtype=torch.bool)
>>> mask[:, :4] = True                      # the top half is visible
>>> complete(ppca, x, mask).shape
torch.Size([2, 1, 8, 8])
"""

from __future__ import annotations

import math

import numpy as np
import torch

from latentspace.errors import UserError

__all__ = ["lerp", "slerp", "latent_size", "can_encode", "is_conditional", "class_index", "encode_items",
           "has_discrete_codes", "interpolate", "truncated_noise", "sample_truncated", "traverse", "invert", "complete"]


# -- paths between two codes -------------------------------------------------------------------------
def _endpoints(z0, z1) -> tuple[torch.Tensor, torch.Tensor]:
    z0 = torch.as_tensor(z0, dtype=torch.float32)
    z1 = torch.as_tensor(z1, dtype=torch.float32)
    if z0.shape != z1.shape or z0.ndim != 1:
        raise UserError(f"interpolation needs two codes of the same shape (d,), got {tuple(z0.shape)} "
                        f"and {tuple(z1.shape)}; pass one code at a time")
    return z0, z1


def _check_steps(steps) -> int:
    if isinstance(steps, bool) or int(steps) != steps or steps < 2:
        raise UserError(f"steps must be an integer of at least 2 (the two ends), got {steps!r}")
    return int(steps)


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
    t = torch.linspace(0, 1, _check_steps(steps))[:, None]
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
    steps = _check_steps(steps)
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


# -- what a model offers --------------------------------------------------------------------------------
def _overrides(model, method: str) -> bool:
    """Whether ``model`` implements ``method`` itself (not the base class's NotImplementedError)."""
    from latentspace.models.base import GenerativeModel

    impl = getattr(type(model), method, None)
    return impl is not None and impl is not getattr(GenerativeModel, method)


def can_encode(model) -> bool:
    """Whether ``model`` maps data-space items to latent codes (VAE, PPCA)."""
    return _overrides(model, "encode")


def is_conditional(model) -> bool:
    """Whether ``model`` decodes given a class label (``cvae``, ``cgan``; the cvae encodes given it too)."""
    return bool(getattr(model, "conditional", False))


def _class_names(model) -> list[str]:
    info = getattr(model, "info_", None)
    return [str(c) for c in (info.classes or [])] if info is not None else []


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
    name = getattr(model, "name", type(model).__name__)
    if not is_conditional(model):
        if label is not None:
            raise UserError(f"{name!r} is unconditional and takes no class label; drop the label "
                            "(labels are for cvae and cgan)")
        return 0
    names = _class_names(model)
    k = len(names)
    if label is None:
        return 0
    if (isinstance(label, torch.Tensor) and label.numel() == 1) or (isinstance(label, np.ndarray) and label.size == 1):
        label = label.item()
    if isinstance(label, str):
        key = label.strip()
        if key in names:
            return names.index(key)
        if key.isdigit() and int(key) < k:
            return int(key)
    elif isinstance(label, (int, np.integer)) and not isinstance(label, bool) and 0 <= int(label) < k:
        return int(label)
    elif isinstance(label, (float, np.floating)) and float(label).is_integer() and 0 <= int(label) < k:
        return int(label)
    shown = ", ".join(names) if k <= 20 else ", ".join(names[:20]) + ", ..."
    raise UserError(f"{label!r} is not a class of {name}: give an index in 0..{k - 1} or a class name ({shown})")


def _labels(model, labels, n: int, *, default: str = "first", what: str = "labels") -> torch.Tensor | None:
    """Labels ``(n,)`` (int64) for a conditional model, None for an unconditional one (which refuses labels).

    ``labels`` is one class (index or name) for all ``n``, or one per item; None gives the first
    class (``default="first"``), the classes in turn (``"cycle"``), or a UserError (``"required"``).
    """
    name = getattr(model, "name", type(model).__name__)
    if not is_conditional(model):
        if labels is not None:
            raise UserError(f"{name!r} is unconditional and takes no {what}; drop them (labels are for cvae "
                            "and cgan)")
        return None
    k = len(_class_names(model))
    if labels is None:
        if default == "required":
            raise UserError(f"{name} is conditional and needs the items' classes: pass {what}=... (one class, "
                            "or one per item)")
        return torch.arange(n) % k if default == "cycle" else torch.zeros(n, dtype=torch.long)
    if isinstance(labels, (str, int, float, np.integer, np.floating)) or (
            isinstance(labels, (torch.Tensor, np.ndarray)) and labels.ndim == 0):
        return torch.full((n,), class_index(model, labels), dtype=torch.long)
    if isinstance(labels, (list, tuple)) and any(isinstance(v, str) for v in labels):
        labels = [class_index(model, v) for v in labels]
    y = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels).cpu()
    if y.ndim != 1 or len(y) != n:
        raise UserError(f"{what} must be one class or one per item ({n}), got shape {tuple(y.shape)}")
    if y.is_floating_point() and not bool((y == y.round()).all()):
        raise UserError(f"{what} must be integer class indices or class names")
    y = y.long()
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= k):
        raise UserError(f"{what} must lie in 0..{k - 1} (the classes of {name})")
    return y


def latent_size(model) -> int | None:
    """Width of a model's latent space, or None when it has none (KDE, GMM).

    GANs and VAEs name it ``z_dim`` (``latent_dim`` when set), PPCA its number of components.

    Examples
    --------
    >>> import latentspace as ls
    >>> latent_size(ls.models.create("kde")) is None
    True
    """
    if not _overrides(model, "decode"):
        return None
    for attr in ("z_dim", "latent_dim"):
        value = getattr(model, attr, None)
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0:
            return int(value)
    pca = getattr(model, "pca_", None)
    if pca is not None and hasattr(pca, "k"):
        return int(pca.k)
    return None


def _latent_dim(model) -> int:
    """The latent width of a fitted latent model, or a UserError saying what to use instead."""
    if getattr(model, "info_", None) is None and hasattr(model, "_check_fitted"):
        model._check_fitted()
    d = latent_size(model)
    if d is None and has_discrete_codes(model):
        raise UserError(f"{model.name!r} encodes items as a grid of discrete codes, with no continuous latent "
                        "dimensions to walk along or vary; draw its reconstructions or latents instead, or use a vae")
    if d is None:
        raise UserError(f"{getattr(model, 'name', type(model).__name__)!r} has no latent space; "
                        "use a gan, vae or ppca model")
    return d


def has_discrete_codes(model) -> bool:
    """Whether ``model`` encodes items to discrete codes only (a VQ-VAE's grid of codebook indices):
    it encodes, but has no continuous latent width (:func:`latent_size` is None)."""
    return can_encode(model) and latent_size(model) is None


def _as_float(v) -> torch.Tensor:
    return torch.as_tensor(np.asarray(v) if not isinstance(v, torch.Tensor) else v, dtype=torch.float32).cpu()


def _parse(model, v, what: str, inputs: str = "auto") -> tuple[torch.Tensor, bool, bool]:
    """``(t, is_items, batched)``: ``v`` as a batch of codes ``(n, d)`` or of items ``(n, *shape)``."""
    if inputs not in ("auto", "codes", "items"):
        raise UserError(f"inputs must be 'auto', 'codes' or 'items', got {inputs!r}")
    d = _latent_dim(model)
    shape = tuple(model.info_.shape)
    t = _as_float(v)
    is_code = t.ndim in (1, 2) and tuple(t.shape[-1:]) == (d,)
    is_item = t.ndim in (len(shape), len(shape) + 1) and tuple(t.shape[t.ndim - len(shape):]) == shape
    if inputs == "auto" and is_code and is_item and not can_encode(model):
        inputs = "codes"  # a model that cannot encode only takes codes
    if inputs == "auto" and is_code and is_item:
        raise UserError(f"{what} of shape {tuple(t.shape)} could be latent codes or items; "
                        "pass inputs='codes' or inputs='items'")
    if (inputs == "codes" and not is_code) or (inputs == "items" and not is_item) or not (is_code or is_item):
        raise UserError(f"{what} has shape {tuple(t.shape)}; give latent codes ({d},) or (n, {d}), "
                        f"or items {shape} or (n, {', '.join(map(str, shape))})")
    if is_code and inputs != "items":
        return (t if t.ndim == 2 else t[None]), False, t.ndim == 2
    if not can_encode(model):
        raise UserError(f"{model.name!r} cannot encode items; pass latent codes of shape ({d},), "
                        "e.g. invert(model, x)[0]")
    batched = t.ndim == len(shape) + 1
    return (t if batched else t[None]), True, batched


def encode_items(model, x: torch.Tensor, labels=None, **options) -> torch.Tensor:
    """``model.encode`` of data-space items ``x`` ``(n, *shape)``, given their classes for a conditional model.

    ``labels``: one class (index or name) or one per item; required by conditional models
    (the cvae's :math:`E[z|x, y]`), refused by the others. ``options`` go to ``encode``.
    """
    y = _labels(model, labels, len(x), default="required")
    z = model.encode(x, **options) if y is None else model.encode(x, labels=y, **options)
    return torch.as_tensor(z).detach().cpu()


def _codes(model, v, what: str, inputs: str = "auto", labels=None) -> tuple[torch.Tensor, bool]:
    """Codes ``(n, d)`` from codes or (encodable) items, and whether ``v`` was a batch."""
    t, items, batched = _parse(model, v, what, inputs)
    return (encode_items(model, t, labels).float() if items else t), batched


def _decode(model, z: torch.Tensor, labels=None) -> torch.Tensor:
    """Data-space items decoded from codes ``z``; conditional models given ``labels`` ``(n,)``
    (default: the first class), unconditional ones refusing them."""
    y = _labels(model, labels, len(z))
    out = model.decode(z) if y is None else model.decode(z, labels=y)
    return torch.as_tensor(out).detach().float().cpu()


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
    steps = _check_steps(steps)
    ta, items_a, batched_a = _parse(model, a, "a", inputs)
    tb, items_b, batched_b = _parse(model, b, "b", inputs)
    if len(ta) != len(tb) and 1 not in (len(ta), len(tb)):
        raise UserError(f"a and b hold {len(ta)} and {len(tb)} ends; give the same number (or one of them once)")
    n = max(len(ta), len(tb))
    y = _labels(model, labels, n, default="required" if items_a or items_b else "first")

    def ends(t, items):
        if not items:
            return t.expand(n, -1)
        if y is None:
            return encode_items(model, t).float().expand(n, -1)
        return encode_items(model, t.expand(n, *t.shape[1:]), y).float()  # each path's end given its class

    za, zb = ends(ta, items_a), ends(tb, items_b)
    z = torch.stack([walks[method](za[i], zb[i], steps) for i in range(n)])
    x = _decode(model, z.reshape(n * steps, -1), None if y is None else y.repeat_interleave(steps))
    x = x.reshape(n, steps, *x.shape[1:])
    return x if (batched_a or batched_b) else x[0]


# -- truncation ---------------------------------------------------------------------------------------
def _check_positive(name: str, value, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or math.isnan(value) or value <= 0:
        raise UserError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _check_count(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise UserError(f"{name} must be an integer of at least {minimum}, got {value!r}")
    return int(value)


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
    n, dim = _check_count("n", n), _check_count("dim", dim)
    threshold = _check_positive("threshold", threshold, allow_none=True)
    psi = _check_positive("psi", psi)
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
    d = _latent_dim(model)
    z = truncated_noise(n, d, threshold, seed, psi=psi)
    return _decode(model, z, _labels(model, labels, len(z), default="cycle"))


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
        :func:`latentspace.plots.latent.traversal_grid`.

    Examples
    --------
    >>> import latentspace as ls
    >>> ppca = ls.models.create("ppca", n_components=8).fit(ls.data.load("digits"))
    >>> traverse(ppca, dims=[0, 1], steps=5).shape
    torch.Size([2, 5, 1, 8, 8])
    """
    d = _latent_dim(model)
    steps = _check_steps(steps)
    span = _check_positive("span", span)
    dims = _check_dims(dims, d)
    y = class_index(model, label)
    if z0 is None:
        base = torch.zeros(d)
    else:
        t, items, batched = _parse(model, z0, "z0", inputs)
        if batched:
            raise UserError(f"z0 must be one code ({d},) or one item, got a batch of {len(t)}")
        if items and is_conditional(model) and label is None:
            raise UserError(f"{model.name} encodes z0 given its class: pass label=... (its class index or name)")
        base = (encode_items(model, t, y if is_conditional(model) else None).float() if items else t)[0]
    z = base.repeat(len(dims), steps, 1)
    offsets = torch.linspace(-span, span, steps)
    for i, k in enumerate(dims):
        z[i, :, k] += offsets
    x = _decode(model, z.reshape(-1, d), y if is_conditional(model) else None)
    return x.reshape(len(dims), steps, *x.shape[1:])


# -- inversion ----------------------------------------------------------------------------------------
def _items(model, x) -> tuple[torch.Tensor, bool]:
    """Data-space items ``(n, *shape)`` (NaN allowed: it marks hidden features) and whether ``x`` was a batch."""
    shape = tuple(model.info_.shape)
    t = _as_float(x)
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


def _generator(model):
    """(decode, restore): a differentiable map ``decode(z, y)`` from codes (and, for conditional
    models, labels; None otherwise) to model-space items, and a cleanup."""
    from latentspace.models.gan import GAN
    from latentspace.models.vae import VAE

    if isinstance(model, GAN):
        G = model.eval_net("G")
        was = G.training
        G.eval()
        if is_conditional(model):
            return (lambda z, y: G(z, y)), lambda: G.train(was)
        return (lambda z, y: G(z)), lambda: G.train(was)
    if isinstance(model, VAE):
        model.set_train(False)
        return model._decode_mean, lambda: None
    raise UserError(f"{model.name!r} has no differentiable decoder to invert through; use a gan, vae or ppca model")


def _ppca_codes(model, xm: torch.Tensor, m: torch.Tensor, prior_weight: float) -> torch.Tensor:
    """The exact minimiser for PPCA's linear decoder: a ridge regression on the visible features."""
    w = torch.from_numpy(model.components_)                      # (D, k) model space
    mu = torch.from_numpy(model.pca_.mean)
    x = xm.reshape(len(xm), -1).double() - mu
    mk = m.reshape(len(m), -1).double()
    k = w.shape[1]
    jitter = 1e-10 * float((w ** 2).sum(0).max().clamp_min(1e-30))
    eye = torch.eye(k, dtype=torch.float64) * (prior_weight + jitter)
    out = []
    chunk = max(1, 2 ** 24 // max(1, w.numel()))
    for i in range(0, len(x), chunk):
        mi, xi = mk[i:i + chunk], x[i:i + chunk]
        a = torch.einsum("nd,dk,dj->nkj", mi, w, w) + eye
        b = torch.einsum("nd,dk->nk", mi * xi, w)
        out.append(torch.linalg.solve(a, b))
    return torch.cat(out).float()


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


def invert(model, x, mask=None, *, steps: int = 500, lr: float = 0.05, restarts: int = 4, seed: int | None = 0,
           prior_weight: float = 0.1, batch_size: int = 128, labels=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Latent codes whose decoded items match ``x`` on its visible features.

    Minimises, for each item, :math:`\\| m \\odot (G(z) - x) \\|^2 + \\lambda \\|z\\|^2` with
    :math:`G` the decoder in model space (images in [-1, 1]) and :math:`\\lambda` =
    ``prior_weight``: the negative log posterior of :math:`z` under the prior
    :math:`\\mathcal N(0, I)` and Gaussian noise of variance :math:`\\lambda` on the visible
    features. GANs and VAEs take ``steps`` Adam steps from ``restarts`` random codes per item
    (``batch_size`` items with all their starts at once) and keep the best; PPCA, whose decoder is linear,
    gets the exact minimiser (``steps``, ``lr``, ``restarts`` and ``seed`` are unused; with
    ``prior_weight = model.noise_variance_`` it is the posterior mean, ``encode`` on
    complete items).

    Conditional models (cvae, cgan) invert their decoder at the items' classes: :math:`G(z, y)`.

    Parameters
    ----------
    model : GenerativeModel
        A fitted latent model (gan, cgan, vae and its flavours, ppca).
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
    from latentspace.models.classical import PPCA

    d = _latent_dim(model)
    steps, restarts = _check_count("steps", steps), _check_count("restarts", restarts)
    batch_size = _check_count("batch_size", batch_size)
    lr = _check_positive("lr", lr)
    if isinstance(prior_weight, bool) or not isinstance(prior_weight, (int, float, np.integer, np.floating)) \
            or not prior_weight >= 0 or math.isinf(prior_weight):
        raise UserError(f"prior_weight must be a number of at least 0, got {prior_weight!r}")
    items, batched = _items(model, x)
    m = _mask(mask, items)
    y = _labels(model, labels, len(items), default="required", what="labels")
    xm = model.info_.to_model(torch.where(m, items, torch.zeros(()))) * m  # hidden features: exactly 0
    if isinstance(model, PPCA):
        z = _ppca_codes(model, xm, m, float(prior_weight))
    else:
        decode, restore = _generator(model)
        device = getattr(model, "device_", torch.device("cpu"))
        g = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        starts = torch.randn(restarts, len(items), d, generator=g)  # drawn at once: batch_size does not matter
        z = torch.empty(len(items), d)
        try:
            for i in range(0, len(items), batch_size):
                sl = slice(i, i + batch_size)
                zs, obj = _descend(decode, xm[sl].to(device), m[sl].to(device).float(), starts[:, sl].to(device),
                                   steps=steps, lr=lr, prior_weight=float(prior_weight),
                                   y=None if y is None else y[sl].to(device))
                best = obj.argmin(0)
                z[sl] = zs[best, torch.arange(zs.shape[1], device=best.device)].cpu()
        finally:
            restore()
    x_hat = _decode(model, z, y)
    return (z, x_hat) if batched else (z[0], x_hat[0])


def complete(model, x, mask=None, **options) -> torch.Tensor:
    """Fill in the hidden features of partial items: visible ones from ``x``, hidden ones decoded
    from :func:`invert`'s codes.

    Parameters
    ----------
    model : GenerativeModel
        A fitted latent model (gan, cgan, vae and its flavours, ppca).
    x : tensor or array
        Data-space items ``(n, *shape)`` or one item; NaN marks hidden features when ``mask`` is None.
    mask : tensor or array, optional
        Visible features (True or 1), of ``x``'s shape or one item's shape.
    **options
        Passed to :func:`invert` (``steps``, ``restarts``, ``seed``, ``prior_weight``, ``labels``
        (the items' classes, which conditional models need), ...).

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
    _latent_dim(model)
    items, batched = _items(model, x)
    m = _mask(mask, items)
    _, x_hat = invert(model, items, m, **options)
    out = torch.where(m, items, x_hat)
    return out if batched else out[0]
