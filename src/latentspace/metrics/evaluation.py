"""One call that scores a model (or a set of samples) against its data: what ``latentspace
evaluate`` prints.

Every sample score comes with its **floor**: the same score for the held-out real items
(``data.test``) in place of the samples, i.e. what a model that draws exactly from the data
distribution would get with the same number of items. Scores far from their floor are bad;
scores "better" than the floor usually mean memorisation.

What is compared with what
--------------------------
- *reference*: ``m`` training items (a seeded subset), the same for the model and the floor;
- *model*: the first ``m`` of the ``n`` samples; *floor*: ``m`` held-out items; with
  ``m = min(n, len(data.test))`` so that both sides see equally many items (Fréchet distance,
  KID and k-NN scores depend on the sample size);
- memorisation, class and toy 2-D scores use all ``n`` samples (their floor uses the held-out
  items), and the likelihood the first ``nll_items`` held-out items.

Features come from :func:`latentspace.metrics.features.feature_extractor`: standardised
coordinates for points, a classifier trained on the training split for labelled items, an
autoencoder otherwise; each feature is then standardised by the training items' mean and
standard deviation, so that scores are on one scale whatever the extractor.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from latentspace.metrics.display import SCORE_INFO, format_results, format_seconds, result_notes  # noqa: F401

#: held-out items scored by default when the likelihood is an importance-sampled estimate
AUTO_ESTIMATE_ITEMS = 100


def default_n(data) -> int:
    """2,500 samples on toy sets with known modes (PacGAN's protocol), 10,000 otherwise."""
    return 2500 if "modes" in (data.info.extra or {}) else 10000


def evaluate(model_or_samples, data, n: int | None = None, *, seed: int = 0, features="auto",
             nll_items: int | str | None = "auto", labels=None, progress: bool = False) -> dict:
    """Score a fitted model, or a tensor of samples in data space, against ``data``.

    Parameters
    ----------
    model_or_samples : GenerativeModel or tensor (n, *item shape)
        A fitted model (``n`` samples are drawn with ``seed``) or samples already drawn.
    data : Dataset
        The real data: its training split is the reference, ``data.test`` gives the floor.
    n : int, optional
        Samples to draw (default: :func:`default_n`).
    features : str or FeatureExtractor
        ``"auto"``, ``"classifier"``, ``"autoencoder"``, ``"standardised"`` or an extractor.
    nll_items : int, "auto" or None
        Held-out items scored for the likelihood. None: all; ``"auto"``: up to 10,000 for exact
        likelihoods, ``AUTO_ESTIMATE_ITEMS`` for importance-sampled estimates (each item costs
        ``k`` decoder passes: about 0.3 s for a conv VAE on MNIST with k=1000 on two CPU cores), or the
        model's own ``nll_items`` when it declares one (a likelihood costing many network passes per item).
    labels : tensor of int, optional
        For conditional models, the labels to request (default: the classes in turn).

    Returns
    -------
    dict
        ``model``, ``data``, ``n_samples``, ``seed``; ``scores`` (key -> value, see
        ``SCORE_INFO``); ``floor`` (the same keys for held-out real items); ``details``
        (features used and their held-out quality, likelihood kind, closest pairs, class
        histograms, samples/s, evaluation time).

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("ring8", n=2000, n_test=500)
    >>> gmm = ls.models.create("gmm", n_components=8).fit(data)
    >>> res = evaluate(gmm, data, n=500)
    >>> res["scores"]["modes_captured"], res["floor"]["modes_captured"]
    (8, 8)
    """
    from latentspace.errors import UserError
    from latentspace.metrics import scores as S
    from latentspace.metrics.features import FeatureExtractor, feature_extractor
    from latentspace.metrics.likelihood import heldout_nll
    from latentspace.metrics.toy2d import toy2d_metrics

    t_start = time.perf_counter()
    is_model = not isinstance(model_or_samples, (torch.Tensor, np.ndarray, list, tuple))
    model = model_or_samples if is_model else None
    x = None if is_model else torch.as_tensor(model_or_samples, dtype=torch.float32)
    n = (default_n(data) if n is None else n) if is_model else len(x)
    # Every check that needs no samples, before any work (sampling, training a feature extractor).
    requested = check_inputs(model, data, n, features=features, nll_items=nll_items, labels=labels)
    details: dict = {}
    if is_model:
        t0 = time.perf_counter()
        x = model.sample(n, seed=seed, labels=requested) if model.conditional else model.sample(n, seed=seed)
        details["samples_per_s"] = n / max(time.perf_counter() - t0, 1e-9)
        name = model.name
    else:
        name = "samples"
    x = x.detach().float().cpu()
    if tuple(x.shape[1:]) != tuple(data.shape):
        raise UserError(f"samples of shape {tuple(x.shape[1:])} do not match {data.name}'s items "
                        f"{tuple(data.shape)}; evaluate on the data the model was trained on")
    if not torch.isfinite(x).all():
        raise UserError(f"{int((~torch.isfinite(x)).flatten(1).any(1).sum())} of {n} samples contain NaN "
                        "or inf; the model has diverged — retrain it (lower the learning rate)")

    results: dict = {"model": name, "data": data.name, "n_samples": n, "seed": seed}
    scores: dict = {}
    floor: dict = {}
    test = data.test   # the splits are read a slice at a time: memory-mapped data is never held whole

    # Features of samples, training items and held-out items.
    phi = features if isinstance(features, FeatureExtractor) else feature_extractor(data, features,
                                                                                    progress=progress)
    details["features"] = phi.kind
    details["feature_dim"] = phi.num_features
    for key in ("accuracy", "reconstruction_mse", "data_variance", "heldout_split"):
        if key in getattr(phi, "scores", {}):
            details[f"feature_{key}"] = phi.scores[key]
    f_fake = phi.features(x)
    f_train = phi.features(data)
    f_test = phi.features(test) if test is not None else None
    # One scale for every extractor: features standardised by the training items' statistics
    # (KID's polynomial kernel, unlike the Fréchet distance, depends on the features' scale).
    # A feature that never varies in training (a border pixel of the digits under "standardised")
    # gets 1% of the typical spread as its scale: dividing by ~0 would let any sample that differs
    # there swamp every distance (FD ~1e16), while dropping it would hide that difference.
    mean, std = f_train.mean(0), f_train.std(0)
    std = std.clamp_min(max(1e-8, 0.01 * float(std.mean())))
    f_fake, f_train = (f_fake - mean) / std, (f_train - mean) / std
    f_test = (f_test - mean) / std if f_test is not None else None

    # Two-set scores on equal footing: m samples vs m reference items, m held-out vs the same.
    g = torch.Generator().manual_seed(seed)
    m = compared_items(data, n)  # at least 6: checked at the start
    ref = f_train[torch.randperm(len(f_train), generator=g)[:m]]
    details["n_compared"] = m
    candidates = {"scores": f_fake[:m]}
    if f_test is not None:
        candidates["floor"] = f_test[torch.randperm(len(f_test), generator=g)[:m]]
    for where, cand in candidates.items():
        out = scores if where == "scores" else floor
        out["fd"] = S.frechet_distance(ref, cand)
        out["kid_mean"] = S.kernel_inception_distance(ref, cand, seed=seed)["kid_mean"]
        out.update(S.precision_recall(ref, cand, k=5))
        out.update(S.density_coverage(ref, cand, k=5))
        if phi.kind == "standardised":
            out["mmd"] = S.mmd_rbf(ref, cand)
        out["c2st_accuracy"] = S.classifier_two_sample_test(ref, cand, seed=seed)["c2st_accuracy"]

    # Memorisation: nearest-training distances of all samples against those of held-out items.
    if f_test is not None:
        mem = S.memorisation(f_fake, f_train, f_test)
        scores["memorised_fraction"] = mem["memorised_fraction"]
        floor["memorised_fraction"] = mem["heldout_fraction"]
        details["closest_pairs"] = mem["closest_pairs"]
        details["memorisation_threshold_quantile"] = 0.01

    # Classes, as the domain classifier sees them.
    if phi.kind == "classifier":
        k = data.info.num_classes
        cls = S.class_scores(phi.predict(x), k, requested=requested)
        scores["class_coverage"], scores["class_entropy"] = cls["class_coverage"], cls["class_entropy"]
        details["class_histogram"] = cls["class_histogram"]
        details["classes_total"] = int(k)  # class_coverage is the share of these: shown as a count, "10/10"
        if requested is not None:
            scores["conditional_accuracy"] = cls["conditional_accuracy"]
        if test is not None:
            cls_floor = S.class_scores(phi.predict(test), k)
            floor["class_coverage"], floor["class_entropy"] = cls_floor["class_coverage"], cls_floor["class_entropy"]
            details["floor_class_histogram"] = cls_floor["class_histogram"]

    # PacGAN's toy metrics on sets with known modes.
    extra = data.info.extra or {}
    if "modes" in extra:
        scores.update(toy2d_metrics(x, extra["modes"], extra["sigma"]))
        real = test if test is not None else data
        real = real.to_data(real.x[torch.randperm(len(real), generator=g)[:n]])
        floor.update(toy2d_metrics(real, extra["modes"], extra["sigma"]))
        for key in ("modes_total",):
            details[key] = scores.pop(key, None)
            floor.pop(key, None)

    # Likelihood, where the model has one.
    if model is not None and data.test is not None and model.likelihood_kind is not None:
        if nll_items == "auto":
            nll_items = model.nll_items or (AUTO_ESTIMATE_ITEMS if model.likelihood_kind == "estimate" else 10000)
        nll = heldout_nll(model, data, max_items=nll_items)  # conditional models: log p(x|y), test labels
        if nll:
            scores["nll_nats"], scores["nll_bits_per_dim"] = nll["nll_nats"], nll["nll_bits_per_dim"]
            if "nelbo_nats" in nll:  # VAEs: the ELBO on the same items, beside the importance-sampled estimate
                scores["nelbo_nats"], scores["nelbo_bits_per_dim"] = nll["nelbo_nats"], nll["nelbo_bits_per_dim"]
            details["likelihood"], details["nll_items"] = nll["likelihood"], nll["nll_items"]
            details["heldout_items"] = len(data.test)
            for key in ("likelihood_of", "nll_sem_nats", "likelihood_k", "likelihood_estimator", "likelihood_items",
                        "active_units", "latent_dim"):
                if key in nll:
                    details[key] = nll[key]

    details["eval_seconds"] = time.perf_counter() - t_start
    results.update(scores=scores, floor=floor, details=details)
    return results


def compared_items(data, n: int) -> int:
    """``m``, the items a side of the two-set scores: ``n`` samples, at most as many as each split has."""
    m = min(n, len(data.test)) if data.test is not None else n
    return min(m, len(data))


def check_inputs(model, data, n: int, *, features="auto", nll_items="auto", labels=None):
    """Refuse, before any sampling or training, what :func:`evaluate` would refuse later: too few
    samples, a split too small for the k-NN scores, an unknown feature extractor, a bad
    ``nll_items``, labels that do not fit a conditional model. Returns the labels a conditional
    model is asked for (None otherwise)."""
    from latentspace.errors import UserError
    from latentspace.metrics.features import FeatureExtractor, resolve_kind

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 6:
        raise UserError(f"n must be at least 6 samples for the k-NN scores (k=5), got {n}")
    if compared_items(data, int(n)) < 6:  # the k-NN scores (k=5) need 6 items a side: say which split is short
        short_test = data.test is not None and len(data.test) < 6
        which, have = ("held-out", len(data.test)) if short_test else ("training", len(data))
        raise UserError(f"{data.name} has {have} {which} item(s), and the two-set scores compare at least 6 a side "
                        "(k=5 nearest neighbours); give data with at least 6 items in each split")
    if not isinstance(features, FeatureExtractor):
        resolve_kind(data, features)
    if not (nll_items in ("auto", None) or (isinstance(nll_items, (int, np.integer)) and not isinstance(nll_items, bool)
                                             and nll_items >= 1)):
        raise UserError(f"nll_items must be a positive integer, 'auto' or None (all), got {nll_items!r}")
    if model is None or not model.conditional:
        return None
    k = data.info.num_classes
    if k < 1:
        raise UserError(f"{model.name} draws samples given a class and {data.name} has no classes; "
                        "evaluate on the labelled data it was trained on")
    if model.likelihood_kind is not None and data.test is not None and data.test.y is None:
        raise UserError(f"{model.name} scores log p(x|y) and {data.name}'s held-out items have no labels; "
                        "evaluate on labelled data")
    if labels is None:
        return (torch.arange(n) % k).long()
    requested = torch.as_tensor(labels).long()
    if requested.shape != (n,):
        raise UserError(f"labels must hold one class per sample, {n} in all; got shape {tuple(requested.shape)}")
    return requested
