"""Volumes from files read by the field's own libraries: meshes (trimesh), NIfTI (nibabel), DICOM (pydicom).

Each library is an optional extra; a missing one is named with its ``pip install`` line. Every reader
returns a NumPy array indexed ``[x, y, z]`` with ``z`` up:

- :func:`voxelise_mesh`: an ``.off``, ``.obj`` or ``.stl`` mesh as an occupancy grid ``size^3``: its
  bounding box centred in the cube (aspect ratio kept), every voxel the surface passes through occupied
  (thin parts stay) and the inside filled.
- :func:`read_nifti`: ``.nii`` / ``.nii.gz`` intensities reoriented to RAS+ (axes run towards the
  patient's right, anterior and superior), with the voxel sizes in mm.
- :func:`read_dicom_series`: the slices of one series in a folder, ordered along the slice normal by
  ``ImagePositionPatient`` (falling back to ``InstanceNumber``), each rescaled to Hounsfield units with
  its own ``RescaleSlope``/``RescaleIntercept``, and reoriented from DICOM's LPS to RAS+ like NIfTI.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

from latentspace.errors import UserError

MAX_SCAN_VOXELS = 1024 ** 3

_LIBRARIES = {"trimesh": "mesh", "nibabel": "nifti", "pydicom": "dicom"}


def need(module: str, what: str):
    """Import the optional ``module`` or raise a one-line UserError naming its extra (``what``: "reading .stl")."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(f"{what} needs {module}: pip install 'latentspace[{_LIBRARIES[module]}]'") from None


def _detail(e: Exception) -> str:
    """The first line of a library's error, shortened, with its type."""
    text = str(e).strip().splitlines()[0][:120] if str(e).strip() else "no detail"
    return f"{type(e).__name__}: {text}"


def check_finite(label: str, a: np.ndarray, what: str = "voxel value") -> np.ndarray:
    """``a`` as float32, refusing NaN and inf values (``what`` names one value in the message)."""
    a = np.asarray(a, dtype=np.float32)
    bad = int((~np.isfinite(a)).sum())
    if bad:
        raise UserError(f"{label} contains {bad} NaN/inf {what}(s); replace them (e.g. with the background "
                        "value) before loading")
    return a


# -- meshes ---------------------------------------------------------------------------------------------
def voxelise_mesh(path, size: int, fill: bool = True) -> np.ndarray:
    """A mesh file as a boolean occupancy grid ``(size, size, size)`` (see the module docstring).

    The mesh's bounding box is centred in a cube whose side is its largest extent, cut into ``size^3``
    voxels. The surface is subdivided until every edge is under a quarter voxel and each voxel holding a
    vertex is occupied; with ``fill`` the enclosed voxels are filled too (closed meshes: solid).
    """
    path = Path(path)
    trimesh = need("trimesh", f"reading {path.suffix.lower()}")
    from scipy import ndimage

    try:
        mesh = trimesh.load(str(path), force="mesh", process=False)
    except Exception as e:   # trimesh raises many kinds of errors on a bad file
        raise UserError(f"cannot read the mesh {path} ({_detail(e)}); re-export it as .off, .obj or .stl") from None
    vertices, faces = np.asarray(getattr(mesh, "vertices", ()), float), np.asarray(getattr(mesh, "faces", ()), int)
    if vertices.ndim != 2 or len(vertices) == 0 or len(faces) == 0:
        raise UserError(f"the mesh {path} has no faces; re-export it as a surface mesh (.off, .obj or .stl)")
    check_finite(f"the mesh {path}", vertices, "vertex coordinate")
    lo, hi = vertices.min(0), vertices.max(0)
    side = float((hi - lo).max())
    if side <= 0:
        raise UserError(f"the mesh {path} has no extent (all vertices at one point); check the file")
    pitch = side / size
    origin = (lo + hi) / 2 - side / 2
    v, _ = trimesh.remesh.subdivide_to_size(vertices, faces, max_edge=pitch / 4, max_iter=20)
    index = np.clip(np.floor((v - origin) / pitch).astype(np.int64), 0, size - 1)
    grid = np.zeros((size,) * 3, dtype=bool)
    grid[index[:, 0], index[:, 1], index[:, 2]] = True
    return ndimage.binary_fill_holes(grid) if fill else grid


# -- NIfTI ----------------------------------------------------------------------------------------------
def read_nifti(path) -> tuple[np.ndarray, np.ndarray]:
    """Intensities of a ``.nii`` / ``.nii.gz`` file in RAS+ order and the voxel sizes (mm).

    A 4-D file with one volume is read as 3-D; a longer series is refused.
    """
    path = Path(path)
    nib = need("nibabel", "reading .nii")
    try:
        img = nib.load(str(path))
    except Exception as e:   # nibabel's errors on a corrupt file vary (ImageFileError, EOFError, zlib)
        raise UserError(f"cannot read the NIfTI file {path} ({_detail(e)}); re-save it as .nii or .nii.gz") from None
    _check_nifti_size(img, path)
    try:
        img = nib.as_closest_canonical(img)
        data = np.asanyarray(img.dataobj)
        zooms = np.asarray(img.header.get_zooms()[:3], dtype=np.float64)
    except Exception as e:   # nibabel's errors on a corrupt file vary (ImageFileError, EOFError, zlib)
        raise UserError(f"cannot read the NIfTI file {path} ({_detail(e)}); re-save it as .nii or .nii.gz") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise UserError(f"{path} holds a {data.ndim}-D image of shape {data.shape}, not one 3-D volume; save each "
                        "volume in its own file")
    if np.iscomplexobj(data) or data.dtype.kind not in "biuf":
        raise UserError(f"{path} holds {data.dtype} values, not real intensities; save a real-valued image")
    zooms = np.where(np.isfinite(zooms) & (zooms > 0), zooms, 1.0)
    return np.ascontiguousarray(check_finite(str(path), data)), zooms


def _check_nifti_size(img, path: Path) -> None:
    """Refuse a header whose shape is larger than any scan (over 1024^3 voxels), or, for an uncompressed file,
    larger than the bytes the file holds, before nibabel allocates it."""
    shape = img.header.get_data_shape()
    voxels = int(np.prod(shape, dtype=np.int64))
    if voxels > MAX_SCAN_VOXELS:
        raise UserError(f"{path}: the NIfTI header claims a {'x'.join(map(str, shape))} image, over 1024^3 voxels; "
                        "the header is corrupt, or crop and resample the scan first")
    if not str(path).endswith(".gz"):
        need_bytes = int(getattr(img.dataobj, "offset", 0)) + voxels * img.get_data_dtype().itemsize
        if path.stat().st_size < need_bytes:
            raise UserError(f"{path}: the NIfTI header promises {need_bytes} bytes, the file holds "
                            f"{path.stat().st_size}: the file is truncated; re-save it as .nii or .nii.gz")


# -- DICOM ----------------------------------------------------------------------------------------------
def is_dicom(path: Path) -> bool:
    """Whether ``path`` is a DICOM image file: a ``.dcm`` name, or no suffix and the ``DICM`` signature (a
    ``DICOMDIR`` index is not one)."""
    if path.name.upper() == "DICOMDIR":
        return False
    if path.suffix.lower() == ".dcm":
        return True
    if path.suffix:
        return False
    try:
        with open(path, "rb") as f:
            return f.read(132)[128:] == b"DICM"
    except OSError:
        return False


def _read_slice(pydicom, path: Path):
    try:
        ds = pydicom.dcmread(str(path))
        pixels = ds.pixel_array
    except Exception as e:   # pydicom: InvalidDicomError, missing pixel data, unsupported compression, ...
        raise UserError(f"cannot read the DICOM file {path} ({_detail(e)}); check the file, or for compressed "
                        "pixel data install a decoder (pip install pylibjpeg pylibjpeg-libjpeg)") from None
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    return ds, pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)


def _floats(ds, key: str, n: int):
    value = getattr(ds, key, None)
    try:
        out = np.asarray([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return out if out.shape == (n,) and np.isfinite(out).all() else None


def _order(slices: list, label: str) -> tuple[list, float | None, np.ndarray]:
    """Slices sorted along the slice normal (by position; else by InstanceNumber), the spacing between
    them (None if unknown) and the direction matrix (columns: along columns, rows, slices; LPS)."""
    ds0 = slices[0][0]
    iop = _floats(ds0, "ImageOrientationPatient", 6)
    positions = [_floats(ds, "ImagePositionPatient", 3) for ds, _ in slices]
    if iop is not None and all(p is not None for p in positions):
        normal = np.cross(iop[:3], iop[3:])
        keys = [float(p @ normal) for p in positions]
        direction = np.stack([iop[:3], iop[3:], normal], 1)
    else:
        keys = [getattr(ds, "InstanceNumber", None) for ds, _ in slices]
        if any(k is None for k in keys):
            raise UserError(f"{label}: the DICOM slices carry neither ImagePositionPatient nor InstanceNumber, so "
                            "their order is unknown; export the series with its slice positions")
        keys = [float(k) for k in keys]
        direction = np.eye(3)
    order = np.argsort(keys, kind="stable")
    keys = np.asarray(keys)[order]
    if len(keys) > 1 and (np.diff(keys) == 0).any():
        raise UserError(f"{label}: two DICOM slices share one position along the slice normal (a repeated slice or "
                        "two acquisitions); keep one copy of each slice in the folder")
    spacing = float(np.median(np.diff(keys))) if iop is not None and len(keys) > 1 else None
    return [slices[i] for i in order], spacing, direction


def read_dicom_series(files, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Hounsfield units (RAS+ order) and voxel sizes (mm) of the slices ``files`` of one DICOM series.

    ``label`` names the series (its folder) in messages. Slices of two series (their
    ``SeriesInstanceUID`` differ) or of different sizes are refused; a single file holding several frames
    is read as a volume of its own.
    """
    pydicom = need("pydicom", "reading DICOM (.dcm)")
    slices = [_read_slice(pydicom, Path(f)) for f in files]
    uids = sorted({str(getattr(ds, "SeriesInstanceUID", "")) for ds, _ in slices})
    if len(uids) > 1:
        raise UserError(f"{label} holds slices of {len(uids)} DICOM series; put each series in its own folder")
    if len(slices) == 1 and slices[0][1].ndim == 3:   # one multi-frame file
        ds, volume = slices[0]
        thick = float(getattr(ds, "SpacingBetweenSlices", 0) or getattr(ds, "SliceThickness", 0) or 1)
        return _to_ras(volume, ds, thick, _direction(ds), label)
    shapes = sorted({pixels.shape for _, pixels in slices})
    if len(shapes) > 1 or len(shapes[0]) != 2:
        raise UserError(f"{label} mixes DICOM images of shapes {', '.join(map(str, shapes))}, so they are not one "
                        "scan; put each scan in its own folder")
    if len(slices) < 2:
        raise UserError(f"{label} holds one 2-D DICOM slice, not a volume; give the folder of all the series' slices")
    slices, spacing, direction = _order(slices, label)
    volume = np.stack([pixels for _, pixels in slices])
    thick = spacing or float(getattr(slices[0][0], "SliceThickness", 0) or 1)
    return _to_ras(volume, slices[0][0], abs(thick), direction, label)


def _direction(ds) -> np.ndarray:
    iop = _floats(ds, "ImageOrientationPatient", 6)
    if iop is None:
        return np.eye(3)
    return np.stack([iop[:3], iop[3:], np.cross(iop[:3], iop[3:])], 1)


def _to_ras(volume: np.ndarray, ds, thick: float, direction: np.ndarray, label: str):
    """A DICOM volume ``[slice, row, column]`` reordered to RAS+ ``[x, y, z]``, with its voxel sizes.

    ``direction``'s columns are the LPS directions of increasing column, row and slice index.
    """
    check_finite(label, volume)
    spacing = _floats(ds, "PixelSpacing", 2)
    row_mm, col_mm = (spacing if spacing is not None else (1.0, 1.0))
    a = volume.transpose(2, 1, 0)          # [column, row, slice]
    sizes = np.array([col_mm, row_mm, thick], dtype=np.float64)
    ras = direction * np.array([-1.0, -1.0, 1.0])[:, None]   # LPS -> RAS
    axis_of = np.abs(ras).argmax(0)        # the world axis each array axis runs along most
    if len(set(axis_of.tolist())) < 3:     # oblique beyond 45 degrees on two axes: keep the array order
        axis_of = np.arange(3)
    perm = np.argsort(axis_of)
    a, sizes = a.transpose(perm), sizes[perm]
    for k, array_axis in enumerate(perm):
        if ras[axis_of[array_axis], array_axis] < 0:
            a = a[(slice(None),) * k + (slice(None, None, -1),)]
    sizes = np.where(np.isfinite(sizes) & (sizes > 0), sizes, 1.0)
    return np.ascontiguousarray(a, dtype=np.float32), sizes
