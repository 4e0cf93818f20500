"""The comparison page: several models trained on one dataset side by side
(``templates/comparison.html``): a scores table with the best model marked, training and
sampling time, and a sample picture per model.

Only like is ranked with like: the held-out likelihoods are grouped by what they are a likelihood
of and the items they were measured on (:func:`~latentspace.metrics.likelihood.likelihood_group`),
each group under its own header, ranked within itself, and a note says why groups are not ranked
against each other."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from latentspace.errors import UserError
from latentspace.metrics.display import (LIKELIHOOD_KEYS, few_compared_note, few_nll_notes, likelihood_tag,
                                         negative_notes, score_text)
from latentspace.metrics.likelihood import likelihood_group, likelihood_label
from latentspace.report.html import ARROWS, Section, fmt, now, render, samples_picture, score_info, score_keys
from latentspace.runs import RESULTS, load_run, read_config, training_seconds
from latentspace.storage import read_json

#: the sections of a comparison: id -> title (the header's links)
COMPARISON_SECTIONS = {"scores": "Scores", "speed": "Training and sampling time", "samples": "Samples"}


def comparison_entry(entry: dict, i: int) -> dict:
    """Normalise one entry of :func:`~latentspace.report.write_comparison`: model, config, results,
    label, timings."""
    if not isinstance(entry, dict):
        raise UserError(f"entry {i} of the comparison must be a dict with 'run' or 'model', got "
                        f"{type(entry).__name__}")
    run = Path(entry["run"]) if entry.get("run") is not None else None
    if entry.get("model") is not None:
        model = entry["model"]
        config = read_config(run) if run is not None else {}
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
            "train_seconds": entry.get("train_seconds", training_seconds(run)),
            "samples_per_s": entry.get("samples_per_s", details.get("samples_per_s")),
            "steps": (config.get("train") or {}).get("steps")}


def best(values: list, better: str) -> set[int]:
    """Indices of the best of ``values`` (numbers; others ignored) in direction ``better``."""
    nums = [(i, float(v)) for i, v in enumerate(values)
            if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and math.isfinite(float(v))]
    if len(nums) < 2 or better not in ARROWS:
        return set()
    key = {"lower": lambda v: v, "higher": lambda v: -v, "0.5": lambda v: abs(v - 0.5)}[better]
    top = min(key(v) for _, v in nums)
    return {i for i, v in nums if key(v) == top}


def score_rows(rows: list[dict]) -> list[dict]:
    """One row per score: its label, each model's value (the best marked) and the floor. The held-out
    likelihoods come last, under one header row per kind (:func:`likelihood_rows`): each is ranked
    only against likelihoods of the same kind on the same held-out items."""
    info = score_info()
    keys = score_keys(*(r["results"].get("scores") for r in rows), info=info)
    out = []
    for key in keys:
        if key in LIKELIHOOD_KEYS:
            continue
        label, better = info.get(key, (key, ""))
        values = [(r["results"].get("scores") or {}).get(key) for r in rows]
        top = best(values, better)
        owner = next((r["results"] for r in rows if key in (r["results"].get("floor") or {})), {})
        floor = (owner.get("floor") or {}).get(key)
        out.append({"label": label, "key": key, "better": better,
                    "floor": score_text(key, floor, owner, fmt) if owner else fmt(None),
                    "cells": [{"text": score_text(key, v, r["results"], fmt), "best": i in top, "tag": ""}
                              for i, (r, v) in enumerate(zip(rows, values))]})
    return out + likelihood_rows(rows, [k for k in keys if k in LIKELIHOOD_KEYS])


def likelihood_groups(rows: list[dict]) -> dict:
    """The models with a held-out likelihood, by what makes their NLLs comparable
    (:func:`~latentspace.metrics.likelihood.likelihood_group`): group -> indices of ``rows``. A
    model whose evaluation did not record its likelihood's kind is a group of its own, never ranked."""
    groups: dict = {}
    for i, r in enumerate(rows):
        if "nll_nats" not in (r["results"].get("scores") or {}):
            continue
        group = likelihood_group(r["results"])
        groups.setdefault(group if group is not None else ("unrecorded", i), []).append(i)
    return groups


def _group_caption(rows: list[dict], members: list[int]) -> str:
    d = rows[members[0]]["results"].get("details") or {}
    who = ", ".join(rows[i]["label"] for i in members)
    what = likelihood_label(d) or "kind not recorded (evaluated by an older version): not ranked"
    items = f" on {fmt(d['nll_items'])} held-out items" if d.get("nll_items") is not None else ""
    return f"held-out likelihood: {what}{items} — {who}"


def likelihood_rows(rows: list[dict], keys: list[str]) -> list[dict]:
    """The likelihood rows: a header row per group of comparable likelihoods (the kind, the items,
    the models), then its scores, each ranked within the group; cells of other groups are empty."""
    info = score_info()
    out = []
    for group, members in likelihood_groups(rows).items():
        out.append({"group": _group_caption(rows, members)})
        for key in keys:
            label, better = info.get(key, (key, ""))
            values = [(rows[i]["results"].get("scores") or {}).get(key) if i in members else None
                      for i in range(len(rows))]
            if all(v is None for v in values):
                continue
            top = best(values, better) if group[0] != "unrecorded" else set()
            cells = [{"text": fmt(v) if i in members else "", "best": i in top,
                      "tag": (likelihood_tag(key, rows[i]["results"].get("details") or {}, with_kind=False) or "")
                      if v is not None else ""} for i, v in enumerate(values)]
            out.append({"label": label, "key": key, "better": better, "floor": fmt(None), "cells": cells})
    return out


def score_notes(rows: list[dict]) -> list[str]:
    """The notes under the comparison's scores: how they are ranked, why some likelihoods are not
    ranked against each other, kernel distances below 0, scores resting on few items."""
    notes = ["Bold: the best model on that score; held-out likelihoods are ranked only against likelihoods of "
             "the same kind on the same held-out items. The floor is the score of held-out real items in place "
             "of samples."]
    groups = likelihood_groups(rows)
    if len(groups) > 1:
        notes.append(unranked_note(rows, groups))
    values = {r["label"]: r["results"].get("scores") or {} for r in rows}
    values["floor"] = next((r["results"].get("floor") for r in rows if r["results"].get("floor")), {})
    notes += negative_notes(values)
    first = rows[0]["results"].get("details") or {}
    notes += [n for n in [few_compared_note(first.get("n_compared"))] if n]
    notes += few_nll_notes([(r["label"], r["results"].get("details") or {}) for r in rows])
    return notes


def unranked_note(rows: list[dict], groups: dict) -> str:
    """Why the likelihoods of ``groups`` are not ranked against each other, in words."""
    parts, kinds, items = [], set(), set()
    for members in groups.values():
        d = rows[members[0]]["results"].get("details") or {}
        who = ", ".join(rows[i]["label"] for i in members)
        what = likelihood_label(d, long=True) or "its kind was not recorded (evaluated by an older version)"
        on = f"; measured on {fmt(d['nll_items'])} held-out items" if d.get("nll_items") is not None else ""
        how = f", {d['likelihood_items']}" if d.get("likelihood_items") else ""
        parts.append(f"{who}: {what}{on}{how}")
        kinds.add(d.get("likelihood_of"))
        items.add((d.get("nll_items"), d.get("likelihood_items")))
    why = []
    if len(kinds) > 1:
        why.append("likelihoods of different kinds are on different scales (a density of values in a small range "
                   "can exceed 1, so its NLL can fall below 0, while a probability cannot), so comparing their "
                   "numbers says nothing about which model is better")
    if len(items) > 1:
        why.append("NLLs of different held-out items (how many, or how they were prepared) answer different "
                   "questions")
    if any(g[0] == "unrecorded" for g in groups):
        why.append("a likelihood whose kind was not recorded is ranked against none (evaluate the run again)")
    reasons = "; and ".join(why)
    return ("The held-out likelihoods are not all of one kind on the same items, so they are not ranked against "
            "each other. " + ". ".join(parts) + ". " + reasons[:1].upper() + reasons[1:] + ".")


def comparison_page(rows: list[dict], data, *, seed: int) -> str:
    """The HTML of a comparison of the normalised entries ``rows`` (see :func:`comparison_entry`)."""
    info = rows[0]["model"].info_
    spec = info.spec
    name = data.name if data is not None else info.name
    first = rows[0]["results"]
    facts = [("models", ", ".join(r["label"] for r in rows)), ("data", name),
             ("samples scored", fmt(first.get("n_samples")) if first.get("n_samples") else None),
             ("report", now())]
    compared = (first.get("details") or {}).get("n_compared")
    what = (f"{spec.scatter_items:,} samples per model (red) over training points (grey)" if spec.scatter
            else f"{spec.grid_items} samples per model, pixel for pixel")
    pictures = [samples_picture(r["model"], data, seed, f"samples of {r['label']}", target=300, caption=r["label"])
                for r in rows]
    sections = [
        Section("scores", COMPARISON_SECTIONS["scores"],
                f"{fmt(first.get('n_samples'))} samples per model, seed {fmt(first.get('seed'))}"
                + (f"; two-set scores (FD to C2ST) on {fmt(compared)} items a side, as many as the "
                   "held-out split has" if compared else "") + ".",
                kind="scores", data={"labels": [r["label"] for r in rows], "rows": score_rows(rows),
                                     "notes": score_notes(rows)}),
        Section("speed", COMPARISON_SECTIONS["speed"],
                "Wall time on this machine; samples/s as measured by the evaluation.", kind="speed", data=rows),
        Section("samples", COMPARISON_SECTIONS["samples"], f"{what}; seed {seed}.", pictures, row=True)]
    title = f"{' vs '.join(r['label'] for r in rows)} on {name}"
    return render("comparison.html", title=title, facts=facts, sections=sections,
                  nav=list(COMPARISON_SECTIONS.items()),
                  foot="written by latentspace · self-contained: every picture is embedded")
