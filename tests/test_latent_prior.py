"""The VAE's mixture prior fitted after training: its density against torch's, the likelihood of a
linear VAE under it against the closed form (a Gaussian mixture in x), persistence, and the choices."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

import latentspace as ls
from latentspace.data.arrays import points_dataset
from latentspace.errors import UserError
from latentspace.models.latent_prior import MixturePrior


def a_mixture(d=3, c=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    tril = torch.tril(torch.randn(c, d, d, generator=g) * 0.3)
    tril.diagonal(dim1=1, dim2=2).copy_(torch.rand(c, d, generator=g) + 0.2)
    weights = torch.rand(c, generator=g) + 0.1
    return MixturePrior(weights / weights.sum(), torch.randn(c, d, generator=g) * 3, tril)


def test_log_prob_is_torch_s_mixture_density():
    prior = a_mixture()
    ref = torch.distributions.MixtureSameFamily(torch.distributions.Categorical(prior.weights),
                                                torch.distributions.MultivariateNormal(prior.means,
                                                                                       scale_tril=prior.scale_tril))
    z = torch.randn(2, 50, 3) * 3
    assert prior.log_prob(z).shape == (2, 50)
    assert torch.allclose(prior.log_prob(z), ref.log_prob(z), atol=1e-4)


def test_samples_follow_the_mixture_and_repeat_with_their_seed():
    prior = a_mixture()
    z = prior.sample(40_000, seed=3)
    assert torch.equal(z, prior.sample(40_000, seed=3))
    assert not torch.equal(z[:10], prior.sample(10, seed=4))
    mean = (prior.weights[:, None] * prior.means).sum(0)
    assert torch.allclose(z.mean(0), mean, atol=0.06)
    # a fit to the samples finds the mixture again (components matched by their means)
    again = MixturePrior.fit(z, components=4, seed=0)
    order = torch.cdist(prior.means, again.means).argmin(1)
    assert torch.allclose(again.means[order], prior.means, atol=0.1)
    assert torch.allclose(again.weights[order], prior.weights, atol=0.02)


@pytest.fixture(scope="module")
def linear_vae():
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.standard_normal((1500, 2)) * 0.5 - 2, rng.standard_normal((1500, 2)) * 0.5 + 2])
    x = z @ rng.standard_normal((2, 5)) + 0.3 * rng.standard_normal((3000, 5))
    data = points_dataset("two-blobs", x)
    vae = ls.models.create("vae", layers=0, latent_dim=2, likelihood="gaussian", lr=1e-2, prior_components=5)
    return vae.fit(data, steps=400, batch_size=256, progress=False), data


def test_a_linear_vae_s_likelihood_under_the_mixture_matches_its_closed_form(linear_vae):
    # p(x) = sum_c pi_c N(x; W m_c + b, W S_c W^T + D): exact for a linear-Gaussian decoder
    vae, data = linear_vae
    assert vae.resolved_params()["prior"] == "mixture" and vae.prior_.components == 5
    (dec,) = [m for m in vae.nets_["decoder"].modules() if isinstance(m, nn.Linear)]
    w, b = dec.weight.detach().double(), dec.bias.detach().double()
    noise = torch.diag(vae.nets_["obs"]().detach().double().exp())
    p = vae.prior_
    s = p.scale_tril.double() @ p.scale_tril.double().transpose(1, 2)
    exact_x = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(p.weights.double()),
        torch.distributions.MultivariateNormal(p.means.double() @ w.T + b, w @ s @ w.T + noise))
    xt = data.test.to_data()[:300]
    exact = exact_x.log_prob(data.info.to_model(xt).double()) + vae._log_det_to_data()
    est = vae.score_samples(xt, k=2000)
    assert float((exact - est).abs().max()) < 0.5
    assert float((est - exact).mean()) < 0.01                        # a lower bound in expectation
    # the fitted prior describes these data better than N(0, I) does
    normal = copy.copy(vae)
    normal.prior_ = None
    assert float(est.mean()) > float(normal.score_samples(xt, k=2000).mean()) + 0.1
    # elbo() (one draw, Monte Carlo KL against the mixture) is the k = 1 estimate in expectation
    torch.manual_seed(0)
    many = xt.repeat(20, 1)
    assert float(vae.elbo(many).mean()) == pytest.approx(float(vae.score_samples(many, k=1, seed=2).mean()), abs=0.1)


def test_samples_come_from_the_mixture_and_survive_save_and_load(linear_vae, tmp_path):
    vae, data = linear_vae
    assert torch.equal(vae.sample(20, seed=1), vae.decode(vae.prior_.sample(20, seed=1)))
    again = ls.load(vae.save(tmp_path / "m"))
    assert torch.equal(again.sample(20, seed=1), vae.sample(20, seed=1))
    xt = data.test.to_data()[:20]
    assert torch.equal(again.score_samples(xt, k=50), vae.score_samples(xt, k=50))


def test_prior_normal_keeps_the_standard_normal(linear_vae):
    _, data = linear_vae
    vae = ls.models.create("vae", latent_dim=2, prior="normal").fit(data, steps=5, progress=False)
    assert vae.prior_ is None and vae.resolved_params()["prior"] == "normal"
    assert torch.equal(vae.sample(7, seed=2), vae.decode(torch.randn(7, 2, generator=torch.Generator().manual_seed(2))))


def test_the_mixture_has_at_most_one_component_per_hundred_codes():
    data = ls.data.load("moons", n=350)
    vae = ls.models.create("vae").fit(data, steps=5, progress=False)
    assert len(data.x) == 350 and vae.prior_.components == 3


def test_cvae_keeps_its_per_class_normal_prior_and_refuses_the_mixture():
    digits = ls.data.load("digits")
    cvae = ls.models.create("cvae", width=8, hidden=32, latent_dim=4).fit(digits, steps=3, progress=False)
    assert cvae.prior_ is None and cvae.resolved_params()["prior"] == "normal"
    with pytest.raises(UserError, match="prior=auto"):
        ls.models.create("cvae", prior="mixture").fit(digits, steps=3, progress=False)
    with pytest.raises(UserError, match="prior"):
        ls.models.create("vae", prior="gmm").fit(digits, steps=3, progress=False)
