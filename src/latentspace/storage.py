"""Safe, atomic storage: tensors in safetensors, everything else in JSON. Nothing is unpickled.

Nested states (optimizer state dicts, RNG states, lists of parameter groups) are split into
a flat ``{key: tensor}`` mapping for safetensors and a JSON skeleton in which each tensor is
replaced by ``{"__tensor__": key}``. The skeleton travels in the safetensors header's
metadata, so one file holds a whole checkpoint and one ``os.replace`` makes it visible.
"""

from __future__ import annotations

import json
import os
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


def atomic_write_json(path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def save_state(path, state) -> None:
    """Save a nested state (tensors, dicts, lists, numbers, strings) atomically to one file."""
    tensors: dict = {}
    skeleton = flatten(state, tensors)
    data = st_save(tensors, metadata={_META_KEY: json.dumps(skeleton)})
    atomic_write_bytes(path, data)


def load_state(path):
    """Load a state written by :func:`save_state`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such file: {path}; check the path")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for corrupt headers
        raise UserError(f"{path} is not a readable safetensors file ({e}); it may be truncated or corrupt") from e
    if _META_KEY not in meta:
        raise UserError(f"{path} was not written by latentspace (no state in its header)")
    return unflatten(json.loads(meta[_META_KEY]), tensors)


def read_json(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such file: {path}; check the path")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not valid JSON ({e}); the file may be corrupt") from e
