"""The one model API shared by every generative model in latentspace.

In the style of scikit-learn's estimators: the constructor only stores parameters,
``fit`` returns ``self``, fitted state ends in ``_``, and a model that cannot do something
says so with ``NotImplementedError``. On top of scikit-learn's generative estimators:

- ``sample(n, seed=...)`` returns items in *data space* (the user's units);
- ``score_samples(x)`` is the per-item log-likelihood of data-space items, where one exists;
- ``encode`` / ``decode`` map to and from a latent space, for latent models;
- ``save(path)`` / :func:`latentspace.load` round-trip a fitted model through safetensors
  and JSON, including the data's modality and scaling.
"""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path

import numpy as np
import torch

from latentspace import __version__
from latentspace.data.dataset import DataInfo, Dataset
from latentspace.errors import UserError
from latentspace.storage import atomic_write_json, load_state, read_json, save_state

_REGISTRY: dict[str, type] = {}

WEIGHTS_FILE = "weights.safetensors"
META_FILE = "model.json"


def register(cls):
    """Class decorator adding a model to the registry under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def registry() -> dict[str, type]:
    return dict(_REGISTRY)


def create(name: str, **params) -> "GenerativeModel":
    """Create a model by registry name, e.g. ``create("gan", latent_dim=8)``."""
    if name not in _REGISTRY:
        raise UserError(f"unknown model {name!r}; use one of: {', '.join(sorted(_REGISTRY))}")
    model = _REGISTRY[name]()
    model.set_params(**params)
    return model


def _coerce(name: str, value, default, kind=None):
    """Coerce ``value`` to the type of a parameter's default, or to ``kind`` (for ``--set key=value``)."""
    if value is None or (default is None and kind is None):
        return value
    kind = kind or type(default)
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() in ("true", "1", "yes", "on"):
                    return True
                if value.lower() in ("false", "0", "no", "off"):
                    return False
                raise ValueError
            return bool(value)
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if kind is float:
            v = float(value)
            if not math.isfinite(v):
                raise ValueError
            return v
        if kind in (tuple, list):
            return kind(value) if not isinstance(value, str) else kind(json.loads(value))
        return kind(value)
    except (TypeError, ValueError, json.JSONDecodeError):
        like = f" (like {default!r})" if default is not None else ""
        raise UserError(f"parameter {name!r} expects a {kind.__name__}{like}, got {value!r}") from None


class GenerativeModel:
    """Base class: the API every model implements.

    Subclasses set ``name`` (the registry name), store their constructor arguments as
    attributes of the same name, and implement ``fit``, ``sample``, ``_get_state`` and
    ``_set_state``; ``score_samples``, ``encode`` and ``decode`` where they apply.
    """

    name: str = ""
    #: how ``score_samples`` relates to log p(x): "exact", "bound" or "estimate"
    likelihood_kind: str | None = None
    #: options a parameter may take, checked by ``set_params``: {param: (choices...)}
    choices: dict = {}
    #: types of parameters whose default is None ("chosen from the data"): {param: type}
    param_types: dict = {}

    # -- parameters (scikit-learn conventions) ------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.name != "self" and p.kind != p.VAR_KEYWORD]

    @classmethod
    def param_defaults(cls) -> dict:
        sig = inspect.signature(cls.__init__)
        return {n: sig.parameters[n].default for n in cls._param_names()}

    def get_params(self) -> dict:
        return {n: getattr(self, n) for n in self._param_names()}

    def set_params(self, **params) -> "GenerativeModel":
        defaults = self.param_defaults()
        for key, value in params.items():
            if key not in defaults:
                raise UserError(
                    f"model {self.name!r} has no parameter {key!r}; valid: {', '.join(sorted(defaults))}"
                )
            value = _coerce(key, value, defaults[key], self.param_types.get(key))
            if key in self.choices and value not in self.choices[key]:
                raise UserError(
                    f"parameter {key!r} of {self.name!r} must be one of {list(self.choices[key])}, got {value!r}"
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        defaults = self.param_defaults()
        changed = {k: v for k, v in self.get_params().items() if v != defaults[k]}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    # -- the API -------------------------------------------------------------------
    def fit(self, data: Dataset, **options) -> "GenerativeModel":
        raise NotImplementedError

    def sample(self, n: int, *, seed: int | None = None, **cond) -> torch.Tensor:
        raise NotImplementedError

    def score_samples(self, x) -> torch.Tensor:
        """Per-item log-likelihood (nats) of data-space items ``x``."""
        raise NotImplementedError(f"{self.name!r} has no likelihood")

    def encode(self, x) -> torch.Tensor:
        raise NotImplementedError(f"{self.name!r} has no latent space")

    def decode(self, z) -> torch.Tensor:
        raise NotImplementedError(f"{self.name!r} has no latent space")

    # -- helpers for subclasses ------------------------------------------------------
    def _check_fitted(self):
        if getattr(self, "info_", None) is None:
            raise UserError(f"this {self.name!r} model is not fitted yet; call fit(data) first")

    def _check_n(self, n):
        if int(n) != n or n < 1:
            raise UserError(f"number of samples must be a positive integer, got {n!r}")
        return int(n)

    def _as_model_space(self, x) -> torch.Tensor:
        """Validate data-space items and map them to model space."""
        self._check_fitted()
        x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x, dtype=torch.float32)
        shape = tuple(self.info_.shape)
        if x.shape[1:] != shape:
            raise UserError(f"items have shape {tuple(x.shape[1:])}, but the model was fitted on {shape}")
        if not torch.isfinite(x).all():
            raise UserError("items contain NaN or inf; remove or impute them first")
        return self.info_.to_model(x)

    def _log_det_to_data(self) -> float:
        """log |d model / d data| per item: add it to a model-space log-density."""
        scale = torch.as_tensor(self.info_.scale, dtype=torch.float64)
        per_feature = -torch.log(scale.abs())
        if per_feature.numel() == 1:
            return float(per_feature) * self.info_.dim
        return float(per_feature.sum())

    # -- persistence -----------------------------------------------------------------
    def _get_state(self) -> tuple[dict, dict]:
        """(tensors, JSON-able extras) describing the fitted state."""
        raise NotImplementedError

    def _set_state(self, tensors: dict, extra: dict) -> None:
        raise NotImplementedError

    def save(self, path) -> Path:
        """Save the fitted model to folder ``path`` (``weights.safetensors`` + ``model.json``)."""
        self._check_fitted()
        path = Path(path)
        tensors, extra = self._get_state()
        save_state(path / WEIGHTS_FILE, tensors)
        atomic_write_json(path / META_FILE, {
            "model": self.name,
            "params": self.get_params(),
            "data": self.info_.to_json(),
            "extra": extra,
            "latentspace_version": __version__,
        })
        return path


def _model_folder(path: Path) -> Path:
    if (path / META_FILE).is_file():
        return path
    if (path / "model" / META_FILE).is_file():
        return path / "model"
    if not path.exists():
        raise UserError(f"no such model or run folder: {path}; check the path")
    raise UserError(f"{path} holds no saved model ({META_FILE}); give a run folder or a model folder")


def load(path) -> GenerativeModel:
    """Load a model saved with ``save`` (a model folder, or a run folder holding ``model/``)."""
    folder = _model_folder(Path(path))
    meta = read_json(folder / META_FILE)
    for key in ("model", "params", "data"):
        if key not in meta:
            raise UserError(f"{folder / META_FILE} lacks {key!r}; it was not written by latentspace.save")
    model = create(meta["model"], **meta["params"])
    model.info_ = DataInfo.from_json(meta["data"])
    model._set_state(load_state(folder / WEIGHTS_FILE), meta.get("extra", {}))
    return model


def check_labels(n: int, labels, num_classes: int, classes=None) -> torch.Tensor:
    """Requested labels of a conditional model as a (n,) long tensor: one class for all, or one per item."""
    y = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels)
    if y.ndim == 0:
        y = y.expand(n)
    if y.ndim != 1 or len(y) != n:
        raise UserError(f"labels must be one class or one per item ({n}), got shape {tuple(y.shape)}")
    if y.is_floating_point() and not bool((y == y.round()).all()):
        raise UserError("labels must be integer class indices")
    y = y.long()
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        names = ", ".join(map(str, classes or range(num_classes)))
        raise UserError(f"labels must lie in 0..{num_classes - 1} (classes: {names})")
    return y
