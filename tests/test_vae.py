"""The VAE family: the likelihood estimator validated on a linear-Gaussian model (PPCA), each
likelihood's normalisation, each flavour's option doing what it says, labels, binarisation,
persistence and bad input."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from latentspace.train.engine import Batch
import latentspace as ls
from latentspace.data.arrays import points_dataset
from latentspace.errors import UserError
from latentspace.metrics import evaluate, format_results
from latentspace.metrics.likelihood import heldout_nll
from latentspace.models.likelihoods import binarize
from latentspace.models.vae import (
    continuous_bernoulli_log_norm,
    continuous_bernoulli_log_prob,
    continuous_bernoulli_mean,
    discretized_logistic_log_prob,
    gaussian_log_prob,
)

FLAVOURS = ["vae", "beta-vae", "iwae", "cvae"]
TINY = dict(width=8, hidden=32, latent_dim=4, k=20)


@pytest.fixture(scope="module")
def digits():
    return ls.data.load("digits")


def linears(net):
    return [m for m in net.modules() if isinstance(m, nn.Linear)]


# -- the importance-sampled likelihood against exact answers ------------------------------------
@pytest.fixture(scope="module")
def ppca_as_vae(digits):
    """A linear-Gaussian VAE holding PPCA's parameters, its encoder off the exact posterior on purpose."""
    ppca = ls.models.create("ppca", n_components=4).fit(digits)
    w = torch.from_numpy(ppca.components_).float()             # (64, 4), model space
    mu = torch.from_numpy(ppca.pca_.mean).float()
    s2 = float(ppca.noise_variance_)
    vae = ls.models.create("vae", likelihood="gaussian", sigma=math.sqrt(s2), layers=0, latent_dim=4).build(digits.info)
    (enc,), (dec,) = linears(vae.nets_["encoder"]), linears(vae.nets_["decoder"])
    m = w.T @ w + s2 * torch.eye(4)                            # diagonal: PPCA's W has orthogonal columns
    assert torch.allclose(m, torch.diag(torch.diag(m)), atol=1e-4)
    a = torch.linalg.solve(m, w.T)                             # E[z|x] = M^-1 W^T (x - mu)
    post_logvar = torch.log(s2 / torch.diag(m))                # Var[z|x] = s2 M^-1
    with torch.no_grad():
        dec.weight.copy_(w)
        dec.bias.copy_(mu)
        enc.weight.zero_()
        enc.bias.zero_()
        enc.weight[:4] = a
        # q(z|x) is off the posterior: means shifted by half a posterior sd, variances 1.6 times too wide
        enc.bias[:4] = -a @ mu + 0.5 * torch.exp(0.5 * post_logvar)
        enc.bias[4:] = post_logvar + 0.5
    vae.set_train(False)
    return ppca, vae


def test_importance_estimate_is_within_half_a_nat_of_exact_ppca_and_tightens_with_k(ppca_as_vae, digits):
    ppca, vae = ppca_as_vae
    x = digits.test.to_data()[:200]
    exact = ppca.score_samples(x)                              # log N(x; mu, W W^T + s2 I), data space
    est = {k: vae.score_samples(x, k=k, seed=1) for k in (1, 10, 100, 1000)}
    gap = (exact - est[1000]).abs()
    assert float(gap.max()) < 0.5 and float(gap.mean()) < 0.05
    means = [float(est[k].mean()) for k in (1, 10, 100, 1000)]
    assert means[0] < means[1] < means[2] < means[3] + 0.005, means
    assert float(exact.mean()) - means[0] > 0.3                # k = 1 pays KL(q || posterior), ~0.8 nats here
    assert float((est[1000] - exact).mean()) < 0.005           # a lower bound in expectation
    # k = 1 is the ELBO (Monte Carlo KL); elbo() uses the analytic KL: equal in expectation
    torch.manual_seed(0)
    elbo = float(vae.elbo(x.repeat(20, 1, 1, 1)).mean())    # 20 draws per item
    assert elbo == pytest.approx(float(vae.score_samples(x.repeat(20, 1, 1, 1), k=1, seed=2).mean()), abs=0.1)


def test_importance_estimate_on_a_trained_linear_vae_matches_its_closed_form():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((3000, 2))
    x = z @ rng.standard_normal((2, 5)) + 0.3 * rng.standard_normal((3000, 5)) + 2.0
    data = points_dataset("linear-gaussian", x)
    vae = ls.models.create("vae", layers=0, latent_dim=2, likelihood="gaussian", lr=1e-2, prior="normal")
    vae.fit(data, steps=400, batch_size=256, progress=False)
    (dec,) = linears(vae.nets_["decoder"])
    w, b = dec.weight.detach().double(), dec.bias.detach().double()
    cov = w @ w.T + torch.diag(vae.nets_["obs"]().detach().double().exp())
    xt = data.test.to_data()[:300]
    exact = torch.distributions.MultivariateNormal(b, cov).log_prob(data.info.to_model(xt).double())
    exact = exact + vae._log_det_to_data()
    est = vae.score_samples(xt, k=1000)
    assert float((exact - est).abs().max()) < 0.5
    k1, k100 = (float(vae.score_samples(xt, k=k).mean()) for k in (1, 100))
    assert k1 < k100 < float(exact.mean()) + 0.01


# -- likelihoods are normalised ------------------------------------------------------------------
def test_continuous_bernoulli_normaliser_is_log2_at_one_half_and_matches_the_closed_form():
    assert float(continuous_bernoulli_log_norm(torch.tensor(0.0))) == pytest.approx(math.log(2), abs=1e-7)
    lam = torch.tensor([0.001, 0.05, 0.3, 0.45, 0.49, 0.51, 0.7, 0.999], dtype=torch.float64)
    closed = torch.log(2 * torch.atanh(1 - 2 * lam) / (1 - 2 * lam))
    assert torch.allclose(continuous_bernoulli_log_norm(torch.logit(lam)), closed, atol=1e-9)
    # both branches are accurate where they meet (|eta| = 0.1) and near 0, in float32 too
    eta = torch.tensor([-0.1 - 1e-6, -0.1 + 1e-6, 0.1 - 1e-6, 0.1 + 1e-6, 1e-3, -0.03, 0.5], dtype=torch.float64)
    closed = torch.log(eta / torch.tanh(eta / 2))
    assert torch.allclose(continuous_bernoulli_log_norm(eta), closed, atol=1e-11, rtol=0)
    assert torch.allclose(continuous_bernoulli_log_norm(eta.float()).double(), closed, atol=1e-6, rtol=0)
    e0 = torch.zeros(3, requires_grad=True)
    continuous_bernoulli_log_norm(e0).sum().backward()
    assert torch.isfinite(e0.grad).all() and float(e0.grad.abs().max()) < 1e-6
    big = torch.tensor([30.0, -80.0], requires_grad=True)
    continuous_bernoulli_log_norm(big).sum().backward()
    assert torch.isfinite(big.grad).all()


@pytest.mark.parametrize("eta", [0.0, 1e-4, -0.05, 0.1, 2.0, -7.0, 15.0])
def test_continuous_bernoulli_density_integrates_to_one_and_has_its_mean(eta):
    x = torch.linspace(0, 1, 200_001, dtype=torch.float64)
    p = continuous_bernoulli_log_prob(x, torch.full_like(x, eta)).exp()
    assert float(torch.trapezoid(p, x)) == pytest.approx(1.0, abs=1e-6)
    mean = float(torch.trapezoid(x * p, x))
    assert float(continuous_bernoulli_mean(torch.tensor(eta, dtype=torch.float64))) == pytest.approx(mean, abs=1e-6)


@pytest.mark.parametrize("mean,log_scale", [(0.5, -3.0), (0.0, -5.0), (1.02, -2.0), (0.3, 1.0), (0.7, -7.0),
                                            (0.5, -9.0)])
def test_discretised_logistic_sums_to_one_over_256_levels(mean, log_scale):
    x = torch.arange(256, dtype=torch.float64) / 255
    lp = discretized_logistic_log_prob(x, torch.full_like(x, mean), torch.full_like(x, log_scale))
    assert torch.isfinite(lp).all()
    assert float(lp.exp().sum()) == pytest.approx(1.0, abs=1e-6)
    s = math.exp(max(log_scale, -7.0))
    inner = torch.sigmoid((x[100] + 0.5 / 255 - mean) / s) - torch.sigmoid((x[100] - 0.5 / 255 - mean) / s)
    assert float(lp[100].exp()) == pytest.approx(float(inner), rel=1e-6, abs=1e-12)
    # values between levels fall into the nearest level's bin
    assert torch.allclose(discretized_logistic_log_prob(x + 0.3 / 255, torch.full_like(x, mean),
                                                        torch.full_like(x, log_scale)), lp)


def test_bernoulli_and_gaussian_likelihoods_are_normalised():
    logits = torch.tensor([-3.0, 0.0, 2.5])
    from latentspace.models.vae import bernoulli_log_prob
    total = bernoulli_log_prob(torch.zeros(3), logits).exp() + bernoulli_log_prob(torch.ones(3), logits).exp()
    assert torch.allclose(total, torch.ones(3))
    x = torch.linspace(-10, 10, 20001, dtype=torch.float64)
    p = gaussian_log_prob(x, torch.tensor(0.5, dtype=torch.float64), torch.tensor(0.3, dtype=torch.float64)).exp()
    assert float(torch.trapezoid(p, x)) == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "continuous-bernoulli", "logistic"])
def test_every_likelihood_trains_on_images_and_scores(likelihood, digits):
    vae = ls.models.create("vae", likelihood=likelihood, **TINY).fit(digits, steps=30, batch_size=64, progress=False)
    x = digits.test.to_data()[:8]
    ll = vae.score_samples(x)
    assert ll.shape == (8,) and torch.isfinite(ll).all()
    s = vae.sample(6, seed=0)
    assert s.min() >= 0 and s.max() <= 1 and torch.isfinite(s).all()
    if likelihood == "logistic":
        assert vae.nets_["decoder"].out_shape == (2, 8, 8)    # a mean and a log-scale per pixel
        assert float(ll.max()) <= 0                           # a probability of 8-bit values


# -- each option and flavour does what it says ---------------------------------------------------
def _with_same_weights(digits, **params):
    torch.manual_seed(0)
    return ls.models.create("vae", **{**TINY, **params}).build(digits.info)


def test_beta_weights_the_kl(digits):
    x, eps = digits.x[:16], torch.randn(1, 16, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        one = _with_same_weights(digits).loss_terms(x, eps=eps)
        four = _with_same_weights(digits, beta=4.0).loss_terms(x, eps=eps)
    assert float(four["loss"] - one["loss"]) == pytest.approx(3 * float(one["kl"]), rel=1e-5)
    assert float(four["rec"]) == pytest.approx(float(one["rec"]))
    preset = ls.models.create("beta-vae")
    assert preset.beta == 4.0 and preset.get_params()["beta"] == 4.0
    assert ls.models.create("beta-vae", beta=8).beta == 8.0


def test_warmup_ramps_the_kl_weight_linearly(digits):
    vae = ls.models.create("vae", beta=2.0, warmup=100)
    assert [vae.kl_weight(t) for t in (0, 25, 50, 100, 1000)] == [0.0, 0.5, 1.0, 2.0, 2.0]
    assert ls.models.create("vae").kl_weight(0) == 1.0
    vae = ls.models.create("vae", warmup=4, **TINY).build(digits.info)
    vae.configure_optimizers()
    logs = [vae.train_step(Batch(digits.x[:32], None, step=t, steps=100, epoch=0), t)["kl_weight"] for t in range(6)]
    assert logs == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]


def test_free_bits_floor_each_dimensions_kl(digits):
    x, eps = digits.x[:32], torch.randn(1, 32, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        plain = _with_same_weights(digits).loss_terms(x, eps=eps)
        floored = _with_same_weights(digits, free_bits=50.0).loss_terms(x, eps=eps)  # far above any dimension's KL
    assert float(plain["kl_term"]) == pytest.approx(float(plain["kl"]))
    assert float(floored["kl_term"]) == pytest.approx(4 * 50.0)
    assert float(floored["kl"]) == pytest.approx(float(plain["kl"]))  # the logged KL is the true one
    # below the floor the KL pushes nothing: the encoder's gradient is the reconstruction's alone
    vae = _with_same_weights(digits, free_bits=50.0)
    vae.loss_terms(x, eps=eps)["loss"].backward()
    g_floor = [p.grad.clone() for p in vae.nets_["encoder"].parameters()]
    ref = _with_same_weights(digits)
    ref.loss_terms(x, eps=eps)["rec"].backward()
    for a, b in zip(g_floor, ref.nets_["encoder"].parameters()):
        assert torch.allclose(a, b.grad, atol=1e-6)


def test_iwae_with_one_sample_is_the_vae_loss(digits):
    x = digits.x[:16]
    eps = torch.randn(1, 16, 4, generator=torch.Generator().manual_seed(3))
    iwae = _with_same_weights(digits, objective="iwae", k_train=1)
    vae = _with_same_weights(digits)
    t = iwae.log_weights(x, eps=eps)
    mc_elbo = (t["log_px"] + t["log_pz"] - t["log_qz"]).mean().item()
    assert iwae.loss_terms(x, eps=eps)["loss"].item() == pytest.approx(-mc_elbo, rel=1e-6)
    # ... the VAE loss with a Monte Carlo KL; in expectation over the noise, the VAE loss itself
    many = torch.randn(2000, 16, 4, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        t = iwae.log_weights(x, eps=many)
        iwae_mean = -float((t["log_px"] + t["log_pz"] - t["log_qz"]).mean())
        vae_mean = float(vae.loss_terms(x, eps=many)["loss"])
    assert iwae_mean == pytest.approx(vae_mean, rel=2e-3)
    # with more samples the bound is tighter (at the same weights)
    with torch.no_grad():
        k5 = _with_same_weights(digits, objective="iwae", k_train=5)
        bounds = [float(k5.loss_terms(x, eps=torch.randn(5, 16, 4))["bound"]) for _ in range(20)]
    assert np.mean(bounds) > -iwae_mean
    preset = ls.models.create("iwae")
    assert (preset.objective, preset.k_train) == ("iwae", 5)


def test_iwae_trains_and_logs_its_bound(digits):
    iwae = ls.models.create("iwae", **TINY).build(digits.info)
    iwae.configure_optimizers()
    logs = iwae.train_step(Batch(digits.x[:32], None, step=0, steps=100, epoch=0), 0)
    assert set(logs) == {"loss", "elbo", "rec", "kl", "bound", "kl_weight"}
    assert logs["loss"] == pytest.approx(-logs["bound"])


def test_dynamic_binarisation_draws_afresh_and_the_test_split_is_fixed(digits):
    vae = ls.models.create("vae", **TINY).build(digits.info)
    assert vae.obs_model == "bernoulli" and vae.binarized
    a, b = vae._train_items(digits.x[:50]), vae._train_items(digits.x[:50])
    assert set(a.unique().tolist()) <= {-1.0, 1.0} and not torch.equal(a, b)
    grey = ls.models.create("vae", likelihood="continuous-bernoulli").build(digits.info)
    assert not grey.binarized and torch.equal(grey._train_items(digits.x[:5]), digits.x[:5])
    off = ls.models.create("vae", binarize="off").build(digits.info)
    assert not off.binarized
    x = digits.test.to_data()
    fixed, note = vae.likelihood_items(x)
    assert torch.equal(fixed, vae.likelihood_items(x)[0]) and "fixed seed" in note
    assert torch.equal(binarize(x[:37]), fixed[:37])          # the first items are binarised the same way
    # on average the binarisation keeps the intensities
    assert float((fixed.mean() - x.mean()).abs()) < 0.01


def test_evaluate_reports_the_estimate_beside_the_elbo_on_binarised_test_items(digits):
    vae = ls.models.create("vae", **TINY).fit(digits, steps=40, batch_size=64, progress=False)
    res = evaluate(vae, digits, n=100, nll_items=30)
    s, d = res["scores"], res["details"]
    assert {"nll_nats", "nll_bits_per_dim", "nelbo_nats", "nelbo_bits_per_dim"} <= set(s)
    assert s["nll_nats"] < s["nelbo_nats"] + 1.0               # the estimate is the tighter bound
    assert s["nll_bits_per_dim"] == pytest.approx(s["nll_nats"] / (64 * math.log(2)))
    assert d["likelihood_k"] == 20 and "fixed seed" in d["likelihood_items"]
    assert 0 <= d["active_units"] <= 4 and d["latent_dim"] == 4
    text = format_results(res)
    assert "negative ELBO" in text and "binarised once with fixed seed 0" in text and "active latent units" in text
    # the scored items are the fixed binarisation of the held-out split
    binary, _ = vae.likelihood_items(digits.test.to_data())
    assert s["nll_nats"] == pytest.approx(-float(vae.score_samples(binary[:30]).mean()))


def test_active_units_count_the_dimensions_the_encoder_uses(digits):
    vae = ls.models.create("vae", layers=0, latent_dim=4, likelihood="gaussian").build(digits.info)
    (enc,) = linears(vae.nets_["encoder"])
    with torch.no_grad():
        enc.weight.zero_()
        enc.bias.zero_()
        enc.weight[0, :] = 1.0                                  # two means that vary with x, two constant
        enc.weight[2, 10] = 0.5
    x = digits.test.to_data()
    act = vae.latent_activity(x)
    assert act[1] == 0 and act[3] == 0 and act[0] > 0.01 and act[2] > 0.01
    assert vae.active_units(x) == 2
    fitted = ls.models.create("vae", **TINY).fit(digits, steps=20, batch_size=64, progress=False)
    assert 0 <= fitted.active_units_ <= 4


# -- the conditional VAE ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cvae(digits):
    return ls.models.create("cvae", **TINY, arch="conv").fit(digits, steps=40, batch_size=64, progress=False)


def test_cvae_sees_labels_in_encoder_and_decoder(cvae, digits):
    enc, dec = cvae.nets_["encoder"], cvae.nets_["decoder"]
    assert enc.body.features[0].in_channels == 1 + 10 and linears(dec)[0].in_features == 4 + 10
    z = torch.randn(5, 4)
    assert not torch.allclose(cvae.decode(z, labels=0), cvae.decode(z, labels=1))
    assert not torch.equal(cvae.sample(5, seed=0, labels=2), cvae.sample(5, seed=0, labels=7))
    assert torch.equal(cvae.sample(3, seed=1, labels=4), cvae.sample(3, seed=1, labels=[4, 4, 4]))
    x, y = digits.test.to_data()[:6], digits.test.y[:6]
    assert not torch.equal(cvae.encode(x, labels=y), cvae.encode(x, labels=(y + 1) % 10))
    ll = cvae.score_samples(binarize(x), labels=y)
    assert ll.shape == (6,) and torch.isfinite(ll).all()


def test_cvae_label_errors(cvae, digits):
    x = digits.test.to_data()[:4]
    with pytest.raises(UserError, match="one per item"):
        cvae.sample(3, labels=[1, 2])
    with pytest.raises(UserError, match="must lie in 0..9"):
        cvae.sample(2, labels=[0, 10])
    with pytest.raises(UserError, match="one per item"):
        cvae.score_samples(x, labels=[1, 2, 3])
    with pytest.raises(UserError, match="needs the items' labels"):
        cvae.score_samples(x)
    with pytest.raises(UserError, match="needs the items' labels"):
        cvae.encode(x)
    unlabelled = ls.data.load("moons", n=200)
    unlabelled.y = None
    with pytest.raises(UserError, match="needs class labels"):
        ls.models.create("cvae").fit(unlabelled, steps=1, progress=False)
    vae = ls.models.create("vae", **TINY).fit(digits, steps=2, batch_size=16, progress=False)
    with pytest.raises(UserError, match="unconditional"):
        vae.sample(2, labels=[0, 1])


def test_evaluate_scores_the_cvae_on_the_test_labels(cvae, digits):
    res = evaluate(cvae, digits, n=100, nll_items=20)
    assert np.isfinite(res["scores"]["nll_nats"]) and "conditional_accuracy" in res["scores"]
    lik = heldout_nll(cvae, digits, max_items=20)
    binary, _ = cvae.likelihood_items(digits.test.to_data())
    assert lik["nll_nats"] == pytest.approx(-float(cvae.score_samples(binary[:20], labels=digits.test.y[:20]).mean()))


# -- persistence, modalities and bad input ----------------------------------------------------------
@pytest.mark.parametrize("name", FLAVOURS)
def test_each_flavour_round_trips_through_save_and_load(name, digits, tmp_path):
    model = ls.models.create(name, **TINY, warmup=5).fit(digits, steps=10, batch_size=32, progress=False)
    again = ls.load(model.save(tmp_path / name))
    assert type(again) is type(model) and again.get_params() == model.get_params()
    assert again.active_units_ == model.active_units_
    kw = {"labels": [1, 2, 3]} if name == "cvae" else {}
    assert torch.equal(again.sample(3, seed=2, **kw), model.sample(3, seed=2, **kw))
    x = binarize(digits.test.to_data()[:3])
    assert torch.allclose(again.score_samples(x, **kw), model.score_samples(x, **kw))


@pytest.mark.parametrize("name", FLAVOURS)
def test_each_flavour_trains_on_points_with_mlps(name):
    data = ls.data.load("moons", n=400)
    model = ls.models.create(name, hidden=16, k=10).fit(data, steps=10, batch_size=64, progress=False)
    assert model.network_kind() == "mlp" and model.obs_model == "gaussian" and not model.binarized
    kw = {"labels": data.test.y[:5]} if name == "cvae" else {}
    assert torch.isfinite(model.score_samples(data.test.to_data()[:5], **kw)).all()


def test_mlp_and_linear_networks_on_images(digits):
    mlp = ls.models.create("vae", arch="mlp", hidden=16, layers=2, latent_dim=3).build(digits.info)
    assert mlp.network_kind() == "mlp" and [m.in_features for m in linears(mlp.nets_["encoder"])] == [64, 16, 16]
    lin = ls.models.create("vae", layers=0, latent_dim=3).build(digits.info)
    assert lin.network_kind() == "linear" and len(linears(lin.nets_["decoder"])) == 1
    assert lin.decode(torch.zeros(2, 3)).shape == (2, 1, 8, 8)


@pytest.mark.parametrize("params,match", [
    (dict(likelihood="poisson"), "must be one of"),
    (dict(objective="vlb"), "must be one of"),
    (dict(binarize="static"), "must be one of"),
    (dict(k_train="many"), "expects a int"),
])
def test_bad_options_are_refused_at_creation(params, match):
    with pytest.raises(UserError, match=match):
        ls.models.create("vae", **params)


@pytest.mark.parametrize("params,match", [
    (dict(likelihood="bernoulli"), r"needs data in \[0, 1\]"),
    (dict(likelihood="logistic"), r"needs data in \[0, 1\]"),
    (dict(arch="conv"), "arch 'conv' needs images"),
    (dict(objective="iwae", free_bits=0.5), "free_bits=0"),
    (dict(k_train=0), "k_train must be an integer >= 1"),
    (dict(beta=-1.0), "beta must be >= 0"),
    (dict(sigma=0.1, binarize="off", likelihood="bernoulli"), r"needs data in \[0, 1\]"),
    (dict(binarize="dynamic"), "binarize 'dynamic' needs intensities"),
])
def test_bad_options_are_refused_at_fit(params, match):
    data = ls.data.load("moons", n=100)
    with pytest.raises(UserError, match=match):
        ls.models.create("vae", **params).fit(data, steps=1, progress=False)


def test_bad_likelihood_inputs(digits):
    vae = ls.models.create("vae", **TINY).fit(digits, steps=2, batch_size=16, progress=False)
    with pytest.raises(UserError, match="k must be a positive integer"):
        vae.score_samples(digits.test.to_data()[:2], k=-1)
    with pytest.raises(UserError, match="items have shape"):
        vae.score_samples(torch.zeros(2, 1, 9, 9))
    with pytest.raises(UserError, match="sigma fixes"):
        ls.models.create("vae", sigma=0.2).fit(digits, steps=1, progress=False)


# -- the default likelihood follows the data's values --------------------------------------------------
def smooth_grey(n=120, side=8, seed=0):
    """Grey pictures: smooth random fields in [0, 1] (few values near 0 or 1), as photographs are."""
    from latentspace.data.arrays import modality_info
    from latentspace.data.dataset import make_dataset

    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 1, 3, 3, generator=g) * 0.6 + 0.2
    x = torch.nn.functional.interpolate(coarse, size=(side, side), mode="bilinear", align_corners=True)
    info = modality_info("grey", "image", (1, side, side))
    return make_dataset(info.to_model(x), info=info, seed=seed)


def test_auto_likelihood_is_bernoulli_only_for_binary_like_images(tmp_path):
    from latentspace.models.likelihoods import binary_like

    grey = smooth_grey()
    assert not binary_like(grey.to_data())
    vae = ls.models.create("vae", latent_dim=2, width=8).fit(grey, steps=3, progress=False, out=tmp_path / "run")
    assert vae.obs_model == "logistic" and not vae.binarized
    assert ls.storage.read_json(tmp_path / "run" / "model" / "model.json")["resolved"]["likelihood"] == "logistic"
    same = ls.load(tmp_path / "run")
    assert same.obs_model == "logistic" and torch.equal(same.sample(4, seed=0), vae.sample(4, seed=0))
    vq = ls.models.create("vqvae", width=8, prior_width=8).fit(grey, steps=4, progress=False)
    assert vq.obs_model == "gaussian"
    digits = ls.data.load("digits")                                  # 65% of values within 0.1 of 0 or 1
    assert binary_like(digits.to_data())
    assert ls.models.create("vae", width=8).fit(digits, steps=2, progress=False).obs_model == "bernoulli"
    assert ls.models.create("vae", likelihood="bernoulli", width=8).fit(grey, steps=2, progress=False).binarized
