"""Reports a person wants to look at: one self-contained HTML file per run, or per comparison.

:func:`write_report` turns a run folder into ``RUN/report.html``: the scores beside their
floors, samples, the generated items nearest to training items, a walk through the latent
space, for models that encode (the VAE family, PPCA) reconstructions, the projected latent means
and, for 2-D latents, the latent manifold (see :mod:`latentspace.plots.encoding`), the training
curves and the configuration. Conditional models (cvae, cgan) are drawn given classes: samples
of the classes in turn, each interpolation path as one class, a cvae's reconstructions and latent
means given each item's own label, and the manifold as the first class. :func:`write_comparison`
puts several models trained on one dataset side by side. Every picture is embedded as a base64
PNG ``data:`` URI and the styling is inline CSS: the file needs no network, no JavaScript and no
other file, so it can be mailed, archived or opened years later.

What ``latentspace report RUN`` and ``latentspace compare`` write.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import math
import time
from pathlib import Path

import numpy as np
import torch

from latentspace.errors import UserError
from latentspace.metrics import evaluate
from latentspace.metrics.evaluation import SCORE_INFO, default_n
from latentspace.storage import atomic_write_bytes, atomic_write_json, read_json

#: file name of a run's report, inside the run folder
REPORT = "report.html"
#: file name of a run's evaluation results, written by ``latentspace evaluate``
RESULTS = "metrics.json"

#: how each ``better`` direction of SCORE_INFO is shown
ARROWS = {"lower": "↓ lower", "higher": "↑ higher", "0.5": "→ 0.5"}

SAMPLE_GRID = 64          # images in a sample grid
SAMPLE_POINTS = 2000      # points in a scatter of samples (and of the real points under it)
NEIGHBOUR_SAMPLES = 300   # samples searched for the nearest training items when evaluation gave none
NEIGHBOUR_PAIRS = 8       # pairs shown in the gallery
INTERPOLATION_STEPS = 10  # codes on each latent path
RECONSTRUCTIONS = 16      # held-out images beside their reconstructions (points: 500)
LATENT_POINTS = 2000      # held-out items whose latent means are projected
MANIFOLD_SIDE = 15        # codes per side of the 2-D latent manifold (volumes: 8, points: 20)


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
        The data the run was trained on (default: reloaded as ``config.json`` says).
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
    run = Path(run)
    out = Path(out) if out is not None else run / REPORT
    check_output(out, overwrite)
    model, config = load_run(run)
    data = data if data is not None else run_data(run, config)
    _check_shapes(model, data)
    fresh = False
    if results is None:
        results, fresh = run_results(run, model, data, n=n, seed=seed, save=False, progress=progress)
    page = _report_page(run, model, config, data, results, seed=seed, train_seconds=train_seconds)
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
    out = Path(out)
    check_output(out, overwrite)
    if not entries:
        raise UserError("give at least one model to compare")
    rows = [_comparison_entry(e, i) for i, e in enumerate(entries)]
    if data is None:
        first = next((r for r in rows if r["config"]), None)
        data = run_data(first["run"], first["config"]) if first else None
    page = _comparison_page(rows, data, seed=seed)
    atomic_write_bytes(out, page.encode("utf-8"))
    return out


# -- runs, data and results --------------------------------------------------------------------
def check_output(out: Path, overwrite: bool) -> None:
    """Refuse, before any work, an output file that exists (unless ``overwrite``) or is a folder."""
    out = Path(out)
    if out.is_dir():
        raise UserError(f"{out} is a folder; give a file name ending in .html for --out")
    if out.exists() and not overwrite:
        raise UserError(f"{out} already exists; pass --overwrite to replace it or choose another --out")


def load_run(run) -> tuple:
    """(model, config) of a run folder; config is ``{}`` for a bare model folder."""
    import latentspace as ls
    from latentspace.train import run as runfolder

    run = Path(run)
    if not run.exists():
        raise UserError(f"no such run folder: {run}; check the path (see `latentspace train --out`)")
    model = ls.load(run)
    config = runfolder.read_config(run) if (run / runfolder.CONFIG).is_file() else {}
    return model, config


def run_data(run, config: dict):
    """The dataset a run was trained on, reloaded as its ``config.json`` says."""
    import latentspace as ls

    source = (config or {}).get("data")
    if not source or not source.get("name_or_path"):
        raise UserError(f"{run} does not say what data it was trained on (it was made from data built in "
                        "Python); call latentspace.report.write_report(run, data=DATASET) from Python")
    return ls.data.load(source["name_or_path"], **source.get("options", {}))


def _check_shapes(model, data) -> None:
    if tuple(data.shape) != tuple(model.info_.shape):
        raise UserError(f"the model makes items of shape {tuple(model.info_.shape)} but {data.name} has "
                        f"{tuple(data.shape)}; report on the data it was trained on")


def _results_match(cached, model, data, n, seed) -> bool:
    """Whether saved results are the evaluation asked for (same model, data, n and seed)."""
    if not isinstance(cached, dict) or not isinstance(cached.get("scores"), dict):
        return False  # an older format, or not results at all
    if cached.get("seed") != seed or cached.get("model") not in (None, model.name):
        return False
    if cached.get("data") not in (None, data.name):
        return False
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


def score_info() -> dict:
    """``SCORE_INFO`` of the evaluation: score key -> (label, better)."""
    return dict(SCORE_INFO)


def _score_keys(*score_dicts, info=None) -> list[str]:
    """Keys present in any of ``score_dicts``: known scores in SCORE_INFO's order, then the rest."""
    info = score_info() if info is None else info
    present = []
    for d in score_dicts:
        for k in (d or {}):
            if k not in present:
                present.append(k)
    return [k for k in info if k in present] + [k for k in present if k not in info]


def _training_seconds(run: Path | None) -> float | None:
    """The last ``time`` logged in ``metrics.csv`` (training wall time), if any."""
    if run is None or not (Path(run) / "metrics.csv").is_file():
        return None
    from latentspace.plots.curves import read_metrics

    try:
        t = read_metrics(Path(run) / "metrics.csv").get("time")
    except UserError:
        return None
    t = t[np.isfinite(t)] if t is not None else None
    return float(t[-1]) if t is not None and len(t) else None


# -- formatting --------------------------------------------------------------------------------
def _e(value) -> str:
    return html.escape(str(value), quote=True)


def fmt(value) -> str:
    """A score or setting for a table: 4 significant digits for floats, '—' for missing."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            return str(v)
        if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-3):
            return f"{v:.3e}"
        return f"{v:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v) for v in value) if len(value) <= 8 else f"[{len(value)} values]"
    if isinstance(value, dict):
        return ", ".join(f"{k}={fmt(v)}" for k, v in value.items()) or "—"
    return str(value)


def _seconds(s) -> str:
    if s is None:
        return "—"
    s = float(s)
    if s < 120:
        return f"{s:.3g} s" if s < 10 else f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def _rate(x) -> str:
    return "—" if x is None else f"{float(x):,.0f}"


# -- pictures ----------------------------------------------------------------------------------
def _uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure_img(fig, alt: str, dpi: int = 144) -> str:
    """An ``<img>`` of a matplotlib figure (drawn at ``dpi``, shown at 96 dpi for sharp screens)."""
    from latentspace.plots.samples import _mpl

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    w, h = fig.get_size_inches()
    _mpl().close(fig)
    width, height = round(w * 96), round(h * 96)
    return (f'<img src="{_uri(buf.getvalue())}" alt="{_e(alt)}" width="{width}" height="{height}" '
            f'style="width:{width}px">')


def _pixels_img(grid: np.ndarray, alt: str, target: int = 400) -> str:
    """An ``<img>`` of a uint8 image grid, enlarged by whole pixels to about ``target`` px wide."""
    from PIL import Image

    img = Image.fromarray(grid.squeeze(-1) if grid.shape[-1] == 1 else grid)
    scale = max(1, target // max(img.size))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return (f'<img class="pixels" src="{_uri(buf.getvalue())}" alt="{_e(alt)}" width="{img.width}" '
            f'height="{img.height}" style="width:{img.width}px">')


def _draw(model, n: int, seed: int, data=None) -> torch.Tensor:
    """``n`` samples; conditional models are asked for the classes in turn (as the evaluation does)."""
    if getattr(model, "conditional", False) and data is not None and data.num_classes:
        labels = torch.arange(n) % data.num_classes
        return torch.as_tensor(model.sample(n, seed=seed, labels=labels)).detach().float().cpu()
    return torch.as_tensor(model.sample(n, seed=seed)).detach().float().cpu()


def _reference(data, n: int, seed: int):
    """Up to ``n`` training items in data space (a seeded subset), or None without data."""
    if data is None:
        return None
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data), generator=g)[:n]
    return data.to_data(data.x[idx])


def _samples_img(model, data, seed: int, alt: str, target: int = 400) -> str:
    from latentspace.plots.samples import item_grid, samples_figure

    info = model.info_
    if info.modality == "points":
        x = _draw(model, SAMPLE_POINTS, seed, data)
        return _figure_img(samples_figure(x, info, reference=_reference(data, SAMPLE_POINTS, seed)), alt)
    x = _draw(model, SAMPLE_GRID, seed, data)
    return _pixels_img(item_grid(x, info, ncols=8), alt, target=target)


# -- sections of a run report ----------------------------------------------------------------
def _section(ident: str, title: str, body: str, intro: str = "") -> str:
    intro = f'<p class="note">{intro}</p>' if intro else ""
    return f'<section id="{ident}"><h2>{_e(title)}</h2>{intro}{body}</section>'


def _scores_table(results: dict) -> str:
    scores, floor = results.get("scores") or {}, results.get("floor") or {}
    info = score_info()
    rows = []
    for key in _score_keys(scores, info=info):
        label, better = info.get(key, (key, ""))
        rows.append(f'<tr><td>{_e(label)}<span class="key">{_e(key)}</span></td>'
                    f'<td class="num model">{_e(fmt(scores.get(key)))}</td>'
                    f'<td class="num">{_e(fmt(floor.get(key)))}</td>'
                    f'<td class="better">{_e(ARROWS.get(better, better or "—"))}</td></tr>')
    head = ("<thead><tr><th>score</th><th class='num'>this model</th>"
            "<th class='num'>floor (held-out real)</th><th>better</th></tr></thead>")
    return f'<table class="scores">{head}<tbody>{"".join(rows)}</tbody></table>'


def _details_notes(results: dict) -> list[str]:
    d = results.get("details") or {}
    notes = []
    if "features" in d:
        feat = f"features: {d['features']}"
        if "feature_dim" in d:
            feat += f" ({d['feature_dim']}-d)"
        if "feature_accuracy" in d:
            feat += f", held-out accuracy {fmt(d['feature_accuracy'])}"
        if "feature_reconstruction_mse" in d:
            feat += f", held-out reconstruction MSE {fmt(d['feature_reconstruction_mse'])}"
        notes.append(feat)
    if "n_compared" in d:
        notes.append(f"two-set scores on {d['n_compared']:,} items a side")
    if "likelihood" in d:
        items = f" on {d['nll_items']:,} held-out items" if isinstance(d.get("nll_items"), int) else ""
        notes.append(f"likelihood: {d['likelihood']}{items}")
    if "samples_per_s" in d:
        notes.append(f"sampling: {_rate(d['samples_per_s'])} samples/s")
    if "eval_seconds" in d:
        notes.append(f"evaluation took {_seconds(d['eval_seconds'])}")
    return notes


def _class_histogram(results: dict, data) -> str:
    d = results.get("details") or {}
    hist = d.get("class_histogram")
    if not hist:
        return ""
    from latentspace.plots.samples import _mpl

    plt = _mpl()
    k = len(hist)
    names = list(getattr(data, "classes", None) or [])[:k] if data is not None else []
    names = names if len(names) == k else [str(i) for i in range(k)]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.3 * k + 1.0), 2.6))
    pos = np.arange(k)
    floor = d.get("floor_class_histogram")
    width = 0.4 if floor and len(floor) == k else 0.8
    ax.bar(pos - (width / 2 if width < 0.8 else 0), hist, width, color="C3", label="samples")
    if width < 0.8:
        ax.bar(pos + width / 2, floor, width, color="0.6", label="held-out real")
    ax.set_xticks(pos, names, fontsize=8, rotation=0 if k <= 12 else 90)
    ax.set_ylabel("share", fontsize=9)
    ax.axhline(1 / k, c="k", lw=0.6, ls=":")
    ax.set_ylim(0, 1.3 * max(max(hist), max(floor) if width < 0.8 else 0))
    ax.legend(fontsize=8, loc="upper right", ncol=2, frameon=False)
    ax.set_title("classes of the samples", fontsize=10)
    fig.tight_layout()
    return f'<figure>{_figure_img(fig, "class histogram")}</figure>'


def _scores_section(results: dict, data) -> str:
    if results.get("unavailable"):
        return _section("scores", "Scores", "", f"scores unavailable: {_e(results['unavailable'])}")
    if not results.get("scores"):
        return _section("scores", "Scores", "", "the evaluation returned no scores")
    intro = (f"{fmt(results.get('n_samples'))} samples, seed {fmt(results.get('seed'))}. The floor is the "
             "same score for held-out real items in place of samples: what a model drawing exactly from the "
             "data would get. Scores far from their floor are bad; scores beyond it usually mean memorisation.")
    notes = "".join(f"<li>{_e(t)}</li>" for t in _details_notes(results))
    notes = f'<ul class="note">{notes}</ul>' if notes else ""
    return _section("scores", "Scores", _scores_table(results) + notes, intro)


def _samples_section(model, data, results: dict, seed: int) -> str:
    if model.info_.modality == "points":
        what = f"{SAMPLE_POINTS:,} samples (red) over {SAMPLE_POINTS:,} training points (grey)"
    else:
        what = f"{SAMPLE_GRID} samples, shown pixel for pixel"
    img = _samples_img(model, data, seed, f"samples of {model.name}", target=480)
    hist = _class_histogram(results, data)
    if hist:
        what += "; beside them, the classes of the evaluation's samples as the domain classifier sees them"
    return _section("samples", "Samples", f'<div class="row"><figure>{img}</figure>{hist}</div>',
                    f"{what}; seed {seed}.")


def _evaluation_pairs(model, data, results: dict):
    """(samples, neighbours, distances) of the evaluation's closest pairs, or None if unusable."""
    pairs = (results.get("details") or {}).get("closest_pairs")
    n, seed = results.get("n_samples"), results.get("seed")
    if not pairs or not isinstance(n, int) or n < 1 or seed is None:
        return None
    try:
        s_idx = [int(p["sample"]) for p in pairs]
        t_idx = [int(p["train"]) for p in pairs]
        dist = [float(p["distance"]) for p in pairs]
    except (KeyError, TypeError, ValueError):
        return None
    if min(s_idx + t_idx) < 0 or max(s_idx) >= n or max(t_idx) >= len(data):
        return None
    x = _draw(model, n, int(seed), data)
    return x[s_idx], data.to_data(data.x[t_idx]), dist


def _neighbours_section(model, data, results: dict, seed: int) -> str:
    from latentspace.plots.neighbours import nearest_neighbour_gallery, nearest_training_items

    found = _evaluation_pairs(model, data, results)
    if found is not None:
        samples, neighbours, dist = found
        features = (results.get("details") or {}).get("features", "feature")
        intro = (f"The {len(dist)} samples (of the evaluation's {results['n_samples']:,}) closest to a training "
                 f"item, beside that item; distance measured in the evaluation's {features} feature space.")
    else:
        x = _draw(model, NEIGHBOUR_SAMPLES, seed, data)
        train = data.to_data()
        idx, d = nearest_training_items(x, train)
        order = torch.argsort(d)[:NEIGHBOUR_PAIRS]
        samples, neighbours, dist = x[order], train[idx[order]], d[order].tolist()
        intro = (f"The {len(dist)} of {NEIGHBOUR_SAMPLES} samples (seed {seed}) closest to a training item, "
                 "beside that item; Euclidean distance in data space.")
        if data.test is not None:
            held = data.test.to_data()[:NEIGHBOUR_SAMPLES]
            _, dh = nearest_training_items(held, train)
            intro += (f" For comparison, held-out real items lie at a median distance of {fmt(float(dh.median()))} "
                      f"from their nearest training item (samples: {fmt(float(d.median()))}).")
    fig = nearest_neighbour_gallery(samples, neighbours, dist, model.info_,
                                    reference=_reference(data, SAMPLE_POINTS, seed))
    return _section("neighbours", "Nearest training items", f"<figure>{_figure_img(fig, 'nearest training items')}"
                                                            "</figure>", intro)


def _interpolation_section(model, data, seed: int) -> str:
    from latentspace.plots.latent import interpolation_paths, interpolation_strip, latent_size

    from latentspace.latent import has_discrete_codes

    d = latent_size(model)
    if d is None and has_discrete_codes(model):
        return _section("interpolation", "Latent interpolation", "",
                        f"{model.name} encodes items as a grid of discrete codes (indices into its codebook): there "
                        "is no continuous latent space to walk through. Its reconstructions and its quantised codes "
                        "are drawn below.")
    if d is None:
        return _section("interpolation", "Latent interpolation", "",
                        f"{model.name} has no latent space: it models the data directly.")
    held = _held_out(data)
    real = held.to_data()
    rows = 4 if model.info_.modality == "points" else 3
    walk = interpolation_paths(model, real, labels=held.y if getattr(model, "conditional", False) else None,
                               rows=rows, steps=INTERPOLATION_STEPS, seed=seed)
    fig = interpolation_strip(walk["paths"], model.info_, ends=walk["ends"],
                              reference=_reference(data, SAMPLE_POINTS, seed), row_labels=walk["classes"])
    how = ("linear interpolation between the encodings of held-out items (shown in red at both ends)"
           if walk["method"] == "lerp" else "spherical interpolation between random Gaussian codes")
    if walk["labels"] is not None:
        how += ("; the model is conditional, so each path is decoded as one class (beside the row)"
                + (", between two items of that class encoded given it" if walk["ends"] is not None else ""))
    intro = f"{rows} paths of {INTERPOLATION_STEPS} steps through the {d}-d latent space: {how}; seed {seed}."
    return _section("interpolation", "Latent interpolation",
                    f"<figure>{_figure_img(fig, 'latent interpolation')}</figure>", intro)


def _held_out(data):
    """The held-out split, or the data itself when it has none."""
    return data.test if data.test is not None else data


def _latent_sections(model, data, seed: int) -> list[str]:
    """Reconstructions, the projected latent means and (2-D latents) the manifold, for models that
    encode; none for the others. A picture that cannot be drawn says why instead."""
    from latentspace.latent import can_encode, latent_size

    if not can_encode(model):
        return []
    sections = [_reconstructions_section, _latents_section]
    if latent_size(model) == 2:
        sections.append(_manifold_section)
    out = []
    for section in sections:
        try:
            out.append(section(model, data, seed))
        except UserError as e:
            ident, title = LATENT_SECTIONS[section.__name__]
            out.append(_section(ident, title, "", f"not drawn: {_e(e)}"))
    return out


def _reconstructions_section(model, data, seed: int) -> str:
    from latentspace.plots.encoding import reconstruct, reconstructions

    held = _held_out(data)
    points = model.info_.modality == "points"
    n = min(500 if points else RECONSTRUCTIONS, len(held))
    idx = torch.randperm(len(held), generator=torch.Generator().manual_seed(seed))[:n]
    items = held.to_data(held.x[idx])
    conditional = getattr(model, "conditional", False)
    labels = held.y[idx] if conditional and held.y is not None else None
    fig = reconstructions(model, items, labels, ncols=8,
                          reference=_reference(data, SAMPLE_POINTS, seed) if points else None)
    mse = float(((reconstruct(model, items, labels) - items) ** 2).flatten(1).mean(1).mean())
    how = ("held-out points (blue) joined to their reconstructions (red)" if points else
           "held-out items (rows marked input) above their reconstructions (recon.)")
    from latentspace.latent import has_discrete_codes

    if conditional:
        what = ("decode(encode(x, y), y), the decoder's mean at the posterior mean given each item's own label y "
                "(the model is conditional)")
    elif has_discrete_codes(model):
        what = "decode(encode(x)), the decoder's mean at the item's quantised code z_q(x)"
    else:
        what = "decode(encode(x)), the decoder's mean at the posterior mean"
    intro = f"{n} {how}: {what}; mean squared error {fmt(mse)} per feature in data space; seed {seed}."
    return _section("reconstructions", "Reconstructions", f"<figure>{_figure_img(fig, 'reconstructions')}</figure>",
                    intro)


def _latents_section(model, data, seed: int) -> str:
    from latentspace.latent import has_discrete_codes, latent_size
    from latentspace.plots.encoding import latent_projection

    held = _held_out(data)
    fig = latent_projection(model, held, n=LATENT_POINTS, seed=seed)
    d = latent_size(model)
    n = min(LATENT_POINTS, len(held))
    how = "the 2-D codes as they are" if d is not None and d <= 2 else "their first two principal components"
    colour = ", coloured by class" if held.y is not None else ""
    if getattr(model, "conditional", False):
        intro = (f"Encodings given the label (posterior means E[z|x, y], each item with its own label y) of {n:,} "
                 f"held-out items{colour}: {how}. In a conditional VAE the label carries the class and z the "
                 "style (slant, thickness, size), so the classes overlap here by design; well-mixed classes "
                 "mean that z does not repeat what the label says. Other projections: "
                 "latentspace plot RUN --kind latents --method tsne (or umap).")
    else:
        what = ("the quantised code vectors z_q(x) of the grid, flattened" if has_discrete_codes(model)
                else "posterior means E[z|x]")
        intro = (f"Encodings ({what}) of {n:,} held-out items{colour}: {how}. Classes that the "
                 "encoder separates without ever seeing a label lie apart. Other projections: "
                 "latentspace plot RUN --kind latents --method tsne (or umap).")
    return _section("latents", "Latent means", f"<figure>{_figure_img(fig, 'latent means')}</figure>", intro)


def _manifold_section(model, data, seed: int) -> str:
    from latentspace.plots.encoding import latent_manifold

    modality = model.info_.modality
    side = {"points": 20, "volume": 8}.get(modality, MANIFOLD_SIDE)
    points = modality == "points"
    fig = latent_manifold(model, side, reference=_reference(data, SAMPLE_POINTS, seed) if points else None)
    intro = (f"The decoder over the 2-D latent plane: {side} × {side} codes at the prior's quantiles 0.05 to "
             "0.95 in each dimension (as in Kingma & Welling 2014, Fig. 4), so each tile covers the same prior "
             "mass" + ("; drawn as a mesh over the training points" if points else ""))
    if getattr(model, "conditional", False):
        first = (model.info_.classes or ["0"])[0]
        intro += (f"; the model is conditional, so every code is decoded as the first class, {_e(first)} "
                  "(other classes: latentspace plot RUN --kind manifold --label CLASS)")
    intro += "."
    return _section("manifold", "Latent manifold", f"<figure>{_figure_img(fig, 'latent manifold')}</figure>", intro)


#: the sections of :func:`_latent_sections`: function name -> (id, title)
LATENT_SECTIONS = {"_reconstructions_section": ("reconstructions", "Reconstructions"),
                   "_latents_section": ("latents", "Latent means"),
                   "_manifold_section": ("manifold", "Latent manifold")}


def _curves_section(run: Path) -> str:
    from latentspace.plots.curves import training_curves

    path = run / "metrics.csv"
    if not path.is_file():
        return _section("curves", "Training curves", "", "Fitted in one go: there are no training curves.")
    try:
        fig = training_curves(path)
    except UserError as e:
        return _section("curves", "Training curves", "", _e(e))
    return _section("curves", "Training curves", f"<figure>{_figure_img(fig, 'training curves')}</figure>",
                    "Every logged column of metrics.csv against the training step.")


def _kv_table(title: str, items: dict) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(fmt(v))}</td></tr>" for k, v in items.items())
    return f'<table class="kv"><caption>{_e(title)}</caption><tbody>{rows}</tbody></table>'


def _config_section(config: dict, model, data) -> str:
    params = config.get("params") or model.get_params()
    train = {k: v for k, v in (config.get("train") or {}).items() if k not in ("out", "progress")}
    if config.get("world_size", 1) != 1:
        train["world_size"] = config["world_size"]
    source = config.get("data") or {}
    info = model.info_
    data_items = {"source": source.get("name_or_path", data.name if data is not None else info.name)}
    data_items.update(source.get("options") or {})
    data_items.update({"modality": info.modality, "item shape": "×".join(map(str, info.shape))})
    if data is not None:
        data_items["training items"] = f"{len(data):,}"
        if data.test is not None:
            data_items["held-out items"] = f"{len(data.test):,}"
    if info.classes:
        data_items["classes"] = len(info.classes)
    tables = (_kv_table(f"model: {model.name}", params) + _kv_table("training", train)
              + _kv_table("data", data_items))
    version = f"latentspace {config['version']}" if config.get("version") else ""
    return _section("config", "Configuration", f'<div class="row">{tables}</div>',
                    "From the run's config.json. " + _e(version))


def _header(title: str, facts: list[tuple[str, str]], nav: list[tuple[str, str]]) -> str:
    chips = "".join(f"<span>{_e(k)} <b>{_e(v)}</b></span>" for k, v in facts if v not in (None, "", "—"))
    links = "".join(f'<a href="#{i}">{_e(t)}</a>' for i, t in nav)
    return (f'<header class="top"><div class="wrap"><h1>{_e(title)}</h1><div class="facts">{chips}</div>'
            f'<nav>{links}</nav></div></header>')


def _when(path: Path) -> str | None:
    try:
        return _dt.datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    except OSError:
        return None


RUN_SECTIONS = [("scores", "Scores"), ("samples", "Samples"), ("neighbours", "Nearest training items"),
                ("interpolation", "Latent interpolation"), ("reconstructions", "Reconstructions"),
                ("latents", "Latent means"), ("manifold", "Latent manifold"), ("curves", "Training curves"),
                ("config", "Configuration")]


def _nav(sections: list[str]) -> list[tuple[str, str]]:
    """The entries of RUN_SECTIONS whose section is on the page."""
    return [(i, t) for i, t in RUN_SECTIONS if any(s.startswith(f'<section id="{i}">') for s in sections)]


def _report_page(run: Path, model, config: dict, data, results: dict, *, seed: int, train_seconds) -> str:
    from latentspace.models.base import META_FILE

    t0 = time.perf_counter()
    train_seconds = train_seconds if train_seconds is not None else _training_seconds(run)
    steps = (config.get("train") or {}).get("steps")
    folder = run / "model" if (run / "model" / META_FILE).is_file() else run
    details = results.get("details") or {}
    facts = [("model", model.name), ("data", data.name),
             ("trained", _when(folder / META_FILE)),
             ("training time", _seconds(train_seconds) if train_seconds is not None else None),
             ("steps", f"{steps:,}" if isinstance(steps, int) else None),
             ("samples/s", _rate(details["samples_per_s"]) if "samples_per_s" in details else None),
             ("report", _dt.datetime.now().strftime("%Y-%m-%d %H:%M"))]
    body = [_scores_section(results, data), _samples_section(model, data, results, seed),
            _neighbours_section(model, data, results, seed), _interpolation_section(model, data, seed),
            *_latent_sections(model, data, seed), _curves_section(run), _config_section(config, model, data)]
    foot = (f"run folder {run} · written by latentspace in {time.perf_counter() - t0:.1f} s · "
            "self-contained: every picture is embedded")
    return _page(f"{model.name} on {data.name}", _header(f"{model.name} on {data.name}", facts, _nav(body)),
                 body, foot)


# -- comparison --------------------------------------------------------------------------------
def _comparison_entry(entry: dict, i: int) -> dict:
    """Normalise one entry of :func:`write_comparison`: model, config, results, label, timings."""
    if not isinstance(entry, dict):
        raise UserError(f"entry {i} of the comparison must be a dict with 'run' or 'model', got "
                        f"{type(entry).__name__}")
    run = Path(entry["run"]) if entry.get("run") is not None else None
    if entry.get("model") is not None:
        model = entry["model"]
        config = {}
        if run is not None and (run / "config.json").is_file():
            from latentspace.train import run as runfolder

            config = runfolder.read_config(run)
    elif run is not None:
        model, config = load_run(run)
    else:
        raise UserError(f"entry {i} of the comparison names neither 'run' nor 'model'; give one of them")
    results = entry.get("results")
    if results is None and run is not None and (run / RESULTS).is_file():
        results = read_json(run / RESULTS)
    results = results if isinstance(results, dict) else {}
    details = results.get("details") or {}
    return {"run": run, "model": model, "config": config, "results": results,
            "label": entry.get("label") or model.name,
            "train_seconds": entry.get("train_seconds", _training_seconds(run)),
            "samples_per_s": entry.get("samples_per_s", details.get("samples_per_s")),
            "steps": (config.get("train") or {}).get("steps")}


def _best(values: list, better: str) -> set[int]:
    """Indices of the best of ``values`` (numbers; others ignored) in direction ``better``."""
    nums = [(i, float(v)) for i, v in enumerate(values)
            if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and math.isfinite(float(v))]
    if len(nums) < 2 or better not in ARROWS:
        return set()
    key = {"lower": lambda v: v, "higher": lambda v: -v, "0.5": lambda v: abs(v - 0.5)}[better]
    top = min(key(v) for _, v in nums)
    return {i for i, v in nums if key(v) == top}


def _comparison_scores(rows: list[dict]) -> str:
    info = score_info()
    keys = _score_keys(*(r["results"].get("scores") for r in rows), info=info)
    if not keys:
        return '<p class="note">No scores: evaluate the runs first (latentspace evaluate RUN).</p>'
    head = "".join(f"<th class='num'>{_e(r['label'])}</th>" for r in rows)
    lines = []
    for key in keys:
        label, better = info.get(key, (key, ""))
        values = [(r["results"].get("scores") or {}).get(key) for r in rows]
        best = _best(values, better)
        cells = "".join(f'<td class="num{" best" if i in best else ""}">{_e(fmt(v))}</td>'
                        for i, v in enumerate(values))
        floor = next(((r["results"].get("floor") or {}).get(key) for r in rows
                      if key in (r["results"].get("floor") or {})), None)
        lines.append(f'<tr><td>{_e(label)}<span class="key">{_e(key)}</span></td>{cells}'
                     f'<td class="num floor">{_e(fmt(floor))}</td>'
                     f'<td class="better">{_e(ARROWS.get(better, better or "—"))}</td></tr>')
    return (f'<table class="scores"><thead><tr><th>score</th>{head}<th class="num">floor (held-out real)</th>'
            f'<th>better</th></tr></thead><tbody>{"".join(lines)}</tbody></table>'
            '<p class="note">Bold: the best model on that score. The floor is the score of held-out real items '
            'in place of samples.</p>')


def _comparison_speed(rows: list[dict]) -> str:
    lines = "".join(
        f"<tr><td>{_e(r['label'])}</td><td class='num'>{_e(_seconds(r['train_seconds']))}</td>"
        f"<td class='num'>{_e(fmt(r['steps']) if r['steps'] is not None else 'fitted in one go')}</td>"
        f"<td class='num'>{_e(_rate(r['samples_per_s']))}</td></tr>" for r in rows)
    return ("<table class='scores'><thead><tr><th>model</th><th class='num'>training wall time</th>"
            "<th class='num'>steps</th><th class='num'>samples/s</th></tr></thead>"
            f"<tbody>{lines}</tbody></table>")


def _comparison_samples(rows: list[dict], data, seed: int) -> str:
    figures = []
    for r in rows:
        img = _samples_img(r["model"], data, seed, f"samples of {r['label']}", target=300)
        figures.append(f"<figure>{img}<figcaption>{_e(r['label'])}</figcaption></figure>")
    return f'<div class="row">{"".join(figures)}</div>'


COMPARISON_SECTIONS = [("scores", "Scores"), ("speed", "Training and sampling time"), ("samples", "Samples")]


def _comparison_page(rows: list[dict], data, *, seed: int) -> str:
    name = data.name if data is not None else rows[0]["model"].info_.name
    first = rows[0]["results"]
    facts = [("models", ", ".join(r["label"] for r in rows)), ("data", name),
             ("samples scored", fmt(first.get("n_samples")) if first.get("n_samples") else None),
             ("report", _dt.datetime.now().strftime("%Y-%m-%d %H:%M"))]
    points = rows[0]["model"].info_.modality == "points"
    compared = (first.get("details") or {}).get("n_compared")
    what = (f"{SAMPLE_POINTS:,} samples per model (red) over training points (grey)" if points
            else f"{SAMPLE_GRID} samples per model, pixel for pixel")
    body = [_section("scores", "Scores", _comparison_scores(rows),
                     f"{fmt(first.get('n_samples'))} samples per model, seed {fmt(first.get('seed'))}"
                     + (f"; two-set scores (FD to C2ST) on {fmt(compared)} items a side, as many as the "
                        "held-out split has" if compared else "") + "."),
            _section("speed", "Training and sampling time", _comparison_speed(rows),
                     "Wall time on this machine; samples/s as measured by the evaluation."),
            _section("samples", "Samples", _comparison_samples(rows, data, seed), f"{what}; seed {seed}.")]
    title = f"{' vs '.join(r['label'] for r in rows)} on {name}"
    return _page(title, _header(title, facts, COMPARISON_SECTIONS), body,
                 "written by latentspace · self-contained: every picture is embedded")


# -- the page ----------------------------------------------------------------------------------
CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f3f4f7;color:#1c2330;
 font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
.wrap{max-width:1180px;margin:0 auto;padding:0 28px}
header.top{background:#1e2940;color:#fff;padding:22px 0 0}
header.top h1{margin:0 0 8px;font-size:28px;font-weight:650;letter-spacing:.2px}
.facts{display:flex;flex-wrap:wrap;gap:4px 22px;font-size:14px;color:#b9c2d6}
.facts b{color:#fff;font-weight:600}
nav{display:flex;flex-wrap:wrap;gap:2px;margin-top:14px}
nav a{color:#dfe5f2;text-decoration:none;padding:7px 12px;font-size:14px;border-radius:6px 6px 0 0}
nav a:hover{background:#2e3b58}
main{padding-top:6px;padding-bottom:40px}
section{background:#fff;border:1px solid #dde1e8;border-radius:10px;padding:18px 24px 20px;margin:18px 0}
h2{margin:0 0 8px;font-size:20px;font-weight:650;color:#1e2940}
p.note,ul.note,figcaption,.note{color:#566074;font-size:13.5px}
ul.note{margin:8px 0 0;padding-left:18px;max-width:420px}
figure{margin:12px 0 0}
figcaption{text-align:center;font-weight:600;margin-top:4px}
img{max-width:100%;height:auto;display:block}
img.pixels{image-rendering:pixelated;image-rendering:crisp-edges;border:1px solid #dde1e8}
.row{display:flex;flex-wrap:wrap;gap:22px;align-items:flex-start}
table{border-collapse:collapse;font-size:14px}
table.scores{margin-top:6px}
table.scores th{background:#eef1f6;font-weight:600;text-align:left;padding:7px 12px;border-bottom:2px solid #d3d8e2}
table.scores td{padding:6px 12px;border-bottom:1px solid #eceef3;vertical-align:baseline}
table.scores tbody tr:nth-child(even){background:#fafbfc}
.num{text-align:right;font-variant-numeric:tabular-nums;font-family:ui-monospace,"SF Mono",Menlo,Consolas,monospace}
th.num{font-family:inherit}
td.model{font-weight:650;color:#0f1828}
td.best{font-weight:700;color:#0b6b3a}
td.floor{color:#566074}
td.better{color:#566074;white-space:nowrap}
.key{margin-left:8px;font-size:11.5px;color:#8a93a6;font-family:ui-monospace,Menlo,Consolas,monospace}
table.kv{font-size:13px;align-self:flex-start}
table.kv caption{text-align:left;font-weight:650;padding:0 0 4px;color:#1e2940}
table.kv th{text-align:left;font-weight:500;color:#566074;padding:2px 14px 2px 0;white-space:nowrap}
table.kv td{padding:2px 0;font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
footer{color:#8a93a6;font-size:12.5px;text-align:center;padding:8px 0 28px}
@media print{header.top{background:#fff;color:#000}.facts,.facts b{color:#000}nav{display:none}
 section{border:none;break-inside:avoid}}
"""


def _page(title: str, header: str, sections: list[str], foot: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>{header}"
            f"<main class=\"wrap\">{''.join(sections)}</main><footer>{_e(foot)}</footer></body></html>\n")
