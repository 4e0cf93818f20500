r"""Discriminator rejection sampling (Azadi et al. 2019).

An optimal discriminator's logit is :math:`D^*(x) = \log p_\text{data}(x) / p_G(x)`, so accepting a
generated :math:`x` with probability :math:`\exp(D(x) - D_\max)` turns samples of :math:`p_G` into
samples of :math:`p_\text{data}` (as far as :math:`D` is optimal). :math:`D_\max` is the largest
logit over :data:`D_MAX_ITEMS` generated items, recorded after training.
"""

from __future__ import annotations

import torch

from latentspace.errors import UserError
from latentspace.models.nets import eval_mode

#: generated items whose largest discriminator logit sets the acceptance scale
D_MAX_ITEMS = 20000


@torch.no_grad()
def largest_logit(G, D, z: torch.Tensor, batched) -> float:
    r""":math:`D_\max`: the largest logit of ``D`` over the items ``G`` makes of codes ``z``."""
    with eval_mode(G, D):
        return float(batched(D, batched(G, z, batch=4096), batch=4096).max())


@torch.no_grad()
def rejection_sample(G, D, d_max: float, n: int, seed, *, z_dim: int, item_dim: int, device, batched):
    """``n`` generated items (model space), each kept with probability exp(D(x) - D_max), and the
    acceptance rate. ``batched(fn, *tensors, batch=)`` maps ``fn`` over batches."""
    g = torch.Generator().manual_seed(int(seed)) if seed is not None else torch.Generator().manual_seed(
        int(torch.randint(2**62, ())))
    with eval_mode(G, D):
        cap = min(2**20, max(4096, 2**26 // item_dim))  # candidates per round: <= 256 MB of items
        kept, have, drawn, chunk = [], 0, 0, min(cap, max(4096, 8 * n))
        while have < n:
            z = torch.randn(chunk, z_dim, generator=g).to(device)
            x = batched(G, z, batch=4096)
            logit = batched(D, x, batch=4096).flatten().cpu()
            accept = torch.rand(chunk, generator=g) < torch.exp((logit - d_max).clamp(max=0.0))
            kept.append(x[accept.to(x.device)])
            have += int(accept.sum())
            drawn += chunk
            if drawn >= 10_000 * n + 10**6 and have < n:
                raise UserError(f"rejection sampling accepted {have} of {drawn} candidates; the discriminator "
                                "rejects nearly everything — sample with rejection_sampling=false")
            chunk = min(max(chunk, int(1.2 * (n - have) * drawn / max(have, 1))), cap)
        return torch.cat(kept)[:n], have / drawn
