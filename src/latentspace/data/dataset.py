"""The one dataset type that flows through latentspace.

A :class:`Dataset` holds items in *model space* (what networks see, e.g. images in
[-1, 1]) together with a :class:`DataInfo` that knows how to go back to *data space*
(what the user gave us, e.g. pixel intensities in [0, 1] or points in their own units).
Default architectures, plots and metrics are chosen by the registered modality,
``info.spec`` (see :mod:`latentspace.modalities`).

The map between the spaces is affine::

    model = (data - shift) / scale        data = model * scale + shift

with ``shift``/``scale`` a scalar or one value per feature, then clipped to ``clip`` in
data space when the data has a natural range (pixels, voxels).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch

from latentspace import modalities
from latentspace.errors import UserError

#: the built-in modalities (others may be registered: :func:`latentspace.modalities.names`)
MODALITIES = ("points", "image", "volume", "spectrogram")


@dataclass
class DataInfo:
    """What a model must remember about its training data (JSON-serialisable)."""

    name: str
    modality: str
    shape: tuple
    shift: list | float = 0.0
    scale: list | float = 1.0
    clip: tuple | None = None
    classes: list | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.shape = tuple(int(s) for s in self.shape)
        modalities.get(self.modality).check_shape(self.shape)
        if self.clip is not None:
            self.clip = (float(self.clip[0]), float(self.clip[1]))

    @property
    def spec(self) -> "modalities.Modality":
        """The registered :class:`~latentspace.modalities.Modality` of the items."""
        return modalities.get(self.modality)

    @property
    def dim(self) -> int:
        """Number of scalar features in one item."""
        return int(np.prod(self.shape))

    @property
    def num_classes(self) -> int:
        return len(self.classes) if self.classes else 0

    def _affine(self, like: torch.Tensor):
        """``shift`` and ``scale`` as tensors broadcastable over a batch of items."""
        def as_tensor(v):
            t = torch.as_tensor(v, dtype=like.dtype, device=like.device)
            return t.reshape(self.shape) if t.numel() > 1 else t.reshape(())
        return as_tensor(self.shift), as_tensor(self.scale)

    def to_data(self, x: torch.Tensor) -> torch.Tensor:
        """Map items from model space to data space."""
        x = torch.as_tensor(x)
        shift, scale = self._affine(x)
        out = x * scale + shift
        if self.clip is not None:
            out = out.clamp(*self.clip)
        return out

    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        """Map items from data space to model space."""
        x = torch.as_tensor(x, dtype=torch.float32)
        shift, scale = self._affine(x)
        return (x - shift) / scale

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "modality": self.modality,
            "shape": list(self.shape),
            "shift": self.shift,
            "scale": self.scale,
            "clip": list(self.clip) if self.clip is not None else None,
            "classes": self.classes,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, d: dict, where: str = "the data description") -> "DataInfo":
        """The inverse of :meth:`to_json`, checking every field (``where`` names the file in messages)."""
        fix = "the file is corrupt or not written by latentspace: save the model again"
        if not isinstance(d, dict):
            raise UserError(f"{where}: 'data' must be a JSON object; {fix}")
        unknown = sorted(set(d) - _INFO_FIELDS)
        missing = sorted({"name", "modality", "shape"} - set(d))
        if unknown or missing:
            what = f"an unknown field {unknown[0]!r}" if unknown else f"no field {missing[0]!r}"
            raise UserError(f"{where}: the data description has {what}; {fix}")
        if not isinstance(d["name"], str) or not isinstance(d["modality"], str):
            raise UserError(f"{where}: the data's name and modality must be strings; {fix}")
        if d["modality"] not in modalities.names():
            raise UserError(f"{where}: unknown modality {d['modality']!r}; known: {', '.join(modalities.names())} "
                            "(register the plug-in's modality before loading)")
        shape = d["shape"]
        if not isinstance(shape, list) or not shape or not all(_count(s) and s > 0 for s in shape):
            raise UserError(f"{where}: the item shape must be a list of positive integers, got {shape!r}; {fix}")
        size = int(np.prod(shape))
        for key in ("shift", "scale"):
            v = d.get(key, 0.0 if key == "shift" else 1.0)
            flat = _numbers(v)
            if flat is None or len(flat) not in (1, size):
                raise UserError(f"{where}: {key!r} must be a number or {size} numbers; {fix}")
            if key == "scale" and any(a == 0 for a in flat):
                raise UserError(f"{where}: 'scale' must not be 0; {fix}")
        clip = d.get("clip")
        if clip is not None and not (isinstance(clip, list) and len(clip) == 2 and all(_number(a) for a in clip)
                                     and clip[0] < clip[1]):
            raise UserError(f"{where}: 'clip' must be null or [low, high]; {fix}")
        classes = d.get("classes")
        if classes is not None and not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
            raise UserError(f"{where}: 'classes' must be null or a list of names; {fix}")
        if not isinstance(d.get("extra", {}), dict):
            raise UserError(f"{where}: 'extra' must be a JSON object; {fix}")
        try:
            return cls(**d)
        except UserError as e:
            raise UserError(f"{where}: {e}") from None


_INFO_FIELDS = {"name", "modality", "shape", "shift", "scale", "clip", "classes", "extra"}


def _count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and bool(np.isfinite(v))


def _numbers(v) -> list | None:
    """The finite numbers of ``v`` (a number, or lists of them nested to any depth), or None."""
    if _number(v):
        return [v]
    if not isinstance(v, list):
        return None
    out = []
    for item in v:
        inner = _numbers(item)
        if inner is None:
            return None
        out += inner
    return out


class Dataset:
    """Items in model space, optional integer labels, and how to map back to data space.

    Parameters
    ----------
    x : torch.Tensor
        Float tensor ``(n, *shape)`` in model space.
    y : torch.Tensor, optional
        Integer labels ``(n,)`` indexing ``info.classes``.
    info : DataInfo
        Modality, item shape, scaling and class names.
    test : Dataset, optional
        The held-out split. ``load`` always fills it: the source's own test split when it
        has one, otherwise a seeded split.
    split : str
        ``"train"``, ``"test"`` or ``"all"``.

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("ring8")
    >>> data.modality, data.shape, len(data) > len(data.test)
    ('points', (2,), True)
    """

    def __init__(self, x, y=None, *, info: DataInfo, test: "Dataset | None" = None, split: str = "train",
                 label: str | None = None):
        who = label or info.name  # the source as the user named it (a file, a folder), in messages
        x = torch.as_tensor(x)
        if not torch.is_floating_point(x):
            x = x.float()
        x = x.float().contiguous()
        if x.ndim < 2 or tuple(x.shape[1:]) != tuple(info.shape):
            raise UserError(
                f"{who}: items have shape {tuple(x.shape[1:])} but the dataset says {tuple(info.shape)}; "
                "give an array of shape (n, *item_shape)"
            )
        if len(x) == 0:
            raise UserError(f"{who}: the {split} split is empty; give at least one item")
        bad = sum(int((~torch.isfinite(c)).flatten(1).any(1).sum()) for c in _chunks(x))
        if bad:
            raise UserError(f"{who}: {bad} item(s) contain NaN or inf; remove or impute them first")
        if y is not None:
            y = torch.as_tensor(y)
            if y.shape != (len(x),):
                raise UserError(f"{who}: labels have shape {tuple(y.shape)}, expected ({len(x)},); give one label "
                                "per item")
            if torch.is_floating_point(y):
                if not torch.equal(y, y.round()):
                    raise UserError(f"{who}: labels must be integers, got fractional values")
            y = y.long()
            if info.classes is None:
                info.classes = [str(c) for c in range(int(y.max()) + 1)]
            if int(y.min()) < 0 or int(y.max()) >= len(info.classes):
                raise UserError(
                    f"{who}: labels must lie in 0..{len(info.classes) - 1} to index the class names"
                )
        self.x = x
        self.y = y
        self.info = info
        self.test = test
        self.split = split
        self.source = None  # {"name_or_path", "options"} when made by latentspace.data.load
        self.storage = "memory"  # or "mapped": x is a memory map of a cached file (latentspace.data.mapped)
        self.notes = None  # a collection's loader: what it left out and why, one line each (see summary())

    # -- descriptive properties -------------------------------------------------
    @property
    def name(self) -> str:
        return self.info.name

    @property
    def modality(self) -> str:
        return self.info.modality

    @property
    def shape(self) -> tuple:
        return self.info.shape

    @property
    def classes(self):
        return self.info.classes

    @property
    def num_classes(self) -> int:
        return self.info.num_classes

    def __len__(self) -> int:
        return len(self.x)

    def __repr__(self) -> str:
        labels = f", {self.num_classes} classes" if self.y is not None else ""
        test = f", test={len(self.test)}" if self.test is not None else ""
        return f"Dataset({self.name!r}, {self.split}={len(self)}{test}, {self.modality} {self.shape}{labels})"

    def summary(self, classes_shown: int = 20) -> str:
        """What was loaded, as one compact block: items per split and per class, and for a collection
        (a folder or a zip of images) what its loader left out and why.

        Examples
        --------
        >>> print(latentspace.data.load("digits").summary())   # doctest: +SKIP
        digits: 1,797 items (1,437 training + 360 held out), image (1, 8, 8), 10 classes
          per class: 0: 178, 1: 182, 2: 177, 3: 183, 4: 181, 5: 182, 6: 181, 7: 179, 8: 174, 9: 180
        """
        n_test = len(self.test) if self.test is not None else 0
        k = self.num_classes
        labels = f"{k} class{'' if k == 1 else 'es'}" if self.y is not None else "no labels"
        lines = [f"{self.name}: {len(self) + n_test:,} items ({len(self):,} training + {n_test:,} held out), "
                 f"{self.modality} {tuple(self.shape)}, {labels}"]
        if self.y is not None:
            ys = [self.y] + ([self.test.y] if self.test is not None and self.test.y is not None else [])
            counts = torch.bincount(torch.cat(ys), minlength=self.num_classes).tolist()
            shown = [f"{c}: {k:,}" for c, k in zip(self.classes, counts)]
            more = f", ... ({len(shown) - classes_shown} more)" if len(shown) > classes_shown else ""
            lines.append("  per class: " + ", ".join(shown[:classes_shown]) + more)
        lines += [f"  {note}" for note in self.notes or []]
        return "\n".join(lines)

    # -- conversions ------------------------------------------------------------
    def to_data(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """Items (default: this dataset's) mapped back to data space."""
        return self.info.to_data(self.x if x is None else x)

    def data_chunks(self, items: int = 1024):
        """``(start, items in data space)`` over the dataset a slice at a time: passes over memory-mapped
        data (``storage == "mapped"``) that never hold it all in memory."""
        for start in range(0, len(self), items):
            yield start, self.to_data(self.x[start:start + items])

    def subset(self, index) -> "Dataset":
        """A dataset of the items at ``index`` (sharing ``info``; no test split)."""
        index = torch.as_tensor(index, dtype=torch.long)
        y = self.y[index] if self.y is not None else None
        return Dataset(self.x[index], y, info=self.info, split=self.split)

    def torch_dataset(self) -> torch.utils.data.Dataset:
        """A ``torch.utils.data.Dataset`` view for users who want a DataLoader."""
        tensors = (self.x,) if self.y is None else (self.x, self.y)
        return torch.utils.data.TensorDataset(*tensors)

    def content_hash(self) -> str:
        """SHA-256 over items, labels and info: a cache key for derived artefacts."""
        h = hashlib.sha256()
        h.update(repr(sorted(self.info.to_json().items())).encode())
        for chunk in _chunks(self.x):
            h.update(chunk.numpy().tobytes())
        if self.y is not None:
            h.update(self.y.numpy().tobytes())
        return h.hexdigest()


#: held-out items pictures draw from when the data is memory-mapped (a seeded subset)
MAPPED_HELD_OUT = 4096


def held_out(data: Dataset) -> Dataset:
    """The held-out split, or the data itself when it has none; of memory-mapped data, a seeded
    subset of :data:`MAPPED_HELD_OUT` items in memory (pictures need a few thousand at most)."""
    held = data.test if data.test is not None else data
    if held.storage == "mapped" and len(held) > MAPPED_HELD_OUT:
        pick = torch.randperm(len(held), generator=torch.Generator().manual_seed(0))[:MAPPED_HELD_OUT]
        held = held.subset(pick.sort().values)
    return held


def _chunks(x: torch.Tensor, nbytes: int = 1 << 26):
    """``x`` in slices of items of about ``nbytes`` each: whole-array checks without a whole-array copy."""
    step = max(1, nbytes // max(1, x[0].numel() * x.element_size())) if len(x) else 1
    return (x[i:i + step] for i in range(0, len(x), step))


def seeded_split(n: int, test_fraction: float, seed: int, y=None, label: str = "the data"):
    """Train and test indices for ``n`` items; stratified by ``y`` when labels are given.

    Refuses a split that leaves either side empty (``label`` names the source in the message).
    """
    if not 0.0 < test_fraction < 1.0:
        raise UserError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    rng = np.random.default_rng(seed)
    if y is None:
        perm = rng.permutation(n)
        n_test = max(1, int(round(n * test_fraction)))
        train, test = np.sort(perm[n_test:]), np.sort(perm[:n_test])
    else:
        y = np.asarray(y)
        train, test = [], []
        for c in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == c))
            n_test = int(round(len(idx) * test_fraction)) if len(idx) > 1 else 0
            test.append(idx[:n_test])
            train.append(idx[n_test:])
        train, test = np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
    if len(train) == 0 or len(test) == 0:
        side = "training" if len(train) == 0 else "held-out"
        why = " (the split is stratified: a class with one item is never held out)" if y is not None else ""
        raise UserError(f"{label}: holding out {test_fraction:g} of {n} items leaves the {side} split empty{why}; "
                        "give more items, another test_fraction, or a test split of your own")
    return train, test


def make_dataset(x, y=None, *, info: DataInfo, test_x=None, test_y=None,
                 test_fraction: float = 0.2, seed: int = 0, label: str | None = None) -> Dataset:
    """Build a train :class:`Dataset` with its ``test`` split from arrays in model space.

    When ``test_x`` is given it is the held-out split; otherwise a seeded (stratified when
    labelled) split of ``x`` with ``test_fraction`` of the items is held out. ``label`` names
    the source in messages (default: ``info.name``), e.g. the file as the user gave it.
    """
    label = label or info.name
    x = torch.as_tensor(x)
    if test_x is None:
        if len(x) < 2:
            raise UserError(f"{label}: need at least 2 items to hold some out for testing")
        tr, te = seeded_split(len(x), test_fraction, seed, None if y is None else np.asarray(y), label=label)
        tr, te = torch.as_tensor(tr), torch.as_tensor(te)
        test_x, test_y = x[te], (None if y is None else torch.as_tensor(y)[te])
        x, y = x[tr], (None if y is None else torch.as_tensor(y)[tr])
    test = Dataset(test_x, test_y, info=info, split="test", label=label)
    return Dataset(x, y, info=info, test=test, split="train", label=label)
