"""Latent-space operations (interpolation, truncation, traversal, inversion, completion) and voxel renders."""

import math
import time

import numpy as np
import pytest
import torch
from torch import nn

import latentspace as ls
from latentspace.data.arrays import points_dataset
from latentspace.data.dataset import DataInfo
from latentspace.errors import UserError
from latentspace.latent import (complete, interpolate, invert, lerp, sample_truncated, slerp, traverse,
                                truncated_noise)
from latentspace.plots.voxels import render_voxels, voxel_grid, voxel_image

from conftest import shared

TOY = DataInfo(name="toy", modality="points", shape=(6,))  # data space = model space


@pytest.fixture(scope="module")
def linear_gan():
    """A GAN whose generator is a fixed linear map R^3 -> R^6 (no EMA copy)."""
    gan = ls.models.create("gan", latent_dim=3, hidden=8, layers=1, ema_decay=0).build(TOY)
    g = torch.Generator().manual_seed(0)
    lin = nn.Linear(3, 6)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(6, 3, generator=g))
        lin.bias.copy_(torch.randn(6, generator=g) * 0.1)
    gan.nets_["G"] = lin
    return gan


@pytest.fixture(scope="module")
def lowrank_ppca():
    """PPCA fitted on 10-D data from a known rank-3 linear-Gaussian model."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((10, 3)) * np.linspace(3, 1, 3)
    x = rng.standard_normal((800, 3)) @ w.T + 2.0 + 0.01 * rng.standard_normal((800, 10))
    data = points_dataset("lowrank", x)
    return ls.models.create("ppca", n_components=3).fit(data), data


def test_lerp_and_slerp_are_shared_with_the_plots():
    from latentspace.plots import latent as plots_latent

    assert plots_latent.lerp is lerp and plots_latent.slerp is slerp


def test_interpolate_between_codes_decodes_the_path(linear_gan):
    za, zb = torch.randn(3), torch.randn(3)
    x = interpolate(linear_gan, za, zb, steps=5, method="linear")
    assert x.shape == (5, 6)
    assert torch.allclose(x, linear_gan.decode(lerp(za, zb, 5)), atol=1e-6)
    x = interpolate(linear_gan, torch.stack([za, zb]), torch.stack([zb, za]), steps=4)  # slerp, batched
    assert x.shape == (2, 4, 6) and torch.allclose(x[0], linear_gan.decode(slerp(za, zb, 4)), atol=1e-6)
    with pytest.raises(UserError, match="cannot encode items"):
        interpolate(linear_gan, torch.zeros(6), torch.ones(6), inputs="items")
    with pytest.raises(UserError, match="method"):
        interpolate(linear_gan, za, zb, method="cubic")


def test_interpolate_between_items_encodes_them_first(lowrank_ppca):
    ppca, data = lowrank_ppca
    a, b = data.test.to_data()[:2]
    x = interpolate(ppca, a, b, steps=6, method="linear")
    ends = ppca.decode(ppca.encode(torch.stack([a, b])))
    assert x.shape == (6, 10) and torch.allclose(x[[0, -1]], ends, atol=1e-4)
    assert torch.allclose(x[1] - x[0], (ends[1] - ends[0]) / 5, atol=1e-4)  # even steps along a line


def test_truncated_noise_is_a_seeded_truncated_normal(linear_gan):
    z = truncated_noise(20000, 4, threshold=1.0, seed=3)
    assert z.shape == (20000, 4) and z.dtype == torch.float32 and z.abs().max() <= 1.0
    assert torch.equal(z, truncated_noise(20000, 4, threshold=1.0, seed=3))
    phi = math.exp(-0.5) / math.sqrt(2 * math.pi)
    std = math.sqrt(1 - 2 * phi / math.erf(1 / math.sqrt(2)))  # std of N(0, 1) truncated to [-1, 1]
    assert abs(float(z.std()) - std) < 0.01 and abs(float(z.mean())) < 0.01
    assert torch.equal(truncated_noise(5, 3, None, seed=1), linear_gan._noise(5, 1, 3))
    assert torch.allclose(truncated_noise(5, 3, 2.0, seed=1, psi=0.5), 0.5 * truncated_noise(5, 3, 2.0, seed=1))
    x = sample_truncated(linear_gan, 7, threshold=0.5, seed=2)
    assert torch.allclose(x, linear_gan.decode(truncated_noise(7, 3, 0.5, seed=2)))
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(UserError, match="threshold must be a positive number"):
            truncated_noise(3, 2, bad)


def test_traverse_varies_one_dimension_per_row(linear_gan):
    z0 = torch.tensor([0.5, -1.0, 0.2])
    grid = traverse(linear_gan, z0, dims=[2, 0], span=2.0, steps=5)
    assert grid.shape == (2, 5, 6)
    assert torch.allclose(grid[:, 2], linear_gan.decode(z0[None]).expand(2, 6), atol=1e-6)  # z0 in the middle
    w = linear_gan.nets_["G"].weight.detach()
    for row, k in enumerate([2, 0]):
        for col, offset in enumerate(torch.linspace(-2, 2, 5)):
            assert torch.allclose(grid[row, col] - grid[row, 2], offset * w[:, k], atol=1e-5)
    assert traverse(linear_gan, steps=3).shape == (3, 3, 6)  # all 3 dims around the prior's mean
    with pytest.raises(UserError, match=r"dims must be latent dimensions in 0\.\.2"):
        traverse(linear_gan, dims=[3])


def test_inversion_recovers_the_code_of_a_linear_generator(linear_gan):
    z_true = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
    x = linear_gan.decode(z_true)
    z, x_hat = invert(linear_gan, x, restarts=2, prior_weight=0.0)
    assert z.shape == (8, 3) and x_hat.shape == (8, 6)
    assert (x_hat - x).abs().max() < 2e-3 and (z - z_true).abs().max() < 2e-3
    # with the prior, the optimum is the ridge solution, which Adam reaches too
    lam = 0.5
    w, b = linear_gan.nets_["G"].weight.detach().double(), linear_gan.nets_["G"].bias.detach().double()
    ridge = torch.linalg.solve(w.T @ w + lam * torch.eye(3, dtype=torch.float64), w.T @ (x.double() - b).T).T
    z, _ = invert(linear_gan, x, restarts=1, prior_weight=lam)
    assert (z.double() - ridge).abs().max() < 1e-3


def test_masked_inversion_only_reads_the_visible_features(linear_gan):
    z_true = torch.randn(4, 3, generator=torch.Generator().manual_seed(2))
    x = linear_gan.decode(z_true)
    mask = torch.tensor([False, True, True, True, True, False])  # the visible rows keep rank 3 (sv >= 1.2)
    z, x_hat = invert(linear_gan, x, mask, restarts=2, prior_weight=0.0)
    assert (x_hat - x).abs().max() < 2e-3  # hidden features recovered too
    changed = x.clone()
    changed[:, ~mask] = torch.tensor([100.0, float("nan")])
    z2, _ = invert(linear_gan, changed, mask, restarts=2, prior_weight=0.0)
    assert torch.equal(z, z2)
    filled = complete(linear_gan, changed, mask, restarts=2, prior_weight=0.0)
    assert torch.equal(filled[:, mask], x[:, mask]) and torch.allclose(filled, x, atol=2e-3)
    nan_marked = x.clone()
    nan_marked[:, ~mask] = float("nan")  # without a mask, NaN marks the hidden features
    assert torch.equal(invert(linear_gan, nan_marked, restarts=2, prior_weight=0.0)[0], z)


def test_ppca_inversion_is_exact_and_completes_hidden_features(lowrank_ppca):
    ppca, data = lowrank_ppca
    x = data.test.to_data()[:20]
    z, x_hat = invert(ppca, x, prior_weight=ppca.noise_variance_)
    assert torch.allclose(z, ppca.encode(x), atol=1e-4)  # the posterior mean
    spread = float(x.std(0).mean())
    assert float((x_hat - x).abs().mean()) < 0.05 * spread
    mask = torch.zeros(10, dtype=torch.bool)
    mask[:5] = True
    filled = complete(ppca, x, mask, prior_weight=ppca.noise_variance_)  # the exact conditional mean
    assert float((filled[:, 5:] - x[:, 5:]).abs().mean()) < 0.05 * spread
    single_z, single_x = invert(ppca, x[0], mask)
    assert single_z.shape == (3,) and single_x.shape == (10,)


def test_inversion_through_a_vae_decoder_is_seeded():
    vae = ls.models.create("vae", latent_dim=2, hidden=16, layers=1).build(TOY)  # an untrained decoder
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(0))
    a = invert(vae, x, steps=20, restarts=2, seed=7)
    b = invert(vae, x, steps=20, restarts=2, seed=7, batch_size=2)
    c = invert(vae, x, steps=20, restarts=2, seed=8)
    assert torch.equal(a[0], invert(vae, x, steps=20, restarts=2, seed=7)[0])
    assert torch.allclose(a[0], b[0], atol=1e-5)  # batching does not change the result
    assert not torch.equal(a[0], c[0])
    start = ((vae.decode(torch.zeros(5, 2)) - x) ** 2).sum()
    assert ((a[1] - x) ** 2).sum() < start


def test_bad_input_is_a_clear_error(linear_gan, lowrank_ppca):
    x = linear_gan.decode(torch.zeros(2, 3))
    with pytest.raises(UserError, match=r"mask has shape \(5,\)"):
        invert(linear_gan, x, torch.ones(5, dtype=torch.bool))
    with pytest.raises(UserError, match="hides every feature of item 0"):
        invert(linear_gan, x, torch.zeros(6, dtype=torch.bool))
    with pytest.raises(UserError, match="booleans or 0/1"):
        invert(linear_gan, x, torch.full((6,), 0.5))
    with pytest.raises(UserError, match="fitted on"):
        invert(linear_gan, torch.zeros(2, 5))
    with pytest.raises(UserError, match="steps must be an integer"):
        invert(linear_gan, x, steps=0)
    with pytest.raises(UserError, match="prior_weight"):
        invert(linear_gan, x, prior_weight=-1.0)
    ppca, data = lowrank_ppca
    kde = ls.models.create("kde").fit(data)
    for call in (lambda m: invert(m, data.test.to_data()[:2]), lambda m: traverse(m),
                 lambda m: sample_truncated(m, 2), lambda m: interpolate(m, torch.zeros(3), torch.ones(3))):
        with pytest.raises(UserError, match="'kde' has no latent space"):
            call(kde)
    with pytest.raises(UserError, match="not fitted"):
        invert(ls.models.create("vae"), x)
    vae = ls.models.create("vae", latent_dim=6, hidden=8, layers=1).build(TOY)  # codes and items both (6,)
    with pytest.raises(UserError, match="could be latent codes or items; pass inputs='codes'"):
        interpolate(vae, torch.zeros(6), torch.ones(6))
    assert interpolate(vae, torch.zeros(6), torch.ones(6), steps=3, inputs="codes").shape == (3, 6)


# -- plots -----------------------------------------------------------------------------------------------
def test_traversal_grid_draws_images_and_points(linear_gan):
    from latentspace.plots import traversal_grid

    ppca = ls.models.create("ppca", n_components=4).fit(ls.data.load("digits"))
    fig = traversal_grid(traverse(ppca, dims=[0, 1], steps=5), ppca.info_, dims=[0, 1], span=3.0)
    assert len(fig.axes) == 10 and fig.axes[0].get_ylabel() == "z[0]" and fig.axes[4].get_title() == "+3.0"
    assert traversal_grid(traverse(linear_gan, steps=4), linear_gan.info_).axes
    with pytest.raises(UserError, match="one per row"):
        traversal_grid(traverse(ppca, dims=[0, 1]), ppca.info_, dims=[0])
    vox = DataInfo(name="vox", modality="volume", shape=(1, 8, 8, 8), shift=0.5, scale=0.5, clip=(0.0, 1.0))
    assert len(traversal_grid(torch.rand(2, 3, 1, 8, 8, 8), vox, span=1.0).axes) == 6  # volumes: oblique renders


def _cube(n=16, lo=4, hi=12):
    v = torch.zeros(1, n, n, n)
    v[:, lo:hi, lo:hi, lo:hi] = 1
    return v


def test_render_voxels_draws_surfaces_on_white():
    pics = render_voxels(torch.cat([_cube(), torch.zeros(1, 16, 16, 16)]))
    assert pics.shape == (2, 66, 66, 3) and pics.dtype == np.uint8  # 2 x 2 views of 32 px, 2 px apart
    assert (pics[1] == 255).all()  # empty volume: background only
    front = pics[0, :32, 34:]  # the front view of a centred cube: a square in the middle
    assert (front[16, 16] < 255).any() and (front[2, 2] == 255).all()
    assert render_voxels(_cube()[0], views=[(10, 20)], size=20).shape == (1, 20, 20, 3)
    tall = torch.zeros(1, 16, 16, 16)
    tall[:, 7:9, 7:9, :] = 1  # a pole along the last axis: upright by default, lying with up=0
    upright = render_voxels(tall, views=["front"])[0]
    lying = render_voxels(tall, views=["front"], up=0)[0]
    assert (upright[:, 16] < 255).all(-1).sum() > 20 and (lying[:, 16] < 255).all(-1).sum() < 8
    with pytest.raises(UserError, match="unknown view"):
        render_voxels(_cube(), views=["back"])
    with pytest.raises(UserError, match="volumes must have shape"):
        render_voxels(torch.zeros(2, 8))


def test_voxel_render_is_fast_enough():
    v = torch.rand(16, 32, 32, 32) > 0.8
    t0 = time.perf_counter()
    render_voxels(v)
    assert time.perf_counter() - t0 < 15  # ~1.5 s on one CPU thread


def test_volume_samples_are_saved_as_voxel_renders(tmp_path):
    from PIL import Image

    info = DataInfo(name="vox", modality="volume", shape=(1, 16, 16, 16), shift=0.5, scale=0.5, clip=(0.0, 1.0),
                    extra={"threshold": 0.5})
    x = torch.cat([_cube(), _cube(lo=2, hi=8)])[:, None]
    path = ls.plots.save_samples(x, info, tmp_path / "vox.png")
    img = np.asarray(Image.open(path))
    assert img.ndim == 3 and img.shape[-1] == 3 and (img != 255).any()
    assert voxel_image(x, views=["oblique"]).shape == (36 + 4, 2 * 36 + 4, 3)  # one row of two


def test_voxel_grid_of_real_chairs(tmp_path):
    data = ls.data.load(shared("voxels/modelnet10_vox32_chair_monitor_train.npz"))
    chairs = data.to_data()[data.y == 0][:16]
    fig = voxel_grid(chairs, 16, title="chairs", labels=["chair"] * 16)
    fig.savefig(tmp_path / "chairs.png")
    assert len([ax for ax in fig.axes if ax.images]) == 16
    pics = render_voxels(chairs, views=["front"])
    drawn = (pics < 255).any(-1).mean()
    assert 0.05 < drawn < 0.6  # chairs fill part of the frame, not none and not all


# -- conditional models: codes are decoded (and a cvae's items encoded) given a class ------------------------
@pytest.fixture(scope="module")
def conditional_models():
    """An untrained cvae (MLPs, 3-d codes) and cgan (3-d codes) for digits: decoders that depend on the class."""
    digits = ls.data.load("digits")
    torch.manual_seed(0)
    cvae = ls.models.create("cvae", latent_dim=3, hidden=16, layers=1, arch="mlp").build(digits.info)
    cgan = ls.models.create("cgan", latent_dim=3, width=8, ema_decay=0).build(digits.info)
    return cvae, cgan, digits


def test_class_labels_are_indices_or_names(conditional_models):
    from latentspace.latent import class_index

    cvae, cgan, _ = conditional_models
    assert [class_index(cgan, v) for v in (None, 4, "4", np.int64(9), torch.tensor(2))] == [0, 4, 4, 9, 2]
    for bad in (10, -1, "four", True, 2.5):
        with pytest.raises(UserError, match="is not a class of cgan: give an index in 0..9 or a class name"):
            class_index(cgan, bad)
    with pytest.raises(UserError, match="'ppca' is unconditional and takes no class label"):
        class_index(ls.models.create("ppca"), 0)


def test_conditional_interpolation_decodes_each_path_as_its_class(conditional_models):
    cvae, cgan, digits = conditional_models
    z0, z1 = torch.randn(2, 3), torch.randn(2, 3)
    path = interpolate(cgan, z0[0], z1[0], steps=4, method="linear")  # codes: the first class by default
    assert torch.allclose(path, cgan.decode(lerp(z0[0], z1[0], 4), labels=0), atol=1e-6)
    paths = interpolate(cgan, z0, z1, steps=4, method="linear", labels=["4", 7])  # one class per path
    assert torch.allclose(paths[1], cgan.decode(lerp(z0[1], z1[1], 4), labels=7), atol=1e-6)
    assert not torch.allclose(paths[1], cgan.decode(lerp(z0[1], z1[1], 4), labels=4), atol=1e-4)
    # a cvae's items are encoded given the class, E[z|x, y], and the path decoded as it
    x = digits.test.to_data()[:2]
    path = interpolate(cvae, x[0], x[1], steps=5, method="linear", labels=3)
    za, zb = cvae.encode(x, labels=[3, 3])
    assert torch.allclose(path, cvae.decode(lerp(za, zb, 5), labels=3), atol=1e-6)
    assert not torch.allclose(path, interpolate(cvae, x[0], x[1], steps=5, method="linear", labels=8), atol=1e-4)
    with pytest.raises(UserError, match="cvae is conditional and needs the items' classes: pass labels="):
        interpolate(cvae, x[0], x[1])
    with pytest.raises(UserError, match="'ppca' is unconditional and takes no labels"):
        interpolate(ls.models.create("ppca", n_components=3).fit(digits), torch.zeros(3), torch.ones(3), labels=1)


def test_conditional_traversal_and_truncated_samples(conditional_models):
    cvae, cgan, digits = conditional_models
    grid = traverse(cgan, dims=[0, 2], span=2.0, steps=3, label="5")
    z = torch.zeros(2, 3, 3)
    z[0, :, 0] = z[1, :, 2] = torch.tensor([-2.0, 0.0, 2.0])
    assert torch.allclose(grid, cgan.decode(z.reshape(-1, 3), labels=5).reshape(2, 3, 1, 8, 8), atol=1e-6)
    item = digits.test.to_data()[0]
    around = traverse(cvae, item, dims=[1], steps=3, label=6)
    assert torch.allclose(around[0, 1], cvae.decode(cvae.encode(item[None], labels=[6]), labels=6)[0], atol=1e-6)
    with pytest.raises(UserError, match="cvae encodes z0 given its class: pass label="):
        traverse(cvae, item, dims=[1])
    x = sample_truncated(cgan, 4, threshold=0.5, seed=1, labels=[1, 2, 3, 4])
    assert torch.allclose(x, cgan.decode(truncated_noise(4, 3, 0.5, seed=1), labels=[1, 2, 3, 4]), atol=1e-6)
    default = sample_truncated(cgan, 4, threshold=0.5, seed=1)  # like sample: the classes in turn
    assert torch.allclose(default, cgan.decode(truncated_noise(4, 3, 0.5, seed=1), labels=[0, 1, 2, 3]), atol=1e-6)


@pytest.mark.parametrize("which", [0, 1])
def test_conditional_inversion_fits_the_decoder_at_the_items_classes(conditional_models, which):
    model = conditional_models[which]
    y = torch.tensor([1, 5, 8])
    z_true = torch.randn(3, 3, generator=torch.Generator().manual_seed(3))
    x = model.decode(z_true, labels=y)
    z, x_hat = invert(model, x, labels=y, steps=150, restarts=2, prior_weight=0.0)
    assert torch.allclose(x_hat, model.decode(z, labels=y), atol=1e-6)
    start = ((model.decode(torch.zeros(3, 3), labels=y) - x) ** 2).sum()
    assert ((x_hat - x) ** 2).sum() < 0.2 * start
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[:, :4] = True
    filled = complete(model, x, mask, labels=y, steps=20, restarts=1)
    assert torch.equal(filled[:, :, :4], x[:, :, :4])
    with pytest.raises(UserError, match="is conditional and needs the items' classes"):
        invert(model, x, steps=2)
