"""``pottery-synthetic``: parametric vessel half-profiles in six shape families, no files needed.

Each vessel is a wall of varying thickness along a smooth centre line (rim, neck, body and base
curves through jittered control points, in centimetres) from the floor at the rotation axis to a
rounded rim, with a ring foot on some families. It is drawn four times larger and averaged down,
so its edges are anti-aliased like the scaled drawings of the ``pottery`` loader, and framed
exactly as they are (:func:`latentspace.data.pottery.place`): axis on the left, rim at the top,
standing in the bottom-left corner. The families (classes), with their heights:

=================  ===========  ==============================================================
family             height (cm)  shape
=================  ===========  ==============================================================
plate              3-6          wide and shallow, flaring wall, ring foot
bowl               6-11         rounded, about half as high as wide, ring foot
carinated bowl     5-9          a conical lower body, a sharp carination, an upright rim
cup                8-14         tall, near-cylindrical, slightly flared, flat base
jar                15-32        ovoid body, narrow neck, everted rim, flat or ring base
amphora            50-90        tall and narrow, high shoulder, long neck, a solid toe at the base
=================  ===========  ==============================================================
"""

from __future__ import annotations

import numpy as np

from latentspace.data.arrays import check_int, image_info, unit_to_model
from latentspace.data.dataset import Dataset, make_dataset
from latentspace.data.pottery import check_scale, frame_sizes, place
from latentspace.data.registry import register
from latentspace.errors import UserError

FAMILIES = ("plate", "bowl", "carinated bowl", "cup", "jar", "amphora")
_SUPERSAMPLE = 4


def _catmull_rom(points: np.ndarray, per_segment: int = 12) -> np.ndarray:
    """A smooth curve through ``points`` (k, 2) (centripetal ends by repetition)."""
    p = np.vstack([points[:1], points, points[-1:]])
    t = np.linspace(0, 1, per_segment, endpoint=False)[:, None]
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t ** 3))
    return np.vstack(out + [points[-1:]])


def _shape(family: str, rng: np.random.Generator) -> dict:
    """Control points (radius, height) in cm from the floor at the axis to the rim, wall thicknesses,
    an optional ring foot (r0, r1, depth) and knob (radius), for one vessel of ``family``."""
    u = rng.uniform
    if family == "plate":
        h, r = u(3, 6), u(11, 18)
        rb = u(0.3, 0.45) * r
        pts = [(0, 0), (rb, 0), (u(0.6, 0.75) * r, u(0.25, 0.4) * h), (u(0.88, 0.95) * r, u(0.7, 0.85) * h), (r, h)]
        t = (u(0.5, 0.8), u(0.4, 0.6), u(0.5, 0.8))
        foot = (u(0.55, 0.7) * rb, u(0.8, 0.95) * rb, u(0.4, 0.8))
    elif family == "bowl":
        h = u(6, 11)
        r = h * u(1.4, 2.0)
        rb = u(0.3, 0.4) * r
        pts = [(0, 0), (rb, 0), (u(0.75, 0.85) * r, u(0.3, 0.4) * h), (u(0.96, 1.0) * r, u(0.7, 0.8) * h), (r, h)]
        t = (u(0.6, 0.9), u(0.45, 0.7), u(0.5, 0.9))
        foot = (u(0.6, 0.75) * rb, u(0.85, 1.0) * rb, u(0.5, 1.0))
    elif family == "carinated bowl":
        h = u(5, 9)
        rc = h * u(1.3, 1.8)
        hc = u(0.4, 0.6) * h
        pts = [(0, 0), (u(0.3, 0.4) * rc, 0), (0.97 * rc, 0.93 * hc), (rc, hc), (u(0.88, 0.95) * rc, hc + 0.08 * h),
               (u(0.85, 0.95) * rc, h)]
        t = (u(0.5, 0.8), u(0.4, 0.6), u(0.4, 0.7))
        foot = (u(0.2, 0.25) * rc, u(0.3, 0.35) * rc, u(0.3, 0.6)) if rng.random() < 0.5 else None
    elif family == "cup":
        h = u(8, 14)
        r = h * u(0.35, 0.5)
        pts = [(0, 0), (u(0.75, 0.85) * r, 0), (u(0.85, 0.92) * r, u(0.05, 0.1) * h), (u(0.9, 0.95) * r, 0.5 * h),
               (r, h)]
        t = (u(0.5, 0.8), u(0.35, 0.55), u(0.4, 0.6))
        foot = None
    elif family == "jar":
        h = u(15, 32)
        rm = h * u(0.35, 0.48)
        zm = u(0.4, 0.55) * h
        rn = u(0.5, 0.68) * rm
        pts = [(0, 0), (u(0.4, 0.55) * rm, 0), (0.85 * rm, 0.45 * zm), (rm, zm),
               (u(0.75, 0.85) * rm, u(0.78, 0.84) * h), (rn, u(0.88, 0.92) * h), (rn * u(1.2, 1.4), h)]
        t = (u(0.7, 1.1), u(0.5, 0.8), u(0.7, 1.0))
        foot = (0.3 * rm, 0.45 * rm, u(0.5, 1.0)) if rng.random() < 0.5 else None
    elif family == "amphora":
        h = u(50, 90)
        rm = h * u(0.14, 0.2)
        zm = u(0.6, 0.7) * h
        rn = u(0.22, 0.32) * rm
        pts = [(0, 0), (0.35 * rm, 0.06 * h), (0.8 * rm, 0.3 * h), (rm, zm), (u(0.6, 0.75) * rm, u(0.78, 0.82) * h),
               (rn, u(0.84, 0.87) * h), (rn, u(0.95, 0.97) * h), (rn * 1.15, h)]
        t = (u(2.0, 3.0), u(1.5, 2.2), u(2.0, 3.0))
        return {"points": np.array(pts), "thickness": t, "foot": None, "knob": (u(0.1, 0.15) * rm, u(0.04, 0.07) * h)}
    else:  # pragma: no cover -- FAMILIES lists the branches above
        raise ValueError(family)
    return {"points": np.array(pts), "thickness": t, "foot": foot, "knob": None}


def _polygons(shape: dict) -> tuple[list, float, float, float]:
    """Pieces to draw (("line", points, width) / ("disc", centre, radius) / ("poly", points)) in cm,
    and the vessel's lowest point, height and radius."""
    line = _catmull_rom(shape["points"])
    t_floor, t_wall, t_rim = shape["thickness"]
    n = len(line)
    third = max(2, n // 3)
    pieces = [("line", line[:third + 1], t_floor), ("line", line[third:2 * third + 1], t_wall),
              ("line", line[2 * third:], t_rim)]
    pieces += [("disc", line[i], w / 2) for i, w in ((third, t_wall), (2 * third, t_wall))]
    pieces.append(("disc", line[-1], t_rim * 0.65))                      # a rounded, slightly thickened lip
    bottom = -t_floor / 2
    if shape["foot"] is not None:
        r0, r1, depth = shape["foot"]
        pieces.append(("poly", [(r0, 0), (r1, 0), (r1 - 0.15 * depth, -t_floor / 2 - depth),
                                (r0 + 0.15 * depth, -t_floor / 2 - depth)], None))
        bottom = -t_floor / 2 - depth
    if shape["knob"] is not None:                                         # a solid toe below the floor
        radius, drop = shape["knob"]
        pieces += [("poly", [(0, 0), (radius + t_floor, 0), (radius, -drop), (0, -drop)], None),
                   ("disc", (0.0, -drop), radius)]
        bottom = min(bottom, -drop - radius)
    top = max(float(line[:, 1].max()) + t_rim * 0.65, 0.0)
    right = float(line[:, 0].max()) + max(t_floor, t_wall, t_rim)
    return pieces, bottom, top - bottom, right


def _draw(pieces: list, bottom: float, height_cm: float, width_cm: float, h: int, w: int) -> np.ndarray:
    """Ink coverage (h, w) of the pieces, the vessel's box filling the picture, drawn 4x larger."""
    from PIL import Image, ImageDraw

    ss = _SUPERSAMPLE
    sy, sx = h * ss / height_cm, w * ss / width_cm
    canvas = Image.new("L", (w * ss, h * ss), 0)
    pen = ImageDraw.Draw(canvas)

    def xy(p):
        return (float(p[0]) * sx, (height_cm - (float(p[1]) - bottom)) * sy)

    for kind, geo, size in pieces:
        if kind == "line":
            pen.line([xy(p) for p in geo], fill=255, width=max(1, int(round(size * (sx + sy) / 2))), joint="curve")
        elif kind == "disc":
            cx, cy = xy(geo)
            rx, ry = size * sx, size * sy
            pen.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
        else:
            pen.polygon([xy(p) for p in geo], fill=255)
    a = np.asarray(canvas, np.float32) / 255.0
    return a.reshape(h, ss, w, ss).mean((1, 3))


def _vessels(rng: np.random.Generator, n: int) -> tuple[list, np.ndarray]:
    y = rng.integers(0, len(FAMILIES), n)
    return [_polygons(_shape(FAMILIES[k], rng)) for k in y], y.astype(np.int64)


@register("pottery-synthetic", "parametric vessel half-profiles, 6 shape families (plate ... amphora), no files")
def pottery_synthetic(n=2000, n_test=500, size=64, scale="height", quantile=1.0, seed=0) -> Dataset:
    """Synthetic vessel half-profiles in six families, in the format of ``pottery`` (see the module).

    Parameters
    ----------
    n, n_test : int
        Training and held-out vessels (families drawn uniformly at random).
    size : int
        Side of the square frame in pixels.
    scale : {"height", "common"}, quantile : float
        As for ``pottery``: each profile as large as the frame allows, or one scale in centimetres
        for all (the ``quantile`` of the training vessels' largest sides fills the frame), so that
        a plate is small beside an amphora.
    seed : int
        Seeds the shapes; the two splits are independent draws.

    Returns
    -------
    Dataset
        Items ``(1, size, size)`` of the ``profile`` modality, classes :data:`FAMILIES`;
        ``data.height_cm`` and ``data.test.height_cm`` hold each vessel's height.

    Examples
    --------
    >>> import latentspace as ls
    >>> d = ls.data.load("pottery-synthetic", n=60, n_test=12, size=32)
    >>> d.shape, d.classes[0], d.modality, len(d.test)
    ((1, 32, 32), 'plate', 'profile', 12)
    """
    n, n_test = check_int("n", n, 2), check_int("n_test", n_test, 1)
    size = check_int("size", size, 8)
    scale, quantile = check_scale(scale, quantile)
    if n + n_test > 200_000:
        raise UserError(f"n + n_test = {n + n_test:,} vessels would take long to draw; ask for at most 200,000")
    seeds = np.random.SeedSequence(check_int("seed", seed)).spawn(2)
    (train, y), (test, yt) = (_vessels(np.random.default_rng(s), k) for s, k in zip(seeds, (n, n_test)))
    shapes = train + test
    extents = [(height, width) for _, _, height, width in shapes]
    dims, facts = frame_sizes(extents, size, scale, quantile, reference=np.arange(len(shapes)) < n)
    covers = [_draw(pieces, bottom, height, width, int(h), int(w))
              for (pieces, bottom, height, width), (h, w) in zip(shapes, dims)]
    x = place(covers, dims, size)
    info = image_info("pottery-synthetic", (1, size, size), classes=list(FAMILIES), extra={"size": size, **facts},
                      modality="profile")
    xm = unit_to_model(x[:, None])
    data = make_dataset(xm[:n], y, info=info, test_x=xm[n:], test_y=yt)
    data.height_cm = np.array([e[0] for e in extents[:n]])
    data.test.height_cm = np.array([e[0] for e in extents[n:]])
    return data
