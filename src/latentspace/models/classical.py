r"""Classical generative models on scikit-learn, ``kde``, ``gmm`` and ``ppca``: what they share.

The models themselves live in :mod:`latentspace.models.kde`, :mod:`latentspace.models.gmm` and
:mod:`latentspace.models.ppca` (and are re-exported here); this module holds their base class
:class:`_Classical` (fitting, sampling, scoring and saving), the PCA subspace :class:`_Subspace`
and the parsing of their parameters.

All three are fitted in *model space* (``data.x`` flattened to ``(n, d)``) and have an exact
likelihood. ``score_samples`` takes *data-space* items and returns the log-density in nats
of the data-space distribution, i.e. the model-space log-density plus the log-Jacobian of
the affine map ``model = (data - shift) / scale``:

.. math::

    \log p_{\text{data}}(x) = \log p_{\text{model}}\big((x - t)/s\big) - \textstyle\sum_i \log |s_i| .

Samples are mapped back with ``info.to_data`` and clipped to the data's range where it has
one (pixels); the density is that of the unclipped model.

Densities (``y`` is the space the model is fitted in, see *subspace* below): a Gaussian kernel
density estimate (``kde``), a Gaussian mixture fitted by EM (``gmm``) and probabilistic PCA
(``ppca``); each module's docstring gives its formula.

**Subspace.** For high-dimensional data (images) ``kde`` and ``gmm`` may be fitted in a
PCA-whitened ``k``-dimensional subspace (``pca_components``). To keep a proper density in
the full space, the discarded directions get an isotropic Gaussian with the ML residual
variance, exactly as in PPCA. With :math:`\tilde x = x - \mu`,
:math:`z = \Lambda_k^{-1/2} U_k^\top \tilde x` and :math:`r = (I - U_k U_k^\top)\tilde x`:

.. math::

    \log p(x) = \log p_Z(z) - \tfrac12 \textstyle\sum_{i\le k} \log\lambda_i
                - \tfrac{d-k}{2}\log(2\pi\sigma^2) - \frac{\lVert r\rVert^2}{2\sigma^2},

and PPCA is the special case :math:`p_Z = \mathcal N(0, I_k)`. Eigenvalues and
:math:`\sigma^2` are floored at ``1e-6`` times the mean per-feature variance so that
degenerate data (e.g. pixels that are always black) still gives a finite density.

Fitted models are saved without pickle: all arrays go to safetensors (float64), the rest
to JSON, and loading rebuilds the same objects, so samples and scores are reproduced exactly.
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import torch

from latentspace.data.dataset import Dataset
from latentspace.data.mapped import available_memory
from latentspace.errors import UserError
from latentspace.models.base import GenerativeModel
from latentspace.storage import human_size
from latentspace.train.callbacks import RunFolder
from latentspace.train.distributed import DistEnv

_VAR_FLOOR = 1e-6  # relative to the mean per-feature variance
_LOG_2PI = math.log(2 * math.pi)


# -- parameter parsing (values may arrive as strings from ``--set key=value``) -------------------
def _parse_pca(value):
    """``pca_components``: ``"auto"``, ``None`` (no PCA) or a positive int."""
    if value is None or value == "auto":
        return value
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("none", "null", "off", "0", ""):
            return None
        if v == "auto":
            return "auto"
        try:
            value = float(v)
        except ValueError:
            raise UserError("pca_components must be 'auto', 'none' or a positive integer, "
                            f"got {v!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer() \
            or value < 0:
        raise UserError(f"pca_components must be 'auto', 'none' or a positive integer, got {value!r}")
    return int(value) or None  # 0 means no PCA


def _parse_bandwidth(value):
    """``bandwidth``: ``"scott"``, ``"silverman"``, ``"cv"`` or a positive float."""
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("scott", "silverman", "cv"):
            return v
        try:
            value = float(v)
        except ValueError:
            raise UserError(f"bandwidth must be 'scott', 'silverman', 'cv' or a positive number, "
                            f"got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value <= 0:
        raise UserError(f"bandwidth must be 'scott', 'silverman', 'cv' or a positive number, got {value!r}")
    return float(value)


def _t(a) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float64)


# -- the PCA subspace with an isotropic Gaussian on the discarded directions ----------------------

def check_fits_in_memory(name: str, data: Dataset) -> None:
    """Refuse, before allocating it, a float64 copy of the items larger than the free memory: classical
    models are fitted on all items at once (neural models read a batch at a time)."""
    needed, free = 8 * len(data) * int(np.prod(data.shape)), available_memory()
    if needed > free:
        raise UserError(f"{name} is fitted on all {len(data):,} items at once, which need {human_size(needed)} of "
                        f"memory as float64 but {human_size(free)} are free; train a neural model (it reads a "
                        "batch at a time), or load fewer or smaller items (size=, classes=)")

class _Subspace:
    """``x = mean + U^T (sqrt(var) * z) + r``, ``r`` isotropic with ``noise`` variance off the subspace."""

    def __init__(self, mean, components, variances, noise):
        self.mean = mean              # (d,)
        self.components = components  # (k, d), orthonormal rows
        self.variances = variances    # (k,)
        self.noise = float(noise)     # sigma^2 of the d - k discarded directions

    @property
    def dim(self) -> int:
        return self.components.shape[1]

    @property
    def k(self) -> int:
        return self.components.shape[0]

    @classmethod
    def fit(cls, x: np.ndarray, k: int, seed: int) -> "_Subspace":
        from sklearn.decomposition import PCA

        n, d = x.shape
        k = max(1, min(int(k), d, n))
        pca = PCA(n_components=k, random_state=seed).fit(x)
        mean = pca.mean_.astype(np.float64)
        u = pca.components_.astype(np.float64)
        xc = x - mean
        variances = (xc @ u.T).var(axis=0)            # ML variances along the components
        total = float((xc ** 2).sum(axis=1).mean())   # trace of the ML covariance
        floor = max(_VAR_FLOOR * total / d, 1e-12)
        noise = (total - variances.sum()) / (d - k) if d > k else floor
        return cls(mean, u, np.maximum(variances, floor), max(noise, floor))

    def project(self, x):
        """(whitened coordinates z, log-density of the discarded part + whitening Jacobian)."""
        xc = x - self.mean
        proj = xc @ self.components.T
        z = proj / np.sqrt(self.variances)
        extra = np.full(len(x), -0.5 * np.log(self.variances).sum())
        if self.dim > self.k:
            r = xc - proj @ self.components
            extra += -0.5 * (self.dim - self.k) * (_LOG_2PI + math.log(self.noise)) \
                - 0.5 * (r ** 2).sum(axis=1) / self.noise
        return z, extra

    def reconstruct(self, z, rng):
        """Map whitened coordinates back, adding isotropic noise off the subspace."""
        x = self.mean + (z * np.sqrt(self.variances)) @ self.components
        if self.dim > self.k:
            eps = rng.standard_normal((len(z), self.dim)) * math.sqrt(self.noise)
            x += eps - (eps @ self.components.T) @ self.components
        return x

    def state(self, prefix: str = "pca."):
        tensors = {prefix + "mean": _t(self.mean), prefix + "components": _t(self.components),
                   prefix + "variances": _t(self.variances),
                   prefix + "noise_variance": _t(np.array(self.noise))}
        return tensors

    @classmethod
    def from_state(cls, tensors, prefix: str = "pca.") -> "_Subspace":
        return cls(_np(tensors[prefix + "mean"]), _np(tensors[prefix + "components"]),
                   _np(tensors[prefix + "variances"]), float(tensors[prefix + "noise_variance"]))


# -- shared machinery --------------------------------------------------------------------------------
class _Classical(GenerativeModel):
    """Fit/sample/score/save plumbing; subclasses supply a density on the fitted space."""

    likelihood_kind = "exact"
    _score_batch = 4096
    pca_ = None

    def set_params(self, **params):
        super().set_params(**params)
        if "pca_components" in params:
            self.pca_components = _parse_pca(self.pca_components)
        if "bandwidth" in params:
            self.bandwidth = _parse_bandwidth(self.bandwidth)
        return self

    # subclass hooks (y: (n, k) float64 in the fitted space) ----------------------------------------
    def _fit_base(self, y: np.ndarray, seed: int) -> None:
        raise NotImplementedError

    def _base_log_prob(self, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _base_sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _base_state(self) -> tuple[dict, dict]:
        raise NotImplementedError

    def _set_base_state(self, tensors: dict, extra: dict) -> None:
        raise NotImplementedError

    def _subspace_size(self, info, n: int) -> int | None:
        """Number of PCA components to fit in, or None to fit in model space."""
        k = _parse_pca(self.pca_components)
        if k == "auto":
            k = min(64, info.dim // 2) if info.spec.pca_subspace else None
        if k is not None and k >= info.dim:
            k = None  # the whole space: nothing to discard
        return k

    # the API ------------------------------------------------------------------------------------------
    def fit(self, data: Dataset, *, seed: int = 0, out=None, overwrite: bool = False, **options):
        """Fit to ``data`` (a :class:`~latentspace.data.Dataset`) in one go.

        Parameters
        ----------
        data : Dataset
        seed : int
            Seeds PCA, initialisation and subsampling; the fit is deterministic for a seed.
        out : path, optional
            Run folder: ``config.json``, the model in ``out/model`` and a picture of samples
            (like the training engine does for neural models).
        overwrite : bool
            Replace a run already in ``out``.
        **options
            Training-engine options (``steps``, ``batch_size``, ``progress``, ...) are accepted
            and ignored: these models are fitted in closed form or by EM.
        """
        if not isinstance(data, Dataset):
            raise UserError(f"fit expects a latentspace Dataset, got {type(data).__name__}; wrap an array with "
                            "ls.data.from_array(x, y=None), or load files with ls.data.load(path)")
        if len(data) < 2:
            raise UserError(f"{self.name} needs at least 2 items to fit, got {len(data)}")
        seed = 0 if seed is None else int(seed)
        folder = RunFolder(out, overwrite=overwrite) if out is not None else None
        if folder is not None:
            folder.setup(DistEnv())  # refuses a folder that holds a run, before any work
        check_fits_in_memory(self.name, data)
        x = data.x.reshape(len(data), -1).double().numpy()
        k = self._subspace_size(data.info, len(x))
        self.pca_ = _Subspace.fit(x, k, seed) if k is not None else None
        y = self.pca_.project(x)[0] if self.pca_ is not None else x
        self._fit_base(y, seed)
        self.info_ = data.info
        if folder is not None:
            folder.fitted(self, data, {"seed": seed})
        return self

    def _model_space_sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        y = self._base_sample(n, rng)
        return self.pca_.reconstruct(y, rng) if self.pca_ is not None else y

    def sample(self, n: int, *, seed: int | None = None, **cond) -> torch.Tensor:
        """``n`` items in data space, float32 ``(n, *shape)``; the same ``seed`` gives the same items."""
        self._check_fitted()
        n = self._check_n(n)
        if cond:
            raise UserError(f"{self.name!r} is unconditional; it takes no {', '.join(sorted(cond))}")
        rng = np.random.default_rng(seed)
        x = self._model_space_sample(n, rng)
        x = torch.from_numpy(x).float().reshape(n, *self.info_.shape)
        return self.info_.to_data(x)

    def _model_space_log_prob(self, x: np.ndarray) -> np.ndarray:
        if self.pca_ is None:
            return self._base_log_prob(x)
        z, extra = self.pca_.project(x)
        return self._base_log_prob(z) + extra

    def score_samples(self, x) -> torch.Tensor:
        """Exact log-density (nats, float64) of data-space items ``x`` of shape ``(n, *shape)``."""
        xm = self._as_model_space(x)
        xm = xm.reshape(len(xm), -1).double().numpy()
        out = np.concatenate([self._model_space_log_prob(xm[i:i + self._score_batch])
                              for i in range(0, len(xm), self._score_batch)]) if len(xm) else np.zeros(0)
        return torch.from_numpy(out + self._log_det_to_data())

    # persistence --------------------------------------------------------------------------------------
    def _get_state(self):
        tensors, extra = self._base_state()
        if self.pca_ is not None:
            tensors.update(self.pca_.state())
        extra["pca"] = self.pca_ is not None
        return tensors, extra

    def _set_state(self, tensors, extra):
        self.pca_ = _Subspace.from_state(tensors) if extra.get("pca") else None
        self._set_base_state(tensors, extra)


# -- the models, re-exported (loaded on first use: their modules import this one) -------------------
_MODELS = {"KDE": "latentspace.models.kde", "GMM": "latentspace.models.gmm", "PPCA": "latentspace.models.ppca"}


def __getattr__(name):
    if name in _MODELS:
        return getattr(importlib.import_module(_MODELS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
