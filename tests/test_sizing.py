"""Defaults sized for the machine: the GAN family's image recipe on a CPU, kept by runs and saved models."""

import json

import pytest
import torch

import latentspace as ls
from latentspace import cli
from latentspace.models.gan_recipes import LOSS_RECIPES, RECIPES, recipe
from latentspace.models.neural import NeuralModel
from latentspace.train import run as runfolder


@pytest.fixture(scope="module")
def digits():
    return ls.data.load("digits")


@pytest.mark.parametrize("loss, cpu, gpu", [
    ("ns", dict(width=32, batch_size=64, steps=8500, lr=6e-4, lr_d=6e-4),
     dict(width=64, batch_size=256, steps=6000, lr=2e-4, lr_d=2e-4)),
    ("wgan-gp", dict(width=32, batch_size=64, steps=6000, lr=1e-4),
     dict(width=64, batch_size=256, steps=6000, lr=1e-4)),
    ("wgan", dict(width=32, batch_size=64, lr=5e-5, optimizer="rmsprop"), dict(width=64, lr=5e-5, optimizer="rmsprop")),
])
def test_image_recipes_by_machine(digits, loss, cpu, gpu):
    for sized, want in (("cpu", cpu), ("gpu", gpu)):
        got = recipe(RECIPES, LOSS_RECIPES, digits.info, loss, sized)
        assert {k: got[k] for k in want} == want


def test_points_and_volumes_are_sized_alike_on_both(digits):
    ring = ls.data.load("ring8", n=64, n_test=16)
    assert recipe(RECIPES, LOSS_RECIPES, ring.info, "ns", "cpu") == recipe(RECIPES, LOSS_RECIPES, ring.info, "ns",
                                                                           "gpu")


def test_a_cpu_run_uses_and_records_the_cpu_sizing(digits, tmp_path):
    model = ls.models.create("dcgan").fit(digits, steps=2, out=tmp_path / "run", progress=False, device="cpu")
    assert model.sized_for_ == "cpu" and model.setting("width") == 32
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["params"]["width"] is None
    assert config["resolved"]["sized_for"] == "cpu" and config["resolved"]["width"] == 32
    assert config["train"]["batch_size"] == 64
    meta = json.loads((tmp_path / "run" / "model" / "model.json").read_text())
    assert meta["extra"]["sized_for"] == "cpu"
    again = ls.load(tmp_path / "run")
    assert again.sized_for_ == "cpu" and again.setting("width") == 32


def test_given_values_win_over_the_sizing(digits):
    model = ls.models.create("dcgan", width=8).fit(digits, steps=1, batch_size=16, progress=False, device="cpu")
    assert model.setting("width") == 8


def test_runs_and_models_from_before_sizing_keep_their_gpu_sized_networks(digits, tmp_path, monkeypatch):
    """A run without ``sized_for`` in its config (older) resumes, and a model without it loads, with the
    defaults it was trained with (the GPU-sized ones)."""
    monkeypatch.setattr(NeuralModel, "_sized_for", staticmethod(lambda device, run=None: "gpu"))
    ls.models.create("dcgan").fit(digits, steps=2, batch_size=16, out=tmp_path / "run", progress=False,
                                  checkpoint_every=1)
    monkeypatch.undo()
    for name in ("config.json", "model/model.json"):
        path = tmp_path / "run" / name
        meta = json.loads(path.read_text())
        (meta.get("resolved") or {}).pop("sized_for", None)
        (meta.get("extra") or {}).pop("sized_for", None)
        path.write_text(json.dumps(meta))
    assert ls.load(tmp_path / "run").setting("width") == 64
    resumed = ls.models.create("dcgan").fit(digits, steps=3, out=tmp_path / "run", resume=True, progress=False)
    assert resumed.sized_for_ == "gpu" and resumed.setting("width") == 64
    assert runfolder.read_config(tmp_path / "run")["resolved"]["sized_for"] == "gpu"


def test_the_command_line_says_what_it_chose(tmp_path, capsys):
    assert cli.main(["train", "dcgan", "--data", "digits", "--steps", "2", "--out", str(tmp_path / "run"),
                     "--no-progress", "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "defaults sized for a CPU: width 32, batch size 64, 8,500 steps" in err
    assert "lr 0.0006, about 10 minutes" in err
    assert "(on a GPU: width 64, batch size 256, 6,000 steps, lr 0.0002)" in err


def test_the_cgan_keeps_the_learning_rate_it_was_measured_with(digits):
    cgan = ls.models.create("cgan")
    cgan.sized_for_ = "cpu"
    assert {k: cgan.recipe(digits.info)[k] for k in ("width", "steps", "lr", "lr_d")} == dict(width=32, steps=8500,
                                                                                             lr=2e-4, lr_d=2e-4)


def test_a_vae_on_images_on_a_cpu_gets_the_classic_mlp_recipe(digits, tmp_path):
    model = ls.models.create("vae").fit(digits, steps=2, out=tmp_path / "run", progress=False, device="cpu")
    assert model.network_kind() == "mlp" and model.nets_["encoder"].body[0].out_features == 512
    train = runfolder.read_config(tmp_path / "run")["train"]
    assert (train["steps"], train["batch_size"], train["lr_schedule"]) == (2, 100, "cosine")
    again = ls.load(tmp_path / "run")
    assert again.network_kind() == "mlp" and again.sized_for_ == "cpu"
    assert ls.models.create("vae", hidden=64).fit(digits, steps=1, progress=False).nets_["encoder"].body[0] \
        .out_features == 64
    gpu = ls.models.create("vae")
    gpu.sized_for_ = "gpu"
    assert gpu.network_kind(digits.info) == "conv"
    assert gpu.sized_recipe(ls.data.load("ring8", n=64, n_test=16).info) == {}


def test_the_command_line_says_what_it_chose_for_a_vae(tmp_path, capsys):
    assert cli.main(["train", "vae", "--data", "digits", "--steps", "2", "--out", str(tmp_path / "run"),
                     "--no-progress", "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert ("defaults sized for a CPU: arch mlp, hidden 512, batch size 100, lr schedule cosine, steps 24,000"
            in err)


def test_cyclegan_on_a_cpu_gets_the_measured_small_generators(tmp_path, monkeypatch):
    a = ls.data.load("digits")
    b = ls.data.load("digits")
    model = ls.models.create("cyclegan", d_width=8, bank_size=8)
    model.fit(a, data_b=b, steps=1, batch_size=4, out=tmp_path / "run", progress=False, device="cpu")
    assert model.sized_for_ == "cpu" and model._default_steps(a) == 1100
    assert (model.setting("width"), model.setting("blocks")) == (16, 3)
    first_conv = next(m for m in model.nets_["G"].modules() if isinstance(m, torch.nn.Conv2d))
    assert first_conv.out_channels == 16
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    resolved = config["resolved"]
    assert (resolved["width"], resolved["blocks"], resolved["sized_for"]) == (16, 3, "cpu")
    again = ls.load(tmp_path / "run")
    assert (again.setting("width"), again.setting("blocks")) == (16, 3)
    monkeypatch.setattr(NeuralModel, "_sized_for", staticmethod(lambda device, run=None: "gpu"))
    gpu = ls.models.create("cyclegan", blocks=1, d_width=8, bank_size=8).fit(a, data_b=b, steps=1, batch_size=4,
                                                                              progress=False)
    assert (gpu.setting("width"), gpu.setting("blocks"), gpu._default_steps(a)) == (32, 1, 2000)


def test_a_modality_derived_from_images_is_sized_as_images_are():
    profiles = ls.data.load("pottery-synthetic", n=64, n_test=16, size=32)
    assert profiles.info.spec.lineage == ("profile", "image")
    gan = recipe(RECIPES, LOSS_RECIPES, profiles.info, "ns", "cpu")
    assert (gan["width"], gan["batch_size"], gan["steps"], gan["lr"]) == (32, 64, 8500, 6e-4)
    vae = ls.models.create("vae")
    vae.sized_for_ = "cpu"
    assert vae.sized_recipe(profiles.info) == vae.sized_recipe(ls.data.load("digits").info)
    assert vae.sized_recipe(profiles.info)["arch"] == "mlp"
