r"""Conditional GAN (Mirza & Osindero 2014), with an optional projection discriminator
(Miyato & Koyama 2018).

Both networks see the class label :math:`y`. The generator draws :math:`x = G(z, e(y))` from noise
and a learned label embedding :math:`e(y)`; the discriminator scores pairs :math:`(x, y)` and
the losses are those of the GAN with :math:`D(x)` replaced by :math:`D(x, y)`:

.. math::
    L_D = -\mathbb E_{(x, y) \sim p_\text{data}} \log \sigma(D(x, y))
          - \mathbb E_{z, y \sim p(y)} \log(1 - \sigma(D(G(z, y), y))), \qquad
    L_G = -\mathbb E_{z, y} \log \sigma(D(G(z, y), y)).

Generated items of a training batch get that batch's real labels, so :math:`p(y)` is the
data's label distribution.

How :math:`D` sees the label:

- concatenation (default): a one-hot label map joins the image as extra channels (for points,
  the one-hot vector joins the coordinates);
- projection (``projection=True``): :math:`D(x, y) = \psi(\phi(x)) + \langle v_y, \phi(x)\rangle`
  with :math:`\phi` the discriminator's features and :math:`v_y` a learned vector per class —
  the form the optimal discriminator takes when :math:`p(y|x)` is log-linear in :math:`\phi`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from latentspace.errors import UserError
from latentspace.models.base import check_labels, register
from latentspace.models.gan import GAN
from latentspace.models.nets import ConvDecoder, ConvEncoder, conv_features, dcgan_init, eval_mode, mlp


class ConditionalGenerator(nn.Module):
    """``G(z, y)``: the noise and a learned embedding of the label, concatenated, through ``body``."""

    def __init__(self, num_classes: int, embed_dim: int, body: nn.Module):
        super().__init__()
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.body = body

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([z, self.embed(y)], 1))


class ConcatDiscriminator(nn.Module):
    """``D(x, y)``: the one-hot label joins the input (as constant channels for images and volumes)."""

    def __init__(self, num_classes: int, body: nn.Module):
        super().__init__()
        self.num_classes = num_classes
        self.body = body

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        onehot = F.one_hot(y, self.num_classes).to(x.dtype)
        if x.ndim > 2:  # (n, K) -> (n, K, *spatial)
            onehot = onehot.reshape(*onehot.shape, *[1] * (x.ndim - 2)).expand(-1, -1, *x.shape[2:])
            return self.body(torch.cat([x, onehot], 1))
        return self.body(torch.cat([x.flatten(1), onehot], 1))


class ProjectionDiscriminator(nn.Module):
    """``D(x, y) = psi(phi(x)) + <v_y, phi(x)>``: features, an unconditional head and a class projection."""

    def __init__(self, num_classes: int, phi: nn.Module, feature_dim: int):
        super().__init__()
        self.phi = phi
        self.psi = nn.Linear(feature_dim, 1)
        self.v = nn.Embedding(num_classes, feature_dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.phi(x)
        return self.psi(h) + (self.v(y) * h).sum(1, keepdim=True)


class _ConvFeatures(nn.Module):
    """A conv encoder's trunk, flattened: the features a projection discriminator projects."""

    def __init__(self, encoder: ConvEncoder):
        super().__init__()
        self.features = encoder.features
        self.minibatch_std = encoder.minibatch_std
        self.dim = encoder.head.in_features

    def forward(self, x):
        return F.leaky_relu(conv_features(self.features, x, self.minibatch_std), 0.2)


@register
class CGAN(GAN):
    """A class-conditional GAN: ``sample(n, labels=...)`` draws items of the requested classes.

    Takes every parameter of :class:`~latentspace.models.gan.GAN` (losses, recipes and hacks
    included) and:

    Parameters
    ----------
    embed_dim : int
        Size of the generator's label embedding (0: the number of classes).
    projection : bool
        Projection discriminator instead of concatenating the label to the input.
    generator, discriminator : torch.nn.Module, optional
        Networks of your own, as bodies that see the label: the generator maps ``(n, latent_dim +
        embed_dim)`` (the code and the label's embedding) to items; the discriminator maps items with
        the one-hot label joined (``(n, C + classes, *spatial)``, or ``(n, features + classes)`` for
        points) to one score each. Not with ``projection``.

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("digits")
    >>> cgan = ls.models.create("cgan", width=8).fit(data, steps=5, progress=False)
    >>> cgan.sample(4, seed=0, labels=[3, 3, 7, 7]).shape
    torch.Size([4, 1, 8, 8])
    """

    name = "cgan"
    conditional = True
    #: rejection sampling needs an unconditional density ratio; off for the conditional GAN
    recipes = {kind: {**recipe, "rejection_sampling": False} for kind, recipe in GAN.recipes.items()}
    #: on a CPU: the DCGAN's length at Adam 2e-4, as measured for the cgan on MNIST (612 s: 99.1% of samples
    #: of the requested class, recall 0.85; docs/gan-family.md)
    cpu_ns = {kind: {**r, "lr": 2e-4, "lr_d": 2e-4} for kind, r in GAN.cpu_ns.items()}

    def __init__(self, embed_dim: int = 0, projection: bool = False, **gan_params):
        super().__init__(**gan_params)
        self.embed_dim = embed_dim
        self.projection = projection

    @classmethod
    def _param_names(cls) -> list[str]:
        return ["embed_dim", "projection"] + GAN._param_names()

    @classmethod
    def param_defaults(cls) -> dict:
        return {"embed_dim": 0, "projection": False, **GAN.param_defaults()}

    def _check_data(self, data) -> None:
        if data.y is None or data.info.num_classes < 2:
            raise UserError(f"cgan needs class labels and {data.name} has none; use a labelled dataset "
                            "(image sub-folders per class, or y in the .npz) or the unconditional gan")

    def _build(self, info):
        k = info.num_classes
        if k < 2:
            raise UserError("cgan needs at least two classes in the data's description")
        if self.pac != 1:
            raise UserError("cgan judges one item with its label at a time; use pac=1")
        if self.rejection_sampling:
            raise UserError("cgan samples without discriminator rejection; drop rejection_sampling")
        e = self.embed_dim or k
        if self.projection and self.discriminator is not None:
            raise UserError("a discriminator of your own is used as the body of the concatenating discriminator; "
                            "drop projection=true or discriminator=...")
        channels, *spatial = info.shape
        joined = (channels + k, *spatial) if info.spec.spatial else (info.dim + k,)
        G, D = self._own_networks(info, self.z_dim + e, joined)
        own_g, own_d = G is not None, D is not None
        if info.spec.spatial:
            if not own_g:
                G = ConvDecoder(self.z_dim + e, info.shape, width=self.setting("width"), norm="batch",
                                out_act=nn.Tanh(),
                                upsample=self.upsample_for(info))
            if self.projection:
                phi = _ConvFeatures(ConvEncoder(info.shape, 1, width=self.setting("width"), norm=self.conv_d_norm,
                                                minibatch_std=self.minibatch_std))
                D = ProjectionDiscriminator(k, phi, phi.dim)
            elif not own_d:
                D = ConvEncoder(joined, 1, width=self.setting("width"), norm=self.conv_d_norm,
                                minibatch_std=self.minibatch_std)
        else:
            if not own_g:
                G = nn.Sequential(mlp([self.z_dim + e] + [self.hidden] * self.layers + [info.dim], act=nn.ReLU),
                                  nn.Unflatten(1, tuple(info.shape)))
            if self.projection:
                phi = nn.Sequential(nn.Flatten(), mlp([info.dim] + [self.hidden] * self.layers), nn.LeakyReLU(0.2))
                D = ProjectionDiscriminator(k, phi, self.hidden)
            elif not own_d:
                D = mlp([info.dim + k] + [self.hidden] * self.layers + [1])
        if not self.projection:
            D = ConcatDiscriminator(k, D)
        G = ConditionalGenerator(k, e, G)
        if self.dcgan_init:  # the built-in parts only: the user's networks keep their own initialisation
            dcgan_init(G.embed if own_g else G)
            if not own_d:
                dcgan_init(D)
        return {"G": G, "D": D}

    def generate(self, z, y=None):
        return self.net("G")(z, y)

    def discriminate(self, x, y=None):
        return self.net("D")(x, y)

    def end_training(self, data) -> None:
        self.d_max_ = None  # no rejection sampling (see ``recipes``)

    # -- the API ------------------------------------------------------------------------
    def _labels(self, n: int, labels) -> torch.Tensor:
        """Requested labels as a (n,) long tensor; None cycles through the classes."""
        k = self.info_.num_classes
        if labels is None:
            return torch.arange(n) % k
        return check_labels(n, labels, k, self.info_.classes, self.name)

    @torch.no_grad()
    def sample(self, n, *, seed=None, labels=None, **cond):
        """``n`` items of classes ``labels`` (one class, or one per item; default: the classes in turn)."""
        self._check_fitted()
        n = self._check_n(n)
        return self.decode(self._noise(n, seed, self.z_dim), labels=self._labels(n, labels))

    @torch.no_grad()
    def decode(self, z, labels=None):
        """Generator output for latent codes ``z`` and ``labels`` (default: the classes in turn)."""
        self._check_fitted()
        z = self._as_codes(z, self.z_dim)
        y = self._labels(len(z), labels).to(self.device_)
        with eval_mode(self.eval_net("G")):
            return self._to_data(self._batched(self.eval_net("G"), z.to(self.device_), y))
