"""The sections of a run's report, and the page they make (``templates/run.html``).

What a section shows follows from the model's declared capabilities and the data's modality
(``info.spec``), never from the family's name: models that encode get reconstructions and
latent means, a 2-D continuous latent gets the manifold, a conditional model is drawn given
classes, discrete codes are said to have no continuous space to walk through. Each section is
a :class:`~latentspace.report.html.Section`; a picture that cannot be drawn says why instead.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from latentspace.data.dataset import held_out
from latentspace.errors import UserError
from latentspace.metrics.display import result_notes, score_label, score_text
from latentspace.report.html import (Picture, Section, draw, figure_picture, fmt, new_figure, now,
                                     reference, render, samples_pictures, score_info, score_keys, seconds, rate,
                                     when)
from latentspace.runs import training_seconds

NEIGHBOUR_SAMPLES = 300   # samples searched for the nearest training items when evaluation gave none
NEIGHBOUR_PAIRS = 8       # pairs shown in the gallery
INTERPOLATION_STEPS = 10  # codes on each latent path
LATENT_POINTS = 2000      # held-out items whose latent means are projected

#: the sections of a run's report, in order: id -> title (the header's links)
RUN_SECTIONS = {"scores": "Scores", "samples": "Samples", "neighbours": "Nearest training items",
                "interpolation": "Latent interpolation", "reconstructions": "Reconstructions",
                "latents": "Latent means", "manifold": "Latent manifold", "curves": "Training curves",
                "config": "Configuration"}


def _section(ident: str, intro: str = "", figures: list[Picture] | None = None, **more) -> Section:
    return Section(ident, RUN_SECTIONS[ident], intro, list(figures or []), **more)


# -- the page --------------------------------------------------------------------------------------------
def run_page(run: Path, model, config: dict, data, results: dict, *, seed: int, train_seconds) -> str:
    """The HTML of a run's report."""
    from latentspace.models.base import META_FILE

    t0 = time.perf_counter()
    train_seconds = train_seconds if train_seconds is not None else training_seconds(run)
    steps = (config.get("train") or {}).get("steps")
    folder = run / "model" if (run / "model" / META_FILE).is_file() else run
    details = results.get("details") or {}
    facts = [("model", model.name), ("data", data.name),
             ("trained", when(folder / META_FILE)),
             ("training time", seconds(train_seconds) if train_seconds is not None else None),
             ("steps", f"{steps:,}" if isinstance(steps, int) else None),
             ("samples/s", rate(details["samples_per_s"]) if "samples_per_s" in details else None),
             ("report", now())]
    sections = [scores_section(results, data), samples_section(model, data, results, seed),
                neighbours_section(model, data, results, seed), interpolation_section(model, data, seed),
                *latent_sections(model, data, seed), curves_section(run), config_section(config, model, data)]
    foot = (f"run folder {run} · written by latentspace in {time.perf_counter() - t0:.1f} s · "
            "self-contained: every picture is embedded")
    shown = {s.ident for s in sections}
    nav = [(ident, title) for ident, title in RUN_SECTIONS.items() if ident in shown]
    title = f"{model.name} on {data.name}"
    return render("run.html", title=title, facts=facts, sections=sections, nav=nav, foot=foot)


# -- scores ------------------------------------------------------------------------------------------------
def scores_section(results: dict, data) -> Section:
    if results.get("unavailable"):
        return _section("scores", f"scores unavailable: {results['unavailable']}")
    if not results.get("scores"):
        return _section("scores", "the evaluation returned no scores")
    scores, floor = results.get("scores") or {}, results.get("floor") or {}
    info = score_info()
    rows = []
    for key in score_keys(scores, info=info):
        better = info.get(key, (key, ""))[1]
        rows.append({"label": score_label(key, results), "key": key, "better": better,
                     "value": score_text(key, scores.get(key), results, fmt),
                     "floor": score_text(key, floor.get(key), results, fmt)})
    intro = (f"{fmt(results.get('n_samples'))} samples, seed {fmt(results.get('seed'))}. The floor is the "
             "same score for held-out real items in place of samples: what a model drawing exactly from the "
             "data would get. Scores far from their floor are bad; scores beyond it usually mean memorisation.")
    return _section("scores", intro, kind="scores", data={"rows": rows, "notes": result_notes(results)})


# -- samples -----------------------------------------------------------------------------------------------
def samples_section(model, data, results: dict, seed: int) -> Section:
    spec = model.info_.spec
    if spec.scatter:
        what = f"{spec.scatter_items:,} samples (red) over {spec.scatter_items:,} training points (grey)"
    else:
        what = f"{spec.grid_items} samples, shown pixel for pixel"
    figures = samples_pictures(model, data, seed, f"samples of {model.name}", target=480)
    if len(figures) > 1:
        what += "; after them, " + " and ".join(f.caption for f in figures[1:])
    hist = class_histogram(results, data)
    if hist is not None:
        figures.append(hist)
        what += "; beside them, the classes of the evaluation's samples as the domain classifier sees them"
    return _section("samples", f"{what}; seed {seed}.", figures, row=True)


def class_histogram(results: dict, data) -> Picture | None:
    """Bars of the classes of the evaluation's samples (and of held-out items), when it has them."""
    d = results.get("details") or {}
    hist = d.get("class_histogram")
    if not hist:
        return None
    k = len(hist)
    names = list(data.classes or [])[:k] if data is not None else []
    names = names if len(names) == k else [str(i) for i in range(k)]
    fig, ax = new_figure((max(4.0, 0.3 * k + 1.0), 2.6))
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
    return figure_picture(fig, "class histogram")


# -- nearest training items ------------------------------------------------------------------------------
def evaluation_pairs(model, data, results: dict):
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
    x = draw(model, n, int(seed), data)
    return x[s_idx], data.to_data(data.x[t_idx]), dist


def neighbours_section(model, data, results: dict, seed: int) -> Section:
    from latentspace.plots import nearest_neighbour_gallery, nearest_training_items

    found = evaluation_pairs(model, data, results)
    if found is not None:
        samples, neighbours, dist = found
        features = (results.get("details") or {}).get("features", "feature")
        intro = (f"The {len(dist)} samples (of the evaluation's {results['n_samples']:,}) closest to a training "
                 f"item, beside that item; distance measured in the evaluation's {features} feature space.")
    else:
        x = draw(model, NEIGHBOUR_SAMPLES, seed, data)
        idx, d = nearest_training_items(x, data)   # read a slice at a time (memory-mapped data)
        order = torch.argsort(d)[:NEIGHBOUR_PAIRS]
        samples, neighbours, dist = x[order], data.to_data(data.x[idx[order]]), d[order].tolist()
        intro = (f"The {len(dist)} of {NEIGHBOUR_SAMPLES} samples (seed {seed}) closest to a training item, "
                 "beside that item; Euclidean distance in data space.")
        if data.test is not None:
            held = data.test.to_data(data.test.x[:NEIGHBOUR_SAMPLES])
            _, dh = nearest_training_items(held, data)
            intro += (f" For comparison, held-out real items lie at a median distance of {fmt(float(dh.median()))} "
                      f"from their nearest training item (samples: {fmt(float(d.median()))}).")
    info = model.info_
    fig = nearest_neighbour_gallery(samples, neighbours, dist, info,
                                    reference=reference(data, info.spec.scatter_items, seed))
    return _section("neighbours", intro, [figure_picture(fig, "nearest training items")])


# -- the latent space ----------------------------------------------------------------------------------------
def interpolation_section(model, data, seed: int) -> Section:
    from latentspace.plots import interpolation_paths, interpolation_strip

    d = model.latent_width()
    if model.latent == "discrete":
        return _section("interpolation",
                        f"{model.name} encodes items as a grid of discrete codes (indices into its codebook): there "
                        "is no continuous latent space to walk through. Its reconstructions and its quantised codes "
                        "are drawn below.")
    if d is None:
        return _section("interpolation", f"{model.name} has no latent space: it models the data directly.")
    info = model.info_
    held = held_out(data)
    rows = info.spec.interpolation_rows
    walk = interpolation_paths(model, held.to_data(), labels=held.y if model.conditional else None,
                               rows=rows, steps=INTERPOLATION_STEPS, seed=seed)
    fig = interpolation_strip(walk["paths"], info, ends=walk["ends"],
                              reference=reference(data, info.spec.scatter_items, seed), row_labels=walk["classes"])
    how = ("linear interpolation between the encodings of held-out items (shown in red at both ends)"
           if walk["method"] == "lerp" else "spherical interpolation between random Gaussian codes")
    if walk["labels"] is not None:
        how += ("; the model is conditional, so each path is decoded as one class (beside the row)"
                + (", between two items of that class encoded given it" if walk["ends"] is not None else ""))
    intro = f"{rows} paths of {INTERPOLATION_STEPS} steps through the {d}-d latent space: {how}; seed {seed}."
    return _section("interpolation", intro, [figure_picture(fig, "latent interpolation")])


def latent_sections(model, data, seed: int) -> list[Section]:
    """Reconstructions, the projected latent means and (2-D latents) the manifold, for models that
    encode; none for the others. A picture that cannot be drawn says why instead."""
    if not model.encodes:
        return []
    sections = {"reconstructions": reconstructions_section, "latents": latents_section}
    if model.latent_width() == 2:
        sections["manifold"] = manifold_section
    out = []
    for ident, section in sections.items():
        try:
            out.append(section(model, data, seed))
        except UserError as e:
            out.append(_section(ident, f"not drawn: {e}"))
    return out


def _decoded(model) -> str:
    """What a reconstruction is, in the model's terms."""
    if model.conditional:
        return ("decode(encode(x, y), y), the decoder's mean at the posterior mean given each item's own label y "
                "(the model is conditional)")
    if model.latent == "discrete":
        return "decode(encode(x)), the decoder's mean at the item's quantised code z_q(x)"
    return "decode(encode(x)), the decoder's mean at the posterior mean"


def reconstructions_section(model, data, seed: int) -> Section:
    from latentspace.plots import reconstruct, reconstructions

    spec = model.info_.spec
    held = held_out(data)
    n = min(spec.reconstructions, len(held))
    idx = torch.randperm(len(held), generator=torch.Generator().manual_seed(seed))[:n]
    items = held.to_data(held.x[idx])
    labels = held.y[idx] if model.conditional and held.y is not None else None
    fig = reconstructions(model, items, labels, ncols=8,
                          reference=reference(data, spec.scatter_items, seed) if spec.scatter else None)
    mse = float(((reconstruct(model, items, labels) - items) ** 2).flatten(1).mean(1).mean())
    how = ("held-out points (blue) joined to their reconstructions (red)" if spec.scatter else
           "held-out items (rows marked input) above their reconstructions (recon.)")
    intro = (f"{n} {how}: {_decoded(model)}; mean squared error {fmt(mse)} per feature in data space; "
             f"seed {seed}.")
    return _section("reconstructions", intro, [figure_picture(fig, "reconstructions")])


def latents_section(model, data, seed: int) -> Section:
    from latentspace.plots import latent_projection

    held = held_out(data)
    fig = latent_projection(model, held, n=LATENT_POINTS, seed=seed)
    d = model.latent_width()
    n = min(LATENT_POINTS, len(held))
    how = "the 2-D codes as they are" if d is not None and d <= 2 else "their first two principal components"
    colour = ", coloured by class" if held.y is not None else ""
    if model.conditional:
        intro = (f"Encodings given the label (posterior means E[z|x, y], each item with its own label y) of {n:,} "
                 f"held-out items{colour}: {how}. When the encoder sees the label, the label carries the class and z "
                 "the style (slant, thickness, size), so the classes overlap here by design; well-mixed classes "
                 "mean that z does not repeat what the label says. Other projections: "
                 "latentspace plot RUN --kind latents --method tsne (or umap).")
    else:
        what = ("the quantised code vectors z_q(x) of the grid, flattened" if model.latent == "discrete"
                else "posterior means E[z|x]")
        intro = (f"Encodings ({what}) of {n:,} held-out items{colour}: {how}. Classes that the "
                 "encoder separates without ever seeing a label lie apart. Other projections: "
                 "latentspace plot RUN --kind latents --method tsne (or umap).")
    return _section("latents", intro, [figure_picture(fig, "latent means")])


def manifold_section(model, data, seed: int) -> Section:
    from latentspace.plots import latent_manifold

    spec = model.info_.spec
    side = spec.manifold_side
    fig = latent_manifold(model, side, reference=reference(data, spec.scatter_items, seed) if spec.scatter else None)
    intro = (f"The decoder over the 2-D latent plane: {side} × {side} codes at the prior's quantiles 0.05 to "
             "0.95 in each dimension (as in Kingma & Welling 2014, Fig. 4), so each tile covers the same prior "
             "mass" + ("; drawn as a mesh over the training points" if spec.scatter else ""))
    if model.conditional:
        first = (model.info_.classes or ["0"])[0]
        intro += (f"; the model is conditional, so every code is decoded as the first class, {first} "
                  "(other classes: latentspace plot RUN --kind manifold --label CLASS)")
    return _section("manifold", intro + ".", [figure_picture(fig, "latent manifold")])


# -- training and configuration ------------------------------------------------------------------------------
def curves_section(run: Path) -> Section:
    from latentspace.plots import training_curves
    from latentspace.train.run import METRICS

    path = run / METRICS
    if not path.is_file():
        return _section("curves", "Fitted in one go: there are no training curves.")
    try:
        fig = training_curves(path)
    except UserError as e:
        return _section("curves", str(e))
    return _section("curves", "Every logged column of metrics.csv against the training step.",
                    [figure_picture(fig, "training curves")])


def config_section(config: dict, model, data) -> Section:
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
    tables = [(f"model: {model.name}", params), ("training", train), ("data", data_items)]
    version = f"latentspace {config['version']}" if config.get("version") else ""
    return _section("config", "From the run's config.json. " + version, kind="config", data=tables)
