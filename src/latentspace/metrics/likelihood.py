"""Held-out likelihood, in nats per item and bits per dimension, with its kind stated."""

from __future__ import annotations

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
        likelihood (``model.likelihood_kind`` is None, e.g. GANs).
        Models that report an ELBO (``model.reports_elbo``: VAEs) add ``nelbo_nats`` and
        ``nelbo_bits_per_dim`` (the negative ELBO on the same items, an upper bound on the NLL);
        importance-sampled estimates add ``likelihood_k`` (importance samples, the model's ``k``
        parameter); models that measure their active latent units (``model.active_units_`` is
        set: VAEs) add ``active_units``, counted on the same items, and ``latent_dim``;
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
    >>> res["likelihood"], res["nll_items"]
    ('exact', 100)
    """
    test = data.test if data.test is not None else data
    if max_items is not None and max_items < 1:
        raise UserError(f"max_items must be a positive integer, got {max_items}")
    kind = model.likelihood_kind
    if kind is None:
        return None
    # the items as the model scores them, e.g. a fixed-seed binarisation for a model trained on binarised items
    x, note = model.likelihood_items(test.to_data())
    y = test.y
    if max_items is not None and len(x) > max_items:
        x = x[:max_items]
        y = y[:max_items] if y is not None else None
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
    nll = -float(ll.double().mean())
    dim = data.info.dim
    out = {"nll_nats": nll, "nll_bits_per_dim": nll / (dim * math.log(2)), "nll_items": int(len(x)),
           "likelihood": kind}
    if note:
        out["likelihood_items"] = note
    if kind == "estimate":
        samples = model.get_params().get("k")  # the importance samples of the estimate
        if samples:
            out["likelihood_k"] = int(samples)
    if model.reports_elbo:  # the ELBO beside the likelihood
        nelbo = -float(model.elbo(x, **kw).double().mean())
        out["nelbo_nats"], out["nelbo_bits_per_dim"] = nelbo, nelbo / (dim * math.log(2))
    if model.active_units_ is not None:  # a model that measures its active units: counted on these items
        out["active_units"] = model.active_units(x, **kw)
        out["latent_dim"] = int(model.latent_width())
    return out
