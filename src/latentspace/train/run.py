"""The run folder: where a training run keeps its config, metrics, checkpoints and samples.

::

    runs/NAME/
      config.json        # everything needed to rebuild the model and resume
      metrics.csv        # step, wall time, losses
      checkpoints/       # latest.safetensors (state + JSON skeleton in its header)
      samples/           # step-NNNNNN.png
      model/             # the final model: weights.safetensors + model.json
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

from latentspace.errors import UserError
from latentspace.storage import atomic_write_bytes, atomic_write_json, read_json

CONFIG = "config.json"
METRICS = "metrics.csv"
CHECKPOINT = Path("checkpoints") / "latest.safetensors"
OWNED = (CONFIG, METRICS, "checkpoints", "samples", "model", "metrics.json", "report.html", "tensorboard")


def prepare(out, *, resume: bool, overwrite: bool) -> Path:
    """Check that ``out`` may be used; clear our own files from it when overwriting.

    Raises before anything is written when the folder holds a run and neither ``resume``
    nor ``overwrite`` was asked for, or when ``resume`` finds no checkpoint.
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
    if has_run:
        for name in OWNED:
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    return out


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
