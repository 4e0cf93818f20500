"""Image datasets: scikit-learn ``digits``, ``mnist`` / ``fashion-mnist`` (idx files), and the decoder of
collections of images (folders and zip archives; found and labelled by :mod:`latentspace.data.collections`).

Every image dataset has data space = intensity in [0, 1] (``clip=(0, 1)``) and model
space [-1, 1] (``shift=0.5, scale=0.5``); items have shape ``(C, H, W)``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.request
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from latentspace.data.arrays import check_fraction, check_int, image_info, unit_to_model
from latentspace.data.collections import Collection, collect
from latentspace.data.dataset import Dataset, make_dataset, seeded_split
from latentspace.data.mapped import check_memory, mapped_splits, should_map
from latentspace.data.registry import register
from latentspace.data.sources import open_collection
from latentspace.errors import UserError

# -- scikit-learn digits ----------------------------------------------------------------


@register("digits", "scikit-learn's 1,797 handwritten digits, 8x8 gray, 10 classes (no download)")
def digits(test_fraction=0.2, seed=0) -> Dataset:
    """The UCI 8x8 digits bundled with scikit-learn: intensities 0..16 scaled to [0, 1].

    A seeded split stratified by label holds out ``test_fraction`` of the 1,797 images.
    """
    from sklearn.datasets import load_digits

    test_fraction, seed = check_fraction(test_fraction), check_int("seed", seed)
    d = load_digits()
    x = unit_to_model(d.images[:, None], 16.0)
    info = image_info("digits", (1, 8, 8), classes=[str(i) for i in range(10)])
    return make_dataset(x, d.target.astype(np.int64), info=info, test_fraction=test_fraction, seed=seed)


# -- MNIST-style idx files --------------------------------------------------------------

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# name -> mirrors, MD5 of the published .gz files, MD5 of the decompressed files (when known),
# class names. A downloaded file is accepted when either checksum matches.
IDX_SOURCES = {
    "mnist": {
        "mirrors": ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        "md5_gz": {"train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                   "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
                   "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
                   "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c"},
        "md5_raw": {"train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
                    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
                    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
                    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637"},
        "classes": [str(i) for i in range(10)],
    },
    "fashion-mnist": {
        "mirrors": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
        "md5_gz": {"train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                   "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
                   "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
                   "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310"},
        "md5_raw": {},
        "classes": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    },
}

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(data: bytes, label: str = "idx file") -> np.ndarray:
    """Parse the bytes of an idx file (LeCun's format: magic, big-endian dims, data)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise UserError(f"{label} is not an idx file (bad magic number {data[:4].hex() or 'none'}); "
                        "give the original MNIST-format files")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise UserError(f"{label} has a truncated idx header; download the file again")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        raise UserError(f"{label} is {what} ({len(data)} bytes, expected {expected} for shape {dims}); "
                        "download the file again")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)


def _find_idx(data_dir: Path, stem: str) -> Path | None:
    """The file for ``stem`` in ``data_dir``: gzipped or not, ``-idx`` or ``.idx`` spelling."""
    alt = stem.replace("-idx", ".idx")
    for name in (stem + ".gz", stem, alt + ".gz", alt):
        p = data_dir / name
        if p.is_file():
            return p
    return None


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, zlib.error) as e:
        raise UserError(f"cannot read {path} ({e}); the file is corrupt, download it again") from None


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _download_idx(name: str, data_dir: Path) -> None:
    """Download the missing idx files of ``name`` into ``data_dir``, verifying MD5 checksums.

    Each file goes to a temporary file first and is renamed only once its checksum matches,
    so a failed or tampered download leaves nothing behind.
    """
    src = IDX_SOURCES[name]
    for stem in IDX_FILES:
        if _find_idx(data_dir, stem) is not None:
            continue
        data_dir.mkdir(parents=True, exist_ok=True)
        errors = []
        for mirror in src["mirrors"]:
            url = mirror + stem + ".gz"
            try:
                with urllib.request.urlopen(url, timeout=60) as r:
                    blob = r.read()
            except Exception as e:  # noqa: BLE001 -- any network failure: try the next mirror
                errors.append(f"{url}: {e}")
                continue
            ok = _md5(blob) == src["md5_gz"][stem]
            if not ok and stem in src["md5_raw"]:
                try:
                    ok = _md5(gzip.decompress(blob)) == src["md5_raw"][stem]
                except (OSError, EOFError, zlib.error):
                    ok = False
            if not ok:
                errors.append(f"{url}: bad checksum")
                continue
            fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=f".{stem}.", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(blob)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, data_dir / (stem + ".gz"))
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            break
        else:
            raise UserError(f"could not download {stem}.gz for {name} ({'; '.join(errors)}); download it "
                            f"by hand into {data_dir} and pass --data-dir {data_dir}")


def _load_idx_dataset(name: str, data_dir, download: bool, limit) -> Dataset:
    src = IDX_SOURCES[name]
    if limit is not None:
        limit = check_int("limit", limit, 1)
    if data_dir is None:
        if not download:
            raise UserError(f"{name} needs its idx files: pass --data-dir PATH (data_dir=) to a folder holding "
                            f"{IDX_FILES[0]}.gz etc., or --download (download=True) to fetch them")
        data_dir = Path("~/.cache/latentspace").expanduser() / name
    data_dir = Path(data_dir).expanduser()
    if download:
        _download_idx(name, data_dir)
    if not data_dir.is_dir():
        raise UserError(f"no such folder: {data_dir}; pass --data-dir PATH to the folder holding the {name} "
                        "idx files, or --download")
    paths = {}
    for stem in IDX_FILES:
        p = _find_idx(data_dir, stem)
        if p is None:
            raise UserError(f"{data_dir} has no {stem}(.gz); put the four {name} idx files there, or pass "
                            "--download to fetch them")
        paths[stem] = p
    arrays = {stem: parse_idx(_read_bytes(p), str(p)) for stem, p in paths.items()}
    xtr, ytr, xte, yte = (arrays[s] for s in IDX_FILES)
    for x, y, split in ((xtr, ytr, "train"), (xte, yte, "t10k")):
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise UserError(f"{data_dir}: {split} images {x.shape} and labels {y.shape} do not match; "
                            "check that the idx files belong together")
        if x.dtype != np.uint8:
            raise UserError(f"{data_dir}: {split} images have dtype {x.dtype}, expected unsigned bytes")
    if xtr.shape[1:] != xte.shape[1:]:
        raise UserError(f"{data_dir}: train images are {xtr.shape[1:]} but test images {xte.shape[1:]}")
    k = len(src["classes"])
    for y in (ytr, yte):
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= k):
            raise UserError(f"{data_dir}: labels outside 0..{k - 1}; check the label files")
    if limit is not None:
        xtr, ytr = xtr[:limit], ytr[:limit]
    info = image_info(name, (1, *xtr.shape[1:]), classes=list(src["classes"]))
    return make_dataset(unit_to_model(xtr[:, None], 255.0), ytr.astype(np.int64), info=info,
                        test_x=unit_to_model(xte[:, None], 255.0), test_y=yte.astype(np.int64))


@register("mnist", "MNIST handwritten digits, 60,000 + 10,000 28x28 (data_dir= or download=True)")
def mnist(data_dir=None, download=False, limit=None) -> Dataset:
    """MNIST from the four standard idx files (``.gz`` or not) in ``data_dir``.

    Uses the official 60,000/10,000 split. ``download=True`` fetches missing files into
    ``data_dir`` (default ``~/.cache/latentspace/mnist``) and checks their MD5 sums.
    ``limit`` keeps only the first N training images.
    """
    return _load_idx_dataset("mnist", data_dir, download, limit)


@register("fashion-mnist", "Zalando's Fashion-MNIST clothing, 60,000 + 10,000 28x28 (data_dir= or download=True)")
def fashion_mnist(data_dir=None, download=False, limit=None) -> Dataset:
    """Fashion-MNIST from the four idx files in ``data_dir``; options as for :func:`mnist`."""
    return _load_idx_dataset("fashion-mnist", data_dir, download, limit)


# -- folders of images --------------------------------------------------------------------

_GRAY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")
_BG_TOLERANCE = 32        # a pixel differing from the background by more than this is content


def _to_8bit(im):
    """16-bit / float grayscale to mode L (PIL's convert would clip instead of scale).

    Examples
    --------
    >>> from PIL import Image
    >>> np.asarray(_to_8bit(Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.uint16)))).tolist()
    [[0, 128, 255]]
    """
    from PIL import Image

    a = np.asarray(im)
    if im.mode == "F":
        a = a * 255.0 if np.nanmax(a) <= 1.0 else a
    elif im.mode.startswith("I;16") or a.max(initial=0) > 255:   # 16-bit files: 65535 is white, dark or not
        a = a / 257.0
    return Image.fromarray(np.clip(np.nan_to_num(a), 0, 255).astype(np.uint8), "L")


def _flatten(im, gray: bool, rgb: bool = False):
    """``im`` as mode L or RGB (``rgb``: always RGB), transparency composited on white."""
    from PIL import Image

    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        im = _to_8bit(im)
    if im.mode in ("LA", "La", "RGBA", "RGBa", "PA"):
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    if gray and im.mode != "L":
        im = im.convert("L")
    elif not gray and im.mode != "RGB" and (rgb or im.mode != "L"):
        im = im.convert("RGB")
    return im


def _background(a: np.ndarray) -> np.ndarray:
    """Median colour of the border pixels of an (H, W, C) array."""
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]], axis=0)
    return np.median(border, axis=0).round().astype(np.uint8)


def _readable(path):
    """What PIL opens: a file's path, or the bytes of an archive member (:class:`~.sources.Member`)."""
    return path if isinstance(path, (str, os.PathLike)) else path.stream()


def _process(path, size: int, color: str, crop: bool) -> np.ndarray:
    """One image (a file's path, or an archive member) as a uint8 array (C, size, size)."""
    from PIL import Image, ImageChops

    source = _readable(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(source)
            if im.format == "JPEG":   # decode at a reduced scale when the image is much larger
                im.draft("L" if color == "gray" else "RGB", (size * (8 if crop else 2),) * 2)
            im.load()
            gray = color == "gray" or (color == "auto" and im.mode in _GRAY_MODES)
            im = _flatten(im, gray, rgb=color == "rgb")
    except Image.DecompressionBombError:
        raise UserError(f"{path} has too many pixels to load safely (over {2 * Image.MAX_IMAGE_PIXELS:,}); "
                        "downscale it first") from None
    except (OSError, SyntaxError, ValueError, Image.UnidentifiedImageError) as e:
        raise UserError(f"cannot read image {path} ({type(e).__name__}: {e}); the file is corrupt or not an "
                        "image: replace or remove it") from None
    a = np.asarray(im)
    if a.ndim == 2:
        a = a[:, :, None]
    bg = _background(a)
    if crop:   # bounding box of the pixels differing from the background (in C, via PIL)
        diff = ImageChops.difference(im, Image.new(im.mode, im.size, tuple(int(v) for v in bg)))
        if diff.mode != "L":
            r_, g_, b_ = diff.split()
            diff = ImageChops.lighter(ImageChops.lighter(r_, g_), b_)
        box = diff.point([0] * (_BG_TOLERANCE + 1) + [255] * (255 - _BG_TOLERANCE)).getbbox()
        if box is not None:
            im = im.crop(box)
    w, h = im.size
    s = size / max(w, h)
    nw, nh = max(1, min(size, round(w * s))), max(1, min(size, round(h * s)))
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), Image.Resampling.LANCZOS, reducing_gap=3.0)
    r = np.asarray(im)
    if r.ndim == 2:
        r = r[:, :, None]
    out = np.empty((size, size, r.shape[2]), dtype=np.uint8)
    out[:] = bg
    top, left = (size - nh) // 2, (size - nw) // 2
    out[top:top + nh, left:left + nw] = r
    return out.transpose(2, 0, 1)


def _decode(files: list, size: int, color: str, crop: bool) -> list[np.ndarray]:
    """``files`` as uint8 arrays (C, size, size), decoded on up to 8 threads."""
    workers = min(8, os.cpu_count() or 1, max(1, len(files) // 16))
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda p: _process(p, size, color, crop), files))
    return [_process(p, size, color, crop) for p in files]


def _gray_in_rgb(items) -> bool:
    """Whether every 3-channel item holds a gray picture (three equal channels)."""
    return all((a[0] == a[1]).all() and (a[1] == a[2]).all() for a in items if a.shape[0] == 3)


def _load_images(files: list, size: int, color: str, crop: bool) -> np.ndarray:
    """All ``files`` as one uint8 array (n, C, size, size); gray or RGB decided for all."""
    items = _decode(files, size, color, crop)
    if color == "auto" and any(a.shape[0] == 3 for a in items):
        if _gray_in_rgb(items):
            items = [a[:1] for a in items]   # RGB files holding gray pictures
        else:
            items = [np.repeat(a, 3, axis=0) if a.shape[0] == 1 else a for a in items]
    return np.stack(items)


def _channels(files: list, color: str) -> int:
    """Channels of the decoded items before any squeeze: 1 when every file is gray (read from headers)."""
    from PIL import Image

    if color != "auto":
        return 1 if color == "gray" else 3
    for p in files:
        try:
            with Image.open(_readable(p)) as im:
                if im.mode not in _GRAY_MODES:
                    return 3
        except (OSError, SyntaxError, ValueError):
            return 3   # decoding will name the file
    return 1


def _load_mapped(c: Collection, name: str, *, size: int, color: str, crop: bool, test_fraction: float,
                 seed: int) -> Dataset:
    """The collection decoded chunk by chunk into memory-mapped splits (see :mod:`latentspace.data.mapped`)."""
    files, y, label = c.items(), c.labels(), c.source.label
    n, n_train = len(files), (len(c.train) if c.test is not None else None)
    if n_train is not None:
        splits = {"train": np.arange(n_train), "test": np.arange(n_train, n)}
    else:
        tr, te = seeded_split(n, test_fraction, seed, y, label=label)
        splits = {"train": tr, "test": te}
    channels = _channels(files, color)
    gray = {"so_far": True}

    def decode(index):
        items = _decode([files[i] for i in index], size, color, crop)
        if channels == 3:
            gray["so_far"] = gray["so_far"] and _gray_in_rgb(items)
            items = [np.repeat(a, 3, axis=0) if a.shape[0] == 1 else a for a in items]
        return unit_to_model(np.stack(items), 255.0)

    parts = {"kind": c.source.kind, **c.source.fingerprint(c.rels), "size": size, "color": color, "crop": bool(crop),
             "given_split": n_train, "test_fraction": test_fraction, "seed": seed, **c.key}
    x = mapped_splits(parts, label, splits, (channels, size, size), decode,
                      squeeze=(lambda: gray["so_far"]) if channels == 3 and color == "auto" else None)
    info = image_info(name, x["train"].shape[1:], classes=c.classes, extra={"size": size, "crop": bool(crop)})
    ys = {s: None if y is None else y[i] for s, i in splits.items()}
    test = Dataset(x["test"], ys["test"], info=info, split="test", label=label)
    data = Dataset(x["train"], ys["train"], info=info, test=test, split="train", label=label)
    data.storage = test.storage = "mapped"
    return data


def load_folder(path, size=64, color="auto", crop=False, test_fraction=0.2, seed=0, memory="auto", labels=None,
                label_pattern=None, class_depth=None, min_per_class=None, drop_unlabelled=False) -> Dataset:
    """Load a collection of PNG/JPEG/BMP (also GIF, TIFF, WebP) images: a folder, or a ``.zip`` archive
    read in place.

    Layouts understood (see :mod:`latentspace.data.collections`; paths relative to the folder, or
    to the archive's top folder when every entry lies in one):

    - ``<class>/**/*.png``: one sub-folder per class gives labels; class names are the sub-folder
      names in natural order ("2" before "10"). ``class_depth=2`` takes the class from the folder
      two levels down (``<site>/<class>/*.png``), ``class_depth=0`` takes no labels from folders.
    - ``*.png``: a flat collection, no labels.
    - ``train/...`` and ``test/...``: the given split, each laid out as above.
    - ``labels="FILE.csv"``: a CSV/TSV table with a header row and columns ``file,label`` (paths
      relative to the collection, sub-folders allowed), from the working folder or inside the
      collection.
    - ``label_pattern=REGEX``: the group ``(?P<label>...)`` of ``re.search`` over each image's path
      relative to the collection.

    Images without a label (not in the table, not matched by the pattern, above the class folders)
    are refused, or left out with ``drop_unlabelled=True``. ``min_per_class=N`` drops classes with
    fewer than N images, counted over the whole collection, or over the training images of a given
    split. What was left out and why is in the dataset's :meth:`~latentspace.data.Dataset.summary`.

    Without a given split, a seeded split (stratified when labelled) holds out
    ``test_fraction`` of the images.

    Each image is converted to gray or RGB (``color="auto"``: gray when every image is gray;
    1-bit, 16-bit and palette files are read at their own depth; transparency is composited on
    white), optionally cropped to its content (``crop=True``: pixels differing from the
    background, estimated as the median border colour), resized keeping its aspect ratio to fit
    ``size`` x ``size`` and padded to that square with the background colour. Hidden files and
    folders (and ``__MACOSX/``) are skipped.

    ``memory="auto"`` decodes a collection whose float32 items would take more than half the
    available memory into a memory-mapped copy in the cache, once, chunk by chunk, so that it
    never has to fit in memory (``"map"``: always; ``"ram"``: never); the items are the same
    either way. See :mod:`latentspace.data.mapped`.

    Examples
    --------
    >>> data = load_folder("pots.zip", labels="pots.csv", min_per_class=5)   # doctest: +SKIP
    >>> print(data.summary())                                                 # doctest: +SKIP
    """
    source = open_collection(path)
    size = check_int("size", size, 4)
    if color not in ("auto", "gray", "rgb"):
        raise UserError(f"option color must be 'auto', 'gray' or 'rgb', got {color!r}")
    if not isinstance(crop, (bool, np.bool_)):
        raise UserError(f"option crop must be True or False, got {crop!r}")
    test_fraction, seed = check_fraction(test_fraction), check_int("seed", seed)
    memory = check_memory(memory)
    with source:
        c = collect(source, labels=labels, label_pattern=label_pattern, class_depth=class_depth,
                    min_per_class=min_per_class, drop_unlabelled=drop_unlabelled)
        options = dict(size=size, color=color, crop=crop, test_fraction=test_fraction, seed=seed)
        if should_map(memory, 4 * len(c.rels) * (1 if color == "gray" else 3) * size * size):
            data = _load_mapped(c, source.name, **options)
        else:
            data = _load_in_memory(c, source.name, **options)
    data.notes = c.notes
    return data


def _load_in_memory(c: Collection, name: str, *, size: int, color: str, crop: bool, test_fraction: float,
                    seed: int) -> Dataset:
    x = unit_to_model(_load_images(c.items(), size, color, crop), 255.0)
    y, label = c.labels(), c.source.label
    info = image_info(name, x.shape[1:], classes=c.classes, extra={"size": size, "crop": bool(crop)})
    if c.test is not None:
        n = len(c.train)
        return make_dataset(x[:n], None if y is None else y[:n], info=info,
                            test_x=x[n:], test_y=None if y is None else y[n:], label=label)
    return make_dataset(x, y, info=info, test_fraction=test_fraction, seed=seed, label=label)
