"""Modalities: what a data item is, and the defaults that follow from it (see :mod:`.base`).

``get(name)`` returns a registered :class:`Modality`; ``register(modality)`` adds one. The
built-ins are ``points``, ``image`` and ``volume`` (:mod:`.builtin`), ``spectrogram`` (:mod:`.spectrogram`:
log-magnitude spectrograms that know their STFT settings and turn back into sound), and
``profile``, vessel half-profiles drawn as sections and revolved vessels (:mod:`.profile`).
"""

from latentspace.modalities.base import Modality, get, names, register, tile
from latentspace.modalities import builtin, spectrogram, profile  # noqa: E402,F401  (registers the built-ins)
from latentspace.modalities import scans  # noqa: E402,F401  (intensity volumes: CT, MRI)

__all__ = ["Modality", "get", "names", "register", "tile"]
