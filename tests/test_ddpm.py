"""The ddpm family: schedules and closed forms, sampling, the DDIM code, the bound, guidance, persistence."""

import math

import pytest
import torch

import latentspace as ls
from latentspace.errors import UserError
from latentspace.models.ddpm import DDPM
from latentspace.models.diffusion_schedules import (NoiseSchedule, discretized_gaussian_nll, gaussian_nll,
                                                    step_sequence)

from conftest import assert_same_weights, weights


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small networks: one thread is faster than several on a shared CPU (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def moons():
    return ls.data.load("moons", n=600, n_test=200)


@pytest.fixture(scope="module")
def moons_model(moons):
    """A small ddpm trained briefly on moons (T = 200 keeps every walk short)."""
    return ls.models.create("ddpm", timesteps=200, sample_steps=200, hidden=64).fit(
        moons, steps=400, batch_size=128, progress=False)


# -- schedules --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("T", [10, 1000])
def test_alpha_bar_falls_from_one_inside_the_unit_interval(kind, T):
    s = NoiseSchedule(kind, T)
    ab = s.alpha_bar
    assert ab.shape == (T + 1,) and ab[0] == 1
    assert (ab[1:] > 0).all() and (ab[1:] < 1).all()
    assert (ab[1:] < ab[:-1]).all()
    assert torch.allclose(ab, torch.cumprod(1 - s.beta, 0))


def test_linear_schedule_known_values():
    s = NoiseSchedule("linear", 1000)
    assert float(s.beta[1]) == pytest.approx(1e-4) and float(s.beta[1000]) == pytest.approx(0.02)
    assert float(s.beta[500]) == pytest.approx(1e-4 + 499 * (0.02 - 1e-4) / 999)
    assert float(s.alpha_bar[1]) == pytest.approx(0.9999)
    assert float(s.alpha_bar[2]) == pytest.approx(0.9999 * (1 - 1e-4 - 0.0199 / 999))
    assert float(s.alpha_bar[1000]) == pytest.approx(4.0358e-5, rel=1e-4)  # sqrt = 0.00635: x_T is nearly pure noise
    # other T: the ends scale by 1000 / T (Nichol & Dhariwal)
    assert float(NoiseSchedule("linear", 100).beta[1]) == pytest.approx(1e-3)


def test_cosine_schedule_is_the_squared_cosine():
    s, T = NoiseSchedule("cosine", 1000), 1000

    def f(t):
        return math.cos((t / T + 0.008) / 1.008 * math.pi / 2) ** 2

    for t in (1, 10, 500, 900):
        assert float(s.alpha_bar[t]) == pytest.approx(f(t) / f(0), rel=1e-9)
    assert float(s.beta.max()) <= 0.999


def test_step_sequences_are_increasing_and_end_at_T():
    assert step_sequence(10, 20) == list(range(1, 11))
    assert step_sequence(1000, 1) == [1000]
    seq = step_sequence(1000, 50)
    assert seq[0] == 1 and seq[-1] == 1000 and len(seq) == 50 and seq == sorted(set(seq))


# -- the closed forms ---------------------------------------------------------------------------------------
def test_q_sample_has_the_forward_process_statistics():
    s = NoiseSchedule("linear", 1000)
    torch.manual_seed(0)
    x0 = torch.full((200_000, 1), 1.5)
    for t in (1, 100, 700):
        tt = torch.full((len(x0),), t)
        xt = s.q_sample(x0, tt, torch.randn_like(x0))
        ab = float(s.alpha_bar[t])
        assert float(xt.mean()) == pytest.approx(math.sqrt(ab) * 1.5, abs=0.01)
        assert float(xt.var()) == pytest.approx(1 - ab, rel=0.02, abs=1e-5)


def direct_posterior(s, x0, xt, t, prev):
    """q(x_prev | x_t, x_0) by Gaussian conditioning: x_prev ~ N(sqrt(ab_prev) x0, 1 - ab_prev) and
    x_t | x_prev ~ N(sqrt(ab_t / ab_prev) x_prev, 1 - ab_t / ab_prev)."""
    ab_t, ab_p = s.alpha_bar[t].double(), s.alpha_bar[prev].double()
    a = ab_t / ab_p
    precision = 1 / (1 - ab_p) + a / (1 - a)
    var = 1 / precision
    mean = var * (ab_p.sqrt() * x0 / (1 - ab_p) + a.sqrt() * xt / (1 - a))
    return mean, var


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("t,prev", [(2, 1), (50, 49), (999, 998), (1000, 980), (300, 100)])
def test_posterior_matches_gaussian_conditioning(kind, t, prev):
    s = NoiseSchedule(kind, 1000)
    g = torch.Generator().manual_seed(t)
    x0, xt = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    tt, pp = torch.full((5,), t), torch.full((5,), prev)
    mean, var = s.posterior(x0, xt, tt, None if prev == t - 1 else pp)
    want_mean, want_var = direct_posterior(s, x0, xt, t, prev)
    assert torch.allclose(mean, want_mean, rtol=1e-9, atol=1e-9)
    assert torch.allclose(var.flatten(), torch.full((5,), float(want_var), dtype=torch.float64), rtol=1e-7)


def test_eps_parameterised_mean_and_the_weight_of_each_term():
    # mu_theta = posterior mean at x0_hat equals 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - ab_t) eps_theta), and the
    # KL between the posterior and p_theta (same variance beta_tilde) is eps_weight * ||eps - eps_theta||^2
    s = NoiseSchedule("linear", 1000)
    g = torch.Generator().manual_seed(0)
    x0, eps, eps_theta = (torch.randn(4, 2, generator=g, dtype=torch.float64) for _ in range(3))
    for t in (2, 10, 400, 1000):
        tt = torch.full((4,), t)
        xt = s.q_sample(x0, tt, eps)
        mu_theta, var = s.posterior(s.predict_x0(xt, tt, eps_theta), xt, tt)
        b, a, ab = s.beta[t], s.alpha[t], s.alpha_bar[t]
        assert torch.allclose(mu_theta, (xt - b / (1 - ab).sqrt() * eps_theta) / a.sqrt(), atol=1e-10)
        mu_true, _ = s.posterior(x0, xt, tt)
        kl = ((mu_true - mu_theta) ** 2).sum(1) / (2 * var.flatten())
        assert torch.allclose(kl, s.eps_weight(tt) * ((eps - eps_theta) ** 2).sum(1), rtol=1e-8)


def test_prior_term_and_decoders_against_direct_computation():
    s = NoiseSchedule("linear", 1000)
    x0 = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    ab = float(s.alpha_bar[1000])
    q = torch.distributions.Normal(math.sqrt(ab) * x0, math.sqrt(1 - ab))
    want = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum()
    assert float(s.prior_kl(x0)) == pytest.approx(float(want), rel=1e-9)
    mean = torch.tensor([[0.4, -0.9]])
    assert float(gaussian_nll(x0, mean, 0.01)) == pytest.approx(
        float(-torch.distributions.Normal(mean.double(), 0.1).log_prob(x0).sum()), rel=1e-9)
    # the discretised decoder: probabilities of the 256 levels sum to one
    levels = torch.linspace(-1, 1, 256, dtype=torch.float64)[:, None]
    p = torch.exp(-discretized_gaussian_nll(levels, torch.full_like(levels, 0.3), 0.05))
    assert float(p.sum()) == pytest.approx(1.0, abs=1e-6)


# -- the model ------------------------------------------------------------------------------------------------
def test_seeded_sampling_is_reproducible_with_either_sampler(moons_model):
    for sampler in ("ddpm", "ddim"):
        moons_model.sampler = sampler
        x = moons_model.sample(50, seed=3)
        assert x.shape == (50, 2) and torch.isfinite(x).all()
        assert torch.equal(x, moons_model.sample(50, seed=3))
        assert not torch.equal(x, moons_model.sample(50, seed=4))
    moons_model.sampler = "ddpm"


def test_ddim_sampling_is_decoding_the_seeded_noise(moons_model):
    moons_model.sampler = "ddim"
    try:
        x = moons_model.sample(20, seed=7)
        z = moons_model._noise(20, 7, 2).cpu()
        assert torch.allclose(moons_model.decode(z), x, atol=1e-5)
    finally:
        moons_model.sampler = "ddpm"


def test_ddim_encode_decode_round_trip(moons, moons_model):
    x = moons.test.to_data()[:50]
    z = moons_model.encode(x)
    assert z.shape == (50, 2) and moons_model.latent_width() == 2
    back = moons_model.decode(z)
    err = (back - x).norm(dim=1) / x.std(0).norm()
    assert float(err.median()) < 0.02
    # the codes are x_T: roughly standard normal
    z_all = moons_model.encode(moons.test.to_data())
    assert float(z_all.std()) == pytest.approx(1.0, abs=0.35)


def test_bound_is_a_bound_that_training_improves(moons):
    x = moons.test.to_data()[:100]
    kw = dict(timesteps=200, hidden=64, bound_steps=199, ema_decay=0.0)
    early = ls.models.create("ddpm", **kw).fit(moons, steps=20, batch_size=128, progress=False, seed=0)
    later = ls.models.create("ddpm", **kw).fit(moons, steps=600, batch_size=128, progress=False, seed=0)
    ll_early, ll_later = early.score_samples(x), later.score_samples(x)
    assert ll_later.shape == (100,) and torch.isfinite(ll_later).all()
    assert float(ll_later.mean()) > float(ll_early.mean()) + 0.5
    assert torch.equal(later.score_samples(x), ll_later)  # fixed-seed noise: a deterministic estimate
    assert later.likelihood_kind == "bound" and later.likelihood_of == "density"


class GaussianOracle(torch.nn.Module):
    """The optimal noise prediction for x_0 ~ N(0, I): E[eps | x_t] = sqrt(1 - ab_t) x_t."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule

    def forward(self, x, t, y=None):
        steps = (t * self.schedule.T).round().long()
        ab = self.schedule.alpha_bar[steps].float().view(-1, *[1] * (x.ndim - 1))
        return (1 - ab).sqrt() * x


def test_bound_with_the_optimal_network_is_close_above_the_true_nll():
    x = torch.randn(4000, 2, generator=torch.Generator().manual_seed(0)) * torch.tensor([2.0, 0.5]) + 3.0
    data = ls.data.from_array(x.numpy())
    model = ls.models.create("ddpm", timesteps=1000, hidden=8, bound_steps=999).fit(data, steps=1, progress=False)
    model.ema_["eps"] = GaussianOracle(model.schedule_)
    items = data.test.to_data()[:400]
    xm = data.info.to_model(items)
    true_ll = torch.distributions.Normal(0.0, 1.0).log_prob(xm.double()).sum(1) + model._log_det_to_data()
    ll = model.score_samples(items).double()
    # The bound is below log p by sum_t KL(q(x_{t-1}|x_t) || p(x_{t-1}|x_t)): for Gaussian data the true reverse
    # variance is beta_t, the model's beta_tilde_t, a known gap of 0.465 nats per dimension (T = 1000, linear).
    s = model.schedule_
    r = (1 - s.alpha_bar[2:]) / (1 - s.alpha_bar[1:-1])
    expected_gap = 2 * float((0.5 * (r - 1 - r.log())).sum())
    assert expected_gap == pytest.approx(0.93, abs=0.005)
    assert float(true_ll.mean() - ll.mean()) == pytest.approx(expected_gap, abs=0.1)
    # the stratified estimate with 50 steps agrees with the full sum within its noise
    model.bound_steps = 50
    assert float(model.score_samples(items).double().mean()) == pytest.approx(float(ll.mean()), abs=0.05)


def test_save_load_round_trip(moons, moons_model, tmp_path):
    moons_model.save(tmp_path / "m")
    again = ls.load(tmp_path / "m")
    assert type(again) is DDPM and again.get_params() == moons_model.get_params()
    x = moons.test.to_data()[:20]
    assert torch.equal(again.sample(10, seed=1), moons_model.sample(10, seed=1))
    assert torch.equal(again.encode(x), moons_model.encode(x))
    assert torch.allclose(again.score_samples(x), moons_model.score_samples(x))


def test_resume_matches_uninterrupted_run(moons, tmp_path):
    kw = dict(timesteps=100, hidden=32)

    def fit(out, steps, **more):
        ls.models.create("ddpm", **kw).fit(moons, steps=steps, batch_size=64, out=out, progress=False,
                                           lr_schedule="constant", checkpoint_every=10, **more)

    fit(tmp_path / "full", 30)
    fit(tmp_path / "part", 10)
    fit(tmp_path / "part", 30, resume=True)
    assert_same_weights(weights(tmp_path / "full"), weights(tmp_path / "part"))


def test_conditional_sampling_gives_the_requested_class(moons):
    model = ls.models.create("ddpm", timesteps=100, sample_steps=100, hidden=64, conditional=True,
                             guidance=2.0).fit(moons, steps=600, batch_size=128, progress=False)
    assert model.conditional and not DDPM.conditional  # the instance's capability, not the class's
    wanted = torch.arange(200) % 2
    x = model.sample(200, seed=0, labels=wanted)
    # each sample's class: that of its nearest training point
    train = moons.to_data()
    nearest = torch.cdist(x, train).argmin(1)
    assert float((moons.y[nearest] == wanted).float().mean()) > 0.9
    ll = model.score_samples(moons.test.to_data()[:10], labels=moons.test.y[:10])
    assert torch.isfinite(ll).all()
    with pytest.raises(UserError, match="labels"):
        model.score_samples(moons.test.to_data()[:10])


def test_bad_input_and_settings_are_user_errors(moons, moons_model):
    with pytest.raises(UserError, match="shape"):
        moons_model.score_samples(torch.zeros(3, 5))
    with pytest.raises(UserError, match="NaN"):
        moons_model.encode(torch.full((2, 2), float("nan")))
    with pytest.raises(UserError, match=r"\(n, 2\)"):
        moons_model.decode(torch.zeros(3, 4))
    with pytest.raises(UserError, match="unconditional"):
        moons_model.sample(3, labels=[0, 1, 0])
    with pytest.raises(UserError, match="must be one of"):
        ls.models.create("ddpm", schedule="quadratic")
    with pytest.raises(UserError, match="sample_steps"):
        ls.models.create("ddpm", sample_steps=0).fit(moons, steps=1, progress=False)
    with pytest.raises(UserError, match="p_uncond"):
        ls.models.create("ddpm", p_uncond=1.5).fit(moons, steps=1, progress=False)
    with pytest.raises(UserError, match="labels"):
        unlabelled = ls.data.from_array(torch.randn(100, 2).numpy())
        ls.models.create("ddpm", conditional=True).fit(unlabelled, steps=1, progress=False)
    with pytest.raises(UserError, match="not fitted"):
        ls.models.create("ddpm").sample(2)


def test_image_smoke_and_its_8bit_bound():
    data = ls.data.load("digits")
    model = ls.models.create("ddpm", width=8, sample_steps=20, bound_steps=10).fit(
        data, steps=3, batch_size=16, progress=False)
    x = model.sample(4, seed=0)
    assert x.shape == (4, 1, 8, 8) and x.min() >= 0 and x.max() <= 1
    ll = model.score_samples(data.test.to_data()[:4])
    assert model.likelihood_of == "discrete-8bit" and torch.isfinite(ll).all() and (ll <= 0).all()  # a probability
    assert model.encode(data.test.to_data()[:2]).shape == (2, 64)
    with pytest.raises(UserError, match="255"):
        model.score_samples(data.test.to_data()[:2] * 255)


def test_patched_unet_trains_and_a_patch_that_does_not_divide_is_refused():
    data = ls.data.load("digits")
    model = ls.models.create("ddpm", width=8, patch=2, sample_steps=5).fit(data, steps=2, batch_size=8, progress=False)
    assert model.sample(2, seed=0).shape == (2, 1, 8, 8)
    with pytest.raises(UserError, match="patch 3"):
        ls.models.create("ddpm", width=8, patch=3).fit(data, steps=1, progress=False)


def test_volume_smoke():
    data = ls.data.load("shapes-3d", n=8, n_test=4, size=8)
    model = ls.models.create("ddpm", width=8, sample_steps=5, bound_steps=4, conditional=True).fit(
        data, steps=2, batch_size=4, progress=False)
    x = model.sample(2, seed=0, labels=[0, 3])
    assert x.shape == (2, 1, 8, 8, 8) and torch.isfinite(x).all()
    assert torch.isfinite(model.score_samples(data.test.to_data()[:2], labels=data.test.y[:2])).all()
