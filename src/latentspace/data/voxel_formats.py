"""Two small voxel file formats, read and written without a dependency: ``.binvox`` and MagicaVoxel ``.vox``.

Both hold occupancy grids; both are returned as boolean arrays indexed ``[x, y, z]`` with ``z`` up (the
last axis, as in the ModelNet grids and the volume renders of :mod:`latentspace.modalities.voxels`).

**binvox** (Patrick Min's format, https://www.patrickmin.com/binvox/binvox.html): an ASCII header ::

    #binvox 1
    dim D W H
    translate tx ty tz
    scale s
    data

then run-length encoded bytes, pairs ``(value, count)`` with ``value`` 0 or 1 and ``count`` 1-255. The
voxels run with ``y`` fastest, then ``z``, then ``x`` (index ``x * W * H + z * W + y``); ``dim`` gives the
sizes along ``x`` (depth), ``y`` (width) and ``z`` (height). :func:`read_binvox` returns the grid as
``[x, y, z]`` of shape ``(D, W, H)``, as ``binvox-rw`` does; :func:`save_binvox` writes such a grid back.

**MagicaVoxel .vox** (https://github.com/ephtracy/voxel-model): ``"VOX "``, a version, then RIFF-like
chunks ``id (4 bytes), content size, children size (int32 little-endian), content, children``: a
``MAIN`` chunk whose children are ``SIZE`` (``x, y, z``) and ``XYZI`` (a count, then ``x, y, z, colour
index`` bytes per voxel) pairs, and others (palette, scene graph) that are skipped. The first model is
read; MagicaVoxel's ``z`` is up.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from latentspace.errors import UserError

#: the largest grid read (voxels): 1024^3 booleans are a gigabyte
MAX_VOXELS = 1024 ** 3
_BINVOX_FIX = "re-export it with binvox, or save the grid with latentspace.data.voxel_formats.save_binvox"
_VOX_FIX = "re-save it from MagicaVoxel (File > Save) or with latentspace.data.voxel_formats.save_vox"


# -- binvox --------------------------------------------------------------------------------------------
def _binvox_header(f, label: str) -> tuple[tuple[int, int, int], int]:
    """The ``dim`` of a binvox file and the offset of its data; ``f`` is the open file."""
    first = f.readline(64)
    if not first.startswith(b"#binvox"):
        raise UserError(f"{label} is not a .binvox file (it does not start with '#binvox'); {_BINVOX_FIX}")
    dims = None
    for _ in range(16):
        line = f.readline(256).strip()
        if line == b"data":
            break
        key, _, rest = line.partition(b" ")
        if key == b"dim":
            try:
                dims = tuple(int(v) for v in rest.split())
            except ValueError:
                dims = ()
            if len(dims) != 3 or min(dims) < 1:
                raise UserError(f"{label}: bad binvox header line {line.decode(errors='replace')!r} (want "
                                f"'dim D W H', positive integers); {_BINVOX_FIX}")
        elif key not in (b"translate", b"scale", b""):
            raise UserError(f"{label}: unknown binvox header line {line[:40].decode(errors='replace')!r}; "
                            f"{_BINVOX_FIX}")
    else:
        raise UserError(f"{label}: the binvox header has no 'data' line; {_BINVOX_FIX}")
    if dims is None:
        raise UserError(f"{label}: the binvox header has no 'dim' line; {_BINVOX_FIX}")
    if int(np.prod(dims, dtype=np.int64)) > MAX_VOXELS:
        raise UserError(f"{label}: a {'x'.join(map(str, dims))} grid is too large to read (over 1024^3 voxels); "
                        "voxelise at a lower resolution")
    return dims, f.tell()


def read_binvox(path) -> np.ndarray:
    """The occupancy grid of a ``.binvox`` file.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    numpy.ndarray
        Boolean ``(D, W, H)``, indexed ``[x, y, z]`` (see the module docstring).

    Raises
    ------
    UserError
        A file that is not binvox, a bad header, or run-length data that do not fill the grid exactly.
    """
    path = Path(path)
    label = str(path)
    with open(path, "rb") as f:
        dims, _ = _binvox_header(f, label)
        want = int(np.prod(dims, dtype=np.int64))
        raw = np.frombuffer(f.read(2 * want + 2), dtype=np.uint8)   # at most two bytes per voxel
    if len(raw) % 2:
        raise UserError(f"{label}: the binvox data end in the middle of a (value, count) pair: the file is "
                        f"truncated; {_BINVOX_FIX}")
    values, counts = raw[0::2], raw[1::2]
    total = int(counts.sum(dtype=np.int64))
    if (values > 1).any() or (counts == 0).any():
        raise UserError(f"{label}: the binvox data hold values other than 0/1 or runs of length 0: the file is "
                        f"corrupt; {_BINVOX_FIX}")
    if total != want:
        raise UserError(f"{label}: the binvox data hold {total} voxels but 'dim {' '.join(map(str, dims))}' needs "
                        f"{want}: the file is truncated or corrupt; {_BINVOX_FIX}")
    flat = np.repeat(values.astype(bool), counts)
    return np.ascontiguousarray(flat.reshape(dims[0], dims[2], dims[1]).transpose(0, 2, 1))


def _runs(flat: np.ndarray) -> np.ndarray:
    """The binvox run-length bytes ``(value, count)`` of a flat boolean array, runs cut at 255."""
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([starts, [len(flat)]]))
    values = flat[starts].astype(np.uint8)
    pieces = -(-lengths // 255)   # runs longer than 255 are split
    values = np.repeat(values, pieces)
    counts = np.full(int(pieces.sum()), 255, dtype=np.int64)
    last = np.cumsum(pieces) - 1
    counts[last] = lengths - 255 * (pieces - 1)
    return np.stack([values, counts.astype(np.uint8)], 1).ravel()


def save_binvox(path, occupancy, translate=(0.0, 0.0, 0.0), scale: float = 1.0) -> Path:
    """Write an occupancy grid as a ``.binvox`` file (run-length encoded, written atomically).

    Parameters
    ----------
    path : str or Path
        The file to write.
    occupancy : array-like
        ``(X, Y, Z)`` indexed ``[x, y, z]`` (``z`` up); values above 0.5 (or True) are occupied.
    translate, scale : optional
        The header's placement of the grid in the model's coordinates (kept, not used here).

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> grid = np.zeros((8, 8, 8), bool); grid[2:5, 1:7, 3] = True
    >>> p = save_binvox(os.path.join(tempfile.mkdtemp(), "g.binvox"), grid)
    >>> bool((read_binvox(p) == grid).all())
    True
    """
    grid = np.asarray(occupancy)
    if grid.ndim != 3 or min(grid.shape) < 1:
        raise UserError(f"save_binvox needs a 3-D grid (X, Y, Z), got shape {grid.shape}")
    grid = grid > 0.5 if grid.dtype != bool else grid
    x, y, z = grid.shape
    tx, ty, tz = (float(v) for v in translate)
    header = f"#binvox 1\ndim {x} {y} {z}\ntranslate {tx:g} {ty:g} {tz:g}\nscale {float(scale):g}\ndata\n"
    body = _runs(np.ascontiguousarray(grid.transpose(0, 2, 1)).ravel())
    return _atomic_write(Path(path), header.encode() + body.tobytes())


def _atomic_write(path: Path, data: bytes) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


# -- MagicaVoxel .vox ------------------------------------------------------------------------------------
def _chunks(buf: bytes, start: int, end: int, label: str):
    """``(id, content, children_start, children_end)`` of the chunks in ``buf[start:end]``, checked."""
    at = start
    while at < end:
        if at + 12 > end:
            raise UserError(f"{label}: a .vox chunk header is cut off at byte {at}: the file is truncated; {_VOX_FIX}")
        cid = buf[at:at + 4]
        content, children = struct.unpack_from("<ii", buf, at + 4)
        if not all(32 <= b < 127 for b in cid) or content < 0 or children < 0 or at + 12 + content + children > end:
            raise UserError(f"{label}: malformed .vox chunk {cid.decode('latin-1')!r} at byte {at} (sizes "
                            f"{content}, {children} do not fit the file); {_VOX_FIX}")
        body = at + 12
        yield cid, buf[body:body + content], body + content, body + content + children
        at = body + content + children


def read_vox(path) -> np.ndarray:
    """The occupancy grid of a MagicaVoxel ``.vox`` file (its first model).

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    numpy.ndarray
        Boolean ``(X, Y, Z)`` indexed ``[x, y, z]``, ``z`` up; a voxel is occupied when the file lists it
        (any colour).

    Raises
    ------
    UserError
        A file that is not ``.vox``, a malformed or cut-off chunk, voxels outside the model's size, or no model.
    """
    label = str(path)
    buf = Path(path).read_bytes()
    if len(buf) < 8 or buf[:4] != b"VOX ":
        raise UserError(f"{label} is not a MagicaVoxel .vox file (it does not start with 'VOX '); {_VOX_FIX}")
    top = list(_chunks(buf, 8, len(buf), label))
    if not top or top[0][0] != b"MAIN":
        raise UserError(f"{label}: the .vox file has no MAIN chunk; {_VOX_FIX}")
    size = None
    for cid, content, _, _ in _chunks(buf, top[0][2], top[0][3], label):
        if cid == b"SIZE":
            if len(content) < 12:
                raise UserError(f"{label}: the .vox SIZE chunk holds {len(content)} bytes, not 12; {_VOX_FIX}")
            size = struct.unpack_from("<iii", content)
            if min(size) < 1 or max(size) > 256:   # voxel coordinates are single bytes: 256 is the format's limit
                raise UserError(f"{label}: the .vox model size {size} is not 1-256 voxels per side; {_VOX_FIX}")
        elif cid == b"XYZI":
            if size is None:
                raise UserError(f"{label}: the .vox XYZI chunk comes before its SIZE chunk; {_VOX_FIX}")
            return _xyzi(content, size, label)
    raise UserError(f"{label}: the .vox file holds no model (no SIZE and XYZI chunks); {_VOX_FIX}")


def _xyzi(content: bytes, size: tuple, label: str) -> np.ndarray:
    if len(content) < 4:
        raise UserError(f"{label}: the .vox XYZI chunk is empty; {_VOX_FIX}")
    (n,) = struct.unpack_from("<i", content)
    if n < 0 or len(content) != 4 + 4 * n:
        raise UserError(f"{label}: the .vox XYZI chunk promises {n} voxels in {len(content)} bytes; {_VOX_FIX}")
    xyz = np.frombuffer(content, dtype=np.uint8, offset=4).reshape(n, 4)[:, :3].astype(np.int64)
    if n and (xyz >= np.asarray(size)).any():
        raise UserError(f"{label}: a .vox voxel lies outside the model's size {tuple(size)}; {_VOX_FIX}")
    grid = np.zeros(size, dtype=bool)
    grid[xyz[:, 0], xyz[:, 1], xyz[:, 2]] = True
    return grid


def _chunk(cid: bytes, content: bytes, children: bytes = b"") -> bytes:
    return cid + struct.pack("<ii", len(content), len(children)) + content + children


def save_vox(path, occupancy, colour: int = 1) -> Path:
    """Write an occupancy grid (at most 256 per side) as a MagicaVoxel ``.vox`` file (version 150).

    Parameters
    ----------
    path : str or Path
        The file to write.
    occupancy : array-like
        ``(X, Y, Z)`` indexed ``[x, y, z]``, ``z`` up; values above 0.5 (or True) are occupied.
    colour : int
        The palette index (1-255) of every voxel.

    Returns
    -------
    Path
        ``path``.
    """
    grid = np.asarray(occupancy)
    if grid.ndim != 3 or min(grid.shape) < 1 or max(grid.shape) > 256:
        raise UserError(f"save_vox needs a 3-D grid of 1-256 voxels per side, got shape {grid.shape}")
    grid = grid > 0.5 if grid.dtype != bool else grid
    xyz = np.argwhere(grid).astype(np.uint8)
    xyzi = np.concatenate([xyz, np.full((len(xyz), 1), int(colour), np.uint8)], 1)
    size = _chunk(b"SIZE", struct.pack("<iii", *grid.shape))
    voxels = _chunk(b"XYZI", struct.pack("<i", len(xyzi)) + xyzi.tobytes())
    return _atomic_write(Path(path), b"VOX " + struct.pack("<i", 150) + _chunk(b"MAIN", b"", size + voxels))
