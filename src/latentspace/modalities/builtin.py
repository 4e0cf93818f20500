"""The built-in modalities: points, images and volumes (spectrograms: :mod:`.spectrogram`).

Where each default was measured is said beside it; the networks and recipes that read these
attributes live with the model families (``latentspace.models``).
"""

from __future__ import annotations

import numpy as np
import torch

from latentspace.modalities.base import Modality, register


class Points(Modality):
    """Vectors of ``d`` features in their own units (2-D toy sets, tabular data): MLPs, scatter plots,
    standardised coordinates as evaluation features, no PCA subspace."""

    name = "points"
    description = "vectors of features in their own units (standardised for the networks)"
    scatter = True
    pca_subspace = False
    reconstructions = 500
    interpolation_rows = 4
    manifold_side = 20
    array_shapes = "(n, d)"

    def array_layout(self, shape, inferring=False):
        return "flat" if len(shape) == 2 else None

    def grid(self, x, info, ncols=None):
        raise NotImplementedError("points are drawn as a scatter plot (latentspace.plots.samples_figure)")


class Image(Modality):
    """Images ``(C, H, W)`` with intensities in [0, 1] (mapped to [-1, 1]): 2-D convs, pixel grids."""

    name = "image"
    description = "images (channels, height, width), intensities in [0, 1]"
    spatial_dims = 2
    natural_range = (0.0, 1.0)
    value_noun = "image intensities"
    integer_levels = True
    array_shapes = "(n, H, W) or (n, C, H, W) with C in 1, 3"

    def array_layout(self, shape, inferring=False):
        if len(shape) == 3:
            return "hw"
        if len(shape) == 4 and shape[1] in (1, 3):
            return "chw"
        if len(shape) == 4 and shape[3] in (1, 3) and not (inferring and shape[1] == shape[2] == shape[3]):
            return "hwc"
        return None


class Volume(Modality):
    """Occupancy grids ``(1, D, H, W)`` in [0, 1]: 3-D convs, shaded renders (see :mod:`.voxels`).

    Transposed convs by default: a 3x3x3 conv at full size dominated a step (a third of the cost,
    measured on the ModelNet10 chairs). The evaluation's autoencoder is width 8, batch 32: at
    width 32 and batch 128 it took over 20 minutes to train on 2 CPU cores, at 8/32 99 s.
    """

    name = "volume"
    description = "occupancy grids (1, depth, height, width) in [0, 1]"
    spatial_dims = 3
    natural_range = (0.0, 1.0)
    conv_upsample = "transposed"
    feature_settings = {"width": 8, "batch_size": 32}
    manifold_side = 8
    value_noun = "volume occupancies"
    default_extra = {"threshold": 0.5}
    array_shapes = "(n, D, H, W) or (n, 1, D, H, W)"

    def array_layout(self, shape, inferring=False):
        if len(shape) == 4 and (not inferring or shape[1] == shape[2] == shape[3]):
            return "dhw"
        if len(shape) == 5 and shape[1] == 1:
            return "cdhw"
        return None

    def display(self, x, info):
        """Volumes ``(..., 1, D, H, W)`` as their oblique shaded renders ``(..., 3, S, S)``."""
        from latentspace.modalities.voxels import render_voxels

        x = torch.as_tensor(x).detach().float().cpu()
        lead = tuple(x.shape[:x.ndim - len(info.shape)])
        pics = render_voxels(x.reshape(-1, *info.shape), views=["oblique"], **_render_options(info))
        return torch.from_numpy(pics).float().div(255).permute(0, 3, 1, 2).reshape(*lead, 3, *pics.shape[1:3])

    def grid(self, x, info, ncols=None) -> np.ndarray:
        """Four views of each volume (oblique, front, side, top), tiled."""
        from latentspace.modalities.voxels import voxel_image

        return voxel_image(x, ncols=ncols, **_render_options(info))


def _render_options(info) -> dict:
    extra = info.extra or {}
    return {"threshold": extra.get("threshold", 0.5), "up": extra.get("up_axis", -1)}


POINTS = register(Points())
IMAGE = register(Image())
VOLUME = register(Volume())
