"""The modality registry: what each built-in modality knows, and that pictures follow it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import latentspace as ls
from latentspace import modalities
from latentspace.data.arrays import modality_info, standardised_dataset
from latentspace.data.dataset import DataInfo
from latentspace.errors import UserError


def test_registry_holds_the_built_ins_and_refuses_unknown_names():
    assert modalities.names()[:4] == ("points", "image", "volume", "spectrogram")
    assert modalities.get("image") is modalities.get(modalities.get("image"))
    with pytest.raises(UserError, match="unknown modality 'voxel'; use one of points, image"):
        modalities.get("voxel")
    with pytest.raises(UserError, match="unknown modality"):
        DataInfo(name="x", modality="voxel", shape=(1, 4, 4))


def test_item_shapes_are_checked_against_the_spatial_dimensions():
    with pytest.raises(UserError, match=r"image items have shape \(channels, 2 spatial sizes\), got \(8, 8\)"):
        DataInfo(name="x", modality="image", shape=(8, 8))
    DataInfo(name="x", modality="points", shape=(5,))


def test_the_map_to_model_space_is_the_modalitys():
    img = modality_info("a", "image", (1, 4, 4))
    assert (img.shift, img.scale, img.clip) == (0.5, 0.5, (0.0, 1.0))
    x = np.array([[1.0, 10.0], [3.0, 10.0]])
    pts = modality_info("p", "points", (2,), x)
    assert pts.shift == [2.0, 10.0] and pts.scale == [1.0, 1.0]   # a constant feature keeps scale 1
    spec = modality_info("s", "spectrogram", (1, 2, 2), np.array([[[[-80.0, -40.0], [-60.0, -20.0]]]]))
    assert spec.shift == -50.0 and spec.scale == pytest.approx(np.std([-80, -40, -60, -20]))  # one scale for all


def test_images_are_drawn_as_before_pixel_for_pixel():
    data = ls.data.load("digits")
    x = data.to_data()[:5]
    grid = data.info.spec.grid(x, data.info, ncols=5)
    assert grid.shape == (10, 46, 1) and grid.dtype == np.uint8
    assert np.array_equal(grid[1:9, 1:9, 0], (x[0, 0].numpy() * 255).round().astype(np.uint8))


def test_spectrograms_use_their_own_db_range_and_a_colour_map():
    info = DataInfo(name="s", modality="spectrogram", shape=(1, 4, 6), extra={"display_range": [-80.0, 0.0]})
    x = torch.linspace(-80, 0, 24).reshape(1, 1, 4, 6)
    pics = info.spec.display(x, info)
    assert pics.shape == (1, 3, 4, 6)                          # colour-mapped: RGB
    assert not torch.allclose(pics[..., 0, :], pics[..., -1, :])   # not saturated: rows differ
    # low frequencies (row 0 of the item) are drawn at the bottom
    from matplotlib import colormaps

    assert torch.allclose(pics[0, :, -1, 0], torch.tensor(colormaps["magma"](0.0)[:3], dtype=torch.float32))


def test_array_layouts_are_inferred_by_the_modalities(tmp_path):
    assert modalities.get("image").array_layout((10, 3, 8, 8), inferring=True) == "chw"
    assert modalities.get("volume").array_layout((10, 8, 8, 8), inferring=True) == "dhw"
    assert modalities.get("image").array_layout((10, 8, 8, 8), inferring=True) is None
    assert modalities.get("spectrogram").array_layout((10, 64, 32), inferring=True) is None
    path = tmp_path / "specs.npy"
    np.save(path, np.random.default_rng(0).normal(-40, 10, (20, 16, 8)).astype(np.float32))
    data = ls.data.load(str(path), modality="spectrogram")
    assert data.modality == "spectrogram" and data.shape == (1, 16, 8) and data.info.clip is None
    assert abs(float(data.x.mean())) < 0.5                     # standardised on the training split


def test_standardised_dataset_splits_before_it_standardises():
    x = np.arange(100.0)[:, None] * np.ones((1, 3))
    data = standardised_dataset("ramp", "points", x, seed=0)
    train = data.to_data().numpy()
    assert np.allclose(data.info.shift, train.mean(0)) and len(data.test) == 20
