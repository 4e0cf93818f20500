"""The GAN under other defaults: ``dcgan``, ``wgan`` and ``wgan-gp``, one
:class:`~latentspace.models.base.Preset` each."""

from __future__ import annotations

from latentspace.models.base import Preset, register
from latentspace.models.gan import GAN


@register
class DCGAN(Preset, GAN):
    """The GAN with the DCGAN recipe (Radford et al. 2016): Adam 2e-4, beta1 0.5, N(0, 0.02) init.

    Images and volumes get the ``gan`` defaults, which are DCGAN's; points keep the MLPs and
    the other points defaults, with DCGAN's optimiser settings (which the ``gan`` defaults for
    points improve on, see docs/gan-grid25.md).
    """

    name = "dcgan"
    recipes = {**GAN.recipes, "points": {**GAN.recipes["points"], "lr": 2e-4, "lr_d": 2e-4, "beta1": 0.5,
                                         "beta2": 0.999}}


@register
class WGAN(Preset, GAN):
    """The GAN with loss="wgan" (Arjovsky et al. 2017): a weight-clipped critic, RMSprop 5e-5, 5 critic steps."""

    name = "wgan"
    preset = {"loss": "wgan"}


@register
class WGANGP(Preset, GAN):
    """The GAN with loss="wgan-gp" (Gulrajani et al. 2017): a critic with a per-item gradient penalty.

    Images and volumes get the paper's settings (Adam 1e-4, betas (0, 0.9), 5 critic steps,
    ``gp_lambda=10``). For points, the recipe measured on grid25 (docs/gan-grid25.md): MLPs of
    128 units (the penalty's double backward makes a step at 256 units 2.7 times dearer, and
    more, cheaper steps sharpen the samples more), one critic step per generator step at three
    times the generator's learning rate (2e-3 and 6e-3), ``gp_lambda=1``.
    """

    name = "wgan-gp"
    preset = {"loss": "wgan-gp", "hidden": 128}
