"""The embedded volume datasets: ``shapes-3d`` (occupancy, 4 classes) and ``ct-synthetic`` (CT-like scans with and
without lung nodules), and the 3-D VAE and GAN training on scans unchanged."""

from __future__ import annotations


import numpy as np
import pytest
import torch

import latentspace as ls
from latentspace.data.volume_files import apply_window
from latentspace.data.volumes_synthetic import SHAPES, make_ct, make_shapes
from latentspace.errors import UserError


def test_shapes_3d_defaults_are_balanced_and_deterministic():
    data = ls.data.load("shapes-3d")
    assert (data.modality, data.shape, data.classes) == ("volume", (1, 32, 32, 32), list(SHAPES))
    assert (len(data), len(data.test)) == (800, 200)
    assert torch.bincount(data.y).tolist() == [200] * 4
    again = ls.data.load("shapes-3d", n=8, n_test=4, seed=3)
    assert torch.equal(again.x, ls.data.load("shapes-3d", n=8, n_test=4, seed=3).x)
    assert not torch.equal(again.x, ls.data.load("shapes-3d", n=8, n_test=4, seed=4).x)
    assert set(data.to_data().unique().tolist()) == {0.0, 1.0}


def test_shapes_3d_classes_have_their_geometry():
    x, y = make_shapes(80, 32, seed=1)
    grid = np.stack(np.meshgrid(*[np.arange(32)] * 3, indexing="ij"), -1)
    for v, kind in zip(x, y):
        centroid = tuple(np.round(grid[v].mean(0)).astype(int))
        # a torus has its hole at its centre of mass; the convex shapes are solid there
        assert v[centroid] == (SHAPES[kind] != "torus"), SHAPES[kind]
    spheres = x[y == 0].sum((1, 2, 3))
    radius = (3 * spheres / (4 * np.pi)) ** (1 / 3) / 16          # in units of half the grid
    assert 0.33 < radius.min() and radius.max() < 0.77             # drawn from 0.35-0.75


def test_ct_synthetic_is_in_hounsfield_units_under_each_window():
    hu, y, lesions = make_ct(12, 32, seed=0, masks=True)
    assert abs(float(np.median(hu[:, :2, :2])) + 1000) < 5          # air in the corners
    spine = hu[:, 15:17, 7:12].max((1, 2, 3))                         # posterior, on the midline
    assert np.median(spine) > 650
    assert all(m.any() == bool(k) for m, k in zip(lesions, y))       # nodules exactly in the lesion class
    assert 0 <= np.median(hu[lesions]) <= 80
    data = ls.data.load("ct-synthetic", n=12, n_test=4, window="bone")
    assert data.info.extra["window"] == [400.0, 1800.0] and data.info.extra["units"] == "HU"
    hu16, _ = make_ct(16, 32, seed=0)                                 # the 12 training items, then 4 held out
    assert torch.allclose(data.to_data()[:, 0], torch.from_numpy(apply_window(hu16[:12], 400, 1800)), atol=1e-5)
    assert data.classes == ["no lesion", "lesion"] and data.modality == "scan"


def test_ct_synthetic_defaults_and_bad_options_refused():
    data = ls.data.load("ct-synthetic")
    assert (len(data), len(data.test), data.info.extra["window"]) == (400, 100, [-600.0, 1500.0])
    with pytest.raises(UserError, match="option window"):
        ls.data.load("ct-synthetic", window="brain")
    with pytest.raises(UserError, match="option n must be at least 1"):
        ls.data.load("shapes-3d", n=0)


@pytest.mark.parametrize("family", ["vae", "gan"])
def test_3d_vae_and_gan_train_on_scans_and_draw_them_as_slices(family):
    data = ls.data.load("ct-synthetic", n=16, n_test=4, size=16)
    model = ls.models.create(family, **({"width": 8} if family == "gan" else {}))
    model.fit(data, steps=2, batch_size=4, progress=False)
    samples = model.sample(4, seed=0)
    assert samples.shape == (4, 1, 16, 16, 16) and 0 <= float(samples.min()) and float(samples.max()) <= 1
    picture = data.info.spec.grid(samples, data.info)
    assert picture.shape == (2 * 17 + 1, 2 * (3 * 16 + 2 + 1) + 1, 1)   # 2 x 2 items, three slices each


@pytest.mark.parametrize("title", [None, "four shapes"])
def test_voxel_grid_item_labels_stay_inside_the_figure(title):
    import matplotlib.pyplot as plt

    from latentspace.plots import voxel_grid

    fig = voxel_grid(ls.data.load("shapes-3d", n=40).to_data()[:4], n=4, ncols=2, title=title,
                     labels=["a", "b", "c", "d"])
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    tops = [ax.title.get_window_extent(renderer).y1 for ax in fig.axes if ax.get_title()]
    assert len(tops) == 4 and max(tops) <= fig.bbox.y1
    plt.close(fig)
