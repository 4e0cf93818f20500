"""What the ``latentspace`` commands that write items share: the ``--out`` check and the ``.npy`` bytes.

Examples
--------
>>> new_output("samples.png", overwrite=False).suffix
'.png'
"""

from __future__ import annotations

import io
from pathlib import Path

from latentspace.errors import UserError

#: what ``sample`` and ``complete`` write: a picture, or the items themselves
ITEM_FORMATS = (".png", ".npy")


def new_output(out, overwrite: bool, suffixes: tuple = ITEM_FORMATS) -> Path:
    """``--out`` as a path, refused (before anything is computed) when its suffix is not one of
    ``suffixes`` or it exists and ``overwrite`` is not given."""
    out = Path(out)
    if out.suffix.lower() not in suffixes:
        raise UserError(f"--out must end in {' or '.join(suffixes)}, got {out.name!r}")
    if out.exists() and not overwrite:
        raise UserError(f"{out} already exists; pass --overwrite to replace it or choose another --out")
    return out


def npy_bytes(x) -> bytes:
    """A tensor or array as the bytes of a ``.npy`` file (no pickle)."""
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.asarray(x), allow_pickle=False)
    return buf.getvalue()
