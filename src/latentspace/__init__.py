"""latentspace: Science in Deep Latent Space.

Generative models for researchers' own data -- kernel density estimates, Gaussian
mixtures, probabilistic PCA, GANs and VAEs -- behind one scikit-learn-like API::

    import latentspace as ls
    data = ls.data.load("grid25")
    model = ls.models.create("gan").fit(data, steps=2000)
    x = model.sample(1000, seed=0)          # in data space
    model.save("runs/gan/model")
    same = ls.load("runs/gan/model")

Sub-packages are imported lazily so that ``latentspace --help`` starts without torch.
"""

from __future__ import annotations

import importlib

from latentspace.threads import prefer_sleeping_threads

__version__ = "0.1.0"

prefer_sleeping_threads()   # before torch starts OpenMP: see latentspace.threads

_SUBMODULES = ("data", "models", "train", "metrics", "plots", "latent", "report", "errors", "storage")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"latentspace.{name}")
    if name == "load":
        from latentspace.models import load

        return load
    raise AttributeError(f"module 'latentspace' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES) + ["load"])
