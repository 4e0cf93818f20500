"""KDE, GMM and PPCA: densities against closed forms, data-space scaling, persistence, images."""

import gzip
import math

import numpy as np
import pytest
import torch
from scipy import stats

from latentspace.data.dataset import DataInfo, make_dataset
from latentspace.errors import UserError
from latentspace.metrics import heldout_nll, toy2d_metrics
from latentspace.models.base import create, load
from latentspace.models.classical import GMM, KDE, PPCA

from conftest import shared

SIGMA = 0.05


# -- data made here --------------------------------------------------------------------------------
def points(x, *, shift, scale, name="pts", extra=None, test_x=None, seed=0):
    """A points Dataset from data-space ``x``, mapped to model space with ``shift``/``scale``."""
    x = np.asarray(x, dtype=np.float64)
    d = x.shape[1]
    info = DataInfo(name, "points", (d,), shift=list(map(float, np.broadcast_to(shift, d))),
                    scale=list(map(float, np.broadcast_to(scale, d))), extra=extra or {})
    to_model = lambda a: info.to_model(torch.as_tensor(a, dtype=torch.float32))  # noqa: E731
    test_x = None if test_x is None else to_model(test_x)
    return make_dataset(to_model(x), info=info, test_x=test_x, seed=seed)


def grid_modes():
    g = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    return np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)


@pytest.fixture(scope="module")
def grid25():
    rng = np.random.default_rng(0)
    modes = grid_modes()
    draw = lambda n: modes[rng.integers(0, 25, n)] + SIGMA * rng.standard_normal((n, 2))  # noqa: E731
    x = draw(5000)
    return points(x, shift=x.mean(0), scale=x.std(0), name="grid25", test_x=draw(1000),
                  extra={"modes": modes.tolist(), "sigma": SIGMA})


@pytest.fixture(scope="module")
def correlated():
    """5-D points with a low-rank structure and per-feature shift and scale."""
    rng = np.random.default_rng(1)
    z = rng.standard_normal((600, 2))
    a = rng.standard_normal((2, 5)) * [1.0, 3.0, 0.5, 2.0, 1.0]
    x = z @ a + 0.3 * rng.standard_normal((600, 5)) + [10.0, -3.0, 0.0, 2.0, 5.0]
    return points(x, shift=[9.0, -2.0, 0.5, 1.0, 4.0], scale=[2.0, 0.5, 1.5, 3.0, 0.7])


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    x = load_digits().images.astype(np.float32)[:, None] / 16.0  # (n, 1, 8, 8) in [0, 1]
    info = DataInfo("digits", "image", (1, 8, 8), shift=0.5, scale=0.5, clip=(0.0, 1.0))
    return make_dataset((torch.from_numpy(x) - 0.5) / 0.5, info=info, seed=0)


def read_idx_images(path, limit=None):
    with gzip.open(path, "rb") as f:
        data = f.read()
    assert int.from_bytes(data[:4], "big") == 2051, "not an idx3 image file"
    n, rows, cols = (int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
    x = np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows, cols)
    return x if limit is None else x[:limit]


@pytest.fixture(scope="module")
def mnist():
    x = read_idx_images(shared("mnist") / "train-images-idx3-ubyte.gz")
    idx = np.sort(np.random.default_rng(0).choice(len(x), 2500, replace=False))
    x = torch.from_numpy(x[idx].astype(np.float32)[:, None] / 255.0)
    info = DataInfo("mnist", "image", (1, 28, 28), shift=0.5, scale=0.5, clip=(0.0, 1.0))
    return make_dataset((x - 0.5) / 0.5, info=info, seed=0)


def assert_cov_close(samples, cov, tol=0.04):
    """Sample covariance of ``samples`` equals ``cov``, each entry relative to sqrt(C_ii C_jj)."""
    sd = np.sqrt(np.diag(cov))
    err = np.abs(np.cov(np.asarray(samples).T) - cov) / np.outer(sd, sd)
    assert err.max() < tol, err.max()


def data_x(data):
    """The train items in data space, float64 numpy (n, d) (mapped in float64)."""
    x = data.x.double().reshape(len(data), -1)
    return (x * torch.tensor(data.info.scale, dtype=torch.float64)
            + torch.tensor(data.info.shift, dtype=torch.float64)).numpy()


@pytest.fixture(autouse=True, scope="module")
def single_threaded_blas():
    """Threaded BLAS on a busy shared machine can make EM 100x slower; keep these tests fast."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


# -- GMM -------------------------------------------------------------------------------------------
def test_gmm_finds_all_25_grid_modes(grid25):
    gmm = GMM().fit(grid25, seed=0)
    m = toy2d_metrics(gmm.sample(2500, seed=0), grid25.info.extra["modes"], SIGMA)
    assert m["modes_captured"] == 25
    assert m["high_quality_fraction"] >= 0.95
    assert m["reverse_kl"] < 0.05


def test_gmm_data_space_likelihood_is_sklearn_plus_log_det(grid25):
    gmm = GMM(n_components=25).fit(grid25, seed=0)
    x = grid25.test.to_data()
    model_x = ((x.double() - torch.tensor(grid25.info.shift)) / torch.tensor(grid25.info.scale)).numpy()
    expected = gmm.gmm_.score_samples(model_x) - np.log(grid25.info.scale).sum()
    np.testing.assert_allclose(gmm.score_samples(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    # and the density is right: held-out NLL close to the true mixture's entropy
    entropy = math.log(25) + math.log(2 * math.pi * math.e * SIGMA ** 2)
    assert abs(heldout_nll(gmm, grid25)["nll_nats"] - entropy) < 0.1


def test_gmm_in_a_whitened_subspace_is_the_implied_gaussian_in_data_space():
    """One component in a 2-D PCA subspace of 3-D data: p(x) must be one Gaussian in data space."""
    rng = np.random.default_rng(3)
    mix = np.array([[1.5, 0.5, 0.1], [0.0, 1.0, 0.3], [0.0, 0.0, 0.7]])
    x = rng.standard_normal((800, 3)) @ mix + [1, 2, 3]
    data = points(x, shift=[0.5, 1.0, 2.0], scale=[2.0, 0.5, 4.0])
    gmm = GMM(n_components=1, pca_components=2).fit(data)
    s, gm = gmm.pca_, gmm.gmm_
    assert s.k == 2 and s.dim == 3
    u, root = s.components, np.sqrt(s.variances)
    cov_model = (u.T * root) @ gm.covariances_[0] @ (root[:, None] * u) + s.noise * (np.eye(3) - u.T @ u)
    mean_model = s.mean + (gm.means_[0] * root) @ u
    scale, shift = np.array(data.info.scale), np.array(data.info.shift)
    q = data.test.to_data()
    implied = stats.multivariate_normal(mean_model * scale + shift, cov_model * np.outer(scale, scale))
    expected = implied.logpdf(q.double().numpy())
    np.testing.assert_allclose(gmm.score_samples(q).numpy(), expected, rtol=1e-6, atol=1e-6)
    # and samples come from that Gaussian, the discarded direction included
    x = gmm.sample(40000, seed=0).double().numpy()
    cov_data = cov_model * np.outer(scale, scale)
    assert_cov_close(x, cov_data)
    assert np.linalg.eigvalsh(np.cov(x.T))[0] == pytest.approx(np.linalg.eigvalsh(cov_data)[0], rel=0.05)


@pytest.mark.parametrize("cov", ["full", "diag", "spherical", "tied"])
def test_gmm_covariance_types_round_trip(cov, correlated, tmp_path):
    gmm = create("gmm", n_components=3, covariance_type=cov).fit(correlated, seed=1)
    x = gmm.sample(200, seed=4)
    assert x.shape == (200, 5)
    # samples follow the fitted mixture: compare the overall covariance in model space
    gm, d = gmm.gmm_, 5
    covs = {"full": lambda c: c, "tied": lambda c: np.broadcast_to(c, (3, d, d)),
            "diag": lambda c: np.stack([np.diag(v) for v in c]),
            "spherical": lambda c: c[:, None, None] * np.eye(d)}[cov](gm.covariances_)
    mean = gm.weights_ @ gm.means_
    second_moment = sum(w * (c + np.outer(m, m)) for w, c, m in zip(gm.weights_, covs, gm.means_))
    total = second_moment - np.outer(mean, mean)
    big = gmm.sample(40000, seed=0).double()
    big = ((big - torch.tensor(correlated.info.shift)) / torch.tensor(correlated.info.scale)).numpy()
    assert_cov_close(big, total)
    gmm.save(tmp_path / cov)
    again = load(tmp_path / cov)
    assert torch.equal(again.sample(200, seed=4), x)
    q = correlated.test.to_data()
    assert torch.equal(again.score_samples(q), gmm.score_samples(q))


# -- KDE -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rule", ["scott", "silverman"])
def test_kde_matches_scipy_gaussian_kde_in_1d(rule):
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.normal(-1, 0.3, (150, 1)), rng.normal(2, 1.0, (250, 1))])
    data = points(x, shift=0.7, scale=2.5, test_x=rng.normal(0, 2, (50, 1)))
    kde = KDE(bandwidth=rule).fit(data)
    reference = stats.gaussian_kde(data_x(data).T, bw_method=rule)
    q = data.test.to_data()
    # score_samples maps queries to model space in float32, hence the tolerance
    expected = reference.logpdf(q.double().numpy().T)
    np.testing.assert_allclose(kde.score_samples(q).numpy(), expected, rtol=1e-5)


def test_kde_with_float_bandwidth_matches_the_formula_in_data_space(correlated):
    kde = KDE(bandwidth=0.4).fit(correlated)
    scale, shift = np.array(correlated.info.scale), np.array(correlated.info.shift)
    centres = (data_x(correlated) - shift) / scale
    q = correlated.test.to_data().double().numpy()
    y = (q - shift) / scale
    d2 = ((y[:, None, :] - centres[None]) ** 2).sum(-1)
    h, d = 0.4, 5
    ll = np.log(np.exp(-d2 / (2 * h * h)).mean(1)) - d / 2 * np.log(2 * np.pi * h * h) - np.log(scale).sum()
    np.testing.assert_allclose(kde.score_samples(q).numpy(), ll, rtol=1e-6)
    # samples: a random centre plus N(0, h^2 I), so cov = cov(centres) + h^2 I in model space
    x = (kde.sample(40000, seed=0).double().numpy() - shift) / scale
    assert_cov_close(x, np.cov(centres.T, bias=True) + h * h * np.eye(d))


def test_kde_cross_validated_bandwidth_resolves_the_grid(grid25):
    scott = KDE().fit(grid25)
    cv = KDE(bandwidth="cv").fit(grid25)
    assert cv.bandwidth_ < scott.bandwidth_ / 5  # the rule of thumb over-smooths 25 tight modes
    assert heldout_nll(cv, grid25)["nll_nats"] < heldout_nll(scott, grid25)["nll_nats"] - 1
    m = toy2d_metrics(cv.sample(2500, seed=0), grid25.info.extra["modes"], SIGMA)
    assert m["modes_captured"] == 25 and m["high_quality_fraction"] > 0.9


def test_kde_subsamples_centres_with_max_points(correlated):
    kde = KDE(max_points=100).fit(correlated, seed=2)
    assert kde.centres_.shape == (100, 5)
    assert np.array_equal(KDE(max_points=100).fit(correlated, seed=2).centres_, kde.centres_)


# -- PPCA ------------------------------------------------------------------------------------------
def test_ppca_is_the_closed_form_gaussian_in_data_space(correlated):
    ppca = PPCA(n_components=2).fit(correlated)
    w, s2 = ppca.components_, ppca.noise_variance_
    assert w.shape == (5, 2)
    # maximum likelihood: sigma^2 is the mean discarded eigenvalue of the ML covariance
    model_x = correlated.x.double().numpy()
    eig = np.linalg.eigvalsh(np.cov(model_x.T, bias=True))[::-1]
    assert s2 == pytest.approx(eig[2:].mean(), rel=1e-6)
    np.testing.assert_allclose(np.linalg.eigvalsh(w @ w.T + s2 * np.eye(5))[::-1][:2], eig[:2], rtol=1e-6)
    scale, shift = np.array(correlated.info.scale), np.array(correlated.info.shift)
    mu = model_x.mean(0)
    cov = (w @ w.T + s2 * np.eye(5)) * np.outer(scale, scale)
    q = correlated.test.to_data()
    expected = stats.multivariate_normal(mu * scale + shift, cov).logpdf(q.double().numpy())
    np.testing.assert_allclose(ppca.score_samples(q).numpy(), expected, rtol=1e-6)


def test_ppca_samples_have_the_model_covariance(correlated):
    ppca = PPCA(n_components=2).fit(correlated)
    x = ppca.sample(40000, seed=0).double()
    x = ((x - torch.tensor(correlated.info.shift)) / torch.tensor(correlated.info.scale)).numpy()
    w, s2 = ppca.components_, ppca.noise_variance_
    cov = w @ w.T + s2 * np.eye(5)
    assert_cov_close(x, cov)
    np.testing.assert_allclose(np.linalg.eigvalsh(np.cov(x.T))[:3], s2, rtol=0.05)  # the noise floor


def test_ppca_latent_space(correlated):
    ppca = create("ppca", n_components=2).fit(correlated)
    z = ppca.encode(correlated.test.to_data())
    assert z.shape == (len(correlated.test), 2)
    mean = ppca.decode(torch.zeros(1, 2))[0].double()
    expected = correlated.x.double().mean(0) * torch.tensor(correlated.info.scale) + torch.tensor(
        correlated.info.shift)
    assert torch.allclose(mean, expected, atol=1e-4)
    with pytest.raises(UserError, match=r"shape \(n, 2\)"):
        ppca.decode(torch.zeros(3, 4))


def test_ppca_caps_components_below_the_dimension(grid25):
    ppca = PPCA().fit(grid25)
    assert ppca.pca_.k == 1  # 32 requested, capped at dim - 1


# -- shared behaviour ------------------------------------------------------------------------------
QUICK = {"kde": {}, "gmm": {"n_components": 4}, "ppca": {"n_components": 3}}


@pytest.mark.parametrize("name", ["kde", "gmm", "ppca"])
def test_save_load_round_trip_and_seeded_sampling(name, correlated, tmp_path):
    model = create(name, **QUICK[name]).fit(correlated, seed=3, steps=10, batch_size=8, progress=False)
    assert model.likelihood_kind == "exact"
    x = model.sample(50, seed=11)
    assert x.shape == (50, 5) and x.dtype == torch.float32
    assert torch.equal(x, model.sample(50, seed=11))
    assert not torch.equal(x, model.sample(50, seed=12))
    assert not torch.equal(model.sample(50), model.sample(50))
    q = correlated.test.to_data()
    ll = model.score_samples(q)
    model.save(tmp_path / "m")
    again = load(tmp_path / "m")
    assert type(again) is type(model) and again.get_params() == model.get_params()
    assert torch.equal(again.sample(50, seed=11), x)
    assert torch.equal(again.score_samples(q), ll)


@pytest.mark.parametrize("name", ["kde", "gmm", "ppca"])
def test_digits(name, digits, tmp_path):
    model = create(name, **QUICK[name]).fit(digits)
    assert model.pca_ is not None and model.pca_.dim == 64
    x = model.sample(20, seed=0)
    assert x.shape == (20, 1, 8, 8) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1
    real = digits.test.to_data()
    ll = model.score_samples(real)
    assert ll.shape == (len(real),) and torch.isfinite(ll).all()
    assert ll.mean() > model.score_samples(torch.rand_like(real)).mean() + 50
    model.save(tmp_path / "m")
    again = load(tmp_path / "m")
    assert torch.equal(again.sample(20, seed=0), x) and torch.equal(again.score_samples(real), ll)


@pytest.mark.filterwarnings("ignore:gmm. EM did not converge")
@pytest.mark.parametrize("name", ["kde", "gmm", "ppca"])
def test_mnist_sized_images(name, mnist):
    params = {"kde": {}, "gmm": {"n_components": 5, "max_iter": 30}, "ppca": {}}[name]
    model = create(name, **params).fit(mnist)
    if name != "ppca":
        assert model.pca_.k == 64  # "auto": a 64-component whitened subspace for 784-d images
    x = model.sample(16, seed=1)
    assert x.shape == (16, 1, 28, 28) and torch.isfinite(x).all()
    ll = model.score_samples(mnist.test.to_data()[:300])
    assert ll.shape == (300,) and torch.isfinite(ll).all()
    assert ll.mean() > model.score_samples(torch.rand(300, 1, 28, 28)).mean()
    res = heldout_nll(model, mnist, max_items=300)
    assert res["nll_nats"] == pytest.approx(-float(ll.mean()))
    assert res["nll_bits_per_dim"] == pytest.approx(res["nll_nats"] / (784 * math.log(2)))
    assert res["likelihood"] == "exact" and res["nll_items"] == 300


def test_fit_with_out_writes_a_run_folder(correlated, tmp_path):
    run = tmp_path / "run"
    model = create("ppca", n_components=2).fit(correlated, out=run, seed=0)
    assert (run / "config.json").is_file() and (run / "model" / "weights.safetensors").is_file()
    assert torch.equal(load(run).sample(5, seed=0), model.sample(5, seed=0))
    with pytest.raises(UserError, match="already exists"):
        create("ppca", n_components=2).fit(correlated, out=run)


def test_params_from_strings_and_bad_input(correlated):
    assert create("kde", bandwidth="0.25").bandwidth == 0.25
    assert create("kde", pca_components="16").pca_components == 16
    assert create("gmm", pca_components="none").pca_components is None
    with pytest.raises(UserError, match="bandwidth"):
        create("kde", bandwidth="wide")
    with pytest.raises(UserError, match="must be one of"):
        create("gmm", covariance_type="banded")
    with pytest.raises(UserError, match="n_components"):
        create("gmm", n_components=10_000).fit(correlated)
    with pytest.raises(UserError, match="not fitted"):
        create("kde").sample(3)
    model = create("ppca", n_components=2).fit(correlated)
    with pytest.raises(UserError, match="shape"):
        model.score_samples(torch.zeros(4, 3))
    with pytest.raises(UserError, match="unconditional"):
        model.sample(4, y=torch.zeros(4))


def test_heldout_nll_without_a_likelihood_is_none(correlated):
    class NoLikelihood:
        likelihood_kind = None

        def score_samples(self, x):
            raise NotImplementedError

    assert heldout_nll(NoLikelihood(), correlated) is None
