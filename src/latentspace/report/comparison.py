"""The comparison page: several models trained on one dataset side by side
(``templates/comparison.html``): a scores table with the best model marked, training and
sampling time, and a sample picture per model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from latentspace.errors import UserError
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
    """One row per score: its label, each model's value (the best marked) and the floor."""
    info = score_info()
    out = []
    for key in score_keys(*(r["results"].get("scores") for r in rows), info=info):
        label, better = info.get(key, (key, ""))
        values = [(r["results"].get("scores") or {}).get(key) for r in rows]
        top = best(values, better)
        floor = next(((r["results"].get("floor") or {}).get(key) for r in rows
                      if key in (r["results"].get("floor") or {})), None)
        out.append({"label": label, "key": key, "better": better, "floor": floor,
                    "cells": [{"value": v, "best": i in top} for i, v in enumerate(values)]})
    return out


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
                kind="scores", data={"labels": [r["label"] for r in rows], "rows": score_rows(rows)}),
        Section("speed", COMPARISON_SECTIONS["speed"],
                "Wall time on this machine; samples/s as measured by the evaluation.", kind="speed", data=rows),
        Section("samples", COMPARISON_SECTIONS["samples"], f"{what}; seed {seed}.", pictures, row=True)]
    title = f"{' vs '.join(r['label'] for r in rows)} on {name}"
    return render("comparison.html", title=title, facts=facts, sections=sections,
                  nav=list(COMPARISON_SECTIONS.items()),
                  foot="written by latentspace · self-contained: every picture is embedded")
