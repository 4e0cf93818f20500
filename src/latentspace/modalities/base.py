"""The :class:`Modality` base class and the registry of modalities.

A modality says what one data item *is* — a point in R^d, an image, a volume, a spectrogram —
and everything that follows from that alone: the networks' shape (MLPs on a flat vector, or
convolutions over ``spatial_dims`` dimensions), the data's natural range and the map to model
space, how one item and a grid of items are drawn, the evaluation's feature extractor, and the
default sizes of pictures. Plots, metrics, networks and the report ask ``info.spec`` (the
registered :class:`Modality` of a :class:`~latentspace.data.DataInfo`); nothing outside this
package compares modality names.

A new kind of data is one subclass and one :func:`register` call::

    class Signal(Modality):
        name = "signal"
        spatial_dims = 1
    register(Signal())
"""

from __future__ import annotations

import numpy as np
import torch

from latentspace.errors import UserError

_REGISTRY: dict[str, "Modality"] = {}


class Modality:
    """What a kind of data item is, and the defaults that follow from it.

    Subclasses override the attributes and, for items that are not drawn as pixels, the
    drawing methods. Instances are stateless and shared.
    """

    #: registry name, stored in ``DataInfo.modality`` (and so in every saved model)
    name: str = ""
    description: str = ""
    #: dimensions the conv nets run over (1-D, 2-D or 3-D convs); 0: MLPs on the flattened item
    spatial_dims: int = 0
    #: data-space range of every value when the data has a natural one (intensities, occupancies)
    natural_range: tuple | None = None
    #: a set of items is drawn as a scatter of their first two features (True) or as a grid of pictures
    scatter: bool = False
    #: matplotlib colour map for single-channel pictures
    cmap: str = "gray"
    #: draw row 0 of a picture at the bottom (spectrograms: low frequencies below)
    origin_lower: bool = False
    #: how conv generators and decoders grow their output by default: "nearest" or "transposed"
    conv_upsample: str = "nearest"
    #: overrides of the evaluation feature extractor's settings (``FeatureConfig`` fields)
    feature_settings: dict = {}
    #: classical models (kde, gmm) fit in a PCA-whitened subspace by default (high-dimensional items)
    pca_subspace: bool = True
    #: default sizes of pictures: items in a sample grid, points in a scatter, reconstructions
    #: shown, interpolation paths, codes per side of a 2-D latent manifold
    grid_items: int = 64
    scatter_items: int = 2000
    reconstructions: int = 16
    interpolation_rows: int = 3
    manifold_side: int = 15

    # -- tables keyed by modality --------------------------------------------------------------
    @property
    def lineage(self) -> tuple[str, ...]:
        """This modality's name, then its parents' (a vessel profile is an image)."""
        return tuple(dict.fromkeys(c.name for c in type(self).__mro__ if issubclass(c, Modality) and c.name))

    def lookup(self, table: dict, default=None):
        """The entry of ``table`` (keyed by modality names) for this modality, else for its nearest parent.

        So a recipe measured for images also sizes a modality derived from the image one.
        """
        for name in self.lineage:
            if name in table:
                return table[name]
        return default

    # -- what the networks and the evaluation see ---------------------------------------------
    @property
    def spatial(self) -> bool:
        """Whether items have spatial dimensions (conv nets; learned evaluation features)."""
        return self.spatial_dims > 0

    def check_shape(self, shape: tuple) -> None:
        """Refuse an item shape this modality cannot have: ``(C, *spatial)`` for spatial items."""
        if self.spatial and len(shape) != self.spatial_dims + 1:
            raise UserError(f"{self.name} items have shape (channels, {self.spatial_dims} spatial sizes), "
                            f"got {tuple(shape)}")

    # -- the map between data space and model space -------------------------------------------
    def affine(self, x_train: np.ndarray | None = None) -> dict:
        """``shift``, ``scale`` and ``clip`` of the map ``model = (data - shift) / scale``.

        A natural range ``(lo, hi)`` maps to [-1, 1] and clips samples back into it; data without
        one are standardised with the training items' mean and standard deviation: per feature for
        points, one for all values of spatial items (a spectrogram's dB scale is shared).
        """
        if self.natural_range is not None:
            lo, hi = self.natural_range
            return {"shift": (lo + hi) / 2, "scale": (hi - lo) / 2, "clip": (lo, hi)}
        if x_train is None:
            raise UserError(f"{self.name} data have no natural range: give the training items to standardise them")
        x = np.asarray(x_train, dtype=np.float64).reshape(len(x_train), -1)
        if self.spatial:
            std = float(x.std())
            return {"shift": float(x.mean()), "scale": std if std > 0 else 1.0, "clip": None}
        mean, std = x.mean(axis=0), x.std(axis=0)
        std = np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, 1.0)  # a constant feature: left as is
        return {"shift": [float(v) for v in mean], "scale": [float(v) for v in std], "clip": None}

    # -- arrays from files (the .npy / .npz loader) ----------------------------------------------
    #: what the values are, for messages ("image intensities")
    value_noun: str = "values"
    #: integer arrays hold 8- or 16-bit levels (divided by 255 or 65535) rather than values in range
    integer_levels: bool = False
    #: extra facts every dataset of this modality carries (``info.extra``)
    default_extra: dict = {}
    #: the array shapes this modality reads, for messages
    array_shapes: str = ""

    def array_layout(self, shape: tuple, inferring: bool = False) -> str | None:
        """How an array of ``shape`` (items first) holds items of this modality, or None if it cannot.

        Layouts: ``"flat"`` (n, d); ``"hw"``/``"dhw"`` (no channel axis: one is added);
        ``"chw"``/``"cdhw"`` (channels first); ``"hwc"`` (channels last, transposed). With
        ``inferring`` the modality claims only shapes that are unambiguously its own.
        """
        return None

    # -- pictures ------------------------------------------------------------------------------------
    def display_range(self, info, x: torch.Tensor | None = None) -> tuple[float, float]:
        """The data-space values drawn as the ends of the colour scale."""
        if info.clip is not None:
            return info.clip
        if "display_range" in (info.extra or {}):
            lo, hi = info.extra["display_range"]
            return float(lo), float(hi)
        if x is not None and x.numel():
            lo, hi = float(x.min()), float(x.max())
            return (lo, hi) if hi > lo else (lo, lo + 1.0)
        return 0.0, 1.0

    def display(self, x, info) -> torch.Tensor:
        """Items ``(..., *info.shape)`` as pictures ``(..., C, H, W)`` with values in [0, 1], C = 1 or 3."""
        if self.scatter:
            raise NotImplementedError(f"{self.name} items are drawn as points, not pictures")
        x = torch.as_tensor(x).detach().float().cpu()
        lo, hi = self.display_range(info, x)
        pics = ((x - lo) / (hi - lo)).clamp(0, 1)
        if self.cmap != "gray" and pics.shape[-3] == 1:  # colour-mapped single channel
            from matplotlib import colormaps

            rgb = colormaps[self.cmap](pics.squeeze(-3).numpy())[..., :3]
            pics = torch.from_numpy(rgb).float().movedim(-1, -3)
        return pics.flip(-2) if self.origin_lower else pics

    def grid(self, x, info, ncols: int | None = None) -> np.ndarray:
        """A uint8 picture ``(H, W, C)`` of data-space items tiled in a grid (what sample PNGs show)."""
        return tile(self.display(x, info), ncols)

    #: the named parts :meth:`fragment_mask` can keep (vessel profiles: ``rim`` and ``base``)
    fragments: tuple = ()

    def fragment_mask(self, x, keep: str, cut: float = 0.5) -> torch.Tensor:
        """Which features of items ``x`` a named fragment keeps (True: kept), for completion; see subclasses."""
        raise UserError(f"{self.name} items have no named fragments ({keep!r}); give a mask of the visible part "
                        "(a MASK.png, white where the item is kept)")

    def extra_views(self, x, info) -> dict:
        """More pictures of a set of data-space items beside :meth:`grid`: ``{title: uint8 (H, W, C)}``.

        A report shows them after the sample grid (vessel profiles add their half-profiles and 3-D
        renders); none by default.
        """
        return {}

    def sounds(self, x, info) -> list[bytes]:
        """Some data-space items as WAV files' bytes, for a report's audio players; none by default
        (spectrograms made from sound turn back into sound)."""
        return []

    def picture(self, item, info) -> np.ndarray:
        """One data-space item as an array for ``imshow`` (H, W) or (H, W, 3), values in [0, 1]."""
        pic = self.display(torch.as_tensor(item)[None], info)[0]
        arr = pic.permute(1, 2, 0).numpy()
        return arr[..., 0] if arr.shape[-1] == 1 else arr

    def __repr__(self) -> str:
        return f"<modality {self.name!r}>"


def tile(pics: torch.Tensor, ncols: int | None = None, pad: int = 1) -> np.ndarray:
    """Pictures ``(n, C, H, W)`` in [0, 1] tiled into one uint8 array ``(H', W', C)`` on white."""
    import math

    pics = torch.as_tensor(pics).detach().float().cpu()
    n, c, h, w = pics.shape
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    canvas = np.ones((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), dtype=np.float32)
    arr = pics.clamp(0, 1).permute(0, 2, 3, 1).numpy()
    for i in range(n):
        r, col = divmod(i, ncols)
        canvas[pad + r * (h + pad):pad + r * (h + pad) + h, pad + col * (w + pad):pad + col * (w + pad) + w] = arr[i]
    return (canvas * 255).round().astype(np.uint8)


# -- the registry ----------------------------------------------------------------------------------------
def register(modality: Modality) -> Modality:
    """Add ``modality`` (an instance) to the registry under ``modality.name``; returns it."""
    if not isinstance(modality, Modality) or not modality.name:
        raise TypeError("register a Modality instance with a name")
    _REGISTRY[modality.name] = modality
    return modality


def get(name) -> Modality:
    """The registered modality called ``name`` (a Modality passes through)."""
    if isinstance(name, Modality):
        return name
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UserError(f"unknown modality {name!r}; use one of {', '.join(_REGISTRY)}") from None


def names() -> tuple[str, ...]:
    """Names of the registered modalities, in registration order."""
    return tuple(_REGISTRY)
