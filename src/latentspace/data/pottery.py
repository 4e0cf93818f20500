"""Pottery profiles: drawings of vessel half-profiles as items an archaeologist can train on.

``load("pottery", data_dir=DIR)`` reads a folder of drawings (black half-profiles on white, one
vessel per file), binarises each (Otsu), crops it to the profile (specks of dust left out), turns it into the canonical
orientation (rotation axis on the left edge, rim at the top; found from the drawing, see
:mod:`latentspace.data.profiles`), scales it and pads it to a square frame, standing on the
frame's bottom edge against its left edge. Items have the ``profile`` modality
(:mod:`latentspace.modalities.profile`): intensities in [0, 1], the wall black (0) on white (1),
drawn as sections and revolved vessels. ``pottery-synthetic`` (:mod:`.pottery_synthetic`) makes
parametric profiles in the same format without any file.
"""

from __future__ import annotations

import os
import warnings
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from latentspace.data import profiles
from latentspace.data.collections import natural_key
from latentspace.data.arrays import check_fraction, check_int, image_info, unit_to_model
from latentspace.data.dataset import Dataset, make_dataset, seeded_split
from latentspace.data.registry import register
from latentspace.errors import UserError

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
SCALES = ("height", "common")
ORIENTS = ("auto", "file", "collection", "none")
#: why a drawing can be left out, in the order the summary names them
REASONS = ("unreadable", "too large", "blank", "too small")
#: working resolution: a profile is decoded at up to this many times the frame's side before it is scaled
OVERSAMPLE = 4


class Rejected(Exception):
    """A drawing that cannot be used; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# -- the folder ----------------------------------------------------------------------------------------
def _drawings(folder: Path) -> list[Path]:
    """Image files under ``folder`` (any depth, hidden entries skipped), in natural order."""
    files = [p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()
             and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    return sorted(files, key=lambda p: natural_key(str(p.relative_to(folder))))


def _classes(folder: Path) -> tuple[list[Path], list[str] | None]:
    """(files, class per file) from class sub-folders, or (files, None) for a flat folder."""
    subs = sorted((d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")),
                  key=lambda d: natural_key(d.name))
    labelled = [(d.name, _drawings(d)) for d in subs]
    labelled = [(c, f) for c, f in labelled if f]
    top = [p for p in _drawings(folder) if p.parent == folder]
    if labelled and top:
        raise UserError(f"{folder} has drawings both at its top level and in class sub-folders; put every drawing "
                        "in a class sub-folder, or all of them at the top level")
    if not labelled:
        return top, None
    return [p for _, f in labelled for p in f], [c for c, f in labelled for _ in f]


def scan(data_dir) -> dict:
    """The drawings of ``data_dir``: ``{"train": (files, classes), "test": (files, classes) or None}``.

    Layouts: ``train/`` and ``test/`` (the given split), each holding class sub-folders or
    drawings; or class sub-folders (a seeded split is made later); or a flat folder (no labels).
    """
    if data_dir is None:
        raise UserError("pottery reads a folder of profile drawings: pass --data-dir PATH (data_dir=) laid out as "
                        "train/<class>/*.png and test/<class>/*.png, or <class>/*.png; or use pottery-synthetic")
    folder = Path(data_dir).expanduser()
    if not folder.is_dir():
        raise UserError(f"no such folder: {folder}; pass --data-dir PATH (data_dir=) to the folder of profile drawings")
    names = {d.name.lower(): d for d in folder.iterdir() if d.is_dir()}
    given = "train" in names and "test" in names
    train, test = (_classes(names["train"]), _classes(names["test"])) if given else (_classes(folder), None)
    if not train[0] or (test is not None and not test[0]):
        empty = folder if test is None else names["train" if not train[0] else "test"]
        raise UserError(f"{empty} holds no drawings ({', '.join(SUFFIXES)}); give a folder of profile drawings, "
                        "in class sub-folders for labels")
    if given and (train[1] is None) != (test[1] is None):
        raise UserError(f"{folder}: train/ and test/ must both hold class sub-folders or both be flat")
    return {"train": train, "test": test, "root": folder}


# -- one drawing ---------------------------------------------------------------------------------------
def _gray(im) -> np.ndarray:
    """A decoded PIL image as 8-bit gray levels, transparency composited on white."""
    from PIL import Image

    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("LA", "La", "RGBA", "RGBa", "PA"):
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    if im.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):   # Otsu only needs the levels' order
        a = np.nan_to_num(np.asarray(im, dtype=np.float64))
        lo, hi = float(a.min()), float(a.max())
        return ((a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)).astype(np.uint8)
    return np.asarray(im.convert("L"))


def read_drawing(path, side: int, detect: bool = True) -> dict:
    """One drawing: its ink coverage at up to ``side`` pixels (float, unoriented), its orientation
    (None unless ``detect``), and its size in the file's pixels; raises :class:`Rejected` when it
    cannot be used."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                full = im.size
                if im.format == "JPEG":
                    im.draft("L", (2 * side, 2 * side))
                im.load()
                ratio = full[0] / im.size[0]
                gray = _gray(im)
    except Image.DecompressionBombError:
        raise Rejected("too large") from None
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error):   # what decoders raise on a corrupt file
        raise Rejected("unreadable") from None
    mask, specks = profiles.without_specks(profiles.ink_mask(gray))
    mask = profiles.crop(mask)
    if not mask.any():
        raise Rejected("blank")
    if min(mask.shape) < 2 or max(mask.shape) < 8:
        raise Rejected("too small")
    coverage = profiles.reduce(mask, max(1, max(mask.shape) // side), "mean")
    return {"coverage": coverage, "orientation": profiles.orient(mask) if detect else None,
            "extent": (mask.shape[0] * ratio, mask.shape[1] * ratio), "specks": specks}


# -- into the frame ------------------------------------------------------------------------------------
def check_scale(scale, quantile) -> tuple[str, float]:
    if scale not in SCALES:
        raise UserError(f"option scale must be 'height' (each profile as large as the frame allows) or 'common' "
                        f"(one scale for all: sizes compare), got {scale!r}")
    try:
        q = float(quantile)
    except (TypeError, ValueError):
        q = float("nan")
    if not 0.0 < q <= 1.0:
        raise UserError(f"option quantile must lie in (0, 1] (1: the largest training profile fills the frame), "
                        f"got {quantile!r}")
    return scale, q


def frame_sizes(extents, size: int, scale: str, quantile: float, reference=None) -> tuple[np.ndarray, dict]:
    """The (height, width) in pixels each profile of ``extents`` (source units, canonical orientation)
    takes in a ``size`` frame, and facts for ``info.extra``.

    ``scale="height"``: each profile as large as the frame allows (its height fills the frame, or its
    width when wider than tall). ``scale="common"``: one scale for all, the ``quantile`` of the
    largest sides of the ``reference`` profiles (a boolean mask; default all) filling the frame; a
    larger profile is shrunk to fit (counted in ``facts["shrunk"]``).

    Examples
    --------
    >>> frame_sizes([(100, 50), (50, 200)], 64, "height", 1.0)[0].tolist()
    [[64, 32], [16, 64]]
    >>> frame_sizes([(100, 50), (50, 20)], 64, "common", 1.0)[0].tolist()
    [[64, 32], [32, 13]]
    """
    ext = np.array(extents, dtype=np.float64).reshape(-1, 2)
    facts = {"scale": scale}
    if scale == "height":
        factor = size / ext.max(1)
        facts["width_limited"] = int((ext[:, 1] > ext[:, 0]).sum())
    else:
        sides = ext.max(1) if reference is None else ext[np.asarray(reference, bool)].max(1)
        side = float(np.quantile(sides, quantile))
        factor = np.full(len(ext), size / side)
        facts.update(quantile=quantile, source_units_per_pixel=side / size)
        big = ext.max(1) * factor > size + 0.5
        factor[big] = size / ext[big].max(1)
        facts["shrunk"] = int(big.sum())
    dims = np.clip(np.round(ext * factor[:, None]), 1, size).astype(int)
    return dims, facts


def place(coverages: list, dims, size: int) -> np.ndarray:
    """Ink coverages (canonical orientation) resized to ``dims`` (height, width) and set in frames:
    intensities (n, size, size) in [0, 1], ink 0 on 1, standing in the bottom-left corner."""
    from PIL import Image

    out = np.ones((len(coverages), size, size), np.float32)
    for i, (cov, (h, w)) in enumerate(zip(coverages, dims)):
        pic = Image.fromarray(np.ascontiguousarray(cov, dtype=np.float32), "F")
        if pic.size != (w, h):
            shrink = h <= cov.shape[0] and w <= cov.shape[1]
            pic = pic.resize((int(w), int(h)), Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR)
        out[i, size - h:, :w] = 1.0 - np.clip(np.asarray(pic), 0.0, 1.0)
    return out


def _orientations(found: list, orient: str) -> tuple[list, dict]:
    """The orientation applied to each drawing, and counts for ``info.extra``."""
    if orient == "none":
        used = [profiles.by_name(profiles.NAMES[0])] * len(found)
        return used, {"orient": orient, "orientation_used": {profiles.NAMES[0]: len(found)}}
    detected = Counter(o.name for o in found)
    confident = Counter(o.name for o in found if o.margin >= profiles.WEAK)
    usual = (confident or detected).most_common(1)[0][0]
    if orient == "collection":
        used = [profiles.by_name(usual)] * len(found)
    elif orient == "auto":
        used = [o.prefer(usual) for o in found]
    else:
        used = list(found)
    facts = {"orient": orient, "orientation_detected": dict(detected.most_common()),
             "orientation_used": dict(Counter(o.name for o in used).most_common())}
    return used, facts


def _decode(files: list[Path], side: int, detect: bool) -> list:
    def one(path):
        try:
            return read_drawing(path, side, detect)
        except Rejected as r:
            return r

    workers = min(8, os.cpu_count() or 1, max(1, len(files) // 16))
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(one, files))
    return [one(p) for p in files]


def _read_all(files: list[Path], root: Path, side: int, detect: bool) -> tuple[list, np.ndarray, dict]:
    """The usable drawings (see :func:`read_drawing`), which files they are, and the rejected files by
    reason; warns once when some are rejected and refuses a folder where none is usable."""
    decoded = _decode(files, side, detect)
    rejected: dict = {}
    for f, d in zip(files, decoded):
        if isinstance(d, Rejected):
            rejected.setdefault(d.reason, []).append(f.relative_to(root).as_posix())
    keep = np.array([not isinstance(d, Rejected) for d in decoded], dtype=bool)
    if not keep.any():
        raise UserError(f"no drawing in {root} could be used ({_reject_summary(rejected, len(files))}); give black "
                        "profiles on white in PNG or JPEG files")
    if rejected:
        warnings.warn(f"pottery: {_reject_summary(rejected, len(files))}; the files are listed in "
                      "data.info.extra['rejected']", stacklevel=2)
    return [d for d in decoded if not isinstance(d, Rejected)], keep, rejected


def _train_mask(given, n: int, labels, test_fraction: float, seed: int, root: Path, summary: str) -> np.ndarray:
    """Which of the ``n`` usable drawings train: the given split (``given``, a boolean mask), or a
    seeded split stratified by ``labels``; refuses a split left empty by rejected drawings."""
    if given is None:
        if n < 2:
            raise UserError(f"only {n} drawing in {root} could be used; give at least 2 (some are held out)")
        given = np.zeros(n, dtype=bool)
        given[seeded_split(n, test_fraction, seed, labels, label=str(root))[0]] = True
    if not given.any() or given.all():
        which = "training" if not given.any() else "test"
        raise UserError(f"no {which} drawing in {root} could be used ({summary}); check the drawings of that split")
    return given


def _reject_summary(rejected: dict, total: int) -> str:
    counts = ", ".join(f"{r}: {len(rejected[r])}" for r in REASONS if rejected.get(r))
    n = sum(len(v) for v in rejected.values())
    return f"left out {n:,} of {total:,} drawings ({counts})"


@register("pottery", "vessel half-profiles from a folder of drawings (data_dir=): oriented, scaled, class "
                     "sub-folders as labels")
def pottery(data_dir=None, size=64, scale="height", quantile=1.0, orient="auto", test_fraction=0.2,
            seed=0) -> Dataset:
    """Vessel half-profiles from a folder of drawings, in the canonical orientation and a square frame.

    Parameters
    ----------
    data_dir : path
        The drawings (PNG, JPEG, BMP, GIF, TIFF, WebP; one black half-profile on white per file):
        ``train/<class>/*`` and ``test/<class>/*`` (the given split), ``<class>/*`` (a seeded
        split stratified by class holds out ``test_fraction``), or a flat folder (no labels).
    size : int
        Side of the square frame in pixels (64; 128 for detail).
    scale : {"height", "common"}
        ``"height"``: each profile as large as the frame allows (its height fills the frame, or
        its width when it is wider than tall). ``"common"``: one scale for the whole collection,
        so that sizes compare (the files must share one drawing scale).
    quantile : float
        With ``scale="common"``: the quantile of the training profiles' largest sides that fills
        the frame (1: the largest; a profile larger than the reference is shrunk to fit, and
        counted in ``info.extra["shrunk"]``).
    orient : {"auto", "file", "collection", "none"}
        How each drawing is turned so that its rotation axis is on the left and its rim at the top.
        The orientation is *found from the drawing* (:mod:`latentspace.data.profiles`): of its
        eight flips and quarter turns, the one where the ink on the left edge ends in a straight
        cut across the wall (the floor cut by the axis, not a rounded rim or a wall touching the
        edge) and where the wall's free end, the farthest ink along the wall from that cut, is at
        the top. ``"file"``: each drawing's best; ``"auto"``: the same, but the collection's usual
        orientation wins where it scores within ``profiles.WEAK`` of a drawing's best (all 1,133
        Iberian drawings come out upright, 1,125 by their own evidence); ``"collection"``: the
        usual orientation for all; ``"none"``: the drawings are already canonical.
    test_fraction, seed : float, int
        The held-out share and the seed of the split, for a collection without ``train/``/``test/``.

    Returns
    -------
    Dataset
        Items ``(1, size, size)`` of the ``profile`` modality. Drawings that cannot be used are
        left out with one warning; ``info.extra["rejected"]`` maps each reason (unreadable, too
        large, blank, too small) to the files' paths, and ``info.extra`` also holds the
        orientations found and used, and the scaling's facts. ``data.files`` and
        ``data.test.files`` name each item's drawing.

    Notes
    -----
    The 1,133 drawings of the Iberian collection (sizes 53 to 6,825 pixels) load in 4.3-7.3 s at
    ``size=64`` or 128 on two CPU cores shared with running benchmarks (2026-12-05): decoding, Otsu,
    specks and scaling take 2.5-2.8 s (``orient="none"``), finding the orientations the rest.

    Examples
    --------
    >>> import latentspace as ls
    >>> d = ls.data.load("pottery", data_dir="pottery_profiles", size=64)   # doctest: +SKIP
    >>> d.shape, d.classes[:3], d.info.extra["orientation_used"]           # doctest: +SKIP
    ((1, 64, 64), ['1', '2', '3'], {'axis right, rim top': 1133})
    """
    size = check_int("size", size, 8)
    scale, quantile = check_scale(scale, quantile)
    if orient not in ORIENTS:
        raise UserError(f"option orient must be one of {', '.join(ORIENTS)}, got {orient!r}")
    test_fraction, seed = check_fraction(test_fraction), check_int("seed", seed)
    found = scan(data_dir)
    root, parts = found["root"], [found["train"]] + ([found["test"]] if found["test"] is not None else [])
    files = [f for fs, _ in parts for f in fs]
    split = np.repeat(np.arange(len(parts)), [len(fs) for fs, _ in parts])
    classes = None if parts[0][1] is None else sorted({c for _, cs in parts for c in cs}, key=natural_key)
    labels = None if classes is None else np.array([classes.index(c) for _, cs in parts for c in cs], dtype=np.int64)
    kept, keep, rejected = _read_all(files, root, OVERSAMPLE * size, detect=orient != "none")
    files = [f.relative_to(root).as_posix() for f, k in zip(files, keep) if k]
    labels = None if labels is None else labels[keep]
    train = _train_mask(split[keep] == 0 if len(parts) == 2 else None, len(kept), labels, test_fraction, seed,
                        root, _reject_summary(rejected, len(keep)))
    used, facts = _orientations([d["orientation"] for d in kept], orient)
    coverages = [profiles.apply(d["coverage"], o) for d, o in zip(kept, used)]
    extents = [d["extent"][::-1] if o.turns % 2 else d["extent"] for d, o in zip(kept, used)]
    dims, scaling = frame_sizes(extents, size, scale, quantile, reference=train)
    specks = sum(1 for d in kept if d["specks"])
    info = image_info("pottery", (1, size, size), classes=classes, modality="profile",
                      extra={"size": size, **scaling, **facts, "rejected": rejected, "specks_removed": specks})
    xm = unit_to_model(place(coverages, dims, size)[:, None])
    y = (None, None) if labels is None else (labels[train], labels[~train])
    data = make_dataset(xm[train], y[0], info=info, test_x=xm[~train], test_y=y[1], label=str(root))
    data.files = [f for f, t in zip(files, train) if t]
    data.test.files = [f for f, t in zip(files, train) if not t]
    if rejected:
        data.notes = [_reject_summary(rejected, len(keep))]
    return data
