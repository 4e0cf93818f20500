"""Pictures of 3-D occupancy grids: shaded surface renders from several viewpoints.

Each view is an orthographic ray cast through the volume (trilinear sampling, all items at
once with :func:`torch.nn.functional.grid_sample`): a pixel shows the first point where the
occupancy reaches ``threshold``, lit by its surface normal (the gradient of the slightly
smoothed occupancy) and darkened with depth. Views are named or given as (elevation, azimuth)
in degrees:

- ``"front"`` (0, 0) looks along the second volume axis, ``"side"`` (0, 90) along the first,
  ``"top"`` (90, 0) down the up axis, ``"oblique"`` (25, -35) from the front left, above.

The up axis is the last volume axis by default (as in the ModelNet grids); pass ``up`` for
another.

- :func:`render_voxels`: one RGB picture per volume, its views tiled (2 x 2 for four views);
- :func:`voxel_image`: those pictures tiled into one uint8 grid (what ``save_samples`` writes);

and :func:`latentspace.plots.voxels.voxel_grid` draws them as a matplotlib figure.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from latentspace.errors import UserError

VIEWS = {"front": (0.0, 0.0), "side": (0.0, 90.0), "top": (90.0, 0.0), "oblique": (25.0, -35.0)}
DEFAULT_VIEWS = ("oblique", "front", "side", "top")
_COLOUR = torch.tensor([0.55, 0.68, 0.88])  # lit surface
_BACKGROUND = 1.0


def _as_volumes(volumes) -> torch.Tensor:
    """``(n, D, H, W)`` float occupancies from (n, D, H, W), (n, 1, D, H, W) or one volume."""
    v = torch.as_tensor(np.asarray(volumes) if not isinstance(volumes, torch.Tensor) else volumes)
    v = v.detach().float().cpu()
    if v.ndim == 5 and v.shape[1] == 1:
        v = v[:, 0]
    elif v.ndim == 3:
        v = v[None]
    if v.ndim != 4 or min(v.shape[1:]) < 2:
        raise UserError(f"volumes must have shape (n, D, H, W) or (n, 1, D, H, W), got {tuple(v.shape)}")
    return v


def _view(view) -> tuple[float, float]:
    if isinstance(view, str):
        if view not in VIEWS:
            raise UserError(f"unknown view {view!r}; use one of {', '.join(VIEWS)} or (elevation, azimuth) degrees")
        return VIEWS[view]
    try:
        elev, azim = (float(a) for a in view)
    except (TypeError, ValueError):
        raise UserError(f"a view is a name ({', '.join(VIEWS)}) or (elevation, azimuth) in degrees, "
                        f"got {view!r}") from None
    return elev, azim


def _camera(elev: float, azim: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Unit vectors (right, up, forward) of the camera in world axes (x, y, z = up)."""
    e, a = math.radians(elev), math.radians(azim)
    forward = torch.tensor([math.cos(e) * math.sin(a), math.cos(e) * math.cos(a), -math.sin(e)])
    right = torch.tensor([math.cos(a), -math.sin(a), 0.0])
    up = torch.linalg.cross(right, forward)
    return right, up, forward


def _up_last(v: torch.Tensor, up: int) -> torch.Tensor:
    """Volumes (n, A, B, C) permuted cyclically so that axis ``up`` (of A, B, C) comes last."""
    if isinstance(up, bool) or not isinstance(up, (int, np.integer)) or not -3 <= up < 3:
        raise UserError(f"up must be a volume axis 0, 1 or 2 (or -1 for the last), got {up!r}")
    up = int(up) % 3
    return v.permute(0, *[1 + (up + 1 + i) % 3 for i in range(3)])


def _render_view(occ: torch.Tensor, smooth: torch.Tensor, elev: float, azim: float, threshold: float,
                 size: int) -> torch.Tensor:
    """RGB renders ``(n, size, size, 3)`` in [0, 1] of occupancies ``occ`` (n, 1, X, Y, Z) from one view."""
    n, _, X, Y, Z = occ.shape
    dims = torch.tensor([X, Y, Z], dtype=torch.float32)
    half = (dims - 1) / 2
    right, up, forward = _camera(elev, azim)
    corners = torch.tensor([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)]) * (half + 0.5)
    extent = float(torch.maximum((corners @ right).abs().max(), (corners @ up).abs().max()))
    depth = float((corners @ forward).abs().max())
    samples = int(math.ceil(4 * depth)) + 1  # two samples per voxel
    uv = (torch.arange(size) + 0.5) / size * 2 - 1  # pixel centres in [-1, 1]
    t = torch.linspace(-depth, depth, samples)
    # world points (samples, rows, cols, 3): rows run from top (+up) to bottom
    pts = (t[:, None, None, None] * forward + (-uv)[None, :, None, None] * extent * up
           + uv[None, None, :, None] * extent * right)
    grid = (pts / half.clamp_min(1e-6)).flip(-1)  # grid_sample wants (z, y, x) order for (X, Y, Z) volumes
    grid = grid[None].expand(n, -1, -1, -1, -1)
    vals = F.grid_sample(occ, grid, mode="bilinear", padding_mode="zeros", align_corners=True)[:, 0]
    hit = vals >= threshold  # (n, samples, rows, cols)
    seen = hit.any(1)
    first = hit.float().argmax(1)  # first sample at or above the threshold along each ray
    # surface normals: the gradient of the smoothed occupancy at the hit points
    hit_pts = pts.reshape(samples, size * size, 3)[first.reshape(n, -1), torch.arange(size * size)]
    step = 1.0
    grads = []
    for k in range(3):
        offset = torch.zeros(3)
        offset[k] = step
        ahead = F.grid_sample(smooth, ((hit_pts + offset) / half).flip(-1)[:, :, None, None], align_corners=True)
        behind = F.grid_sample(smooth, ((hit_pts - offset) / half).flip(-1)[:, :, None, None], align_corners=True)
        grads.append((ahead - behind).reshape(n, size * size))
    normal = -torch.stack(grads, -1)
    normal = normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    light = -forward + 0.6 * up - 0.35 * right
    light = light / light.norm()
    lambert = (normal @ light).clamp_min(0.0).reshape(n, size, size)
    rim = (normal @ -forward).clamp_min(0.0).reshape(n, size, size)  # faces turned to the camera stay lit
    shade = 0.25 + 0.55 * lambert + 0.2 * rim
    near = 1.0 - 0.35 * (first.float() / max(samples - 1, 1))  # depth cue: nearer is brighter
    rgb = (shade * near)[..., None] * _COLOUR
    # dark outlines where the depth jumps (silhouettes and creases)
    d = first.float() / 2  # in voxels
    jump = torch.zeros_like(d, dtype=torch.bool)
    jump[:, 1:, :] |= (d[:, 1:, :] - d[:, :-1, :]).abs() > 1.5
    jump[:, :, 1:] |= (d[:, :, 1:] - d[:, :, :-1]).abs() > 1.5
    rgb = torch.where(jump[..., None], rgb * 0.55, rgb)
    return torch.where(seen[..., None], rgb, torch.full_like(rgb, _BACKGROUND))


def render_voxels(volumes, *, views=DEFAULT_VIEWS, threshold: float = 0.5, up: int = -1, size: int | None = None,
                  pad: int = 2) -> np.ndarray:
    """Shaded renders of occupancy grids, one picture per volume with its views tiled.

    Parameters
    ----------
    volumes : tensor or array
        Occupancies in [0, 1]: ``(n, D, H, W)``, ``(n, 1, D, H, W)`` or one ``(D, H, W)``.
    views : sequence of str or (elevation, azimuth)
        Viewpoints (see the module docstring); four views are tiled 2 x 2, others in a row.
    threshold : float
        Occupancy at which a surface is drawn (a data set's ``info.extra["threshold"]``).
    up : int
        Which volume axis (0, 1, 2, or -1 for the last) points up.
    size : int, optional
        Pixels per view side; twice the largest volume side if None.
    pad : int
        White pixels between views.

    Returns
    -------
    numpy.ndarray
        uint8 ``(n, height, width, 3)``.

    Examples
    --------
    >>> import torch
    >>> cube = torch.zeros(1, 16, 16, 16)
    >>> cube[:, 4:12, 4:12, 4:12] = 1
    >>> render_voxels(cube, views=["oblique"]).shape
    (1, 32, 32, 3)
    """
    v = _up_last(_as_volumes(volumes), up)
    if not 0.0 < float(threshold) <= 1.0:
        raise UserError(f"threshold must lie in (0, 1], got {threshold!r}")
    views = [views] if isinstance(views, str) else list(views)
    if not views:
        raise UserError("views is empty; give at least one view, e.g. views=['oblique']")
    cams = [_view(view) for view in views]
    size = int(size or 2 * max(v.shape[1:]))
    occ = v.clamp(0, 1)[:, None]
    smooth = F.avg_pool3d(F.pad(occ, (1,) * 6, mode="replicate"), 3, stride=1)  # normals from a 3^3 box blur
    pictures = [_render_view(occ, smooth, elev, azim, float(threshold), size) for elev, azim in cams]
    cols = 2 if len(pictures) == 4 else len(pictures)
    rows = math.ceil(len(pictures) / cols)
    out = torch.ones(len(v), rows * size + (rows - 1) * pad, cols * size + (cols - 1) * pad, 3)
    for i, pic in enumerate(pictures):
        r, c = divmod(i, cols)
        out[:, r * (size + pad):r * (size + pad) + size, c * (size + pad):c * (size + pad) + size] = pic
    return (out.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def voxel_image(volumes, ncols: int | None = None, *, pad: int = 4, **render) -> np.ndarray:
    """Renders of ``volumes`` (see :func:`render_voxels`) tiled into one uint8 RGB array ``(H, W, 3)``.

    Examples
    --------
    >>> import torch
    >>> voxel_image(torch.rand(3, 8, 8, 8), views=["top"]).shape
    (44, 44, 3)
    """
    pics = render_voxels(volumes, **render)
    n, h, w, _ = pics.shape
    ncols = int(ncols or math.ceil(math.sqrt(n)))
    nrows = math.ceil(n / ncols)
    canvas = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, 3), 255, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, ncols)
        canvas[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = pics[i]
    # thin grey frames between items
    for r in range(nrows + 1):
        canvas[r * (h + pad) + pad // 2 - 1 + (pad % 2):r * (h + pad) + pad // 2 + (pad % 2)] = 200
    for c in range(ncols + 1):
        canvas[:, c * (w + pad) + pad // 2 - 1 + (pad % 2):c * (w + pad) + pad // 2 + (pad % 2)] = 200
    return canvas
