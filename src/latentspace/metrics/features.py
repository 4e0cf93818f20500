r"""Domain feature extractors: the space in which generated items are compared with real ones.

Inception features, the field's default for FID, know nothing of digits, spectrograms or
voxels. latentspace learns its features from the user's own training split instead:

- labelled data: a small **classifier** :math:`f = h \circ \phi`, trained with cross-entropy;
  the features are :math:`\phi(x)`, the layer before the class logits, and its held-out
  accuracy says how much those features can be trusted;
- unlabelled data: a small **autoencoder** :math:`x \approx g(\phi(x))`, trained with the mean
  squared error in model space; the features are the code :math:`\phi(x)`;
- points (2-D toy sets, tabular data): the standardised coordinates themselves, no training.

Networks follow the modality (2-D convs for images and spectrograms, 3-D convs for volumes).
An extractor is trained once per dataset and cached on disk, keyed by the data's content hash
and the extractor's configuration: one safetensors file with its configuration and held-out
scores in the header. The cache folder is ``$LATENTSPACE_CACHE/features`` (default
``~/.cache/latentspace/features``).

Items enter the extractor in **data space** (what ``model.sample`` returns); it applies the
dataset's affine map to model space itself, so it can be handed to torchmetrics as a
``feature`` module.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from latentspace.data.dataset import Dataset
from latentspace.errors import UserError
from latentspace.models.augment import jitter
from latentspace.models.nets import ConvDecoder, ConvEncoder, eval_mode
from latentspace.storage import cache_root, load_state, save_state

#: bump when the networks or their training change, so that old cache entries are not reused
FEATURES_VERSION = 1
KINDS = ("auto", "classifier", "autoencoder", "standardised")


@dataclass
class FeatureConfig:
    """How an extractor is built and trained (part of its cache key)."""

    kind: str = "auto"
    num_features: int = 64
    width: int = 32
    epochs: int = 4
    min_steps: int = 600
    max_steps: int = 3000
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 0
    #: classic augmentation of each training batch: ``""`` none, ``"jitter"`` random scale and shift
    #: (:func:`latentspace.models.augment.jitter`; images and volumes)
    augment: str = ""


def default_config(info) -> FeatureConfig:
    """The extractor's sizes for data described by ``info``: :class:`FeatureConfig`'s defaults with
    the modality's overrides (``info.spec.feature_settings``), e.g. width 8 and batch 32 for
    volumes, where 3-D convs at width 32 and batch 128 would take hours to train on a CPU (32^3
    voxels are 40 times the pixels of an MNIST digit)."""
    return FeatureConfig(**info.spec.feature_settings)


class FeatureExtractor(nn.Module):
    """Data-space items ``(n, *shape)`` -> features ``(n, num_features)``.

    Parameters
    ----------
    info : DataInfo
        The dataset's description: modality, item shape and the data -> model space map.
    kind : str
        ``"classifier"``, ``"autoencoder"`` or ``"standardised"``.
    num_features, width : int
        Feature size and first conv width (ignored for ``"standardised"``).
    num_classes : int
        Classes of the classifier's head.

    Attributes
    ----------
    num_features : int
        The size torchmetrics reads to allocate its statistics.
    """

    def __init__(self, info, kind: str, num_features: int = 64, width: int = 32, num_classes: int = 0):
        super().__init__()
        self.info = info
        self.kind = kind
        shift, scale = info._affine(torch.zeros(1, *info.shape))
        self.register_buffer("shift", shift.reshape(1, *info.shape) if shift.numel() > 1 else shift.reshape(()))
        self.register_buffer("scale", scale.reshape(1, *info.shape) if scale.numel() > 1 else scale.reshape(()))
        if kind == "standardised":
            self.num_features = info.dim
            self.phi = nn.Flatten()
            return
        self.num_features = num_features
        if info.spec.spatial:
            self.phi = ConvEncoder(info.shape, num_features, width=width, norm="batch")
        else:
            self.phi = nn.Sequential(nn.Flatten(), nn.Linear(info.dim, 256), nn.LeakyReLU(0.2),
                                     nn.Linear(256, 256), nn.LeakyReLU(0.2), nn.Linear(256, num_features))
        if kind == "classifier":
            self.head = nn.Sequential(nn.LeakyReLU(0.2), nn.Linear(num_features, num_classes))
        elif kind == "autoencoder":
            if info.spec.spatial:  # the modality's upsampling (volumes: transposed convs, a third of the cost)
                self.head = ConvDecoder(num_features, info.shape, width=width, upsample=info.spec.conv_upsample)
            else:
                self.head = nn.Sequential(nn.Linear(num_features, 256), nn.ReLU(), nn.Linear(256, info.dim),
                                          nn.Unflatten(1, tuple(info.shape)))
        else:
            raise UserError(f"unknown feature extractor kind {kind!r}; use one of {', '.join(KINDS)}")

    def to_model_space(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of data-space items."""
        return self.phi(self.to_model_space(x.float()))

    @torch.no_grad()
    def features(self, x, batch_size: int = 1024) -> torch.Tensor:
        """Features of data-space items (a tensor, or a Dataset read a slice at a time), in eval mode and
        in batches; returned on the CPU."""
        with eval_mode(self):
            return torch.cat([self(b).cpu() for b in self._batches(x, batch_size)])

    @torch.no_grad()
    def predict(self, x, batch_size: int = 1024) -> torch.Tensor:
        """Predicted class of data-space items (a tensor or a Dataset; classifier extractors only)."""
        if self.kind != "classifier":
            raise NotImplementedError("only a classifier feature extractor predicts classes")
        with eval_mode(self):
            return torch.cat([self.head(self(b)).argmax(1).cpu() for b in self._batches(x, batch_size)])

    def _batches(self, x, batch_size: int):
        """Data-space batches of ``x`` on the extractor's device, shapes checked."""
        device = next(self.buffers()).device
        if isinstance(x, Dataset):
            chunks = (c for _, c in x.data_chunks(batch_size))
            shape = x.shape
        else:
            x = torch.as_tensor(x, dtype=torch.float32)
            chunks = (x[i:i + batch_size] for i in range(0, len(x), batch_size))
            shape = tuple(x.shape[1:])
        if tuple(shape) != tuple(self.info.shape):
            raise UserError(f"items of shape {tuple(shape)} do not match the data's item shape "
                            f"{tuple(self.info.shape)}; evaluate samples of a model trained on this data")
        return (c.float().to(device) for c in chunks)


def resolve_kind(data, kind: str = "auto") -> str:
    """``auto``: standardised coordinates for points, a classifier for labelled data, else an autoencoder."""
    if kind not in KINDS:
        raise UserError(f"unknown feature extractor kind {kind!r}; use one of {', '.join(KINDS)}")
    if kind != "auto":
        if kind == "classifier" and (data.y is None or data.info.num_classes < 2):
            raise UserError(f"a classifier feature extractor needs labels, and {data.name} has none; "
                            "use features='autoencoder'")
        return kind
    if not data.info.spec.spatial:
        return "standardised"
    if data.y is not None and data.info.num_classes >= 2:
        return "classifier"
    return "autoencoder"


def cache_dir() -> Path:
    return cache_root() / "features"


def cache_key(data, config: FeatureConfig) -> str:
    payload = json.dumps({"data": data.content_hash(), "config": asdict(config), "version": FEATURES_VERSION},
                         sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def feature_extractor(data, kind: str = "auto", *, config: FeatureConfig | None = None, cache: bool = True,
                      device=None, progress: bool = False) -> FeatureExtractor:
    """The domain feature extractor for ``data``: loaded from the cache, or trained and cached.

    Parameters
    ----------
    data : Dataset
        The real data; the extractor is trained on its training split and scored on
        ``data.test`` (held-out accuracy for a classifier, reconstruction error for an
        autoencoder), stored in ``extractor.scores``.
    kind : str
        ``"auto"`` (see :func:`resolve_kind`), ``"classifier"``, ``"autoencoder"`` or ``"standardised"``.
    config : FeatureConfig, optional
        Sizes and training budget (default: :func:`default_config`).
    cache : bool
        Read and write the on-disk cache.

    Examples
    --------
    >>> import latentspace as ls
    >>> data = ls.data.load("digits")
    >>> phi = feature_extractor(data)                       # doctest: +SKIP
    >>> phi.kind, phi.num_features, phi.scores["accuracy"]  # doctest: +SKIP
    ('classifier', 64, 0.97...)
    """
    config = FeatureConfig(**{**asdict(config or default_config(data.info)), "kind": resolve_kind(data, kind)})
    if config.kind == "standardised":
        phi = FeatureExtractor(data.info, "standardised")
        phi.scores = {}
        return phi.eval()
    path = cache_dir() / f"{data.name.replace('/', '_')}-{config.kind}-{cache_key(data, config)}.safetensors"
    num_classes = data.info.num_classes if config.kind == "classifier" else 0
    phi = FeatureExtractor(data.info, config.kind, config.num_features, config.width, num_classes)
    if cache and path.is_file():
        try:
            state = load_state(path)
            phi.load_state_dict(state["weights"])
        except (UserError, RuntimeError, KeyError) as e:  # a corrupt or foreign file: train afresh
            warnings.warn(f"ignoring the unreadable feature cache {path} ({e}); training the extractor again",
                          stacklevel=2)
        else:
            phi.scores = state["scores"]
            phi.cache_path = path
            return phi.eval()
    device = torch.device(device) if device else (torch.device("cuda") if torch.cuda.is_available()
                                                  else torch.device("cpu"))
    phi.to(device)
    t0 = time.perf_counter()
    train_extractor(phi, data, config, device, progress)
    phi.scores = score_extractor(phi, data)
    phi.scores["train_seconds"] = time.perf_counter() - t0
    phi.cpu().eval()
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_state(path, {"weights": phi.state_dict(), "scores": phi.scores, "config": asdict(config),
                          "data": {"name": data.name, "content_hash": data.content_hash()}})
        phi.cache_path = path
    return phi


def train_extractor(phi: FeatureExtractor, data, config: FeatureConfig, device, progress: bool = False) -> None:
    """Fit ``phi`` on the training split: cross-entropy (classifier) or MSE in model space (autoencoder)."""
    x = data.x.float()
    y = data.y
    n = len(x)
    steps = int(min(config.max_steps, max(config.min_steps, math.ceil(config.epochs * n / config.batch_size))))
    g = torch.Generator().manual_seed(config.seed)
    g_aug = torch.Generator(device=device).manual_seed(config.seed + 1)
    if config.augment not in ("", "jitter"):
        raise UserError(f"unknown feature extractor augmentation {config.augment!r}; use '' or 'jitter'")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        for m in phi.modules():  # re-initialise from the seed: the cache key promises determinism
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
        opt = torch.optim.AdamW(phi.parameters(), lr=config.lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=steps, pct_start=0.15)
        phi.train()
        order = torch.randperm(n, generator=g)
        pos = 0
        bar = range(steps)
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(bar, desc=f"feature {phi.kind}", leave=False)
        for _ in bar:
            if pos + config.batch_size > n:
                order, pos = torch.randperm(n, generator=g), 0
            idx = order[pos:pos + config.batch_size]
            pos += config.batch_size
            xb = x[idx].to(device)
            if config.augment == "jitter":
                xb = jitter(xb, generator=g_aug)
            code = phi.phi(xb)  # training data are already in model space
            if phi.kind == "classifier":
                loss = F.cross_entropy(phi.head(code), y[idx].to(device))
            else:
                loss = F.mse_loss(phi.head(code), xb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    phi.eval()


@torch.no_grad()
def score_extractor(phi: FeatureExtractor, data) -> dict:
    """Held-out quality of the extractor: accuracy (classifier) or reconstruction MSE (autoencoder)."""
    held = data.test if data.test is not None else data
    scores: dict = {"kind": phi.kind, "heldout_items": len(held.x),
                    "heldout_split": "test" if data.test is not None else "train (no test split)"}
    device = next(phi.buffers()).device
    x = held.x.float()
    if phi.kind == "classifier":
        pred = torch.cat([phi.head(phi.phi(x[i:i + 1024].to(device))).argmax(1).cpu()
                          for i in range(0, len(x), 1024)])
        scores["accuracy"] = float((pred == held.y).float().mean())
    else:
        err = sum(F.mse_loss(phi.head(phi.phi(x[i:i + 1024].to(device))), x[i:i + 1024].to(device),
                             reduction="sum").item() for i in range(0, len(x), 1024))
        scores["reconstruction_mse"] = err / x.numel()
        scores["data_variance"] = float(x.var())
    return scores
