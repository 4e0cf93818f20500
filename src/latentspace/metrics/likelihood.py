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
        likelihood (its ``score_samples`` raises ``NotImplementedError``, e.g. GANs).

    Notes
    -----
    The density is that of the data-space values (pixel intensities in [0, 1] for images), a
    continuous density, so bits per dimension can be negative. Published bits/dim for 8-bit
    images use dequantised data on a 0..256 scale; for data in [0, 1] that is this figure plus
    8, and only comparable when the model was fitted to dequantised data.

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
    x = test.to_data()
    if max_items is not None and len(x) > max_items:
        x = x[:max_items]
    if not hasattr(model, "score_samples"):
        return None
    try:
        ll = model.score_samples(x)
    except NotImplementedError:
        return None
    ll = ll.double() if hasattr(ll, "double") else ll
    nll = -float(ll.mean())
    dim = data.info.dim
    return {"nll_nats": nll, "nll_bits_per_dim": nll / (dim * math.log(2)), "nll_items": int(len(x)),
            "likelihood": getattr(model, "likelihood_kind", None)}
