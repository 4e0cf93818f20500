"""The run folder: where a training run keeps its config, metrics, checkpoints and samples.

::

    runs/NAME/
      config.json        # everything needed to rebuild the model and resume
      metrics.csv        # step, wall time, losses
      checkpoints/       # latest.safetensors (state + JSON skeleton in its header)
      samples/           # step-NNNNNN.png
      model/             # the final model: weights.safetensors + model.json

A run killed (SIGKILL, power loss) loses the steps since its last checkpoint; one killed while
writing a file leaves a ``.NAME.*.tmp`` beside it, removed when the run starts or resumes.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

from latentspace.errors import UserError
from latentspace.storage import (atomic_write_bytes, atomic_write_json, check_inside, check_safetensors, human_size,
                                 read_json)

CONFIG = "config.json"
METRICS = "metrics.csv"
CHECKPOINT = Path("checkpoints") / "latest.safetensors"
OWNED = (CONFIG, METRICS, "checkpoints", "samples", "model", "metrics.json", "report.html", "tensorboard")


def prepare(out, *, resume: bool, overwrite: bool) -> Path:
    """Check that ``out`` may be used; nothing is written or removed (see :func:`clear`).

    Raises when the folder holds a run and neither ``resume`` nor ``overwrite`` was asked for,
    or when ``resume`` finds no checkpoint.
    """
    out = Path(out)
    if resume and overwrite:
        raise UserError("give either --resume or --overwrite, not both")
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is a file; choose a folder name for --out")
    has_run = out.is_dir() and any((out / name).exists() for name in OWNED)
    if resume:
        if not (out / CHECKPOINT).is_file():
            raise UserError(f"nothing to resume in {out}: no {CHECKPOINT}; drop --resume to start a new run")
        return out
    if has_run and not overwrite:
        raise UserError(f"run folder {out} already exists; pass --resume to continue it or --overwrite to "
                        "replace it, or choose another --out")
    return out


def clear(out) -> None:
    """Remove our own files from ``out`` (to overwrite the run in it); other files are left alone."""
    out = Path(out)
    for name in OWNED:
        p = out / name
        if p.is_symlink():  # the link goes, never what it points to
            p.unlink()
        elif p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def owned_bytes(out) -> int:
    """Bytes of our own files in ``out`` (what :func:`clear` frees)."""
    out = Path(out)
    total = 0
    for name in OWNED:
        p = out / name
        files = p.rglob("*") if p.is_dir() else [p]
        total += sum(f.stat().st_size for f in files if f.is_file())
    return total


def remove_stale_temporaries(out) -> list[Path]:
    """Remove the temporary files that an interrupted atomic write of the checkpoint, the config or
    the metrics left (``.NAME.*.tmp``); returns those removed."""
    out = Path(out)
    removed = []
    for target in (out / CHECKPOINT, out / CONFIG, out / METRICS):
        if target.parent.is_dir():
            for tmp in target.parent.glob(f".{target.name}.*.tmp"):
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    return removed


#: training settings a resume takes from the run when they are not given again
RESUMED = ("steps", "batch_size", "seed", "log_every", "sample_every", "checkpoint_every", "lr_schedule", "time")


def checkpoint_summary(out) -> dict:
    """``{"step", "train"}`` of the run's checkpoint, read from its header alone (no tensors loaded)."""
    path = Path(out) / CHECKPOINT
    check_inside(path, out)
    header = check_safetensors(path)  # checked against the file: a header that lies is refused
    try:
        skeleton = json.loads((header.get("__metadata__") or {})["latentspace"])
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise UserError(f"{path} is not a readable checkpoint ({e}); it may be truncated or corrupt") from None
    top = dict(skeleton["__dict__"]) if "__dict__" in skeleton else skeleton
    train = top.get("train") or {}
    train = dict(train["__dict__"]) if "__dict__" in train else train
    return {"step": int(top.get("step", 0)), "train": train}


def resume_settings(out, given: dict) -> dict:
    """``given`` training settings with those left None (not given again) taken from the run in ``out``:
    from its ``config.json``, else from its checkpoint. A folder with neither is left to :func:`prepare`."""
    out = Path(out)
    if (out / CONFIG).is_file():
        train = read_config(out).get("train") or {}
    elif (out / CHECKPOINT).is_file():
        train = checkpoint_summary(out)["train"]
    else:
        return dict(given)
    return {**given, **{k: train[k] for k in RESUMED if given.get(k) is None and train.get(k) is not None}}


#: what one sample picture takes at most, and what config.json and metrics.csv take
SNAPSHOT_BYTES = 1_000_000
SMALL_FILES_BYTES = 1_000_000


def bytes_needed(weight_bytes: int, snapshots: int, *, resume: bool) -> int:
    """What a run will write: a checkpoint is about 3x the weights (networks, EMA copies, optimiser
    moments) and is written beside the last one before it replaces it; then the model and the pictures.
    A resumed run's last checkpoint is on disk already."""
    checkpoint = 3 * weight_bytes
    return checkpoint * (1 if resume else 2) + weight_bytes + snapshots * SNAPSHOT_BYTES + SMALL_FILES_BYTES


def check_disk_space(out, needed: int, freed: int = 0) -> None:
    """Refuse a run whose files will not fit on the disk of ``out`` (``freed``: bytes an overwrite removes)."""
    out = Path(out)
    where = next(p for p in (out, *out.absolute().parents) if p.exists())
    free = shutil.disk_usage(where).free + freed
    if free < needed:
        raise UserError(f"not enough disk space for the run in {out}: {human_size(free)} free, about "
                        f"{human_size(needed)} needed (checkpoints, model, sample pictures); free some space or choose "
                        "another --out")


#: seed of the noise behind sample pictures, so pictures of one run are comparable
SNAPSHOT_SEED = 12345


def write_config(out: Path, model, data, train_settings: dict, world_size: int = 1) -> None:
    """``config.json``: everything needed to rebuild the model, reload its data and resume."""
    from latentspace import __version__

    atomic_write_json(Path(out) / CONFIG, {
        "model": model.name,
        "params": model.json_params(),
        "resolved": model.resolved_params(),
        "data": getattr(data, "source", None),
        "data_info": data.info.to_json(),
        "train": train_settings,
        "world_size": world_size,
        "version": __version__,
    })


def read_config(out) -> dict:
    return read_json(Path(out) / CONFIG)


class MetricsLog:
    """``metrics.csv`` kept in memory and rewritten atomically; new columns extend the header."""

    def __init__(self, path: Path, keep_until_step: int | None = None):
        self.path = Path(path)
        self.rows: list[dict] = []
        self.fields: list[str] = ["step", "time"]
        if keep_until_step is not None and self.path.is_file():
            with open(self.path, newline="") as f:
                reader = csv.DictReader(f)
                for name in reader.fieldnames or []:
                    if name not in self.fields:
                        self.fields.append(name)
                self.rows = [r for r in reader if int(float(r["step"])) <= keep_until_step]

    @property
    def elapsed(self) -> float:
        """Wall time recorded by the last kept row (to continue the clock on resume)."""
        return float(self.rows[-1]["time"]) if self.rows else 0.0

    def append(self, row: dict) -> None:
        for key in row:
            if key not in self.fields:
                self.fields.append(key)
        self.rows.append(row)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.fields, restval="")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_bytes(self.path, buf.getvalue().encode())
