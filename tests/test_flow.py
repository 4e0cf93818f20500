"""The normalizing flow: exact densities, the bijection, the image layers' log-determinants, persistence."""

import math
import sys

import numpy as np
import pytest
import torch

import latentspace as ls
from latentspace.errors import UserError
from latentspace.models.flow_nets import (ActNorm, AffineCoupling, ConditionalCoupling, DequantizationFlow,
                                         FlowStep, InvConv, MultiscaleFlow, SplitPrior, squeeze, unsqueeze)

from conftest import assert_same_weights, weights

pytest.importorskip("zuko")

POINTS = dict(transforms=2, hidden=32)
IMAGES = dict(depth=2, width=16)


@pytest.fixture(scope="module")
def moons():
    return ls.data.load("moons", n=1000, n_test=200)


@pytest.fixture(scope="module")
def nsf(moons):
    return ls.models.create("flow", **POINTS).fit(moons, steps=150, seed=0, progress=False)


@pytest.fixture(scope="module")
def digits():
    return ls.data.load("digits")


@pytest.fixture(scope="module")
def digits_8bit(digits):
    """The digits on 256 levels, as 8-bit pictures are."""
    x = (digits.to_data(digits.x) * 255).round() / 255
    return ls.data.from_array(x.numpy(), name="digits-8bit")


@pytest.fixture(scope="module")
def image_flow(digits_8bit):
    return ls.models.create("flow", **IMAGES).fit(digits_8bit, steps=20, seed=0, progress=False)


def _grid_integral(model, data, half_width=9.0, n=300):
    """The integral of exp(score_samples) over a box of +-half_width model-space units, by the midpoint rule."""
    lo = data.info.to_data(torch.full((2,), -half_width))
    hi = data.info.to_data(torch.full((2,), half_width))
    axes = [torch.linspace(float(lo[i]), float(hi[i]), n + 1, dtype=torch.float64) for i in range(2)]
    mids = [(a[1:] + a[:-1]) / 2 for a in axes]
    xx, yy = torch.meshgrid(*mids, indexing="ij")
    density = model.score_samples(torch.stack([xx.ravel(), yy.ravel()], 1).float()).double().exp()
    cell = float((axes[0][1] - axes[0][0]) * (axes[1][1] - axes[1][0]))
    return float(density.sum()) * cell


@pytest.mark.parametrize("transform", ["nsf", "maf"])
def test_density_on_2d_data_integrates_to_one(transform, moons, nsf):
    model = nsf if transform == "nsf" else ls.models.create("flow", transform="maf", **POINTS).fit(
        moons, steps=150, seed=0, progress=False)
    assert _grid_integral(model, moons) == pytest.approx(1.0, abs=0.01)


def test_score_samples_is_the_change_of_variables(moons, nsf):
    x = moons.test.to_data()[:5]
    xm = moons.info.to_model(x).double()
    flow = nsf.nets_["flow"].flow.double()
    try:
        expected = []
        for item in xm:
            jac = torch.autograd.functional.jacobian(lambda v: flow.transform()(v[None])[0], item)
            z = flow.transform()(item[None])[0]
            log_pz = -0.5 * (math.log(2 * math.pi) * 2 + (z ** 2).sum())
            expected.append(float((log_pz + torch.linalg.slogdet(jac)[1]).detach()))
    finally:
        flow.float()
    to_data = -float(torch.log(torch.as_tensor(moons.info.scale, dtype=torch.float64)).sum())
    np.testing.assert_allclose(nsf.score_samples(x).numpy(), np.array(expected) + to_data, rtol=1e-4, atol=1e-4)
    assert nsf.likelihood_kind == "exact" and nsf.likelihood_of == "density"


def test_encode_decode_round_trip_points_and_images(moons, nsf, digits_8bit, image_flow):
    x = moons.test.to_data()[:50]
    z = nsf.encode(x)
    assert z.shape == (50, 2)
    assert (nsf.decode(z) - x).abs().max() < 1e-4
    xi = digits_8bit.test.to_data()[:20]
    zi = image_flow.encode(xi)
    assert zi.shape == (20, 64) and image_flow.latent_width() == 64
    assert (image_flow.decode(zi) - xi).abs().max() < 1e-4


def _check_log_det(layer, h):
    """A layer's log|det| against autograd's Jacobian, on one item ``h``."""
    def flat(v):
        return layer(v.reshape(1, *h.shape))[0].reshape(-1)
    jac = torch.autograd.functional.jacobian(flat, h.reshape(-1).double())
    _, log_det = layer(h[None])
    assert float(log_det[0].detach()) == pytest.approx(float(torch.linalg.slogdet(jac)[1]), abs=1e-6)
    return layer


def _randomise(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3)
    return module


@pytest.mark.parametrize("shape", [(2, 3, 3), (4, 5), (2, 2, 2, 2)])
def test_log_det_of_each_image_layer_matches_autograd(shape):
    torch.manual_seed(0)
    h = torch.randn(*shape, dtype=torch.float64)
    spatial_dims = len(shape) - 1
    for layer in (ActNorm(shape[0]), InvConv(shape[0]), AffineCoupling(spatial_dims, shape[0], 4),
                  FlowStep(spatial_dims, shape[0], 4)):
        layer = _randomise(layer.double()).eval()
        _check_log_det(layer, h)
        out = layer(h[None])[0]
        assert torch.allclose(layer.inverse(out), h[None], atol=1e-10)


def test_split_prior_log_det_and_inverse():
    split = _randomise(SplitPrior(2, 4, 4).double())
    h = torch.randn(1, 4, 3, 3, dtype=torch.float64)

    def joined(v):
        h_a, z, _ = split(v.reshape(1, 4, 3, 3))
        return torch.cat([h_a.reshape(-1), z.reshape(-1)])
    jac = torch.autograd.functional.jacobian(joined, h.reshape(-1))
    h_a, z, log_det = split(h)
    assert float(log_det[0].detach()) == pytest.approx(float(torch.linalg.slogdet(jac)[1]), abs=1e-6)
    assert torch.allclose(split.inverse(h_a, z), h, atol=1e-10)


@pytest.mark.parametrize("shape", [(1, 4, 4), (2, 8), (1, 4, 4, 4)])
def test_squeeze_is_a_permutation_and_the_multiscale_flow_is_exact(shape):
    x = torch.randn(2, *shape, dtype=torch.float64)
    assert torch.equal(unsqueeze(squeeze(x)), x)
    assert torch.equal(squeeze(x).flatten(1).sort(1).values, x.flatten(1).sort(1).values)   # values only move
    flow = _randomise(MultiscaleFlow(shape, levels=2, depth=1, width=4).double()).eval()
    z, log_det = flow(x)
    assert z.shape == (2, math.prod(shape))
    assert torch.allclose(flow.inverse(z), x, atol=1e-9)
    if len(shape) == 3:   # the whole map's Jacobian (16 x 16)
        _check_log_det(flow, x[0])


def test_actnorm_initialises_from_the_first_batch():
    norm = ActNorm(3).train()
    h = torch.randn(64, 3, 5, 5) * torch.tensor([2.0, 0.5, 3.0]).view(1, 3, 1, 1) + 4
    out, _ = norm(h)
    assert torch.allclose(out.mean((0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(out.std((0, 2, 3), correction=0), torch.ones(3), atol=1e-4)
    assert int(norm.initialized) == 1


def test_8bit_images_get_the_dequantisation_bound(digits, digits_8bit, image_flow):
    assert image_flow.likelihood_kind == "bound" and image_flow.likelihood_of == "discrete-8bit"
    assert image_flow.resolved_params()["dequantize"] == "variational"      # auto, on 8-bit items
    x = digits_8bit.test.to_data()[:30]
    uniform = ls.models.create("flow", dequantize="uniform", **IMAGES).fit(digits_8bit, steps=2, progress=False)
    assert uniform.resolved_params()["dequantize"] == "uniform" and set(uniform.nets_) == {"flow"}
    assert uniform.likelihood_kind == "bound" and torch.isfinite(uniform.score_samples(x[:4])).all()
    one, again = image_flow.score_samples(x), image_flow.score_samples(x)
    assert torch.equal(one, again)   # the noise u is drawn from a fixed seed
    # a bound on a probability of 8-bit items: about 0 or below, bits/dim within reach of 8
    bpd = -one.double().mean() / (64 * math.log(2))
    assert 0 < bpd < 9
    grey = ls.models.create("flow", **IMAGES).fit(digits, steps=2, progress=False)   # 17 levels, not 8-bit
    assert grey.likelihood_kind == "exact" and grey.likelihood_of == "density"


@pytest.mark.parametrize("shape", [(1, 4, 4), (2, 2, 4), (1, 2, 2, 2)])
def test_the_dequantisation_noise_density_is_the_change_of_variables(shape):
    """log q(u | x) of the variational dequantisation flow against autograd's Jacobian of eps -> u."""
    q = _randomise(DequantizationFlow(shape, depth=2, width=4).double(), seed=1)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, *shape, generator=g, dtype=torch.float64) - 0.5
    eps = torch.randn(1, *shape, generator=g, dtype=torch.float64)
    u, log_q = q(x, eps)
    assert u.shape == eps.shape and bool(((u > 0) & (u < 1)).all())
    jac = torch.autograd.functional.jacobian(lambda v: q(x, v.reshape(1, *shape))[0].reshape(-1), eps.reshape(-1))
    normal = -0.5 * (math.log(2 * math.pi) + eps ** 2).sum()
    assert float(log_q[0].detach()) == pytest.approx(float(normal - torch.linalg.slogdet(jac)[1]), abs=1e-8)
    # the noise depends on the item: another x, another u from the same eps
    assert not torch.allclose(q(x + 0.3, eps)[0], u)


def test_the_conditional_coupling_inverts_and_its_log_det_matches_autograd():
    layer = _randomise(ConditionalCoupling(2, 4, 3, 8).double(), seed=2)
    g = torch.Generator().manual_seed(0)
    h, c = torch.randn(2, 4, 3, 3, generator=g).double(), torch.randn(2, 3, 3, 3, generator=g).double()
    out, log_det = layer(h, c)
    assert torch.allclose(layer.inverse(out, c), h, atol=1e-10)
    jac = torch.autograd.functional.jacobian(lambda v: layer(v.reshape(1, 4, 3, 3), c[:1])[0].reshape(-1),
                                             h[:1].reshape(-1))
    assert float(log_det[0].detach()) == pytest.approx(float(torch.linalg.slogdet(jac)[1]), abs=1e-8)


def test_variational_dequantisation_is_a_learned_bound_that_saves_and_loads(digits_8bit, image_flow, tmp_path):
    flow = ls.models.create("flow", dequantize="variational", **IMAGES).fit(digits_8bit, steps=20, seed=0,
                                                                            progress=False)
    assert flow.resolved_params()["dequantize"] == "variational" and set(flow.nets_) == {"flow", "dequant"}
    assert flow.likelihood_kind == "bound" and flow.likelihood_of == "discrete-8bit"
    x = digits_8bit.test.to_data()[:30]
    ll = flow.score_samples(x)
    assert torch.equal(ll, flow.score_samples(x)) and bool(torch.isfinite(ll).all())
    # the dequantisation net trains: its weights leave their start
    start = ls.models.create("flow", dequantize="variational", **IMAGES).fit(digits_8bit, steps=1, seed=0,
                                                                             progress=False)
    assert not torch.equal(start.nets_["dequant"].couplings[0].nn[-1].weight,
                           flow.nets_["dequant"].couplings[0].nn[-1].weight)
    # encode/decode do not use the noise: the bijection at the bin centres, as with uniform noise
    assert torch.allclose(flow.decode(flow.encode(x)), x, atol=1e-4)
    flow.save(tmp_path / "v")
    loaded = ls.load(tmp_path / "v")
    assert loaded.resolved_params()["dequantize"] == "variational"
    assert torch.equal(loaded.score_samples(x), ll)
    with pytest.raises(UserError, match="8-bit images"):
        ls.models.create("flow", dequantize="variational").fit(ls.data.load("moons", n=100), steps=1,
                                                                progress=False)


def test_logit_of_the_dequantised_values_and_its_log_det(image_flow, digits_8bit):
    xm = digits_8bit.info.to_model(digits_8bit.test.to_data()[:1]).double()
    u = torch.rand(xm.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    h, log_det = image_flow._flow_input(xm, u)
    y = ((digits_8bit.info.to_data(xm) * 255).round() + u) / 256
    a = image_flow.logit
    assert torch.allclose(h, torch.logit(a + (1 - 2 * a) * y))
    slopes = torch.autograd.functional.jacobian(lambda v: torch.logit(a + (1 - 2 * a) * v).sum(), y)
    assert float(log_det[0]) == pytest.approx(float(slopes.log().sum()), rel=1e-9)
    centres = image_flow._flow_input(xm, None)[0]
    assert torch.allclose(image_flow._items_from_input(centres), xm.float(), atol=1e-5)


def test_save_load_gives_identical_scores_and_samples(tmp_path, nsf, image_flow, digits_8bit, moons):
    for model, data in ((nsf, moons), (image_flow, digits_8bit)):
        folder = tmp_path / data.name
        model.save(folder)
        loaded = ls.load(folder)
        x = data.test.to_data()[:10]
        assert torch.equal(loaded.score_samples(x), model.score_samples(x))
        assert torch.equal(loaded.sample(5, seed=3), model.sample(5, seed=3))
        assert loaded.likelihood_kind == model.likelihood_kind


def test_sampling_is_a_function_of_the_seed_and_temperature(nsf):
    assert torch.equal(nsf.sample(4, seed=1), nsf.sample(4, seed=1))
    assert not torch.equal(nsf.sample(4, seed=1), nsf.sample(4, seed=2))
    cold = nsf.sample(200, seed=1, temperature=0.1)
    assert torch.allclose(cold, nsf.decode(torch.zeros(1, 2)).expand(200, 2), atol=0.5 * float(cold.std(0).max()) + 0.5)
    assert cold.std(0).sum() < nsf.sample(200, seed=1).std(0).sum()
    with pytest.raises(UserError, match="temperature"):
        nsf.sample(2, seed=0, temperature=0)


def test_resume_is_exact(moons, tmp_path):
    def fit(out, steps, **kw):
        return ls.models.create("flow", **POINTS).fit(moons, steps=steps, batch_size=64, seed=3, out=out,
                                                      progress=False, checkpoint_every=10, sample_every=1000,
                                                      lr_schedule="constant", **kw)
    fit(tmp_path / "full", 20)
    fit(tmp_path / "part", 10)
    fit(tmp_path / "part", 20, resume=True)
    assert_same_weights(weights(tmp_path / "full"), weights(tmp_path / "part"))


def test_image_resume_is_exact(digits_8bit, tmp_path):
    def fit(out, steps, **kw):
        return ls.models.create("flow", **IMAGES).fit(digits_8bit, steps=steps, batch_size=16, seed=3, out=out,
                                                      progress=False, checkpoint_every=5, sample_every=1000,
                                                      lr_schedule="constant", **kw)
    fit(tmp_path / "full", 10)
    fit(tmp_path / "part", 5)
    fit(tmp_path / "part", 10, resume=True)
    assert_same_weights(weights(tmp_path / "full"), weights(tmp_path / "part"))


def test_bad_input_is_refused_in_one_line(nsf, image_flow):
    with pytest.raises(UserError, match="shape"):
        nsf.score_samples(torch.zeros(3, 5))
    with pytest.raises(UserError, match="NaN"):
        nsf.encode(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(UserError, match=r"shape \(n, 2\)"):
        nsf.decode(torch.zeros(3, 3))
    with pytest.raises(UserError, match="values in"):
        image_flow.score_samples(torch.full((1, 1, 8, 8), 255.0))
    with pytest.raises(UserError, match="unconditional"):
        nsf.sample(2, labels=1)


def test_odd_image_sizes_and_bad_parameters_are_refused():
    odd = ls.data.from_array(np.random.default_rng(0).random((20, 1, 7, 7)).astype(np.float32))
    with pytest.raises(UserError, match="odd size"):
        ls.models.create("flow", **IMAGES).fit(odd, steps=1, progress=False)
    even = ls.data.from_array(np.random.default_rng(0).random((20, 1, 4, 4)).astype(np.float32))
    with pytest.raises(UserError, match="levels<=2"):
        ls.models.create("flow", levels=3, **IMAGES).fit(even, steps=1, progress=False)
    with pytest.raises(UserError, match="must be one of"):
        ls.models.create("flow", transform="glow")


def test_missing_zuko_names_the_extra(moons, monkeypatch):
    monkeypatch.setitem(sys.modules, "zuko", None)
    with pytest.raises(UserError, match=r'pip install "latentspace\[flows\]"'):
        ls.models.create("flow", **POINTS).fit(moons, steps=1, progress=False)


def test_zuko_is_not_imported_with_latentspace():
    import subprocess
    code = "import sys, latentspace; import latentspace.models; print('zuko' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_gradient_inversion_through_the_decoder(nsf, moons):
    x = moons.test.to_data()[:4]
    with nsf.differentiable_decoder() as decode:
        z = nsf.encode(x).requires_grad_(True)
        out = decode(z)
        out.sum().backward()
    assert z.grad is not None and torch.allclose(out.detach(), moons.info.to_model(x), atol=1e-4)
