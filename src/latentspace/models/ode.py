r"""Fixed-step ODE solvers, divergences and the mini-batch optimal-transport coupling of flow matching.

An ODE :math:`\frac{d s}{d t} = f(s, t)` is integrated from :math:`t_0` to :math:`t_1` (either way) in
``steps`` equal steps of :math:`h = (t_1 - t_0) / \text{steps}`; the state :math:`s` is a tensor or a
tuple of tensors (the likelihood integrates :math:`(x, \Delta \log p)` together):

- ``euler``: :math:`s_{k+1} = s_k + h f(s_k, t_k)` (one field evaluation per step, error :math:`O(h)`);
- ``midpoint``: :math:`s_{k+1} = s_k + h f(s_k + \tfrac h2 f(s_k, t_k), t_k + \tfrac h2)` (two, :math:`O(h^2)`);
- ``rk4``: the classical Runge-Kutta method (four, :math:`O(h^4)`).

The divergence :math:`\nabla \cdot v = \operatorname{tr} \partial v / \partial x` of a field is taken
exactly (one vector-Jacobian product per dimension) or by Hutchinson's estimator
:math:`\operatorname{tr} A = \mathbb E_\epsilon[\epsilon^\top A \epsilon]` with Rademacher :math:`\epsilon`
(Hutchinson 1989; as FFJORD, Grathwohl et al. 2019), one product per probe.

The exact optimal-transport plan between two batches of :math:`B` items with uniform weights under
the squared Euclidean cost is a permutation (Birkhoff-von Neumann), the solution of the assignment
problem :math:`\min_\pi \sum_i \|x_0^{(\pi(i))} - x_1^{(i)}\|^2` (:func:`ot_pairing`, Tong et al. 2023).
"""

from __future__ import annotations

import numpy as np
import torch

#: the fixed-step solvers, and their field evaluations per step
SOLVERS = {"euler": 1, "midpoint": 2, "rk4": 4}


def _as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def _add(state: tuple, scale: float, slope: tuple) -> tuple:
    return tuple(s + scale * d for s, d in zip(state, slope))


def _step(f, state: tuple, t: float, h: float, solver: str) -> tuple:
    if solver == "euler":
        return _add(state, h, f(state, t))
    if solver == "midpoint":
        return _add(state, h, f(_add(state, h / 2, f(state, t)), t + h / 2))
    k1 = f(state, t)
    k2 = f(_add(state, h / 2, k1), t + h / 2)
    k3 = f(_add(state, h / 2, k2), t + h / 2)
    k4 = f(_add(state, h, k3), t + h)
    return tuple(s + h / 6 * (a + 2 * b + 2 * c + d) for s, a, b, c, d in zip(state, k1, k2, k3, k4))


def integrate(f, state, t0: float, t1: float, steps: int, solver: str = "rk4"):
    """Integrate :math:`ds/dt = f(s, t)` from ``t0`` to ``t1`` in ``steps`` steps of ``solver``.

    ``f(state, t)`` takes and returns a tuple of tensors (``t`` a float); ``state`` is a tensor or a
    tuple, and the result has the same form.
    """
    single = not isinstance(state, tuple)
    s, h = _as_tuple(state), (t1 - t0) / steps
    for k in range(steps):
        s = _step(f, s, t0 + k * h, h, solver)
    return s[0] if single else s


def divergence_exact(v: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """:math:`\\nabla \\cdot v` per item, exactly: one backward pass per dimension (``x`` requires grad)."""
    flat = v.flatten(1)
    div = torch.zeros(len(x), device=x.device)
    for d in range(flat.shape[1]):
        grad = torch.autograd.grad(flat[:, d].sum(), x, retain_graph=True)[0]
        div = div + grad.flatten(1)[:, d]
    return div


def divergence_hutchinson(v: torch.Tensor, x: torch.Tensor, probes: torch.Tensor) -> torch.Tensor:
    """Hutchinson's estimate :math:`\\frac1K \\sum_k \\epsilon_k^\\top (\\partial v / \\partial x) \\epsilon_k`
    per item, ``probes`` of shape ``(K, *x.shape)``."""
    est = torch.zeros(len(x), device=x.device)
    for eps in probes:
        vjp = torch.autograd.grad(v, x, eps, retain_graph=True)[0]
        est = est + (vjp * eps).flatten(1).sum(1)
    return est / len(probes)


def rademacher(k: int, shape, seed: int) -> torch.Tensor:
    """``k`` Rademacher probes (entries +-1) of ``shape``, drawn on the CPU from ``seed``."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randint(0, 2, (k, *shape), generator=g).float() * 2 - 1


def ot_pairing(x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
    """The permutation ``p`` minimising :math:`\\sum_i \\|x_0[p_i] - x_1[i]\\|^2` (exact mini-batch OT)."""
    from scipy.optimize import linear_sum_assignment

    cost = torch.cdist(x1.flatten(1).double().cpu(), x0.flatten(1).double().cpu()).square()
    rows, cols = linear_sum_assignment(cost.numpy())
    perm = np.empty(len(x1), dtype=np.int64)
    perm[rows] = cols
    return torch.from_numpy(perm).to(x0.device)
