"""The flow-matching family: its path, OT coupling, ODE solvers, change of variables and API."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

import latentspace as ls
from latentspace.errors import UserError
from latentspace.models.ode import (divergence_exact, divergence_hutchinson, integrate, ot_pairing,
                                    rademacher)
from latentspace.storage import load_state

TINY = dict(hidden=32, layers=2, width=8, mults=(1, 2), sample_steps=8)


@pytest.fixture(scope="module")
def moons():
    return ls.data.load("moons", n=600)


@pytest.fixture(scope="module")
def digits():
    return ls.data.load("digits")


def fm(**params):
    return ls.models.create("flow-matching", **{**TINY, **params})


# -- the path and its target ---------------------------------------------------------------------------
@pytest.mark.parametrize("sigma_min", [0.0, 0.1])
def test_path_ends_and_its_velocity_is_the_time_derivative(sigma_min):
    model = fm(sigma_min=sigma_min)
    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    start, _ = model.path(x0, x1, torch.zeros(5))
    end, _ = model.path(x0, x1, torch.ones(5))
    assert torch.allclose(start, x0) and torch.allclose(end, x1 + sigma_min * x0)
    t, h = torch.rand(5, generator=g).clamp(0.1, 0.9).double(), 1e-4
    x0, x1 = x0.double(), x1.double()
    _, u = model.path(x0, x1, t)
    finite = (model.path(x0, x1, t + h)[0] - model.path(x0, x1, t - h)[0]) / (2 * h)
    assert torch.allclose(u, finite, atol=1e-8)


# -- the OT coupling -----------------------------------------------------------------------------------
def test_ot_pairing_is_a_permutation_that_lowers_the_total_cost():
    g = torch.Generator().manual_seed(1)
    x0, x1 = torch.randn(64, 2, generator=g), torch.randn(64, 2, generator=g) * 3 + 1
    perm = ot_pairing(x0, x1)
    assert sorted(perm.tolist()) == list(range(64))
    cost = lambda p: float((x0[p] - x1).square().sum())  # noqa: E731
    assert cost(perm) < cost(torch.arange(64))


def test_ot_pairing_equals_brute_force_on_a_tiny_batch():
    g = torch.Generator().manual_seed(2)
    x0, x1 = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g)
    costs = {p: float((x0[list(p)] - x1).square().sum()) for p in itertools.permutations(range(6))}
    best = min(costs, key=costs.get)
    assert tuple(ot_pairing(x0, x1).tolist()) == best


# -- ODE solvers and divergences -------------------------------------------------------------------------
@pytest.mark.parametrize("solver,steps,tol", [("euler", 200, 2e-2), ("midpoint", 50, 1e-3), ("rk4", 10, 1e-5)])
def test_solvers_integrate_a_linear_field_exactly_enough(solver, steps, tol):
    # dx/dt = a(t) x with a(t) = 1 + t: x(1) = x(0) exp(1.5), and back again
    x = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)

    def f(state, t):
        return ((1 + t) * state[0],)

    x1 = integrate(f, x, 0.0, 1.0, steps, solver)
    assert torch.allclose(x1, x * math.exp(1.5), rtol=tol)
    assert torch.allclose(integrate(f, x1, 1.0, 0.0, steps, solver), x, rtol=tol)


def test_higher_order_solvers_have_smaller_errors():
    x = torch.ones(1, 1, dtype=torch.float64)
    err = {s: abs(float(integrate(lambda st, t: (-2 * st[0],), x, 0.0, 1.0, 8, s)) - math.exp(-2))
           for s in ("euler", "midpoint", "rk4")}
    assert err["rk4"] < err["midpoint"] < err["euler"]


def test_divergences_of_a_linear_map():
    A = torch.tensor([[0.3, -1.2, 0.5], [2.0, -0.7, 0.1], [0.0, 0.4, 1.1]])
    x = torch.randn(4, 3).requires_grad_(True)
    v = x @ A.T
    assert torch.allclose(divergence_exact(v, x), torch.full((4,), float(A.trace())), atol=1e-6)
    probes = rademacher(4000, x.shape, seed=0)
    assert torch.allclose(divergence_hutchinson(v, x, probes), torch.full((4,), float(A.trace())), atol=0.1)
    assert torch.equal(rademacher(3, (2, 2), 5), rademacher(3, (2, 2), 5))


# -- the change of variables on flows of known density ---------------------------------------------------
class LinearField(nn.Module):
    """v(x, t) = x A^T (time-invariant): x_1 = expm(A) x_0, so p_1 = N(0, M M^T), M = expm(A)."""

    def __init__(self, A):
        super().__init__()
        self.A = nn.Parameter(torch.as_tensor(A, dtype=torch.float32))

    def forward(self, x, t, y=None):
        flat = x.flatten(1) @ self.A.T
        return flat.view_as(x)


def with_field(model, A):
    field = LinearField(A)
    model.ema_ = nn.ModuleDict({"v": field})
    model.nets_ = nn.ModuleDict({"v": field})
    return model


def known_log_density(model, x, A):
    M = torch.linalg.matrix_exp(torch.as_tensor(A, dtype=torch.float64))
    dist = torch.distributions.MultivariateNormal(torch.zeros(len(M), dtype=torch.float64), M @ M.T)
    xm = model.info_.to_model(torch.as_tensor(x)).flatten(1).double()
    return dist.log_prob(xm) + model._log_det_to_data()


def test_exact_trace_log_density_of_a_known_flow(moons):
    model = fm().fit(moons, steps=1, progress=False)
    assert model.likelihood_kind == "exact"
    A = [[0.4, -0.8], [0.6, -0.3]]
    with_field(model, A).set_params(likelihood_steps=16)
    x = moons.test.to_data()[:50]
    assert torch.allclose(model.score_samples(x).double(), known_log_density(model, x, A), atol=1e-3)


def test_hutchinson_log_density_of_a_known_flow(digits):
    model = fm().fit(digits, steps=1, batch_size=8, progress=False)
    assert model.likelihood_kind == "estimate" and ls.models.registry()["flow-matching"].likelihood_kind == "estimate"
    A = 0.3 * np.eye(64)  # a diagonal Jacobian: every probe gives the trace exactly
    with_field(model, A).set_params(likelihood_steps=8)
    x = digits.test.to_data()[:10]
    assert torch.allclose(model.score_samples(x).double(), known_log_density(model, x, A), atol=1e-2)


def test_trained_points_density_integrates_to_one(moons):
    model = fm(hidden=64, likelihood_steps=8).fit(moons, steps=100, batch_size=64, progress=False)
    lo, hi = moons.to_data(moons.x).min(0).values - 1.5, moons.to_data(moons.x).max(0).values + 1.5
    side = 70
    gx, gy = torch.linspace(float(lo[0]), float(hi[0]), side), torch.linspace(float(lo[1]), float(hi[1]), side)
    grid = torch.stack(torch.meshgrid(gx, gy, indexing="ij"), -1).reshape(-1, 2)
    cell = float((gx[1] - gx[0]) * (gy[1] - gy[0]))
    mass = float(model.score_samples(grid).exp().sum()) * cell
    assert 0.93 < mass < 1.05


# -- the API -------------------------------------------------------------------------------------------------
def test_encode_decode_round_trip_on_points(moons):
    model = fm(hidden=64, solver="rk4", sample_steps=40).fit(moons, steps=50, batch_size=64, progress=False)
    x = moons.test.to_data()[:100]
    z = model.encode(x)
    assert z.shape == (100, 2) and model.latent_width() == 2
    assert float((model.decode(z) - x).abs().max()) < 1e-3


def test_encode_decode_round_trip_on_images(digits):
    model = fm(solver="rk4", sample_steps=20).fit(digits, steps=5, batch_size=16, progress=False)
    x = digits.test.to_data()[:8]
    z = model.encode(x)
    assert z.shape == (8, 64)
    assert float((model.decode(z) - x).abs().max()) < 1e-3


def test_sampling_is_a_function_of_the_seed(moons):
    model = fm().fit(moons, steps=30, progress=False)
    assert torch.equal(model.sample(20, seed=3), model.sample(20, seed=3))
    assert not torch.equal(model.sample(20, seed=3), model.sample(20, seed=4))


def test_save_load_round_trip_keeps_samples_codes_and_likelihood(digits, tmp_path):
    model = fm(conditional=True, guidance=0.5, likelihood_steps=2).fit(digits, steps=6, batch_size=16,
                                                                        progress=False)
    model.save(tmp_path / "m")
    same = ls.load(tmp_path / "m")
    assert same.conditional and same.get_params() == model.get_params()
    assert same.resolved_params() == model.resolved_params()
    labels = torch.tensor([1, 2, 3])
    assert torch.equal(same.sample(3, seed=2, labels=labels), model.sample(3, seed=2, labels=labels))
    x, y = digits.test.to_data()[:3], digits.test.y[:3]
    assert torch.equal(same.encode(x, labels=y), model.encode(x, labels=y))
    assert torch.allclose(same.score_samples(x, labels=y), model.score_samples(x, labels=y))


@pytest.mark.parametrize("coupling", ["independent", "ot"])
def test_resume_matches_an_uninterrupted_run(moons, tmp_path, coupling):
    kw = dict(steps=None, progress=False, lr_schedule="constant", batch_size=32)
    # with an EMA copy, which the checkpoint must carry too
    fm(coupling=coupling, ema_decay=0.99).fit(moons, out=tmp_path / "full", **{**kw, "steps": 20})
    fm(coupling=coupling, ema_decay=0.99).fit(moons, out=tmp_path / "part", **{**kw, "steps": 10})
    fm(coupling=coupling, ema_decay=0.99).fit(moons, out=tmp_path / "part", resume=True, **{**kw, "steps": 20})
    a = load_state(tmp_path / "full" / "model" / "weights.safetensors")
    b = load_state(tmp_path / "part" / "model" / "weights.safetensors")
    for net in ("nets", "ema"):
        for k, v in a[net]["v"].items():
            assert torch.equal(v, b[net]["v"][k]), (net, k)


def test_conditional_sampling_gives_the_requested_class():
    g = np.random.default_rng(0)
    centres = np.array([[-4.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    y = g.integers(0, 3, 900)
    data = ls.data.from_array(centres[y] + 0.3 * g.normal(size=(900, 2)), y=y)
    model = fm(hidden=64, conditional=True, guidance=1.0).fit(data, steps=300, batch_size=128, progress=False)
    for label in range(3):
        x = model.sample(60, seed=label, labels=label)
        nearest = torch.cdist(x.double(), torch.as_tensor(centres)).argmin(1)
        assert float((nearest == label).double().mean()) >= 0.95, label
    assert model.sample(6, seed=0).shape == (6, 2)  # default: the classes in turn


def test_bad_input_is_refused_in_one_line(moons, digits):
    model = fm().fit(moons, steps=2, progress=False)
    for call, match in [(lambda: model.encode(torch.zeros(3, 5)), "shape"),
                        (lambda: model.score_samples(torch.full((2, 2), float("nan"))), "NaN"),
                        (lambda: model.sample(3, seed=0, labels=1), "unconditional"),
                        (lambda: model.decode(torch.zeros(3, 4)), "latent codes"),
                        (lambda: model.sample(0), "positive integer")]:
        with pytest.raises(UserError, match=match) as e:
            call()
        assert "\n" not in str(e.value)
    unlabelled = ls.data.from_array(np.random.default_rng(0).normal(size=(50, 2)))
    with pytest.raises(UserError, match="class labels"):
        fm(conditional=True).fit(unlabelled, steps=1, progress=False)
    with pytest.raises(UserError, match="patch 3"):
        fm(patch=3).fit(digits, steps=1, progress=False)
    with pytest.raises(UserError, match="coupling"):
        fm(coupling="sinkhorn")
    with pytest.raises(UserError, match="needs the items' labels"):
        fm(conditional=True).fit(digits, steps=1, batch_size=8, progress=False).encode(digits.test.to_data()[:2])
    with pytest.raises(UserError, match="not fitted"):
        fm().sample(2)


def test_volumes_smoke(tmp_path):
    g = np.random.default_rng(0)
    vox = (g.random((24, 8, 8, 8)) > 0.6).astype(np.float32)
    data = ls.data.from_array(vox)
    model = fm(patch=2, likelihood_steps=2).fit(data, steps=3, batch_size=8, progress=False)
    assert model.sample(2, seed=0).shape == (2, *data.shape)
    x = data.test.to_data()[:2]
    assert model.encode(x).shape == (2, data.info.dim)
    assert torch.isfinite(model.score_samples(x)).all()
    model.save(tmp_path / "v")
    assert torch.equal(ls.load(tmp_path / "v").sample(2, seed=0), model.sample(2, seed=0))
