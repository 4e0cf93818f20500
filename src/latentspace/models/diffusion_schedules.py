r"""Noise schedules of denoising diffusion and the closed forms DDPM is built on (Ho et al. 2020).

With :math:`\beta_1, \dots, \beta_T` the schedule, :math:`\alpha_t = 1 - \beta_t` and
:math:`\bar\alpha_t = \prod_{s \le t} \alpha_s` (:math:`\bar\alpha_0 = 1`):

- the forward process in one step, :math:`q(x_t|x_0) = \mathcal N(\sqrt{\bar\alpha_t}\, x_0, (1 - \bar\alpha_t) I)`
  (:meth:`NoiseSchedule.q_sample`);
- the posterior :math:`q(x_{t-1}|x_t, x_0) = \mathcal N(\tilde\mu_t(x_t, x_0), \tilde\beta_t I)` with

  .. math::
      \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1 - \bar\alpha_t} x_0
                  + \frac{\sqrt{\alpha_t}\,(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t} x_t, \qquad
      \tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t} \beta_t

  (:meth:`NoiseSchedule.posterior`);
- :math:`x_0` from :math:`x_t` and a noise prediction,
  :math:`\hat x_0 = (x_t - \sqrt{1 - \bar\alpha_t}\,\epsilon) / \sqrt{\bar\alpha_t}`.

Schedules (``kind``):

- ``"linear"`` (Ho et al. 2020): :math:`\beta_t` linear from :math:`10^{-4}` to :math:`0.02` for
  :math:`T = 1000`, both ends scaled by :math:`1000 / T` for other :math:`T` (Nichol & Dhariwal 2021);
- ``"cosine"`` (Nichol & Dhariwal 2021): :math:`\bar\alpha_t = f(t) / f(0)`,
  :math:`f(t) = \cos^2\big(\frac{t/T + s}{1 + s} \frac\pi2\big)`, :math:`s = 0.008`, with
  :math:`\beta_t = 1 - \bar\alpha_t / \bar\alpha_{t-1}` clipped to at most 0.999.

A sampler that takes fewer steps than :math:`T` walks a subsequence :math:`\tau` of the steps
(:func:`step_sequence`); the respaced process has :math:`\beta'_i = 1 - \bar\alpha_{\tau_i} / \bar\alpha_{\tau_{i-1}}`
(Nichol & Dhariwal 2021), for which :meth:`NoiseSchedule.posterior` takes the previous step ``s``.

Everything is kept in float64 and cast to the items' dtype when used.
"""

from __future__ import annotations

import math

import torch

#: noise schedules
SCHEDULES = ("linear", "cosine")
#: the cosine schedule's offset s (Nichol & Dhariwal 2021)
COSINE_S = 0.008
#: the largest beta of the cosine schedule (its last steps would otherwise reach 1)
MAX_BETA = 0.999


def linear_betas(T: int) -> torch.Tensor:
    """Ho et al.'s betas, 1e-4 to 0.02 over 1000 steps (ends scaled by 1000 / T for other T)."""
    scale = 1000.0 / T
    return torch.linspace(scale * 1e-4, min(scale * 0.02, MAX_BETA), T, dtype=torch.float64)


def cosine_betas(T: int, s: float = COSINE_S) -> torch.Tensor:
    """Nichol & Dhariwal's betas from :math:`\\bar\\alpha_t = f(t) / f(0)`."""
    steps = torch.arange(T + 1, dtype=torch.float64)
    f = torch.cos((steps / T + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=MAX_BETA)


def step_sequence(T: int, steps: int) -> list[int]:
    """``steps`` time steps from 1 to ``T``, evenly spaced, increasing and including both ends
    (all of 1..T when ``steps >= T``): the :math:`\\tau` a shortened sampler walks down."""
    if steps >= T:
        return list(range(1, T + 1))
    if steps == 1:
        return [T]
    seq = torch.linspace(1, T, steps, dtype=torch.float64).round().long().tolist()
    return sorted(set(seq))


def bound_runs(T: int, k: int) -> torch.Tensor:
    """Edges ``e_0 = 2 < e_1 < ... < e_K = T + 1`` of the ``K = min(k, T - 1)`` runs of steps
    :math:`[e_j, e_{j+1})` over which the bound's sum is stratified: spaced quadratically,
    :math:`e_j \approx 2 + (T - 1)(j / K)^2`, so that runs are short (down to single steps) at small
    :math:`t`, where the terms are largest and change fastest."""
    K = min(int(k), T - 1)
    raw = 2 + (T - 1) * (torch.arange(K + 1, dtype=torch.float64) / K) ** 2
    edges = [2]
    for j in range(1, K + 1):
        edges.append(min(max(int(round(float(raw[j]))), edges[-1] + 1), T + 1 - (K - j)))
    return torch.tensor(edges)


class NoiseSchedule:
    """:math:`\\beta_t`, :math:`\\alpha_t`, :math:`\\bar\\alpha_t` for ``t = 0..T`` (index ``t``; step 0 has
    :math:`\\beta_0 = 0`, :math:`\\bar\\alpha_0 = 1`).

    Examples
    --------
    >>> s = NoiseSchedule("linear", 1000)
    >>> round(float(s.alpha_bar[1]), 6), f"{float(s.alpha_bar[1000]):.3e}"
    (0.9999, '4.036e-05')
    """

    def __init__(self, kind: str = "linear", T: int = 1000):
        if kind not in SCHEDULES:
            raise ValueError(f"unknown schedule {kind!r}")
        self.kind, self.T = kind, int(T)
        betas = linear_betas(self.T) if kind == "linear" else cosine_betas(self.T)
        self.beta = torch.cat([torch.zeros(1, dtype=torch.float64), betas])
        self.alpha = 1 - self.beta
        self.alpha_bar = torch.cumprod(self.alpha, 0)

    # -- gathering per-item coefficients -------------------------------------------------------------
    @staticmethod
    def at(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """``values[t]`` shaped to broadcast over items like ``like`` ``(n, ...)``, in its dtype and device."""
        out = values[t.cpu().long()].to(dtype=like.dtype, device=like.device)
        return out.view(-1, *[1] * (like.ndim - 1))

    def times(self, t: torch.Tensor) -> torch.Tensor:
        """Steps ``t`` as the networks' times in [0, 1]: :math:`t / T`."""
        return t.float() / self.T

    # -- the forward process --------------------------------------------------------------------------
    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """A draw of :math:`q(x_t|x_0)`,
        :math:`x_t = \\sqrt{\\bar\\alpha_t} x_0 + \\sqrt{1 - \\bar\\alpha_t} \\epsilon`."""
        ab = self.at(self.alpha_bar, t, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * eps

    def predict_x0(self, xt: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """:math:`\\hat x_0 = (x_t - \\sqrt{1 - \\bar\\alpha_t} \\epsilon) / \\sqrt{\\bar\\alpha_t}`."""
        ab = self.at(self.alpha_bar, t, xt)
        return (xt - (1 - ab).sqrt() * eps) / ab.sqrt()

    def posterior(self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor, s: torch.Tensor | None = None):
        """Mean and variance of :math:`q(x_s|x_t, x_0)` for ``s < t`` (default ``s = t - 1``: the
        posterior :math:`q(x_{t-1}|x_t, x_0)`; another ``s``: that of the respaced process).

        Returns ``(mean, variance)``, the variance ``(n, 1, ...)`` broadcastable over the items.
        """
        s = t - 1 if s is None else s
        ab_t, ab_s = self.at(self.alpha_bar, t, xt), self.at(self.alpha_bar, s, xt)
        beta = 1 - ab_t / ab_s             # beta_t, or the respaced beta'
        mean = (ab_s.sqrt() * beta / (1 - ab_t)) * x0 + ((1 - beta).sqrt() * (1 - ab_s) / (1 - ab_t)) * xt
        var = (1 - ab_s) / (1 - ab_t) * beta
        return mean, var

    def ddim_step(self, xt: torch.Tensor, t: torch.Tensor, s: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """The deterministic DDIM update (:math:`\\eta = 0`) from step ``t`` to step ``s`` (either way):
        :math:`x_s = \\sqrt{\\bar\\alpha_s} \\hat x_0 + \\sqrt{1 - \\bar\\alpha_s} \\epsilon`."""
        ab_s = self.at(self.alpha_bar, s, xt)
        return ab_s.sqrt() * self.predict_x0(xt, t, eps) + (1 - ab_s).sqrt() * eps

    def clipped_eps(self, xt: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """The noise that agrees with :math:`\\hat x_0` clipped to [-1, 1] (images):
        :math:`(x_t - \\sqrt{\\bar\\alpha_t}\\, \\mathrm{clip}(\\hat x_0)) / \\sqrt{1 - \\bar\\alpha_t}`, as the DDIM
        sampler of Nichol & Dhariwal's code computes it."""
        ab = self.at(self.alpha_bar, t, xt)
        x0 = self.predict_x0(xt, t, eps).clamp(-1, 1)
        return (xt - ab.sqrt() * x0) / (1 - ab).sqrt()

    # -- the bound's weights ----------------------------------------------------------------------------
    def eps_weight(self, t: torch.Tensor) -> torch.Tensor:
        """:math:`\\beta_t^2 / (2 \\tilde\\beta_t \\alpha_t (1 - \\bar\\alpha_t))` per step ``t >= 2``: the factor
        that turns :math:`\\|\\epsilon - \\epsilon_\\theta\\|^2` into :math:`L_{t-1}` when
        :math:`p_\\theta(x_{t-1}|x_t)` has the posterior's variance :math:`\\tilde\\beta_t`."""
        t = t.cpu().long()
        beta, alpha, ab_t, ab_prev = self.beta[t], self.alpha[t], self.alpha_bar[t], self.alpha_bar[t - 1]
        beta_tilde = (1 - ab_prev) / (1 - ab_t) * beta
        return beta ** 2 / (2 * beta_tilde * alpha * (1 - ab_t))

    def prior_kl(self, x0: torch.Tensor) -> torch.Tensor:
        """:math:`L_T = \\mathrm{KL}(q(x_T|x_0) \\,\\|\\, \\mathcal N(0, I))` per item, in nats (float64)."""
        ab = float(self.alpha_bar[self.T])
        x = x0.double().flatten(1)
        var = 1 - ab
        return 0.5 * (ab * x ** 2 + var - 1 - math.log(var)).sum(1)


# -- the decoder p(x_0|x_1): the bound's L_0 -----------------------------------------------------------------
LOG_2PI = math.log(2 * math.pi)


def gaussian_nll(x0: torch.Tensor, mean: torch.Tensor, var: float) -> torch.Tensor:
    """:math:`-\\log \\mathcal N(x_0; \\mu, \\sigma^2 I)` per item (nats, float64): the decoder for continuous data."""
    d = (x0.double() - mean.double()).flatten(1)
    return 0.5 * (d ** 2 / var + math.log(var) + LOG_2PI).sum(1)


def _std_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + torch.erf(x / math.sqrt(2)))


def discretized_gaussian_nll(x0: torch.Tensor, mean: torch.Tensor, var: float, levels: int = 256) -> torch.Tensor:
    """Ho et al.'s discretised decoder: :math:`-\\log` of the probability of the bins of items ``x0`` on
    ``levels`` levels in [-1, 1] under :math:`\\mathcal N(\\mu, \\sigma^2)` per feature (the end bins reach
    :math:`\\pm\\infty`), per item (nats, float64).

    .. math::
        p(x_0|x_1) = \\prod_i \\int_{\\delta_-(x_0^i)}^{\\delta_+(x_0^i)} \\mathcal N(x; \\mu^i, \\sigma^2) dx,
        \\quad \\delta_\\pm(x) = x \\pm \\tfrac{1}{levels - 1} \\text{ (}\\pm\\infty\\text{ at } \\pm 1\\text{)}
    """
    x, mu = x0.double(), mean.double()
    half = 1.0 / (levels - 1)
    std = math.sqrt(var)
    upper = torch.where(x > 1 - half / 2, torch.ones_like(x), _std_normal_cdf((x + half - mu) / std))
    lower = torch.where(x < -1 + half / 2, torch.zeros_like(x), _std_normal_cdf((x - half - mu) / std))
    # log of a difference of CDFs, in the tail where it underflows: the density at the bin centre times its width
    prob = upper - lower
    centre = -0.5 * ((x - mu) / std) ** 2 - 0.5 * LOG_2PI - math.log(std) + math.log(2 * half)
    log_p = torch.where(prob > 1e-12, prob.clamp_min(1e-300).log(), centre)
    return -log_p.flatten(1).sum(1)
