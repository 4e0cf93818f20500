r"""Working in a model's latent space: interpolation, truncation, traversal, inversion and completion.

Every latent model maps codes :math:`z \in \mathbb R^d` to items: a GAN's noise (``z_dim``), a
VAE's latent (``latent_dim``), PPCA's components (``n_components``), all with the prior
:math:`\mathcal N(0, I)`. What a model can do is what it declares (``encodes``, ``latent``,
``conditional``, ``inversion``, ``latent_width()``; see
:class:`latentspace.models.base.GenerativeModel`); this package reads those declarations and
imports no model family.

- :mod:`.codes`: the capabilities, class labels (:func:`class_index`), codes or items given by
  the user, :func:`encode_items` and :func:`decode_codes`;
- :mod:`.paths`: :func:`lerp` and :func:`slerp` (paths between two codes), :func:`interpolate`
  (decoded, between codes or encodable items), :func:`truncated_noise` and
  :func:`sample_truncated` (the truncation trick), :func:`traverse` (one dimension at a time);
- :mod:`.inversion`: :func:`invert` (codes whose decoded items match items, or their visible
  part) and :func:`complete` (the hidden part filled in from them).

Conditional models (``cvae``, ``cgan``) decode a code *given a class* :math:`y`, and the cvae
encodes given it too (:math:`E[z|x, y]`: the code carries the style, the label the class).
Every function here takes the class: ``labels=`` (one class, or one per item or path) or, for
:func:`traverse`, ``label=``; a class is an index or a class name. What decodes codes without
items (:func:`interpolate` between codes, :func:`traverse`) uses the first class by default;
what encodes items (:func:`invert`, and interpolation between items of a cvae) needs the
items' classes. Unconditional models refuse labels.

Examples
--------
>>> import torch
>>> import latentspace as ls
>>> from latentspace.latent import complete, interpolate
>>> data = ls.data.load("digits")
>>> ppca = ls.models.create("ppca", n_components=16).fit(data)
>>> x = data.test.to_data()[:2]
>>> interpolate(ppca, x[0], x[1], steps=5).shape
torch.Size([5, 1, 8, 8])
>>> mask = torch.zeros(1, 8, 8, dtype=torch.bool)
>>> mask[:, :4] = True                      # the top half is visible
>>> complete(ppca, x, mask).shape
torch.Size([2, 1, 8, 8])
"""

from latentspace.latent.codes import (as_float, can_encode, class_index, class_names, decode_codes, encode_items,
                                      has_discrete_codes, is_conditional, labels_for, latent_size, parse_codes,
                                      require_latent)
from latentspace.latent.paths import interpolate, lerp, sample_truncated, slerp, traverse, truncated_noise
from latentspace.latent.inversion import complete, invert

__all__ = ["lerp", "slerp", "interpolate", "truncated_noise", "sample_truncated", "traverse", "invert", "complete",
           "class_index", "class_names", "encode_items", "decode_codes", "labels_for", "require_latent",
           "parse_codes", "as_float", "can_encode", "is_conditional", "latent_size", "has_discrete_codes"]
