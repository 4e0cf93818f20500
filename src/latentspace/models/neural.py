"""Common ground of the neural models: networks by name, training through the engine,
batched seeded sampling, and persistence of weights (EMA copies included).

A subclass implements

- ``_build(info) -> dict[str, nn.Module]``: its networks, sized from the data;
- ``configure_optimizers() -> dict[str, Optimizer]``;
- ``train_step(batch, step) -> dict[str, float]``: one optimisation step on a
  :class:`~latentspace.train.engine.Batch`, the family's losses;
- the API its capabilities promise (``sample``, and ``score_samples``, ``encode``/``decode``, ...);

and may declare ``lr_windows(steps)`` (the steps each optimizer trains in; the engine runs the
learning-rate schedule within each window).

During training, ``self.net(name)`` returns the network to call (DDP-wrapped under
``torchrun``); ``self.eval_net(name)`` returns the EMA copy when there is one; ``self.dist_``
is the process group's handle (rank, world size, all-reduce) for the model's own collectives.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from latentspace.data.dataset import DataInfo, Dataset
from latentspace.errors import UserError
from latentspace.models.base import USER_NETWORK, GenerativeModel, create
from latentspace.train import run as runfolder
from latentspace.train.callbacks import default_callbacks
from latentspace.train.distributed import DistEnv
from latentspace.train.engine import UNBOUNDED_STEPS, TrainConfig, check_counts, check_time, train

#: training settings a run folder keeps, with the engine's defaults where the model has none
TRAIN_DEFAULTS = {"seed": 0, "log_every": 100, "sample_every": 0, "checkpoint_every": 1000}


class NeuralModel(GenerativeModel):
    iterative = True
    #: names of networks whose weights are averaged (EMA) when ``ema_decay`` > 0
    ema_nets: tuple = ()
    ema_decay: float = 0.0
    #: training defaults used when ``fit`` is not told otherwise
    default_steps: int = 2000
    default_batch_size: int = 128
    default_lr_schedule: str = "constant"

    nets_ = None
    ema_ = None
    train_nets_ = None
    info_ = None
    #: the machine the defaults were sized for: "cpu" or "gpu" (set by ``fit`` from the device it
    #: trains on, kept by ``save`` and checkpoints; models saved before sizing existed had "gpu" ones)
    sized_for_ = "gpu"
    #: the process group (rank, world size, collectives); one process outside ``torchrun``
    dist_ = DistEnv()

    # -- construction ------------------------------------------------------------
    def _build(self, info) -> dict:
        raise NotImplementedError

    def build(self, info, device=None) -> "NeuralModel":
        """Create the networks for data described by ``info`` on ``device``."""
        self.info_ = info
        self.device_ = torch.device(device) if device is not None else torch.device("cpu")
        self.nets_ = nn.ModuleDict(self._build(info)).to(self.device_)
        if info.spec.spatial_dims == 2:  # 2-D convs: channels_last is faster on CPU and GPU
            self.nets_ = self.nets_.to(memory_format=torch.channels_last)
        self.ema_ = nn.ModuleDict({k: copy.deepcopy(self.nets_[k]).requires_grad_(False)
                                   for k in self.ema_nets if self.ema_decay > 0})
        self.train_nets_ = None
        return self

    def configure_optimizers(self) -> dict:
        raise NotImplementedError

    def lr_windows(self, steps: int) -> dict:
        """``{optimizer name: (first step, end step)}`` for optimizers that train in part of a run of
        ``steps`` steps; the engine runs the learning-rate schedule within each window. Default: none."""
        return {}

    def end_training(self, data: Dataset) -> None:
        """Called once after the last step, before the model is saved (override to calibrate)."""

    def train_step(self, batch, step: int) -> dict:
        """One optimisation step on a :class:`~latentspace.train.engine.Batch`; returns the losses to log."""
        raise NotImplementedError

    def net(self, name: str) -> nn.Module:
        """The network to call in ``train_step`` (DDP-wrapped when distributed)."""
        if self.train_nets_ and name in self.train_nets_:
            return self.train_nets_[name]
        return self.nets_[name]

    def eval_net(self, name: str) -> nn.Module:
        """The network to use for sampling/encoding: its EMA copy when there is one."""
        return self.ema_[name] if self.ema_ and name in self.ema_ else self.nets_[name]

    def set_train(self, mode: bool) -> None:
        self.nets_.train(mode)
        self.ema_.eval()

    def to(self, device) -> "NeuralModel":
        self.device_ = torch.device(device)
        self.nets_.to(self.device_)
        self.ema_.to(self.device_)
        return self

    # -- the API -------------------------------------------------------------------
    def fit(self, data: Dataset, *, steps: int | None = None, batch_size: int | None = None,
            seed: int | None = None, out=None, resume: bool = False, overwrite: bool = False,
            log_every: int | None = None, sample_every: int | None = None, checkpoint_every: int | None = None,
            progress: bool = True, device: str | None = None, lr_schedule: str | None = None,
            time: float | None = None, callbacks=()) -> "NeuralModel":
        """Train on ``data`` with the shared engine (see :mod:`latentspace.train.engine`).

        Every training setting left None takes, on ``resume``, the run's own value (from its
        ``config.json``), and otherwise its default. A setting given again on resume is used where the
        resume stays exact: more ``steps`` continue the run; another ``batch_size``, ``seed`` or
        ``lr_schedule`` is refused.

        Parameters
        ----------
        data : Dataset
        steps : int, optional
            Optimisation steps (total, counting those before a resume); model default if None.
        batch_size : int, optional
            Global batch size (split across processes under torchrun); model default if None.
        seed : int, optional
            Makes a CPU run deterministic (default 0).
        out : path, optional
            Run folder for config, metrics.csv, checkpoints, samples and the final model.
        resume, overwrite : bool
            Continue the run in ``out`` from its checkpoint, or replace it.
        log_every, sample_every, checkpoint_every : int, optional
            Steps between logged losses (default 100), sample pictures (0, the default: ten per run)
            and checkpoints (default 1000).
        lr_schedule : {"constant", "linear", "cosine"}, optional
            Learning-rate multiplier over the run (to 0 at the end for linear and cosine);
            the model's default if None.
        time : float, optional
            A time budget in seconds: training stops at the first step that ends past it (or at
            ``steps``, when given too), and the run's progress -- the learning-rate schedule,
            warm-ups, annealed options, the model's stages -- is the fraction of the budget spent.
            The run is checkpointed and saved as usual; ``resume`` with a larger ``time`` continues
            it. A budgeted run's length depends on the machine's speed, so unlike a run of
            ``steps`` it is not reproducible bit for bit.
        callbacks : sequence of Callback
            More side effects (e.g. ``latentspace.train.callbacks.TensorBoard(dir)``), after the
            run folder and progress bar that ``out`` and ``progress`` ask for.
        """
        return self._fit(data, None, steps=steps, batch_size=batch_size, seed=seed, out=out, resume=resume,
                         overwrite=overwrite, log_every=log_every, sample_every=sample_every,
                         checkpoint_every=checkpoint_every, progress=progress, device=device,
                         lr_schedule=lr_schedule, time=time, callbacks=callbacks)

    def _fit(self, data, data_b, *, steps, batch_size, seed, out, resume, overwrite, log_every, sample_every,
             checkpoint_every, progress, device, lr_schedule, time, callbacks):
        if not isinstance(data, Dataset):
            raise UserError(f"fit expects a latentspace Dataset, got {type(data).__name__}; wrap an array with "
                            "ls.data.from_array(x, y=None), or load files with ls.data.load(path)")
        if len(data) < 2:
            raise UserError(f"{data.name} has {len(data)} training item(s); a model learns from a collection: "
                            "give a folder of several files (or more items)")
        self.sized_for_ = self._sized_for(device, out if resume else None)
        settings = self.train_settings(data, out=out, resume=resume, steps=steps, batch_size=batch_size, seed=seed,
                                       log_every=log_every, sample_every=sample_every,
                                       checkpoint_every=checkpoint_every, lr_schedule=lr_schedule, time=time)
        cfg = TrainConfig(**settings, out=None if out is None else str(out), resume=resume, overwrite=overwrite,
                          progress=progress, device=device)
        self._check_data(data)
        self._resolve(data)
        return train(self, data, cfg, [*default_callbacks(cfg), *callbacks], data_b=data_b)

    def train_settings(self, data: Dataset, *, out=None, resume: bool = False, **given) -> dict:
        """The training settings ``fit`` will use: each one given (not None), else on ``resume`` the run's
        own (its ``config.json``), else the default. Counts out of range are refused here.

        A ``fit`` of its own that needs a setting before training (e.g. the seed) asks this first.
        """
        settings = {k: given.get(k) for k in runfolder.RESUMED}
        check_counts(settings)
        check_time(settings["time"])
        if resume and out is not None:  # what is not given again is the run's own
            settings = runfolder.resume_settings(out, settings)
        # A time budget without a step count: the budget ends the run.
        steps = UNBOUNDED_STEPS if settings["time"] is not None else self._default_steps(data)
        defaults = {**TRAIN_DEFAULTS, "steps": steps, "batch_size": self._default_batch_size(data),
                    "lr_schedule": self._default_lr_schedule(data), "time": None}
        return {k: defaults[k] if v is None else v for k, v in settings.items()}

    @staticmethod
    def _sized_for(device, resumed_run=None) -> str:
        """What the defaults are sized for: a resumed run's own sizing (its ``config.json``), else "cpu"
        when training on the CPU and "gpu" otherwise."""
        if resumed_run is not None:
            config = Path(resumed_run) / runfolder.CONFIG
            resolved = (runfolder.read_config(resumed_run).get("resolved") or {}) if config.is_file() else {}
            return resolved.get("sized_for", "gpu") if isinstance(resolved, dict) else "gpu"
        from latentspace.train.engine import pick_device

        return "cpu" if pick_device(device).type == "cpu" else "gpu"

    def resolved_params(self) -> dict:
        return {"sized_for": self.sized_for_}

    def sizing_note(self, cfg) -> str | None:
        """A line saying which defaults were sized for the CPU (``sized_recipe``), or None; a parameter the user
        set explicitly (not left at None or "auto") is left out."""
        cpu = self.sized_recipe(self.info_) if self.sized_for_ == "cpu" else {}
        params = self.get_params()
        cpu = {k: v for k, v in cpu.items() if k not in params or params[k] in (None, "auto")}
        if not cpu:
            return None
        said = ", ".join(f"{k.replace('_', ' ')} {v:,}" if isinstance(v, int) else f"{k.replace('_', ' ')} {v}"
                         for k, v in cpu.items())
        return (f"defaults sized for a CPU: {said}; on a GPU the {self.name} defaults are larger; --set, "
                "--batch-size, --steps or --time choose others")

    def sized_recipe(self, info) -> dict:
        """Defaults that replace the class's for data described by ``info`` on the machine ``sized_for_``
        (``steps``, ``batch_size``, ``lr_schedule`` and a family's own); override. Default: none."""
        return {}

    def _default_batch_size(self, data: Dataset) -> int:
        """The batch size when ``fit`` is not given one (override to depend on the data or the device)."""
        return self.sized_recipe(data.info).get("batch_size", self.default_batch_size)

    def _default_lr_schedule(self, data: Dataset) -> str:
        """The learning-rate schedule when ``fit`` is not given one (override to depend on the data)."""
        return self.sized_recipe(data.info).get("lr_schedule", self.default_lr_schedule)

    def _default_steps(self, data: Dataset) -> int:
        """Training steps when ``fit`` is not given any (override to depend on the data)."""
        return self.sized_recipe(data.info).get("steps", self.default_steps)

    def _check_data(self, data: Dataset) -> None:
        """Refuse data the model cannot use (override, e.g. conditional models need labels)."""

    def _resolve(self, data: Dataset) -> None:
        """Settle defaults that depend on the data's values (override; the result ends in ``_``)."""

    def _noise(self, n: int, seed: int | None, dim: int) -> torch.Tensor:
        """Standard normal noise drawn on the CPU from ``seed`` (device-independent), then moved."""
        g = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        return torch.randn(n, dim, generator=g).to(self.device_)

    @torch.no_grad()
    def _batched(self, fn, *tensors, batch: int = 1024) -> torch.Tensor:
        n = len(tensors[0])
        outs = [fn(*(t[i:i + batch] for t in tensors)) for i in range(0, n, batch)]
        return torch.cat(outs) if outs else torch.empty(0)

    def _to_data(self, x_model: torch.Tensor) -> torch.Tensor:
        return self.info_.to_data(x_model.float().cpu().contiguous())

    # -- persistence -------------------------------------------------------------------
    def checkpoint_extras(self) -> dict:
        """What a saved model holds beyond the networks and their EMA copies (a checkpoint keeps these
        already), so that :func:`from_checkpoint` can rebuild the model from a checkpoint alone."""
        tensors, extra = self._get_state()
        return {"tensors": {k: v for k, v in tensors.items() if k not in ("nets", "ema")}, "extra": extra}

    def _get_state(self):
        tensors = {"nets": {k: v.state_dict() for k, v in self.nets_.items()},
                   "ema": {k: v.state_dict() for k, v in self.ema_.items()}}
        return tensors, {"sized_for": self.sized_for_}

    def _set_state(self, tensors, extra):
        self.sized_for_ = extra.get("sized_for", "gpu")
        self.build(self.info_, "cpu")
        for k, net in self.nets_.items():
            net.load_state_dict(tensors["nets"][k])
        for k, net in self.ema_.items():
            net.load_state_dict(tensors["ema"][k])
        self.set_train(False)


def from_checkpoint(state: dict, where="the checkpoint") -> NeuralModel:
    """The model a training checkpoint holds (its networks at the checkpoint's step), ready to sample.

    What training does after its last step (``end_training``: calibration such as a GAN's rejection
    bound or a VAE's active units) has not happened; everything that needs the networks alone works.
    """
    params = dict(state["params"])
    own = [k for k, v in params.items() if isinstance(v, dict) and USER_NETWORK in v]
    if own:
        raise UserError(f"{where} was trained with networks of your own ({', '.join(own)}), which it does not "
                        "hold: finish the run with fit(..., resume=True) and load its model")
    saved = state.get("saved") or {"tensors": {}, "extra": {}}
    model = create(state["model"], **params)
    model.info_ = DataInfo.from_json(state["data_info"])
    try:
        model._set_state({"nets": state["nets"], "ema": state["ema"], **saved["tensors"]}, saved["extra"])
    except (KeyError, RuntimeError) as e:
        raise UserError(f"{where} does not hold all of the model ({str(e).splitlines()[0]}); it was written by an "
                        "older latentspace: finish the run with --resume to get its model") from None
    return model
