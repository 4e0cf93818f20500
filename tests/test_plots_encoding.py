"""Latent pictures of models that encode: reconstructions, the 2-D manifold, projected latent means,
interpolation and traversal; their sections in the report and the `latentspace plot` command."""

import sys
import types

import numpy as np
import pytest
import torch

import latentspace as ls
from latentspace.cli import main
from latentspace.data.dataset import DataInfo, make_dataset
from latentspace.errors import UserError
from latentspace.latent import interpolate, latent_size, slerp, traverse
from latentspace.plots.encoding import (active_dims, item_interpolation, latent_activity, latent_manifold,
                                        latent_picture, latent_projection, latent_traversal, manifold_codes,
                                        project_latents, reconstruct, reconstructions)
from latentspace.report import write_report

LATENT_SECTIONS = ("reconstructions", "latents", "manifold")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run folders: a vae (8-d latents) on digits, a vae (2-d latents) on moons, a gan on ring8 (~10 s)."""
    root = tmp_path_factory.mktemp("runs")
    common = ["--log-every", "10", "--sample-every", "1000", "--no-progress"]
    assert main(["train", "vae", "--data", "digits", "--steps", "50", "--batch-size", "64", "--set", "latent_dim=8",
                 "--set", "width=8", "--out", str(root / "vae"), *common]) == 0
    assert main(["train", "vae", "--data", "moons", "--steps", "50", "--set", "latent_dim=2", "--set", "hidden=32",
                 "--out", str(root / "moons"), *common]) == 0
    assert main(["train", "gan", "--data", "ring8", "--steps", "6", "--batch-size", "32", "--set", "hidden=16",
                 "--out", str(root / "gan"), *common]) == 0
    return root


@pytest.fixture(scope="module")
def digits():
    return ls.data.load("digits")


@pytest.fixture(scope="module")
def moons():
    return ls.data.load("moons")


@pytest.fixture(scope="module")
def vae(runs):
    return ls.load(runs / "vae")


@pytest.fixture(scope="module")
def moons_vae(runs):
    return ls.load(runs / "moons")


@pytest.fixture(scope="module")
def gan(runs):
    return ls.load(runs / "gan")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def image_axes(fig):
    return [ax for ax in fig.axes if ax.images]


def shown(ax) -> np.ndarray:
    return np.asarray(ax.images[0].get_array())


# -- reconstructions -----------------------------------------------------------------------------------
def test_reconstructions_of_images_are_rows_of_inputs_and_outputs(vae, digits):
    items = digits.test.to_data()[:10]
    recon = reconstruct(vae, items)
    assert torch.allclose(recon, vae.decode(vae.encode(items)))
    fig = reconstructions(vae, items, ncols=4)  # 3 blocks of 4 columns: input row, reconstruction row
    axes = image_axes(fig)
    assert len(axes) == 20 and all(shown(ax).shape == (8, 8) for ax in axes)
    grid = np.array(fig.axes).reshape(8, 4)  # rows: input, recon., gap, input, recon., gap, input, recon.
    for i in range(10):
        b, c = divmod(i, 4)
        assert np.allclose(shown(grid[3 * b, c]), items[i, 0].numpy())
        assert np.allclose(shown(grid[3 * b + 1, c]), recon[i, 0].clamp(0, 1).numpy())
    assert grid[0, 0].get_ylabel() == "input" and grid[1, 0].get_ylabel() == "recon."
    assert not grid[2, 0].axison and not grid[7, 3].axison  # the gap row and the unused last cells
    first = image_axes(reconstructions(vae, digits.test, n=3, seed=1))
    assert len(first) == 6


def test_reconstructions_of_points_join_each_input_to_its_reconstruction(moons_vae, moons):
    items = moons.test.to_data()[:50]
    fig = reconstructions(moons_vae, items, reference=moons.to_data()[:100])
    ax = fig.axes[0]
    lines = [c for c in ax.collections if c.__class__.__name__ == "LineCollection"][0]
    segments = np.array(lines.get_segments())
    assert segments.shape == (50, 2, 2)
    assert np.allclose(segments[:, 0], items.numpy(), atol=1e-6)
    assert np.allclose(segments[:, 1], reconstruct(moons_vae, items).numpy(), atol=1e-6)


# -- the 2-D manifold -------------------------------------------------------------------------------------
def test_manifold_codes_are_prior_quantiles_with_up_positive():
    z = manifold_codes(5)
    q = torch.special.ndtri(torch.linspace(0.05, 0.95, 5, dtype=torch.float64)).float()
    assert z.shape == (5, 5, 2)
    assert torch.allclose(z[0, :, 0], q) and torch.allclose(z[:, 0, 1], q.flip(0))
    with pytest.raises(UserError, match="0 < lo < hi < 1"):
        manifold_codes(5, 0.0, 0.9)


def test_manifold_of_images_tiles_the_decoded_grid(digits):
    ppca = ls.models.create("ppca", n_components=2).fit(digits)
    fig = latent_manifold(ppca, 6)
    picture = shown(fig.axes[0])
    assert picture.shape == (6 * 9 + 1, 6 * 9 + 1)  # 6 x 6 tiles of 8 x 8 pixels, 1 px apart
    decoded = ppca.decode(manifold_codes(6).reshape(-1, 2)).reshape(6, 6, 8, 8)
    expected = (decoded[1, 4].clamp(0, 1) * 255).round().numpy()
    assert np.abs(picture[1 + 9:1 + 9 + 8, 1 + 4 * 9:1 + 4 * 9 + 8] - expected).max() <= 1  # row 1, column 4
    assert fig.axes[0].get_xlabel() == "z[0]" and fig.axes[0].get_ylabel() == "z[1]"


def test_manifold_of_points_is_the_decoded_mesh(moons_vae):
    fig = latent_manifold(moons_vae, 7)
    ax = fig.axes[0]
    assert len(ax.lines) == 14  # 7 lines of constant z[1], 7 of constant z[0]
    decoded = moons_vae.decode(manifold_codes(7).reshape(-1, 2)).numpy()
    assert np.allclose(ax.collections[-1].get_offsets(), decoded, atol=1e-6)


def test_manifold_refuses_other_latent_sizes(vae, runs):
    with pytest.raises(UserError, match="2-D latent spaces, but 'vae' has 8-d codes; train one with --set latent_dim"):
        latent_manifold(vae)
    kde = ls.models.create("kde").fit(ls.data.load("ring8"))
    with pytest.raises(UserError, match="'kde' has no latent space"):
        latent_manifold(kde)


# -- projections of the latent means ----------------------------------------------------------------------
def test_pca_projection_is_sklearn_pca_of_the_posterior_means(vae, digits):
    from sklearn.decomposition import PCA

    x = digits.test.to_data()
    proj = project_latents(vae, digits.test, "pca")
    codes = vae.encode(x).double().numpy()
    assert proj["method"] == "pca" and proj["coords"].shape == (len(x), 2)
    assert np.allclose(proj["codes"], codes)
    assert np.allclose(proj["coords"], PCA(n_components=2).fit_transform(codes), atol=1e-8)
    assert proj["axes"][0].startswith("PC 1")
    assert project_latents(vae, x)["method"] == "pca"  # auto: PCA of 8-d codes


def test_projection_is_coloured_by_label_with_a_legend_of_classes(vae, digits):
    fig = latent_projection(vae, digits.test, method="pca", n=None)
    ax = fig.axes[0]
    sc = ax.collections[0]
    y = digits.test.y.numpy()
    assert np.allclose(sc.get_offsets(), project_latents(vae, digits.test, "pca")["coords"])
    assert np.array_equal(np.asarray(sc.get_array()), y)
    fig.canvas.draw()
    import matplotlib

    tab10 = np.array(matplotlib.colormaps["tab10"].colors)
    assert np.allclose(sc.get_facecolors()[:, :3], tab10[y])  # each point has its class's colour
    handles = ax.get_legend().legend_handles
    assert np.allclose([matplotlib.colors.to_rgb(h.get_color()) for h in handles], tab10)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(digits.classes)


def test_projection_of_a_subset_keeps_codes_and_labels_together(moons_vae, moons):
    fig = latent_projection(moons_vae, moons.test, n=300, seed=3)  # 2-d codes: drawn as they are
    sc = fig.axes[0].collections[0]
    xy, labels = np.asarray(sc.get_offsets()), np.asarray(sc.get_array())
    assert xy.shape == (300, 2) and fig.axes[0].get_xlabel() == "z[0]"
    codes = moons_vae.encode(moons.test.to_data()).numpy()
    nearest = np.argmin(((xy[:, None, :] - codes[None]) ** 2).sum(-1), axis=1)
    assert np.allclose(codes[nearest], xy, atol=1e-6)
    assert np.array_equal(moons.test.y.numpy()[nearest], labels)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == list(moons.classes)
    bare = latent_projection(moons_vae, moons.test.to_data()[:40])  # no labels: one colour, no legend
    assert bare.axes[0].get_legend() is None and bare.axes[0].collections[0].get_array() is None


def test_tsne_and_umap_projections(vae, digits, monkeypatch):
    x = digits.test.to_data()[:40]
    proj = project_latents(vae, x, "tsne", seed=0)
    assert proj["coords"].shape == (40, 2) and np.isfinite(proj["coords"]).all() and proj["axes"][0] == "t-SNE 1"
    monkeypatch.setitem(sys.modules, "umap", None)  # not installed
    with pytest.raises(UserError, match="needs the umap-learn package.*pip install umap-learn"):
        latent_projection(vae, x, method="umap")
    fake = types.ModuleType("umap")

    class UMAP:
        def __init__(self, n_components, random_state):
            self.seed = random_state

        def fit_transform(self, codes):
            return codes[:, :2] * 2

    fake.UMAP = UMAP
    monkeypatch.setitem(sys.modules, "umap", fake)
    proj = project_latents(vae, x, "umap")
    assert np.allclose(proj["coords"], 2 * vae.encode(x).double().numpy()[:, :2]) and proj["axes"][0] == "UMAP 1"
    with pytest.raises(UserError, match="unknown projection method 'isomap'"):
        project_latents(vae, x, "isomap")


# -- activity, interpolation, traversal ---------------------------------------------------------------------
def test_activity_is_the_variance_of_the_posterior_means(vae, digits):
    codes = vae.encode(digits.test.to_data()).double()
    activity = latent_activity(vae, digits.test)
    assert torch.allclose(activity, torch.from_numpy(codes.numpy().var(0)))
    t = float(activity.median())
    expected = sorted((k for k in range(8) if activity[k] > t), key=lambda k: -float(activity[k]))
    assert active_dims(vae, digits.test, threshold=t) == expected and len(expected) == 4
    assert active_dims(vae, digits.test, threshold=t, n=2) == expected[:2]
    assert active_dims(vae, digits.test, threshold=1e9) == []


def test_traversal_rows_are_the_most_active_dimensions(vae, digits):
    activity = latent_activity(vae, digits.test)
    top = [int(k) for k in torch.argsort(activity, descending=True)[:3]]
    fig = latent_traversal(vae, digits.test, n_dims=3, steps=5)
    axes = image_axes(fig)
    assert len(axes) == 15
    assert [axes[5 * r].get_ylabel().split("\n")[0] for r in range(3)] == [f"z[{k}]" for k in top]
    grid = traverse(vae, dims=top, steps=5)
    assert np.allclose(shown(axes[5 * 2 + 4]), grid[2, 4, 0].numpy())
    assert "most active" in fig.get_suptitle()
    plain = image_axes(latent_traversal(vae, n_dims=2, steps=3))  # no items: the first dimensions
    assert [plain[3 * r].get_ylabel() for r in range(2)] == ["z[0]", "z[1]"]


def test_interpolation_between_two_items(vae, digits, moons_vae, moons):
    x = digits.test.to_data()
    fig = item_interpolation(vae, x[:2], x[2:4], steps=6)
    axes = np.array(fig.axes).reshape(2, 8)  # per row: the item, 6 decoded steps, the other item
    assert len(image_axes(fig)) == 16
    paths = interpolate(vae, x[:2], x[2:4], steps=6, method="linear", inputs="items")
    for r in range(2):
        assert np.allclose(shown(axes[r, 0]), x[r, 0].numpy()) and np.allclose(shown(axes[r, 7]), x[2 + r, 0].numpy())
        assert np.allclose(shown(axes[r, 3]), paths[r, 2, 0].numpy())
    pts = moons.test.to_data()
    fig = item_interpolation(moons_vae, pts[0], pts[1], steps=5)
    line = fig.axes[0].lines[0].get_xydata()
    path = interpolate(moons_vae, pts[0], pts[1], steps=5, method="linear", inputs="items")
    assert np.allclose(line, path.numpy(), atol=1e-6)


def test_volumes_are_drawn_as_voxel_renders():
    g = torch.Generator().manual_seed(0)
    info = DataInfo(name="vox", modality="volume", shape=(1, 8, 8, 8), shift=0.5, scale=0.5, clip=(0.0, 1.0))
    x = (torch.rand(40, 1, 8, 8, 8, generator=g) > 0.6).float() * 2 - 1
    data = make_dataset(x, info=info)
    ppca = ls.models.create("ppca", n_components=2).fit(data)
    axes = image_axes(reconstructions(ppca, data.test, n=4))
    assert len(axes) == 8 and all(shown(ax).shape == (16, 16, 3) for ax in axes)  # oblique renders, 2x the side
    assert shown(latent_manifold(ppca, 3).axes[0]).shape == (3 * 17 + 1, 3 * 17 + 1, 3)
    assert all(shown(ax).shape == (16, 16, 3) for ax in image_axes(latent_picture("interpolation", ppca, data, n=1)))


def test_models_that_do_not_encode_get_a_clear_error(gan, moons):
    x = moons.test.to_data()[:4]
    for draw in (lambda: reconstructions(gan, x), lambda: latent_projection(gan, x),
                 lambda: item_interpolation(gan, x[0], x[1]), lambda: latent_activity(gan, x)):
        with pytest.raises(UserError, match="'gan' cannot encode items"):
            draw()
    assert image_axes(latent_traversal(gan, x, n_dims=2, steps=3)) == []  # points: one axes of paths
    with pytest.raises(UserError, match="unknown picture kind 'histogram'"):
        latent_picture("histogram", gan)


# -- the report -----------------------------------------------------------------------------------
def fake_results(model: str, data: str) -> dict:
    return {"model": model, "data": data, "n_samples": 50, "seed": 0, "scores": {"fd": 1.0}, "floor": {"fd": 0.5},
            "details": {}}


def sections(page: str) -> set[str]:
    return {s for s in LATENT_SECTIONS if f'<section id="{s}">' in page}


def test_report_of_a_vae_shows_its_latent_pictures(runs, tmp_path):
    page = write_report(runs / "vae", tmp_path / "vae.html", results=fake_results("vae", "digits")).read_text()
    assert sections(page) == {"reconstructions", "latents"}  # 8-d latents: no manifold
    assert '<a href="#reconstructions">' in page and '<a href="#manifold">' not in page
    assert "coloured by class" in page and "decode(encode(x))" in page
    page = write_report(runs / "moons", tmp_path / "moons.html", results=fake_results("vae", "moons")).read_text()
    assert sections(page) == set(LATENT_SECTIONS) and '<a href="#manifold">' in page
    assert "the 2-D codes as they are" in page
    manifold = page.split('<section id="manifold">')[1].split("</section>")[0]
    assert manifold.count('src="data:image/png;base64,') == 1


def test_report_of_a_gan_has_no_latent_pictures(runs, tmp_path):
    page = write_report(runs / "gan", tmp_path / "gan.html", results=fake_results("gan", "ring8")).read_text()
    assert sections(page) == set() and '<a href="#latents">' not in page
    assert '<section id="interpolation">' in page and '<a href="#curves">' in page


# -- the command line ---------------------------------------------------------------------------------
def test_cli_plot_writes_the_picture_and_refuses_to_overwrite(runs, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "rec.png"
    assert main(["plot", str(runs / "vae"), "--kind", "reconstructions", "--n", "8", "--out", str(out)]) == 0
    with Image.open(out) as img:
        assert img.format == "PNG" and img.width > 400
    before = out.read_bytes()
    capsys.readouterr()
    assert main(["plot", str(runs / "vae"), "--kind", "latents", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists; pass --overwrite" in err[0] and out.read_bytes() == before
    assert main(["plot", str(runs / "vae"), "--kind", "latents", "--out", str(out), "--overwrite"]) == 0
    assert out.read_bytes() != before
    assert main(["plot", str(runs / "moons"), "--kind", "manifold", "--n", "5", "--out", str(tmp_path / "m.svg")]) == 0
    assert (tmp_path / "m.svg").read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize("run, argv, message", [
    ("vae", ["--kind", "histogram"], "unknown picture kind 'histogram'; use one of reconstructions"),
    ("vae", ["--kind", "manifold"], "2-D latent spaces, but 'vae' has 8-d codes"),
    ("gan", ["--kind", "reconstructions"], "'gan' cannot encode items"),
    ("vae", ["--kind", "latents", "--method", "lda"], "unknown projection method 'lda'"),
    ("vae", ["--kind", "latents", "--n", "0"], "--n must be a positive integer"),
    ("vae", ["--kind", "latents", "--out", "pic.jpg"], "--out must end in .png"),
    ("vae", ["--kind", "traversal", "--label", "3"], "'vae' is unconditional and takes no class label"),
    ("nowhere", ["--kind", "latents"], "no such"),
])
def test_cli_plot_bad_input(runs, tmp_path, capsys, run, argv, message):
    out = ["--out", str(tmp_path / "pic.png")] if "--out" not in argv else []
    argv = [a.replace("pic.jpg", str(tmp_path / "pic.jpg")) for a in argv]
    assert main(["plot", str(runs / run), *argv, *out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert list(tmp_path.iterdir()) == []


# -- conditional models: the cvae encodes and decodes given the class, the cgan decodes given it -----------------
@pytest.fixture(scope="module")
def conditional_runs(tmp_path_factory):
    """Run folders of a cvae (4-d latents) and a cgan, both tiny, on digits (~4 s)."""
    root = tmp_path_factory.mktemp("conditional")
    common = ["--data", "digits", "--batch-size", "32", "--set", "width=8", "--log-every", "10", "--sample-every",
              "1000", "--no-progress"]
    assert main(["train", "cvae", "--steps", "40", "--set", "latent_dim=4", "--out", str(root / "cvae"), *common]) == 0
    assert main(["train", "cgan", "--steps", "4", "--out", str(root / "cgan"), *common]) == 0
    return root


@pytest.fixture(scope="module")
def cvae(conditional_runs):
    return ls.load(conditional_runs / "cvae")


@pytest.fixture(scope="module")
def cgan(conditional_runs):
    return ls.load(conditional_runs / "cgan")


def test_cvae_reconstructions_are_given_each_items_label(cvae, digits):
    x, y = digits.test.to_data()[:12], digits.test.y[:12]
    recon = reconstruct(cvae, x, y)
    assert torch.allclose(recon, cvae.decode(cvae.encode(x, labels=y), labels=y))
    other = reconstruct(cvae, x, (y + 1) % 10)
    assert float((recon - other).abs().amax((1, 2, 3)).min()) > 1e-3  # every item changes with its label
    # a Dataset brings its labels: the reconstructions drawn are those given the items' own labels
    fig = reconstructions(cvae, digits.test, n=4, ncols=4)
    grid = np.array(fig.axes).reshape(2, 4)
    own = reconstruct(cvae, digits.test.to_data()[:4], digits.test.y[:4])
    for c in range(4):
        assert np.allclose(shown(grid[1, c]), own[c, 0].clamp(0, 1).numpy(), atol=1e-6)
    assert "given its own label" in fig.get_suptitle()
    with pytest.raises(UserError, match="cvae encodes items given their classes"):
        reconstruct(cvae, x)
    with pytest.raises(UserError, match=r"labels have shape \(3,\); give one per item"):
        reconstructions(cvae, x, y[:3])


def test_cvae_latent_means_traversal_and_interpolation_are_given_the_labels(cvae, digits):
    held = digits.test
    codes = cvae.encode(held.to_data(), labels=held.y).double()
    assert np.allclose(project_latents(cvae, held, "pca")["codes"], codes.numpy())
    title = latent_projection(cvae, held, method="pca", n=None).axes[0].get_title()
    assert "E[z|x, y]" in title and "style" in title
    assert torch.allclose(latent_activity(cvae, held), codes.var(0, correction=0))
    # a traversal decodes one class: label= (a class name or index), the first class by default
    fig = latent_traversal(cvae, held, n_dims=2, steps=3, label="7")
    axes = image_axes(fig)
    dims = [int(axes[3 * r].get_ylabel().split("\n")[0][2:-1]) for r in range(2)]
    grid = traverse(cvae, dims=dims, steps=3, label=7)
    assert np.allclose(shown(axes[3 + 2]), grid[1, 2, 0].numpy(), atol=1e-6)
    assert fig.get_suptitle().startswith("class 7: the 2 most active")
    assert not torch.allclose(grid, traverse(cvae, dims=dims, steps=3))  # class 0
    # interpolation walks between two items of one class, encoded and decoded given it
    fig = latent_picture("interpolation", cvae, digits, n=3)
    items, y = held.to_data(), held.y
    for r in range(3):
        row = fig.axes[12 * r:12 * (r + 1)]  # the item, 10 steps, the other item
        label = row[0].get_ylabel()
        ends = [int(np.argmin(((items[:, 0].numpy() - shown(ax)) ** 2).sum((1, 2)))) for ax in (row[0], row[-1])]
        assert ends[0] != ends[1] and [held.classes[int(y[i])] for i in ends] == [label, label]
        path = interpolate(cvae, items[ends[0]], items[ends[1]], steps=10, method="linear", labels=label)
        assert np.allclose(shown(row[5]), path[4, 0].numpy(), atol=1e-6)


def test_cvae_manifold_decodes_one_class(digits):
    cvae2 = ls.models.create("cvae", latent_dim=2, width=8).fit(digits, steps=3, batch_size=16, progress=False)
    fig = latent_manifold(cvae2, 4, label=3)
    decoded = cvae2.decode(manifold_codes(4).reshape(-1, 2), labels=3).reshape(4, 4, 8, 8)
    tile = shown(fig.axes[0])[1 + 9:1 + 9 + 8, 1 + 2 * 9:1 + 2 * 9 + 8]  # row 1, column 2
    assert np.abs(tile - (decoded[1, 2].clamp(0, 1) * 255).round().numpy()).max() <= 1
    assert fig.axes[0].get_title() == "decoded as class 3"
    assert latent_manifold(cvae2, 4).axes[0].get_title() == "decoded as class 0"
    with pytest.raises(UserError, match="'ten' is not a class of cvae"):
        latent_manifold(cvae2, 4, label="ten")


def test_report_of_a_cvae_run_draws_its_latent_pictures(conditional_runs, tmp_path, capsys):
    out = tmp_path / "cvae.html"
    assert main(["report", str(conditional_runs / "cvae"), "--out", str(out), "--n", "100", "--no-progress"]) == 0
    page = out.read_text()
    assert sections(page) == {"reconstructions", "latents"} and "not drawn" not in page
    for ident in ("samples", "interpolation", "reconstructions", "latents"):
        section = page.split(f'<section id="{ident}">')[1].split("</section>")[0]
        assert section.count('src="data:image/png;base64,') >= 1, ident
    assert "decode(encode(x, y), y)" in page and "E[z|x, y]" in page
    assert "between two items of that class encoded given it" in page


def test_cgan_pictures_and_report_decode_one_class(cgan, conditional_runs, tmp_path):
    from latentspace.plots.latent import interpolation_paths

    d = latent_size(cgan)
    grid = traverse(cgan, dims=[0, 1], steps=3, label=4)
    assert torch.allclose(grid[:, 1], cgan.decode(torch.zeros(2, d), labels=4), atol=1e-6)  # offset 0: the origin
    assert not torch.allclose(grid, traverse(cgan, dims=[0, 1], steps=3, label=5))
    walk = interpolation_paths(cgan, rows=3, steps=4, seed=0)  # no encoder: path r is class r
    assert walk["labels"].tolist() == [0, 1, 2] and walk["classes"] == ["0", "1", "2"]
    codes = torch.randn(3, 2, d, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(walk["paths"][1], cgan.decode(slerp(codes[1, 0], codes[1, 1], 4), labels=1), atol=1e-6)
    page = write_report(conditional_runs / "cgan", tmp_path / "cgan.html",
                        results=fake_results("cgan", "digits")).read_text()
    assert sections(page) == set() and "each path is decoded as one class" in page
    with pytest.raises(UserError, match="'cgan' cannot encode items"):
        reconstructions(cgan, ls.data.load("digits").test)


def test_cli_plot_of_conditional_runs(conditional_runs, tmp_path, capsys):
    from PIL import Image

    for run, kind, extra in [("cvae", "reconstructions", []), ("cvae", "traversal", []),
                             ("cvae", "traversal", ["--label", "7"]), ("cvae", "latents", []),
                             ("cvae", "interpolation", ["--label", "2"]), ("cgan", "traversal", ["--label", "3"])]:
        out = tmp_path / f"{run}-{kind}-{len(extra)}.png"
        assert main(["plot", str(conditional_runs / run), "--kind", kind, "--n", "3", "--out", str(out), *extra]) == 0
        with Image.open(out) as img:
            assert img.format == "PNG" and img.width > 200
    capsys.readouterr()
    assert main(["plot", str(conditional_runs / "cvae"), "--kind", "traversal", "--label", "ten",
                 "--out", str(tmp_path / "bad.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'ten' is not a class of cvae: give an index in 0..9 or a class name" in err[0]
    assert not (tmp_path / "bad.png").exists()
