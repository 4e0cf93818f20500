"""The geometry of one drawn vessel profile: binarise, crop and orient it (used by :mod:`.pottery`).

A *half-profile* is the section of a wheel-made vessel on one side of its rotation axis, drawn
black (the wall, cut by a vertical plane through the axis) on white, from the rim to the base.
latentspace's *canonical orientation* puts the rotation axis on the left edge (column 0) and the
rim at the top; :func:`orient` finds which of the eight flips and quarter turns of a drawing gives
it, from the drawing alone:

1. **The axis is the side the wall is cut by.** The floor crosses the axis, so where the profile
   meets its axis the ink ends in a straight cut flush with the bounding box, as wide just inside
   the box as on its edge (*corner*: the ink run on the box side over the run a tenth of the wall
   thickness inside it, about 1 for a cut and about 0.4 for a rounded rim or a wall touching the box
   tangentially), and the wall runs across that side (*across*: the main direction of the ink
   within three wall thicknesses, measured along the wall, lies along the side's normal).
2. **The rim is up.** The rim is the free end of the wall: the ink farthest from the cut measured
   along the wall. It should be at the top, and the floor's cut in the lower part (*upright*: one
   minus the rim's height plus the cut's depth, each as a fraction of the box).

Each of the eight orientations is scored ``across + 2 * corner + upright`` and the best one wins.
On the 1,133 drawings of the Iberian collection (all drawn with the axis on the right and the rim
at the top) this picks the drawn orientation for 1,125 (99.3%); the eight others are plates with
a solid foot or a flat-topped rim as square as the cut. The loader's ``orient="auto"`` therefore
falls back to the collection's usual orientation where a drawing's evidence is weak (a winning
margin under :data:`WEAK`), which gets all 1,133 right.

Examples
--------
>>> m = np.zeros((40, 30), bool)
>>> m[34:38, :] = True        # the floor, cut by the axis on the left
>>> m[8:38, 24:28] = True     # the wall, up to the rim
>>> m = m[::-1, ::-1]         # drawn upside down with the axis on the right
>>> o = orient(m)
>>> o.name, bool(apply(m, o)[35, 0]), bool(apply(m, o)[0, 0])
('axis right, rim bottom', True, False)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: side of a drawing that the canonical left edge comes from, after ``np.rot90(a, k)``
_SIDE = ("left", "top", "right", "bottom")
#: longest side of the masks the orientation is measured on: the wall graph, and the cut's corners
GRAPH_SIDE, CORNER_SIDE = 128, 512
#: a winning margin under this is weak evidence (the loader may fall back to the collection's usual)
WEAK = 0.7


@dataclass(frozen=True)
class Orientation:
    """How a drawing becomes canonical: ``np.rot90(a, turns)``, then flipped upside down if ``flip``.

    ``name`` says where the drawing had its axis and rim (``"axis right, rim top"``); ``scores``
    holds the score of every orientation by name (empty when the orientation was not measured).
    """

    turns: int
    flip: bool
    name: str
    scores: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def margin(self) -> float:
        """How far this orientation's score is ahead of the best other one's (small: weak evidence)."""
        others = [v for k, v in self.scores.items() if k != self.name]
        return self.scores[self.name] - max(others) if others and self.name in self.scores else float("inf")

    def prefer(self, name: str, within: float = None) -> "Orientation":
        """Orientation ``name`` instead of this one when it scored within ``within`` (default
        :data:`WEAK`) of it: a collection's usual orientation wins over weak evidence."""
        within = WEAK if within is None else within
        if name == self.name or name not in self.scores or self.scores[name] < self.scores[self.name] - within:
            return self
        other = by_name(name)
        return Orientation(other.turns, other.flip, name, self.scores)


def otsu_threshold(gray: np.ndarray) -> int:
    """Otsu's threshold of 8-bit levels: the level ``t`` that best splits ``<= t`` from ``> t``.

    Examples
    --------
    >>> otsu_threshold(np.array([[10, 12, 200, 210]], np.uint8)) in range(12, 200)
    True
    """
    hist = np.bincount(np.asarray(gray, np.uint8).ravel(), minlength=256).astype(np.float64)
    p = hist / max(hist.sum(), 1.0)
    w0 = np.cumsum(p)
    mu = np.cumsum(p * np.arange(256))
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * w0 - mu) ** 2 / (w0 * (1.0 - w0))
    between[~np.isfinite(between)] = -1.0
    return int(np.argmax(between))


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """The drawing's ink as a boolean mask: Otsu's split of the levels, the border's majority class
    taken as the paper (so white-on-black drawings work too). All False for a uniform picture.

    Examples
    --------
    >>> g = np.full((5, 5), 255, np.uint8); g[1:4, 2] = 0
    >>> int(ink_mask(g).sum())
    3
    """
    gray = np.asarray(gray, np.uint8)
    if gray.size == 0 or gray.min() == gray.max():
        return np.zeros(gray.shape, bool)
    dark = gray <= otsu_threshold(gray)
    border = np.concatenate([dark[0], dark[-1], dark[:, 0], dark[:, -1]])
    return ~dark if border.mean() > 0.5 else dark


def crop(mask: np.ndarray) -> np.ndarray:
    """The mask cut to the bounding box of its True pixels (empty if there are none)."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not len(rows):
        return mask[:0, :0]
    return mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def without_specks(mask: np.ndarray, fraction: float = 0.02) -> tuple[np.ndarray, int]:
    """The mask without the pieces of ink (8-connected, seen at up to 512 pixels) smaller than ``fraction``
    of the largest piece — dust on a scan, a stray mark — and how many pieces were removed.

    Examples
    --------
    >>> m = np.zeros((40, 40), bool); m[5:35, 10:14] = True; m[2, 38] = True
    >>> clean, removed = without_specks(m)
    >>> removed, crop(clean).shape
    (1, (30, 4))
    """
    from scipy import ndimage

    k = max(1, -(-max(mask.shape) // CORNER_SIDE))
    small = reduce(mask, k, "max")
    labels, n = ndimage.label(small, structure=np.ones((3, 3)))
    if n < 2:
        return mask, 0
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    keep = sizes >= fraction * sizes.max()
    keep[0] = False
    kept = keep[labels]
    if k > 1:
        kept = np.repeat(np.repeat(kept, k, axis=0), k, axis=1)[:mask.shape[0], :mask.shape[1]]
    return mask & kept, int(n - keep.sum())


def reduce(mask: np.ndarray, factor: int, how: str = "mean") -> np.ndarray:
    """A boolean mask (H, W) shrunk by an integer ``factor`` (a ragged last block is averaged over what it
    holds): block means (float coverage in [0, 1]) or, with ``how="max"``, whether a block holds any True
    (a boolean mask: thin lines stay connected).

    Examples
    --------
    >>> m = np.zeros((4, 6), bool); m[0, 0] = True
    >>> np.round(reduce(m, 2), 2).tolist(), reduce(m, 2, "max").sum()
    ([[0.25, 0.0, 0.0], [0.0, 0.0, 0.0]], np.int64(1))
    """
    from PIL import Image

    mask = np.asarray(mask, bool)
    if factor <= 1:
        return mask.copy() if how == "max" else mask.astype(np.float32)
    small = np.asarray(Image.fromarray(mask.view(np.uint8) * np.uint8(255)).reduce(int(factor)))
    return small > 0 if how == "max" else small.astype(np.float32) / 255.0


def apply(a: np.ndarray, o: Orientation) -> np.ndarray:
    """``a`` (H, W) turned into the canonical orientation ``o`` says (a view, no copy)."""
    out = np.rot90(a, o.turns)
    return out[::-1] if o.flip else out


def _name(turns: int, flip: bool) -> str:
    """Where the axis and the rim were in the drawing, for the orientation (turns, flip)."""
    probe = np.arange(9).reshape(3, 3)           # the drawing's cells: 1 top, 3 left, 5 right, 7 bottom
    canon = apply(probe, Orientation(turns, flip, ""))
    where = {1: "top", 3: "left", 5: "right", 7: "bottom"}
    return f"axis {where[int(canon[1, 0])]}, rim {where[int(canon[0, 1])]}"


def _graph(mask: np.ndarray):
    """The 8-neighbour graph of the True pixels (edge lengths 1 and sqrt 2) and each pixel's node."""
    from scipy import sparse

    index = np.full(mask.shape, -1, np.int64)
    n = int(mask.sum())
    index[mask] = np.arange(n)
    h, w = mask.shape
    src, dst, length = [], [], []
    for dy, dx, step in ((0, 1, 1.0), (1, 0, 1.0), (1, 1, 2 ** 0.5), (1, -1, 2 ** 0.5)):
        a = index[0:h - dy, max(0, -dx):w - max(0, dx)]
        b = index[dy:h, max(0, dx):w - max(0, -dx)]
        ok = (a >= 0) & (b >= 0)
        src.append(a[ok])
        dst.append(b[ok])
        length.append(np.full(int(ok.sum()), step))
    g = sparse.coo_matrix((np.concatenate(length), (np.concatenate(src), np.concatenate(dst))), shape=(n, n))
    return g.tocsr(), index


def _run_at(col: np.ndarray, row: int) -> int:
    """Length of the run of True in ``col`` through ``row`` (0 if ``col[row]`` is False)."""
    if not col[row]:
        return 0
    above, below = np.flatnonzero(~col[:row]), np.flatnonzero(~col[row + 1:])
    lo = above[-1] + 1 if len(above) else 0
    hi = row + below[0] if len(below) else len(col) - 1
    return int(hi - lo + 1)


def _corner(m: np.ndarray, thickness: float) -> float:
    """How square the ink's end on the left edge is: its longest run there over the run through the
    same row a tenth of a wall thickness inside (1: a straight cut; small: a rounded end)."""
    rows = np.flatnonzero(m[:, 0])
    runs = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
    run = max(runs, key=len)
    depth = max(1, int(round(0.1 * thickness)))
    if depth >= m.shape[1]:
        return 0.0
    inside = _run_at(m[:, depth], int(run[len(run) // 2]))
    return min(len(run), inside) / max(len(run), inside, 1)


def _scores(graph, index: np.ndarray, thickness: float, fine: np.ndarray, fine_thickness: float) -> tuple:
    """(across, corner, upright if the rim is up, upright if it is down) with the axis on the left:
    ``index`` holds each pixel's node in the wall's ``graph`` (-1 on paper), turned like ``fine``."""
    from scipy.sparse.csgraph import dijkstra

    h = index.shape[0]
    contact = np.flatnonzero(index[:, 0] >= 0)
    along = dijkstra(graph, directed=False, indices=index[contact, 0], min_only=True)
    ys, xs = np.nonzero(index >= 0)
    dist = along[index[ys, xs]]
    dist[~np.isfinite(dist)] = -1.0
    rim = float(ys[int(np.argmax(dist))]) / max(h - 1, 1)
    near = (dist >= 0) & (dist <= 3 * thickness)
    if near.sum() > 2:
        values, vectors = np.linalg.eigh(np.cov(np.stack([ys[near], xs[near]]).astype(np.float64)))
        across = abs(vectors[1, 1]) * (1.0 - values[0] / max(values[1], 1e-9))
    else:
        across = 0.0
    cut = contact.mean() / max(h - 1, 1)
    return across, _corner(fine, fine_thickness), (1 - rim) + cut, rim + (1 - cut)


def _thickness(m: np.ndarray) -> float:
    """The wall's thickness in pixels: twice the 90th percentile of the ink's distance to the paper."""
    from scipy import ndimage

    return max(1.0, 2.0 * float(np.percentile(ndimage.distance_transform_edt(m)[m], 90)))


def orient(mask: np.ndarray) -> Orientation:
    """The orientation that puts a profile's axis on the left and its rim at the top (see the module).

    Parameters
    ----------
    mask : numpy.ndarray
        The profile's ink (H, W), at any resolution (cropped to its bounding box first).

    Returns
    -------
    Orientation
        Apply it with :func:`apply`.
    """
    mask = crop(np.asarray(mask, bool))
    if mask.size == 0:
        return by_name(NAMES[0])
    k_coarse, k_fine = -(-max(mask.shape) // GRAPH_SIDE), -(-max(mask.shape) // CORNER_SIDE)
    coarse, fine = reduce(mask, k_coarse, "max"), reduce(mask, k_fine, "max")
    t = _thickness(coarse)
    ft = t * k_coarse / k_fine
    graph, index = _graph(coarse)
    scores = {}
    for turns in range(4):
        across, corner, up, down = _scores(graph, np.rot90(index, turns), t, np.rot90(fine, turns), ft)
        scores[NAMES[2 * turns]] = float(across + 2 * corner + up)
        scores[NAMES[2 * turns + 1]] = float(across + 2 * corner + down)
    best = max(scores, key=scores.get)
    o = by_name(best)
    return Orientation(o.turns, o.flip, best, scores)


def by_name(name: str) -> Orientation:
    """The orientation called ``name`` (``"axis right, rim top"``; see :data:`NAMES`)."""
    return _BY_NAME[name]


_BY_NAME = {_name(t, f): Orientation(t, f, _name(t, f)) for t in range(4) for f in (False, True)}
#: the eight orientations a drawing can be in, by name
NAMES = tuple(_BY_NAME)
