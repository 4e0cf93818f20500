"""Held-out likelihood, in nats per item and bits per dimension, with its kind stated."""

from __future__ import annotations

import inspect
import math

from latentspace.errors import UserError


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
        (``nll_nats / (dim * ln 2)``), ``nll_items`` (items scored) and ``likelihood``: what the
        number is -- ``"exact"`` (KDE, GMM, PPCA), ``"bound"`` (an ELBO: the NLL is an upper
        bound) or ``"estimate"`` (an importance-sampled estimate, a lower bound on log p in
        expectation, so again an upper bound on the NLL). None when the model has no
        likelihood (its ``score_samples`` raises ``NotImplementedError``, e.g. GANs).
        Models with an ELBO (VAEs) add ``nelbo_nats`` and ``nelbo_bits_per_dim`` (the negative
        ELBO on the same items, an upper bound on the NLL), ``likelihood_k`` (importance samples),
        ``active_units`` and ``latent_dim``; ``likelihood_items`` says how the items were
        prepared when the model asks for it (``model.likelihood_items``, e.g. a fixed-seed
        binarisation for a VAE trained on dynamically binarised MNIST).

    Conditional models whose ``score_samples`` takes ``labels`` (cvae) are scored on
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
    >>> res["likelihood"], res["nll_items"]
    ('exact', 100)
    """
    test = data.test if data.test is not None else data
    if max_items is not None and max_items < 1:
        raise UserError(f"max_items must be a positive integer, got {max_items}")
    if not hasattr(model, "score_samples"):
        return None
    x, y = test.to_data(), test.y
    note = None
    if hasattr(model, "likelihood_items"):  # e.g. a fixed-seed binarisation for a model trained on binarised items
        x, note = model.likelihood_items(x)
    if max_items is not None and len(x) > max_items:
        x = x[:max_items]
        y = y[:max_items] if y is not None else None
    kw = {}
    if getattr(model, "conditional", False) and _takes_labels(model.score_samples):
        if y is None:
            raise UserError(f"{model.name} scores log p(x|y) and {data.name}'s held-out items have no labels; "
                            "evaluate on labelled data")
        kw = {"labels": y}
    try:
        ll = model.score_samples(x, **kw)
    except NotImplementedError:
        return None
    ll = ll.double() if hasattr(ll, "double") else ll
    nll = -float(ll.mean())
    dim = data.info.dim
    out = {"nll_nats": nll, "nll_bits_per_dim": nll / (dim * math.log(2)), "nll_items": int(len(x)),
           "likelihood": getattr(model, "likelihood_kind", None)}
    if note:
        out["likelihood_items"] = note
    if getattr(model, "likelihood_kind", None) == "estimate" and getattr(model, "k", None):
        out["likelihood_k"] = int(model.k)
    if getattr(model, "likelihood_kind", None) == "estimate" and hasattr(model, "elbo"):  # the ELBO beside it
        nelbo = -float(model.elbo(x, **kw).double().mean())
        out["nelbo_nats"], out["nelbo_bits_per_dim"] = nelbo, nelbo / (dim * math.log(2))
    if hasattr(model, "active_units"):
        out["active_units"] = model.active_units(x, **kw)
        out["latent_dim"] = int(model.z_dim)
    return out


def _takes_labels(fn) -> bool:
    """Whether a model's method accepts ``labels=`` (the conditional VAE's likelihood does)."""
    try:
        return "labels" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
