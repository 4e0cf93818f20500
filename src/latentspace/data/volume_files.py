"""Volumes from the files people have: ``load_volumes(path, size=32, window=None)``.

``latentspace.data.load(PATH)`` comes here for a volume file or a folder holding volumes:

==========================  ===========  =======================================================
file                        gives        read by
==========================  ===========  =======================================================
``.binvox``                 occupancy    :mod:`latentspace.data.voxel_formats` (no dependency)
``.vox`` (MagicaVoxel)      occupancy    :mod:`latentspace.data.voxel_formats` (no dependency)
``.off``, ``.obj``, ``.stl``  occupancy    trimesh, voxelised (extra ``mesh``)
``.nii``, ``.nii.gz``       intensity    nibabel, reoriented to RAS+ (extra ``nifti``)
a folder of ``.dcm``        intensity    pydicom: one series, in HU (extra ``dicom``)
==========================  ===========  =======================================================

Every volume is indexed ``[x, y, z]`` with ``z`` up, centred in a cube (its aspect ratio kept, in mm for
scans) and resampled to ``size^3``: occupancies by max-pooling (a voxel is occupied when any part of it
was, so thin parts stay) or nearest-neighbour upsampling; intensities by averaging or trilinear
interpolation. Occupancy grids are the ``volume`` modality; intensity volumes the ``scan`` modality, in
[0, 1] through a CT window (:data:`WINDOWS`, or ``(level, width)`` in HU) or, without one, through the
dataset's 0.5-99.5 percentile range.

A folder is one item per volume file and one per folder of DICOM slices (a series); with class
sub-folders (``<class>/**``) the sub-folder names are the labels, and ``test_fraction`` of the items
(stratified) are held out. A single file or series is a dataset of one item without a held-out split.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from latentspace.data.arrays import check_fraction, check_int, modality_info, unit_to_model
from latentspace.data.dataset import Dataset, make_dataset
from latentspace.data.scan_files import is_dicom, read_dicom_series, read_nifti, voxelise_mesh
from latentspace.data.voxel_formats import read_binvox, read_vox
from latentspace.errors import UserError

#: CT windows: name -> (level, width) in Hounsfield units
WINDOWS = {"soft-tissue": (40.0, 400.0), "lung": (-600.0, 1500.0), "bone": (400.0, 1800.0)}
OCCUPANCY_SUFFIXES = (".binvox", ".vox", ".off", ".obj", ".stl")
INTENSITY_SUFFIXES = (".nii", ".nii.gz", ".dcm")
VOLUME_SUFFIXES = OCCUPANCY_SUFFIXES + INTENSITY_SUFFIXES
_FORMATS = ".binvox, .vox, .off, .obj, .stl, .nii, .nii.gz or a folder of .dcm slices"


def volume_suffix(path) -> str | None:
    """The volume format of ``path`` by its name (``".nii.gz"`` counts as one suffix), or None."""
    name = Path(path).name.lower()
    return next((s for s in VOLUME_SUFFIXES if name.endswith(s) and len(name) > len(s)), None)


def is_volume_source(path) -> bool:
    """Whether ``path`` is a volume file, or a folder holding volume files (or DICOM slices) at any depth.

    A folder of images holds none, so it goes on to the image loader.
    """
    path = Path(path)
    if path.is_file():
        return volume_suffix(path) is not None
    if not path.is_dir():
        return volume_suffix(path) is not None
    for folder, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__MACOSX"]
        for name in files:
            if not name.startswith(".") and (volume_suffix(name) or is_dicom(Path(folder) / name)):
                return True
    return False


# -- what a folder holds ----------------------------------------------------------------------------------
@dataclass
class Item:
    """One volume of a collection: a file, or the DICOM slices of one folder (``files``)."""

    rel: str
    files: list = field(default_factory=list)
    label: str | None = None


def collect(path: Path) -> tuple[list[Item], list[str]]:
    """The volumes under ``path`` (a file or a folder) and notes on the files left out."""
    if path.is_file():
        return [Item(path.name, [path])], []
    items, other = [], []
    for folder, dirs, files in sorted(os.walk(path)):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__MACOSX")
        folder = Path(folder)
        rel = folder.relative_to(path)
        slices = []
        for name in sorted(f for f in files if not f.startswith(".")):
            if volume_suffix(name) and volume_suffix(name) != ".dcm":
                items.append(Item(str(rel / name), [folder / name]))
            elif is_dicom(folder / name):
                slices.append(folder / name)
            else:
                other.append(str(rel / name))
        if slices:
            items.append(Item(str(rel) if str(rel) != "." else path.name, slices))
    if not items:
        raise UserError(f"{path} holds no volumes ({_FORMATS}); check the folder")
    _label(items, path)
    notes = [f"left out {len(other)} file(s) that are not volumes, e.g. {other[0]}"] if other else []
    return items, notes


def _label(items: list[Item], root: Path) -> None:
    """Labels from the first sub-folder of each item; none when every item lies in ``root`` itself."""
    parts = [Path(it.files[0]).parent.relative_to(root).parts for it in items]
    top = [p[0] if p else None for p in parts]
    if all(t is None for t in top):
        return
    loose = [it.rel for it, t in zip(items, top) if t is None]
    if loose:
        raise UserError(f"{root}: {len(loose)} volume(s) (e.g. {loose[0]}) lie above the class sub-folders; move "
                        "them into a class folder or remove them")
    for it, t in zip(items, top):
        it.label = t


# -- options ----------------------------------------------------------------------------------------------
def check_window(window) -> tuple[float, float] | None:
    """``window`` as ``(level, width)`` in HU: a name of :data:`WINDOWS`, two numbers, or ``"level,width"``."""
    if window is None:
        return None
    if isinstance(window, str) and window in WINDOWS:
        return WINDOWS[window]
    pair = window.split(",") if isinstance(window, str) else window
    try:
        level, width = (float(v) for v in pair)
    except (TypeError, ValueError):
        raise UserError(f"option window must be one of {', '.join(WINDOWS)} or (level, width) in HU, "
                        f"got {window!r}") from None
    if not (np.isfinite(level) and np.isfinite(width) and width > 0):
        raise UserError(f"option window needs a finite level and a positive width, got {window!r}")
    return level, width


def apply_window(hu, level: float, width: float) -> np.ndarray:
    """Values ``hu`` mapped to [0, 1]: ``level - width/2`` to 0, ``level + width/2`` to 1, clipped.

    Examples
    --------
    >>> apply_window([-160.0, 40.0, 240.0, 1000.0], *WINDOWS["soft-tissue"]).tolist()
    [0.0, 0.5, 1.0, 1.0]
    """
    out = (np.asarray(hu, dtype=np.float32) - np.float32(level - width / 2)) / np.float32(width)
    return np.clip(out, 0.0, 1.0)


# -- resampling ---------------------------------------------------------------------------------------------
def _target(shape, spacing, size: int) -> list[int]:
    """Sizes along each axis once the largest physical extent spans ``size`` voxels."""
    extent = np.asarray(shape, dtype=np.float64) * np.asarray(spacing, dtype=np.float64)
    return [max(1, min(size, int(round(size * e / extent.max())))) for e in extent]


def _pad_cube(a: torch.Tensor, size: int, value: float) -> torch.Tensor:
    """``a`` (X, Y, Z) centred in a ``size^3`` cube filled with ``value``."""
    out = torch.full((size,) * 3, float(value), dtype=a.dtype)
    lo = [(size - s) // 2 for s in a.shape]
    out[lo[0]:lo[0] + a.shape[0], lo[1]:lo[1] + a.shape[1], lo[2]:lo[2] + a.shape[2]] = a
    return out


def resample_occupancy(grid, size: int) -> np.ndarray:
    """An occupancy grid centred in a cube and resampled to ``size^3`` (float32 0/1).

    Shrinking max-pools (a voxel is occupied when any voxel it covers was), growing takes the nearest.

    Examples
    --------
    >>> g = np.zeros((64, 64, 32), bool); g[:, 10, :] = True      # a one-voxel wall
    >>> v = resample_occupancy(g, 32)
    >>> v.shape, int(v.sum()), int(v[:, 5, 8:24].min())            # kept, and centred along z
    ((32, 32, 32), 512, 1)
    """
    a = torch.as_tensor(np.asarray(grid) > 0.5, dtype=torch.float32)
    target = _target(a.shape, (1, 1, 1), size)
    shrink = [min(s, t) for s, t in zip(a.shape, target)]
    a = F.adaptive_max_pool3d(a[None, None], shrink)
    a = F.interpolate(a, size=target, mode="nearest")[0, 0]
    return _pad_cube(a, size, 0.0).numpy()


def resample_intensity(values, spacing, size: int) -> np.ndarray:
    """Intensities centred in a cube (physical aspect ratio kept) and resampled to ``size^3``; the padding is NaN.

    Shrinking averages the voxels covered, growing interpolates trilinearly.
    """
    a = torch.as_tensor(np.asarray(values, dtype=np.float32))
    target = _target(a.shape, spacing, size)
    shrink = [min(s, t) for s, t in zip(a.shape, target)]
    a = F.adaptive_avg_pool3d(a[None, None], shrink)
    if list(a.shape[2:]) != target:
        a = F.interpolate(a, size=target, mode="trilinear", align_corners=False)
    return _pad_cube(a[0, 0], size, float("nan")).numpy()


# -- reading one item ---------------------------------------------------------------------------------------
def read_item(item: Item, size: int, fill: bool = True) -> tuple[str, np.ndarray]:
    """``("occupancy" | "intensity", values)`` of one item, resampled to ``size^3`` (intensities: padding NaN)."""
    first = Path(item.files[0])
    suffix = volume_suffix(first)
    if suffix in (".off", ".obj", ".stl"):
        return "occupancy", voxelise_mesh(first, size, fill=fill).astype(np.float32)
    if suffix in (".binvox", ".vox"):
        try:
            grid = read_binvox(first) if suffix == ".binvox" else read_vox(first)
        except OSError as e:
            raise UserError(f"cannot read {first} ({e.strerror or e}); check the file") from None
        return "occupancy", resample_occupancy(grid, size)
    if suffix in (".nii", ".nii.gz"):
        values, spacing = read_nifti(first)
    else:
        label = str(first) if len(item.files) == 1 else str(first.parent)
        values, spacing = read_dicom_series(item.files, label)
    return "intensity", resample_intensity(values, spacing, size)


def _intensity_units(items: list[Item]) -> str:
    return "HU" if all(is_dicom(Path(it.files[0])) for it in items) else "as stored"


def _to_unit(volumes: np.ndarray, window, label: str) -> tuple[np.ndarray, dict]:
    """Intensity volumes (NaN padding) to [0, 1] through ``window`` or the data's 0.5-99.5 percentiles."""
    if window is not None:
        out, facts = apply_window(volumes, *window), {"window": list(window)}
    else:
        inside = volumes[np.isfinite(volumes)]
        lo, hi = (float(v) for v in np.percentile(inside, [0.5, 99.5]))
        if not hi > lo:
            raise UserError(f"{label}: every voxel holds the same value ({lo:g}); give volumes with contrast")
        out, facts = np.clip((volumes - lo) / (hi - lo), 0, 1), {"intensity_range": [lo, hi]}
    return np.nan_to_num(out, nan=0.0).astype(np.float32), facts


def load_volumes(path, size=32, window=None, fill=True, test_fraction=0.2, seed=0) -> Dataset:
    """Load a volume file, a DICOM series, or a folder of volumes with class sub-folders.

    Parameters
    ----------
    path : str or Path
        A ``.binvox``, ``.vox``, ``.off``, ``.obj``, ``.stl``, ``.nii``/``.nii.gz`` file, a folder of the
        ``.dcm`` slices of one series, or a folder of any of these (``<class>/...`` gives labels).
    size : int
        The side of the cube every volume is resampled to (32 by default; 64 for more detail).
    window : str or (float, float), optional
        Scans only: a CT window, ``"soft-tissue"`` (level 40, width 400 HU), ``"lung"`` (-600, 1500) or
        ``"bone"`` (400, 1800), or ``(level, width)``; values are mapped to [0, 1] and clipped. Without
        one, the dataset's 0.5-99.5 percentile range is mapped to [0, 1].
    fill : bool
        Meshes: fill the inside of closed surfaces (True) or keep the surface voxels only.
    test_fraction, seed : float, int
        The seeded held-out split (stratified when labelled) of a folder of volumes.

    Returns
    -------
    Dataset
        Occupancy grids (modality ``volume``) or intensity volumes (modality ``scan``), ``(1, size, size,
        size)`` indexed ``[x, y, z]`` with ``z`` up; ``info.extra`` records the window or intensity range.

    Examples
    --------
    >>> data = load_volumes("scans/", window="lung")       # doctest: +SKIP
    >>> data.modality, data.shape                           # doctest: +SKIP
    ('scan', (1, 32, 32, 32))
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise UserError(f"no such file or folder: {path}; check the path")
    size = check_int("size", size, 4)
    window = check_window(window)
    if not isinstance(fill, (bool, np.bool_)):
        raise UserError(f"option fill must be True or False, got {fill!r}")
    test_fraction, seed = check_fraction(test_fraction), check_int("seed", seed)
    items, notes = collect(path)
    kinds, volumes = zip(*(read_item(it, size, bool(fill)) for it in items))
    if len(set(kinds)) > 1:
        raise UserError(f"{path} mixes occupancy grids (.binvox, .vox, meshes) and intensity scans (NIfTI, DICOM); "
                        "load each kind from its own folder")
    x, extra = np.stack(volumes)[:, None], {"size": size}
    if kinds[0] == "intensity":
        x, facts = _to_unit(x, window, str(path))
        extra.update(facts, units=_intensity_units(items))
        modality = "scan"
    else:
        if window is not None:
            raise UserError(f"{path} holds occupancy grids; the window option is for CT scans, drop it")
        extra["threshold"] = 0.5
        modality = "volume"
    return _dataset(path, items, x, modality, extra, notes, test_fraction, seed)


def _dataset(path: Path, items: list[Item], x: np.ndarray, modality: str, extra: dict, notes: list,
             test_fraction: float, seed: int) -> Dataset:
    labels = [it.label for it in items]
    classes = sorted(set(labels)) if labels[0] is not None else None
    y = None if classes is None else np.array([classes.index(lab) for lab in labels], dtype=np.int64)
    name = path.name.removesuffix(volume_suffix(path) or "") or path.name
    info = modality_info(name, modality, x.shape[1:], classes=classes, extra=extra)
    xm = unit_to_model(x)
    if len(items) == 1:
        data = Dataset(xm, y, info=info, label=str(path))
        notes = notes + ["one volume: no held-out split"]
    else:
        data = make_dataset(xm, y, info=info, test_fraction=test_fraction, seed=seed, label=str(path))
    data.notes = notes
    return data
