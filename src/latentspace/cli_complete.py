"""``latentspace complete``: fill in the missing part of an item with a trained model.

The visible part is matched by inverting the model's decoder (:func:`latentspace.latent.complete`:
Adam on the latent code from several random starts, through a GAN's generator or a VAE's decoder;
in closed form for PPCA), and the hidden part is taken from the decoded item. ``--keep`` names
the visible part: a fragment the modality knows (``rim`` or ``base`` of a vessel profile, cut
``--cut`` of the way down its height) or a mask picture (white: kept).

Examples
--------
::

    latentspace complete runs/pots --item sherd.png --keep rim --out whole.png
    latentspace complete runs/digits --item seven.png --keep top-half-mask.png --out seven-full.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from latentspace.errors import UserError


def _picture(path: Path, what: str) -> np.ndarray:
    """A PNG/JPEG/... as float values in [0, 1], (C, H, W) with C = 1 (gray) or 3."""
    from PIL import Image

    if not path.is_file():
        raise UserError(f"no such file: {path} ({what}); check the path")
    try:
        with Image.open(path) as im:
            im.load()
            gray = im.mode in ("1", "L", "LA", "I", "I;16", "F", "P") and im.mode != "P"
            im = im.convert("L" if gray else "RGB")
    except (OSError, SyntaxError, ValueError) as e:
        raise UserError(f"cannot read {path} ({what}: {type(e).__name__}); give a PNG or JPEG picture") from None
    a = np.asarray(im, dtype=np.float32) / 255.0
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def _item(path: Path, shape: tuple):
    import torch

    a = _picture(path, "--item")
    if a.shape[0] == 3 and shape[0] == 1 and np.allclose(a[0], a[1]) and np.allclose(a[1], a[2]):
        a = a[:1]
    if tuple(a.shape) != tuple(shape):
        raise UserError(f"{path} is {a.shape[0]}x{a.shape[1]}x{a.shape[2]} (channels x height x width) but the model "
                        f"makes items of {'x'.join(map(str, shape))}; give an item in the run's format (e.g. one "
                        "written by latentspace sample --out FILE.npy, or prepared as the run's loader does)")
    return torch.from_numpy(np.ascontiguousarray(a))


def visible_mask(spec, x, keep: str, cut: float):
    """The kept features (bool, ``x``'s shape) of item ``x`` (data space): a named fragment of the modality,
    or a mask picture."""
    import torch

    if keep in spec.fragments:
        return spec.fragment_mask(x, keep, cut)
    path = Path(keep).expanduser()
    if not path.suffix:
        names = ", ".join(spec.fragments) or "none for this data"
        raise UserError(f"--keep {keep!r} is neither a fragment ({names}) nor a mask picture; give one of those "
                        "or a MASK.png (white where the item is kept)")
    m = _picture(path, "--keep mask")
    m = torch.from_numpy(m.mean(0) >= 0.5)
    if tuple(m.shape) != tuple(x.shape[1:]):
        raise UserError(f"the mask {path} is {m.shape[0]}x{m.shape[1]} but the items are {x.shape[1]}x{x.shape[2]}; "
                        "draw the mask at the items' size")
    return m.expand(x.shape).clone()


def cmd_complete(args) -> int:
    from latentspace.cli_output import new_output, npy_bytes
    from latentspace.latent import complete
    from latentspace.runs import load_run
    from latentspace.storage import atomic_write_bytes

    out = new_output(args.out, args.overwrite)
    model, _ = load_run(args.run)
    info = model.info_
    x = _item(Path(args.item).expanduser(), tuple(info.shape))
    kept = visible_mask(info.spec, x, args.keep, args.cut)
    whole = complete(model, x, kept, steps=args.steps, restarts=args.restarts, seed=args.seed)
    if out.suffix.lower() == ".npy":
        atomic_write_bytes(out, npy_bytes(whole.numpy()))
    else:
        import io

        from PIL import Image

        a = (whole.clamp(0, 1).numpy() * 255).round().astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)).save(buf, format="PNG")
        atomic_write_bytes(out, buf.getvalue())
    hidden = int((~kept).sum())
    print(f"completed {hidden:,} hidden of {kept.numel():,} values; wrote {out}", file=sys.stderr)
    return 0


def add_complete_command(sub) -> None:
    """The ``latentspace complete`` command on the sub-command parsers ``sub``."""
    q = sub.add_parser("complete", help="fill in the missing part of an item (a sherd's vessel, a masked image) by "
                                        "inverting a trained model")
    q.add_argument("run", metavar="RUN_OR_MODEL")
    q.add_argument("--item", required=True, metavar="FILE.png", help="the item, in the run's format (size, channels)")
    q.add_argument("--keep", required=True, metavar="rim|base|MASK.png",
                   help="the visible part: a fragment of a vessel profile (rim: the base is missing; base: the rim "
                        "is) or a mask picture, white where the item is kept")
    q.add_argument("--cut", type=float, default=0.5, help="rim/base: where the profile is cut, as a fraction of "
                                                          "its height from the top (default 0.5)")
    q.add_argument("--out", required=True, help="FILE.png (the completed item) or FILE.npy")
    q.add_argument("--steps", type=int, default=500, help="Adam steps of the inversion (default 500)")
    q.add_argument("--restarts", type=int, default=4, help="random starts; the best is kept (default 4)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--overwrite", action="store_true")
    q.set_defaults(func=cmd_complete)
