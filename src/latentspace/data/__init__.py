"""Datasets: ``load(name_or_path, **options) -> Dataset``, ``from_array(x, y=None) -> Dataset``.

Built-in names come from a registry (``available()``); anything else is taken as a path:
a folder of images (one sub-folder per class gives labels) or a ``.npy`` / ``.npz`` array.
An array already in memory becomes a Dataset with ``from_array`` (read as a ``.npy`` is).
"""

from __future__ import annotations

from latentspace.data.dataset import MODALITIES, DataInfo, Dataset, make_dataset, seeded_split
from latentspace.data.registry import available, load, register

# Importing the loader modules registers their datasets.
from latentspace.data import toy2d, images, arrays  # noqa: E402,F401
from latentspace.data import pottery, pottery_synthetic  # noqa: E402,F401
from latentspace.data import birdsong, birdsong_synthetic  # noqa: E402,F401
from latentspace.data import volume_files, volumes_synthetic  # noqa: E402,F401
from latentspace.data.arrays import from_array  # noqa: E402

__all__ = ["MODALITIES", "DataInfo", "Dataset", "available", "from_array", "load", "make_dataset", "register",
           "seeded_split"]
