"""Pictures of vessel half-profiles: as drawn, as an archaeologist's section, and revolved in 3-D.

A profile item is ``(1, H, W)`` in data space: the wall black (0) on white (1), the rotation axis
along the left edge (column 0) and the rim at the top (the ``profile`` modality,
:mod:`latentspace.modalities.profile`). Its *occupancy* is ``1 - value``.

- :func:`half_profiles`: the items as they are (what the networks see);
- :func:`sections`: the full section as archaeologists draw it: the filled profile on one side of
  the axis, its outline mirrored on the other, the axis a thin dashed line;
- :func:`render_vessels`: the vessel revolved about its axis and ray-marched (orthographic
  camera, all items at once with :func:`torch.nn.functional.grid_sample`): a pixel shows the
  first point where the revolved occupancy reaches a threshold, lit by the surface normal (the
  gradient of the lightly smoothed occupancy), with a quarter cut away so that the wall's section
  shows (darker) beside the interior;
- :func:`vessel_image`: those renders tiled into one uint8 picture.

Examples
--------
>>> import torch
>>> x = torch.ones(2, 1, 16, 16); x[:, :, 12:14, :10] = 0; x[:, :, 2:14, 8:10] = 0   # floor and wall
>>> sections(x).shape, render_vessels(x).shape
(torch.Size([2, 1, 16, 33]), (2, 29, 32, 3))
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from latentspace.errors import UserError
from latentspace.modalities.base import tile

_CLAY = torch.tensor([0.80, 0.55, 0.40])      # lit outer and inner surfaces
_SECTION = torch.tensor([0.30, 0.18, 0.13])   # the cut faces, dark like a drawn section
_AXIS_GRAY = 0.55                             # the dashed axis of a section


def occupancy(x) -> torch.Tensor:
    """Wall occupancy ``(n, H, W)`` in [0, 1] of data-space profiles ``(n, 1, H, W)``, ``(n, H, W)`` or ``(H, W)``."""
    v = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    v = v.float().cpu()
    if v.ndim == 4 and v.shape[1] == 1:
        v = v[:, 0]
    elif v.ndim == 2:
        v = v[None]
    if v.ndim != 3 or min(v.shape[1:]) < 2:
        raise UserError(f"profiles must have shape (n, 1, H, W), (n, H, W) or (H, W), got {tuple(v.shape)}")
    return (1.0 - v).clamp(0, 1)


def half_profiles(x) -> torch.Tensor:
    """The profiles as pictures ``(n, 1, H, W)`` in [0, 1] (black wall on white), as the networks see them."""
    return (1.0 - occupancy(x))[:, None]


def _outline(o: torch.Tensor) -> torch.Tensor:
    """The inner boundary of occupancies ``(n, H, W)``: the occupancy minus its 3x3 erosion (paper outside)."""
    eroded = -F.max_pool2d(-F.pad(o[:, None], (1, 1, 1, 1), value=0.0), 3, stride=1)
    return (o - eroded[:, 0]).clamp(0, 1)


def sections(x, side: str = "left") -> torch.Tensor:
    """Full sections as archaeologists draw them, pictures ``(n, 1, H, 2W + 1)`` in [0, 1].

    The filled profile (the wall cut through the axis) lies on ``side`` of the axis ("left", as the
    Iberian collection draws it, or "right"); its outline, mirrored, on the other side shows the
    vessel's shape; the axis is the middle column, dashed gray, black where the floor crosses it.

    Examples
    --------
    >>> import torch
    >>> x = torch.ones(1, 1, 8, 4); x[0, 0, 6, :] = 0; x[0, 0, 1:7, 3] = 0
    >>> s = sections(x)[0, 0]
    >>> s.shape, float(s[6, 4]), float(s[3, 0]), float(s[3, 8])
    (torch.Size([8, 9]), 0.0, 0.0, 0.0)
    """
    if side not in ("left", "right"):
        raise UserError(f"side must be 'left' or 'right' (where the filled section lies), got {side!r}")
    o = occupancy(x)
    n, h, w = o.shape
    dash = (torch.arange(h) % 6 < 4).float() * _AXIS_GRAY
    axis = torch.maximum(dash[None].expand(n, h), o[:, :, 0])[..., None]
    filled, outline = o, _outline(o)
    left, right = (filled.flip(-1), outline) if side == "left" else (outline.flip(-1), filled)
    return (1.0 - torch.cat([left, axis, right], dim=-1))[:, None]


# -- the vessel revolved -----------------------------------------------------------------------------------
def _bilinear(table: torch.Tensor, item: torch.Tensor, row: torch.Tensor, col: torch.Tensor) -> torch.Tensor:
    """Bilinear values of ``table`` (n, H, W), zero outside, at (``row``, ``col``) of items ``item``
    (pixel centres at whole numbers; ``item`` broadcasts against the points)."""
    n, h, w = table.shape
    padded = F.pad(table, (1, 1, 1, 1)).reshape(-1)
    row = row.clamp(-1.0, h) + 1.0
    col = col.clamp(-1.0, w) + 1.0
    r0, c0 = row.floor().clamp(max=h), col.floor().clamp(max=w)
    fr, fc = row - r0, col - c0
    base = (item * (h + 2) + r0.long()) * (w + 2) + c0.long()
    v00, v01 = padded[base], padded[base + 1]
    v10, v11 = padded[base + w + 2], padded[base + w + 3]
    return (v00 * (1 - fc) + v01 * fc) * (1 - fr) + (v10 * (1 - fc) + v11 * fc) * fr


def _without_specks(o: torch.Tensor, threshold: float, min_area: int) -> torch.Tensor:
    """Occupancies with the pieces (8-connected, at ``threshold``) smaller than ``min_area`` pixels removed."""
    if min_area <= 1:
        return o
    out = o.clone()
    for i, item in enumerate(o.numpy()):
        labels, k = ndimage.label(item >= threshold, structure=np.ones((3, 3)))
        if k:
            sizes = np.bincount(labels.ravel())
            small = (sizes < min_area)[labels] & (labels > 0)
            out[i][torch.from_numpy(ndimage.binary_dilation(small))] = 0.0
    return out


def _entry_exit(u, v, e: float, h: int, w: int):
    """Where each pixel's ray enters and leaves the cylinder around the vessel (radius w, height h)."""
    se, ce = math.sin(e), math.cos(e)
    zmax = torch.sqrt((w * w - u * u).clamp_min(0.0))
    lo, hi = (-v * se - zmax) / ce, (-v * se + zmax) / ce
    if se > 1e-6:
        lo, hi = torch.maximum(lo, (v * ce - h / 2) / se), torch.minimum(hi, (v * ce + h / 2) / se)
    else:
        hi = torch.where(v.abs() <= h / 2, hi, lo - 1)
    return lo, torch.where(u.abs() < w, hi, lo - 1)


def render_vessels(x, *, elevation: float = 25.0, azimuth: float = 20.0, cutaway: bool = True, zoom: float = 1.0,
                   threshold: float = 0.35, min_area: int = 4, step: float = 0.5) -> np.ndarray:
    """Shaded 3-D views of the vessels the profiles describe, revolved about their axes.

    Parameters
    ----------
    x : tensor or array
        Data-space profiles ``(n, 1, H, W)`` (see the module docstring).
    elevation : float
        Degrees the camera looks down from the horizontal.
    azimuth : float
        Degrees to the right of the camera of the middle of the quarter cut away.
    cutaway : bool
        Cut a quarter away so that the wall's section (dark) and the interior show.
    zoom : float
        Picture pixels per profile pixel.
    threshold : float
        Occupancy drawn as the surface (under one half, so that walls thinner than a pixel, drawn
        gray, still close).
    min_area : int
        Specks of clay smaller than this many profile pixels are left out (a noisy sample's specks
        would revolve into floating rings).
    step : float
        Ray-marching step in profile pixels (thinner walls need smaller steps).

    Returns
    -------
    numpy.ndarray
        uint8 ``(n, height, width, 3)`` on white: width ``2 W zoom``, height ``(H cos e + 2 W sin e) zoom``.

    Examples
    --------
    >>> import torch
    >>> x = torch.ones(1, 1, 32, 32); x[:, :, 26:30, :24] = 0; x[:, :, 4:30, 20:24] = 0
    >>> pic = render_vessels(x)
    >>> pic.shape, bool((pic < 250).any()), bool((pic[0, 0] == 255).all())
    ((1, 57, 64, 3), True, True)
    """
    if not 0.0 <= float(elevation) < 90.0:
        raise UserError(f"elevation must lie in [0, 90) degrees, got {elevation!r}")
    if not 0.0 < float(threshold) < 1.0:
        raise UserError(f"threshold must lie strictly between 0 and 1, got {threshold!r}")
    if not float(zoom) > 0 or not float(step) > 0:
        raise UserError(f"zoom and step must be positive, got {zoom!r} and {step!r}")
    o = _without_specks(occupancy(x), threshold, int(min_area))
    n, h, w = o.shape
    table = torch.cat([o.flip(-1), o], dim=-1)       # radius -w..w: no seam at the axis
    smooth = F.avg_pool2d(F.pad(table[:, None], (1, 1, 1, 1), mode="replicate"), 3, stride=1)[:, 0]
    e, a = math.radians(float(elevation)), math.radians(float(azimuth))
    width = max(1, int(math.ceil(2 * w * zoom)))
    height = max(1, int(math.ceil((h * math.cos(e) + 2 * w * math.sin(e)) * zoom)))
    u = ((torch.arange(width) + 0.5) / zoom - w)[None, :].expand(height, width).reshape(-1)     # world X (right)
    v = ((h / 2) * math.cos(e) + w * math.sin(e) - (torch.arange(height) + 0.5) / zoom)[:, None].expand(
        height, width).reshape(-1)                                                              # camera up
    forward = torch.tensor([0.0, -math.sin(e), -math.cos(e)])
    up = torch.tensor([0.0, math.cos(e), -math.sin(e)])
    b1 = (math.sin(a + math.pi / 4), math.cos(a + math.pi / 4))      # the cut-away wedge: b1.p > 0 and b2.p > 0
    b2 = (math.sin(a - math.pi / 4), math.cos(a - math.pi / 4))

    def field(table, item, px, py, pz, cut=cutaway):
        """Revolved occupancy at world points (X, Y, Z = towards the camera), a quarter cut away."""
        value = _bilinear(table, item, h / 2 - py - 0.5, torch.sqrt(px * px + pz * pz) + w - 0.5)
        if cut:
            inside = torch.sigmoid(4 * (b1[0] * px + b1[1] * pz)) * torch.sigmoid(4 * (b2[0] * px + b2[1] * pz))
            value = value * (1 - inside)
        return value

    def along(pixel, s):
        return u[pixel], v[pixel] * up[1] + s * forward[1], v[pixel] * up[2] + s * forward[2]

    # sphere tracing: each ray steps from where it enters the vessel's cylinder by a safe distance, the
    # distance in the profile's plane to the nearest clay (a lower bound in 3-D for a solid of revolution)
    # or, inside the cut-away quarter, to the quarter's faces, until it meets clay
    far = torch.from_numpy(np.stack([ndimage.distance_transform_edt(t < threshold) for t in table.numpy()])).float()
    enter, leave = _entry_exit(u, v, e, h, w)
    item = torch.arange(n).repeat_interleave(len(u))
    pixel = torch.arange(len(u)).repeat(n)
    hit = torch.full((n * len(u),), float("nan"))
    active = torch.nonzero(enter[pixel] <= leave[pixel])[:, 0]
    s = enter[pixel[active]]
    while len(active):
        p = along(pixel[active], s)
        met = field(table, item[active], *p) >= threshold
        hit[active[met]] = s[met]
        safe = field(far, item[active], *p, cut=False)
        if cutaway:
            safe = torch.maximum(safe, torch.minimum(b1[0] * p[0] + b1[1] * p[2], b2[0] * p[0] + b2[1] * p[2]))
        s = s + (safe - 1.0).clamp_min(step)
        go = ~met & (s <= leave[pixel[active]])
        active, s = active[go], s[go]
    seen = torch.isfinite(hit)
    rays = torch.nonzero(seen)[:, 0]
    lo, hi = hit[rays] - step, hit[rays]
    for _ in range(4):                                            # bisect to the surface
        mid = (lo + hi) / 2
        inside = field(table, item[rays], *along(pixel[rays], mid)) >= threshold
        lo, hi = torch.where(inside, lo, mid), torch.where(inside, mid, hi)
    px, py, pz = along(pixel[rays], hi)
    grad = []
    for axis in range(3):
        off = [0.0, 0.0, 0.0]
        off[axis] = 1.0
        grad.append(field(smooth, item[rays], px + off[0], py + off[1], pz + off[2])
                    - field(smooth, item[rays], px - off[0], py - off[1], pz - off[2]))
    normal = -torch.stack(grad, -1)
    normal = normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    light = -forward + 0.8 * up - 0.45 * torch.tensor([1.0, 0.0, 0.0])
    light = light / light.norm()
    shade = 0.30 + 0.55 * (normal @ light).clamp_min(0.0) + 0.15 * (normal @ -forward).clamp_min(0.0)
    depth = math.hypot(w, h / 2)
    shade = shade * (1.0 - 0.25 * (hi + depth) / (2 * depth))              # nearer is brighter
    # a ray that passed through clay the cut removed entered the wall through a cut face
    cut = field(table, item[rays], *along(pixel[rays], hi - 0.75), cut=False) >= threshold if cutaway else \
        torch.zeros(len(rays), dtype=torch.bool)
    rgb = torch.ones(n * len(u), 3)
    rgb[rays] = shade[:, None] * torch.where(cut[:, None], _SECTION, _CLAY)
    rgb = rgb.reshape(n, height, width, 3)
    d = torch.where(seen, hit, torch.full_like(hit, 4 * depth)).reshape(n, height, width)
    edge = torch.zeros(n, height, width, dtype=torch.bool)       # dark lines where the depth jumps
    edge[:, 1:, :] |= (d[:, 1:, :] - d[:, :-1, :]).abs() > 2.0
    edge[:, :, 1:] |= (d[:, :, 1:] - d[:, :, :-1]).abs() > 2.0
    edge &= seen.reshape(n, height, width)
    rgb = torch.where(edge[..., None], rgb * 0.6, rgb)
    return (rgb.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def vessel_image(x, ncols: int | None = None, *, pad: int = 2, **render) -> np.ndarray:
    """Renders of profiles (see :func:`render_vessels`) tiled into one uint8 RGB picture ``(H, W, 3)`` on white.

    Examples
    --------
    >>> import torch
    >>> vessel_image(torch.ones(3, 1, 8, 8), ncols=3).shape
    (19, 56, 3)
    """
    pics = torch.from_numpy(render_vessels(x, **render)).permute(0, 3, 1, 2).float() / 255
    return tile(pics, ncols, pad=pad)
