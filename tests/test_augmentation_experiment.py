"""The augmentation experiment (issue 14): arms, paired differences, synthetic counts, seeding, refusals, the CLI."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

import latentspace as ls
from latentspace.data.dataset import Dataset
from latentspace.errors import UserError
from latentspace.metrics.augmentation import augmentation_experiment, balanced_accuracy, labelled_subset, \
    paired_difference, synthetic_counts

#: tiny trainings: a few generator steps and a narrow classifier of 40 steps (about a second each)
TINY = dict(generator_params={"steps": 4, "cgan": {"width": 8}}, classifier_config={"min_steps": 40, "width": 8})


@pytest.fixture(scope="module")
def digits():
    return ls.data.load("digits")


@pytest.fixture(scope="module")
def result(digits):
    return augmentation_experiment(digits, labels_per_class=10, seeds=3, **TINY)


def test_result_has_every_arm_with_consistent_statistics(result):
    assert set(result["arms"]) == {"classic", "cgan", "cvae"}
    assert result["seeds"] == 3 and result["labels_per_class"] == 10 and result["train_seconds"] > 0
    for arm, r in result["arms"].items():
        acc = np.array(r["accuracy"])
        assert len(acc) == 3 and np.all((acc >= 0) & (acc <= 1)), arm
        assert r["mean"] == pytest.approx(acc.mean()) and r["std"] == pytest.approx(acc.std(ddof=1)), arm
        balanced = np.array(r["balanced_accuracy"]["per_seed"])
        assert len(balanced) == 3 and np.all((balanced >= 0) & (balanced <= 1)), arm
        assert r["balanced_accuracy"]["mean"] == pytest.approx(balanced.mean()), arm
        assert np.abs(balanced - acc).max() < 0.05, arm  # digits' held-out split is nearly balanced
    classic = result["arms"]["classic"]
    for arm in ("cgan", "cvae"):
        for scores, base, values in ((result["arms"][arm], classic, "accuracy"),
                                     (result["arms"][arm]["balanced_accuracy"], classic["balanced_accuracy"],
                                      "per_seed")):
            d = scores["difference"]
            per_seed = np.array(scores[values]) - np.array(base[values])
            assert d["per_seed"] == pytest.approx(per_seed.tolist())
            assert d["mean"] == pytest.approx(per_seed.mean()) and d["std"] == pytest.approx(per_seed.std(ddof=1))
            assert 0 <= d["p_ttest"] <= 1 and 0 <= d["p_wilcoxon"] <= 1
    assert result["generator_params"] == {"cgan": {"steps": 4, "mode_seeking": 0.2, "width": 8}, "cvae": {"steps": 4}}
    assert result["classifier_config"]["augment"] == "jitter" and result["classifier_config"]["min_steps"] == 40


def test_balanced_subset_gets_as_many_synthetic_items_as_real_ones(result):
    assert result["synthetic_per_class"] == {str(c): 10 for c in range(10)}


def test_synthetic_counts_top_up_small_classes(digits):
    y = torch.tensor([0] * 5 + [1] * 2 + [3] * 8)  # class 2 absent
    subset = Dataset(torch.zeros(len(y), 1, 8, 8), y, info=digits.info)
    assert synthetic_counts(subset, None)[:4].tolist() == [5, 6, 0, 8]  # max(n_c, n_max - n_c); none when absent
    assert synthetic_counts(subset, 3)[:4].tolist() == [3, 3, 0, 3]


def test_labelled_subset_draws_per_class_and_per_seed(digits):
    a, b, again = (labelled_subset(digits, 7, seed) for seed in (0, 1, 0))
    assert torch.bincount(a.y, minlength=10).tolist() == [7] * 10
    assert torch.equal(a.x, again.x) and not torch.equal(a.x, b.x)
    train = {bytes(x.numpy()) for x in digits.x}
    assert all(bytes(x.numpy()) in train for x in a.x)
    assert len(labelled_subset(digits, None, 0)) == len(digits)


def test_same_seeds_give_the_same_accuracies_whatever_else_is_trained(digits, result):
    alone = augmentation_experiment(digits, ("cvae",), labels_per_class=10, seeds=3,
                                    **{**TINY, "generator_params": {"steps": 4}})
    assert alone["arms"]["classic"]["accuracy"] == result["arms"]["classic"]["accuracy"]
    assert alone["arms"]["cvae"]["accuracy"] == result["arms"]["cvae"]["accuracy"]
    assert alone["arms"]["cvae"]["accuracy"] != alone["arms"]["classic"]["accuracy"]


def test_balanced_accuracy_weighs_every_class_alike():
    truth = torch.tensor([0] * 8 + [1] * 2)
    predicted = torch.zeros(10, dtype=torch.long)  # right on the large class, wrong on the small one
    assert balanced_accuracy(predicted, truth) == pytest.approx(0.5)
    assert balanced_accuracy(truth, truth) == 1.0
    assert balanced_accuracy(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2])) == pytest.approx((1 + 1 + 0.5) / 3)


def test_paired_difference_is_a_paired_test():
    arm, base = [0.91, 0.88, 0.93, 0.90, 0.95], [0.90, 0.85, 0.93, 0.86, 0.90]
    d = paired_difference(arm, base)
    diffs = np.subtract(arm, base)
    assert d["mean"] == pytest.approx(diffs.mean())
    assert d["p_ttest"] == pytest.approx(stats.ttest_1samp(diffs, 0).pvalue)
    assert d["p_ttest"] < stats.ttest_ind(arm, base).pvalue  # pairing removes the seeds' common spread
    assert d["p_wilcoxon"] == pytest.approx(stats.wilcoxon(diffs).pvalue)
    same = paired_difference(base, base)
    assert same["mean"] == 0 and same["p_ttest"] == 1.0 and same["p_wilcoxon"] == 1.0
    one = paired_difference([0.9], [0.8])
    assert one["std"] is None and one["p_ttest"] is None


@pytest.mark.parametrize("change, match", [
    (lambda d: setattr(d, "y", None), "needs a labelled dataset"),
    (lambda d: setattr(d, "test", None), "no labelled held-out split"),
])
def test_refuses_data_it_cannot_run_on(digits, change, match):
    data = digits.subset(torch.arange(len(digits)))
    data.test = digits.test
    change(data)
    with pytest.raises(UserError, match=match):
        augmentation_experiment(data, **TINY)


@pytest.mark.parametrize("options, match", [
    ({"labels_per_class": 1000}, r"class '\d' of digits has \d+ training items, fewer than labels_per_class=1000"),
    ({"generators": ("gan",)}, "'gan' is not a conditional generator; use one of: cgan, cvae, ddpm, flow-matching"),
    ({"generators": ("nope",)}, "'nope' is not a conditional generator"),
    ({"seeds": 0}, "seeds must be a positive integer"),
    ({"seeds": 2.5}, "seeds must be a positive integer"),
    ({"synthetic_per_class": 0}, "synthetic_per_class must be a positive integer"),
    ({"generator_params": {"vqvae": {"steps": 3}}}, "names 'vqvae', which is not among the generators"),
    ({"generator_params": {"steps": -1}}, "steps must be a positive integer"),
    ({"classifier_config": {"depth": 3}}, "unknown classifier setting 'depth'"),
])
def test_refuses_bad_settings_in_one_line(digits, options, match):
    with pytest.raises(UserError, match=match) as e:
        augmentation_experiment(digits, **{**TINY, **options})
    assert "\n" not in str(e.value)


def test_families_conditional_on_request_are_trained_with_labels(digits, monkeypatch):
    """ddpm and flow-matching are offered, and trained with conditional=True (sampled per class)."""
    from latentspace.metrics import augmentation

    trained = []
    original = augmentation.train_generator

    def spy(name, subset, settings, seed, device):
        model = original(name, subset, settings, seed, device)
        trained.append((name, model.conditional))
        return model

    monkeypatch.setattr(augmentation, "train_generator", spy)
    res = augmentation_experiment(digits, generators=("flow-matching", "ddpm"), labels_per_class=5, seeds=1,
                                  generator_params={"steps": 2, "width": 8, "flow-matching": {"sample_steps": 2},
                                                    "ddpm": {"sample_steps": 2}},
                                  classifier_config={"min_steps": 20, "width": 8})
    assert trained == [("flow-matching", True), ("ddpm", True)]
    assert set(res["arms"]) == {"classic", "flow-matching", "ddpm"}


def test_benchmark_prints_the_result_as_its_last_line(capsys):
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "augmentation.py"
    spec = importlib.util.spec_from_file_location("augmentation_benchmark", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    returned = bench.main(["--data", "digits", "--data-option", "seed=1", "--labels-per-class", "5",
                           "--seeds", "2", "--generators", "cvae",
                           "--set", "steps=3", "--set", "cvae.latent_dim=4", "--classifier", "min_steps=20",
                           "--classifier", "width=8"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    printed = json.loads(last)
    assert printed == json.loads(json.dumps(returned))
    assert set(printed["arms"]) == {"classic", "cvae"} and printed["seeds"] == 2
    assert printed["data_options"] == {"seed": 1}
    assert printed["generator_params"] == {"cvae": {"steps": 3, "latent_dim": 4}}
    for arm in printed["arms"].values():
        assert 0 <= arm["mean"] <= 1 and arm["std"] >= 0
