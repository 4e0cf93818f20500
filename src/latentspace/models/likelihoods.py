r"""Decoder likelihoods :math:`p(x|z)`, element-wise: the log-probabilities of the VAE family
(and the VQ-VAE), their means, and the fixed-seed binarisation of held-out items
(:mod:`latentspace.models.vae` states the objectives they enter).

Likelihoods :math:`p_\theta(x|z)` (``likelihood``), each a product over features:

- ``bernoulli``: :math:`x \log \lambda + (1-x) \log(1-\lambda)` with :math:`\lambda = \sigma(\eta)` the
  decoder's logits through the logistic function. A probability of binary data; for grey levels
  it is a cross-entropy, not a likelihood, hence binarisation (below).
- ``gaussian``: :math:`\mathcal N(x; \mu_\theta(z), \sigma^2)` in model space, with a learned
  per-feature variance (``sigma=0``) or a fixed standard deviation ``sigma``; a density of the
  data-space values (the affine map's Jacobian is added).
- ``continuous-bernoulli`` (Loaiza-Ganem & Cunningham 2019), the normalised Bernoulli on
  :math:`x \in [0, 1]`: :math:`p(x|\lambda) = C(\lambda) \lambda^x (1-\lambda)^{1-x}` with
  :math:`C(\lambda) = \frac{2 \operatorname{artanh}(1 - 2\lambda)}{1 - 2\lambda} = \frac{\eta}{\tanh(\eta/2)}`,
  :math:`C(\tfrac12) = 2`; near :math:`\eta = 0` its logarithm is the series
  :math:`\log 2 + \log(1 + \eta^2/12 - \eta^4/720 + \eta^6/30240)` (:func:`continuous_bernoulli_log_norm`).
  Its mean is not :math:`\lambda` but :math:`\sigma(\eta)/\tanh(\eta/2) - 1/\eta`.
- ``logistic``: the discretised logistic of PixelCNN++ (Salimans et al. 2017) over 256 levels of
  :math:`x \in [0, 1]`, with a mean :math:`m` and a log-scale :math:`\log s` per feature from the
  decoder: :math:`P(x) = \sigma(\frac{x + \delta - m}{s}) - \sigma(\frac{x - \delta - m}{s})`,
  :math:`\delta = \frac{1}{2 \cdot 255}`, the end bins taking the tails
  (:func:`discretized_logistic_log_prob`). A probability of 8-bit data, so bits/dim compare with
  published 8-bit figures directly.

Binarisation (``binarize``): with the Bernoulli likelihood, training items are binarised
*dynamically*, :math:`x \sim \text{Bernoulli}(\text{intensity})` afresh each time an item is
drawn (Salakhutdinov & Murray 2008), and the held-out likelihood is measured on the test split
binarised *once* with a fixed seed (:func:`binarize`, seed 0), the protocol of Burda et al. 2016.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)
#: seed of the fixed binarisation of held-out items
TEST_BINARIZE_SEED = 0
#: discretisation levels of the ``logistic`` likelihood
LOGISTIC_BINS = 256
#: likelihoods of values in [0, 1] (their target is the data-space item)
UNIT_LIKELIHOODS = ("bernoulli", "continuous-bernoulli", "logistic")
#: what each decoder likelihood is a likelihood of (``GenerativeModel.likelihood_of``); a Bernoulli is a
#: probability only of binary items (binarised ones), otherwise a cross-entropy of grey levels
LIKELIHOOD_OF = {"gaussian": "density", "continuous-bernoulli": "density-unit", "logistic": "discrete-8bit",
                 "bernoulli": "cross-entropy"}
def gaussian_log_prob(x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Element-wise log-density of :math:`\\mathcal N(x; \\mu, e^{\\text{logvar}})`."""
    return -0.5 * (LOG_2PI + logvar + (x - mu) ** 2 * torch.exp(-logvar))


def bernoulli_log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    r"""Element-wise :math:`x \log \lambda + (1 - x) \log (1 - \lambda)`, :math:`\lambda = \sigma(\text{logits})`."""
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none")


def continuous_bernoulli_log_norm(logits: torch.Tensor) -> torch.Tensor:
    r"""Log-normaliser :math:`\log C(\lambda)` of the continuous Bernoulli, :math:`\lambda = \sigma(\eta)`.

    :math:`C = 2 \operatorname{artanh}(1 - 2\lambda) / (1 - 2\lambda) = \eta / \tanh(\eta / 2)`,
    even in :math:`\eta`. For :math:`|\eta| \ge 0.1`: :math:`\log|\eta| - \log\tanh(|\eta|/2)` with
    :math:`\log\tanh(u) = \log(1 - e^{-2u}) - \log(1 + e^{-2u})`; below, the series
    :math:`\log 2 + \log(1 + \eta^2/12 - \eta^4/720 + \eta^6/30240)` (error below
    :math:`10^{-14}`), which is exactly :math:`\log 2` at :math:`\lambda = 1/2`, where the closed
    form is 0/0.

    Examples
    --------
    >>> round(float(continuous_bernoulli_log_norm(torch.tensor(0.0))), 6)  # log 2
    0.693147
    """
    a = logits.abs()
    small = a < 0.1
    a_big = torch.where(small, torch.ones_like(a), a)     # keeps the unused branch finite (and its gradient)
    a_small = torch.where(small, a, torch.zeros_like(a))
    big = torch.log(a_big) - (torch.log1p(-torch.exp(-a_big)) - torch.log1p(torch.exp(-a_big)))
    a2 = a_small ** 2
    series = math.log(2.0) + torch.log1p(a2 / 12 - a2 ** 2 / 720 + a2 ** 3 / 30240)
    return torch.where(small, series, big)


def continuous_bernoulli_log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Element-wise log-density of the continuous Bernoulli on [0, 1] (Loaiza-Ganem & Cunningham 2019)."""
    return bernoulli_log_prob(x, logits) + continuous_bernoulli_log_norm(logits)


def continuous_bernoulli_mean(logits: torch.Tensor) -> torch.Tensor:
    r"""The continuous Bernoulli's mean :math:`\sigma(\eta) / \tanh(\eta / 2) - 1/\eta`.

    Computed in float64; the series :math:`\tfrac12 + \eta/12 - \eta^3/720` for :math:`|\eta| < 0.1`.
    """
    eta = logits.double()
    small = eta.abs() < 0.1
    safe = torch.where(small, torch.ones_like(eta), eta)
    exact = torch.sigmoid(safe) / torch.tanh(safe / 2) - 1 / safe
    return torch.where(small, 0.5 + eta / 12 - eta ** 3 / 720, exact).to(logits.dtype)


def discretized_logistic_log_prob(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor,
                                  bins: int = LOGISTIC_BINS) -> torch.Tensor:
    r"""Element-wise log-probability of the bin of ``x`` in [0, 1] under a logistic discretised to ``bins`` levels.

    Values are first snapped to the nearest level
    :math:`c = \operatorname{round}(x (\text{bins} - 1)) / (\text{bins} - 1)`.
    With :math:`a = (c + \delta - m)/s` and :math:`b = (c - \delta - m)/s`, :math:`\delta = 1 / (2 (\text{bins} - 1))`,
    an inner bin has probability :math:`\sigma(a) - \sigma(b) = \sigma(a)\,\sigma(-b)\,(1 - e^{-(a - b)})`,
    computed in logs without cancellation; the lowest bin is :math:`\sigma(a)`, the highest
    :math:`\sigma(-b)` (PixelCNN++, Salimans et al. 2017). ``log_scale`` is clamped at -7.
    """
    levels = bins - 1
    c = torch.round(x * levels) / levels
    log_scale = log_scale.clamp_min(-7.0)
    inv_s = torch.exp(-log_scale)
    a = (c + 0.5 / levels - mean) * inv_s
    b = (c - 0.5 / levels - mean) * inv_s
    lower, upper = F.logsigmoid(a), F.logsigmoid(-b)
    inner = lower + upper + torch.log(-torch.expm1(-inv_s / levels))
    return torch.where(c < 0.5 / levels, lower, torch.where(c > 1 - 0.5 / levels, upper, inner))


def binarize(x, seed: int = TEST_BINARIZE_SEED) -> torch.Tensor:
    """A fixed-seed binarisation of intensities ``x`` in [0, 1]: each value becomes 1 with its probability.

    The uniforms come from NumPy's PCG64 in item order, so the first ``m`` items are binarised
    the same way whatever the number of items, and the same on every machine.

    Examples
    --------
    >>> binarize(torch.tensor([[0.0, 0.3, 0.7, 1.0]]))
    tensor([[0., 0., 1., 1.]])
    """
    x = torch.as_tensor(x, dtype=torch.float32).cpu()
    u = np.random.default_rng(seed).random(tuple(x.shape), dtype=np.float32)
    return (torch.from_numpy(u) < x).float()


# -- choosing a likelihood, and using one -------------------------------------------------------------
#: share of values within 0.1 of 0 or 1 above which [0, 1] items count as ink on a background
#: (binary-like): MNIST 0.91, scikit-learn's 8x8 digits 0.65, ModelNet voxels and pottery profiles
#: ~1.0; smooth grey pictures (photographs) lie far below (a ramp or a blurred noise field: ~0.2)
BINARY_SHARE = 0.5


def binary_like(x) -> bool:
    """Whether data-space items in [0, 1] are mostly at 0 or 1 (ink on a background, occupancies),
    the data a Bernoulli likelihood of binarised items fits (see ``BINARY_SHARE``)."""
    x = torch.as_tensor(x).float()
    return bool(((x <= 0.1) | (x >= 0.9)).float().mean() >= BINARY_SHARE)


def auto_likelihood(x, clip, grey: str = "logistic") -> str:
    """The default likelihood for data-space items ``x`` with natural range ``clip``: ``bernoulli``
    (trained on dynamic binarisations) for binary-like items in [0, 1], ``grey`` (the 8-bit
    discretised logistic) for other items in [0, 1] (grey photographs), ``gaussian`` for items
    without the range [0, 1] (points, spectrograms in dB)."""
    if clip != (0.0, 1.0):
        return "gaussian"
    return "bernoulli" if binary_like(x) else grey


def log_px_given_z(obs: str, target: torch.Tensor, out: torch.Tensor, logvar=None) -> torch.Tensor:
    """log p(x|z) per item under likelihood ``obs``, from its target (data space for the unit
    likelihoods, model space for ``gaussian``) and the decoder's output (``logistic``: mean and
    log-scale channels; ``gaussian``: the mean, with ``logvar`` broadcastable to it)."""
    if obs == "bernoulli":
        lp = bernoulli_log_prob(target, out)
    elif obs == "continuous-bernoulli":
        lp = continuous_bernoulli_log_prob(target, out)
    elif obs == "logistic":
        mean, log_scale = out.chunk(2, dim=1)
        lp = discretized_logistic_log_prob(target, mean, log_scale)
    else:
        lp = gaussian_log_prob(target, out, logvar.expand_as(out))
    return lp.flatten(1).sum(1)


def unit_mean(obs: str, out: torch.Tensor) -> torch.Tensor:
    """The mean of a unit likelihood ``obs`` on [0, 1], from the decoder's output."""
    if obs == "bernoulli":
        return torch.sigmoid(out)
    if obs == "continuous-bernoulli":
        return continuous_bernoulli_mean(out)
    return out.chunk(2, dim=1)[0].clamp(0.0, 1.0)  # logistic
