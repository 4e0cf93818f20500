"""Pictures of data and samples, chosen by modality (grids for images, scatter plots for points,
projections for volumes). Matplotlib is imported lazily and always with the Agg backend."""

from latentspace.plots.samples import image_grid, samples_figure, save_figure, save_samples
from latentspace.plots.latent import interpolation_strip, traversal_grid  # noqa: E402
from latentspace.plots.voxels import render_voxels, voxel_grid, voxel_image  # noqa: E402
from latentspace.plots.encoding import (active_dims, item_interpolation, latent_activity,  # noqa: E402
                                        latent_manifold, latent_picture, latent_projection, latent_traversal,
                                        project_latents, reconstructions)

__all__ = ["image_grid", "samples_figure", "save_figure", "save_samples"]
__all__ += ["interpolation_strip", "traversal_grid", "render_voxels", "voxel_grid", "voxel_image"]
__all__ += ["reconstructions", "latent_manifold", "project_latents", "latent_projection", "latent_activity",
            "active_dims", "item_interpolation", "latent_traversal", "latent_picture"]
