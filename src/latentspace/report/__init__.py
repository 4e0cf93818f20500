"""Reports a person wants to look at: one self-contained HTML file per run, or per comparison.

:func:`write_report` turns a run folder into ``RUN/report.html``: the scores beside their
floors, samples, the generated items nearest to training items, a walk through the latent
space, for models that encode (the VAE family, PPCA) reconstructions, the projected latent means
and, for 2-D latents, the latent manifold (see :mod:`latentspace.plots`), the training
curves and the configuration. Conditional models (cvae, cgan) are drawn given classes: samples
of the classes in turn, each interpolation path as one class, a cvae's reconstructions and latent
means given each item's own label, and the manifold as the first class. :func:`write_comparison`
puts several models trained on one dataset side by side. Every picture is embedded as a base64
PNG ``data:`` URI and the styling is inline CSS: the file needs no network, no JavaScript and no
other file, so it can be mailed, archived or opened years later.

The pages are Jinja2 templates (``templates/``); :mod:`.sections` builds a run's sections,
:mod:`.comparison` the comparison's, :mod:`.html` holds what both share. What
``latentspace report RUN`` and ``latentspace compare`` write.
"""

from __future__ import annotations

import time
from pathlib import Path

from latentspace.errors import UserError
from latentspace.metrics import evaluate
from latentspace.metrics.evaluation import default_n
from latentspace.report.html import ARROWS, fmt, score_info
from latentspace.runs import RESULTS, check_shapes, load_run, run_data
from latentspace.storage import atomic_write_bytes, atomic_write_json, read_json

__all__ = ["write_report", "write_comparison", "run_results", "sampling_rate", "check_output", "load_run",
           "run_data", "fmt", "score_info", "REPORT", "RESULTS", "ARROWS"]

#: file name of a run's report, inside the run folder
REPORT = "report.html"

#: what a run that does not name its data is told (it was trained from Python)
DATA_HINT = (" (it was made from data built in Python); call latentspace.report.write_report(run, data=DATASET) "
             "from Python")


# -- entry points ------------------------------------------------------------------------------
def write_report(run, out=None, *, results: dict | None = None, n: int | None = None, seed: int = 0,
                 overwrite: bool = False, data=None, train_seconds: float | None = None,
                 progress: bool = False) -> Path:
    """Write one self-contained HTML report of a run folder.

    Parameters
    ----------
    run : path
        A run folder (``config.json``, ``model/``, ``metrics.csv`` for trained models).
    out : path, optional
        The HTML file (default ``RUN/report.html``). An existing file is refused unless
        ``overwrite``.
    results : dict, optional
        Output of :func:`latentspace.metrics.evaluate`. Default: ``RUN/metrics.json`` when it
        was computed with the same ``n`` and ``seed``, else a fresh evaluation (then saved to
        ``RUN/metrics.json`` if the run has none).
    n : int, optional
        Samples for the evaluation (default: the evaluation's own, 2,500 on toy sets, 10,000
        otherwise).
    seed : int
        Seeds the evaluation and every picture.
    overwrite : bool
        Replace an existing report.
    data : Dataset, optional
        The data the run's samples are compared with (default: reloaded as ``config.json``
        says; domain B for a two-domain model, as ``latentspace evaluate`` does).
    train_seconds : float, optional
        Training wall time, when known from elsewhere (default: the last ``time`` of
        ``metrics.csv``; unknown for models fitted in one go).
    progress : bool
        Show progress bars while evaluating.

    Returns
    -------
    Path
        The report written.

    Examples
    --------
    >>> write_report("runs/first-gan")  # doctest: +SKIP
    PosixPath('runs/first-gan/report.html')
    """
    from latentspace.report.sections import run_page

    run = Path(run)
    out = Path(out) if out is not None else run / REPORT
    check_output(out, overwrite)
    model, config = load_run(run)
    data = data if data is not None else run_data(run, config, for_samples=True, hint=DATA_HINT)
    check_shapes(model, data, "report on the data it was trained on")
    fresh = False
    if results is None:
        results, fresh = run_results(run, model, data, n=n, seed=seed, save=False, progress=progress)
    page = run_page(run, model, config, data, results, seed=seed, train_seconds=train_seconds)
    atomic_write_bytes(out, page.encode("utf-8"))
    if fresh and results.get("scores") is not None and not (run / RESULTS).exists():
        atomic_write_json(run / RESULTS, results)
    return out


def write_comparison(entries, out, *, overwrite: bool = False, data=None, seed: int = 0) -> Path:
    """Write one self-contained HTML page comparing several models trained on one dataset.

    Parameters
    ----------
    entries : list of dict
        One per model, with ``run`` (its run folder) or ``model`` (a fitted model), and
        optionally ``results`` (from :func:`latentspace.metrics.evaluate`; default: the run's
        ``metrics.json``), ``label`` (column title; default the model's name),
        ``train_seconds`` (training wall time) and ``samples_per_s`` (default: the
        evaluation's).
    out : path
        The HTML file; an existing file is refused unless ``overwrite``.
    overwrite : bool
        Replace an existing file.
    data : Dataset, optional
        The dataset (default: reloaded from the first run's ``config.json``); real points are
        drawn under the samples of 2-D data.
    seed : int
        Seeds the sample pictures.

    Returns
    -------
    Path
        The page written: a scores table (rows: scores; columns: models and the floor), a
        table of training time and sampling speed, and a sample picture per model.
    """
    from latentspace.report.comparison import comparison_entry, comparison_page

    out = Path(out)
    check_output(out, overwrite)
    if not entries:
        raise UserError("give at least one model to compare")
    rows = [comparison_entry(e, i) for i, e in enumerate(entries)]
    if data is None:
        first = next((r for r in rows if r["config"]), None)
        data = run_data(first["run"], first["config"], for_samples=True, hint=DATA_HINT) if first else None
    page = comparison_page(rows, data, seed=seed)
    atomic_write_bytes(out, page.encode("utf-8"))
    return out


# -- output, results and speed -------------------------------------------------------------------
def check_output(out: Path, overwrite: bool) -> None:
    """Refuse, before any work, an output file that exists (unless ``overwrite``) or is a folder."""
    out = Path(out)
    if out.is_dir():
        raise UserError(f"{out} is a folder; give a file name ending in .html for --out")
    if out.exists() and not overwrite:
        raise UserError(f"{out} already exists; pass --overwrite to replace it or choose another --out")


def _results_match(cached, model, data, n, seed) -> bool:
    """Whether saved results are the evaluation asked for (same model, data, n and seed), in the
    current format (a likelihood records what it is a likelihood of)."""
    if not isinstance(cached, dict) or not isinstance(cached.get("scores"), dict):
        return False  # an older format, or not results at all
    if cached.get("seed") != seed or cached.get("model") not in (None, model.name):
        return False
    if cached.get("data") not in (None, data.name):
        return False
    if model.likelihood_kind is not None and "likelihood_of" not in (cached.get("details") or {}):
        return False  # evaluated before likelihoods said what they are likelihoods of
    return cached.get("n_samples") == (n if n is not None else default_n(data))


def run_results(run, model, data, *, n: int | None = None, seed: int = 0, save: bool = True,
                progress: bool = False) -> tuple[dict, bool]:
    """The evaluation of a run: ``RUN/metrics.json`` when it matches ``n`` and ``seed``, else fresh.

    Parameters
    ----------
    run : path
        The run folder.
    model, data
        The run's fitted model and its dataset.
    n : int, optional
        Samples to evaluate (default: the evaluation's own).
    seed : int
    save : bool
        Write fresh results to ``RUN/metrics.json`` when the run has none (an existing file,
        made with other settings, is kept).
    progress : bool

    Returns
    -------
    (dict, bool)
        The results and whether they were computed now.
    """
    path = Path(run) / RESULTS
    if path.is_file():
        try:
            cached = read_json(path)
        except UserError:
            cached = None  # a corrupt cache: evaluate again, and leave the file for the user to see
        if _results_match(cached, model, data, n, seed):
            return cached, False
    if n is not None and n < 1:
        raise UserError(f"--n must be a positive integer, got {n}")
    results = evaluate(model, data, n=n, seed=seed, progress=progress)
    if save and Path(run).is_dir() and not path.exists():
        atomic_write_json(path, results)
    return results, True


def sampling_rate(model, n: int = 1000, seed: int = 0) -> float:
    """Samples per second of ``model.sample(n, seed=seed)`` (one timed call after a small warm-up)."""
    model.sample(min(n, 16), seed=seed)
    t0 = time.perf_counter()
    model.sample(n, seed=seed)
    return n / max(time.perf_counter() - t0, 1e-9)
