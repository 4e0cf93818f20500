"""Class labels given by a user: one class or one per item, each an index or a class name.

The one place where requested labels are checked, for the conditional models (``sample(n,
labels=...)``) and the latent tools alike.
"""

from __future__ import annotations

import numpy as np
import torch

from latentspace.errors import UserError


def class_index(label, classes: list, owner: str) -> int:
    """The index of one class ``label``: an index, or a class name (a string is looked up among the
    names first, then read as an index, as ``--classes`` does).

    Examples
    --------
    >>> class_index("cat", ["dog", "cat"], "pets"), class_index(0, ["dog", "cat"], "pets")
    (1, 0)
    """
    names = [str(c) for c in classes]
    k = len(names)
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
    raise UserError(f"{label!r} is not a class of {owner}: give an index in 0..{k - 1} or a class name ({shown})")


def class_labels(labels, n: int, classes: list, owner: str, what: str = "labels") -> torch.Tensor:
    """Labels ``(n,)`` (int64, on the CPU): ``labels`` is one class (index or name) for all ``n``
    items, or one per item.

    Examples
    --------
    >>> class_labels("cat", 2, ["dog", "cat"], "pets").tolist()
    [1, 1]
    >>> class_labels([0, "cat"], 2, ["dog", "cat"], "pets").tolist()
    [0, 1]
    """
    k = len(classes)
    if isinstance(labels, (str, int, float, np.integer, np.floating)) or (
            isinstance(labels, (torch.Tensor, np.ndarray)) and labels.ndim == 0):
        return torch.full((n,), class_index(labels, classes, owner), dtype=torch.long)
    if isinstance(labels, (list, tuple)) and any(isinstance(v, str) for v in labels):
        labels = [class_index(v, classes, owner) for v in labels]
    y = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels).cpu()
    if y.ndim != 1 or len(y) != n:
        raise UserError(f"{what} must be one class or one per item ({n}), got shape {tuple(y.shape)}")
    if y.is_floating_point() and not bool((y == y.round()).all()):
        raise UserError(f"{what} must be integer class indices or class names")
    y = y.long()
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= k):
        raise UserError(f"{what} must lie in 0..{k - 1} (the classes of {owner})")
    return y
