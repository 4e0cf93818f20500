r"""Does a conditional generator's output help a classifier trained on few labels? (issue 14)

Protocol, for each seed :math:`s = 0, \dots, S-1`:

1. draw the labelled subset: ``labels_per_class`` training items of each class, seeded by
   :math:`s` (None: every training item);
2. train each conditional generator (``cgan``, ``cvae``, ...) on that subset only, seeded by
   :math:`s`: it sees no more labels than the classifier does;
3. train one classifier per arm, all with classic augmentation (random scale :math:`\pm 10\%`
   and shift :math:`\pm 1/16`, :func:`latentspace.models.augment.jitter`) and seed :math:`s`:
   ``classic`` on the subset alone, and one per generator on the subset plus
   :math:`m_c` items of each class :math:`c` sampled from that generator;
4. score every classifier by its accuracy on the whole held-out split ``data.test``, and by its
   balanced accuracy (the mean of the per-class recalls), in which a small class weighs as much as
   a large one.

The classifier is the library's domain classifier
(:class:`~latentspace.metrics.features.FeatureExtractor` with kind ``"classifier"``, trained by
:func:`~latentspace.metrics.features.train_extractor` with :class:`FeatureConfig`'s defaults: at
least 600 steps of batch 128), so every arm gets the same number of steps whatever its size.
Each generator arm is compared with ``classic`` over the seeds, paired by seed: the mean and
sample standard deviation of the differences, a paired t-test and a Wilcoxon signed-rank test
(with 5 seeds the two-sided Wilcoxon p-value is never below 2/32 = 0.0625).

Synthetic items per class, by default :math:`m_c = \max(n_c, n_{\max} - n_c)` with :math:`n_c`
the class's labelled items: a balanced subset is doubled (as many synthetic items as real ones);
on unbalanced data each small class is topped up to the largest class's size, where generated
items could help most, and every class is augmented (the largest gets :math:`n_c`).
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import asdict, fields
from typing import NamedTuple

import numpy as np
import torch

from latentspace.data.dataset import Dataset
from latentspace.errors import UserError
from latentspace.metrics.features import FeatureConfig, FeatureExtractor, default_config, train_extractor

#: fixed lengths (never time budgets, so the figures do not depend on the machine's load), sized for one
#: seed of MNIST with 100 labels per class (both generators and three classifiers) to take 3-4 minutes on
#: two idle cores: cgan 2,000 steps at the README's 14.6 steps/s (batch 64) is about 140 s, the MLP cvae
#: 3,000 steps at 73 steps/s about 40 s, and each classifier of 600 steps about 15 s (both measured on
#: the 2-core development machine, nearly idle). With other trainings beside it (load 2-6) the same seed
#: took 662 s (docs/augmentation.md). ``mode_seeking``: the cgan otherwise draws one item per class.
DEFAULT_GENERATOR_PARAMS = {"cgan": {"steps": 2000, "mode_seeking": 0.2}, "cvae": {"steps": 3000}}
#: generator settings that go to ``fit`` rather than to the model's constructor
FIT_OPTIONS = ("steps", "batch_size")


class Scores(NamedTuple):
    """One classifier's held-out accuracy, and its balanced accuracy (the mean of the per-class recalls)."""

    accuracy: float
    balanced: float

    def __str__(self) -> str:
        return f"accuracy {self.accuracy:.4f}, balanced {self.balanced:.4f}"


def augmentation_experiment(data, generators=("cgan", "cvae"), *, labels_per_class=None, seeds=5,
                            synthetic_per_class=None, generator_params=None, classifier_config=None,
                            progress=False, device=None) -> dict:
    """Classifier accuracy with classic augmentation alone and with a conditional generator's samples added.

    Parameters
    ----------
    data : Dataset
        A labelled dataset (``ls.data.load(...)``) with its held-out split ``data.test``.
    generators : sequence of str
        Registered conditional models (``cgan``, ``cvae``), or models trained with ``conditional=True``
        (``ddpm``, ``flow-matching``); one arm each.
    labels_per_class : int, optional
        Labelled training items drawn per class and seed; None: all training items.
    seeds : int
        Repetitions, seeds 0 .. seeds - 1 (subset, generators, sampling and classifiers).
    synthetic_per_class : int, optional
        Synthetic items per class; None: ``max(n_c, n_max - n_c)`` (see the module docstring).
    generator_params : dict, optional
        Settings for every generator (``{"steps": 3000}``), or for one, under its name
        (``{"cgan": {"steps": 1000}}``); ``steps`` and ``batch_size`` go to ``fit``, the rest to
        ``ls.models.create``. Merged over :data:`DEFAULT_GENERATOR_PARAMS`.
    classifier_config : dict, optional
        :class:`FeatureConfig` fields over the modality's defaults and ``augment="jitter"``.
    progress : bool
        Print one line per trained model to stderr.
    device : str, optional
        Where to train (default: CUDA when available, else the CPU).

    Returns
    -------
    dict
        ``arms``: per arm ``accuracy`` (one per seed), ``mean`` and ``std`` (ddof=1), and for each
        generator ``difference`` against ``classic`` (``mean``, ``std``, ``p_ttest``, ``p_wilcoxon``);
        ``balanced_accuracy`` (the mean of the per-class recalls: what the small classes weigh in it)
        likewise, its values under ``per_seed``;
        ``seeds``, ``labels_per_class``, ``synthetic_per_class`` ({class: items}),
        ``generator_params``, ``classifier_config`` and ``train_seconds`` (wall time of it all).

    Examples
    --------
    >>> import latentspace as ls
    >>> res = augmentation_experiment(ls.data.load("digits"), labels_per_class=20)  # doctest: +SKIP
    >>> res["arms"]["cvae"]["difference"]["mean"]                                     # doctest: +SKIP
    """
    t0 = time.perf_counter()
    check_inputs(data, generators, labels_per_class, seeds, synthetic_per_class)
    params = generator_settings(generators, generator_params)
    config = classifier_settings(data.info, classifier_config)
    device = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    say = (lambda line: print(line, file=sys.stderr, flush=True)) if progress else (lambda line: None)
    scores: dict = {arm: [] for arm in ("classic", *generators)}  # per seed: (accuracy, balanced accuracy)
    for seed in range(seeds):
        subset = labelled_subset(data, labels_per_class, seed)
        counts = synthetic_counts(subset, synthetic_per_class)
        scores["classic"].append(classifier_scores(subset, data.test, config, seed, device))
        say(f"seed {seed}: classic {scores['classic'][-1]} ({time.perf_counter() - t0:.0f} s)")
        for name in generators:
            model = train_generator(name, subset, params[name], seed, device)
            say(f"seed {seed}: {name} trained ({time.perf_counter() - t0:.0f} s)")
            extra = synthetic_items(model, counts, seed, data.info)
            scores[name].append(classifier_scores(concatenate(subset, extra), data.test, config, seed, device))
            say(f"seed {seed}: +{name} {scores[name][-1]} ({time.perf_counter() - t0:.0f} s)")
    arms = arm_summaries(scores)
    return {"arms": arms, "seeds": seeds, "labels_per_class": labels_per_class,
            "synthetic_per_class": dict(zip(data.classes, counts.tolist())), "generator_params": params,
            "classifier_config": asdict(config) | {"seed": "per seed"}, "train_seconds": time.perf_counter() - t0}


def check_inputs(data, generators, labels_per_class, seeds, synthetic_per_class) -> None:
    """Refuse, in one line naming the fix, what the experiment cannot run on."""
    from latentspace.models import registry

    if not isinstance(data, Dataset) or data.y is None or data.num_classes < 2:
        raise UserError("the augmentation experiment needs a labelled dataset with two classes or more; "
                        "load one with ls.data.load (image sub-folders per class, or y in the .npz)")
    if data.test is None or data.test.y is None:
        raise UserError(f"{data.name} has no labelled held-out split to score the classifiers on; "
                        "load it with ls.data.load, which always makes one")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise UserError(f"seeds must be a positive integer, got {seeds!r}; use 5 for the issue's protocol")
    for name, value in (("labels_per_class", labels_per_class), ("synthetic_per_class", synthetic_per_class)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise UserError(f"{name} must be a positive integer or None, got {value!r}")
    known = registry()
    for name in generators:
        if name not in known or not can_condition(known[name]):
            usable = ", ".join(sorted(n for n, cls in known.items() if can_condition(cls)))
            raise UserError(f"{name!r} is not a conditional generator; use one of: {usable}")
    if labels_per_class is not None:
        counts = torch.bincount(data.y, minlength=data.num_classes)
        short = int(counts.argmin())
        if int(counts[short]) < labels_per_class:
            raise UserError(f"class {data.classes[short]!r} of {data.name} has {int(counts[short])} training items, "
                            f"fewer than labels_per_class={labels_per_class}; ask for at most {int(counts.min())}")


def can_condition(cls) -> bool:
    """Whether a registered model samples given labels: by its nature (``cgan``, ``cvae``), or when created
    with ``conditional=True`` (``ddpm``, ``flow-matching``), which the experiment then does."""
    return bool(cls.conditional) or "conditional" in cls._param_names()


def generator_settings(generators, given) -> dict:
    """Per generator: :data:`DEFAULT_GENERATOR_PARAMS`, then the settings for all, then its own."""
    given = dict(given or {})
    own = {k: given.pop(k) for k in list(given) if isinstance(given[k], dict)}
    for name in own:
        if name not in generators:
            raise UserError(f"generator_params names {name!r}, which is not among the generators "
                            f"({', '.join(generators)}); drop it or add it to the generators")
    out = {name: {**DEFAULT_GENERATOR_PARAMS.get(name, {}), **given, **own.get(name, {})} for name in generators}
    for name, settings in out.items():
        for key in FIT_OPTIONS:
            value = settings.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise UserError(f"{name}: {key} must be a positive integer, got {value!r}")
    return out


def classifier_settings(info, overrides) -> FeatureConfig:
    """The classifier's :class:`FeatureConfig`: the modality's defaults, jitter, then ``overrides``."""
    overrides = dict(overrides or {})
    valid = {f.name for f in fields(FeatureConfig)} - {"kind", "seed"}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise UserError(f"unknown classifier setting {unknown[0]!r}; use some of: {', '.join(sorted(valid))}")
    return FeatureConfig(**{**asdict(default_config(info)), "augment": "jitter", **overrides, "kind": "classifier"})


def labelled_subset(data, labels_per_class, seed: int) -> Dataset:
    """``labels_per_class`` training items of each class, drawn with ``seed`` (None: all of them)."""
    if labels_per_class is None:
        return data.subset(torch.arange(len(data)))
    g = torch.Generator().manual_seed(seed)
    picks = []
    for c in range(data.num_classes):
        members = torch.nonzero(data.y == c).flatten()
        picks.append(members[torch.randperm(len(members), generator=g)[:labels_per_class]])
    return data.subset(torch.cat(picks).sort().values)


def synthetic_counts(subset, per_class) -> torch.Tensor:
    """Synthetic items per class: ``per_class``, or ``max(n_c, n_max - n_c)``; none for an absent class."""
    n = torch.bincount(subset.y, minlength=subset.num_classes)
    counts = torch.full_like(n, per_class) if per_class is not None else torch.maximum(n, n.max() - n)
    return torch.where(n > 0, counts, torch.zeros_like(n))


def train_generator(name: str, subset, settings: dict, seed: int, device):
    """A conditional model ``name`` created as the library does (``ls.models.create``), fitted on ``subset``."""
    from latentspace.models import create

    fit = {k: settings[k] for k in FIT_OPTIONS if settings.get(k) is not None}
    params = {k: v for k, v in settings.items() if k not in FIT_OPTIONS}
    model = create(name, **params)
    if not model.conditional:       # a family conditional on request (ddpm, flow-matching)
        model.set_params(conditional=True)
    return model.fit(subset, seed=seed, progress=False, device=str(device), **fit)


def synthetic_items(model, counts: torch.Tensor, seed: int, info) -> Dataset | None:
    """``counts[c]`` items of each class ``c`` sampled from ``model``, mapped to model space (None if none)."""
    labels = torch.repeat_interleave(torch.arange(len(counts)), counts)
    if len(labels) == 0:
        return None
    x = model.sample(len(labels), labels=labels, seed=seed).cpu()
    return Dataset(info.to_model(x), labels, info=info)


def concatenate(subset, extra) -> Dataset:
    """The labelled subset with the synthetic items appended."""
    if extra is None:
        return subset
    return Dataset(torch.cat([subset.x, extra.x]), torch.cat([subset.y, extra.y]), info=subset.info)


def classifier_scores(train, test, config: FeatureConfig, seed: int, device) -> Scores:
    """Held-out accuracy and balanced accuracy on ``test`` of the domain classifier trained on ``train``."""
    config = FeatureConfig(**{**asdict(config), "seed": seed})
    phi = FeatureExtractor(train.info, "classifier", config.num_features, config.width, train.num_classes)
    train_extractor(phi.to(device), train, config, device)
    predicted = phi.predict(test)
    return Scores(float((predicted == test.y).float().mean()), balanced_accuracy(predicted, test.y))


def balanced_accuracy(predicted: torch.Tensor, truth: torch.Tensor) -> float:
    """The mean over the classes present in ``truth`` of the share of their items predicted right.

    Examples
    --------
    >>> balanced_accuracy(torch.tensor([0, 0, 0, 0]), torch.tensor([0, 0, 0, 1]))  # accuracy 0.75
    0.5
    """
    right = predicted == truth
    return float(np.mean([float(right[truth == c].float().mean()) for c in torch.unique(truth)]))


def arm_summaries(scores: dict) -> dict:
    """Per arm: accuracy and balanced accuracy over the seeds, each generator's paired against ``classic``."""
    out = {}
    for arm, per_seed in scores.items():
        accuracy, balanced = [s.accuracy for s in per_seed], [s.balanced for s in per_seed]
        out[arm] = {**summary(accuracy), "balanced_accuracy": summary(balanced, key="per_seed")}
        if arm != "classic":
            base = scores["classic"]
            out[arm]["difference"] = paired_difference(accuracy, [s.accuracy for s in base])
            out[arm]["balanced_accuracy"]["difference"] = paired_difference(balanced, [s.balanced for s in base])
    return out


def summary(values, key: str = "accuracy") -> dict:
    """The per-seed values (under ``key``), their mean and sample standard deviation (None for one seed)."""
    v = np.asarray(values, dtype=float)
    return {key: v.tolist(), "mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else None}


def paired_difference(arm, base) -> dict:
    """``arm - base`` paired by seed: mean, std (ddof=1), paired t-test and Wilcoxon p-values (both 1
    when every difference is 0, where the tests are undefined; None for one seed).

    Examples
    --------
    >>> d = paired_difference([0.9, 0.8, 0.7], [0.8, 0.8, 0.6])
    >>> round(d["mean"], 4), d["p_wilcoxon"] is not None
    (0.0667, True)
    """
    from scipy import stats

    a, b = np.asarray(arm, dtype=float), np.asarray(base, dtype=float)
    d = a - b
    out = {"per_seed": d.tolist(), "mean": float(d.mean()), "std": float(d.std(ddof=1)) if len(d) > 1 else None,
           "p_ttest": None, "p_wilcoxon": None}
    if len(d) < 2:
        return out
    if not np.any(d):
        return {**out, "p_ttest": 1.0, "p_wilcoxon": 1.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant differences: t is infinite, p is 0
        out["p_ttest"] = float(stats.ttest_rel(a, b).pvalue)
        out["p_wilcoxon"] = float(stats.wilcoxon(d).pvalue)
    return out
