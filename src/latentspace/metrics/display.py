"""How an evaluation is shown: score labels, values (counts as counts), the text table of
``latentspace evaluate`` and the notes under it (the report pages show the same notes).

The notes say what a reader needs to read the numbers right: the features, the items compared,
what the likelihood is a likelihood of and how it was measured, when a score rests on few items,
and why a kernel distance can be printed below 0.
"""

from __future__ import annotations

#: score key -> (label, which way is better: "lower", "higher" or "0.5")
SCORE_INFO: dict[str, tuple[str, str]] = {
    "fd": ("Fréchet distance (domain features)", "lower"),
    "kid_mean": ("kernel inception distance (KID)", "lower"),
    "precision": ("precision, k=5 (fidelity)", "higher"),
    "recall": ("recall, k=5 (diversity)", "higher"),
    "density": ("density, k=5 (fidelity; ~1 for real data)", "higher"),
    "coverage": ("coverage, k=5 (diversity)", "higher"),
    "mmd": ("MMD², RBF kernel", "lower"),
    "c2st_accuracy": ("classifier two-sample test accuracy", "0.5"),
    "memorised_fraction": ("suspiciously close to a training item", "lower"),
    "class_coverage": ("classes with >= 1% of samples", "higher"),
    "class_entropy": ("class-histogram entropy (1 = uniform)", "higher"),
    "conditional_accuracy": ("classified as the requested label", "higher"),
    "modes_captured": ("modes captured (PacGAN)", "higher"),
    "high_quality_fraction": ("high-quality samples, within 3 sigma (PacGAN)", "higher"),
    "reverse_kl": ("reverse KL of the mode histogram (PacGAN)", "lower"),
    "nll_nats": ("held-out negative log-likelihood, nats", "lower"),
    "nll_bits_per_dim": ("held-out negative log-likelihood, bits/dim", "lower"),
    "nelbo_nats": ("held-out negative ELBO (bounds the NLL above), nats", "lower"),
    "nelbo_bits_per_dim": ("held-out negative ELBO, bits/dim", "lower"),
}

#: the held-out likelihood's scores: ranked only within one kind, on the same items
LIKELIHOOD_KEYS = ("nll_nats", "nll_bits_per_dim", "nelbo_nats", "nelbo_bits_per_dim")
#: the negative ELBO is a bound whatever the model's likelihood_kind
BOUND_KEYS = ("nelbo_nats", "nelbo_bits_per_dim")

#: counts shown as "covered/total": score key -> (the details' key of the total, whether the score is a fraction)
COUNTS = {"class_coverage": ("classes_total", True), "modes_captured": ("modes_total", False)}

#: unbiased estimates of a squared distance: can come out below 0 when the distance is 0
UNBIASED = ("kid_mean", "mmd")

#: below this many items a side (two-set scores) or held-out items (the NLL), the notes say so
FEW_ITEMS = 500


def score_label(key: str, results: dict) -> str:
    """A score's label; a likelihood's says what it is a likelihood of and how it was measured."""
    label = SCORE_INFO.get(key, (key, ""))[0]
    tag = likelihood_tag(key, results.get("details") or {})
    return f"{label} ({tag})" if tag else label


def likelihood_tag(key: str, details: dict, with_kind: bool = True) -> str | None:
    """"density of data-space values, exact" for a likelihood score key; None for other keys."""
    from latentspace.metrics.likelihood import likelihood_label

    if key not in LIKELIHOOD_KEYS:
        return None
    how = "bound" if key in BOUND_KEYS else details.get("likelihood")
    parts = [likelihood_label(details) or "kind not recorded"] if with_kind else []
    parts += [str(how)] if how else []
    return ", ".join(parts) or None


def count_text(key: str, value, details: dict) -> str | None:
    """A count as a count ("10/10", "25/25"), or None when ``key`` is no count or its total is unknown."""
    if key not in COUNTS or value is None or isinstance(value, bool):
        return None
    total_key, fraction = COUNTS[key]
    total = details.get(total_key)
    if not isinstance(total, int) or isinstance(total, bool) or total < 1:
        return None
    count = round(float(value) * total) if fraction else int(value)
    return f"{count}/{total}"


def score_text(key: str, value, results: dict, fmt=None) -> str:
    """A value as a table shows it: counts as counts, the rest by ``fmt`` (default: 4 digits)."""
    counted = count_text(key, value, results.get("details") or {})
    return counted if counted is not None else (fmt or _fmt)(value)


def format_results(results: dict) -> str:
    """A text table: one row per score, the model's value beside the floor, and which way is better;
    then the notes of :func:`result_notes`."""
    scores, floor = results.get("scores", {}), results.get("floor", {})
    arrows = {"lower": "lower", "higher": "higher", "0.5": "0.5 best"}
    rows = []
    for key, value in scores.items():
        better = SCORE_INFO.get(key, (key, ""))[1]
        rows.append((score_label(key, results), score_text(key, value, results),
                     score_text(key, floor.get(key), results), arrows.get(better, "")))
    widths = [max(len(r[i]) for r in rows + [("score", "model", "floor", "better")]) for i in range(4)]
    head = ("score", results.get("model", "model"), "floor", "better")
    widths = [max(w, len(h)) for w, h in zip(widths, head)]
    line = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    out = [f"{results.get('model')} on {results.get('data')}: {results.get('n_samples')} samples "
           f"(seed {results.get('seed')}); floor = held-out real items vs training items",
           line.format(*head), line.format(*("-" * w for w in widths))]
    out += [line.format(*r) for r in rows]
    return "\n".join(out + result_notes(results))


def result_notes(results: dict) -> list[str]:
    """What the evaluation's ``details`` say, one sentence each: the features and their held-out
    quality, the items compared (and when they are few), what the likelihood is and how it was
    measured, kernel distances below 0, active latent units, sampling speed and the evaluation's
    time. Printed under the text table and listed under the report's scores."""
    from latentspace.metrics.likelihood import ESTIMATED, MEASURED, likelihood_label

    d = results.get("details") or {}
    notes = []
    if "features" in d:
        feat = f"features: {d['features']}"
        if d.get("feature_dim") is not None:
            feat += f" ({d['feature_dim']}-d)"
        if "feature_accuracy" in d:
            feat += f", held-out accuracy {d['feature_accuracy']:.3f}"
        if "feature_reconstruction_mse" in d:
            feat += f", held-out reconstruction MSE {d['feature_reconstruction_mse']:.4g}"
        notes.append(feat)
    if "n_compared" in d:
        notes.append(f"two-set scores on {_count(d['n_compared'])} items a side")
    if "likelihood" in d:
        estimator = d.get("likelihood_estimator")
        unit = "probes" if estimator else "importance samples"
        k = f" with k={d['likelihood_k']} {unit}" if "likelihood_k" in d else ""
        items = f", on {_count(d['nll_items'])} held-out items" if d.get("nll_items") is not None else ""
        how = f"; {d['likelihood_items']}" if d.get("likelihood_items") else ""
        of = likelihood_label(d, long=True) or "what it is a likelihood of was not recorded"
        kind = f" ({d['likelihood_of']})" if d.get("likelihood_of") else ""
        measured = (ESTIMATED.get(estimator) or MEASURED.get(d["likelihood"], str(d["likelihood"]))).format(k=k)
        notes.append(f"likelihood{kind}: {of}; {measured}{items}{how}")
    notes += few_items_notes(d)
    notes += negative_notes({"model": results.get("scores") or {}, "floor": results.get("floor") or {}})
    if "active_units" in d:
        notes.append(f"active latent units (Burda et al. 2016): {d['active_units']} of {d.get('latent_dim')}")
    if "samples_per_s" in d:
        notes.append(f"sampling: {float(d['samples_per_s']):,.0f} samples/s")
    if "eval_seconds" in d:
        notes.append(f"evaluation took {format_seconds(d['eval_seconds'])}")
    return notes


def few_items_notes(details: dict) -> list[str]:
    """Notes for scores resting on few items: the two-set scores on fewer than ``FEW_ITEMS`` items a
    side, the NLL on fewer than ``FEW_ITEMS`` held-out items (with its standard error)."""
    notes = [few_compared_note(details.get("n_compared"))]
    if "likelihood" in details:
        notes.append(few_nll_note(details))
    return [n for n in notes if n]


def few_compared_note(m) -> str | None:
    """The note for two-set scores on ``m`` items a side, when ``m`` is under ``FEW_ITEMS``."""
    if not (_is_int(m) and m < FEW_ITEMS):
        return None
    return (f"few items: the two-set scores compare only {_count(m)} items a side (fewer than {FEW_ITEMS}; as many "
            "as the held-out split or the samples allow); at this size the Fréchet distance is biased upwards and "
            "every score varies from draw to draw, so read small differences as noise")


def few_nll_note(details: dict, what: str = "the NLL") -> str | None:
    """The note for an NLL on fewer than ``FEW_ITEMS`` held-out items, with its standard error."""
    k = details.get("nll_items")
    if not (_is_int(k) and k < FEW_ITEMS):
        return None
    return f"few items: {what} rests on only {_count(k)} held-out items{_sem(details)}{_more(details)}"


def few_nll_notes(labelled: list[tuple[str, dict]]) -> list[str]:
    """One note for the NLLs of several models (label, details) resting on few held-out items."""
    few = [(label, d) for label, d in labelled if "likelihood" in d and few_nll_note(d)]
    if len(few) < 2:
        return [few_nll_note(d, f"the NLL of {label}") for label, d in few]
    each = "; ".join(f"{label} {_count(d['nll_items'])}{_sem(d)}{_more(d)}" for label, d in few)
    return [f"few items: the NLLs rest on few held-out items (fewer than {FEW_ITEMS}): {each}"]


def _sem(details: dict) -> str:
    sem = details.get("nll_sem_nats")
    return f" (standard error ±{sem:.3g} nats)" if isinstance(sem, (int, float)) and not isinstance(sem, bool) else ""


def _more(details: dict) -> str:
    """How to score more items: --nll-items while the held-out split has more, else a larger split."""
    k, have = details.get("nll_items"), details.get("heldout_items")
    if _is_int(have) and _is_int(k) and k >= have:
        return ", all the held-out split has"
    return "; score more with --nll-items" if _is_int(have) else ""


def negative_notes(values: dict[str, dict]) -> list[str]:
    """A note per unbiased kernel distance shown below 0; ``values``: where ("model", a model's
    label, "floor") -> its scores."""
    notes = []
    for key in UNBIASED:
        below = [f"{where} {_fmt(v)}" for where, scores in values.items()
                 if isinstance(v := scores.get(key), (int, float)) and not isinstance(v, bool) and v < 0]
        if below:
            notes.append(f"{SCORE_INFO[key][0]} below 0 ({', '.join(below)}): it is an unbiased estimate, and the "
                         "unbiased estimate of a value that is 0 can come out slightly below 0; read it as 0 "
                         "within its noise")
    return notes


def format_seconds(s) -> str:
    """A duration for people: "4.2 s", "95 s", "12.5 min", "3.1 h"; "—" when unknown."""
    if s is None:
        return "—"
    s = float(s)
    if s < 120:
        return f"{s:.3g} s" if s < 10 else f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def _is_int(n) -> bool:
    return isinstance(n, int) and not isinstance(n, bool)


def _count(n) -> str:
    return f"{n:,}" if _is_int(n) else str(n)


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
