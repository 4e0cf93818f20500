"""Training curves from a run's ``metrics.csv``: every logged loss or score against the step,
as small multiples (one panel per column, shared step axis)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from latentspace.errors import UserError
from latentspace.plots.samples import _mpl

#: columns of metrics.csv that are not curves
NOT_CURVES = ("step", "time")


def read_metrics(path) -> dict[str, np.ndarray]:
    """The columns of a ``metrics.csv`` as float arrays (empty cells become NaN).

    Parameters
    ----------
    path : path
        A ``metrics.csv`` written by the training engine, or a run folder holding one.

    Returns
    -------
    dict
        Column name -> float64 array, in the file's column order.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.csv"
    if not path.is_file():
        raise UserError(f"no such file: {path}; give a run folder trained by latentspace (classical "
                        "models are fitted in one go and log no curves)")
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            fields = list(reader.fieldnames or [])
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"{path} is not a readable CSV file ({e}); it may be corrupt") from e
    if "step" not in fields:
        raise UserError(f"{path} has no 'step' column; it was not written by the latentspace training engine")
    return {name: np.array([_number(r.get(name)) for r in rows], dtype=np.float64) for name in fields}


def _number(cell) -> float:
    try:
        return float(cell)
    except (TypeError, ValueError):
        return math.nan


def curve_columns(columns: dict) -> list[str]:
    """Names of the columns worth a panel: not step/time, with at least one finite value."""
    return [k for k, v in columns.items() if k not in NOT_CURVES and np.isfinite(v).any()]


def _smooth(y: np.ndarray, span: int) -> np.ndarray:
    """Exponential moving average ignoring NaN (alpha = 2 / (span + 1))."""
    alpha, out, acc = 2.0 / (span + 1), np.empty_like(y), math.nan
    for i, v in enumerate(y):
        if math.isfinite(v):
            acc = v if math.isnan(acc) else alpha * v + (1 - alpha) * acc
        out[i] = acc
    return out


def training_curves(metrics, *, ncols: int = 3, title: str | None = None):
    """Small multiples of a run's training curves: one panel per logged column against the step.

    Parameters
    ----------
    metrics : path or dict
        A ``metrics.csv`` (or the run folder holding it), or columns from :func:`read_metrics`.
    ncols : int
        Panels per row.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Raw values as a thin line; with more than 30 points, a smoothed line on top.

    Examples
    --------
    >>> fig = training_curves("runs/first-gan/metrics.csv")  # doctest: +SKIP
    >>> fig.savefig("curves.png")  # doctest: +SKIP
    """
    columns = metrics if isinstance(metrics, dict) else read_metrics(metrics)
    names = curve_columns(columns)
    if not names or "step" not in columns or len(columns["step"]) == 0:
        raise UserError("metrics.csv has no logged values to plot yet; train for more than --log-every steps")
    plt = _mpl()
    ncols = max(1, min(int(ncols), len(names)))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.4 * nrows), squeeze=False)
    step = columns["step"]
    for i, name in enumerate(names):
        ax = axes[i // ncols, i % ncols]
        y = columns[name]
        many = np.isfinite(y).sum() > 30
        ax.plot(step, y, lw=0.7, c="C0", alpha=0.45 if many else 1.0, marker=None if many else ".", ms=3)
        if many:
            ax.plot(step, _smooth(y, max(5, len(y) // 20)), lw=1.4, c="C0")
        ax.set_title(name, fontsize=10)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.set_xlabel("step", fontsize=8, labelpad=1)
    for j in range(len(names), nrows * ncols):
        axes[j // ncols, j % ncols].axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
