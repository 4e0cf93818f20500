"""The VAE's flavours: ``beta-vae`` and ``iwae`` (the VAE under other defaults, one
:class:`~latentspace.models.base.Preset` each) and the conditional ``cvae`` (see :mod:`latentspace.models.vae`)."""

from __future__ import annotations

from latentspace.errors import UserError
from latentspace.models.base import Preset, register
from latentspace.models.vae import VAE


@register
class BetaVAE(Preset, VAE):
    """beta-VAE (Higgins et al. 2017): the VAE with the KL weighted by ``beta`` = 4.

    Examples
    --------
    >>> import latentspace as ls
    >>> ls.models.create("beta-vae").beta
    4.0
    """

    name = "beta-vae"
    preset = {"beta": 4.0}


@register
class IWAE(Preset, VAE):
    """The importance-weighted autoencoder (Burda et al. 2016): trained on the k-sample bound, ``k_train`` = 5.

    Examples
    --------
    >>> import latentspace as ls
    >>> iwae = ls.models.create("iwae", k_train=10)
    >>> iwae.objective, iwae.k_train
    ('iwae', 10)
    """

    name = "iwae"
    preset = {"objective": "iwae", "k_train": 5}


@register
class CVAE(VAE):
    """The conditional VAE (Sohn et al. 2015): labels in encoder and decoder; ``sample(n, labels=...)``.

    Takes every VAE parameter. Needs labelled data. ``encode``, ``elbo`` and ``score_samples``
    (an estimate of log p(x|y)) need the items' ``labels``; ``sample`` and ``decode`` take the
    requested classes (default: the classes in turn).

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("digits")
    >>> cvae = ls.models.create("cvae", width=8).fit(data, steps=5, progress=False)
    >>> cvae.sample(4, seed=0, labels=[3, 3, 7, 7]).shape
    torch.Size([4, 1, 8, 8])
    """

    name = "cvae"
    conditional = True

    def _check_data(self, data) -> None:
        if data.y is None or data.info.num_classes < 2:
            raise UserError(f"cvae needs class labels and {data.name} has none; use a labelled dataset "
                            "(image sub-folders per class, or y in the .npz) or the unconditional vae")
