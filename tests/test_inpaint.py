"""The inpaint model: a U-Net trained to complete cut items (context encoder + adversarial loss)."""

import numpy as np
import pytest
import torch
from PIL import Image

import latentspace as ls
from latentspace import cli
from latentspace.errors import UserError
from latentspace.models.inpaint import random_boxes, unet_depth


@pytest.fixture(scope="module")
def pots():
    return ls.data.load("pottery-synthetic", n=96, n_test=12, size=32)


@pytest.fixture(scope="module")
def fitted(pots):
    return ls.models.create("inpaint", width=8).fit(pots, steps=4, progress=False)


def test_completions_keep_the_given_part_and_go_through_latent_complete(fitted, pots):
    x = pots.test.to_data()
    kept = pots.info.spec.fragment_mask(x, "rim")
    whole = ls.latent.complete(fitted, x, kept, steps=999)          # inversion options are not needed
    assert whole.shape == x.shape and torch.equal(whole[kept], x[kept])
    assert 0.0 <= float(whole.min()) and float(whole.max()) <= 1.0
    assert not torch.equal(whole[~kept], x[~kept])
    one = ls.latent.complete(fitted, x[0], kept[0])
    assert torch.allclose(one, whole[0], atol=1e-6)


def test_profiles_train_on_rim_and_base_fragments_and_images_on_boxes(fitted, pots):
    masks = fitted.training_masks(pots.x[:40], generator=torch.Generator().manual_seed(0))
    rows = masks[:, 0].all(-1) | ~masks[:, 0].any(-1)
    assert bool(rows.all())                                     # a fragment keeps whole rows
    kept_top = masks[:, 0, 0, 0]
    assert kept_top.any() and (~kept_top).any()                 # both rims and bases are kept
    boxes = random_boxes((50, 1, 20, 20), 0.25, 0.5, torch.Generator().manual_seed(0))
    hidden = (~boxes[:, 0]).sum((1, 2))
    assert int(hidden.min()) >= 5 * 5 and int(hidden.max()) <= 10 * 10
    assert bool((~boxes).any(1).all() == (~boxes).all(1).all())  # one box through all channels


def test_training_fills_the_missing_part_better(pots):
    x = pots.test.to_data()
    kept = pots.info.spec.fragment_mask(x, "rim")
    errors = []
    for steps in (1, 150):
        model = ls.models.create("inpaint", width=8, adv_weight=0.0).fit(pots, steps=steps, seed=0, progress=False)
        whole = model.complete(x, kept)
        errors.append(float((whole - x).abs()[~kept].mean()))
    assert errors[1] < 0.6 * errors[0]


def test_save_load_and_seeded_samples(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    again = ls.models.load(tmp_path / "m")
    a, b = fitted.sample(6, seed=3), again.sample(6, seed=3)
    assert a.shape == (6, 1, 32, 32) and torch.equal(a, b)
    assert not torch.equal(a, fitted.sample(6, seed=4))


def test_bad_input_is_refused(fitted, pots):
    with pytest.raises(UserError, match="completes images"):
        ls.models.create("inpaint").fit(ls.data.load("ring8"), steps=1, progress=False)
    with pytest.raises(UserError, match="cut_low and cut_high"):
        ls.models.create("inpaint", cut_low=0.8, cut_high=0.2).fit(pots, steps=1, progress=False)
    with pytest.raises(UserError, match="shape"):
        fitted.complete(torch.ones(2, 1, 16, 16), torch.ones(2, 1, 16, 16, dtype=torch.bool))
    x = pots.test.to_data()[:2].clone()
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(UserError, match="NaN"):
        fitted.complete(x, torch.ones_like(x, dtype=torch.bool))
    assert unet_depth((64, 64)) == 4 and unet_depth((28, 28)) == 2 and unet_depth((7, 7)) == 0


def test_the_complete_command_uses_an_inpaint_run(tmp_path, capsys):
    code = cli.main(["train", "inpaint", "--data", "pottery-synthetic", "--data-option", "n=64", "--data-option",
                     "n_test=8", "--size", "16", "--steps", "3", "--set", "width=8", "--out", str(tmp_path / "run"),
                     "--no-progress"])
    assert code == 0
    item = ls.data.load("pottery-synthetic", n=64, n_test=8, size=16).test.to_data()[0]
    Image.fromarray((item[0].numpy() * 255).round().astype(np.uint8)).save(tmp_path / "item.png")
    code = cli.main(["complete", str(tmp_path / "run"), "--item", str(tmp_path / "item.png"), "--keep", "base",
                     "--out", str(tmp_path / "whole.npy")])
    assert code == 0 and "completed" in capsys.readouterr().err
    whole = np.load(tmp_path / "whole.npy")
    assert whole.shape == (1, 16, 16)
