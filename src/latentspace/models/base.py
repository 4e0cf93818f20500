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
from latentspace.data.labels import class_labels
from latentspace.errors import UserError
from latentspace.storage import atomic_write_json, check_inside, load_state, read_json, real_folder, save_state

_REGISTRY: dict[str, type] = {}

WEIGHTS_FILE = "weights.safetensors"
META_FILE = "model.json"
#: key marking, in a saved model's parameters, a network the user passed (see ``json_params``)
USER_NETWORK = "user_network"


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

    # -- capabilities: what the model can do, declared once and read by the latent tools,
    # -- evaluate, the report and the CLI (never probed with hasattr or isinstance)
    #: how ``score_samples`` relates to log p(x): "exact", "bound" (a lower bound), "estimate"
    #: (a stochastic estimate) or None (no likelihood)
    likelihood_kind: str | None = None
    #: ``encode(x)`` maps data-space items to latent codes
    encodes: bool = False
    #: what ``decode(z)`` takes: "continuous" codes under the prior N(0, I) (``latent_width()`` wide),
    #: "discrete" code grids, or None (no latent space)
    latent: str | None = None
    #: ``sample``, ``decode`` (and ``encode``, ``score_samples`` where they exist) take class ``labels``
    conditional: bool = False
    #: how codes are found for given items (``latentspace.latent.invert``): "gradient" (descent
    #: through :meth:`differentiable_decoder`), "exact" (:meth:`invert_exact`) or None
    inversion: str | None = None
    #: trained to fill in items: ``complete(x, mask)`` gives the hidden values itself (no inversion)
    completes: bool = False
    #: trained on two datasets: ``fit(data, data_b=...)`` (``--data-b`` on the command line)
    two_domains: bool = False
    #: the held-out ELBO is reported beside the likelihood (``elbo(x)``)
    reports_elbo: bool = False
    #: trained step by step by the engine (resumable, with checkpoints), not fitted in one go
    iterative: bool = False
    #: how a likelihood of kind "estimate" is estimated: "importance" (importance sampling with ``k`` draws,
    #: a lower bound on log p(x) in expectation) or "hutchinson" (an ODE's divergence through Hutchinson's
    #: trace estimator with ``k`` probes: unbiased, not a bound)
    likelihood_estimator: str = "importance"
    #: held-out items ``evaluate`` scores for the likelihood by default (None: up to 10,000, or 100 for
    #: importance-sampled estimates); a likelihood costing many network passes per item sets fewer
    nll_items: int | None = None
    #: latent units in use after training (VAEs; None when not measured)
    active_units_ = None
    #: the fitted data's description (None until ``fit`` or ``load``)
    info_ = None
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

    def json_params(self) -> dict:
        """``get_params()`` as JSON: a network of the user's own (an ``nn.Module``) is recorded by its
        class name (``{"user_network": "module.Class"}``) and must be passed again to :func:`load`."""
        return {k: ({USER_NETWORK: f"{type(v).__module__}.{type(v).__qualname__}"} if isinstance(v, torch.nn.Module)
                    else v) for k, v in self.get_params().items()}

    def resolved_params(self) -> dict:
        """The settings ``fit`` resolved from the data and the recipes for parameters left at their
        "auto"/None defaults (the learning rate actually used, the likelihood chosen, ...), as JSON.
        ``model.json`` and ``config.json`` record them. Override to add a family's."""
        return {}

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

    def latent_width(self) -> int | None:
        """Width of the continuous latent space (``latent == "continuous"``), else None."""
        return None

    def differentiable_decoder(self):
        """A context manager giving ``decode(z, y)``: codes (and labels, for conditional models;
        None otherwise) to model-space items, differentiable in ``z`` (``inversion == "gradient"``)."""
        raise NotImplementedError(f"{self.name!r} has no differentiable decoder")

    def invert_exact(self, xm: torch.Tensor, mask: torch.Tensor, prior_weight: float) -> torch.Tensor:
        """Codes minimising ``||mask * (decode(z) - xm)||^2 + prior_weight ||z||^2`` in closed form
        (``inversion == "exact"``); ``xm`` in model space with hidden features 0."""
        raise NotImplementedError(f"{self.name!r} has no closed-form inversion")

    @property
    def likelihood_of(self) -> str | None:
        """What ``score_samples`` is a likelihood of (a key of ``latentspace.metrics.likelihood.LIKELIHOOD_OF``):
        by default a density of data-space values when the model has a likelihood, else None."""
        return "density" if self.likelihood_kind is not None else None

    def likelihood_items(self, x):
        """The items a held-out likelihood is measured on, and a note saying how they were made
        (None when they are ``x`` itself)."""
        return x, None

    # -- helpers for subclasses ------------------------------------------------------
    def _check_fitted(self):
        if self.info_ is None:
            raise UserError(f"this {self.name!r} model is not fitted yet; call fit(data) first")

    def _check_n(self, n):
        if int(n) != n or n < 1:
            raise UserError(f"number of samples must be a positive integer, got {n!r}")
        return int(n)

    def _as_codes(self, z, width: int, dtype=torch.float32) -> torch.Tensor:
        """Latent codes ``(n, width)`` as a CPU tensor, or a UserError naming the shape needed."""
        z = torch.as_tensor(z.detach().cpu() if isinstance(z, torch.Tensor) else np.asarray(z), dtype=dtype)
        if z.ndim != 2 or z.shape[1] != width:
            raise UserError(f"latent codes must have shape (n, {width}), got {tuple(z.shape)}")
        return z

    #: how far (a fraction of the natural range's width) items may lie outside the data's natural range
    #: (``info_.clip``) before :meth:`_as_model_space` refuses them
    range_tolerance: float = 1e-3

    def _as_model_space(self, x) -> torch.Tensor:
        """Validate data-space items and map them to model space.

        Refuses items of another shape, NaN/inf, and values outside the data's natural range
        (``info_.clip``, e.g. [0, 1] intensities) by more than ``range_tolerance`` of its width:
        the model never saw such values and its likelihood of them means nothing.
        """
        self._check_fitted()
        x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x.detach(), dtype=torch.float32)
        shape = tuple(self.info_.shape)
        if x.ndim == 0 or x.shape[1:] != shape:
            raise UserError(f"items have shape {tuple(x.shape[1:])}, but the model was fitted on {shape}; "
                            f"give an array of shape (n, {', '.join(map(str, shape))})")
        if not torch.isfinite(x).all():
            raise UserError("items contain NaN or inf; remove or impute them first")
        clip = self.info_.clip
        if clip is not None and x.numel():
            lo, hi = float(x.min()), float(x.max())
            slack = self.range_tolerance * (clip[1] - clip[0])
            if lo < clip[0] - slack or hi > clip[1] + slack:
                hint = ("divide 8-bit values by 255" if clip == (0.0, 1.0) and lo >= 0 and hi <= 255
                        else f"rescale them to [{clip[0]:g}, {clip[1]:g}]")
                raise UserError(f"items have values in [{lo:g}, {hi:g}] but the model's data lie in "
                                f"[{clip[0]:g}, {clip[1]:g}] (data space); {hint}")
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
        """Save the fitted model to folder ``path`` (``weights.safetensors`` + ``model.json``).

        The folder is created when missing; a symbolic link at ``path`` (or at either file) is
        replaced, never written through; an existing file at ``path`` is refused.
        """
        self._check_fitted()
        path = Path(path)
        if path.exists() and not path.is_dir() and not path.is_symlink():
            raise UserError(f"cannot save the model to {path}: it is a file; give a folder path (model.save "
                            "writes weights.safetensors and model.json into it)")
        for parent in path.parents:
            if parent.exists() and not parent.is_dir():
                raise UserError(f"cannot save the model to {path}: {parent} is a file; give a folder path")
        tensors, extra = self._get_state()
        real_folder(path)
        save_state(path / WEIGHTS_FILE, tensors)
        atomic_write_json(path / META_FILE, {
            "model": self.name,
            "params": self.json_params(),
            "resolved": self.resolved_params(),
            "data": self.info_.to_json(),
            "extra": extra,
            "latentspace_version": __version__,
        })
        return path


class Preset:
    """A family's model under other defaults: ``class BetaVAE(Preset, VAE): preset = {"beta": 4.0}``.

    It takes every parameter of the family (the first base class that is not a Preset), with the
    values of ``preset`` as defaults; a class may also override class attributes (recipes).
    """

    preset: dict = {}

    def __init__(self, **params):
        super().__init__(**{**self.preset, **params})

    @classmethod
    def family(cls) -> type:
        """The model class this preset re-parameterises."""
        return next(c for c in cls.__mro__ if issubclass(c, GenerativeModel) and not issubclass(c, Preset))

    @classmethod
    def _param_names(cls) -> list[str]:
        return cls.family()._param_names()

    @classmethod
    def param_defaults(cls) -> dict:
        return {**cls.family().param_defaults(), **cls.preset}


def _model_folder(path: Path) -> Path:
    """The model folder of ``path`` (a model folder, or a run folder holding ``model/``): a ``model/``
    that is a symbolic link leading out of the run folder is refused."""
    if (path / META_FILE).is_file():
        return path
    if (path / "model" / META_FILE).exists():
        check_inside(path / "model", path)
        return path / "model"
    if not path.exists():
        raise UserError(f"no such model or run folder: {path}; check the path")
    if not path.is_dir():
        raise UserError(f"{path} is a file, not a model or run folder; give the folder that train or save wrote")
    raise UserError(f"{path} holds no saved model ({META_FILE}); give a run folder or a model folder")


def _checked_meta(meta: dict, where: Path) -> dict:
    """``model.json`` as written by :meth:`GenerativeModel.save`, or a UserError naming what is wrong."""
    for key, kind in (("model", str), ("params", dict), ("data", dict)):
        if key not in meta:
            raise UserError(f"{where} lacks {key!r}; it was not written by latentspace's save: save the model again")
        if not isinstance(meta[key], kind):
            raise UserError(f"{where}: {key!r} must be a JSON {'string' if kind is str else 'object'}, got "
                            f"{type(meta[key]).__name__}; the file is corrupt: save the model again")
    if not isinstance(meta.get("extra", {}), dict):
        raise UserError(f"{where}: 'extra' must be a JSON object; the file is corrupt: save the model again")
    if meta["model"] not in _REGISTRY:
        raise UserError(f"{where} names an unknown model {meta['model']!r}; known models: "
                        f"{', '.join(sorted(_REGISTRY))} (was it saved by a plug-in that is not imported?)")
    return meta


def load(path, **networks) -> GenerativeModel:
    """Load a model saved with ``save`` (a model folder, or a run folder holding ``model/``).

    A model trained with networks of your own (``create("vae", encoder=net, ...)``) is saved with
    their weights but not their code: pass the same networks again, e.g. ``load(path, encoder=Net(),
    decoder=Net())``; their weights are then loaded from the file.

    Nothing in the folder is executed: ``model.json`` is JSON naming a registered model, the weights
    are safetensors checked before reading, and a file that is a symbolic link leading out of the
    folder named is refused (see docs/reliability.md).
    """
    root = Path(path)
    folder = _model_folder(root)
    where = folder / META_FILE
    meta = _checked_meta(read_json(where, root=root), where)
    params = dict(meta["params"])
    own = {k: v[USER_NETWORK] for k, v in params.items() if isinstance(v, dict) and USER_NETWORK in v}
    missing = [k for k in own if k not in networks]
    if missing:
        given = ", ".join(f"{k}=<your {own[k]}>" for k in own)
        raise UserError(f"{folder} was trained with networks of your own ({', '.join(own)}); the file holds their "
                        f"weights, not their code: load it with latentspace.load(path, {given})")
    unknown = sorted(set(networks) - set(own))
    if unknown:
        raise UserError(f"{folder} was not trained with a network {unknown[0]!r} of your own; drop that argument")
    try:
        model = create(meta["model"], **{**params, **networks})
    except UserError as e:
        raise UserError(f"{where}: {e}") from None
    model.info_ = DataInfo.from_json(meta["data"], where=str(where))
    state = load_state(folder / WEIGHTS_FILE, root=root)
    try:
        model._set_state(state, meta.get("extra", {}))
    except UserError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as e:
        raise UserError(f"{folder / WEIGHTS_FILE} does not fit the {meta['model']!r} model that {META_FILE} "
                        f"describes ({type(e).__name__}); the folder is corrupt or mixes two models: save the model "
                        "again") from e
    return model


def optional_labels(model, n: int, labels, *, required: bool = False, what: str = "") -> torch.Tensor | None:
    """Labels for ``n`` items of a model trained with or without them (``model.conditional`` set per instance:
    ddpm, flow-matching): None for an unconditional one (which refuses labels), the classes in turn when none
    are given (a UserError when ``required``), else :func:`check_labels`; a CPU tensor."""
    if not model.conditional:
        if labels is not None:
            raise UserError(f"this {model.name} is unconditional and takes no labels; drop labels= or train it with "
                            "conditional=true")
        return None
    k = model.info_.num_classes
    if labels is None:
        if required:
            raise UserError(f"a conditional {model.name}'s {what} needs the items' labels: pass labels=... (one "
                            "class per item)")
        return torch.arange(n) % k
    return check_labels(n, labels, k, model.info_.classes, model.name)


def check_labels(n: int, labels, num_classes: int, classes=None, owner: str = "the model") -> torch.Tensor:
    """Requested labels of a conditional model as a (n,) long tensor: one class for all, or one per
    item, each an index or a class name (see :func:`latentspace.data.labels.class_labels`)."""
    return class_labels(labels, n, list(classes or range(num_classes)), owner)
