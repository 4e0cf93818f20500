"""Every model through the one API: fit, sample, save, load, sample again identically."""

import numpy as np
import pytest
import torch

from latentspace.train.engine import Batch
import latentspace as ls
from latentspace.errors import UserError

from conftest import shared

MODELS = ["kde", "gmm", "ppca", "gan", "vae"]
QUICK = {"gan": dict(width=8), "vae": dict(width=8), "gmm": dict(n_components=5), "ppca": dict(n_components=8),
         "kde": {}}


@pytest.fixture(scope="module")
def digits():
    return ls.data.load("digits")


@pytest.fixture(scope="module")
def mnist():
    return ls.data.load("mnist", data_dir=shared("mnist"), limit=2000)


def fit_quick(name, data):
    return ls.models.create(name, **QUICK[name]).fit(data, steps=5, batch_size=32, progress=False)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("dataset", ["digits", "mnist"])
def test_fit_sample_save_load_sample(name, dataset, request, tmp_path):
    data = request.getfixturevalue(dataset)
    model = fit_quick(name, data)
    x = model.sample(12, seed=5)
    assert x.shape == (12, *data.shape) and x.dtype == torch.float32
    assert torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1  # pixel intensities in data space
    assert torch.equal(x, model.sample(12, seed=5))
    model.save(tmp_path / "m")
    again = ls.load(tmp_path / "m")
    assert type(again) is type(model) and again.get_params() == model.get_params()
    assert again.info_.to_json() == data.info.to_json()
    assert torch.equal(again.sample(12, seed=5), x)


@pytest.mark.parametrize("name", ["kde", "gmm", "ppca", "vae"])
def test_likelihood_round_trips_and_prefers_real_data(name, digits, tmp_path):
    model = fit_quick(name, digits) if name != "vae" else ls.models.create("vae", width=8, k=20).fit(
        digits, steps=150, batch_size=64, progress=False)
    real = digits.test.to_data()[:40]
    noise = torch.rand_like(real)
    ll_real = model.score_samples(real)
    assert ll_real.shape == (40,) and torch.isfinite(ll_real).all()
    assert ll_real.mean() > model.score_samples(noise).mean()
    model.save(tmp_path / "m")
    assert torch.allclose(ls.load(tmp_path / "m").score_samples(real), ll_real)


def test_gan_has_no_likelihood(digits):
    with pytest.raises(NotImplementedError):
        fit_quick("gan", digits).score_samples(digits.test.to_data()[:2])


def test_vae_importance_estimate_tightens_with_k_on_points():
    data = ls.data.load("moons", n=2000, n_test=200)
    vae = ls.models.create("vae", latent_dim=2).fit(data, steps=300, batch_size=128, progress=False)
    x = data.test.to_data()[:100]
    elbo = vae.elbo(x).mean()
    ll_1 = vae.score_samples(x, k=1).mean()
    ll_200 = vae.score_samples(x, k=200).mean()
    assert abs(float(ll_1 - elbo)) < 0.2  # k = 1 is the ELBO (up to Monte Carlo noise)
    assert ll_200 > ll_1


def test_gan_options_reach_the_networks(digits):
    gan = ls.models.create("gan", width=8, pac=2, latent_dim=5).fit(digits, steps=2, batch_size=16,
                                                                    progress=False)
    assert gan.nets_["D"].features[0].in_channels == 2  # two packed 1-channel images
    assert gan.sample(3).shape == (3, 1, 8, 8)
    assert gan.decode(torch.zeros(2, 5)).shape == (2, 1, 8, 8)
    with pytest.raises(UserError, match=r"shape \(n, 5\)"):
        gan.decode(torch.zeros(2, 4))


def test_sample_before_fit_is_a_clear_error():
    with pytest.raises(UserError, match="not fitted"):
        ls.models.create("gan").sample(3)


def test_unknown_model_and_bad_params():
    with pytest.raises(UserError, match="unknown model"):
        ls.models.create("no-such-model")
    with pytest.raises(UserError, match="no parameter 'depth'"):
        ls.models.create("vae", depth=3)
    with pytest.raises(UserError, match="must be one of"):
        ls.models.create("vae", likelihood="poisson")
    assert ls.models.create("gan", lr="0.001").lr == pytest.approx(1e-3)


def test_vae_on_points_gives_data_space_samples():
    data = ls.data.load("ring8", n=1000, n_test=100)
    vae = ls.models.create("vae").fit(data, steps=50, progress=False)
    x = vae.sample(500, seed=0).numpy()
    radius = np.linalg.norm(x, axis=1)
    assert 0.3 < np.median(radius) < 1.7  # back in the data's units (the ring has radius 1)
    z = vae.encode(data.test.to_data()[:10])
    assert z.shape == (10, 8)
    assert vae.decode(z).shape == (10, 2)


@pytest.fixture(scope="module")
def ring_gan():
    data = ls.data.load("ring8", n=2000, n_test=200)
    return ls.models.create("gan", hidden=64).fit(data, steps=300, batch_size=128, progress=False), data


def test_top_k_trains_the_generator_on_the_best_rated_samples_only():
    data = ls.data.load("ring8", n=500, n_test=100)
    gan = ls.models.create("gan", hidden=16, top_k=0.25).build(data.info)
    gan.configure_optimizers()
    seen = {}
    D = gan.nets_["D"]
    D.register_forward_hook(lambda mod, inp, out: seen.__setitem__("logits", out))
    G = gan.nets_["G"]

    def keep_fake(module, inputs, out):
        if out.requires_grad:
            out.retain_grad()
        seen["fake"] = out

    G.register_forward_hook(keep_fake)
    gan.train_step(Batch(data.x[:64], None, step=100, steps=100, epoch=0), 0)  # late in the run: keep 25%
    grads = seen["fake"].grad.flatten(1).norm(dim=1)
    assert int((grads > 0).sum()) == 16  # 64 generated items, 16 pass gradient back to G
    best = seen["logits"].flatten().topk(16).indices
    assert set(torch.nonzero(grads > 0).flatten().tolist()) == set(best.tolist())


def test_rejection_sampling_keeps_what_the_discriminator_rates_real(ring_gan, tmp_path):
    gan, data = ring_gan
    assert gan.setting("rejection_sampling") and gan.d_max_ is not None
    x = gan.sample(1000, seed=4)
    assert torch.equal(x, gan.sample(1000, seed=4)) and 0 < gan.acceptance_ < 1
    D = gan.nets_["D"]
    with torch.no_grad():
        kept = D(data.info.to_model(x)).mean()
        plain = D(data.info.to_model(gan.decode(torch.randn(1000, gan.z_dim)))).mean()
    assert kept > plain
    again = ls.load(gan.save(tmp_path / "gan"))
    assert again.d_max_ == gan.d_max_ and torch.equal(again.sample(50, seed=1), gan.sample(50, seed=1))
    off = ls.models.create("gan", hidden=64, rejection_sampling=False)
    off.info_, off.nets_, off.ema_, off.d_max_, off.device_ = gan.info_, gan.nets_, gan.ema_, gan.d_max_, gan.device_
    assert torch.equal(off.sample(20, seed=2), gan.decode(off._noise(20, 2, gan.z_dim)))


def test_rejection_sampling_needs_single_item_judgement(digits):
    with pytest.raises(UserError, match="pac=1"):
        ls.models.create("gan", width=8, pac=2, rejection_sampling=True).fit(digits, steps=1, progress=False)
    gan = ls.models.create("gan", width=8).fit(digits, steps=2, batch_size=16, progress=False)
    assert gan.d_max_ is None  # off by default for images: sample() is the plain generator
