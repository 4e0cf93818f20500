"""Items kept on disk: memory-mapped splits for collections larger than memory.

A folder of 200,000 RGB images at 128 px is 39 GB as float32 items in model space, more
than most machines hold. Such a collection is decoded once, in chunks, into two ``.npy``
files (train and test, float32, model space) in the cache, and the :class:`Dataset`'s
``x`` is a tensor over a memory map of that file: the operating system keeps in memory the
pages in use and drops the others, so the process's own memory stays bounded by a chunk
while decoding and by a batch while training. The values are exactly those the in-memory
path gives (the same decoding, the same arithmetic), so a run trains identically either way.

When to map (``memory=``):

- ``"ram"``: decode into memory (the default for anything that fits);
- ``"map"``: always map;
- ``"auto"``: map when the float32 items would take more than :data:`RAM_FRACTION` of the
  memory available now (``MemAvailable`` on Linux).

The cache folder is ``$LATENTSPACE_CACHE/mapped/<key>`` (default ``~/.cache/latentspace``),
keyed by the folder, every file's name, size and modification time, and the loading options:
loading the same collection again (a resumed run, ``evaluate``) maps the files without
decoding anything, and changing a file makes a new entry. An entry appears in one rename
once complete, so an interrupted decode leaves no half-written entry; the folder may be
deleted at any time.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch

from latentspace.errors import UserError
from latentspace.storage import atomic_write_json, cache_root, human_size

MEMORY_MODES = ("auto", "ram", "map")

#: share of the available memory the float32 items may take before ``memory="auto"`` maps them:
#: training needs room besides the data (networks, optimizer, a batch's activations, evaluation)
RAM_FRACTION = 0.5

#: bytes of float32 items decoded and written at a time (the decoding's own memory is about twice this)
CHUNK_BYTES = 32 << 20

#: bump when the decoding changes, so that old entries are not reused
MAPPED_VERSION = 1


def check_memory(memory) -> str:
    if memory not in MEMORY_MODES:
        raise UserError(f"option memory must be one of {', '.join(MEMORY_MODES)}, got {memory!r}")
    return memory


def available_memory() -> int:
    """Bytes of memory available to a new allocation now (``MemAvailable``; else physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62   # unknown: never map unless asked


def should_map(memory: str, nbytes: int) -> bool:
    """Whether items of ``nbytes`` (float32) are mapped under the ``memory`` option."""
    if memory == "auto":
        return nbytes > RAM_FRACTION * available_memory()
    return memory == "map"


def entry_key(parts: dict) -> str:
    """The cache key of a collection: a hash of what decides its items (JSON-serialisable ``parts``)."""
    blob = json.dumps({"version": MAPPED_VERSION, **parts}, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def files_fingerprint(files: Iterable[Path], root: Path) -> list:
    """``[relative path, size, mtime_ns]`` of each file: a changed file gives another cache key."""
    out = []
    for p in files:
        st = p.stat()
        out.append([str(p.relative_to(root)), st.st_size, st.st_mtime_ns])
    return out


def _open_split(path: Path, shape: tuple, label: str) -> torch.Tensor:
    try:
        a = np.load(path, mmap_mode="c", allow_pickle=False)   # copy-on-write: the file is never changed
    except (OSError, ValueError, EOFError):   # missing, truncated, not .npy, or pickled objects (never loaded)
        a = None
    if not isinstance(a, np.ndarray) or a.dtype != np.float32 or a.shape != shape:
        raise UserError(f"the cached copy of {label} in {path.parent} does not match its description; delete "
                        "that folder and load again")
    return torch.from_numpy(a)


def open_entry(folder: Path, label: str) -> dict | None:
    """The splits of a complete cache entry as memory-mapped tensors, or None when there is none."""
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        shapes = {s: (int(meta[s]), *map(int, meta["item_shape"])) for s in ("train", "test")}
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(f"the cached copy of {label} in {folder} is corrupt; delete that folder and load "
                        "again") from None
    return {s: _open_split(folder / f"{s}.npy", shapes[s], label) for s in ("train", "test")}


def build_entry(folder: Path, label: str, splits: dict[str, np.ndarray], item_shape: tuple,
                decode: Callable[[np.ndarray], np.ndarray], squeeze: Callable[[], bool] | None = None) -> dict:
    """Decode items into a new cache entry at ``folder`` and return its splits, memory-mapped.

    Parameters
    ----------
    splits : {"train": index, "test": index}
        The source indices of each split's items, in order.
    item_shape : tuple
        The shape of one decoded item.
    decode : callable
        ``decode(indices) -> float32 array (len(indices), *item_shape)`` in model space.
    squeeze : callable, optional
        Asked once every item is written: True to keep the first channel only (three equal
        channels, i.e. gray pictures in RGB files).
    """
    nbytes = 4 * int(np.prod(item_shape)) * sum(len(i) for i in splits.values())
    folder.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder.parent).free
    if free < 1.05 * nbytes:
        raise UserError(f"{label}: mapping its {sum(len(i) for i in splits.values()):,} items needs "
                        f"{human_size(nbytes)} in {folder.parent}, which has {human_size(free)} free; free some "
                        "space or set LATENTSPACE_CACHE to a folder on a larger disk")
    print(f"{label}: decoding {sum(len(i) for i in splits.values()):,} items ({human_size(nbytes)}) into a "
          f"memory-mapped copy in {folder} (more than {RAM_FRACTION:.0%} of the free memory, or memory='map')",
          file=sys.stderr)
    chunk = max(1, CHUNK_BYTES // (4 * int(np.prod(item_shape))))
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".part", dir=folder.parent))
    try:
        shape = item_shape
        for split, index in splits.items():
            out = np.lib.format.open_memmap(tmp / f"{split}.npy", mode="w+", dtype=np.float32,
                                            shape=(len(index), *item_shape))
            for start in range(0, len(index), chunk):
                out[start:start + chunk] = decode(index[start:start + chunk])
            out.flush()
            del out
        if squeeze is not None and squeeze():
            shape = (1, *item_shape[1:])
            for split in splits:
                _keep_first_channel(tmp / f"{split}.npy", shape)
        atomic_write_json(tmp / "meta.json", {"train": len(splits["train"]), "test": len(splits["test"]),
                                              "item_shape": list(shape), "source": label,
                                              "version": MAPPED_VERSION})
        try:
            os.replace(tmp, folder)
        except OSError:   # another process finished the same entry first: use theirs
            if not (folder / "meta.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return open_entry(folder, label)


def _keep_first_channel(path: Path, shape: tuple) -> None:
    """Rewrite the ``.npy`` at ``path`` keeping channel 0 of each item, chunk by chunk."""
    src = np.load(path, mmap_mode="r")
    chunk = max(1, CHUNK_BYTES // (4 * int(np.prod(src.shape[1:]))))
    dst_path = path.with_suffix(".gray.npy")
    dst = np.lib.format.open_memmap(dst_path, mode="w+", dtype=np.float32, shape=(len(src), *shape))
    for start in range(0, len(src), chunk):
        dst[start:start + chunk] = src[start:start + chunk, :1]
    dst.flush()
    del src, dst
    os.replace(dst_path, path)


def mapped_splits(parts: dict, label: str, splits: dict[str, np.ndarray], item_shape: tuple,
                  decode: Callable, squeeze: Callable | None = None) -> dict:
    """The cache entry of ``parts`` (see :func:`entry_key`): opened when it exists, else built."""
    folder = cache_root() / "mapped" / entry_key(parts)
    found = open_entry(folder, label)
    if found is not None:
        return found
    return build_entry(folder, label, splits, item_shape, decode, squeeze)
