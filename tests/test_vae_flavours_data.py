"""Every flavour of the VAE family (vae, beta-vae, cvae, iwae, vqvae) trains, samples and is evaluated through
the command line on three kinds of data with no change of code: scikit-learn's ``digits``, a folder of images
made here (two class sub-folders, images of different sizes and shapes, one of them RGBA in colour) and the
pottery profiles (``shared/data/pottery_profiles``: binary half-profiles of vessels, 11 classes, given train/
and test/ splits; skipped when absent).

Each run is tiny (a few steps of narrow networks, folders loaded at 16 x 16 with ``--size``), so the module
takes about 30 s on one CPU thread; what it checks is that the pieces fit, not what the models learn.
"""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import latentspace as ls
from latentspace.cli import main

from conftest import shared

FLAVOURS = ["vae", "beta-vae", "cvae", "iwae", "vqvae"]
DATASETS = ["digits", "folder", "pottery"]
STEPS = 6  # vqvae: 3 steps of the VQ-VAE, then 3 of its PixelCNN prior
K = 16     # importance samples per item in score_samples (VAE flavours)
#: narrow networks: the tests check that the pieces fit, not what the models learn
TINY = {"vqvae": ["--set", "width=8", "--set", "num_embeddings=16", "--set", "embedding_dim=4",
                  "--set", "prior_width=8", "--set", "prior_layers=1", "--set", "res_blocks=1"]}
for _name in FLAVOURS[:4]:
    TINY[_name] = ["--set", "arch=conv", "--set", "width=8", "--set", "latent_dim=4", "--set", f"k={K}"]
QUIET = ["--no-progress", "--log-every", "2", "--sample-every", "1000"]


def _save_picture(path, size, kind: str, shade: int):
    """A gray picture of ``size`` (w, h) on white: a disc or a vertical bar of gray level ``shade``."""
    w, h = size
    yy, xx = np.mgrid[:h, :w]
    a = np.full((h, w), 255, np.uint8)
    if kind == "disc":
        a[(yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(w, h) / 3) ** 2] = shade
    else:
        a[:, w // 3: 2 * w // 3] = shade
    Image.fromarray(a, "L").save(path)


def make_folder(root, per_class: int = 15):
    """``root/{bar,disc}/*.png``: ``per_class`` pictures a class in six sizes, the first disc an RGBA image whose
    red disc sits on a transparent background (so the folder loads as RGB)."""
    sizes = [(20, 20), (31, 17), (12, 40), (24, 24), (40, 30), (16, 16)]
    for kind in ("disc", "bar"):
        (root / kind).mkdir(parents=True)
        for i in range(per_class):
            _save_picture(root / kind / f"{i}.png", sizes[i % len(sizes)], kind, 20 + 10 * i)
    rgba = Image.new("RGBA", (28, 22), (0, 0, 0, 0))
    yy, xx = np.mgrid[:22, :28]
    disc = Image.fromarray(((yy - 11) ** 2 + (xx - 14) ** 2 < 49).astype(np.uint8) * 255, "L")
    rgba.paste((200, 30, 30, 255), mask=disc)
    rgba.save(root / "disc" / "0.png")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("pictures") / "shapes")


@pytest.fixture(scope="module")
def sources(folder):
    """dataset id -> (--data, extra options, item shape); the pottery profiles skip when absent."""
    def get(name):
        if name == "digits":
            return "digits", [], (1, 8, 8)
        if name == "folder":
            return str(folder), ["--size", "16"], (3, 16, 16)
        return str(shared("pottery_profiles")), ["--size", "16"], (1, 16, 16)
    return get


def test_the_image_folders_load_as_labelled_squares(folder):
    data = ls.data.load(folder, size=16)
    assert data.shape == (3, 16, 16) and data.classes == ["bar", "disc"]  # the RGBA picture makes it RGB
    assert len(data) + len(data.test) == 30 and len(data.test) == 6       # a stratified fifth held out
    x = torch.cat([data.to_data(), data.test.to_data()])
    assert 0 <= float(x.min()) and float(x.max()) <= 1
    assert int(((x[:, 0] - x[:, 1]) > 0.3).flatten(1).any(1).sum()) == 1  # the red disc, composited on white


def test_the_pottery_profiles_load_with_their_own_split():
    pottery = ls.data.load(shared("pottery_profiles"), size=16)
    assert pottery.shape == (1, 16, 16) and len(pottery.classes) == 11
    assert pottery.classes[:3] == ["1", "2", "3"] and len(pottery) > len(pottery.test) > 6  # train/ and test/


def _column(run, key: str) -> list[float]:
    import csv

    with open(run / "metrics.csv", newline="") as f:
        return [float(r[key]) for r in csv.DictReader(f) if r.get(key)]


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_flavour_trains_samples_and_evaluates(flavour, dataset, sources, tmp_path, capsys):
    source, options, shape = sources(dataset)
    run = tmp_path / "run"
    assert main(["train", flavour, "--data", source, *options, "--steps", str(STEPS), "--batch-size", "16",
                 "--out", str(run), *QUIET, *TINY[flavour]]) == 0
    if flavour == "vqvae":  # both stages ran: the VQ-VAE's reconstruction term, then the prior's NLL
        rec, prior = _column(run, "rec"), _column(run, "prior_nll")
        assert rec and prior and np.isfinite(rec + prior).all()
    else:
        assert len(_column(run, "loss")) == STEPS // 2 and np.isfinite(_column(run, "elbo")).all()

    assert main(["sample", str(run), "--n", "8", "--out", str(run / "samples.npy")]) == 0
    assert main(["sample", str(run), "--n", "8", "--out", str(run / "samples.png")]) == 0
    x = np.load(run / "samples.npy")
    assert x.shape == (8, *shape) and np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1
    with Image.open(run / "samples.png") as img:
        assert img.format == "PNG"

    assert main(["evaluate", str(run), "--n", "16", "--nll-items", "6", "--features", "standardised",
                 "--no-progress"]) == 0
    assert "held-out negative log-likelihood" in capsys.readouterr().out
    res = json.loads((run / "metrics.json").read_text())
    scores, details = res["scores"], res["details"]
    assert res["model"] == flavour and res["n_samples"] == 16 and details["nll_items"] == 6
    nll = scores["nll_nats"]
    assert math.isfinite(nll) and nll > 0  # Bernoulli probabilities of binary (or [0, 1]) items: at most 1
    assert scores["nll_bits_per_dim"] == pytest.approx(nll / (math.prod(shape) * math.log(2)))
    if flavour == "vqvae":
        assert details["likelihood"].startswith("bound") and "nelbo_nats" not in scores
    else:  # the importance-sampled estimate beside the ELBO it tightens
        assert math.isfinite(scores["nelbo_nats"]) and nll < scores["nelbo_nats"] + 1.0
        assert details["likelihood_k"] == K and "fixed seed" in details["likelihood_items"]
        assert 0 <= details["active_units"] <= details["latent_dim"] == 4

    if dataset == "folder":  # the report draws every picture of RGB items (reusing metrics.json: same n, seed)
        assert main(["report", str(run), "--n", "16", "--no-progress"]) == 0
        page = (run / "report.html").read_text()
        assert '<section id="reconstructions">' in page and '<section id="latents">' in page
        assert "not drawn" not in page
        if flavour == "vqvae":
            assert "grid of discrete codes" in page and "quantised code vectors z_q(x)" in page
        else:
            assert page.split('<section id="interpolation">')[1].split("</section>")[0].count("base64") == 1


def test_data_the_flavours_cannot_use_is_refused_in_one_line(tmp_path, capsys):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(8):
        _save_picture(flat / f"{i}.png", (12 + i, 14), "disc", 40)
    assert main(["train", "cvae", "--data", str(flat), "--size", "8", "--steps", "2", "--out", str(tmp_path / "a"),
                 *QUIET, *TINY["cvae"]]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(err) == 1 and "cvae needs class labels and flat has none; use a labelled dataset" in err[0]
    small = make_folder(tmp_path / "small", per_class=4)  # a fifth of 4 a class: 2 held-out items in all
    run = tmp_path / "b"
    assert main(["train", "vae", "--data", str(small), "--size", "8", "--steps", "2", "--out", str(run), *QUIET,
                 *TINY["vae"]]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--n", "16", "--features", "standardised", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "small has 2 held-out item(s), and the two-set scores compare at least 6 a side" in err[0]
    assert main(["train", "vae", "--data", "digits", "--size", "8", "--steps", "2", "--out", str(tmp_path / "c"),
                 *QUIET]) == 2
    assert "dataset 'digits' takes no option 'size'" in capsys.readouterr().err
