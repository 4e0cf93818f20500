"""CycleGAN: networks, losses as documented, the replay buffer, translate/sample, persistence,
deterministic training with exact resume, the bold-MNIST pair, and bad input (API and CLI)."""

import json

import numpy as np
import pytest
import torch
from torch import nn

import latentspace as ls
from latentspace.cli import main
from latentspace.data.pairs import embolden
from latentspace.errors import UserError
from latentspace.models.cyclegan import PatchDiscriminator, ReplayBuffer, ResnetGenerator
from latentspace.storage import load_state

from conftest import shared

TINY = dict(width=4, blocks=1, d_width=4, bank_size=16)


@pytest.fixture(scope="module")
def domains():
    """Domain A: scikit-learn digits (8x8); domain B: the other digits made bold. Unpaired halves."""
    digits = ls.data.load("digits")
    a = digits.subset(torch.arange(0, 120))
    a.test = digits.test
    b = digits.subset(torch.arange(120, 240))
    b = ls.data.Dataset(embolden(b.x), b.y, info=ls.data.DataInfo(**{**digits.info.to_json(), "name": "bold"}))
    return a, b


def fit_tiny(domains, steps=3, **options):
    a, b = domains
    return ls.models.create("cyclegan", **TINY).fit(a, data_b=b, steps=steps, batch_size=8, progress=False,
                                                     **options)


def test_networks_keep_the_shape_and_score_patches():
    x = torch.randn(3, 1, 28, 28)
    G = ResnetGenerator(1, width=8, blocks=2, downsample=2, out_act=nn.Tanh())
    y = G(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    assert PatchDiscriminator(1, width=8, layers=2)(x).shape == (3, 1, 7, 7)  # a 7x7 map of patch scores
    assert PatchDiscriminator(3, width=8, layers=3)(torch.randn(2, 3, 32, 32)).shape == (2, 1, 4, 4)


def test_losses_are_computed_as_documented(domains):
    a, b = domains
    model = ls.models.create("cyclegan", **TINY).build(a.info)
    x_a, x_b = a.x[:5], b.x[:5]
    model.nets_["G"], model.nets_["F"] = nn.Identity(), nn.Identity()
    t = model.generator_terms(x_a, x_b)
    assert float(t["cycle"]) == 0 and float(t["identity"]) == 0  # identity generators: both losses vanish

    class Neg(nn.Module):
        def forward(self, x):
            return -x

    class Zero(nn.Module):
        def forward(self, x):
            return torch.zeros(len(x), 1, 2, 2)

    model.nets_["G"], model.nets_["F"] = Neg(), Neg()
    model.nets_["D_A"], model.nets_["D_B"] = Zero(), Zero()
    t = model.generator_terms(x_a, x_b)
    assert float(t["cycle"]) == 0  # F(G(a)) = a: consistent, though no translation
    expected = 2 * x_b.abs().mean() + 2 * x_a.abs().mean()  # |G(b) - b| + |F(a) - a| = 2|b| + 2|a|
    assert torch.allclose(t["identity"], expected)
    assert float(t["gan_G"]) == 1 and float(t["gan_F"]) == 1  # (D(fake) - 1)^2 with D = 0
    assert torch.equal(t["fake_b"], -x_a) and torch.equal(t["fake_a"], -x_b)
    real, fake = torch.zeros(4, 1, 8, 8), torch.zeros(4, 1, 8, 8)
    assert float(model.discriminator_loss(model.nets_["D_A"], real, fake)) == 0.5  # ((0-1)^2 + 0^2) / 2


def test_replay_buffer_returns_stored_fakes_and_holds_at_most_its_size():
    torch.manual_seed(0)
    pool = ReplayBuffer((1, 2, 2), size=50)
    seen = set()
    old_returned = 0
    for step in range(10):
        fakes = torch.arange(16 * step, 16 * (step + 1), dtype=torch.float32)[:, None, None, None].expand(16, 1, 2, 2)
        out = pool.query(fakes)
        assert out.shape == fakes.shape and int(pool.count) <= 50
        values = out[:, 0, 0, 0].tolist()
        if 16 * (step + 1) <= 50:
            assert torch.equal(out, fakes)  # while the pool fills, fakes pass through
        new = set(fakes[:, 0, 0, 0].tolist())
        assert all(v in new or v in seen for v in values)  # a returned item is new or was stored before
        old_returned += sum(v not in new for v in values)
        seen |= set(pool.items[:int(pool.count), 0, 0, 0].tolist())
    assert int(pool.count) == 50 and len(pool.items) == 50
    assert 0 < old_returned < 16 * 7  # about half of the fakes after the pool filled are swapped
    assert torch.equal(ReplayBuffer((1,), size=0).query(torch.ones(3, 1)), torch.ones(3, 1))


def test_translate_sample_and_save_load_round_trip(domains, tmp_path):
    a, b = domains
    model = fit_tiny(domains)
    x = a.test.to_data()[:6]
    y = model.translate(x)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1  # data space of domain B
    back = model.translate(y, direction="b2a")
    assert back.shape == x.shape and back.min() >= 0 and back.max() <= 1
    s = model.sample(20, seed=3)  # more than the bank of 16: each bank item used once, then again
    assert s.shape == (20, 1, 8, 8) and torch.equal(s, model.sample(20, seed=3))
    assert model.sample(4, seed=3, direction="b2a").shape == (4, 1, 8, 8)
    model.save(tmp_path / "m")
    again = ls.load(tmp_path / "m")
    assert again.get_params() == model.get_params()
    assert torch.equal(again.translate(x), y) and torch.equal(again.translate(y, "b2a"), back)
    assert torch.equal(again.sample(20, seed=3), s)
    with pytest.raises(UserError, match="direction"):
        model.translate(x, direction="a2c")
    with pytest.raises(UserError, match="shape"):
        model.translate(torch.zeros(2, 1, 9, 9))
    with pytest.raises(NotImplementedError):
        model.score_samples(x)


def test_training_is_deterministic_and_resumes_exactly(domains, tmp_path):
    def weights(m):
        return torch.cat([p.flatten() for p in m.nets_.parameters()] + [m.nets_["pool_B"].items.flatten()])

    straight = fit_tiny(domains, steps=6, seed=1, lr_schedule="constant")
    assert torch.equal(weights(straight), weights(fit_tiny(domains, steps=6, seed=1, lr_schedule="constant")))
    assert not torch.equal(weights(straight), weights(fit_tiny(domains, steps=6, seed=2, lr_schedule="constant")))
    run = tmp_path / "run"
    fit_tiny(domains, steps=3, seed=1, lr_schedule="constant", out=run)
    resumed = fit_tiny(domains, steps=6, seed=1, lr_schedule="constant", out=run, resume=True)
    assert torch.equal(weights(resumed), weights(straight))  # B's batches and the replay buffers resume too


def test_bad_input_is_a_clear_error(domains):
    a, b = domains
    model = ls.models.create("cyclegan", **TINY)
    with pytest.raises(UserError, match="data_b"):
        model.fit(a, steps=1)
    wide = ls.data.Dataset(torch.zeros(10, 1, 8, 12), info=ls.data.DataInfo("wide", "image", (1, 8, 12)))
    with pytest.raises(UserError, match="one shape"):
        model.fit(a, data_b=wide, steps=1)
    ring = ls.data.load("ring8", n=100, n_test=10)
    with pytest.raises(UserError, match="translates images"):
        model.fit(ring, data_b=ring, steps=1)
    with pytest.raises(UserError, match="divisible by 8 and at least 16"):
        ls.models.create("cyclegan", downsample=3).fit(a, data_b=b, steps=1)
    with pytest.raises(UserError, match="d_layers"):
        ls.models.create("cyclegan", d_layers=3).fit(a, data_b=b, steps=1)
    with pytest.raises(UserError, match="not fitted"):
        model.translate(a.test.to_data()[:2])


@pytest.fixture
def arrays(tmp_path):
    rng = np.random.default_rng(0)
    for name, thick in (("thin", 0), ("bold", 1)):
        x = np.zeros((40, 8, 8), dtype=np.float32)
        x[:, 2:6, 3:5 + thick] = rng.uniform(0.5, 1.0, (40, 4, 2 + thick))
        np.save(tmp_path / f"{name}.npy", x)
    return tmp_path / "thin.npy", tmp_path / "bold.npy"


def test_cli_trains_resumes_and_samples(arrays, tmp_path, capsys):
    thin, bold = arrays
    run = tmp_path / "run"
    tiny = sum((["--set", f"{k}={v}"] for k, v in TINY.items()), [])
    argv = ["train", "cyclegan", "--data", thin, "--data-b", bold, "--steps", 2, "--batch-size", 8, "--out", run,
            "--no-progress", *tiny]
    assert main([str(v) for v in argv]) == 0
    assert main(["train", "cyclegan", "--steps", "3", "--out", str(run), "--resume", "--no-progress"]) == 0  # B: config
    assert load_state(run / "checkpoints" / "latest.safetensors")["step"] == 3
    assert json.loads((run / "config.json").read_text())["data"]["data_b"]["name_or_path"] == str(bold)
    assert main(["sample", str(run), "--n", "5", "--out", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (5, 1, 8, 8)


def cli_fails(capsys, argv, pattern):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and pattern in err[0], err
    return err[0]


def test_cli_refuses_a_missing_or_stray_data_b(arrays, tmp_path, capsys):
    thin, bold = arrays
    cli_fails(capsys, ["train", "cyclegan", "--data", thin, "--out", tmp_path / "r"], "--data-b")
    cli_fails(capsys, ["train", "gan", "--data", thin, "--data-b", bold, "--out", tmp_path / "r"],
              "--data-b is for models")
    assert not (tmp_path / "r").exists()  # nothing written


def test_bold_mnist_halves_are_disjoint_and_the_test_split_paired():
    from scipy.ndimage import grey_dilation

    folder = shared("mnist")
    a = ls.data.load("mnist-half", data_dir=folder, limit=50)
    b = ls.data.load("bold-mnist", data_dir=folder, limit=50)
    mnist = ls.data.load("mnist", data_dir=folder)
    assert a.shape == b.shape == (1, 28, 28) and len(a) == len(b) == 50
    assert torch.equal(a.x, mnist.x[:50]) and torch.equal(b.x, embolden(mnist.x[30000:30050]))
    assert torch.equal(b.test.x, embolden(a.test.x)) and torch.equal(a.test.y, b.test.y)
    x = a.test.to_data()[:20].numpy()
    assert np.array_equal(b.test.to_data()[:20].numpy(), grey_dilation(x, size=(1, 1, 3, 3)))
    assert (b.test.x >= a.test.x).all()  # a bold digit is nowhere darker than its source
    assert float(b.test.to_data().mean()) > float(a.test.to_data().mean())
