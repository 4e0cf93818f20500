"""Image collections in the layouts people have: which images a folder or a zip archive holds, and their labels.

A *collection* is a folder or a ``.zip`` archive, read in place (an archive is never unpacked: each
member is read into memory when it is decoded). This module lists its images, labels them, filters
them and records what it left out and why; :mod:`latentspace.data.images` decodes them.

Paths are relative to the collection, with ``/`` between folders: to the folder, or to the archive's
top folder when every entry lies in one (zipping a folder makes such an archive). Hidden entries (a
name starting with ``.``, and ``__MACOSX/``) are skipped everywhere.

Layouts:

- ``<class>/**/*.png``: one folder per class (``class_depth=1``, the default); ``class_depth=2``
  names the class by the folder two levels down (``<site>/<class>/*.png``: the same class name
  under two sites is one class), and so on; ``class_depth=0`` takes no labels from folders.
- ``*.png``: a flat collection, unlabelled.
- ``train/`` and ``test/``: the given split, each laid out as above.
- ``labels="FILE.csv"``: a table with a header row and the columns ``file`` and ``label`` (CSV or
  TSV), one row per image; file paths are relative to the collection and may name sub-folders.
- ``label_pattern=REGEX``: the named group ``label`` of ``re.search(REGEX, path)`` over each
  image's path relative to the collection (``train/cat_01.png`` in a given split).

Examples
--------
>>> natural_key("img10.png") > natural_key("img9.png")
True
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentspace.data.arrays import check_int
from latentspace.data.sources import FolderSource, Listing, ZipSource
from latentspace.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")

#: a label pattern shown in messages
PATTERN_EXAMPLE = "'^(?P<label>[^_/]+)_'"

#: columns of a labels table (lower case): the first name found is used
FILE_COLUMNS = ("file", "filename", "path", "image")
LABEL_COLUMNS = ("label", "class")


def natural_key(s: str):
    """Sort key putting ``"2"`` before ``"10"``, case-insensitively."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", s) if t]


def _is_image(rel: str) -> bool:
    return os.path.splitext(rel)[1].lower() in IMAGE_SUFFIXES


def _first(items, n: int = 5) -> str:
    """The first ``n`` of ``items`` joined by commas, and how many more."""
    items = list(items)
    more = f", ... ({len(items) - n} more)" if len(items) > n else ""
    return ", ".join(str(i) for i in items[:n]) + more


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else plural or word + 's'}"


# -- label sources ----------------------------------------------------------------------------------------


def _decode_table(raw: bytes, shown: str) -> str:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"{shown} is not UTF-8 text; save the table as UTF-8 CSV (columns file,label)") from None
    if "\0" in text:
        raise UserError(f"{shown} is not a text table (it holds NUL bytes); give a CSV or TSV file of file,label rows")
    if not text.strip():
        raise UserError(f"{shown} is empty; give a header row file,label and one row per image")
    return text


def _delimiter(text: str, shown: str) -> str:
    """Tab for ``.tsv``/``.tab``; else the one of tab, comma and semicolon the header row holds most of."""
    if shown.lower().endswith((".tsv", ".tab")):
        return "\t"
    header = text.lstrip().splitlines()[0]
    counts = {d: header.count(d) for d in ("\t", ",", ";")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _table_bytes(spec, source) -> bytes:
    """The bytes of the labels table ``spec``: a path from the working folder, or a path inside the collection
    (refused when it names two different tables, one in each)."""
    shown, p = str(spec), Path(spec).expanduser()
    if p.is_dir():
        raise UserError(f"labels {shown} is a folder; give a .csv or .tsv file of file,label rows")
    inside = _row_path(shown, "")
    try:
        disk = p.read_bytes() if p.is_file() else None
        within = None if p.is_absolute() or ".." in inside.split("/") else source.find(inside)
    except OSError as e:
        raise UserError(f"cannot read {shown} ({e.strerror or e}); check its permissions") from None
    if disk is None and within is None:
        raise UserError(f"no such labels file: {shown} (looked in the working folder and in {source.label}); check "
                        "the path")
    if disk is not None and within is not None and disk != within:
        raise UserError(f"labels {shown} names two different tables, one in the working folder and one in "
                        f"{source.label}; rename one of them, or give the table's full path")
    return disk if disk is not None else within


def read_table(spec, source) -> tuple[dict, str, str]:
    """``({relative path: label}, the table's name in messages, SHA-256 of its bytes)`` of a labels table.

    ``spec`` is a path from the working folder, or a path inside the collection.
    """
    shown = str(spec)
    raw = _table_bytes(spec, source)
    text = _decode_table(raw, shown)
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=_delimiter(text, shown)))
    except csv.Error as e:
        raise UserError(f"{shown} is not a valid CSV/TSV table ({e}); give rows of file,label") from None
    rows = [(i, r) for i, r in enumerate(rows, 1) if any(c.strip() for c in r)]
    if not rows:
        raise UserError(f"{shown} holds no table; give a header row file,label and one row per image")
    header = [c.strip().lower() for c in rows[0][1]]
    cols = []
    for what, names in (("file", FILE_COLUMNS), ("label", LABEL_COLUMNS)):
        found = [header.index(n) for n in names if n in header]
        if not found:
            header_row = _first(repr(c) for c in rows[0][1])
            raise UserError(f"{shown} has no {what} column (its header row is: {header_row}); start the table with a "
                            "header row naming the columns file and label")
        cols.append(found[0])
    table, where = {}, {}
    for line, row in rows[1:]:
        if len(row) <= max(cols):
            raise UserError(f"{shown} row {line} has {len(row)} column(s), fewer than its header; give file and "
                            "label on every row")
        rel, label = _row_path(row[cols[0]], source.prefix), row[cols[1]].strip()
        if not rel or not label:
            raise UserError(f"{shown} row {line} gives no {'file' if not rel else 'label'}; fill it in or remove "
                            "the row")
        if rel in table:
            raise UserError(f"{shown} names {rel!r} twice (rows {where[rel]} and {line}); give each file once")
        table[rel], where[rel] = label, line
    if not table:
        raise UserError(f"{shown} has a header row but no rows; give one row of file,label per image")
    return table, shown, hashlib.sha256(raw).hexdigest()


def _row_path(cell: str, prefix: str) -> str:
    """A table's file path as a collection path: ``/`` between folders, no ``./``, no archive top folder."""
    rel = "/".join(p for p in cell.strip().replace("\\", "/").split("/") if p not in ("", "."))
    return rel[len(prefix):] if prefix and rel.startswith(prefix) else rel


def compile_pattern(pattern) -> re.Pattern:
    """``pattern`` compiled, refused unless it is a valid regular expression with a group named ``label``."""
    if not isinstance(pattern, str) or not pattern:
        raise UserError(f"label_pattern must be a regular expression (a string), got {pattern!r}")
    try:
        rx = re.compile(pattern)
    except re.error as e:
        raise UserError(f"label_pattern {pattern!r} is not a valid regular expression ({e}); fix it, e.g. "
                        f"{PATTERN_EXAMPLE}") from None
    if "label" not in rx.groupindex:
        raise UserError(f"label_pattern {pattern!r} has no group named 'label'; mark the class part of the path "
                        f"with (?P<label>...), e.g. {PATTERN_EXAMPLE}")
    return rx


def pattern_labels(rx: re.Pattern, rels: list) -> dict:
    """``{path: label}`` of the paths ``rx`` finds a non-empty ``label`` in."""
    out = {}
    for rel in rels:
        m = rx.search(rel)
        if m is not None and m.group("label"):
            out[rel] = m.group("label")
    return out


def folder_labels(source, prefix: str, rels: list, depth: int, drop: bool, notes: list):
    """``(paths in loading order, class name per path or None)`` from class folders ``depth`` levels down.

    ``rels`` lie under ``prefix`` (``""``, or ``"train/"`` in a given split). Images above the class
    folders are refused, or left out with ``drop``.
    """
    inner = {r: r[len(prefix):].split("/") for r in rels}
    if depth == 0 or all(len(p) == 1 for p in inner.values()):
        return sorted(rels, key=lambda r: natural_key(r[len(prefix):])), None
    above = [r for r in rels if len(inner[r]) <= depth]
    where = source.display(prefix.rstrip("/"))
    if above and not drop:
        if depth == 1:
            classes = sorted({p[0] for p in inner.values() if len(p) > 1}, key=natural_key)
            raise UserError(f"{where} has images both at its top level and in sub-folders ({_first(classes)}); put "
                            "every image in a class sub-folder, or all of them at the top level (or pass "
                            "drop_unlabelled=True to leave the top-level ones out)")
        verb = "lies" if len(above) == 1 else "lie"
        raise UserError(f"{where}: {_plural(len(above), 'image')} {verb} above the class folders "
                        f"(class_depth={depth}), e.g. {above[0]!r}; move them into class folders, set class_depth, "
                        "or pass drop_unlabelled=True to leave them out")
    if above:
        notes.append(f"left out {_plural(len(above), 'image')} above the class folders (drop_unlabelled), "
                     f"e.g. {above[0]!r}")
    kept = [r for r in rels if len(inner[r]) > depth]
    name = {r: inner[r][depth - 1] for r in kept}
    kept.sort(key=lambda r: (natural_key(name[r]), natural_key("/".join(inner[r][depth:])), natural_key(r)))
    return kept, [name[r] for r in kept]


# -- a collection: its images in loading order, labelled and filtered ----------------------------------


@dataclass
class Collection:
    """The images of a collection in loading order (training, then a given test split), their class
    names (None: unlabelled), what was left out and why (``notes``), and what besides the files
    decides the items (``key``, for the cache of memory-mapped collections)."""

    source: FolderSource | ZipSource
    train: list
    test: list | None
    names: list | None
    notes: list
    key: dict

    @property
    def rels(self) -> list:
        return self.train + (self.test or [])

    def items(self) -> list:
        """What the decoder reads: a path per image, or an archive :class:`Member`."""
        return [self.source.item(r) for r in self.rels]

    @property
    def classes(self) -> list | None:
        return None if self.names is None else sorted(set(self.names), key=natural_key)

    def labels(self) -> np.ndarray | None:
        """The class index of each item (classes in natural order), or None."""
        if self.names is None:
            return None
        index = {c: i for i, c in enumerate(self.classes)}
        return np.array([index[c] for c in self.names], dtype=np.int64)


def _check_options(labels, label_pattern, class_depth, min_per_class, drop_unlabelled):
    if labels is not None and label_pattern is not None:
        raise UserError("give labels= (--labels) or label_pattern= (--label-pattern), not both")
    if class_depth is not None and (labels is not None or label_pattern is not None):
        raise UserError("class_depth names classes by folders: give it or labels=/label_pattern=, not both")
    if labels is not None and (not isinstance(labels, (str, os.PathLike)) or not str(labels).strip()):
        raise UserError(f"option labels must be the path of a CSV/TSV file, got {labels!r}")
    if not isinstance(drop_unlabelled, (bool, np.bool_)):
        raise UserError(f"option drop_unlabelled must be True or False, got {drop_unlabelled!r}")
    rx = None if label_pattern is None else compile_pattern(label_pattern)
    depth = 1 if class_depth is None else check_int("class_depth", class_depth, 0)
    minimum = None if min_per_class is None else check_int("min_per_class", min_per_class, 1)
    return rx, depth, minimum


def _parts(source, listing: Listing, images: list, notes: list) -> dict:
    """``{prefix: images under it}``: ``{"": all}``, or the given split ``{"train/": ..., "test/": ...}``."""
    low = {f.lower(): f for f in listing.folders}
    if not ("train" in low and "test" in low):
        if not images:
            what = "an archive of images or of class folders" if source.kind == "image archive" else \
                "a folder of images or of class sub-folders"
            raise UserError(f"{source.label} holds no images ({', '.join(IMAGE_SUFFIXES)}); give {what} of images")
        return {"": images}
    parts = {f"{low[s]}/": [r for r in images if r.startswith(f"{low[s]}/")] for s in ("train", "test")}
    for prefix, rels in parts.items():
        if not rels:
            raise UserError(f"{source.display(prefix.rstrip('/'))} holds no images ({', '.join(IMAGE_SUFFIXES)}); "
                            "add images to it")
    outside = [r for r in images if not r.startswith(tuple(parts))]
    if outside:
        notes.append(f"ignored {_plural(len(outside), 'image')} outside {' and '.join(parts)}, e.g. {outside[0]!r}")
    return parts


def _labelled(parts: dict, labelled: dict, why: str, drop: bool, notes: list, refuse):
    """Each part's images in natural order with their labels from ``labelled``; the others refused or dropped."""
    ordered = {p: sorted(rs, key=lambda r, p=p: natural_key(r[len(p):])) for p, rs in parts.items()}
    missing = [r for rs in ordered.values() for r in rs if r not in labelled]
    if missing and not drop:
        raise UserError(refuse(len(missing), sum(map(len, parts.values())), missing[0]) +
                        ", or pass drop_unlabelled=True (--drop-unlabelled) to leave them out")
    if missing:
        notes.append(f"left out {_plural(len(missing), 'image')} {why} (drop_unlabelled), e.g. {missing[0]!r}")
    kept = {p: [r for r in rs if r in labelled] for p, rs in ordered.items()}
    return kept, {p: [labelled[r] for r in rs] for p, rs in kept.items()}


def _small_classes(names: list, n_train: int, given: bool, minimum: int, label: str, notes: list) -> set:
    """The classes with fewer than ``minimum`` items (training items in a given split), noted; refused when all are."""
    counts = Counter(names[:n_train] if given else names)
    what = "training images" if given else "images"
    small = sorted((c for c in set(names) if counts[c] < minimum), key=natural_key)
    if len(small) == len(set(names)):
        top, k = counts.most_common(1)[0] if counts else ("none", 0)
        raise UserError(f"{label}: no class has {minimum} or more {what} (min_per_class={minimum}; the largest, "
                        f"{top!r}, has {k}); lower min_per_class")
    if small:
        notes.append(f"dropped {_plural(len(small), 'class', 'classes')} with fewer "
                     f"than {minimum} {what} (min_per_class): " + _first((f"{c}: {counts[c]}" for c in small), 8))
    return set(small)


def collect(source, *, labels=None, label_pattern=None, class_depth=None, min_per_class=None,
            drop_unlabelled=False) -> Collection:
    """The images of ``source`` (opened) in loading order, labelled and filtered as the options say.

    Parameters
    ----------
    source : FolderSource or ZipSource
        From :func:`open_collection`, inside its ``with``.
    labels : str or path, optional
        A CSV/TSV table of ``file,label`` rows (from the working folder, or inside the collection).
    label_pattern : str, optional
        A regular expression with a group ``label``, searched in each image's relative path.
    class_depth : int, optional
        The folder level that names classes (default 1; 0: none).
    min_per_class : int, optional
        Drop classes with fewer images (training images in a given split).
    drop_unlabelled : bool
        Leave out images without a label instead of refusing them.

    Examples
    --------
    >>> import tempfile; from PIL import Image; from latentspace.data.sources import open_collection
    >>> root = Path(tempfile.mkdtemp())
    >>> for name in ("cat_1.png", "cat_2.png", "dog_1.png"):
    ...     Image.new("L", (4, 4)).save(root / name)
    >>> with open_collection(root) as src:
    ...     c = collect(src, label_pattern="^(?P<label>[a-z]+)_")
    >>> c.train, c.names
    (['cat_1.png', 'cat_2.png', 'dog_1.png'], ['cat', 'cat', 'dog'])
    """
    rx, depth, minimum = _check_options(labels, label_pattern, class_depth, min_per_class, drop_unlabelled)
    listing, notes = source.listing(), []
    if source.prefix:
        notes.append(f"read inside the archive's top folder {source.prefix!r}")
    table = read_table(labels, source) if labels is not None else None
    images = [r for r in listing.files if _is_image(r)]
    parts = _parts(source, listing, images, notes)
    label = source.label
    if table is not None:
        rows, shown, _ = table
        known = set(images)
        unknown = [r for r in rows if r not in known]
        if unknown:
            raise UserError(f"{shown} names {_plural(len(unknown), 'file')} not among the images of {label}, e.g. "
                            f"{unknown[0]!r}; fix the paths (relative to {source.display('')}) or remove the rows")
        kept, names = _labelled(parts, rows, f"without a row in {shown}", drop_unlabelled, notes,
                                lambda n, total, e: f"{label}: no row in {shown} for {n} of {total} images, e.g. "
                                                    f"{e!r}; add rows for them")
    elif rx is not None:
        kept, names = _labelled(parts, pattern_labels(rx, images), "not matched by label_pattern",
                                drop_unlabelled, notes,
                                lambda n, total, e: f"label_pattern {label_pattern!r} finds no label in {n} of {total} "
                                                    f"images of {label}, e.g. {e!r}; change the pattern")
    else:
        kept, names = {}, {}
        for prefix, rels in parts.items():
            kept[prefix], names[prefix] = folder_labels(source, prefix, rels, depth, drop_unlabelled, notes)
        if len(parts) == 2 and len({n is None for n in names.values()}) == 2:
            raise UserError(f"{label}: train/ and test/ must both use class sub-folders or both be flat")
    order = list(parts)
    rels = [r for p in order for r in kept[p]]
    unlabelled = any(names[p] is None for p in order)
    every = None if unlabelled else [n for p in order for n in names[p]]
    n_train = len(kept[order[0]])
    if minimum is not None:
        if every is None:
            raise UserError(f"min_per_class needs labels, and {label} has none (a flat collection); drop "
                            "min_per_class, or give labels= or label_pattern=")
        small = _small_classes(every, n_train, len(order) == 2, minimum, label, notes)
        keep = [n not in small for n in every]
        rels = [r for r, k in zip(rels, keep) if k]
        n_train = sum(keep[:n_train])
        every = [n for n, k in zip(every, keep) if k]
    train, test = rels[:n_train], (rels[n_train:] if len(order) == 2 else None)
    _check_sizes(source, train, test)
    table_name = None if table is None else Path(table[1]).name   # the table itself, when inside the collection
    others = [r for r in listing.files if not _is_image(r) and r.rsplit("/", 1)[-1] != table_name]
    if others:
        notes.append(f"skipped {_plural(len(others), 'file')} that {'is' if len(others) == 1 else 'are'} not an "
                     f"image, e.g. {others[0]!r}")
    if listing.unreadable:
        notes.append(f"skipped {_plural(len(listing.unreadable), 'folder')} that could not be read (permissions), "
                     f"e.g. {listing.unreadable[0]!r}")
    if listing.hidden:
        notes.append(f"skipped {_plural(len(listing.hidden), 'hidden entry', 'hidden entries')}"
                     f", e.g. {listing.hidden[0]!r}")
    key = {}
    if table is not None or rx is not None or depth != 1 or minimum is not None or drop_unlabelled:
        key = {"labels": {"table": table and table[2], "pattern": label_pattern, "class_depth": depth,
                          "min_per_class": minimum, "drop_unlabelled": bool(drop_unlabelled),
                          "names": hashlib.sha256(json.dumps(every).encode()).hexdigest()}}
    return Collection(source, train, test, every, notes, key)


def _check_sizes(source, train: list, test: list | None) -> None:
    label = source.label
    if not train or (test is not None and not test):
        where = label if test is None else source.display(("train" if not train else "test"))
        raise UserError(f"{where}: no image is left once unlabelled images and small classes are left out; give "
                        "labels to more images or lower min_per_class")
    if test is None and len(train) < 2:
        raise UserError(f"{label} holds {len(train)} image; give at least 2 (some are held out for testing)")
