"""The side effects of training, handed to the engine: the run folder, the progress bar, TensorBoard.

The engine (:mod:`latentspace.train.engine`) runs the step loop and nothing else; whatever a run
leaves behind is a :class:`Callback`:

- :class:`RunFolder`: ``config.json``, ``metrics.csv``, sample snapshots, atomic checkpoints,
  the final model (rank 0 writes; every rank reads the checkpoint to resume). Before it writes
  anything it checks the disk space, and it clears the old run only then when overwriting.
  Classical models, fitted in one go, use the same folder through :meth:`RunFolder.fitted`.
- :class:`ProgressBar`: a tqdm bar with the latest losses.
- :class:`TensorBoard`: the logged losses as TensorBoard scalars (needs the ``tensorboard`` package).

A callback sees the run through these hooks, all optional::

    setup(env)                                # first, with the process's rank (refuse bad input here;
                                              # write nothing yet: the model is not built)
    resume_state()                            # the checkpoint to resume from, if it keeps one
    on_start(model, data, cfg, start, world)  # before the first step (start > 0 on resume)
    on_step(model, step)                      # after each step (``step`` steps done)
    on_log(step, seconds, means)              # every ``log_every`` steps: mean of each logged loss
    on_checkpoint(state, step)                # a checkpoint state was gathered (a collective)
    on_end(model, data)                       # after the last step and ``end_training``
    close()                                   # always, also after an error or an interrupt
"""

from __future__ import annotations

import math
import sys
import time
from datetime import datetime, timedelta

from dataclasses import asdict
from pathlib import Path

from latentspace.errors import UserError
from latentspace.plots import save_samples
from latentspace.storage import load_state, real_folder, save_state
from latentspace.train import run as runfolder


class Callback:
    """Base class: every hook does nothing."""

    #: whether the engine should gather checkpoint states for this callback
    wants_checkpoints = False

    def setup(self, env) -> None:
        """Called first, with the process's :class:`~latentspace.train.distributed.DistEnv`."""

    def resume_state(self) -> dict | None:
        """The checkpoint to resume from, if this callback keeps one."""
        return None

    def on_start(self, model, data, cfg, start: int, world: int) -> None:
        pass

    def on_step(self, model, step: int) -> None:
        pass

    def on_progress(self, model, step: int, fraction: float, last: bool) -> None:
        """After ``on_step``: the fraction of the run done (of its steps, or of its time budget, whichever
        is further) and whether this step is the run's last."""

    def on_log(self, step: int, seconds: float, means: dict) -> None:
        pass

    def on_checkpoint(self, state: dict, step: int) -> None:
        pass

    def on_end(self, model, data) -> None:
        pass

    def close(self) -> None:
        pass


class RunFolder(Callback):
    """The run folder ``out`` (layout: :mod:`latentspace.train.run`).

    Parameters
    ----------
    out : path
    resume, overwrite : bool
        Continue the run in ``out`` or replace it; checked by :meth:`prepare` before any work.
    sample_every : int
        Steps between sample snapshots (0: ten per run).
    """

    wants_checkpoints = True

    def __init__(self, out, *, resume: bool = False, overwrite: bool = False, sample_every: int = 0):
        self.out = Path(out)
        self.resume, self.overwrite = resume, overwrite
        self.writes = True  # rank 0 only under torchrun: other ranks read the folder (to resume), never write
        self.sample_every = sample_every
        self.log = None
        self.steps = None

    @property
    def checkpoint(self) -> Path:
        return self.out / runfolder.CHECKPOINT

    def setup(self, env):
        """Refuse, before any work, a folder that may not be used (rank 0); nothing is changed yet."""
        self.writes = env.is_main
        if self.writes:
            runfolder.prepare(self.out, resume=self.resume, overwrite=self.overwrite)

    def _begin(self, needed: int) -> None:
        """Before the first write: check the disk space, then clear the old run (overwrite) and the
        temporary files an interrupted write left."""
        runfolder.check_disk_space(self.out, needed, freed=runfolder.owned_bytes(self.out) if self.overwrite else 0)
        if self.overwrite:
            runfolder.clear(self.out)
        runfolder.remove_stale_temporaries(self.out)

    def resume_state(self):
        if not self.resume:
            return None
        state = load_state(self.checkpoint, root=self.out)
        if "elapsed" not in state:  # a checkpoint from before the clock was kept in it: metrics.csv's
            state["elapsed"] = runfolder.MetricsLog(self.out / runfolder.METRICS, int(state["step"])).elapsed
        return state

    def on_start(self, model, data, cfg, start, world):
        self.steps = cfg.steps
        # Under a time budget without --sample-every: a picture at each tenth of the budget.
        self.by_time = cfg.time is not None and not self.sample_every
        self.every = self.sample_every or max(1, cfg.steps // 10)
        self.next_tenth = None
        if self.writes:
            weights = sum(t.numel() * t.element_size() for nets in (model.nets_, model.ema_)
                          for t in nets.state_dict().values())
            snapshots = 11 if self.by_time else (cfg.steps // self.every - start // self.every) + 1
            self._begin(runfolder.bytes_needed(weights, snapshots, resume=self.resume))
            runfolder.write_config(self.out, model, data, asdict(cfg), world_size=world)
            self.log = runfolder.MetricsLog(self.out / runfolder.METRICS,
                                            keep_until_step=start if self.resume else None)

    def on_log(self, step, seconds, means):
        if self.log is not None:
            self.log.append({"step": step, "time": round(seconds, 3), **{k: f"{v:.6g}" for k, v in means.items()}})

    def on_progress(self, model, step, fraction, last):
        if not self.writes:
            return
        if self.by_time:
            if self.next_tenth is None:   # the first step of this process (a resumed run: past tenths are done)
                self.next_tenth = math.floor(fraction * 10) + 1
            due = fraction * 10 >= self.next_tenth
            if due:
                self.next_tenth = math.floor(fraction * 10) + 1
        else:
            due = step % self.every == 0
        if due or last:
            self.snapshot(model, step)

    def snapshot(self, model, step: int) -> None:
        """Samples of the model now (fixed noise: pictures of one run are comparable), training mode kept."""
        was_training = {k: n.training for k, n in model.nets_.items()}
        x = model.sample(64, seed=runfolder.SNAPSHOT_SEED)
        save_samples(x, model.info_, real_folder(self.out / "samples") / f"step-{step:06d}.png", title=f"step {step}")
        for k, n in model.nets_.items():
            n.train(was_training[k])

    def on_checkpoint(self, state, step):
        if self.writes:
            real_folder(self.checkpoint.parent)
            save_state(self.checkpoint, state)

    def on_end(self, model, data):
        if self.writes:
            model.save(self.out / "model")

    def fitted(self, model, data, settings: dict) -> None:
        """Write the folder of a model fitted in one go: config, the model and a picture of samples."""
        if self.overwrite:
            runfolder.clear(self.out)
        runfolder.write_config(self.out, model, data, settings)
        model.save(self.out / "model")
        save_samples(model.sample(64, seed=runfolder.SNAPSHOT_SEED), model.info_,
                     real_folder(self.out / "samples") / "fitted.png", title=model.name)


class ProgressBar(Callback):
    """A tqdm progress bar over the run's steps, showing the latest mean losses (rank 0 only)."""

    def __init__(self, description: str = ""):
        self.description = description
        self.bar = None
        self.shown = True
        self.losses = {}

    def setup(self, env):
        self.shown = env.is_main

    def on_start(self, model, data, cfg, start, world):
        from tqdm.auto import tqdm

        self.by_time = cfg.time is not None
        desc = self.description or f"{model.name} on {data.name}"
        if self.by_time:   # a bar over the budget's seconds: tqdm shows the time spent and left
            self.bar = tqdm(total=round(cfg.time), unit="s", desc=desc, dynamic_ncols=True, mininterval=0.5,
                            disable=not self.shown, bar_format="{l_bar}{bar}| {n:.0f}/{total} s, {remaining} left"
                                                               "{postfix}")
        else:
            self.bar = tqdm(total=cfg.steps, initial=start, desc=desc, dynamic_ncols=True, mininterval=0.5,
                            disable=not self.shown)
        self.total = cfg.time

    def on_step(self, model, step):
        if not self.by_time:
            self.bar.update(1)

    def on_progress(self, model, step, fraction, last):
        if self.by_time:
            self.bar.n = min(self.bar.total, fraction * self.total)
            self.bar.set_postfix({"step": step, **self.losses}, refresh=False)
            if last:
                self.bar.refresh()
            else:
                self.bar.update(0)   # redraws at most every mininterval

    def on_log(self, step, seconds, means):
        self.losses = {k: f"{v:.3g}" for k, v in list(means.items())[:4]}
        self.bar.set_postfix(self.losses, refresh=False)

    def close(self):
        if self.bar is not None:
            self.bar.close()


class TimeEstimate(Callback):
    """Says once, after the first steps, how long the run will take at the speed measured, and how to
    train for a fixed time instead when that is long (rank 0; runs with a time budget need no estimate)."""

    #: the estimate is made after this many seconds or steps, whichever comes later
    AFTER_SECONDS, AFTER_STEPS = 10.0, 5
    #: runs expected to take longer than this are told about --time
    LONG_SECONDS = 1800.0

    def __init__(self, say=None):
        self.say = say or (lambda line: print(line, file=sys.stderr))
        self.shown = True
        self.t_first = None

    def setup(self, env):
        self.shown = env.is_main

    def on_start(self, model, data, cfg, start, world):
        self.steps, self.start, self.done = cfg.steps, start, cfg.time is not None or not self.shown

    def on_step(self, model, step):
        if self.done:
            return
        now = time.perf_counter()
        if self.t_first is None:   # from the end of the first step: it pays for allocations and warm-up
            self.t_first, self.first = now, step
            return
        seconds, steps = now - self.t_first, step - self.first
        if seconds < self.AFTER_SECONDS or steps < self.AFTER_STEPS:
            return
        self.done = True
        rate = steps / seconds
        left = (self.steps - step) / rate
        line = (f"at {rate:.3g} steps/s, the {self.steps - step:,} steps left take about {format_duration(left)}"
                f" (ends around {datetime.now() + timedelta(seconds=left):%H:%M})")
        if left > self.LONG_SECONDS:
            line += ("; to train for a fixed time instead, stop and start again with --time (e.g. --time 10m), "
                     "or give fewer --steps")
        self.say(line)


def format_duration(seconds: float) -> str:
    """``"45 s"``, ``"12 min"``, ``"7 h 40 min"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class TensorBoard(Callback):
    """Every logged loss as a TensorBoard scalar in ``log_dir`` (``pip install tensorboard``).

    The package is looked for when the callback is made, before any work; the log folder is
    created when training starts.
    """

    def __init__(self, log_dir):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError("TensorBoard logging needs the tensorboard package: pip install tensorboard") from None
        self.log_dir, self._writer_class, self.writer = Path(log_dir), SummaryWriter, None

    def on_start(self, model, data, cfg, start, world):
        self.writer = self._writer_class(str(real_folder(self.log_dir)))

    def on_log(self, step, seconds, means):
        for key, value in means.items():
            self.writer.add_scalar(key, value, step)

    def close(self):
        if self.writer is not None:
            self.writer.close()


def default_callbacks(cfg) -> list[Callback]:
    """The callbacks a :class:`~latentspace.train.engine.TrainConfig` asks for: the run folder
    (``cfg.out``) and the progress bar (``cfg.progress``)."""
    out: list[Callback] = []
    if cfg.out is not None:
        out.append(RunFolder(cfg.out, resume=cfg.resume, overwrite=cfg.overwrite, sample_every=cfg.sample_every))
    if cfg.progress:
        out.append(ProgressBar())
    return out
