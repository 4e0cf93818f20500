"""The ``profile`` modality: vessel half-profiles, drawn as archaeologists draw vessels.

An item is a half-profile ``(1, H, W)`` of a wheel-made vessel: intensities in [0, 1], the wall
black (0) on white (1), the rotation axis along the left edge and the rim at the top (what the
``pottery`` and ``pottery-synthetic`` loaders make). The networks see it as a gray image; every
picture shows it as the vessel's full section (:func:`~latentspace.modalities.vessels.sections`),
and a report adds the half-profiles and the revolved 3-D vessels (:meth:`Profile.extra_views`).

Examples
--------
>>> import torch
>>> from latentspace.data.arrays import image_info
>>> info = image_info("cups", (1, 16, 16), modality="profile")
>>> x = torch.ones(4, 1, 16, 16); x[:, :, 12:14, :10] = 0; x[:, :, 2:14, 8:10] = 0
>>> info.spec.grid(x, info, ncols=2).shape, list(info.spec.extra_views(x, info))
((35, 69, 1), ['half-profiles (first 4)', 'revolved in 3-D (first 4)'])
"""

from __future__ import annotations

import torch

from latentspace.errors import UserError
from latentspace.modalities.base import register, tile
from latentspace.modalities.builtin import Image
from latentspace.modalities.vessels import half_profiles, sections, vessel_image


class Profile(Image):
    """Vessel half-profiles ``(1, H, W)``, intensities in [0, 1] (black wall on white), the rotation axis
    on the left edge and the rim at the top: 2-D convs like images, drawn as sections and vessels."""

    name = "profile"
    description = "vessel half-profiles (1, height, width): black wall on white, axis on the left, rim at the top"
    value_noun = "profile intensities"
    array_shapes = "(n, H, W) or (n, 1, H, W)"
    #: side of the axis the filled section is drawn on (the Iberian collection draws it on the left)
    section_side = "left"
    #: items drawn in each extra view of a report (16 vessels of 64 pixels render in 0.1-0.3 s)
    view_items = 16

    def check_shape(self, shape: tuple) -> None:
        super().check_shape(shape)
        if shape[0] != 1:
            raise UserError(f"profile items have one channel (1, H, W), got {tuple(shape)}")

    def array_layout(self, shape, inferring=False):
        if inferring:   # a gray array is an image unless the user says it holds profiles
            return None
        return "hw" if len(shape) == 3 else "chw" if len(shape) == 4 and shape[1] == 1 else None

    def display(self, x, info) -> torch.Tensor:
        """Profiles ``(..., 1, H, W)`` as full sections ``(..., 1, H, 2W + 1)`` in [0, 1]."""
        x = torch.as_tensor(x).detach().float().cpu()
        lead = tuple(x.shape[:x.ndim - 3])
        pics = sections(x.reshape(-1, *x.shape[-3:]), side=self.section_side)
        return pics.reshape(*lead, *pics.shape[1:])

    def extra_views(self, x, info) -> dict:
        """The first :attr:`view_items` items as half-profiles and as revolved vessels (uint8 pictures)."""
        x = torch.as_tensor(x).detach().float().cpu()[:self.view_items]
        ncols = min(8, len(x))
        return {f"half-profiles (first {len(x)})": tile(half_profiles(x), ncols),
                f"revolved in 3-D (first {len(x)})": vessel_image(x, ncols=ncols)}


PROFILE = register(Profile())
