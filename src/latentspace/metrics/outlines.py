r"""Outline landmarks and Procrustes distances of drawn shapes: the morphometrics of pottery profiles.

Archaeologists compare vessel profiles by their outlines, not by pixels: a wall drawn one pixel to
the side is the same vessel, but moves every pixel of a thin line. Here an outline is the longest
iso-line at half intensity of a drawing (ink below ``level``, found with ``contourpy``, which
matplotlib depends on), started at its highest, then leftmost point and run clockwise, and
resampled to :math:`k` landmarks equally spaced along its length. Two landmark sets
:math:`A, B \in \mathbb{R}^{k \times 2}` are compared after a Procrustes superimposition
(``scipy.spatial.procrustes``): both centred, :math:`A` scaled to unit Frobenius norm, :math:`B`
rotated and scaled to fit it best; the distance is the root mean square of the coordinates left over,

.. math::
    \mathrm{RMSE}_P(A, B) = \sqrt{\tfrac{1}{2k} \min_{R, s, t} \lVert \hat A - (s B R + t) \rVert_F^2},
    \qquad \lVert \hat A \rVert_F = 1,

so it is dimensionless, blind to position, size and rotation, and 0 for the same shape. This is the
measure of IberianGAN (Navarro et al. 2022, Sci. Rep. 12:10644: 25 landmarks per fragment, their
notebooks ``7-ValidShape-*.ipynb``), whose reported figures also drop the items more than one
standard deviation from the mean (:func:`trimmed`).

Examples
--------
>>> import numpy as np
>>> img = np.ones((32, 32)); img[4:28, 10:13] = 0; img[25:28, 2:13] = 0        # an L-shaped wall
>>> a = landmarks(img)
>>> a.shape, round(procrustes_rmse(a, a), 6), round(procrustes_rmse(a, landmarks(img[::-1])), 3) > 0
((25, 2), 0.0, True)
"""

from __future__ import annotations

import numpy as np

from latentspace.errors import UserError

#: landmarks per outline, as in IberianGAN
LANDMARKS = 25


def outline(image, level: float = 0.5) -> np.ndarray:
    """The longest iso-line at ``level`` of a 2-D drawing (ink below ``level``): ``(m, 2)`` points
    ``(x, y)`` in pixels, closed loops started at their highest, then leftmost point and run
    clockwise (on the page, rows counted downwards), open lines from their upper end. Raises :class:`UserError` when
    the drawing has no ink."""
    import contourpy

    z = np.asarray(image, dtype=np.float64)
    if z.ndim != 2:
        raise UserError(f"an outline is traced on a 2-D drawing, got shape {z.shape}")
    if not (z < level).any():
        raise UserError("the drawing holds no ink (no value below the level): there is no outline to trace")
    # pad with background so that shapes touching the border still give closed outlines
    z = np.pad(z, 1, constant_values=max(1.0, float(z.max())))
    lines = contourpy.contour_generator(z=z).lines(level)
    line = max(lines, key=_length) - 1.0
    closed = len(line) > 2 and np.allclose(line[0], line[-1])
    if closed:
        line = line[:-1]
        if _signed_area(line) < 0:         # rows grow downwards: a positive area runs clockwise on the page
            line = line[::-1]
        start = np.lexsort((line[:, 0], line[:, 1]))[0]
        line = np.roll(line, -start, axis=0)
        return np.vstack([line, line[:1]])
    return line if line[0, 1] <= line[-1, 1] else line[::-1]


def _length(line: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(line, axis=0), axis=1).sum())


def _signed_area(loop: np.ndarray) -> float:
    x, y = loop[:, 0], loop[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def resample(line: np.ndarray, k: int = LANDMARKS) -> np.ndarray:
    """``k`` points equally spaced along a polyline ``(m, 2)`` by arc length, both ends included."""
    steps = np.linalg.norm(np.diff(line, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(steps)])
    if s[-1] == 0:
        return np.repeat(line[:1], k, axis=0)
    t = np.linspace(0.0, s[-1], k)
    return np.stack([np.interp(t, s, line[:, 0]), np.interp(t, s, line[:, 1])], axis=1)


def landmarks(image, k: int = LANDMARKS, level: float = 0.5) -> np.ndarray:
    """``k`` landmarks ``(k, 2)`` equally spaced along the outline of a drawing (:func:`outline`)."""
    return resample(outline(image, level), k)


def procrustes_rmse(a: np.ndarray, b: np.ndarray) -> float:
    """Root mean square of the coordinates of ``b`` superimposed on ``a`` by Procrustes (translation,
    scale, rotation), ``a`` centred and scaled to unit Frobenius norm: 0 for the same shape."""
    from scipy.spatial import procrustes

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise UserError(f"landmark sets must have one shape (k, d), got {a.shape} and {b.shape}")
    if np.ptp(a, axis=0).max() == 0 or np.ptp(b, axis=0).max() == 0:
        return float("nan")                      # a single point: no shape to compare
    _, _, disparity = procrustes(a, b)
    return float(np.sqrt(disparity / a.size))


def part_rmse(truth, guess, where, k: int = LANDMARKS, level: float = 0.5) -> np.ndarray:
    """Per item, :func:`procrustes_rmse` between the landmarks of the parts of ``truth`` and ``guess``
    (drawings ``(n, 1, H, W)`` or ``(n, H, W)``) where ``where`` is True, the rest made background.
    NaN where either part holds no ink."""
    truth, guess, where = (np.asarray(t, dtype=np.float64) for t in (truth, guess, where))
    truth, guess = truth.reshape(len(truth), *truth.shape[-2:]), guess.reshape(len(guess), *guess.shape[-2:])
    where = where.reshape(len(where), *where.shape[-2:]).astype(bool)
    out = np.full(len(truth), np.nan)
    for i, (t, g, m) in enumerate(zip(truth, guess, where)):
        t, g = np.where(m, t, 1.0), np.where(m, g, 1.0)
        if (t < level).any() and (g < level).any():
            out[i] = procrustes_rmse(landmarks(t, k, level), landmarks(g, k, level))
    return out


def trimmed(values, z: float = 1.0) -> np.ndarray:
    """The finite ``values`` within ``z`` standard deviations of their mean (IberianGAN kept
    ``|z-score| < 1``, about two thirds of the items)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) < 2 or v.std() == 0:
        return v
    return v[np.abs(v - v.mean()) < z * v.std()]
