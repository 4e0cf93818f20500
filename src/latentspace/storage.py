"""Safe, atomic storage: tensors in safetensors, everything else in JSON. Nothing is unpickled.

Reading trusts no file (see docs/reliability.md): a safetensors header is checked against the
file's size before the library opens it (known dtypes, offsets inside the file, no overlaps or
gaps, sizes that match the shapes), and a file read from a folder (a run or model folder) must not
be a symbolic link leading out of that folder. Writing never goes through a symbolic link: a file
is written to a temporary file and renamed over the path, which replaces a link there, never its
target; :func:`real_folder` does the same for a folder.

Nested states (optimizer state dicts, RNG states, lists of parameter groups) are split into
a flat ``{key: tensor}`` mapping for safetensors and a JSON skeleton in which each tensor is
replaced by ``{"__tensor__": key}``. The skeleton travels in the safetensors header's
metadata, so one file holds a whole checkpoint and one ``os.replace`` makes it visible.
"""

from __future__ import annotations

import json
import math
import os
import struct
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save as st_save

from latentspace.errors import UserError

_TENSOR = "__tensor__"
_TUPLE = "__tuple__"
_META_KEY = "latentspace"


def flatten(obj, tensors: dict, prefix: str = "t"):
    """Replace tensors in a nested structure by references, collecting them in ``tensors``."""
    if isinstance(obj, torch.Tensor):
        key = f"{prefix}"
        tensors[key] = obj.detach().cpu().clone().contiguous()
        return {_TENSOR: key}
    if isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, (str, int)):
                raise TypeError(f"cannot store a dict key of type {type(k).__name__}")
        # JSON keys are strings; remember integer keys (optimizer state is keyed by int).
        return {"__dict__": [[k, flatten(v, tensors, f"{prefix}.{k}")] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {_TUPLE: [flatten(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [flatten(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store an object of type {type(obj).__name__}")


def unflatten(skeleton, tensors: dict):
    """Inverse of :func:`flatten`."""
    if isinstance(skeleton, dict):
        if _TENSOR in skeleton:
            return tensors[skeleton[_TENSOR]]
        if _TUPLE in skeleton:
            return tuple(unflatten(v, tensors) for v in skeleton[_TUPLE])
        if "__dict__" in skeleton:
            return {k: unflatten(v, tensors) for k, v in skeleton["__dict__"]}
        return {k: unflatten(v, tensors) for k, v in skeleton.items()}
    if isinstance(skeleton, list):
        return [unflatten(v, tensors) for v in skeleton]
    return skeleton


def _fsync_dir(path: Path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def human_size(n: float) -> str:
    """Bytes for a message: ``"512 bytes"``, ``"1.5 GB"`` (powers of 1000)."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def cache_root() -> Path:
    """The folder of latentspace's caches: ``$LATENTSPACE_CACHE`` or ``~/.cache/latentspace``."""
    return Path(os.environ.get("LATENTSPACE_CACHE") or Path.home() / ".cache" / "latentspace")


def atomic_write_json(path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def save_state(path, state) -> None:
    """Save a nested state (tensors, dicts, lists, numbers, strings) atomically to one file."""
    tensors: dict = {}
    skeleton = flatten(state, tensors)
    data = st_save(tensors, metadata={_META_KEY: json.dumps(skeleton)})
    atomic_write_bytes(path, data)


#: bytes per element of the safetensors dtypes a torch state can hold
_ITEMSIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
             "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8, "C64": 8}
#: the largest header read (safetensors' own limit)
_MAX_HEADER = 100_000_000


def _is_count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def check_safetensors(path) -> dict:
    """The header of safetensors file ``path``, checked against the file before anything else reads it.

    Raises a :class:`UserError` naming the lie when the header length runs past the file, the
    header is not a JSON object of tensor entries, a dtype is unknown, a shape does not match its
    byte range, or the byte ranges overlap, leave gaps, or do not end where the file ends.
    """
    path = Path(path)
    bad = f"{path} is not a valid safetensors file"
    fix = "the file is corrupt, truncated or not latentspace's: restore a good copy or write it again"
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise UserError(f"{bad} ({size} bytes, too short for a header); {fix}")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8 or n > _MAX_HEADER:
            raise UserError(f"{bad} (its header claims {n} bytes but the file has {size}); {fix}")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UserError(f"{bad} (its header is not JSON); {fix}") from None
    if not isinstance(header, dict):
        raise UserError(f"{bad} (its header is not a JSON object); {fix}")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise UserError(f"{bad} (its metadata is not a map of strings); {fix}")
    data_size = size - 8 - n
    ranges = []
    for key, entry in header.items():
        ok = isinstance(entry, dict) and entry.get("dtype") in _ITEMSIZE and isinstance(entry.get("shape"), list) \
            and all(_is_count(d) for d in entry["shape"]) and isinstance(entry.get("data_offsets"), list) \
            and len(entry["data_offsets"]) == 2 and all(_is_count(o) for o in entry["data_offsets"])
        if not ok:
            raise UserError(f"{bad} (tensor {key!r} lacks a known dtype, a shape or two byte offsets); {fix}")
        begin, end = entry["data_offsets"]
        if not begin <= end <= data_size:
            raise UserError(f"{bad} (tensor {key!r} claims bytes {begin}..{end} of {data_size}); {fix}")
        if end - begin != math.prod(entry["shape"]) * _ITEMSIZE[entry["dtype"]]:
            raise UserError(f"{bad} (tensor {key!r} has shape {entry['shape']} but {end - begin} bytes); {fix}")
        ranges.append((begin, end, key))
    at = 0
    for begin, end, key in sorted(ranges):
        if begin != at:
            what = "overlaps the tensor before it" if begin < at else "leaves a gap before it"
            raise UserError(f"{bad} (tensor {key!r} {what}); {fix}")
        at = end
    if at != data_size:
        raise UserError(f"{bad} (its tensors cover {at} of the {data_size} data bytes); {fix}")
    return {"__metadata__": meta, **header}


def check_inside(path, root) -> None:
    """Refuse ``path`` when it (or a folder on the way to it) is a symbolic link leading out of ``root``.

    Links that stay inside ``root`` are followed; ``root`` itself may be a link or lie under one.
    """
    path, root = Path(path), Path(root)
    try:
        target, base = path.resolve(), root.resolve()
    except (OSError, RuntimeError) as e:   # a loop of links
        raise UserError(f"cannot resolve {path} ({e}); replace the symbolic links in {root} with real files") from None
    if target != base and base not in target.parents:
        raise UserError(f"{path} is a symbolic link to {target}, outside {root}; latentspace does not follow links "
                        f"out of a run or model folder: replace the link with the file itself")


def _readable_file(path: Path, root) -> None:
    if root is not None:
        check_inside(path, root)
    if path.is_dir():
        raise UserError(f"{path} is a folder, not a file; check the path")
    if not path.is_file():
        raise UserError(f"no such file: {path}; check the path")


def load_state(path, root=None):
    """Load a state written by :func:`save_state`; nothing in the file is executed.

    ``root``: the folder ``path`` was found in (default: its parent); a link leading out of it is refused.
    """
    path = Path(path)
    _readable_file(path, path.parent if root is None else root)
    try:
        meta = check_safetensors(path)["__metadata__"]
        with safe_open(str(path), framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except OSError as e:
        raise UserError(f"cannot read {path} ({e.strerror or e}); check the file's permissions") from None
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 -- safetensors raises its own error types for what slipped through
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"{path} is not a readable safetensors file ({first}); it is truncated or corrupt: "
                        "restore a good copy or write it again") from None
    if _META_KEY not in meta:
        raise UserError(f"{path} was not written by latentspace (no state in its header); give a file that "
                        "latentspace saved")
    try:
        return unflatten(json.loads(meta[_META_KEY]), tensors)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, RecursionError):
        raise UserError(f"{path} has a malformed state in its header (it names tensors the file lacks, or is not "
                        "latentspace's layout); the file is corrupt: restore a good copy or write it again") from None


def read_json(path, root=None) -> dict:
    """A JSON object from ``path``; ``root`` as for :func:`load_state`."""
    path = Path(path)
    _readable_file(path, path.parent if root is None else root)
    try:
        obj = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as e:
        raise UserError(f"cannot read {path} ({e.strerror or e}); check the file's permissions") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        first = str(e).splitlines()[0]
        raise UserError(f"{path} is not valid JSON ({first}); the file may be corrupt: write it again") from None
    if not isinstance(obj, dict):
        raise UserError(f"{path} holds a JSON {type(obj).__name__}, not an object; the file is corrupt: write it "
                        "again")
    return obj


def real_folder(path) -> Path:
    """Make ``path`` a real folder to write into: a symbolic link there is removed (its target is not
    touched) and a folder made in its place; a file there is refused."""
    path = Path(path)
    if path.is_symlink():
        path.unlink()
    if path.exists() and not path.is_dir():
        raise UserError(f"{path} exists and is a file; give a folder path (or remove the file)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the folder {path} ({e.strerror or e}); choose another path") from None
    return path
