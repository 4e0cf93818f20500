"""Arrays from ``.npy`` / ``.npz`` files or from memory, and the helpers the other loaders share.

``load_array(path)`` reads ``x`` (and optionally ``y``, ``x_test``, ``y_test``,
``class_names``) with ``np.load(..., allow_pickle=False)`` -- files are never unpickled, and
their headers are checked before NumPy allocates anything -- and infers the modality from the
array's shape; ``from_array(x, y)`` reads an array in memory the same way:

=====================  ==========  ==========================================
``x`` shape            modality    item shape
=====================  ==========  ==========================================
``(n, d)``             points      ``(d,)``, standardised per feature
``(n, H, W)``          image       ``(1, H, W)``
``(n, C, H, W)``       image       ``(C, H, W)`` for ``C`` in 1, 3
``(n, H, W, C)``       image       ``(C, H, W)`` (channels-last, transposed)
``(n, D, D, D)``       volume      ``(1, D, D, D)``, occupancy in [0, 1]
``(n, 1, D, D, D)``    volume      ``(1, D, D, D)``
=====================  ==========  ==========================================
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from latentspace.data.dataset import DataInfo, Dataset, make_dataset, seeded_split
from latentspace.errors import UserError
from latentspace import modalities

NPZ_KEYS = ("x", "y", "x_test", "y_test", "class_names")
_NPZ_ALIASES = {"x_train": "x", "y_train": "y"}   # Keras-style files


# -- helpers shared by the loaders ----------------------------------------------------
def check_int(name: str, value, minimum: int = 0) -> int:
    """``value`` as an int >= ``minimum``, or a UserError naming the option."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise UserError(f"option {name} must be an integer, got {value!r}")
    value = int(value)
    if value < minimum:
        raise UserError(f"option {name} must be at least {minimum}, got {value}")
    return value


def check_float(name: str, value, minimum: float | None = None) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise UserError(f"option {name} must be a number, got {value!r}") from None
    if not np.isfinite(out) or (minimum is not None and out < minimum):
        raise UserError(f"option {name} must be a finite number >= {minimum}, got {value!r}")
    return out


def check_fraction(value) -> float:
    out = check_float("test_fraction", value)
    if not 0.0 < out < 1.0:
        raise UserError(f"option test_fraction must lie strictly between 0 and 1, got {value!r}")
    return out


def image_info(name: str, shape, classes=None, extra=None, modality: str = "image") -> DataInfo:
    """DataInfo for intensities (or occupancies) in [0, 1] mapped to [-1, 1] in model space."""
    return modality_info(name, modality, shape, classes=classes, extra=extra)


def modality_info(name: str, modality: str, shape, x_train=None, classes=None, extra=None) -> DataInfo:
    """DataInfo with the modality's own map to model space (its natural range, or standardised on ``x_train``)."""
    affine = modalities.get(modality).affine(x_train)
    return DataInfo(name=name, modality=modality, shape=tuple(shape), classes=classes, extra=dict(extra or {}),
                    **affine)


def unit_to_model(x: np.ndarray, divide: float = 1.0) -> np.ndarray:
    """Values in [0, divide] (any dtype) to float32 model space [-1, 1] with little copying."""
    out = np.asarray(x).astype(np.float32)   # always a fresh array
    out *= np.float32(2.0 / divide)
    out -= np.float32(1.0)
    return out


def points_dataset(name: str, x, y=None, *, test_x=None, test_y=None, classes=None, extra=None,
                   test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """A points Dataset from data-space arrays, standardised on the train split."""
    return standardised_dataset(name, "points", x, y, test_x=test_x, test_y=test_y, classes=classes, extra=extra,
                                test_fraction=test_fraction, seed=seed)


def standardised_dataset(name: str, modality: str, x, y=None, *, test_x=None, test_y=None, classes=None,
                         extra=None, test_fraction: float = 0.2, seed: int = 0, label: str | None = None) -> Dataset:
    """A Dataset of items without a natural range, standardised on the train split (see ``Modality.affine``).

    ``label`` names the source in messages (default: ``name``)."""
    x = np.asarray(x, dtype=np.float64)
    label = label or name
    if test_x is None:
        if len(x) < 2:
            raise UserError(f"{label}: need at least 2 items to hold some out for testing")
        tr, te = seeded_split(len(x), test_fraction, seed, y, label=label)
        test_x, x = x[te], x[tr]
        if y is not None:
            y = np.asarray(y)
            test_y, y = y[te], y[tr]
    info = modality_info(name, modality, x.shape[1:], x, classes=classes, extra=extra)
    to_model = lambda a: info.to_model(np.asarray(a, dtype=np.float32))  # noqa: E731
    return make_dataset(to_model(x), y, info=info, test_x=to_model(test_x), test_y=test_y, label=label)


# -- the .npy / .npz loader -------------------------------------------------------------
_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", b"PK"
_RESAVE = "re-save it with np.save/np.savez"


def _npy_header(fp, label: str, size: int) -> None:
    """Check the header of the .npy stream ``fp`` (``size`` bytes): a numeric dtype and as many bytes
    as its shape needs, before NumPy allocates anything (a header may promise terabytes)."""
    try:
        version = np.lib.format.read_magic(fp)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(fp)
    except (ValueError, SyntaxError, EOFError, OSError):
        raise UserError(f"{label} has a corrupt .npy header (not NumPy's dtype, order and shape); {_RESAVE}") from None
    if dtype.hasobject:
        raise UserError(f"{label} holds an object array, which cannot be read safely; save plain numeric arrays "
                        "(np.asarray(x, dtype=float)) instead")
    need = fp.tell() + int(np.prod(shape, dtype=object)) * dtype.itemsize
    if need > size:
        raise UserError(f"{label} is truncated: its header promises {need} bytes for shape {shape} but it has {size}; "
                        f"{_RESAVE}")


def _read(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            head = f.read(len(_NPY_MAGIC))
            if not head:
                raise UserError(f"{path} is empty (0 bytes); {_RESAVE}")
            if head.startswith(_NPY_MAGIC):
                f.seek(0)
                _npy_header(f, str(path), path.stat().st_size)
            elif not head.startswith(_ZIP_MAGIC):
                raise UserError(f"{path} is not a NumPy .npy or .npz file (it lacks their signature); save the "
                                "array with np.save (one array) or np.savez (x, y, ...)")
            else:
                _npz_headers(path)
        obj = np.load(path, allow_pickle=False)
    except ValueError as e:
        if isinstance(e, UserError):
            raise
        raise UserError(f"{path} is not a valid .npy/.npz file ({str(e).splitlines()[0]}); {_RESAVE}") from None
    except MemoryError:
        raise UserError(f"{path} holds an array too large for memory; load a part of it") from None
    except PermissionError as e:
        raise UserError(f"cannot read {path} ({e.strerror}); check the file's permissions") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise UserError(f"cannot read {path} ({getattr(e, 'strerror', None) or e}); {_RESAVE}") from None
    if isinstance(obj, np.ndarray):
        return {"x": obj}
    with obj:
        keys = list(obj.files)
        arrays = {}
        for k in keys:
            key = _NPZ_ALIASES.get(k, k)
            if key not in NPZ_KEYS:
                raise UserError(f"{path}: unknown key {k!r} in the .npz; use only {', '.join(NPZ_KEYS)}")
            if key in arrays:
                raise UserError(f"{path}: both {key!r} and an alias of it are present; keep one")
            try:
                arrays[key] = obj[k]
            except ValueError as e:
                raise UserError(f"{path}: cannot read array {k!r} ({str(e).splitlines()[0]}); re-save the file") \
                    from None
            except (OSError, EOFError, zipfile.BadZipFile, MemoryError) as e:
                raise UserError(f"{path}: array {k!r} is corrupt ({e}); re-save the file") from None
    if "x" not in arrays:
        raise UserError(f"{path} has no array 'x' (keys present: {', '.join(keys) or 'none'}); "
                        "save the items under x, e.g. np.savez(path, x=items, y=labels)")
    return arrays


def _npz_headers(path: Path) -> None:
    """Check each member of a .npz as :func:`_npy_header` does, against its uncompressed size."""
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if not info.filename.endswith(".npy"):
                raise UserError(f"{path} holds {info.filename!r}, which is not a NumPy array; save the arrays with "
                                "np.savez(path, x=items, y=labels)")
            with z.open(info) as fp:
                _npy_header(fp, f"{path}: array {info.filename[:-4]!r}", info.file_size)


def _check_values(label: str, a: np.ndarray) -> np.ndarray:
    if a.dtype == object:
        raise UserError(f"{label} has object dtype; convert it to a numeric array first")
    if np.iscomplexobj(a):
        raise UserError(f"{label} is complex; give real values (e.g. np.abs or stack real and imaginary parts)")
    if a.dtype.kind not in "biuf":
        raise UserError(f"{label} has dtype {a.dtype}, not numbers; give a numeric or boolean array")
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a)
        if bad.any():
            raise UserError(f"{label} contains {int(bad.sum())} NaN/inf value(s); remove or impute them first")
    return a


def _infer(label: str, shape: tuple, modality):
    """(modality, layout) from the shape of x; layout tells how to reshape an item.

    Without ``modality`` the registered modalities are asked in turn which claims the shape
    unambiguously; with it, that modality says whether it can read the shape.
    """
    if modality is None:
        for name in modalities.names():
            layout = modalities.get(name).array_layout(shape, inferring=True)
            if layout is not None:
                return modalities.get(name), layout
        raise UserError(f"{label} has shape {shape}, which fits no modality; give (n, d) points, (n, H, W) or "
                        "(n, C, H, W) images with C in 1, 3, or (n, D, D, D) volumes")
    spec = modalities.get(modality)
    layout = spec.array_layout(shape)
    if layout is None:
        raise UserError(f"{label} has shape {shape} but {spec.name} items need {spec.array_shapes or 'another shape'}")
    return spec, layout


def _layout(a: np.ndarray, layout: str) -> np.ndarray:
    if layout in ("hw", "dhw"):
        return a[:, None]
    if layout == "hwc":
        return np.ascontiguousarray(a.transpose(0, 3, 1, 2))
    return a


def _unit_model(label: str, a: np.ndarray, spec) -> np.ndarray:
    """Items of a modality with a natural range [0, 1] to model space."""
    if a.dtype == bool:
        return unit_to_model(a)
    if spec.integer_levels and a.dtype == np.uint8:
        return unit_to_model(a, 255.0)
    if spec.integer_levels and a.dtype == np.uint16:
        return unit_to_model(a, 65535.0)
    lo, hi = float(a.min()), float(a.max())
    if lo < 0.0 or hi > 1.0:
        if spec.integer_levels and lo >= 0 and hi <= 255:
            hint = "divide by 255 (or save as uint8)"
        elif lo >= -1 and hi <= 1:
            hint = "map [-1, 1] to [0, 1] with (x + 1) / 2"
        else:
            hint = "rescale to [0, 1], e.g. (x - x.min()) / (x.max() - x.min())"
        raise UserError(f"{label}: {spec.value_noun} must lie in [0, 1], found [{lo:g}, {hi:g}]; {hint}, "
                        "or pass modality='points' to standardise instead")
    return unit_to_model(a)


def _labels(path: Path, y, y_test, class_names):
    """Integer labels and class names; string labels are mapped to sorted class names."""
    if class_names is not None:
        class_names = np.asarray(class_names)
        if class_names.ndim != 1 or class_names.dtype.kind not in "USiu":
            raise UserError(f"{path}: class_names must be a 1-D array of names, got shape {class_names.shape}")
        class_names = [str(c) for c in class_names]
    ys = [v for v in (y, y_test) if v is not None]
    for v, key in zip(ys, ("y", "y_test")):
        if v.ndim != 1:
            raise UserError(f"{path}: {key} has shape {v.shape}; labels must be 1-D, one per item")
    if any(v.dtype.kind in "US" for v in ys):
        if not all(v.dtype.kind in "US" for v in ys):
            raise UserError(f"{path}: y and y_test must both be strings or both be integers")
        names = class_names or sorted({str(s) for v in ys for s in v})
        index = {c: i for i, c in enumerate(names)}
        missing = sorted({str(s) for v in ys for s in v} - set(index))
        if missing:
            raise UserError(f"{path}: label {missing[0]!r} is not in class_names; add it or fix the labels")
        out = [np.array([index[str(s)] for s in v], dtype=np.int64) for v in ys]
        return out[0], (out[1] if len(out) > 1 else None), names
    for v, key in zip(ys, ("y", "y_test")):
        _check_values(f"{path}: {key}", v)
        if v.dtype.kind == "f" and not np.array_equal(v, np.round(v)):
            raise UserError(f"{path}: {key} has fractional values; labels must be integers 0..k-1")
        if len(v) and v.min() < 0:
            raise UserError(f"{path}: {key} has negative labels; labels must be integers 0..k-1")
    top = max((int(v.max()) for v in ys if len(v)), default=-1)
    if class_names is not None and top >= len(class_names):
        raise UserError(f"{path}: label {top} has no name ({len(class_names)} class_names); give one name per "
                        "class or fix the labels")
    if class_names is None and ys:
        class_names = [str(i) for i in range(top + 1)]
    return (None if y is None else y.astype(np.int64)), (None if y_test is None else y_test.astype(np.int64)), \
        class_names


def load_array(path, modality=None, test_fraction=0.2, seed=0) -> Dataset:
    """Load items from a ``.npy`` (just ``x``) or ``.npz`` file.

    Parameters
    ----------
    path : str or Path
        ``.npy`` holding ``x``, or ``.npz`` with ``x`` and optionally ``y`` (integer or
        string labels), ``x_test``/``y_test`` (a given held-out split) and ``class_names``.
        Keras-style ``x_train``/``y_train`` are accepted for ``x``/``y``.
    modality : {"points", "image", "volume"}, optional
        Inferred from the shape when not given (see the module docstring).
    test_fraction, seed : float, int
        The seeded (stratified when labelled) split used when the file has no ``x_test``.

    Data space: points as given (standardised per feature in model space); images as
    intensities in [0, 1] (``uint8`` is divided by 255, ``bool`` becomes 0/1, floats must
    already lie in [0, 1]); volumes as occupancies in [0, 1] with ``info.extra["threshold"]``.
    Files are never unpickled, and every message names the file as given.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a .npy/.npz file; check the path")
    if not path.is_file():
        raise UserError(f"no such file: {path}; check the path")
    test_fraction = check_fraction(test_fraction)
    seed = check_int("seed", seed)
    return _from_arrays(str(path), path.stem, _read(path), modality, test_fraction, seed)


def from_array(x, y=None, modality=None, name="array", test_fraction=0.2, seed=0) -> Dataset:
    """A :class:`Dataset` from an array in memory, read as :func:`load_array` reads a ``.npy``.

    Parameters
    ----------
    x : array-like or torch.Tensor
        Items ``(n, *item_shape)`` in data space; the modality is inferred from the shape (see the
        module docstring): ``(n, d)`` points, ``(n, H, W)`` or ``(n, C, H, W)`` images in [0, 1]
        (or uint8), ``(n, D, D, D)`` volumes.
    y : array-like, optional
        One label per item: integers 0..k-1 or strings (class names, sorted).
    modality : str, optional
        A registered modality, instead of inferring it (e.g. ``"points"`` to standardise images).
    name : str
        The dataset's name (in messages, pictures and reports).
    test_fraction, seed : float, int
        The seeded (stratified when labelled) held-out split.

    Examples
    --------
    >>> import numpy as np, latentspace as ls
    >>> data = ls.data.from_array(np.random.default_rng(0).normal(size=(100, 3)))
    >>> data.modality, data.shape, len(data), len(data.test)
    ('points', (3,), 80, 20)
    """
    if not isinstance(name, str) or not name:
        raise UserError(f"name must be a non-empty string, got {name!r}")
    test_fraction, seed = check_fraction(test_fraction), check_int("seed", seed)
    arrays = {"x": _as_numpy("x", x)}
    if y is not None:
        arrays["y"] = _as_numpy("y", y)
    return _from_arrays(f"from_array({name!r})", name, arrays, modality, test_fraction, seed)


def _as_numpy(key: str, a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().numpy()
    try:
        return np.asarray(a)
    except (ValueError, TypeError) as e:
        raise UserError(f"from_array: {key} is not an array ({str(e).splitlines()[0]}); give a NumPy array or a "
                        "tensor of shape (n, *item_shape)") from None


def _from_arrays(label: str, name: str, arrays: dict, modality, test_fraction: float, seed: int) -> Dataset:
    """The Dataset of ``arrays`` (``x`` and optionally ``y``, ``x_test``, ``y_test``, ``class_names``);
    ``label`` (the file as given) starts every message."""
    x, y, x_test, y_test = (arrays.get(k) for k in ("x", "y", "x_test", "y_test"))
    if (y_test is not None) and x_test is None:
        raise UserError(f"{label}: y_test is given without x_test; add x_test or drop y_test")
    if x_test is not None and (y is None) != (y_test is None):
        raise UserError(f"{label}: give labels for both splits (y and y_test) or for neither")
    _check_values(f"{label}: x", x)
    if x.ndim < 2 or len(x) == 0:
        raise UserError(f"{label}: x has shape {x.shape}; give a non-empty array of shape (n, *item_shape), "
                        "e.g. x[:, None] for one feature")
    spec, layout = _infer(f"{label}: x", x.shape, modality)
    if x_test is not None:
        _check_values(f"{label}: x_test", x_test)
        if x_test.shape[1:] != x.shape[1:] or len(x_test) == 0:
            raise UserError(f"{label}: x_test has shape {x_test.shape} but x has items of shape {x.shape[1:]}; "
                            "give the same item shape")
    elif len(x) < 2:
        raise UserError(f"{label}: x holds {len(x)} item; give at least 2 (some are held out for testing)")
    for v, xs, key in ((y, x, "y"), (y_test, x_test, "y_test")):
        if v is not None and (v.ndim == 0 or len(v) != len(xs)):
            got = "a single value" if v.ndim == 0 else f"{len(v)} labels"
            raise UserError(f"{label}: {key} has {got} for {len(xs)} items; give one label per item")
    y, y_test, classes = _labels(label, y, y_test, arrays.get("class_names"))
    split = dict(test_fraction=test_fraction, seed=seed, label=label)
    if spec.natural_range is None:  # points (and other unbounded items): standardised on the train split
        return standardised_dataset(name, spec.name, _layout(x, layout), y, test_x=None if x_test is None else
                                    _layout(x_test, layout), test_y=y_test, classes=classes, **split)
    x = _layout(x, layout)
    info = modality_info(name, spec.name, x.shape[1:], classes=classes, extra=spec.default_extra)
    xm = _unit_model(f"{label}: x", x, spec)
    xt = None if x_test is None else _unit_model(f"{label}: x_test", _layout(x_test, layout), spec)
    return make_dataset(xm, y, info=info, test_x=xt, test_y=y_test, **split)
