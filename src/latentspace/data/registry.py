"""The dataset registry: names to loader functions, and paths to file loaders."""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Callable

from latentspace.errors import UserError

_LOADERS: dict[str, tuple[Callable, str]] = {}


def register(name: str, description: str):
    """Decorator registering ``loader(**options) -> Dataset`` under ``name``."""

    def wrap(fn):
        _LOADERS[name] = (fn, description)
        return fn

    return wrap


def available() -> dict[str, str]:
    """Registered dataset names and a one-line description of each."""
    return {name: desc for name, (_, desc) in sorted(_LOADERS.items())}


def _call(loader: Callable, label: str, options: dict):
    sig = inspect.signature(loader)
    accepts_any = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    if not accepts_any:
        valid = [p for p in sig.parameters if p != "path"]
        unknown = sorted(set(options) - set(sig.parameters))
        if unknown:
            raise UserError(
                f"dataset {label!r} takes no option {unknown[0]!r}; valid options: {', '.join(valid) or 'none'}"
            )
    return loader(**options)


def load(name_or_path, **options):
    """Load a dataset by registered name or from a path.

    Parameters
    ----------
    name_or_path : str or path
        A registered name (see :func:`available`), a folder or ``.zip`` archive of images
        (see :func:`latentspace.data.images.load_folder`), a ``.npy`` / ``.npz`` file, or volumes: a
        ``.binvox``, ``.vox``, mesh, NIfTI file, DICOM series or a folder of them
        (see :func:`latentspace.data.volume_files.load_volumes`).
    **options
        Loader options, e.g. ``n=``, ``seed=``, ``data_dir=``, ``size=``, ``test_fraction=``; for
        collections of images ``labels=``, ``label_pattern=``, ``class_depth=``, ``min_per_class=``,
        ``drop_unlabelled=``;
        and for every labelled source ``classes=`` (names or indices, a list or a comma-separated
        string): keep only those classes, relabelled 0, 1, ... in the order given.
        Options that are ``None`` are dropped, so callers can pass CLI defaults through.

    Returns
    -------
    Dataset
        The training split, with the held-out split in ``.test``.
    """
    options = {k: v for k, v in options.items() if v is not None}
    classes = options.pop("classes", None)
    data = _load(str(name_or_path), options)
    if classes is not None:
        notes = data.notes
        data = select_classes(data, classes, label=str(name_or_path))
        data.notes, options["classes"] = notes, classes
    # Remember where the data came from, so a run folder can reload it (resume, evaluate) from any
    # working folder: a registered name as it is, a file or folder (and a data_dir) as an absolute path.
    key = str(name_or_path)
    data.source = {"name_or_path": key if key in _LOADERS else str(_absolute(key)),
                   "options": {k: _recorded(k, v, key) for k, v in options.items()}}
    return data


def _recorded(key: str, value, source: str):
    """An option as a run records it: a file or folder as an absolute path. A labels table is found from the
    working folder or inside the collection's folder; one inside a zip archive stays relative to it."""
    if key == "labels":
        for path in (Path(os.path.expanduser(str(value))), Path(os.path.expanduser(source)) / str(value)):
            if path.is_file():
                return str(_absolute(path))
        return value
    return str(_absolute(value)) if key == "data_dir" or isinstance(value, Path) else value


def _absolute(path) -> Path:
    """``path`` made absolute against the working folder ("~" expanded, ".." folded; links kept)."""
    return Path(os.path.abspath(os.path.expanduser(str(path))))


def select_classes(data, classes, label: str | None = None):
    """The items of ``classes`` only (names or indices), in both splits, relabelled in the given order;
    ``label`` names the data in messages as the user gave it (default: its name)."""
    label = label or data.name
    from dataclasses import replace

    import torch

    from latentspace.data.dataset import Dataset

    if data.y is None:
        raise UserError(f"{label} has no labels to select classes from; drop the classes option")
    names = [str(c) for c in (data.info.classes or range(data.info.num_classes))]
    wanted = [c.strip() for c in classes.split(",")] if isinstance(classes, str) else [str(c) for c in classes]
    index = []
    for c in wanted:
        if c in names:
            index.append(names.index(c))
        elif c.isdigit() and int(c) < len(names):
            index.append(int(c))
        else:
            raise UserError(f"{label} has no class {c!r}; its classes are: {', '.join(names)}")
    if not index or len(set(index)) != len(index):
        raise UserError(f"classes must name each class once, got {classes!r}")
    info = replace(data.info, classes=[names[i] for i in index])
    relabel = torch.full((len(names),), -1, dtype=torch.long)
    relabel[torch.tensor(index)] = torch.arange(len(index))

    def keep(d):
        mask = relabel[d.y] >= 0
        return Dataset(d.x[mask], relabel[d.y[mask]], info=info, split=d.split)

    out = keep(data)
    out.test = keep(data.test) if data.test is not None else None
    if len(out.x) == 0:
        raise UserError(f"no training items of classes {classes!r} in {label}")
    return out


def _load(key: str, options: dict):
    if key in _LOADERS:
        return _call(_LOADERS[key][0], key, options)
    path = Path(key).expanduser()
    from latentspace.data.volume_files import is_volume_source

    if is_volume_source(path):   # a volume file, a DICOM series, or a folder holding volumes
        from latentspace.data.volume_files import load_volumes

        return _call(load_volumes, str(path), {"path": path, **options})
    if path.is_dir() or path.suffix.lower() == ".zip":
        from latentspace.data.images import load_folder

        return _call(load_folder, str(path), {"path": path, **options})
    if path.suffix.lower() in (".npy", ".npz"):
        from latentspace.data.arrays import load_array

        if not path.is_file():
            raise UserError(f"no such file: {path}; check the path")
        return _call(load_array, str(path), {"path": path, **options})
    if path.exists():
        raise UserError(f"cannot read {path}: give a folder or .zip of images, a .npy/.npz file, or a volume "
                        "(.binvox, .vox, .off, .obj, .stl, .nii, .nii.gz, a folder of .dcm slices)")
    looks_like_path = any(c in key for c in "/\\.") or key.startswith("~")
    if looks_like_path:
        raise UserError(f"no such file or folder: {path}; check the path")
    raise UserError(
        f"unknown dataset {key!r}; use one of: {', '.join(sorted(_LOADERS))}, or a path to a folder or .zip of "
        "images, a .npy/.npz file, or a volume file (.binvox, .vox, .off, .obj, .stl, .nii, .nii.gz, .dcm folder)"
    )


# Loader modules not imported by latentspace.data's __init__ register themselves here.
from latentspace.data import pairs  # noqa: E402,F401
