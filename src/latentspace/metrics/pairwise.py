r"""What the two-set scores of :mod:`latentspace.metrics.scores` share: input checks and exact distances.

Inputs are validated into CPU float64 ``(n, d)`` tensors, with a one-line :class:`UserError` for
anything else. Nearest-neighbour scores are exact: squared Euclidean distances, computed as
:func:`torch.cdist` does for large inputs (float32, on data centred on the reference set's mean)
in row blocks of at most 2**23 entries, so that 10,000 x 10,000 points never need the full
distance matrix at once; all comparisons are between squared distances computed the same way.
A ball of radius ``r`` around a point is closed: a point at distance exactly ``r`` lies inside.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from latentspace.errors import UserError

#: entries of one block of pairwise distances (float32): 2**23 is 32 MiB
_BLOCK_ELEMENTS = 2**23


# --------------------------------------------------------------------------- input checks


def _as_tensor(x, name: str) -> torch.Tensor:
    """``x`` (tensor, array or nested list) as a CPU float64 tensor, or a one-line UserError."""
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
    else:
        try:
            t = torch.as_tensor(np.asarray(x))
        except (TypeError, ValueError, RuntimeError) as err:
            raise UserError(f"{name} must be an array or tensor of numbers, got {type(x).__name__} ({err})") from None
    if t.is_complex() or t.dtype == torch.bool:
        raise UserError(f"{name} must hold real numbers, got dtype {t.dtype}; pass float features")
    return t.to(torch.float64)


def _check_finite(t: torch.Tensor, name: str) -> None:
    bad = ~torch.isfinite(t)
    if bad.any():
        rows = int(bad.reshape(len(t), -1).any(1).sum())
        raise UserError(f"{name} contains NaN or inf in {rows} of {len(t)} rows; drop or fix those rows before scoring")


def _features(x, name: str, min_rows: int = 1, why: str = "") -> torch.Tensor:
    """A validated ``(n, d)`` float64 feature tensor with at least ``min_rows`` rows."""
    t = _as_tensor(x, name)
    if t.ndim != 2 or t.shape[1] == 0:
        raise UserError(f"{name} must be feature vectors of shape (n, d), got shape {tuple(t.shape)}; "
                        "flatten items or pass them through a feature extractor first")
    if len(t) < min_rows:
        raise UserError(f"{name} has {len(t)} rows but needs at least {min_rows}{why}; pass more items")
    _check_finite(t, name)
    return t


def _same_dim(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    if a.shape[1:] != b.shape[1:]:
        raise UserError(f"{name_a} has items of shape {tuple(a.shape[1:])} but {name_b} has {tuple(b.shape[1:])}; "
                        "compute both with the same feature extractor")


def _pair(real, fake, min_rows: int = 1, why: str = "", names=("real", "fake")):
    a = _features(real, names[0], min_rows, why)
    b = _features(fake, names[1], min_rows, why)
    _same_dim(a, b, *names)
    return a, b


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise UserError(f"k must be a positive integer, got {k!r}")
    return int(k)


# --------------------------------------------------------------------------- distances


#: features up to this width get float64 distances
_FLOAT64_MAX_DIM = 16


def _centred(reference: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Copies of all sets centred on ``reference``'s mean (distances unchanged, less cancellation).

    float32, except for low-dimensional features (points): there the squared-distance expansion
    loses tiny distances to cancellation in float32 (neighbours 1e-4 apart in PacGAN's ring
    read as 0), while float64 costs little at that width.
    """
    centre = reference.mean(0)
    dtype = torch.float64 if reference.shape[1] <= _FLOAT64_MAX_DIM else torch.float32
    return [(t - centre).to(dtype) for t in (reference, *others)]


def _blocks(a: torch.Tensor, b: torch.Tensor, exclude_self: bool = False):
    """Yield ``(start, d2)``: squared distances of rows ``start:start + m`` of ``a`` to all rows of ``b``.

    ``|a|^2 + |b|^2 - 2 a.b`` (clamped at 0), the expansion :func:`torch.cdist` uses for large
    inputs, without its square root. With ``exclude_self`` (``a`` is ``b``) each row's distance
    to itself is set to +inf.
    """
    a_sq = (a * a).sum(1, keepdim=True)
    b_sq = (b * b).sum(1)
    step = max(1, _BLOCK_ELEMENTS // max(1, len(b)))
    for start in range(0, len(a), step):
        d2 = torch.addmm(a_sq[start:start + step], a[start:start + step], b.T, alpha=-2.0)
        d2.add_(b_sq).clamp_min_(0.0)
        if exclude_self:
            rows = torch.arange(len(d2))
            d2[rows, rows + start] = math.inf
        yield start, d2


def _knn_radii_sq(x: torch.Tensor, k: int) -> torch.Tensor:
    """Squared distance from each row of ``x`` to its ``k``-th nearest other row of ``x``."""
    radii = torch.empty(len(x), dtype=x.dtype)
    for start, d2 in _blocks(x, x, exclude_self=True):
        radii[start:start + len(d2)] = d2.topk(k, dim=1, largest=False).values[:, -1]
    return radii


def _nearest(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance from each row of ``a`` to its nearest row of ``b``, and that row's index."""
    dist = torch.empty(len(a), dtype=a.dtype)
    index = torch.empty(len(a), dtype=torch.long)
    for start, d2 in _blocks(a, b):
        dist[start:start + len(d2)], index[start:start + len(d2)] = d2.min(1)
    exact = (a.double() - b[index].double()).norm(dim=1)  # the expansion's rounding, removed
    return exact.to(a.dtype), index
