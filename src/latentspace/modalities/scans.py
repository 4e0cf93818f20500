"""Intensity volumes (CT, MRI): the ``scan`` modality, drawn as axial, coronal and sagittal slices.

A scan is ``(1, X, Y, Z)`` with values in [0, 1] (a CT window, or the data's intensity range; see
:mod:`latentspace.data.volume_files`) indexed ``[x, y, z]`` in RAS+ order: ``x`` towards the patient's
right, ``y`` anterior, ``z`` superior. It derives from the occupancy ``volume`` modality, so the 3-D
networks, recipes and evaluation features measured on volumes apply unchanged; only its pictures
differ. Each item is drawn as its three middle slices side by side, grey, in the radiological
convention: axial (seen from the feet: the patient's right on the left, anterior at the top),
coronal (seen from the front: right on the left, superior at the top) and sagittal (seen from the
patient's left: anterior on the left, superior at the top).
"""

from __future__ import annotations

import torch

from latentspace.modalities.base import register, tile
from latentspace.modalities.builtin import Volume

#: the views, each as (axis held at its middle, the array axis drawn down the rows, across the columns);
#: both drawn axes are flipped (rows: anterior or superior at the top; columns: right or anterior on the left)
VIEWS = (("axial", 2, 1, 0), ("coronal", 1, 2, 0), ("sagittal", 0, 2, 1))


def slices(x: torch.Tensor, gap: int = 1) -> torch.Tensor:
    """Volumes ``(n, X, Y, Z)`` as their axial, coronal and sagittal middle slices in a row ``(n, S, 3 S + 2 gap)``
    on white, each slice centred in an ``S x S`` square (``S`` the largest side).

    Examples
    --------
    >>> slices(torch.zeros(2, 8, 8, 4)).shape
    torch.Size([2, 8, 26])
    """
    n = x.shape[0]
    side = max(x.shape[1:])
    out = torch.ones(n, side, 3 * side + 2 * gap)
    for k, (_, held, rows, cols) in enumerate(VIEWS):
        pic = x.select(held + 1, x.shape[held + 1] // 2)              # (n, two remaining axes in order)
        remaining = [a for a in range(3) if a != held]
        pic = pic.permute(0, 1 + remaining.index(rows), 1 + remaining.index(cols)).flip(1, 2)
        h, w = pic.shape[1:]
        top, left = (side - h) // 2, k * (side + gap) + (side - w) // 2
        out[:, top:top + h, left:left + w] = pic
    return out


class Scan(Volume):
    """Intensity volumes ``(1, X, Y, Z)`` in [0, 1] (CT in a window, MRI): 3-D convs as for occupancy volumes,
    drawn as three orthogonal grey slices through the middle (see the module docstring)."""

    name = "scan"
    description = "intensity volumes (1, x, y, z) in [0, 1], e.g. windowed CT: drawn as axial, coronal, sagittal slices"
    value_noun = "scan intensities"
    default_extra: dict = {}
    array_shapes = "(n, X, Y, Z) or (n, 1, X, Y, Z) (give modality='scan')"
    grid_items = 16

    def array_layout(self, shape, inferring=False):
        return None if inferring else super().array_layout(shape)   # an unnamed 4-D array is an occupancy grid

    def display(self, x, info):
        """Scans ``(..., 1, X, Y, Z)`` as their three middle slices ``(..., 1, S, 3 S + 2)``, values in [0, 1]."""
        x = torch.as_tensor(x).detach().float().cpu()
        lead = tuple(x.shape[:x.ndim - len(info.shape)])
        lo, hi = self.display_range(info, x)
        pics = slices(((x.reshape(-1, *info.shape[1:]) - lo) / (hi - lo)).clamp(0, 1))
        return pics.reshape(*lead, 1, *pics.shape[1:])

    def grid(self, x, info, ncols=None):
        """The slices of each scan, tiled (one row of three slices per item, ``ncols`` items per row)."""
        pics = self.display(x, info)
        return tile(pics, ncols or (1 if len(pics) < 4 else 2 if len(pics) <= 16 else 4))


SCAN = register(Scan())
