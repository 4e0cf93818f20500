"""Held-out likelihood, in nats per item and bits per dimension, with its kind stated.

Every held-out likelihood says two things about itself:

- **what it is a likelihood of** (``likelihood_of``, one of :data:`LIKELIHOOD_OF`): a density of
  continuous data-space values, a density of values in [0, 1], a probability of binary or 8-bit
  items, or a Bernoulli cross-entropy of grey levels. Numbers of different kinds are on different
  scales (a density can exceed 1, a probability cannot) and are never ranked against each other;
- **how it was measured** (``likelihood``, the model's ``likelihood_kind``): exact, a bound or an
  importance-sampled estimate.

Two NLLs are comparable when they are of one kind, on one dataset and on the same held-out items
(:func:`likelihood_group`).
"""

from __future__ import annotations

import math

import torch

from latentspace.errors import UserError

#: what a held-out likelihood is a likelihood of: kind -> (short label, one sentence)
LIKELIHOOD_OF: dict[str, tuple[str, str]] = {
    "density": ("density of data-space values",
                "a density of continuous data-space values (the affine map's Jacobian included); a density can "
                "exceed 1, so the NLL can be negative"),
    "density-unit": ("density of values in [0, 1]",
                     "a density of values confined to [0, 1] (continuous Bernoulli); it can exceed 1, so the NLL "
                     "can be negative"),
    "discrete-binary": ("probability of binary items",
                        "a probability of binary items (Bernoulli), so the NLL is >= 0"),
    "discrete-8bit": ("probability of 8-bit items",
                      "a probability of items on 256 levels (a discretised logistic, or a flow's bound through "
                      "dequantisation), so the NLL is >= 0 and bits/dim compare with published 8-bit figures"),
    "cross-entropy": ("Bernoulli cross-entropy of grey levels",
                      "a Bernoulli cross-entropy of grey levels: neither a density nor a probability of the items"),
}

#: how a held-out likelihood was measured (``model.likelihood_kind``): kind -> phrase ({k}: the
#: importance samples, when known)
MEASURED = {"exact": "exact", "bound": "a bound (the NLL is an upper bound)",
            "estimate": "an importance-sampled estimate{k} (an upper bound on the NLL in expectation)"}
#: estimates that are not importance-sampled (``model.likelihood_estimator``): estimator -> phrase, ({k}: its
#: probes, when known)
ESTIMATED = {"hutchinson": "an unbiased estimate through the ODE, its divergence by Hutchinson's estimator{k} "
                           "(not a bound)"}

def declared_likelihood_of(model) -> str | None:
    """What ``model``'s likelihood is a likelihood of, as the model declares it (``model.likelihood_of``,
    a key of :data:`LIKELIHOOD_OF`), before the items are looked at; None without a likelihood."""
    return model.likelihood_of if model.likelihood_kind is not None else None


def likelihood_of(model, items) -> str | None:
    """What ``model``'s held-out likelihood of ``items`` (as measured: ``model.likelihood_items``) is a
    likelihood of: :func:`declared_likelihood_of`, where a Bernoulli cross-entropy of items that are
    all 0 or 1 is what it then is, a probability of binary items."""
    kind = declared_likelihood_of(model)
    if kind == "cross-entropy":
        x = torch.as_tensor(items)
        if bool(((x == 0) | (x == 1)).all()):
            kind = "discrete-binary"
    return kind


def likelihood_group(results: dict) -> tuple | None:
    """What makes two evaluations' NLLs comparable: the dataset, what the likelihood is of, and the
    held-out items it was measured on (how many, how prepared); None when the evaluation did not
    record its kind (an older ``metrics.json``) or has no likelihood."""
    d = results.get("details") or {}
    if not d.get("likelihood_of"):
        return None
    return (results.get("data"), d["likelihood_of"], d.get("nll_items"), d.get("likelihood_items"))


def likelihood_label(details: dict, long: bool = False) -> str | None:
    """The kind of an evaluation's likelihood in words ("density of data-space values"; ``long``: the
    sentence), or None when it did not record one."""
    kind = details.get("likelihood_of")
    if kind not in LIKELIHOOD_OF:
        return kind
    return LIKELIHOOD_OF[kind][1 if long else 0]


def heldout_nll(model, data, max_items: int | None = None) -> dict | None:
    """Mean negative log-likelihood of the held-out items ``data.test``, in data space.

    Parameters
    ----------
    model : GenerativeModel
        A fitted model; its ``score_samples`` gives per-item log-likelihoods in nats.
    data : Dataset
        Its ``test`` split is scored (the items themselves when it has none).
    max_items : int, optional
        Score only the first ``max_items`` held-out items.

    Returns
    -------
    dict or None
        ``nll_nats`` (mean NLL per item, nats), ``nll_bits_per_dim``
        (``nll_nats / (dim * ln 2)``), ``nll_sem_nats`` (its standard error over the items),
        ``nll_items`` (items scored), ``likelihood_of`` (what it is a likelihood of, a key of
        :data:`LIKELIHOOD_OF`: ``"density"`` for KDE, GMM, PPCA) and ``likelihood``: how the
        number was measured -- ``"exact"`` (KDE, GMM, PPCA), ``"bound"`` (an ELBO: the NLL is an
        upper bound) or ``"estimate"`` (an importance-sampled estimate, a lower bound on log p in
        expectation, so again an upper bound on the NLL). None when the model has no
        likelihood (``model.likelihood_kind`` is None, e.g. GANs).
        Models that report an ELBO (``model.reports_elbo``: VAEs) add ``nelbo_nats`` and
        ``nelbo_bits_per_dim`` (the negative ELBO on the same items, an upper bound on the NLL);
        estimates add ``likelihood_k`` (importance samples, or probes of a trace estimator: the model's
        ``k`` parameter) and, when not importance-sampled, ``likelihood_estimator``; models that measure
        their active latent units (``model.active_units_`` is set: VAEs) add ``active_units``, counted on
        the same items, and ``latent_dim``;
        ``likelihood_items`` says how the items were prepared when the model asks for it
        (``model.likelihood_items``, e.g. a fixed-seed binarisation for a VAE trained on
        dynamically binarised MNIST).

    Conditional models (``model.conditional``, e.g. cvae) are scored on
    :math:`\\log p(x|y)` with the held-out labels.

    Notes
    -----
    The density is that of the data-space values (pixel intensities in [0, 1] for images), a
    continuous density, so bits per dimension can be negative. Published bits/dim for 8-bit
    images use dequantised data on a 0..256 scale; for data in [0, 1] that is this figure plus
    8, and only comparable when the model was fitted to dequantised data. Likelihoods of
    discrete values are probabilities instead (a VAE's Bernoulli likelihood of binarised items,
    its discretised logistic over 256 levels), so their bits/dim are >= 0 and compare with
    published figures for the same discretisation as they are.

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("ring8", n=1000, n_test=100)
    >>> res = heldout_nll(ls.models.create("gmm", n_components=8).fit(data), data)
    >>> res["likelihood"], res["likelihood_of"], res["nll_items"]
    ('exact', 'density', 100)
    """
    test = data.test if data.test is not None else data
    if max_items is not None and max_items < 1:
        raise UserError(f"max_items must be a positive integer, got {max_items}")
    kind = model.likelihood_kind
    if kind is None:
        return None
    # the items as the model scores them, e.g. a fixed-seed binarisation for a model trained on binarised items
    n = len(test) if max_items is None else min(len(test), max_items)
    x, note = model.likelihood_items(test.to_data(test.x[:n]))   # the first n only: mapped data stays on disk
    y = test.y[:n] if test.y is not None else None
    kw = {}
    if model.conditional:
        if y is None:
            raise UserError(f"{model.name} scores log p(x|y) and {data.name}'s held-out items have no labels; "
                            "evaluate on labelled data")
        kw = {"labels": y}
    try:
        ll = model.score_samples(x, **kw)
    except NotImplementedError:
        return None
    ll = ll.double()
    nll = -float(ll.mean())
    dim = data.info.dim
    sem = float(ll.std() / math.sqrt(len(ll))) if len(ll) > 1 else None
    out = {"nll_nats": nll, "nll_bits_per_dim": nll / (dim * math.log(2)), "nll_sem_nats": sem,
           "nll_items": int(len(x)), "likelihood": kind, "likelihood_of": likelihood_of(model, x)}
    if note:
        out["likelihood_items"] = note
    if kind == "estimate":
        samples = model.get_params().get("k")  # the importance samples (or probes) of the estimate
        if samples:
            out["likelihood_k"] = int(samples)
        if model.likelihood_estimator != "importance":
            out["likelihood_estimator"] = model.likelihood_estimator
    if model.reports_elbo:  # the ELBO beside the likelihood
        nelbo = -float(model.elbo(x, **kw).double().mean())
        out["nelbo_nats"], out["nelbo_bits_per_dim"] = nelbo, nelbo / (dim * math.log(2))
    if model.active_units_ is not None:  # a model that measures its active units: counted on these items
        out["active_units"] = model.active_units(x, **kw)
        out["latent_dim"] = int(model.latent_width())
    return out
