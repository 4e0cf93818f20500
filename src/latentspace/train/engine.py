"""The training engine: one readable loop for every neural model.

It owns everything that is not the model's own loss: device choice, seeding, batches by
index (a :class:`Batch` per step), the step loop, the learning-rate schedule of every optimizer
the model declares, EMA weights, when to checkpoint (every N steps and on Ctrl-C), exact resume,
a NaN/inf guard, and DistributedDataParallel under ``torchrun`` (models get a
:class:`~latentspace.train.distributed.DistEnv` as ``model.dist_`` for their collectives). What a
run leaves behind — the run folder, the progress bar, TensorBoard — is done by the callbacks
handed in (:mod:`latentspace.train.callbacks`); the engine itself writes nothing. Models never
write files either; they provide ``build``, ``configure_optimizers`` and
``train_step(batch, step) -> dict``.

Exact resume: a checkpoint holds the networks, their EMA copies, the optimisers, every
rank's RNG states and the step. Batches are a pure function of (seed, step), so a run
stopped at step k and resumed ends with the same weights as one that never stopped; a resume
that would not be exact (another batch size, seed or schedule) is refused.

Stopping: the first Ctrl-C (SIGINT) or SIGTERM lets the step in flight finish, saves a checkpoint
and raises :class:`TrainingInterrupted` (exit code 130 or 143 on the command line); a second one
stops at once. SIGKILL cannot be caught: such a run loses the steps since its last checkpoint.
"""

from __future__ import annotations

import math
import numbers
import signal
import time
from dataclasses import asdict, dataclass

import torch
from torch.nn.parallel import DistributedDataParallel

from latentspace import __version__
from latentspace.errors import TrainingDiverged, UserError
from latentspace.train.batches import IndexBatches
from latentspace.train.distributed import (DistEnv, DistributedFailure, agree, barrier, gather_tensor,
                                           init_distributed, is_communication_error, lost_peer)


LR_SCHEDULES = ("constant", "linear", "cosine")


def lr_factor(schedule: str, step: int, steps: int) -> float:
    """Multiplier of the initial learning rate at ``step`` (0-based) of ``steps``."""
    t = step / steps
    if schedule == "linear":
        return 1.0 - t
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    return 1.0


def _set_lr(optimizers: dict, schedule: str, step: int, steps: int, windows: dict) -> None:
    """Set every optimizer's learning rate for ``step``: ``schedule`` runs within the optimizer's
    window of steps ``[start, end)`` (the whole run unless the model declares one)."""
    for name, opt in optimizers.items():
        start, end = windows.get(name, (0, steps))
        factor = lr_factor(schedule, min(max(step - start, 0), end - start), max(end - start, 1))
        for group in opt.param_groups:
            group.setdefault("initial_lr", group["lr"])
            group["lr"] = group["initial_lr"] * factor


@dataclass
class Batch:
    """What one training step gets: this rank's items and labels, and where the run stands.

    ``x_b`` is the batch of the second dataset for models trained on two (``two_domains``).
    """

    x: torch.Tensor
    y: torch.Tensor | None
    step: int
    steps: int
    epoch: int
    x_b: torch.Tensor | None = None

    @property
    def progress(self) -> float:
        """Fraction of the run done before this step, in [0, 1)."""
        return self.step / self.steps


@dataclass
class TrainConfig:
    """Flat training settings (the model's own hyper-parameters live in the model)."""

    steps: int = 2000
    batch_size: int = 256
    seed: int = 0
    log_every: int = 100
    sample_every: int = 0          # 0: ten snapshots per run
    checkpoint_every: int = 1000
    out: str | None = None
    resume: bool = False
    overwrite: bool = False
    progress: bool = True
    device: str | None = None
    lr_schedule: str = "constant"  # constant | linear (to 0 at the last step) | cosine
    time: float | None = None      # seconds: training stops there, and the run's progress is the time spent

    def __post_init__(self):
        if self.lr_schedule not in LR_SCHEDULES:
            raise UserError(f"unknown lr_schedule {self.lr_schedule!r}; use one of {', '.join(LR_SCHEDULES)}")
        check_counts({k: getattr(self, k) for k in COUNTS})
        check_time(self.time)


#: steps of a run with a time budget and no step count: the budget ends it
UNBOUNDED_STEPS = 10 ** 9


def check_time(seconds) -> None:
    """Refuse a time budget that is not a positive number of seconds (None: no budget)."""
    if seconds is None:
        return
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real) or not math.isfinite(seconds) \
            or seconds <= 0:
        raise UserError(f"time must be a positive number of seconds, got {seconds!r}; leave it out to train "
                        "for a number of steps")


def planned_steps(cfg: TrainConfig, step: int, elapsed: float) -> int:
    """The run's length as known before ``step``: ``cfg.steps``, or under a time budget the steps the
    budget allows at the speed so far (at most ``cfg.steps``), so that ``step / planned`` is the
    fraction of the budget spent and schedules, warm-ups and annealing follow the clock."""
    if cfg.time is None or step == 0 or elapsed <= 0:
        return cfg.steps
    return int(min(cfg.steps, max(step + 1, math.ceil(step * cfg.time / elapsed))))


#: training settings that count something, and the least value each may take
COUNTS = {"steps": 1, "batch_size": 1, "log_every": 1, "checkpoint_every": 1, "sample_every": 0, "seed": None}


def check_counts(settings: dict, flag=lambda name: name) -> None:
    """Refuse a count that is not an integer or is below its least value (``COUNTS``); None is "not given".

    ``flag(name)`` names the setting in the message (e.g. ``--batch-size`` on the command line).
    """
    for name, value in settings.items():
        if value is None or name not in COUNTS:
            continue
        least = COUNTS[name]
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise UserError(f"{flag(name)} must be an integer, got {value!r}")
        if least is not None and value < least:
            what = "a positive integer" if least == 1 else f"at least {least}"
            raise UserError(f"{flag(name)} must be {what}, got {value}; leave it out for the default")


def pick_device(requested: str | None = None, env: DistEnv | None = None) -> torch.device:
    """``requested`` if given, else CUDA (this rank's GPU) when available, else CPU."""
    if requested:
        try:
            device = torch.device(requested)
        except RuntimeError as e:
            raise UserError(f"unknown device {requested!r} ({e}); use cpu, cuda or cuda:N") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise UserError(f"device {requested!r} asked for, but CUDA is not available; use --device cpu")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda", env.local_rank if env else 0)
    return torch.device("cpu")


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by SIGINT (Ctrl-C) or SIGTERM after saving a checkpoint.

    ``exit_code`` is the shell's convention for the signal: 130 for SIGINT, 143 for SIGTERM.
    """

    def __init__(self, message: str = "", signum: int = signal.SIGINT):
        super().__init__(message)
        self.signum = int(signum)
        self.exit_code = 128 + self.signum


#: the signals that stop a run cleanly: the step in flight finishes and a checkpoint is saved
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _InterruptFlag:
    """Turn the first SIGINT or SIGTERM into a flag checked between steps (so a checkpoint is consistent)."""

    def __init__(self):
        self.raised = False
        self.signum = signal.SIGINT
        self._old = {}

    def __enter__(self):
        for sig in STOP_SIGNALS:
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread: leave signals alone
                break
        return self

    def _handle(self, signum, frame):
        if self.raised:  # a second signal stops at once
            raise TrainingInterrupted(f"{signal.Signals(signum).name} twice: stopped at once, without a checkpoint "
                                      "of the step in flight; --resume continues from the last one", signum)
        self.raised, self.signum = True, signum

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _rng_state(env: DistEnv, device: torch.device) -> dict:
    state = {"cpu": gather_tensor(env, torch.get_rng_state(), device)}
    if device.type == "cuda":
        state["cuda"] = gather_tensor(env, torch.cuda.get_rng_state(device), device)
    return state


def _set_rng_state(state: dict, env: DistEnv, device: torch.device) -> None:
    cpu = state["cpu"]
    if len(cpu) != env.world:
        raise UserError(f"the checkpoint was written by {len(cpu)} process(es); resume it with the same number")
    torch.set_rng_state(cpu[env.rank])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"][env.rank], device)


def _checkpoint_state(model, optimizers, step: int, cfg: TrainConfig, env, device) -> dict:
    return {
        "format": "latentspace-checkpoint-1",
        "version": __version__,
        "model": model.name,
        "params": model.json_params(),
        "data_info": model.info_.to_json(),
        "step": step,
        "train": asdict(cfg),
        "nets": {k: v.state_dict() for k, v in model.nets_.items()},
        "ema": {k: v.state_dict() for k, v in model.ema_.items()},
        "optim": {k: o.state_dict() for k, o in optimizers.items()},
        "rng": _rng_state(env, device),
        "saved": model.checkpoint_extras(),  # what a saved model holds beyond the networks (load_run)
    }


def _restore(model, optimizers, state: dict, env, device) -> int:
    if state.get("model") != model.name:
        raise UserError(f"the checkpoint is of model {state.get('model')!r}, not {model.name!r}; "
                        f"train {state.get('model')!r} to resume it, or use another --out")
    if tuple(state["data_info"]["shape"]) != tuple(model.info_.shape):
        raise UserError(f"the checkpoint was trained on items of shape {tuple(state['data_info']['shape'])}, "
                        f"not {tuple(model.info_.shape)}; resume it with the same data")
    try:
        for k, net in model.nets_.items():
            net.load_state_dict(state["nets"][k])
        for k, net in model.ema_.items():
            net.load_state_dict(state["ema"][k])
    except (KeyError, RuntimeError) as e:
        raise UserError(f"the checkpoint does not fit this model's networks ({str(e).splitlines()[0]}); "
                        "resume with the parameters it was trained with") from None
    for k, opt in optimizers.items():
        opt.load_state_dict(state["optim"][k])
    _set_rng_state(state["rng"], env, device)
    return int(state["step"])


#: settings that must equal the run's for a resume to be exact, and how to give them
EXACT_ON_RESUME = {"batch_size": "batch size", "seed": "seed", "lr_schedule": "learning-rate schedule"}


def check_resume(cfg: TrainConfig, state: dict) -> None:
    """Refuse settings that would make a resume inexact: another batch size, seed or schedule than
    the checkpoint's, or fewer steps than it has done."""
    before = state.get("train") or {}
    for key, what in EXACT_ON_RESUME.items():
        if key in before and before[key] != getattr(cfg, key):
            raise UserError(f"the run was trained with {what} {before[key]!r}, not {getattr(cfg, key)!r}; "
                            f"resume it with the same {what} (leave it out to use the run's) or start a new run")
    done = int(state["step"])
    spent = float(state.get("elapsed", 0.0))
    if cfg.time is not None and spent >= cfg.time:
        raise UserError(f"the run has trained for {spent:.0f} s, its whole time budget of {cfg.time:.0f} s; give "
                        "a larger --time (time=) to continue it")
    if cfg.steps < done:
        raise UserError(f"the run's checkpoint is at step {done}, past the {cfg.steps} steps asked for; give at "
                        f"least {done} steps (leave them out to finish the run as planned)")


def _ema_update(model, step: int) -> None:
    """Exponential moving average of weights, with the usual warm-up of the decay."""
    decay = min(model.ema_decay, (1 + step) / (10 + step))
    with torch.no_grad():
        for name, ema in model.ema_.items():
            src = model.nets_[name]
            for p_ema, p in zip(ema.parameters(), src.parameters()):
                p_ema.lerp_(p, 1.0 - decay)
            for b_ema, b in zip(ema.buffers(), src.buffers()):
                b_ema.copy_(b)


#: offset separating the seed of a second dataset's batches from the first's
SECOND_STREAM = 7_777_777


class _Items:
    """A batch of items by index, on ``device``, images in the channels_last layout (the faster conv
    layout on CPU and GPU). Each batch is converted as it is drawn rather than the whole set at once:
    the items are held once, not twice."""

    def __init__(self, x: torch.Tensor, device: torch.device):
        self.x, self.device = x, device

    def __getitem__(self, idx: torch.Tensor) -> torch.Tensor:
        xb = self.x[idx.to(self.x.device)].to(self.device)
        return xb.contiguous(memory_format=torch.channels_last) if xb.ndim == 4 else xb


def _batches(data, cfg, env, device, seed: int):
    """The items (on ``device``; memory-mapped ones, ``data.storage == "mapped"``, stay where they are
    and are read a batch at a time) and their :class:`IndexBatches`."""
    x = data.x if data.storage == "mapped" else data.x.to(device)
    y = data.y.to(device) if data.y is not None else None
    return _Items(x, device), y, IndexBatches(len(data), cfg.batch_size, seed, env.rank, env.world)


def train(model, data, cfg: TrainConfig, callbacks=(), data_b=None):
    """Train a neural ``model`` on ``data`` (a :class:`~latentspace.data.Dataset`); returns the model.

    Parameters
    ----------
    model : NeuralModel
    data : Dataset
    cfg : TrainConfig
    callbacks : sequence of Callback
        The run's side effects (:func:`latentspace.train.callbacks.default_callbacks` gives the
        run folder and progress bar that ``cfg`` asks for); with none, nothing is written.
    data_b : Dataset, optional
        A second dataset (``two_domains`` models): each step's :class:`Batch` carries ``x_b``,
        drawn by an independent index stream.
    """
    env = init_distributed(cfg.device)
    device = pick_device(cfg.device, env)
    callbacks = list(callbacks)
    for cb in callbacks:
        cb.setup(env)
    state = None
    if cfg.resume:
        state = next((s for s in (cb.resume_state() for cb in callbacks) if s is not None), None)
        if state is None:
            raise UserError("resume needs the run folder: give out=... (--out)")

    # Same seed on every rank for identical initial weights; per-rank noise afterwards.
    torch.manual_seed(cfg.seed)
    model.build(data.info, device)
    model.dist_ = env
    optimizers = model.configure_optimizers()
    torch.manual_seed(cfg.seed + 7919 * env.rank)
    if state is not None:
        check_resume(cfg, state)
    start = _restore(model, optimizers, state, env, device) if state is not None else 0

    if env.enabled:
        model.train_nets_ = {k: DistributedDataParallel(n, device_ids=[device.index] if device.type == "cuda"
                                                        else None) for k, n in model.nets_.items()
                             if any(p.requires_grad for p in n.parameters())}
    x_all, y_all, batches = _batches(data, cfg, env, device, cfg.seed)
    if data_b is not None:
        x_b, _, batches_b = _batches(data_b, cfg, env, device, cfg.seed + SECOND_STREAM)
    checkpoints = any(cb.wants_checkpoints for cb in callbacks)
    t0 = time.perf_counter() - float((state or {}).get("elapsed", 0.0))
    elapsed = float((state or {}).get("elapsed", 0.0))   # agreed by all ranks: the slowest one's
    sums: dict[str, float] = {}
    count = 0
    last_good = start if cfg.resume else None
    step = start
    try:
        for cb in callbacks:
            cb.on_start(model, data, cfg, start, env.world)
        model.set_train(True)
        with _InterruptFlag() as interrupt:
            out_of_time = cfg.time is not None and elapsed >= cfg.time
            while step < cfg.steps and not out_of_time:
                plan = planned_steps(cfg, step, elapsed)
                if cfg.lr_schedule != "constant":
                    _set_lr(optimizers, cfg.lr_schedule, step, plan, model.lr_windows(plan))
                idx = batches.indices(step).to(device)
                batch = Batch(x_all[idx], y_all[idx] if y_all is not None else None, step, plan,
                              batches.epoch_of(step))
                if data_b is not None:
                    batch.x_b = x_b[batches_b.indices(step).to(device)]
                logs = model.train_step(batch, step)
                bad = [k for k, v in logs.items() if not math.isfinite(v)]
                diverged, stop, elapsed = agree(env, [bool(bad), interrupt.raised, time.perf_counter() - t0], device)
                diverged, stop = diverged > 0, stop > 0
                out_of_time = cfg.time is not None and elapsed >= cfg.time
                if diverged:
                    where = (f"the last good checkpoint (step {last_good}) is kept in the run folder"
                             if last_good is not None and checkpoints else "no checkpoint was written")
                    raise TrainingDiverged(
                        f"loss {', '.join(bad) or '(on another rank)'} became NaN/inf at step {step + 1}; {where}. "
                        "Lower the learning rate (--set lr=...) or check the data for outliers")
                if model.ema_:
                    _ema_update(model, step)
                step += 1
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + v
                count += 1
                last = step == cfg.steps or out_of_time
                if step % cfg.log_every == 0 or last:
                    means = {k: v / count for k, v in sums.items()}
                    for cb in callbacks:
                        cb.on_log(step, time.perf_counter() - t0, means)
                    sums, count = {}, 0
                fraction = min(1.0, max(step / cfg.steps, elapsed / cfg.time if cfg.time else 0.0))
                for cb in callbacks:
                    cb.on_step(model, step)
                    cb.on_progress(model, step, fraction, last)
                if checkpoints and (step % cfg.checkpoint_every == 0 or last or stop):
                    ckpt = _checkpoint_state(model, optimizers, step, cfg, env, device)  # a collective
                    ckpt["elapsed"] = elapsed
                    for cb in callbacks:
                        cb.on_checkpoint(ckpt, step)
                    last_good = step
                if stop:
                    barrier(env)
                    name = "interrupted" if interrupt.signum == signal.SIGINT else "terminated"
                    raise TrainingInterrupted(f"{name} at step {step}" + (
                        "; checkpoint saved in the run folder, continue with --resume" if checkpoints else ""),
                        interrupt.signum)
        model.set_train(False)
        model.train_nets_ = None
        model.end_training(data)
        for cb in callbacks:
            cb.on_end(model, data)
        barrier(env)
    except RuntimeError as e:  # a collective failed: another process died or stopped answering
        if not env.enabled or isinstance(e, (DistributedFailure, TrainingDiverged)) or not is_communication_error(e):
            raise
        model.train_nets_ = None  # the DDP wrappers hold the broken process group: let both go now
        raise lost_peer(env, last_good if checkpoints else None) from e
    finally:
        for cb in callbacks:
            cb.close()
    return model
