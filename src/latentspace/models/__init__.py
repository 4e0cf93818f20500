"""Models: one API (``fit``, ``sample``, ``score_samples``, ``encode``/``decode``, ``save``) and a registry.

``create(name, **params)`` builds a model by registry name; ``load(path)`` restores a saved one.
"""

from __future__ import annotations

from latentspace.models.base import GenerativeModel, create, load, register, registry

# Importing the model modules registers their models.
from latentspace.models import cgan, classical, kde, gmm, ppca, gan, vae  # noqa: E402,F401
from latentspace.models import cyclegan  # noqa: E402,F401
from latentspace.models import vqvae  # noqa: E402,F401
from latentspace.models import inpaint  # noqa: E402,F401
from latentspace.models import ddpm  # noqa: E402,F401
from latentspace.models import gan_presets, vae_flavours  # noqa: E402,F401
from latentspace.models import flow  # noqa: E402,F401
from latentspace.models import flow_matching  # noqa: E402,F401

__all__ = ["GenerativeModel", "create", "load", "register", "registry"]
