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
    #: the domain classifier trains with random scale and shift: on the Iberian collection (64 px,
    #: 600 steps) held-out accuracy 0.836 without, 0.929 with (docs/archaeology.md)
    feature_settings = {"augment": "jitter"}

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

    fragments = ("rim", "base")

    def fragment_mask(self, x, keep: str, cut: float = 0.5) -> torch.Tensor:
        """The part of each profile a sherd keeps, as a boolean mask of ``x``'s shape (True: kept).

        ``keep="rim"``: the rows above the cut, a fraction ``cut`` of the way down the profile's
        height (from its highest to its lowest ink), with the background above; ``"base"``: the rows
        from the cut down. So ``rim`` leaves the base missing, as the fragments of Navarro et al.
        (2022) were cut. Ink is any value below 0.5.
        """
        if keep not in self.fragments:
            raise UserError(f"a profile fragment is one of {', '.join(self.fragments)}, got {keep!r}")
        if not 0.0 < float(cut) < 1.0:
            raise UserError(f"cut must lie between 0 and 1 (a fraction of the profile's height), got {cut!r}")
        x = torch.as_tensor(x).detach().float().cpu()
        rows = (x < 0.5).any(-1).any(-2)                       # (..., H): rows holding ink
        h = rows.shape[-1]
        index = torch.arange(h)
        top = torch.where(rows, index, h).min(-1).values
        bottom = torch.where(rows, index, -1).max(-1).values
        if bool((bottom < 0).any()):
            raise UserError("an item holds no ink (no value below 0.5): it is not a profile to cut")
        at = top + torch.ceil(float(cut) * (bottom - top + 1)).long()        # first row of the base part
        above = index < at[..., None]
        kept = above if keep == "rim" else ~above
        return kept[..., None, :, None].expand(x.shape).clone()

    def extra_views(self, x, info) -> dict:
        """The first :attr:`view_items` items as half-profiles and as revolved vessels (uint8 pictures)."""
        x = torch.as_tensor(x).detach().float().cpu()[:self.view_items]
        ncols = min(8, len(x))
        return {f"half-profiles (first {len(x)})": tile(half_profiles(x), ncols),
                f"revolved in 3-D (first {len(x)})": vessel_image(x, ncols=ncols)}


PROFILE = register(Profile())
