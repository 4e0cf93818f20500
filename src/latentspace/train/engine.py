"""The training engine: one readable loop for every neural model.

It owns everything that is not the model's own loss: device choice, seeding, batches by
index, the step loop with a progress bar, ``metrics.csv``, sample snapshots, EMA weights,
atomic checkpoints (every N steps and on Ctrl-C), exact resume, a NaN/inf guard, and
DistributedDataParallel under ``torchrun``. Models never write files themselves; they
provide ``build``, ``configure_optimizers`` and ``train_step(batch, step) -> dict``.

Exact resume: a checkpoint holds the networks, their EMA copies, the optimisers, every
rank's RNG states and the step. Batches are a pure function of (seed, step), so a run
stopped at step k and resumed ends with the same weights as one that never stopped.
"""

from __future__ import annotations

import math
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from latentspace import __version__
from latentspace.errors import TrainingDiverged, UserError
from latentspace.storage import load_state, save_state
from latentspace.train import run as runfolder
from latentspace.train.batches import IndexBatches
from latentspace.train.distributed import DistEnv, any_rank, barrier, gather_tensor, init_distributed


LR_SCHEDULES = ("constant", "linear", "cosine")


def lr_factor(schedule: str, step: int, steps: int) -> float:
    """Multiplier of the initial learning rate at ``step`` (0-based) of ``steps``."""
    t = step / steps
    if schedule == "linear":
        return 1.0 - t
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    return 1.0


def _set_lr(optimizers: dict, factor: float) -> None:
    for opt in optimizers.values():
        for group in opt.param_groups:
            group.setdefault("initial_lr", group["lr"])
            group["lr"] = group["initial_lr"] * factor


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

    def __post_init__(self):
        if self.lr_schedule not in LR_SCHEDULES:
            raise UserError(f"unknown lr_schedule {self.lr_schedule!r}; use one of {', '.join(LR_SCHEDULES)}")
        for name in ("steps", "batch_size", "log_every", "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise UserError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.sample_every < 0:
            raise UserError(f"sample_every must be >= 0, got {self.sample_every}")


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


class _InterruptFlag:
    """Turn the first Ctrl-C into a flag checked between steps (so a checkpoint is consistent)."""

    def __init__(self):
        self.raised = False
        self._old = None

    def __enter__(self):
        try:
            self._old = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not in the main thread: leave signals alone
            self._old = None
        return self

    def _handle(self, signum, frame):
        if self.raised:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.raised = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


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
        "params": model.get_params(),
        "data_info": model.info_.to_json(),
        "step": step,
        "train": asdict(cfg),
        "nets": {k: v.state_dict() for k, v in model.nets_.items()},
        "ema": {k: v.state_dict() for k, v in model.ema_.items()},
        "optim": {k: o.state_dict() for k, o in optimizers.items()},
        "rng": _rng_state(env, device),
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


def _snapshot(model, out: Path, step: int) -> None:
    from latentspace.plots import save_samples

    was_training = {k: n.training for k, n in model.nets_.items()}
    x = model.sample(64, seed=runfolder.SNAPSHOT_SEED)
    save_samples(x, model.info_, out / "samples" / f"step-{step:06d}.png", title=f"step {step}")
    for k, n in model.nets_.items():
        n.train(was_training[k])


def train(model, data, cfg: TrainConfig):
    """Train a neural ``model`` on ``data`` (a :class:`~latentspace.data.Dataset`); returns the model.

    With ``cfg.out`` set, rank 0 keeps a run folder; without it nothing is written.
    """
    env = init_distributed(cfg.device)
    device = pick_device(cfg.device, env)
    out = Path(cfg.out) if cfg.out else None
    if out is not None and env.is_main:
        runfolder.prepare(out, resume=cfg.resume, overwrite=cfg.overwrite)
    state = None
    if cfg.resume:
        if out is None:
            raise UserError("resume needs the run folder: give out=... (--out)")
        state = load_state(out / runfolder.CHECKPOINT)

    # Same seed on every rank for identical initial weights; per-rank noise afterwards.
    torch.manual_seed(cfg.seed)
    model.build(data.info, device)
    optimizers = model.configure_optimizers()
    torch.manual_seed(cfg.seed + 7919 * env.rank)
    start = _restore(model, optimizers, state, env, device) if state is not None else 0

    if env.enabled:
        model.train_nets_ = {k: DistributedDataParallel(n, device_ids=[device.index] if device.type == "cuda"
                                                        else None) for k, n in model.nets_.items()
                             if any(p.requires_grad for p in n.parameters())}
    x_all = data.x.to(device)
    if x_all.ndim == 4:  # images: channels_last is the faster conv layout on CPU and GPU
        x_all = x_all.contiguous(memory_format=torch.channels_last)
    y_all = data.y.to(device) if data.y is not None else None
    batches = IndexBatches(len(data), cfg.batch_size, cfg.seed, env.rank, env.world)

    log = None
    if out is not None and env.is_main:
        runfolder.write_config(out, model, data, asdict(cfg), world_size=env.world)
        log = runfolder.MetricsLog(out / runfolder.METRICS, keep_until_step=start if cfg.resume else None)
    sample_every = cfg.sample_every or max(1, cfg.steps // 10)

    from tqdm.auto import tqdm

    bar = tqdm(total=cfg.steps, initial=start, disable=not (cfg.progress and env.is_main),
               desc=f"{model.name} on {data.name}", dynamic_ncols=True, mininterval=0.5)
    t0 = time.perf_counter() - (log.elapsed if log is not None else 0.0)
    sums: dict[str, float] = {}
    count = 0
    last_good = start if cfg.resume else None
    step = start
    model.set_train(True)
    with _InterruptFlag() as interrupt:
        while step < cfg.steps:
            if cfg.lr_schedule != "constant":
                _set_lr(optimizers, lr_factor(cfg.lr_schedule, step, cfg.steps))
            idx = batches.indices(step).to(device)
            batch = {"x": x_all[idx], "y": y_all[idx] if y_all is not None else None,
                     "epoch": batches.epoch_of(step), "progress": step / cfg.steps}
            logs = model.train_step(batch, step)
            bad = [k for k, v in logs.items() if not math.isfinite(v)]
            diverged, stop = any_rank(env, [bool(bad), interrupt.raised], device)
            if diverged:
                bar.close()
                where = (f"the last good checkpoint (step {last_good}) is kept in {out / runfolder.CHECKPOINT}"
                         if last_good is not None and out is not None else "no checkpoint was written")
                raise TrainingDiverged(
                    f"loss {', '.join(bad) or '(on another rank)'} became NaN/inf at step {step + 1}; {where}. "
                    "Lower the learning rate (--set lr=...) or check the data for outliers")
            if model.ema_:
                _ema_update(model, step)
            step += 1
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            count += 1
            bar.update(1)
            if step % cfg.log_every == 0 or step == cfg.steps:
                means = {k: v / count for k, v in sums.items()}
                bar.set_postfix({k: f"{v:.3g}" for k, v in list(means.items())[:4]}, refresh=False)
                if log is not None:
                    log.append({"step": step, "time": round(time.perf_counter() - t0, 3),
                                **{k: f"{v:.6g}" for k, v in means.items()}})
                sums, count = {}, 0
            if out is not None and env.is_main and (step % sample_every == 0 or step == cfg.steps):
                _snapshot(model, out, step)
                model.set_train(True)
            if out is not None and (step % cfg.checkpoint_every == 0 or step == cfg.steps or stop):
                ckpt = _checkpoint_state(model, optimizers, step, cfg, env, device)  # a collective
                if env.is_main:
                    save_state(out / runfolder.CHECKPOINT, ckpt)
                last_good = step
            if stop:
                bar.close()
                barrier(env)
                raise KeyboardInterrupt(
                    f"interrupted at step {step}" + (f"; checkpoint saved in {out}, continue with --resume"
                                                     if out is not None else ""))
    bar.close()
    model.set_train(False)
    model.train_nets_ = None
    model.end_training(data)
    if out is not None and env.is_main:
        model.save(out / "model")
    barrier(env)
    return model
