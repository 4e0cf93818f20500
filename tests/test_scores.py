"""The two-set sample scores: known values, the real-vs-real floor, and the failures they must catch.

The stand-in for real data is a mixture of 10 well-separated Gaussian clusters ("classes") in
16-d with features of unit scale, as a domain feature extractor would give.
"""

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from torch import nn

from latentspace.errors import UserError
from latentspace.metrics import pairwise
from latentspace.metrics import scores as S

N, D, K = 1000, 16, 10
MEANS = np.random.default_rng(123).normal(size=(K, D))


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """One torch thread: on two cores busy with other jobs, two threads spin-wait and run 10-100x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def mixture(n, seed, classes=range(K)):
    rng = np.random.default_rng(seed)
    c = np.asarray(list(classes))
    return (MEANS[c[rng.integers(0, len(c), n)]] + 0.3 * rng.normal(size=(n, D))).astype(np.float32)


def all_scores(real, fake):
    out = {"fd": S.frechet_distance(real, fake), "mmd": S.mmd_rbf(real, fake),
           "kid": S.kernel_inception_distance(real, fake, subsets=20, subset_size=400)["kid_mean"]}
    out.update(S.precision_recall(real, fake, k=5))
    out.update(S.density_coverage(real, fake, k=5))
    out.update(S.classifier_two_sample_test(real, fake, seed=0))
    return out


@pytest.fixture(scope="module")
def real():
    return mixture(N, 1)


@pytest.fixture(scope="module")
def floor(real):
    """Real vs an independent draw of the same mixture."""
    return all_scores(real, mixture(N, 2))


@pytest.fixture(scope="module")
def noise(real):
    rng = np.random.default_rng(3)
    return all_scores(real, rng.uniform(real.min(0), real.max(0), size=(N, D)).astype(np.float32))


# --------------------------------------------------------------------------- Fréchet distance


def correlated(n, seed, scale=1.0, shift=0.0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(D, D)) / math.sqrt(D)
    return scale * rng.normal(size=(n, D)) @ mix + shift


def test_fd_matches_the_scipy_reference():
    a = correlated(2000, 10)
    b = correlated(2000, 11, scale=1.5, shift=0.3) + 0.5 * np.random.default_rng(12).normal(size=(2000, D))
    fd = S.frechet_distance(torch.as_tensor(a), b)  # a tensor and an array
    ref = S.frechet_distance_numpy(a, b)
    assert ref > 1.0
    assert fd == pytest.approx(ref, rel=1e-4)


def test_fd_of_a_set_with_itself_is_zero_and_of_a_shift_is_its_squared_norm():
    x = correlated(2000, 13) + 1e5  # a large offset: float32 or uncentred moment sums would miss 1e-10
    m = np.random.default_rng(14).normal(size=D)
    assert abs(S.frechet_distance(x, x)) < 1e-9
    assert S.frechet_distance(x, x + m) == pytest.approx(float(m @ m), rel=1e-10)
    assert S.frechet_distance_numpy(x, x + m) == pytest.approx(float(m @ m), rel=1e-6)


class Net(nn.Module):
    """A feature extractor with dropout: its features are only reproducible in eval mode."""

    num_features = 4

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 4)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.lin(x.flatten(1)))


def test_fd_and_kid_through_a_feature_module_run_it_in_eval_mode_without_grad():
    torch.manual_seed(0)
    net = Net().train()
    raw_a, raw_b = torch.randn(300, 2, 4), torch.randn(200, 2, 4) + 0.5
    with torch.no_grad():
        fa, fb = net.eval()(raw_a), net(raw_b)
    net.train()
    assert S.frechet_distance(raw_a, raw_b, features=net, batch_size=64) == pytest.approx(
        S.frechet_distance(fa, fb), rel=1e-5)
    kid = S.kernel_inception_distance(raw_a, raw_b, subsets=5, subset_size=100, features=net, seed=3)
    assert kid["kid_mean"] == pytest.approx(
        S.kernel_inception_distance(fa, fb, subsets=5, subset_size=100, seed=3)["kid_mean"], rel=1e-4)
    assert net.training  # restored
    assert all(p.grad is None for p in net.parameters())


def test_fd_and_mmd_grow_with_the_shift(real):
    base = mixture(N, 4)
    u = np.random.default_rng(5).normal(size=D)
    u /= np.linalg.norm(u)
    fds, mmds = [], []
    for s in (0.0, 0.25, 0.5, 1.0, 2.0):
        fds.append(S.frechet_distance(real, base + s * u))
        mmds.append(S.mmd_rbf(real, base + s * u))
    assert all(a < b for a, b in zip(fds, fds[1:])), fds
    assert all(a < b for a, b in zip(mmds, mmds[1:])), mmds


# --------------------------------------------------------------------------- KID


def test_kid_is_seeded_and_leaves_the_global_rng_alone(real):
    fake = mixture(300, 6)
    state = torch.get_rng_state()
    first = S.kernel_inception_distance(real, fake, subsets=10, subset_size=100, seed=7)
    assert torch.equal(state, torch.get_rng_state())
    assert S.kernel_inception_distance(real, fake, subsets=10, subset_size=100, seed=7) == first
    assert S.kernel_inception_distance(real, fake, subsets=10, subset_size=100, seed=8) != first
    assert set(first) == {"kid_mean", "kid_std"} and first["kid_std"] > 0


def test_kid_clips_the_subset_size_to_the_smaller_set():
    small = mixture(30, 7)
    kid = S.kernel_inception_distance(mixture(500, 8), small, subsets=3)  # subset_size 1000 > 30
    assert math.isfinite(kid["kid_mean"])


# --------------------------------------------------------------------------- known values


def test_knn_scores_on_a_hand_made_line():
    real = [[0.0], [1.0], [2.0], [3.0]]  # k=1: every real ball has radius 1
    fake = np.array([[0.5], [10.0]])  # inside the balls of 0 and 1; far away
    assert S.precision_recall(real, fake, k=1) == {"precision": 0.5, "recall": 1.0}  # fake balls: radius 9.5
    assert S.density_coverage(real, fake, k=1) == {"density": 1.0, "coverage": 0.5}
    # Closed balls: a fake point exactly on the radius counts.
    assert S.density_coverage(real, [[4.0]], k=1) == {"density": 1.0, "coverage": 0.25}
    assert S.precision_recall(real, [[4.0], [10.0]], k=1)["precision"] == 0.5


def brute_force(real, fake, k):
    rr, ff, rf = cdist(real, real), cdist(fake, fake), cdist(real, fake)
    r_real = np.sort(rr, 1)[:, k]  # column 0 is the point itself
    r_fake = np.sort(ff, 1)[:, k]
    inside = rf <= r_real[:, None]
    return {"precision": (rf <= r_real[:, None]).any(0).mean(), "recall": (rf <= r_fake[None, :]).any(1).mean(),
            "density": inside.sum() / (k * len(fake)), "coverage": (rf.min(1) <= r_real).mean()}


def brute_mmd(x, y, sigma):
    kern = [np.exp(-cdist(p, q, "sqeuclidean") / (2 * sigma**2)) for p, q in ((x, x), (y, y), (x, y))]
    n, m = len(x), len(y)
    return ((kern[0].sum() - n) / (n * (n - 1)) + (kern[1].sum() - m) / (m * (m - 1)) - 2 * kern[2].mean())


def test_knn_scores_and_mmd_match_brute_force_in_float64(monkeypatch):
    real, fake = mixture(150, 20).astype(np.float64), mixture(49, 21, classes=range(6)).astype(np.float64)
    want = brute_force(real, fake, k=3)
    sigma = np.median(cdist(np.concatenate([real, fake]), np.concatenate([real, fake]))[np.triu_indices(199, 1)])
    for block in (pairwise._BLOCK_ELEMENTS, 97):  # one block, and blocks of a row or two
        monkeypatch.setattr(pairwise, "_BLOCK_ELEMENTS", block)
        got = {**S.precision_recall(real, fake, k=3), **S.density_coverage(real, fake, k=3)}
        assert got == pytest.approx(want, abs=1e-12)
        assert S.mmd_rbf(real, fake, bandwidth=0.7) == pytest.approx(brute_mmd(real, fake, 0.7), rel=1e-4, abs=1e-6)
        assert S.mmd_rbf(real, fake) == pytest.approx(brute_mmd(real, fake, sigma), rel=1e-4, abs=1e-6)
        mem = S.memorisation(fake, real[:100], real[100:], quantile=0.1)
        nn_fake, nn_held = cdist(fake, real[:100]).min(1), cdist(real[100:], real[:100]).min(1)
        assert mem["median_nn_distance"] == pytest.approx(np.median(nn_fake), rel=1e-5)
        assert mem["threshold"] == pytest.approx(np.quantile(nn_held, 0.1), rel=1e-5)
        assert mem["closest_pairs"][0]["distance"] == pytest.approx(nn_fake.min(), rel=1e-9)


# --------------------------------------------------------------------------- floor, noise, dropped classes


def test_real_vs_real_is_at_the_floor(floor):
    assert floor["precision"] > 0.8 and floor["recall"] > 0.8
    assert floor["coverage"] > 0.9  # 1 - 2**-5 = 0.97 expected
    assert 0.85 < floor["density"] < 1.15
    assert 0.42 < floor["c2st_accuracy"] < 0.58
    assert abs(floor["mmd"]) < 2e-3 and abs(floor["kid"]) < 0.02 and floor["fd"] < 0.5


def test_uniform_noise_scores_far_worse_than_the_floor(floor, noise):
    assert noise["precision"] < 0.1 and noise["density"] < 0.1 and noise["coverage"] < 0.1
    assert noise["c2st_accuracy"] > 0.9
    assert noise["fd"] > 20 * floor["fd"] and noise["mmd"] > 20 * max(floor["mmd"], 1e-3)
    assert noise["kid"] > 20 * max(floor["kid"], 0.01)
    # Improved recall is blind to it: the noise points' 5-NN balls are huge and cover every real point
    # (the outlier weakness Naeem et al. 2020 introduced coverage for).
    assert noise["recall"] >= floor["recall"]


def test_dropping_half_the_classes_lowers_recall_and_coverage_but_not_precision(real, floor):
    half = all_scores(real, mixture(N, 9, classes=range(5)))
    assert half["recall"] < floor["recall"] - 0.3 and half["coverage"] < floor["coverage"] - 0.3
    assert half["precision"] > floor["precision"] - 0.05
    assert half["density"] > 0.8 * floor["density"]


# --------------------------------------------------------------------------- C2ST


def test_c2st_balances_the_sets_and_separates_shifted_ones():
    big, small = mixture(2000, 30), mixture(300, 31)
    res = S.classifier_two_sample_test(big, small, seed=1)
    assert res["c2st_n_test"] == 180  # 30% of 2 x 300
    assert 0.35 < res["c2st_accuracy"] < 0.65
    assert S.classifier_two_sample_test(big, small, seed=1) == res  # seeded
    assert S.classifier_two_sample_test(small, small + 1.0)["c2st_accuracy"] > 0.95


# --------------------------------------------------------------------------- memorisation


def test_memorisation_flags_a_copier_but_not_a_fresh_draw(real):
    train, heldout = real, mixture(N, 40)
    copier = train[np.random.default_rng(41).integers(0, N, 500)] + 1e-4
    copied = S.memorisation(torch.as_tensor(copier), train, heldout, n_pairs=5)
    fresh = S.memorisation(mixture(500, 42), train, heldout)
    assert copied["memorised_fraction"] > 0.9 and fresh["memorised_fraction"] < 0.05
    assert 0.005 <= copied["heldout_fraction"] <= 0.02 and copied["heldout_fraction"] == fresh["heldout_fraction"]
    assert copied["median_nn_distance"] < 0.01 < fresh["median_nn_distance"]
    assert fresh["median_nn_distance"] == pytest.approx(fresh["heldout_median_nn_distance"], rel=0.2)
    pairs = copied["closest_pairs"]
    assert len(pairs) == 5 and len(fresh["closest_pairs"]) == 8
    distances = [p["distance"] for p in pairs]
    assert distances == sorted(distances) and max(distances) < 1e-3
    for p in pairs:  # the reported pair is the sample and the training item it copies
        assert np.linalg.norm(copier[p["sample"]].astype(np.float64) - train[p["train"]]) == pytest.approx(
            p["distance"], rel=1e-6)


# --------------------------------------------------------------------------- class scores


def test_class_scores_known_values():
    one = S.class_scores(np.zeros(100, dtype=int), 4)
    assert one == {"class_coverage": 0.25, "class_entropy": 0.0, "class_histogram": [1.0, 0.0, 0.0, 0.0]}
    uniform = S.class_scores(torch.arange(100) % 4, 4, requested=torch.arange(100) % 4)
    assert uniform["class_coverage"] == 1.0 and uniform["class_entropy"] == pytest.approx(1.0)
    assert uniform["class_histogram"] == [0.25] * 4 and uniform["conditional_accuracy"] == 1.0
    two = S.class_scores([0, 0, 1, 1], 4, requested=[0, 1, 1, 3])
    assert two["class_entropy"] == pytest.approx(math.log(2) / math.log(4)) and two["conditional_accuracy"] == 0.5
    rare = S.class_scores([0] * 99 + [1], 2, min_share=0.05)  # class 1 holds 1% < 5%
    assert rare["class_coverage"] == 0.5


# --------------------------------------------------------------------------- bad inputs


GOOD = np.random.default_rng(50).normal(size=(20, 3))


@pytest.mark.parametrize("score", [S.frechet_distance, S.kernel_inception_distance, S.precision_recall,
                                   S.density_coverage, S.mmd_rbf, S.classifier_two_sample_test])
def test_two_set_scores_reject_bad_inputs(score):
    with pytest.raises(UserError, match=r"shape \(n, d\)"):
        score(GOOD[:, 0], GOOD)
    with pytest.raises(UserError, match="same feature extractor"):
        score(GOOD, GOOD[:, :2])
    nan = GOOD.copy()
    nan[3, 1] = np.nan
    with pytest.raises(UserError, match=r"^(fake|y) contains NaN or inf in 1 of 20 rows"):
        score(GOOD, nan)
    with pytest.raises(UserError, match=r"^(real|x) contains NaN"):
        score(torch.as_tensor(nan).float() * np.inf, GOOD)


def test_other_bad_inputs():
    with pytest.raises(UserError, match="has 5 rows but needs at least 6 for k=5"):
        S.precision_recall(GOOD[:5], GOOD)
    with pytest.raises(UserError, match="k must be a positive integer"):
        S.density_coverage(GOOD, GOOD, k=0)
    with pytest.raises(UserError, match="num_features"):
        S.frechet_distance(GOOD, GOOD, features=nn.Linear(3, 2))
    with pytest.raises(UserError, match="^heldout contains NaN"):
        S.memorisation(GOOD, GOOD, np.full((4, 3), np.nan))
    with pytest.raises(UserError, match="heldout has items of shape"):
        S.memorisation(GOOD, GOOD, GOOD[:, :2])
    with pytest.raises(UserError, match="quantile"):
        S.memorisation(GOOD, GOOD, GOOD, quantile=1.5)
    with pytest.raises(UserError, match="outside"):
        S.class_scores([0, 4], 4)
    with pytest.raises(UserError, match="integer class labels"):
        S.class_scores([0.5, 1.0], 4)
    with pytest.raises(UserError, match="one requested label per sample"):
        S.class_scores([0, 1], 4, requested=[0])
    with pytest.raises(UserError, match="bandwidth"):
        S.mmd_rbf(GOOD, GOOD, bandwidth=0.0)
