"""Run folders: from a folder on disk to the model, its configuration and its data.

A run folder is what ``latentspace train`` writes (``config.json``, ``model/``, ``metrics.csv``,
``checkpoints/``, and later ``metrics.json`` and ``report.html``); a bare model folder (what
``model.save`` writes) is accepted wherever a run is, with an empty configuration. Every command
that starts from a run (``evaluate``, ``plot``, ``sample``, ``report``, ``compare``) and the report
go through this module, so a run is read one way only::

    model, config = load_run("runs/first-gan")
    data = run_data("runs/first-gan", config)
    check_shapes(model, data, "evaluate on the data it was trained on")

Importing this module is light (no torch): the models and data are loaded on first use.
"""

from __future__ import annotations

from pathlib import Path

from latentspace.errors import UserError

#: file name of a run's evaluation results, written by ``latentspace evaluate``
RESULTS = "metrics.json"

#: what a run that does not name its data is told by default
DATA_HINT = " (it was made from data built in Python); pass the dataset it was trained on"


def load_run(path, *, quiet: bool = False) -> tuple:
    """``(model, config)`` of a run folder, or of a bare model folder (then ``config`` is ``{}``).

    A run that did not finish (a checkpoint but no ``model/``: stopped, killed, or diverged) gives the
    model of its latest checkpoint; ``config["note"]`` then says so and which step it is, and the note
    is printed on stderr unless ``quiet``.

    Raises
    ------
    UserError
        When ``path`` does not exist, or holds neither a saved model nor a checkpoint.
    """
    from latentspace.models import load
    from latentspace.train import run as runfolder

    path = Path(path)
    if not path.exists():
        raise UserError(f"no such model or run folder: {path}; check the path (see `latentspace train --out`)")
    config = read_config(path)
    name = config.get("model", "MODEL")
    if path.is_dir() and (path / runfolder.CHECKPOINT).is_file() and _unfinished(path):
        return _load_checkpoint(path, config, name, quiet)
    if is_run(path) and not (path / "model").exists():
        raise UserError(f"{path} holds no saved model (model/) and no checkpoint ({runfolder.CHECKPOINT}): its "
                        f"training stopped before the first checkpoint; train it again with `latentspace train "
                        f"{name} --out {path} --overwrite`")
    return load(path), config


def _unfinished(path: Path) -> bool:
    """Whether the run's latest checkpoint is newer than its saved model (or it has none): a run that
    finishes saves its model after its last checkpoint, so a newer checkpoint is from a resumed run
    that was stopped again."""
    from latentspace.train import run as runfolder

    weights = path / "model" / "weights.safetensors"
    if not (path / "model").exists():
        return True
    # a model folder without its weights is broken, not unfinished: loading it says so
    return weights.is_file() and (path / runfolder.CHECKPOINT).stat().st_mtime_ns > weights.stat().st_mtime_ns


def _load_checkpoint(path: Path, config: dict, name: str, quiet: bool) -> tuple:
    """The model of an unfinished run's latest checkpoint, and its config with a ``note`` saying so."""
    import sys

    from latentspace.models.neural import from_checkpoint
    from latentspace.storage import load_state
    from latentspace.train import run as runfolder

    state = load_state(path / runfolder.CHECKPOINT, root=path)
    model = from_checkpoint(state, where=str(path / runfolder.CHECKPOINT))
    step, steps = int(state["step"]), (config.get("train") or state.get("train") or {}).get("steps")
    why = "has no saved model (model/)" if not (path / "model").exists() else "was resumed after its model was saved"
    note = (f"{path} {why}: using its checkpoint of step {step}"
            + (f" of {steps}" if steps else "")
            + f"; `latentspace train {name} --resume --out {path}` finishes the run")
    if not quiet:
        print(f"note: {note}", file=sys.stderr)
    return model, {**config, "note": note, "checkpoint_step": step}


def read_config(path) -> dict:
    """The run's ``config.json``, or ``{}`` for a folder without one (a bare model folder)."""
    from latentspace.train import run as runfolder

    path = Path(path)
    return runfolder.read_config(path) if (path / runfolder.CONFIG).is_file() else {}


def is_run(path) -> bool:
    """Whether ``path`` is a run folder (a folder with a ``config.json``), not a bare model folder."""
    from latentspace.train import run as runfolder

    path = Path(path)
    return path.is_dir() and (path / runfolder.CONFIG).is_file()


def data_source(config: dict, *, for_samples: bool = False) -> dict | None:
    """``{"name_or_path", "options"}`` of the data a run was trained on, or None when it does not say.

    With ``for_samples``, a run of a two-domain model (one whose data names a ``data_b``, as
    cyclegan's does) gives its domain B: what its samples, translations from A, are compared with.
    """
    source = (config or {}).get("data") or None
    if source and for_samples and source.get("data_b"):
        source = source["data_b"]
    return source if source and source.get("name_or_path") else None


def run_data(run, config: dict, *, options: dict | None = None, for_samples: bool = False,
             required: bool = True, hint: str = DATA_HINT):
    """The dataset a run was trained on, reloaded as its ``config.json`` says.

    Parameters
    ----------
    run : path
        The run folder (named in messages).
    config : dict
        Its configuration (from :func:`load_run`).
    options : dict, optional
        Loader options that replace the run's own (``data_dir``, ``size``, ...).
    for_samples : bool
        Two-domain models: the data their samples belong to (domain B); see :func:`data_source`.
    required : bool
        Refuse a run that does not say what data it was trained on; otherwise return None.
    hint : str
        Appended to that refusal: how to give the data instead.
    """
    from latentspace.data import load

    source = data_source(config, for_samples=for_samples)
    if source is None:
        if not required:
            return None
        raise UserError(f"{run} does not say what data it was trained on{hint}")
    return load(source["name_or_path"], **{**(source.get("options") or {}), **(options or {})})


def check_shapes(model, data, fix: str) -> None:
    """Refuse data whose items are not the shape the model makes; ``fix`` ends the message
    (e.g. ``"evaluate on the data it was trained on"``)."""
    if tuple(data.shape) != tuple(model.info_.shape):
        name = data.source["name_or_path"] if data.source else data.name  # as the user gave it
        raise UserError(f"the model makes items of shape {tuple(model.info_.shape)} but {name} has "
                        f"{tuple(data.shape)}; {fix}")


def training_seconds(run) -> float | None:
    """The last ``time`` logged in the run's ``metrics.csv`` (training wall time), if any."""
    from latentspace.train import run as runfolder

    if run is None or not (Path(run) / runfolder.METRICS).is_file():
        return None
    import numpy as np

    from latentspace.plots import read_metrics

    try:
        t = read_metrics(Path(run) / runfolder.METRICS).get("time")
    except UserError:
        return None
    t = t[np.isfinite(t)] if t is not None else None
    return float(t[-1]) if t is not None and len(t) else None
