"""The bad-input corpus: every loader and command, fed what users (and their disks) get wrong.

Each case is its own test, once per surface it has (``[cli]``: ``latentspace ...`` through
``cli.main``; ``[api]``: the Python call). Every one must end in a :class:`UserError` whose message
is one line naming the problem (a key phrase per case) and, where there is one, the fix; the CLI
exits 2 with ``error: ...`` and no traceback; and nothing is written: the case's folder (inputs,
existing outputs, a copy of a trained run) is byte-for-byte and mtime-for-mtime the same after.
docs/reliability.md lists the cases.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

import latentspace as ls
from latentspace import cli
from latentspace.data import arrays
from latentspace.errors import UserError

from conftest import snapshot

# -- making the inputs ------------------------------------------------------------------------------


def _png(seed=0, size=8) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size, size), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _jpeg(seed=0, size=32) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def _npy(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _npy_lying_header() -> bytes:
    """A .npy header promising a 10^6 x 10^6 float64 array (7 TiB), followed by 16 bytes."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
    return buf.getvalue() + b"\0" * 16


def _zip(**members) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _idx(a: np.ndarray) -> bytes:
    a = np.asarray(a, dtype=np.uint8)
    return bytes([0, 0, 0x08, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _idx_folder(t: Path, broken: bytes | None = None):
    """Four small idx files in t/idx; the train images replaced by ``broken`` when given."""
    rng = np.random.default_rng(0)
    files = [_idx(rng.integers(0, 255, (6, 4, 4))), _idx(np.arange(6) % 10),
             _idx(rng.integers(0, 255, (3, 4, 4))), _idx(np.arange(3))]
    if broken is not None:
        files[0] = broken
    (t / "idx").mkdir()
    for name, data in zip(IDX, files):
        (t / "idx" / (name + ".gz")).write_bytes(gzip.compress(data, mtime=0))


def _raw_zip(members: dict) -> bytes:
    """A zip whose entry names are written as given (``../evil.png``, ``/tmp/evil.png``), stored uncompressed."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            info = zipfile.ZipInfo("placeholder")
            info.filename = name
            z.writestr(info, data)
    return buf.getvalue()


def _encrypted(blob: bytes) -> bytes:
    """``blob`` with every central-directory record flagged as encrypted."""
    out, at = bytearray(blob), 0
    while (at := out.find(b"PK\x01\x02", at)) >= 0:
        out[at + 8] |= 0x1
        at += 4
    return bytes(out)


def _name(key: str) -> str:
    """``imgs__a_png`` -> ``imgs/a.png``: ``__`` separates folders, a segment's last ``_`` is its dot."""
    return "/".join(".".join(seg.rsplit("_", 1)) for seg in key.split("__"))


def files(**contents) -> Callable[[Path], None]:
    """A setup writing ``{name: bytes, str or None (a folder)}`` into the case's folder (names as :func:`_name`)."""
    def make(t: Path):
        for name, data in contents.items():
            p = t / _name(name)
            if data is None:
                p.mkdir(parents=True, exist_ok=True)
                continue
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, str):
                p.write_text(data)
            else:
                p.write_bytes(data)
    return make


def both(*steps) -> Callable[[Path], None]:
    def make(t):
        for s in steps:
            s(t)
    return make


def with_run(t: Path):
    """A copy of the module's trained gan run (ring8, 2 steps) at t/run."""
    shutil.copytree(TRAINED["gan"], t / "run")


def patch(path: str, data: bytes | str) -> Callable[[Path], None]:
    def make(t):
        p = t / path
        p.write_bytes(data.encode() if isinstance(data, str) else data)
    return make


def edit_json(path: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    def make(t):
        p = t / path
        d = json.loads(p.read_text())
        change(d)
        p.write_text(json.dumps(d))
    return make


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).random(shape)


def _nan_points():
    a = _rand(20, 2)
    a[3, 1] = np.nan
    return a


def _inf_points():
    a = _rand(20, 2)
    a[5, 0] = np.inf
    return a


# -- the corpus ------------------------------------------------------------------------------------

@dataclass
class Case:
    id: str
    phrases: tuple            # key phrases of the message, lower case: the problem and the fix
    cli: list | None = None   # argv, run in the case's folder
    api: Callable | None = None   # fn(folder) that must raise UserError
    make: Callable | None = None  # writes the case's inputs into its folder
    xfail: str | None = None      # reason: owned by a file outside this corpus' reach
    xfail_on: tuple = ("cli", "api")
    patch: Callable | None = None  # fn(monkeypatch)
    skip: str | None = None


def train(data, *more) -> list:
    return ["train", "gan", "--data", data, "--steps", "2", "--out", "out", "--no-progress", *more]


def data_case(id, name, make, phrases, *more, **kw) -> Case:
    """A loader case: ``latentspace train gan --data NAME`` and ``ls.data.load(NAME)``."""
    return Case(id, phrases, cli=train(name, *more), api=lambda t: ls.data.load(name), make=make, **kw)


def collection_case(id, name, options: dict, make, phrases) -> Case:
    """A collection case: ``latentspace train gan --data NAME --OPTION VALUE`` and ``ls.data.load(NAME, **options)``."""
    flags = []
    for key, value in options.items():
        flags += [f"--{key.replace('_', '-')}", str(value)]
    return Case(id, phrases, cli=train(name, *flags), api=lambda t: ls.data.load(name, **options), make=make)


#: three flat images in imgs/
IMGS3 = files(imgs__a_png=_png(), imgs__b_png=_png(1), imgs__c_png=_png(2))


def _denied(path, *args, **kw):
    """``open`` as it behaves on a file the user may not read."""
    if Path(path).name == "locked.npy":
        raise PermissionError(13, "Permission denied", str(path))
    return open(path, *args, **kw)


ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False

CASES = [
    # -- paths ---------------------------------------------------------------------------------------
    data_case("path-missing-npy", "missing.npy", None, ("no such file: missing.npy", "check the path")),
    data_case("path-missing-folder", "nowhere/data", None, ("no such file or folder", "check the path")),
    data_case("path-dangling-link", "link.npy", lambda t: os.symlink(t / "gone.npy", t / "link.npy"),
              ("no such file: link.npy",)),
    data_case("path-unreadable-npy", "locked.npy", both(files(locked_npy=_npy(_rand(5, 2))),
                                                        lambda t: os.chmod(t / "locked.npy", 0)),
              ("cannot read locked.npy", "permission"), skip="root reads any file" if ROOT else None),
    # the same, for any user: the file system refuses to open it
    data_case("path-unreadable-npy-eacces", "locked.npy", files(locked_npy=_npy(_rand(5, 2))),
              ("cannot read locked.npy", "permission"), patch=lambda mp: mp.setattr(arrays, "open", _denied,
                                                                                   raising=False)),
    data_case("path-npy-is-a-folder", "data.npy", files(data_npy__a_txt="x"), ("data.npy", "no images")),
    data_case("unknown-dataset", "ring9", None, ("unknown dataset 'ring9'", "use one of")),
    # -- folders of images ------------------------------------------------------------------------------
    data_case("folder-empty", "imgs", files(imgs=None), ("holds no images",)),
    data_case("folder-of-non-images", "imgs", files(imgs__a_txt="hello", imgs__b_csv="1,2"), ("holds no images",)),
    data_case("folder-one-image", "imgs", files(imgs__a_png=_png()), ("holds 1 image", "at least 2")),
    data_case("png-zero-byte", "imgs", files(imgs__a_png=_png(), imgs__b_png=b""),
              ("cannot read image imgs/b.png", "replace or remove it")),
    data_case("png-corrupt", "imgs", files(imgs__a_png=_png(), imgs__b_png=b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 9),
              ("cannot read image imgs/b.png", "corrupt")),
    data_case("png-truncated", "imgs", files(imgs__a_png=_png(), imgs__b_png=_png(1, 32)[:60]),
              ("cannot read image imgs/b.png", "corrupt")),
    data_case("jpeg-zero-byte", "imgs", files(imgs__a_jpg=_jpeg(), imgs__b_jpg=b""),
              ("cannot read image imgs/b.jpg",)),
    data_case("jpeg-corrupt", "imgs", files(imgs__a_jpg=_jpeg(), imgs__b_jpg=b"\xff\xd8\xff\xe0" + os.urandom(64)),
              ("cannot read image imgs/b.jpg",)),
    data_case("jpeg-truncated", "imgs", files(imgs__a_jpg=_jpeg(), imgs__b_jpg=_jpeg(1)[:200]),
              ("cannot read image imgs/b.jpg",)),
    Case("folder-size-too-small", ("option size must be at least 4",), cli=train("imgs", "--size", "2"),
         api=lambda t: ls.data.load("imgs", size=2), make=files(imgs__a_png=_png(), imgs__b_png=_png(1))),
    # -- collections: label tables, label patterns, zip archives, classes by depth, a minimum per class ---------
    collection_case("zip-missing", "missing.zip", {}, None, ("no such file: missing.zip", "check the path")),
    collection_case("zip-zero-byte", "x.zip", {}, files(x_zip=b""), ("x.zip is not a readable zip archive",
                                                                      "re-create it")),
    collection_case("zip-random-bytes", "x.zip", {}, files(x_zip=bytes(range(256)) * 3),
                    ("x.zip is not a readable zip archive",)),
    collection_case("zip-truncated", "x.zip", {}, files(x_zip=_raw_zip({"a.png": _png(), "b.png": _png(1)})[:150]),
                    ("x.zip is not a readable zip archive",)),
    collection_case("zip-slip-dotdot", "x.zip", {}, files(x_zip=_raw_zip({"a.png": _png(), "b.png": _png(1),
                                                                            "../evil.png": _png(2)})),
                    ("x.zip holds an entry whose path leaves the archive ('../evil.png')", "re-create the archive")),
    collection_case("zip-absolute-member", "x.zip", {}, files(x_zip=_raw_zip({"a.png": _png(), "b.png": _png(1),
                                                                                "/tmp/evil.png": _png(2)})),
                    ("leaves the archive ('/tmp/evil.png')",)),
    collection_case("zip-corrupt-member", "x.zip", {},
                    files(x_zip=_raw_zip({"a.png": _png(), "b.png": _png(1)}).replace(b"IEND", b"IENX")),
                    ("cannot read x.zip:a.png", "bad crc-32", "re-create it")),
    collection_case("zip-encrypted-member", "x.zip", {}, files(x_zip=_encrypted(_raw_zip({"a.png": _png(),
                                                                                         "b.png": _png(1)}))),
                    ("x.zip:a.png is encrypted", "without a password")),
    collection_case("zip-no-images", "x.zip", {}, files(x_zip=_raw_zip({"notes.txt": b"hi"})),
                    ("x.zip holds no images", "an archive of images")),
    collection_case("labels-missing-table", "imgs", {"labels": "nope.csv"}, IMGS3,
                    ("no such labels file: nope.csv", "check the path")),
    collection_case("labels-name-missing-files", "imgs", {"labels": "labels.csv"},
                    both(IMGS3, files(labels_csv="file,label\na.png,x\nb.png,y\nc.png,y\ngone.png,x\nz.png,y\n")),
                    ("labels.csv names 2 files not among the images of imgs, e.g. 'gone.png'", "fix the paths")),
    collection_case("labels-unlabelled-images", "imgs", {"labels": "labels.csv"},
                    both(IMGS3, files(labels_csv="file,label\na.png,x\nb.png,y\n")),
                    ("no row in labels.csv for 1 of 3 images, e.g. 'c.png'", "drop_unlabelled=true")),
    collection_case("labels-no-file-column", "imgs", {"labels": "labels.csv"},
                    both(IMGS3, files(labels_csv="image_name,label\na.png,x\n")),
                    ("labels.csv has no file column", "header row naming the columns file and label")),
    collection_case("labels-empty-label", "imgs", {"labels": "labels.csv"},
                    both(IMGS3, files(labels_csv="file,label\na.png,x\nb.png,\nc.png,y\n")),
                    ("labels.csv row 3 gives no label", "fill it in or remove the row")),
    collection_case("labels-file-twice", "imgs", {"labels": "labels.csv"},
                    both(IMGS3, files(labels_csv="file,label\na.png,x\nb.png,y\nc.png,y\na.png,y\n")),
                    ("names 'a.png' twice (rows 2 and 5)", "give each file once")),
    collection_case("labels-not-utf8", "imgs", {"labels": "labels.csv"},
                    both(IMGS3, files(labels_csv=b"file,label\na.png,\xe9t\xe9\n")),
                    ("labels.csv is not utf-8 text", "save the table as utf-8")),
    collection_case("labels-and-pattern", "imgs", {"labels": "labels.csv", "label_pattern": "(?P<label>.)"},
                    both(IMGS3, files(labels_csv="file,label\n")), ("not both",)),
    collection_case("pattern-invalid", "imgs", {"label_pattern": "(?P<label>[a-z]"}, IMGS3,
                    ("is not a valid regular expression", "fix it")),
    collection_case("pattern-without-label-group", "imgs", {"label_pattern": "([a-z])"}, IMGS3,
                    ("has no group named 'label'", "(?p<label>...)")),
    collection_case("pattern-no-match", "imgs", {"label_pattern": "^(?P<label>[ab])"}, IMGS3,
                    ("finds no label in 1 of 3 images of imgs, e.g. 'c.png'", "change the pattern")),
    collection_case("class-depth-images-above", "imgs", {"class_depth": 2},
                    files(imgs__s__a__1_png=_png(), imgs__s__a__2_png=_png(1), imgs__s__3_png=_png(2)),
                    ("1 image lies above the class folders (class_depth=2), e.g. 's/3.png'", "drop_unlabelled=true")),
    collection_case("class-depth-negative", "imgs", {"class_depth": -1}, IMGS3, ("option class_depth must be at "
                                                                                  "least 0",)),
    collection_case("min-per-class-leaves-nothing", "imgs", {"min_per_class": 5},
                    files(imgs__a__1_png=_png(), imgs__a__2_png=_png(1), imgs__b__3_png=_png(2)),
                    ("no class has 5 or more images", "the largest, 'a', has 2", "lower min_per_class")),
    collection_case("min-per-class-without-labels", "imgs", {"min_per_class": 2}, IMGS3,
                    ("min_per_class needs labels", "label_pattern=")),
    collection_case("min-per-class-zero", "imgs", {"min_per_class": 0}, IMGS3,
                    ("option min_per_class must be at least 1",)),
    collection_case("labels-on-an-array", "x.npy", {"labels": "labels.csv"}, files(x_npy=_npy(_rand(10, 2))),
                    ("takes no option 'labels'", "valid options")),
    # -- .npy / .npz files -----------------------------------------------------------------------------
    data_case("npy-zero-byte", "x.npy", files(x_npy=b""), ("x.npy is empty (0 bytes)", "np.save")),
    data_case("npy-random-bytes", "x.npy", files(x_npy=bytes(range(256)) * 3),
              ("x.npy is not a numpy .npy or .npz file", "np.save")),
    data_case("npy-text-file", "x.npy", files(x_npy="1,2,3\n4,5,6\n"), ("x.npy is not a numpy .npy", "np.save")),
    data_case("npy-truncated", "x.npy", files(x_npy=_npy(_rand(100, 3))[:300]), ("x.npy is truncated", "re-save")),
    data_case("npy-corrupt-header", "x.npy", files(x_npy=b"\x93NUMPY\x01\x00\x10\x00{garbage}      \n"),
              ("corrupt .npy header", "re-save")),
    data_case("npy-header-promises-terabytes", "x.npy", files(x_npy=_npy_lying_header()),
              ("x.npy is truncated", "re-save")),
    data_case("npy-object-array", "x.npy", files(x_npy=_npy(np.array([{"a": 1}, None], dtype=object))),
              ("object array", "numeric")),
    data_case("npz-zero-byte", "x.npz", files(x_npz=b""), ("x.npz is empty",)),
    data_case("npz-truncated", "x.npz", files(x_npz=_npz(x=_rand(50, 2))[:120]), ("x.npz", "re-save")),
    data_case("npz-without-x", "x.npz", files(x_npz=_npz(y=np.arange(3))), ("no array 'x'", "np.savez")),
    data_case("npz-unknown-key", "x.npz", files(x_npz=_npz(x=_rand(5, 2), weights=_rand(3))),
              ("unknown key 'weights'", "use only")),
    data_case("npz-member-not-an-array", "x.npz", files(x_npz=_zip(x=b"hello")),
              ("holds 'x', which is not a numpy array", "np.savez")),
    data_case("npz-object-member", "x.npz", files(x_npz=_npz(x=np.array([None, 1], dtype=object))),
              ("object array",)),
    data_case("npy-nan", "x.npy", files(x_npy=_npy(_nan_points())), ("nan/inf", "remove or impute")),
    data_case("npy-inf", "x.npy", files(x_npy=_npy(_inf_points())), ("nan/inf", "remove or impute")),
    data_case("npy-strings", "x.npy", files(x_npy=_npy(np.array([["a", "b"], ["c", "d"]]))),
              ("not numbers", "numeric")),
    data_case("npy-complex", "x.npy", files(x_npy=_npy(_rand(5, 2) + 1j)), ("complex", "real")),
    data_case("npy-rank-1", "x.npy", files(x_npy=_npy(_rand(5))), ("shape (5,)", "x[:, none]")),
    data_case("npy-rank-6", "x.npy", files(x_npy=_npy(_rand(3, 2, 2, 2, 2, 2))), ("fits no modality",)),
    data_case("npy-one-item", "one.npy", files(one_npy=_npy(_rand(1, 2))), ("one.npy", "at least 2")),
    data_case("npy-zero-items", "x.npy", files(x_npy=_npy(np.zeros((0, 2)))), ("shape (0, 2)", "non-empty")),
    data_case("npy-image-out-of-range", "x.npy", files(x_npy=_npy(_rand(6, 8, 8) * 255)),
              ("must lie in [0, 1]", "divide by 255")),
    data_case("npz-labels-count", "x.npz", files(x_npz=_npz(x=_rand(10, 2), y=np.arange(9) % 2)),
              ("9 labels for 10 items", "one label per item")),
    data_case("npz-labels-2d", "x.npz", files(x_npz=_npz(x=_rand(4, 2), y=np.zeros((4, 2)))), ("must be 1-d",)),
    data_case("npz-labels-fractional", "x.npz", files(x_npz=_npz(x=_rand(4, 2), y=np.array([0, 0.5, 1, 1]))),
              ("fractional", "integers")),
    data_case("npz-labels-negative", "x.npz", files(x_npz=_npz(x=_rand(4, 2), y=np.array([0, -1, 1, 1]))),
              ("negative labels",)),
    data_case("npz-label-without-name", "x.npz",
              files(x_npz=_npz(x=_rand(6, 2), y=np.array([0, 1, 2, 0, 1, 2]), class_names=np.array(["a", "b"]))),
              ("label 2 has no name", "one name per class")),
    data_case("npz-y_test-without-x_test", "x.npz", files(x_npz=_npz(x=_rand(6, 2), y_test=np.arange(2))),
              ("y_test is given without x_test",)),
    data_case("npz-singleton-classes", "x.npz", files(x_npz=_npz(x=_rand(3, 2), y=np.arange(3))),
              ("x.npz", "held-out split empty", "more items")),
    # -- registered datasets and their options ---------------------------------------------------------
    Case("mnist-without-data-dir", ("needs its idx files", "--data-dir"), cli=train("mnist"),
         api=lambda t: ls.data.load("mnist")),
    Case("idx-missing-files", ("has no train-images-idx3-ubyte", "--download"), cli=train("mnist", "--data-dir", "idx"),
         api=lambda t: ls.data.load("mnist", data_dir="idx"), make=files(idx=None)),
    Case("idx-zero-byte", ("not an idx file",), cli=train("mnist", "--data-dir", "idx"),
         api=lambda t: ls.data.load("mnist", data_dir="idx"), make=lambda t: _idx_folder(t, b"")),
    Case("idx-bad-magic", ("bad magic number",), cli=train("mnist", "--data-dir", "idx"),
         api=lambda t: ls.data.load("mnist", data_dir="idx"), make=lambda t: _idx_folder(t, b"\x12\x34\x56\x78" * 8)),
    Case("idx-truncated", ("is truncated", "download the file again"), cli=train("mnist", "--data-dir", "idx"),
         api=lambda t: ls.data.load("mnist", data_dir="idx"),
         make=lambda t: _idx_folder(t, _idx(np.zeros((6, 4, 4)))[:40])),
    Case("idx-corrupt-gzip", ("corrupt", "download it again"), cli=train("mnist", "--data-dir", "idx"),
         api=lambda t: ls.data.load("mnist", data_dir="idx"),
         make=lambda t: (_idx_folder(t), (t / "idx" / (IDX[0] + ".gz")).write_bytes(b"\x1f\x8b\x08\x00garbage"))),
    Case("dataset-unknown-option", ("takes no option 'radius'", "valid options"),
         api=lambda t: ls.data.load("ring8", radius=2)),
    Case("dataset-bad-option-value", ("option n must be an integer",), api=lambda t: ls.data.load("ring8", n="many")),
    Case("dataset-test-fraction", ("strictly between 0 and 1",),
         api=lambda t: ls.data.load("digits", test_fraction=1.5)),
    Case("dataset-unknown-class", ("has no class '11'", "its classes are"), cli=train("digits", "--classes", "11"),
         api=lambda t: ls.data.load("digits", classes="11")),
    # -- arrays in memory --------------------------------------------------------------------------------
    Case("from-array-nan", ("from_array('array'): x", "nan/inf"), api=lambda t: ls.data.from_array(_nan_points())),
    Case("from-array-one-item", ("1 item", "at least 2"), api=lambda t: ls.data.from_array(_rand(1, 2))),
    Case("from-array-labels", ("3 labels for 10 items",), api=lambda t: ls.data.from_array(_rand(10, 2), y=[0, 1, 0])),
    Case("from-array-rank-1", ("shape (7,)", "x[:, none]"), api=lambda t: ls.data.from_array(_rand(7))),
    Case("from-array-unknown-modality", ("unknown modality 'audio'",),
         api=lambda t: ls.data.from_array(_rand(7, 2), modality="audio")),
    # -- models and their settings -----------------------------------------------------------------------
    Case("unknown-model", ("unknown model 'gam'", "use one of"),
         cli=["train", "gam", "--data", "ring8", "--out", "out"], api=lambda t: ls.models.create("gam")),
    Case("set-unknown-key", ("has no parameter 'widht'", "valid:"), cli=train("ring8", "--set", "widht=64"),
         api=lambda t: ls.models.create("gan", widht=64)),
    Case("set-bad-value", ("parameter 'lr' expects a float",), cli=train("ring8", "--set", "lr=fast"),
         api=lambda t: ls.models.create("gan", lr="fast")),
    Case("set-bad-choice", ("must be one of",), cli=train("ring8", "--set", "loss=magic"),
         api=lambda t: ls.models.create("gan", loss="magic")),
    Case("set-without-value", ("--set expects key=value",), cli=train("ring8", "--set", "lr")),
    Case("set-negative-width", ("latent_dim",), cli=train("ring8", "--set", "latent_dim=-3"),
         api=lambda t: ls.models.create("gan", latent_dim=-3).fit(ls.data.load("ring8", n=64, n_test=8), steps=1,
                                                                   progress=False)),
    Case("set-negative-lr", ("lr",), cli=train("ring8", "--set", "lr=-1")),
    Case("steps-zero", ("--steps must be a positive integer",),
         cli=train("ring8")[:4] + ["--steps", "0", "--out", "out", "--no-progress"],
         # were 0 read as "the default" again, the run stays short
         patch=lambda mp: mp.setattr(ls.models.registry()["gan"], "_default_steps", lambda self, data: 2)),
    Case("steps-negative", ("--steps must be a positive integer",),
         cli=train("ring8")[:4] + ["--steps", "-1", "--out", "out"]),
    Case("batch-size-zero", ("--batch-size must be a positive integer",), cli=train("ring8", "--batch-size", "0")),
    Case("data-b-for-one-domain-model", ("--data-b is for models",), cli=train("ring8", "--data-b", "ring8")),
    Case("cyclegan-without-data-b", ("give domain a with --data", "--data-b"),
         cli=["train", "cyclegan", "--data", "digits", "--out", "out"]),
    Case("train-without-data", ("--data name_or_path",), cli=["train", "gan", "--out", "out"]),
    Case("fit-plain-array", ("ls.data.from_array",),
         api=lambda t: ls.models.create("gan").fit(_rand(20, 2), steps=1, progress=False)),
    Case("fit-plain-array-classical", ("ls.data.from_array",),
         api=lambda t: ls.models.create("ppca").fit(_rand(20, 2))),
    # -- run folders: training into them ---------------------------------------------------------------
    Case("train-out-existing-run", ("already exists", "--overwrite"),
         cli=["train", "gan", "--data", "ring8", "--steps", "2", "--out", "run"], make=with_run),
    Case("train-out-is-a-file", ("exists and is a file", "folder name"),
         cli=["train", "gan", "--data", "ring8", "--steps", "2", "--out", "out"], make=files(out="not a folder")),
    Case("resume-nothing", ("nothing to resume",), cli=["train", "gan", "--resume", "--out", "empty"],
         make=files(empty=None)),
    Case("resume-another-model", ("holds a run of model 'gan'", "latentspace train gan --resume"),
         cli=["train", "vae", "--resume", "--out", "run"], make=with_run),
    Case("resume-another-shape", ("'ring8'", "'digits'", "own data"),  # refused as another dataset, first
         cli=["train", "gan", "--data", "digits", "--resume", "--steps", "4", "--out", "run", "--no-progress"],
         make=with_run),
    Case("resume-another-dataset", ("ring8", "grid25"),
         cli=["train", "gan", "--data", "grid25", "--resume", "--steps", "4", "--out", "run", "--no-progress"],
         make=with_run),
    Case("resume-corrupt-checkpoint", ("latest.safetensors is not a valid safetensors file",),
         cli=["train", "gan", "--resume", "--steps", "4", "--out", "run", "--no-progress"],
         make=both(with_run, patch("run/checkpoints/latest.safetensors", b""))),
    Case("resume-corrupt-config", ("config.json is not valid json",),
         cli=["train", "gan", "--resume", "--steps", "4", "--out", "run"],
         make=both(with_run, patch("run/config.json", "{broken"))),
    # -- run folders: reading them -----------------------------------------------------------------------
    Case("sample-not-a-run", ("holds no saved model", "run folder"), cli=["sample", "folder", "--out", "s.png"],
         api=lambda t: ls.load("folder"), make=files(folder__notes_txt="hi")),
    Case("sample-missing-run", ("no such model or run folder",), cli=["sample", "nope", "--out", "s.png"],
         api=lambda t: ls.load("nope")),
    Case("sample-a-file", ("is a file, not a model or run folder",), cli=["sample", "f.txt", "--out", "s.png"],
         api=lambda t: ls.load("f.txt"), make=files(f_txt="x")),
    Case("sample-out-existing", ("s.png already exists", "--overwrite"), cli=["sample", "run", "--out", "s.png"],
         make=both(with_run, files(s_png=_png()))),
    Case("sample-out-suffix", ("--out must end in .png or .npy",), cli=["sample", "run", "--out", "s.txt"],
         make=with_run),
    Case("sample-n-zero", ("must be a positive integer", "got 0"), cli=["sample", "run", "--out", "s.png", "--n", "0"],
         api=lambda t: ls.load("run").sample(0), make=with_run),
    Case("evaluate-not-a-run", ("holds no saved model",), cli=["evaluate", "folder"], make=files(folder=None)),
    Case("evaluate-other-shape", ("shape (2,)", "digits"), cli=["evaluate", "run", "--data", "digits"], make=with_run),
    Case("evaluate-corrupt-config", ("config.json is not valid json",), cli=["evaluate", "run"],
         make=both(with_run, patch("run/config.json", "{broken"))),
    Case("report-not-a-run", ("holds no saved model",), cli=["report", "folder"], make=files(folder=None)),
    Case("report-out-existing", ("page.html already exists", "--overwrite"),
         cli=["report", "run", "--out", "page.html"], make=both(with_run, files(page_html="<p>mine</p>"))),
    Case("plot-out-existing", ("p.png already exists", "--overwrite"),
         cli=["plot", "run", "--kind", "manifold", "--out", "p.png"], make=both(with_run, files(p_png=_png()))),
    Case("plot-unknown-kind", ("unknown picture kind 'portrait'",),
         cli=["plot", "run", "--kind", "portrait", "--out", "p.png"], make=with_run),
    Case("plot-no-encoder", ("cannot encode",), cli=["plot", "run", "--kind", "reconstructions", "--out", "p.png"],
         make=with_run),
    Case("compare-unknown-model", ("unknown model 'gam'",),
         cli=["compare", "gan", "gam", "--data", "ring8", "--out", "c"]),
    Case("compare-model-twice", ("given twice",), cli=["compare", "gan", "gan", "--data", "ring8", "--out", "c"]),
    Case("model-json-not-an-object", ("model.json holds a json list",), cli=["sample", "run", "--out", "s.png"],
         api=lambda t: ls.load("run"), make=both(with_run, patch("run/model/model.json", "[1, 2]"))),
    Case("model-json-unknown-model", ("names an unknown model 'gam'",), cli=["sample", "run", "--out", "s.png"],
         api=lambda t: ls.load("run"),
         make=both(with_run, edit_json("run/model/model.json", lambda d: d.update(model="gam")))),
    Case("model-json-bad-shape", ("item shape must be a list of positive integers",),
         cli=["sample", "run", "--out", "s.png"], api=lambda t: ls.load("run"),
         make=both(with_run, edit_json("run/model/model.json", lambda d: d["data"].update(shape=[0])))),
    Case("weights-truncated", ("weights.safetensors is not a valid safetensors file",),
         cli=["sample", "run", "--out", "s.png"], api=lambda t: ls.load("run"),
         make=both(with_run, lambda t: patch("run/model/weights.safetensors",
                                             (t / "run/model/weights.safetensors").read_bytes()[:300])(t))),
    Case("model-json-zero-byte", ("model.json is not valid json",), cli=["sample", "run", "--out", "s.png"],
         api=lambda t: ls.load("run"), make=both(with_run, patch("run/model/model.json", b""))),
    Case("weights-zero-byte", ("weights.safetensors is not a valid safetensors file", "too short"),
         cli=["sample", "run", "--out", "s.png"], api=lambda t: ls.load("run"),
         make=both(with_run, patch("run/model/weights.safetensors", b""))),
    Case("evaluate-config-unknown-dataset", ("unknown dataset 'ring9'",), cli=["evaluate", "run"],
         make=both(with_run, edit_json("run/config.json", lambda d: d["data"].update(name_or_path="ring9")))),
    Case("weights-missing", ("no such file", "weights.safetensors"), cli=["sample", "run", "--out", "s.png"],
         api=lambda t: ls.load("run"), make=both(with_run, lambda t: (t / "run/model/weights.safetensors").unlink())),
    Case("weights-of-another-model", ("does not fit", "save the model again"), cli=["sample", "run", "--out", "s.png"],
         api=lambda t: ls.load("run"),
         make=both(with_run, edit_json("run/model/model.json", lambda d: d["params"].update(hidden=7)))),
    # -- a fitted model's API --------------------------------------------------------------------------
    Case("score-nan", ("nan or inf",), api=lambda t: FITTED["ppca"].score_samples(np.full((2, 1, 8, 8), np.nan))),
    Case("score-wrong-shape", ("items have shape (64,)", "(n, 1, 8, 8)"),
         api=lambda t: FITTED["ppca"].score_samples(np.zeros((2, 64)))),
    Case("score-out-of-range", ("values in [0, 255]", "divide 8-bit values by 255"),
         api=lambda t: FITTED["ppca"].score_samples(np.linspace(0, 255, 128).reshape(2, 1, 8, 8))),
    Case("encode-out-of-range", ("values in [-3, 1]", "rescale"),
         api=lambda t: FITTED["ppca"].encode(np.linspace(-3, 1, 128).reshape(2, 1, 8, 8))),
    Case("save-onto-a-file", ("it is a file", "folder path"), api=lambda t: FITTED["ppca"].save("model.bin"),
         make=files(model_bin=b"keep me")),
    Case("save-under-a-file", ("is a file",), api=lambda t: FITTED["ppca"].save("model.bin/inner"),
         make=files(model_bin=b"keep me")),
]

# -- the trained run and fitted models, made once --------------------------------------------------
TRAINED: dict = {}
FITTED: dict = {}


@pytest.fixture(scope="module", autouse=True)
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("corpus-runs")
    assert cli.main(["train", "gan", "--data", "ring8", "--steps", "2", "--out", str(base / "gan"),
                     "--no-progress"]) == 0
    TRAINED["gan"] = base / "gan"
    FITTED["ppca"] = ls.models.create("ppca").fit(ls.data.load("digits"))
    yield
    TRAINED.clear()
    FITTED.clear()


def _params():
    out = []
    for case in CASES:
        for surface in ("cli", "api"):
            if getattr(case, surface) is None:
                continue
            marks = []
            if case.xfail and surface in case.xfail_on:
                marks.append(pytest.mark.xfail(reason=case.xfail, strict=True))
            if case.skip:
                marks.append(pytest.mark.skip(reason=case.skip))
            out.append(pytest.param(case, surface, id=f"{case.id}[{surface}]", marks=marks))
    return out


@pytest.mark.parametrize("case,surface", _params())
def test_bad_input(case: Case, surface: str, tmp_path, monkeypatch, capsys):
    work = tmp_path / "case"
    work.mkdir()
    monkeypatch.chdir(work)
    if case.make is not None:
        case.make(work)
    if case.patch is not None:
        case.patch(monkeypatch)
    before = snapshot(work)
    if surface == "cli":
        code = cli.main([str(a) for a in case.cli])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        assert code == 2, err
        assert len(errors) == 1 and err.rstrip().endswith(errors[0]), err
        message = errors[0][len("error: "):]
    else:
        with pytest.raises(UserError) as raised:
            case.api(work)
        message = str(raised.value)
        assert "\n" not in message, message
    for phrase in case.phrases:
        assert phrase.lower() in message.lower(), f"{phrase!r} not in {message!r}"
    assert snapshot(work) == before, "the case wrote or changed files"


def test_corpus_is_large_and_ids_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 40
