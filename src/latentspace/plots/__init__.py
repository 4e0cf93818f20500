"""Pictures of data, samples, training and latent spaces, drawn as each modality says (``info.spec``):
grids of pictures (images, volumes as shaded renders, colour-mapped spectrograms) or scatter plots
of points. Matplotlib is imported lazily, with the Agg backend unless one was chosen (Jupyter's inline one).

- :mod:`.samples`: sample grids and figures, and writing them (:func:`save_samples`, :func:`save_figure`);
- :mod:`.curves`: training curves from ``metrics.csv``;
- :mod:`.neighbours`: generated items beside their nearest training items;
- :mod:`.voxels`: volumes rendered from several views, as a figure;
- :mod:`.vessels`: vessel half-profiles as drawn, as sections and revolved in 3-D;
- :mod:`.latent`: decoded paths through a latent space (interpolation strips, traversal grids);
- :mod:`.reconstruction`, :mod:`.projection`, :mod:`.walks`: pictures of models that encode,
  drawn by name with :func:`latent_picture` (:mod:`.encoding`).
"""

from latentspace.plots.samples import (FIGURE_FORMATS, image_grid, item_grid, samples_figure, save_figure,
                                       save_samples)
from latentspace.plots.curves import read_metrics, training_curves
from latentspace.plots.neighbours import nearest_neighbour_gallery, nearest_training_items
from latentspace.plots.voxels import render_voxels, voxel_grid, voxel_image
from latentspace.plots.vessels import profile_grid, render_vessels, revolved_grid, section_grid, vessel_figure
from latentspace.plots.latent import interpolation_paths, interpolation_strip, traversal_grid
from latentspace.plots.reconstruction import latent_manifold, manifold_codes, reconstruct, reconstructions
from latentspace.plots.projection import latent_projection, project_latents
from latentspace.plots.walks import active_dims, item_interpolation, latent_activity, latent_traversal
from latentspace.plots.encoding import NEEDS_ITEMS, check_picture, latent_picture

__all__ = ["FIGURE_FORMATS", "image_grid", "item_grid", "samples_figure", "save_figure", "save_samples",
           "read_metrics", "training_curves", "nearest_neighbour_gallery", "nearest_training_items",
           "render_voxels", "voxel_grid", "voxel_image",
           "profile_grid", "section_grid", "revolved_grid", "vessel_figure", "render_vessels",
           "interpolation_paths", "interpolation_strip", "traversal_grid",
           "reconstruct", "reconstructions", "manifold_codes", "latent_manifold", "project_latents",
           "latent_projection", "latent_activity", "active_dims", "item_interpolation", "latent_traversal",
           "NEEDS_ITEMS", "check_picture", "latent_picture"]
