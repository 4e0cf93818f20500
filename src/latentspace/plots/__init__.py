"""Pictures of data and samples, chosen by modality (grids for images, scatter plots for points,
projections for volumes). Matplotlib is imported lazily and always with the Agg backend."""

from latentspace.plots.samples import image_grid, samples_figure, save_samples

__all__ = ["image_grid", "samples_figure", "save_samples"]
