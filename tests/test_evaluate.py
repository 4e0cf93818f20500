"""Domain features and ``evaluate``: caching, and the validation cases on real digits."""

import json
import math
import re

import pytest
import torch

import latentspace as ls
from latentspace.cli import main
from latentspace.errors import UserError
from latentspace.metrics import evaluate, format_results
from latentspace.metrics.likelihood import heldout_nll
from latentspace.metrics.features import FeatureConfig, FeatureExtractor, cache_dir, default_config, feature_extractor

SAMPLE_SCORES = ("fd", "kid_mean", "precision", "recall", "density", "coverage", "c2st_accuracy")


@pytest.fixture(scope="module")
def digits():
    return ls.data.load("digits", test_fraction=0.4)


@pytest.fixture(scope="module")
def phi(digits):
    return feature_extractor(digits)


def scores_of(samples, digits, phi, **kw):
    return evaluate(samples, digits, features=phi, **kw)


# -- feature extractors ----------------------------------------------------------------------
def test_classifier_features_know_the_digits(phi, digits):
    assert phi.kind == "classifier" and phi.num_features == 64
    assert phi.scores["accuracy"] >= 0.93  # held-out accuracy, reported with every evaluation
    pred = phi.predict(digits.test.to_data())
    assert float((pred == digits.test.y).float().mean()) == pytest.approx(phi.scores["accuracy"])


def test_extractor_is_cached_by_content_and_config(digits, phi):
    cached = feature_extractor(digits)
    assert cached.cache_path == phi.cache_path and cached.cache_path.parent == cache_dir()
    x = digits.test.to_data()[:50]
    assert torch.equal(cached.features(x), phi.features(x))
    other = feature_extractor(digits, config=FeatureConfig(min_steps=50, max_steps=50))
    assert other.cache_path != phi.cache_path
    shifted = ls.data.load("digits", test_fraction=0.4, seed=1)  # other split: other content hash
    assert feature_extractor(shifted, config=FeatureConfig(min_steps=50, max_steps=50)).cache_path != other.cache_path


def test_extractor_training_is_deterministic(digits):
    config = FeatureConfig(min_steps=60, max_steps=60)
    a = feature_extractor(digits, config=config, cache=False)
    b = feature_extractor(digits, config=config, cache=False)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k


def test_extractor_augmentation_changes_training_and_is_checked(digits):
    plain = feature_extractor(digits, config=FeatureConfig(min_steps=40, max_steps=40), cache=False)
    jittered = feature_extractor(digits, config=FeatureConfig(min_steps=40, max_steps=40, augment="jitter"),
                                 cache=False)
    assert not torch.equal(plain.state_dict()["phi.head.weight"], jittered.state_dict()["phi.head.weight"])
    with pytest.raises(UserError, match="unknown feature extractor augmentation 'flip'"):
        feature_extractor(digits, config=FeatureConfig(min_steps=5, max_steps=5, augment="flip"), cache=False)


def test_corrupt_cache_entry_is_retrained(digits):
    config = FeatureConfig(min_steps=40, max_steps=40, seed=7)
    path = feature_extractor(digits, config=config).cache_path
    path.write_bytes(b"not a safetensors file")
    with pytest.warns(UserWarning, match="unreadable feature cache"):
        again = feature_extractor(digits, config=config)
    assert again.scores["accuracy"] > 0.5 and path.read_bytes()[:8] != b"not a sa"


def test_autoencoder_features_for_unlabelled_images(digits):
    ae = feature_extractor(digits, "autoencoder", config=FeatureConfig(min_steps=300, max_steps=300))
    assert ae.kind == "autoencoder"
    assert ae.scores["reconstruction_mse"] < 0.5 * ae.scores["data_variance"]
    with pytest.raises(NotImplementedError):
        ae.predict(digits.test.to_data()[:4])


def test_points_are_compared_in_standardised_coordinates():
    data = ls.data.load("ring8", n=500, n_test=200)
    phi = feature_extractor(data)
    assert phi.kind == "standardised" and phi.num_features == 2
    x = data.test.to_data()[:10]
    assert torch.allclose(phi.features(x), data.info.to_model(x).flatten(1), atol=1e-6)


def test_features_constant_in_training_do_not_blow_up_the_distances(digits):
    # under "standardised" features the digits' border pixels are 0 in every training item
    noisy = digits.test.to_data().clone()
    noisy[:, :, 0, 0] += 1.0  # one such pixel lit in every sample
    real = evaluate(digits.test.to_data(), digits, features="standardised")
    lit = evaluate(noisy, digits, features="standardised")
    assert real["scores"]["fd"] == pytest.approx(real["floor"]["fd"], rel=1e-6)
    assert all(math.isfinite(r["scores"][k]) for r in (real, lit) for k in ("fd", "kid_mean"))
    assert real["scores"]["fd"] < lit["scores"]["fd"] < 1e6


# -- the validation cases ----------------------------------------------------------------------
def test_real_data_sits_at_the_floor(digits, phi):
    res = scores_of(digits.test.to_data()[::2], digits, phi)  # fresh real items, half the held-out split
    s, f = res["scores"], res["floor"]
    for key in ("precision", "recall", "density", "coverage", "c2st_accuracy"):
        assert s[key] == pytest.approx(f[key], abs=0.15), key
    assert s["fd"] < 1.5 * f["fd"] and s["kid_mean"] < f["kid_mean"] + 0.05
    assert s["precision"] > 0.7 and s["recall"] > 0.7 and s["c2st_accuracy"] < 0.7
    assert s["memorised_fraction"] < 0.05


def test_uniform_noise_scores_far_worse_on_every_score(digits, phi):
    noise = torch.rand(len(digits.test.x), *digits.shape, generator=torch.Generator().manual_seed(0))
    res = scores_of(noise, digits, phi)
    s, f = res["scores"], res["floor"]
    assert s["fd"] > 10 * f["fd"] and s["kid_mean"] > 10 * max(f["kid_mean"], 1e-3)
    for key in ("precision", "recall", "density", "coverage"):
        assert s[key] < 0.5 * f[key], key
    assert s["c2st_accuracy"] > 0.95 > f["c2st_accuracy"]
    assert s["class_entropy"] < f["class_entropy"] or s["class_coverage"] < f["class_coverage"]


def test_dropping_half_the_classes_lowers_recall_and_coverage_not_precision(digits, phi):
    test = digits.test
    half = test.to_data()[test.y < 5]
    s, f = scores_of(half, digits, phi)["scores"], scores_of(test.to_data(), digits, phi)["scores"]
    assert s["recall"] < f["recall"] - 0.25 and s["coverage"] < f["coverage"] - 0.25
    assert s["precision"] > f["precision"] - 0.05
    assert s["class_coverage"] == pytest.approx(0.5)


def test_a_shift_raises_the_frechet_distance(digits, phi):
    x = digits.test.to_data()
    fds = [scores_of((x + b).clamp(0, 1), digits, phi)["scores"]["fd"] for b in (0.0, 0.1, 0.3)]
    assert fds[0] < fds[1] < fds[2]


def test_a_model_that_returns_training_items_is_flagged(digits, phi):
    copies = digits.to_data()[: len(digits.test.x)]
    res = scores_of(copies, digits, phi)
    assert res["scores"]["memorised_fraction"] > 0.9
    assert res["floor"]["memorised_fraction"] < 0.05
    assert all(p["distance"] < 1e-4 for p in res["details"]["closest_pairs"])


# -- evaluate on models, and its errors -----------------------------------------------------------
def test_evaluate_a_gmm_with_its_floor_and_likelihood(digits, phi):
    gmm = ls.models.create("gmm", n_components=10).fit(digits)
    res = evaluate(gmm, digits, n=400, features=phi, nll_items=100)
    assert res["model"] == "gmm" and res["n_samples"] == 400
    for key in SAMPLE_SCORES + ("memorised_fraction", "class_coverage", "class_entropy"):
        assert key in res["scores"] and key in res["floor"], key
    d = res["details"]
    assert d["likelihood"] == "exact" and d["likelihood_of"] == "density" and d["nll_items"] == 100
    assert d["feature_accuracy"] == phi.scores["accuracy"]
    assert res["scores"]["class_coverage"] == 1.0 and d["classes_total"] == 10  # the number, for code
    json.dumps(res)  # metrics.json must be writable
    lines = format_results(res).splitlines()
    # the text says what the NLL is a likelihood of, and shows the classes as a count
    nll = next(line for line in lines if line.startswith("held-out negative log-likelihood, nats"))
    assert "(density of data-space values, exact)" in nll
    assert next(line for line in lines if line.startswith("classes with >= 1% of samples")).split()[-3:-1] == \
        ["10/10", "10/10"]
    # 400 samples, 100 held-out items: both are said to be few, the NLL with its standard error
    sem = d["nll_sem_nats"]
    assert 0 < sem < 10
    assert any("only 400 items a side" in line for line in lines)
    assert any(f"NLL rests on only 100 held-out items (standard error ±{sem:.3g} nats)" in line for line in lines)


TINY_VAE = dict(latent_dim=2, arch="mlp", hidden=16, layers=1, k=8)


@pytest.mark.parametrize("name, params, kind", [
    ("vae", dict(likelihood="bernoulli"), "discrete-binary"),            # binarised held-out items
    ("vae", dict(likelihood="bernoulli", binarize="off"), "cross-entropy"),  # grey levels: no likelihood
    ("vae", dict(likelihood="gaussian"), "density"),
    ("vae", dict(likelihood="continuous-bernoulli"), "density-unit"),
    ("vae", dict(likelihood="logistic"), "discrete-8bit"),
    ("vqvae", dict(likelihood="bernoulli", width=8, prior_width=8), "cross-entropy"),
    ("vqvae", dict(likelihood="gaussian", width=8, prior_width=8), "density"),
    ("ppca", dict(n_components=4), "density"),
])
def test_each_likelihood_says_what_it_is_a_likelihood_of(digits, name, params, kind):
    model = ls.models.create(name, **{**(TINY_VAE if name == "vae" else {}), **params})
    model.fit(digits, **({"steps": 2, "batch_size": 16, "progress": False} if model.iterative else {}))
    nll = heldout_nll(model, digits, max_items=6)
    assert nll["likelihood_of"] == kind and nll["likelihood"] == model.likelihood_kind


def test_a_bernoulli_of_binary_items_is_a_probability(tmp_path):
    import numpy as np

    x = (np.random.default_rng(0).random((80, 8, 8)) < 0.3).astype(np.float32)  # binary pictures
    np.savez(tmp_path / "blocks.npz", x=x)
    data = ls.data.load(str(tmp_path / "blocks.npz"))
    vq = ls.models.create("vqvae", likelihood="bernoulli", width=8, prior_width=8)
    vq.fit(data, steps=2, batch_size=16, progress=False)
    assert heldout_nll(vq, data, max_items=6)["likelihood_of"] == "discrete-binary"


def test_toy_sets_get_pacgan_metrics_and_mmd():
    data = ls.data.load("ring8", n=2000, n_test=500)
    gmm = ls.models.create("gmm", n_components=8).fit(data)
    res = evaluate(gmm, data, n=500)
    assert res["scores"]["modes_captured"] == res["floor"]["modes_captured"] == 8
    assert "mmd" in res["scores"] and res["scores"]["mmd"] < 0.01
    row = next(line for line in format_results(res).splitlines() if line.startswith("modes captured"))
    assert row.split()[-3:] == ["8/8", "8/8", "higher"]


def test_kernel_distances_below_zero_are_explained():
    res = {"model": "m", "data": "d", "n_samples": 10, "seed": 0,
           "scores": {"kid_mean": -0.0012, "mmd": 0.003}, "floor": {"kid_mean": 0.002, "mmd": -0.0004}, "details": {}}
    notes = [line for line in format_results(res).splitlines() if "below 0" in line]
    assert len(notes) == 2 and all("unbiased estimate of a value that is 0 can come out slightly below 0" in n
                                   for n in notes)
    assert "model -0.0012" in notes[0] and "floor -0.0004" in notes[1]
    res["scores"]["kid_mean"] = res["floor"]["mmd"] = 0.001
    assert "below 0" not in format_results(res)


@pytest.mark.parametrize("bad, message", [
    (torch.full((20, 1, 8, 8), float("nan")), "NaN"),
    (torch.rand(20, 64), "shape"),
    (torch.rand(3, 1, 8, 8), "at least"),
])
def test_bad_samples_are_refused(digits, phi, bad, message):
    with pytest.raises(UserError, match=message):
        evaluate(bad, digits, features=phi)


class MustNotSample:
    """A model that fails the test if evaluate samples from it."""

    name = "eager"
    conditional = False
    likelihood_kind = None

    def __init__(self, conditional=False):
        self.conditional = conditional

    def sample(self, n, *, seed=None, labels=None):
        raise AssertionError("sampled before the input checks")


@pytest.mark.parametrize("options, message", [
    ({}, "ring8 has 3 held-out item(s), and the two-set scores compare at least 6 a side"),
    ({"n": 5}, "n must be at least 6 samples"),
    ({"nll_items": 0}, "nll_items must be a positive integer"),
    ({"features": "inception"}, "unknown feature extractor kind"),
    ({"labels": torch.zeros(3), "n": 10}, "labels must hold one class per sample, 10 in all"),
])
def test_inputs_are_checked_before_sampling_or_training_features(monkeypatch, options, message):
    def no_extractor(*args, **kwargs):
        raise AssertionError("trained a feature extractor before the input checks")

    monkeypatch.setattr("latentspace.metrics.features.feature_extractor", no_extractor)
    data = ls.data.load("ring8", n=300, n_test=3 if not options else 100)
    with pytest.raises(UserError, match=re.escape(message)):
        evaluate(MustNotSample(conditional="labels" in options), data, **options)


def test_cli_evaluate_prints_the_table_with_the_floor(tmp_path, capsys):
    run = tmp_path / "gmm"
    assert main(["train", "gmm", "--data", "digits", "--out", str(run), "--set", "n_components=5"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--n", "300", "--nll-items", "50", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "floor" in out and "Fréchet distance" in out and "held-out accuracy" in out
    saved = json.loads((run / "metrics.json").read_text())
    assert set(saved["floor"]) >= {"fd", "precision", "recall"}


def test_volumes_get_a_3d_conv_autoencoder(tmp_path):
    g = torch.Generator().manual_seed(0)
    centres = torch.randint(3, 5, (120, 3), generator=g)
    grid = torch.stack(torch.meshgrid(*[torch.arange(8)] * 3, indexing="ij"), -1)
    x = ((grid[None] - centres[:, None, None, None]).pow(2).sum(-1) <= 4).float().numpy()  # blobs of 8^3
    import numpy as np

    np.savez(tmp_path / "blobs.npz", x=x)
    data = ls.data.load(str(tmp_path / "blobs.npz"))
    assert data.info.modality == "volume"
    phi = feature_extractor(data, config=FeatureConfig(num_features=16, width=8, min_steps=150, max_steps=150))
    assert phi.kind == "autoencoder" and isinstance(phi.phi.features[0], torch.nn.Conv3d)
    assert phi.scores["reconstruction_mse"] < phi.scores["data_variance"]
    res = evaluate(data.test.to_data(), data, features=phi)
    assert res["details"]["features"] == "autoencoder" and "fd" in res["floor"]
    # by default volumes get a light extractor with a transposed-conv decoder (a 3x3x3 conv at full
    # size, at width 32 and batch 128, took over 20 minutes on 32^3 chairs)
    light = default_config(data.info)
    assert (light.width, light.batch_size) == (8, 32) and default_config(ls.data.load("digits").info) == FeatureConfig()
    ae = FeatureExtractor(data.info, "autoencoder", 16, light.width)
    assert any(isinstance(m, torch.nn.ConvTranspose3d) for m in ae.head.modules())


class PerfectConditional:
    """A stand-in conditional model: returns held-out digits of the requested class."""

    name = "oracle"
    conditional = True
    likelihood_kind = None  # declared capability: no likelihood to score

    def __init__(self, data, wrong=0.0):
        self.data, self.wrong = data, wrong

    def sample(self, n, *, seed=None, labels=None):
        test = self.data.test
        g = torch.Generator().manual_seed(seed)
        labels = labels.clone()
        flip = torch.rand(n, generator=g) < self.wrong
        labels[flip] = (labels[flip] + 1) % 10
        picks = [torch.nonzero(test.y == c).flatten() for c in range(10)]
        idx = torch.stack([picks[c][torch.randint(len(picks[c]), (), generator=g)] for c in labels.tolist()])
        return test.to_data()[idx]


def test_conditional_models_are_scored_on_the_requested_labels(digits, phi):
    good = evaluate(PerfectConditional(digits), digits, n=300, features=phi)
    half = evaluate(PerfectConditional(digits, wrong=0.5), digits, n=300, features=phi)
    assert good["scores"]["conditional_accuracy"] > 0.9
    assert half["scores"]["conditional_accuracy"] == pytest.approx(0.5 * good["scores"]["conditional_accuracy"],
                                                                   abs=0.1)


def test_a_hutchinson_estimate_is_named_as_such_not_as_importance_sampling():
    data = ls.data.load("digits")
    model = ls.models.create("flow-matching", k=2).fit(data, steps=5, progress=False)
    res = ls.metrics.evaluate(model, data, n=100, nll_items=3)
    assert res["details"]["likelihood"] == "estimate"
    assert res["details"]["likelihood_estimator"] == "hutchinson"
    text = ls.metrics.format_results(res)
    assert "Hutchinson's estimator with k=2 probes (not a bound)" in text
    assert "importance" not in text
