"""GAN losses (ns, lsgan, hinge, wgan, wgan-gp), the gradient penalty, spectral norm, DiffAugment and the hacks."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from latentspace.train.engine import Batch
import latentspace as ls
from latentspace import cli
from latentspace.errors import UserError
from latentspace.models import gan as gan_module
from latentspace.models import nets
from latentspace.models.augment import diff_augment, parse_policy
from latentspace.models.gan import LOSSES, discriminator_loss, generator_loss, gradient_penalty

TINY = dict(hidden=16, layers=2)


@pytest.fixture(scope="module")
def ring():
    return ls.data.load("ring8", n=512, n_test=64)


@pytest.fixture(scope="module")
def digits():
    return ls.data.load("digits")


def built(data, name="gan", **params):
    """A GAN ready for ``train_step`` without the engine."""
    model = ls.models.create(name, **params).build(data.info)
    model.configure_optimizers()
    return model


def step(model, data, n=64, progress=0.0):
    return model.train_step(Batch(data.x[:n], None, step=round(100 * progress), steps=100, epoch=0), 0)


# -- the losses --------------------------------------------------------------------------
def test_losses_follow_their_formulas():
    real, fake = torch.tensor([[2.0], [0.5]]), torch.tensor([[-1.5], [0.3]])
    bce = F.binary_cross_entropy_with_logits
    assert torch.isclose(discriminator_loss(real, fake, "ns"),
                         bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake)))
    assert torch.isclose(discriminator_loss(real, fake, "lsgan"),
                         0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake ** 2).mean())
    assert torch.isclose(discriminator_loss(real, fake, "hinge"), torch.tensor((0 + 0.5) / 2 + (0 + 1.3) / 2))
    for loss in ("wgan", "wgan-gp"):
        assert torch.isclose(discriminator_loss(real, fake, loss), fake.mean() - real.mean())
    assert torch.isclose(generator_loss(fake, "ns"), F.softplus(-fake).mean())
    assert torch.isclose(generator_loss(fake, "lsgan"), 0.5 * ((fake - 1) ** 2).mean())
    for loss in ("hinge", "wgan", "wgan-gp"):
        assert torch.isclose(generator_loss(fake, loss), -fake.mean())


@pytest.mark.parametrize("loss", ["ns", "lsgan"])
def test_one_sided_label_smoothing_moves_the_real_target_only(loss):
    s = 0.1
    best = torch.tensor([[torch.logit(torch.tensor(1 - s)).item() if loss == "ns" else 1 - s]], requires_grad=True)
    discriminator_loss(best, torch.zeros(1, 1), loss, smoothing=s).backward()
    assert abs(best.grad.item()) < 1e-6  # the real term is minimal at the target 1 - s
    fake = torch.tensor([[-30.0 if loss == "ns" else 0.0]], requires_grad=True)
    discriminator_loss(torch.zeros(1, 1), fake, loss, smoothing=s).backward()
    assert abs(fake.grad.item()) < 1e-6  # fakes keep the target 0


def test_label_smoothing_reaches_the_discriminator_step_and_needs_targets(ring, monkeypatch):
    seen = []
    real_loss = gan_module.discriminator_loss
    monkeypatch.setattr(gan_module, "discriminator_loss", lambda *a: seen.append(a[2:]) or real_loss(*a))
    step(built(ring, label_smoothing=0.2, **TINY), ring)
    assert seen == [("ns", 0.2)]
    with pytest.raises(UserError, match="label_smoothing needs a loss with targets"):
        ls.models.create("wgan-gp", label_smoothing=0.1, **TINY).build(ring.info)


def test_every_loss_trains_and_logs_finite_values(ring):
    for loss in LOSSES:
        model = built(ring, loss=loss, **TINY)
        logs = [step(model, ring) for _ in range(2)][-1]
        assert all(torch.isfinite(torch.tensor(v)) for v in logs.values()), (loss, logs)
        assert ("gp" in logs) == (loss == "wgan-gp")


def test_rejection_sampling_is_for_the_logistic_loss_only(ring):
    assert not built(ring, loss="hinge", **TINY).setting("rejection_sampling")
    with pytest.raises(UserError, match="rejection_sampling needs the logistic"):
        ls.models.create("gan", loss="lsgan", rejection_sampling=True).build(ring.info)
    with pytest.raises(UserError, match="must be one of"):
        ls.models.create("gan", loss="wasserstein")


# -- WGAN ---------------------------------------------------------------------------------
def test_wgan_clips_the_critic_after_each_of_its_five_steps(digits):
    model = built(digits, "wgan", width=8)
    assert isinstance(model.opt_d_, torch.optim.RMSprop) and model.opt_d_.param_groups[0]["lr"] == 5e-5
    calls = []
    opt_step = model.opt_d_.step
    model.opt_d_.step = lambda *a: calls.append(1) or opt_step(*a)
    with torch.no_grad():
        for p in model.nets_["D"].parameters():
            p.normal_(0, 1)  # far outside the clip
    step(model, digits, n=40)
    assert len(calls) == 5
    assert all(p.abs().max() <= 0.01 for p in model.nets_["D"].parameters())


def test_wgan_gp_uses_the_papers_optimiser_and_refuses_a_batch_norm_critic(digits, ring, monkeypatch):
    model = built(digits, "wgan-gp", width=8)
    group = model.opt_d_.param_groups[0]
    assert isinstance(model.opt_d_, torch.optim.Adam) and group["lr"] == 1e-4 and group["betas"] == (0.0, 0.9)
    assert model.setting("d_steps") == 5 and model.setting("gp_lambda") == 10
    points = built(ring, "wgan-gp")  # the grid25 recipe: TTUR, one critic step, a gentler penalty, 128 units
    assert (points.setting("d_steps"), points.setting("gp_lambda"), points.hidden) == (1, 1.0, 128)
    assert points.opt_d_.param_groups[0]["lr"] == pytest.approx(3 * points.opt_g_.param_groups[0]["lr"])
    assert ls.models.create("gan").setting_from(ring.info, "d_steps") == 1
    plain = gan_module.GAN._build

    def with_batch_norm(self, info):
        nets = plain(self, info)
        nets["D"] = nn.Sequential(nn.Flatten(), nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
        return nets

    monkeypatch.setattr(gan_module.GAN, "_build", with_batch_norm)
    with pytest.raises(UserError, match="BatchNorm"):
        ls.models.create("wgan-gp", **TINY).build(ring.info)


# -- the gradient penalty -----------------------------------------------------------------
def linear_critic(w):
    return lambda x: x.flatten(1) @ w


def test_gradient_penalty_is_zero_for_a_1_lipschitz_linear_critic_and_positive_otherwise():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(32, 3, 2, 2, generator=g), torch.randn(32, 3, 2, 2, generator=g)
    w = torch.randn(12, generator=g)
    assert gradient_penalty(linear_critic(w / w.norm()), real, fake) < 1e-6
    assert torch.isclose(gradient_penalty(linear_critic(2 * w / w.norm()), real, fake), torch.tensor(1.0))
    assert gradient_penalty(lambda x: torch.tanh(x.flatten(1)).sum(1), real, fake) > 1e-3


def test_gradient_penalty_takes_the_norm_of_each_items_whole_gradient():
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    net = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 1))
    penalty = gradient_penalty(net, real, fake, generator=torch.Generator().manual_seed(9))
    eps = torch.rand(6, 1, generator=torch.Generator().manual_seed(9))
    by_hand, elementwise = [], []
    for i in range(6):
        x_hat = (eps[i] * real[i] + (1 - eps[i]) * fake[i]).requires_grad_(True)
        (grad,) = torch.autograd.grad(net(x_hat[None]).sum(), x_hat)
        by_hand.append((grad.norm() - 1) ** 2)
        elementwise.append(((grad.abs() - 1) ** 2).mean())
    assert torch.isclose(penalty, torch.stack(by_hand).mean(), atol=1e-6)
    assert not torch.isclose(penalty, torch.stack(elementwise).mean(), atol=1e-3)
    penalty.backward()  # differentiable in the critic's parameters
    assert net[0].weight.grad.abs().sum() > 0


# -- spectral normalisation -----------------------------------------------------------------
@pytest.mark.parametrize("data_name", ["ring", "digits"])
def test_spectral_norm_keeps_every_discriminator_weight_at_singular_value_one(data_name, request):
    data = request.getfixturevalue(data_name)
    torch.manual_seed(0)
    model = built(data, spectral_norm=True, width=8, layers=2)  # 256 units: the default MLP's size
    for _ in range(8):
        step(model, data, n=32)
    D = model.nets_["D"]  # in training mode: the weights its next forward uses
    layers = [m for m in D.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert layers and all(nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    for m in layers:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        # ~1: the power iteration lags a little behind weights that move fast (see spectral_normalise)
        assert abs(float(sigma) - 1.0) < 0.15, (m, float(sigma))
    plain = built(data, width=8, layers=2).nets_["D"]  # without it, N(0, 0.02) weights are far below 1
    assert all(torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2) < 0.8
               for m in plain.modules() if isinstance(m, (nn.Linear, nn.Conv2d)))


def test_spectral_norm_survives_save_and_load(ring, tmp_path):
    model = ls.models.create("wgan-gp", spectral_norm=True, **TINY).fit(ring, steps=3, batch_size=64,
                                                                        progress=False)
    again = ls.load(model.save(tmp_path / "m"))
    assert type(again).__name__ == "WGANGP" and again.loss == "wgan-gp"
    assert torch.equal(again.sample(5, seed=1), model.sample(5, seed=1))


# -- the other hacks -------------------------------------------------------------------------
def test_two_time_scales_give_the_discriminator_its_own_learning_rate(ring):
    model = built(ring, lr=1e-4, lr_d=4e-4, **TINY)
    assert model.opt_g_.param_groups[0]["lr"] == 1e-4 and model.opt_d_.param_groups[0]["lr"] == 4e-4


def test_instance_noise_reaches_the_discriminator_and_anneals_away(ring):
    model = built(ring, instance_noise=0.5, **TINY)
    inputs = []
    model.nets_["D"].register_forward_pre_hook(lambda mod, args: inputs.append(args[0].detach()))
    x = ring.x[:64]
    step(model, ring, progress=0.0)
    assert 0.4 < float((inputs[0][:64] - x).std()) < 0.6
    inputs.clear()
    step(model, ring, progress=0.6)  # past half the run: no noise
    assert torch.equal(inputs[0][:64], x)


def test_ema_generator_follows_the_decay(ring, monkeypatch):
    torch.manual_seed(5)
    init = [p.detach().clone() for p in ls.models.create("gan", **TINY).build(ring.info).nets_["G"].parameters()]
    model = ls.models.create("gan", ema_decay=0.2, **TINY)
    raws = []
    plain_step = model.train_step

    def recording(batch, i):
        logs = plain_step(batch, i)
        raws.append([p.detach().clone() for p in model.nets_["G"].parameters()])
        return logs

    monkeypatch.setattr(model, "train_step", recording)
    model.fit(ring, steps=3, batch_size=64, seed=5, progress=False)
    expected = init
    for t, raw in enumerate(raws):  # the engine's decay, warmed up: min(ema_decay, (1 + t) / (10 + t))
        d = min(0.2, (1 + t) / (10 + t))
        expected = [d * e + (1 - d) * r for e, r in zip(expected, raw)]
    ema = list(model.eval_net("G").parameters())
    assert all(torch.allclose(e, a, atol=1e-6) for e, a in zip(expected, ema))
    assert any(not torch.allclose(a, r) for a, r in zip(ema, raws[-1]))  # and differ from the raw weights


@pytest.mark.parametrize("loss", ["hinge", "wgan-gp"])
def test_top_k_applies_to_every_loss(ring, loss):
    model = built(ring, loss=loss, top_k=0.25, d_steps=1, **TINY)
    fakes = []

    def keep(module, inputs, out):
        if out.requires_grad:
            out.retain_grad()
            fakes.append(out)

    model.nets_["G"].register_forward_hook(keep)
    step(model, ring, progress=1.0)
    assert int((fakes[-1].grad.flatten(1).norm(dim=1) > 0).sum()) == 16


# -- DiffAugment ------------------------------------------------------------------------------
def test_diff_augment_is_differentiable_changes_items_and_is_off_when_empty():
    x = torch.rand(6, 3, 16, 16, requires_grad=True)
    y = diff_augment(x, "translation,cutout,color", generator=torch.Generator().manual_seed(0))
    assert y.shape == x.shape and not torch.allclose(y, x)
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert diff_augment(x, "") is x
    cut = diff_augment(torch.ones(200, 1, 8, 8), "cutout", generator=torch.Generator().manual_seed(1))
    zeros = (cut == 0).flatten(1).sum(1)
    assert zeros.max() == 16 and zeros.min() >= 4  # a half-size square (4 x 4), maybe clipped at the border
    volume = diff_augment(torch.ones(2, 1, 8, 8, 8, requires_grad=True), "translation,cutout")
    assert (volume == 0).any()

def shifted(x, dy, dx):
    """``x`` (C, H, W) moved by (dy, dx) pixels, zero-filled."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    out[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = x[..., max(-dy, 0):h - max(dy, 0),
                                                                       max(-dx, 0):w - max(dx, 0)]
    return out


def test_translation_shifts_by_at_most_an_eighth_with_zero_padding():
    x = torch.arange(1.0, 65.0).view(1, 1, 8, 8).expand(40, 1, 8, 8)
    moved = diff_augment(x, "translation", generator=torch.Generator().manual_seed(3))
    shifts = [[(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if torch.equal(m, shifted(x[0], dy, dx))]
              for m in moved]
    assert all(len(s) == 1 for s in shifts)  # every item is the image moved by at most 8/8 = 1 pixel
    assert len({s[0] for s in shifts}) > 3  # each item draws its own shift


def test_diff_augment_refuses_what_does_not_apply(ring):
    with pytest.raises(UserError, match="unknown diffaugment"):
        parse_policy("translation,flip")
    with pytest.raises(UserError, match="does not apply to volumes"):
        diff_augment(torch.zeros(2, 1, 4, 4, 4), "color")
    with pytest.raises(UserError, match="points"):
        ls.models.create("gan", diffaugment="cutout").build(ring.info)


def test_the_discriminator_sees_augmented_items_in_both_steps(digits):
    model = built(digits, width=8, diffaugment="translation,cutout")
    inputs, outputs = [], []
    model.nets_["D"].register_forward_pre_hook(lambda mod, args: inputs.append(args[0].detach()))
    model.nets_["G"].register_forward_hook(lambda mod, args, out: outputs.append(out))
    x = digits.x[:16]
    step(model, digits, n=16)
    real_seen, gen_seen = inputs[0][:16], inputs[-1]
    assert not torch.equal(real_seen, x) and ((real_seen == 0) & (x != 0)).any()
    assert not torch.equal(gen_seen, outputs[-1].detach()) and (gen_seen == 0).any()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.nets_["G"].parameters())


# -- the registry ---------------------------------------------------------------------------
def test_dcgan_wgan_and_wgan_gp_are_the_gan_under_other_defaults(ring, digits, capsys):
    for name, loss in (("dcgan", "ns"), ("wgan", "wgan"), ("wgan-gp", "wgan-gp")):
        model = ls.models.create(name)
        assert isinstance(model, gan_module.GAN) and model.loss == loss and model.get_params().keys() == \
            ls.models.create("gan").get_params().keys()
    assert ls.models.create("wgan", loss="hinge").loss == "hinge"
    dcgan = built(ring, "dcgan", **TINY)
    group = dcgan.opt_g_.param_groups[0]
    assert group["lr"] == 2e-4 and group["betas"] == (0.5, 0.999) and isinstance(dcgan.nets_["D"][1], nn.Sequential)
    assert built(digits, "dcgan", width=8).recipe(digits.info) == built(digits, width=8).recipe(digits.info)
    assert cli.main(["list", "models"]) == 0
    listed = capsys.readouterr().out
    assert all(f"  {name} " in listed for name in ("dcgan", "wgan", "wgan-gp"))


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8), (3, 32, 32), (1, 32, 32, 32), (1, 12, 20, 16)])
def test_transposed_and_nearest_decoders_give_the_exact_shape(shape):
    for upsample in ("nearest", "transposed"):
        net = nets.ConvDecoder(16, shape, width=8, upsample=upsample)
        assert net(torch.randn(3, 16)).shape == (3, *shape)


def test_conv_generators_upsample_by_transposed_convs_for_volumes_and_nearest_for_images(tmp_path):
    np.save(tmp_path / "vox.npy", np.random.default_rng(0).random((40, 16, 16, 16)) > 0.5)
    volume = ls.data.load(str(tmp_path / "vox.npy"))
    image = ls.data.load("digits")
    kinds = {}
    for name, data in (("volume", volume), ("image", image)):
        for upsample in ("auto", "nearest", "transposed"):
            gan = ls.models.create("gan", width=8, upsample=upsample).build(data.info)
            mods = list(gan.nets_["G"].modules())
            kinds[name, upsample] = ("transposed" if any(isinstance(m, (nn.ConvTranspose2d, nn.ConvTranspose3d))
                                                         for m in mods) else "nearest")
            assert not (kinds[name, upsample] == "transposed" and any(isinstance(m, nn.Upsample) for m in mods))
    assert kinds["volume", "auto"] == "transposed" and kinds["image", "auto"] == "nearest"
    assert all(kinds[name, up] == up for name in ("volume", "image") for up in ("nearest", "transposed"))
    with pytest.raises(UserError, match="upsample"):
        ls.models.create("gan", upsample="bilinear")


def test_volumes_default_to_the_gate_and_mode_seeking_and_other_data_to_neither(tmp_path, ring):
    np.save(tmp_path / "vox.npy", np.random.default_rng(0).random((40, 16, 16, 16)) > 0.5)
    volume, image = ls.data.load(str(tmp_path / "vox.npy")), ls.data.load("digits")

    def defaults(data, **params):
        gan = ls.models.create("gan", width=8, **params).build(data.info)
        return gan.setting("d_gate"), gan.setting("mode_seeking")

    assert defaults(volume) == (0.8, 0.05) and defaults(volume, loss="hinge") == (0.8, 0.05)
    assert defaults(volume, loss="wgan-gp") == (0.0, 0.05)  # a Wasserstein critic takes no gate
    assert defaults(volume, d_gate=0.0, mode_seeking=0.0) == (0.0, 0.0)
    assert defaults(image) == (0.0, 0.0) and defaults(ring) == (0.0, 0.0)
    assert ls.models.create("wgan", width=8).build(volume.info).setting("d_steps") == 5  # loss recipe kept
    logs = step(built(volume, width=8), volume, n=8)
    assert 0.0 <= logs["d_acc"] <= 1.0 and logs["ms_ratio"] > 0


def test_volumes_train_at_a_constant_learning_rate_by_default_and_images_at_a_decaying_one(tmp_path):
    np.save(tmp_path / "vox.npy", np.random.default_rng(0).random((40, 8, 8, 8)) > 0.5)
    volume, image = ls.data.load(str(tmp_path / "vox.npy")), ls.data.load("digits")
    for data, schedule, steps in ((volume, "constant", 3600), (image, "linear", 6000)):
        gan = ls.models.create("gan", width=8)
        assert gan._default_steps(data) == steps
        gan.fit(data, steps=2, batch_size=8, progress=False, out=tmp_path / schedule)
        config = json.loads((tmp_path / schedule / "config.json").read_text())
        assert config["train"]["lr_schedule"] == schedule


@pytest.mark.parametrize("loss", ["ns", "lsgan", "hinge"])
def test_d_accuracy_counts_real_above_and_fake_below_the_threshold(loss):
    t = 0.5 if loss == "lsgan" else 0.0
    real = torch.tensor([t + 1, t + 1, t - 1, t + 2])  # 3 of 4 right
    fake = torch.tensor([t - 1, t + 1, t - 3, t - 1])  # 3 of 4 right
    assert gan_module.d_accuracy(real, fake, loss) == pytest.approx(0.75)


def test_d_gate_skips_the_discriminator_update_only_when_it_is_accurate_enough(ring):
    def d_change(gate):
        torch.manual_seed(0)
        model = built(ring, d_gate=gate, **TINY)
        before = [p.detach().clone() for p in model.nets_["D"].parameters()]
        logs = step(model, ring)
        moved = any(not torch.equal(a, b) for a, b in zip(before, model.nets_["D"].parameters()))
        return moved, logs["d_acc"]

    moved, acc = d_change(1.0)  # accuracy can never exceed 1: always updates
    assert moved and 0.0 < acc <= 1.0
    moved, _ = d_change(acc / 2)  # below this (same, seeded) batch's accuracy: skipped
    assert not moved
    assert "d_acc" not in step(built(ring, **TINY), ring)  # off by default
    with pytest.raises(UserError, match="d_gate"):
        built(ring, d_gate=0.8, loss="wgan-gp", **TINY)
    with pytest.raises(UserError, match="d_gate"):
        built(ring, d_gate=1.5, **TINY)


def test_group_std_is_zero_for_identical_items_and_grows_with_their_spread():
    a, b = torch.randn(2, 3, 4, 4)
    h = torch.stack([a, a, a, a, a, b, a, b])  # groups of 4: identical, then varied
    s = nets.group_std(h, 4)
    assert s.shape == (8, 1, 4, 4)
    assert torch.all(s[:4] < 1e-3) and torch.all(s[4:] > 1e-2)
    assert torch.equal(s[4], s[7])  # one value per group and position
    wide = nets.group_std(torch.stack([a, a, a, a, a, 3 * b, a, 3 * b]), 4)
    assert wide[4:].mean() > s[4:].mean()


def test_minibatch_std_scores_real_and_generated_items_in_separate_forwards(digits, ring):
    def d_calls(**params):
        model = built(digits, width=8, **params)
        calls = []
        model.nets_["D"].register_forward_pre_hook(lambda mod, args: calls.append(len(args[0])))
        step(model, digits, n=16)
        return calls

    assert d_calls() == [32, 16]                  # real and generated together, then the generator's step
    assert d_calls(minibatch_std=4) == [16, 16, 16]
    model = built(digits, width=8, minibatch_std=4)
    assert model.nets_["D"].head.in_features == model.nets_["D"].flat_dim + 16  # one extra 4x4 map
    cgan = ls.models.create("cgan", width=8, minibatch_std=4, projection=True).fit(digits, steps=2, batch_size=16,
                                                                                  progress=False)
    assert cgan.sample(4, seed=0).shape == (4, 1, 8, 8)
    for bad in (1, -2):
        with pytest.raises(UserError, match="minibatch_std"):
            built(digits, width=8, minibatch_std=bad)
    with pytest.raises(UserError, match="minibatch_std"):
        built(ring, minibatch_std=4, **TINY)


# -- mode seeking ------------------------------------------------------------------------------
def test_mode_seeking_ratio_is_item_spread_over_code_spread():
    x1, x2 = torch.zeros(3, 2), torch.full((3, 2), 0.5)
    z1, z2 = torch.zeros(3, 4), torch.full((3, 4), -2.0)
    assert torch.isclose(gan_module.mode_seeking_ratio(x1, x2, z1, z2), torch.tensor(0.25))
    assert gan_module.mode_seeking_ratio(x1, x1, z1, z2) == 0  # a collapsed generator


def test_mode_seeking_adds_its_term_to_the_generator_loss(ring):
    def logs(weight):
        torch.manual_seed(0)
        model = built(ring, mode_seeking=weight, **TINY)
        torch.manual_seed(1)
        return step(model, ring)

    plain, seeking = logs(0.0), logs(0.5)
    assert "ms_ratio" not in plain and seeking["ms_ratio"] > 0
    assert seeking["loss_d"] == pytest.approx(plain["loss_d"])
    assert seeking["loss_g"] == pytest.approx(plain["loss_g"] + 0.5 / (seeking["ms_ratio"] + 1e-5), rel=1e-5)
    lone = step(built(ring, mode_seeking=0.5, **TINY), ring, n=1)  # no pair to compare
    assert "ms_ratio" not in lone and np.isfinite(lone["loss_g"])
    with pytest.raises(UserError, match="mode_seeking"):
        built(ring, mode_seeking=-1.0, **TINY)


def test_mode_seeking_pairs_codes_of_the_same_label_in_a_conditional_gan():
    digits = ls.data.load("digits")
    model = built(digits, name="cgan", width=8, mode_seeking=1.0)
    seen = []
    model.generate = (lambda generate: lambda z, y=None: seen.append(y) or generate(z, y))(model.generate)
    batch = Batch(digits.x[:15], digits.y[:15], step=0, steps=100, epoch=0)
    model.train_step(batch, 0)
    g_labels = seen[-1]  # the generator's step: pairs (i, i + 7) share a label, the odd one keeps its own
    assert torch.equal(g_labels[:7], g_labels[7:14]) and torch.equal(g_labels[:7], digits.y[:7])
    assert g_labels[14] == digits.y[14] and not torch.equal(g_labels, digits.y[:15])


def test_jitter_is_the_identity_at_zero_and_fills_with_the_edge():
    from latentspace.models.augment import jitter

    x = torch.rand(3, 1, 8, 8)
    assert torch.allclose(jitter(x, scale=0.0, shift=0.0), x, atol=1e-6)
    white = torch.ones(4, 1, 16, 16)
    white[:, :, 6:10, 6:10] = 0.0                        # a black square on white
    out = jitter(white, scale=0.1, shift=0.125, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(out[..., 0, :], torch.ones(4, 16)) and torch.allclose(out[..., :, -1], torch.ones(4, 16))
    assert (out < 0.5).sum((1, 2, 3)).min() >= 9          # the square stays (scaled by at most 10%)
    again = jitter(white, scale=0.1, shift=0.125, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again) and not torch.equal(out, white)
    volume = torch.rand(2, 1, 4, 4, 4, requires_grad=True)
    jitter(volume).sum().backward()
    assert volume.grad is not None
    with pytest.raises(UserError, match="images and volumes"):
        jitter(torch.rand(3, 2))
