"""Birdsong syllables: one fixed-size log-magnitude spectrogram per syllable of a folder of recordings.

``load("birdsong", data_dir=DIR)`` finds the recordings under ``DIR`` (WAV, FLAC, OGG, AIFF at any
sample rate, and ``.cbin`` with its ``.rec``; :mod:`.audio`) and their annotations (notmat,
Koumura's XML, Audacity labels, Praat TextGrid, Raven tables, simple CSV; :mod:`.birdsong_annotations`).
Annotated syllables are read as spans of the recordings and their labels become the classes;
recordings without any annotation are segmented by amplitude and the syllables are unlabelled.
Each syllable becomes a spectrogram whose STFT settings travel in ``info.extra["stft"]``
(:mod:`latentspace.modalities.spectrogram`), so that samples turn back into sound. Recordings, not
syllables, are split: no recording has syllables in both splits. See ``docs/birdsong.md``.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from latentspace.data import audio, birdsong_annotations as annotations
from latentspace.data.collections import natural_key
from latentspace.data.arrays import check_float, check_fraction, check_int, modality_info
from latentspace.data.dataset import Dataset, make_dataset
from latentspace.data.registry import register
from latentspace.errors import UserError
from latentspace.modalities.spectrogram import TIME_MODES, floor_items, spectrograms, stft_settings

SEGMENTS = ("auto", "annotations", "threshold")
#: why a recording can be left out, in the order the summary names them
REASONS = ("unannotated", "no syllables")


def recordings(data_dir) -> tuple[Path, list[Path]]:
    """The folder and its sound files (any depth, hidden entries skipped), in natural order."""
    if data_dir is None:
        raise UserError("birdsong reads a folder of recordings: pass --data-dir PATH (data_dir=) holding WAV or "
                        ".cbin files and their annotations; or use birdsong-synthetic")
    folder = Path(data_dir).expanduser()
    if not folder.is_dir():
        raise UserError(f"no such folder: {folder}; pass --data-dir PATH (data_dir=) to the folder of recordings")
    files = [p for p in folder.rglob("*") if p.suffix.lower() in audio.AUDIO_SUFFIXES and p.is_file()
             and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    if not files:
        raise UserError(f"{folder} holds no recordings ({', '.join(audio.AUDIO_SUFFIXES)}); give the folder of "
                        "the bird's WAV (or .cbin + .rec) files")
    return folder, sorted(files, key=lambda p: natural_key(str(p.relative_to(folder))))


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def annotated(root: Path, recs: dict, fmt, notes: list) -> dict:
    """``{recording path: [(start, stop, label) in samples]}`` of the recordings the annotations cover."""
    found = annotations.find(root, fmt)
    if fmt is not None and not found:
        raise UserError(f"{root} holds no {fmt} annotations; drop annotation_format= to detect the format, or "
                        "pass segment='threshold' to find syllables by amplitude")
    out: dict = {}
    absent = Counter()
    for path, kind in found:
        for ann in annotations.read(path, kind, _rel(path, root)):
            target = annotations.recording_of(ann, kind, recs)
            if target is None:
                if kind not in annotations.COLLECTIONS:
                    raise UserError(f"{_rel(path, root)} annotates {ann.audio}, which is not in {root}; add the "
                                    "recording or move the annotation out of the folder")
                absent[_rel(path, root)] += 1
                continue
            out.setdefault(target, []).extend(_in_samples(ann, recs[target], _rel(path, root), _rel(target, root)))
    for source, k in absent.items():
        if not out:
            raise UserError(f"{source} annotates {k} recording(s), none of which is in {root}; put the recordings "
                            "(e.g. Wave/0.wav) beside the annotation")
        notes.append(f"{source}: annotations of {k} recording(s) not in the folder were ignored")
    return out


def _in_samples(ann, rec, source: str, target: str) -> list:
    """An annotation's syllables as (start, stop, label) samples of its recording, checked against its length."""
    scale = 1 if ann.unit == "sample" else rec.rate
    out = []
    for on, off, lab in ann.syllables:
        a, b = int(round(on * scale)), int(round(off * scale))
        if not (np.isfinite(on) and np.isfinite(off)) or b <= a or a < 0:
            raise UserError(f"{source}: a syllable of {target} runs from {on} to {off} {ann.unit}; onsets must "
                            "precede offsets: fix the annotation")
        if a >= rec.frames:
            raise UserError(f"{source}: a syllable at {a / rec.rate:.3f} s lies past the end of {target} "
                            f"({rec.seconds:.3f} s at {rec.rate} Hz); the annotation is of another recording or "
                            "another sample rate")
        out.append((a, min(b, rec.frames), lab))
    return out


def _target_rate(recs: dict, sample_rate, fmax: float, root: Path) -> tuple[int, dict]:
    """The rate every syllable is resampled to (``sample_rate``, or the most common), refusing a
    recording too slow to hold ``fmax``; and how many recordings are resampled from each rate."""
    rates = Counter(r.rate for r in recs.values())
    target = check_int("sample_rate", sample_rate, 1000) if sample_rate is not None else \
        max(rates, key=lambda r: (rates[r], r))
    for path, r in recs.items():
        if r.rate < 2 * fmax:
            raise UserError(f"{_rel(path, root)} is sampled at {r.rate} Hz, too slow for frequencies up to "
                            f"fmax={fmax:g} Hz; pass fmax={int(r.rate / 2) // 100 * 100} or move it out of the folder")
    return target, {str(k): v for k, v in sorted(rates.items()) if k != target}


def _syllables(root, recs, fmt, segment, channel, threshold, min_silence_ms, min_syllable_ms, band, notes):
    """``{recording: [(start, stop, label or None)]}`` and the rejected recordings by reason."""
    chosen = {} if segment == "threshold" else annotated(root, recs, fmt, notes)
    rejected: dict = {}
    if segment == "annotations" and len(chosen) < len(recs):
        miss = next(p for p in recs if p not in chosen)
        raise UserError(f"{_rel(miss, root)} has no annotation (segment='annotations' needs labels for every "
                        "recording); annotate it, move it out, or pass segment='auto' to leave it out")
    if chosen:
        for p in recs:
            if p not in chosen:
                rejected.setdefault("unannotated", []).append(_rel(p, root))
        return chosen, rejected, None
    found, levels = {}, []
    for p, rec in recs.items():
        spans, level = audio.segment(rec, channel, threshold, min_silence_ms, min_syllable_ms, band, _rel(p, root))
        found[p] = [(a, b, None) for a, b in spans]
        levels.append(level)
    return found, rejected, levels


def _spectra(recs, spans, channel, rate, st, root):
    """Items (dB re full scale) of every syllable, recording by recording, and how many were cut."""
    clips, owner = [], []
    for p, syl in spans.items():
        rec = recs[p]
        for c in audio.read_spans(rec, [(a, b) for a, b, _ in syl], channel, _rel(p, root)):
            clips.append(audio.resample(c, rec.rate, rate))
        owner += [p] * len(syl)
    db, cut = spectrograms(clips, st, floor=False)   # floored later, at the training split's loudest
    return db, cut, owner


def _split_files(files: list, counts: list, test_fraction: float, seed: int, root: Path) -> set:
    """Recordings held out: a seeded order, taken until ``test_fraction`` of the syllables are held out."""
    if len(files) < 2:
        raise UserError(f"{root} has {len(files)} usable recording; give at least 2 (recordings, not syllables, "
                        "are held out, so no recording is in both splits)")
    order = np.random.default_rng(seed).permutation(len(files))
    target, held, out = test_fraction * sum(counts), 0, set()
    for i in order[:-1]:
        if out and held + counts[i] - target > target - held:   # the next would overshoot more than we lack
            break
        out.add(files[i])
        held += counts[i]
    return out


def _labels(owner_labels, min_per_class, notes):
    """Class names (natural order), the index of each syllable (-1: dropped), after ``min_per_class``."""
    counts = Counter(owner_labels)
    keep = sorted((c for c, k in counts.items() if k >= min_per_class), key=natural_key)
    if not keep:
        raise UserError(f"no label has {min_per_class} or more syllables (the most common, "
                        f"{counts.most_common(1)[0][0]!r}, has {counts.most_common(1)[0][1]}); lower min_per_class")
    dropped = sorted((c for c in counts if c not in keep), key=natural_key)
    if dropped:
        notes.append(f"dropped {sum(counts[c] for c in dropped):,} syllables of {len(dropped)} label(s) with fewer "
                     f"than {min_per_class} (min_per_class): " + ", ".join(f"{c}: {counts[c]}" for c in dropped[:12]))
    index = {c: i for i, c in enumerate(keep)}
    return keep, np.array([index.get(c, -1) for c in owner_labels], dtype=np.int64)


@register("birdsong", "birdsong syllables as spectrograms from a folder of recordings and their annotations "
                      "(data_dir=); labels from the annotations, or unlabelled syllables found by amplitude")
def birdsong(data_dir=None, annotation_format=None, segment="auto", channel=0, size=128, fmin=400.0,
             fmax=10000.0, time_mode="pad", window_ms=256.0, sample_rate=None, db_range=70.0, threshold="auto",
             min_silence_ms=5.0, min_syllable_ms=15.0, min_per_class=1, test_fraction=0.2, seed=0) -> Dataset:
    """Birdsong syllables from a folder of recordings, one log-magnitude spectrogram each.

    Parameters
    ----------
    data_dir : path
        The recordings (``.wav``/``.flac``/``.ogg``/``.aif(f)`` at any sample rate; ``.cbin`` with its
        ``.rec``) and their annotations, at any depth.
    annotation_format : str, optional
        crowsetta's name of the annotations' format (notmat, birdsong-recognition-dataset, aud-seq,
        textgrid, raven, simple-seq); detected from the files when not given.
    segment : {"auto", "annotations", "threshold"}
        ``"auto"``: the annotations' syllables when there are annotations (recordings without one are
        left out and listed), else syllables found by amplitude (unlabelled). ``"annotations"``: every
        recording must be annotated. ``"threshold"``: ignore annotations; find syllables by amplitude.
    channel : int
        The channel of multi-channel files (``.cbin`` song is channel 0).
    size : int
        Items are ``(1, size, size)``: ``size`` frequencies from ``fmin`` to ``fmax`` Hz (linear)
        by ``size`` frames.
    fmin, fmax : float
        The frequency range in Hz (400-10,000 suits finches).
    time_mode : {"pad", "stretch"}
        ``"pad"``: every item spans ``window_ms`` from the syllable's onset (silence after it;
        longer syllables are cut, and counted in the summary); ``"stretch"``: each syllable
        stretched (or squeezed) to the frames, durations lost (their median is the playback length).
    window_ms : float
        The ``"pad"`` window (256 ms: hop 2 ms at ``size=128``).
    sample_rate : int, optional
        Rate syllables are resampled to (default: the most common rate of the folder; recordings at
        other rates are resampled, and counted in ``info.extra["resampled_from"]``). A recording
        slower than ``2 * fmax`` is refused.
    db_range : float
        Items are dB re full scale, clipped ``db_range`` dB below the loudest training value.
    threshold : "auto" or float
        Segmentation by amplitude: a level in dB re full scale (in ``fmin``-``fmax``), or ``"auto"``:
        20 dB over each recording's background (its 10th-percentile 1 ms level).
    min_silence_ms, min_syllable_ms : float
        Segmentation: shorter gaps are closed, shorter syllables dropped.
    min_per_class : int
        Syllables of labels with fewer are left out (and named in the summary).
    test_fraction, seed : float, int
        Recordings are held out (in a seeded order) until ``test_fraction`` of the syllables are.

    Returns
    -------
    Dataset
        ``spectrogram`` items in dB; ``info.extra`` holds ``stft`` (the settings that turn items back
        into sound), ``display_range``, ``rejected`` recordings by reason, ``cut`` syllables and the
        rates resampled; ``data.files`` and ``data.segments`` ((file, onset s, offset s)) name each
        item's syllable; ``data.notes`` and ``data.summary()`` say what was loaded and left out.

    Examples
    --------
    >>> import latentspace as ls
    >>> d = ls.data.load("birdsong", data_dir="bfsongrepo_gy6or6")   # doctest: +SKIP
    >>> d.shape, d.classes[:4]                                          # doctest: +SKIP
    ((1, 128, 128), ['-', 'a', 'b', 'c'])
    """
    o = _options(segment, channel, size, fmin, fmax, time_mode, window_ms, db_range, threshold, min_silence_ms,
                 min_syllable_ms, min_per_class, test_fraction, seed)
    root, files = recordings(data_dir)
    recs = {p: audio.open_recording(p, _rel(p, root)) for p in files}
    for p, r in recs.items():
        audio.check_channel(r, o["channel"], _rel(p, root))
    notes: list = []
    spans, rejected, levels = _syllables(root, recs, annotation_format, o["segment"], o["channel"], o["threshold"],
                                         o["min_silence_ms"], o["min_syllable_ms"], (o["fmin"], o["fmax"]), notes)
    for p in [p for p in spans if not spans[p]]:
        rejected.setdefault("no syllables", []).append(_rel(p, root))
        del spans[p]
    if not spans:
        raise UserError(f"no syllables found in {root} ({_reject_summary(rejected, len(files))}); lower threshold= "
                        "or give annotations")
    used = {p: recs[p] for p in spans}
    rate, resampled = _target_rate(used, sample_rate, o["fmax"], root)
    return _dataset(root, files, used, spans, rejected, levels, rate, resampled, o, notes)


def _options(segment, channel, size, fmin, fmax, time_mode, window_ms, db_range, threshold, min_silence_ms,
             min_syllable_ms, min_per_class, test_fraction, seed) -> dict:
    if segment not in SEGMENTS:
        raise UserError(f"option segment must be one of {', '.join(SEGMENTS)}, got {segment!r}")
    if time_mode not in TIME_MODES:
        raise UserError(f"option time_mode must be 'pad' or 'stretch', got {time_mode!r}")
    if threshold != "auto":
        threshold = check_float("threshold", threshold)
    return {"segment": segment, "channel": check_int("channel", channel), "size": check_int("size", size, 8),
            "fmin": check_float("fmin", fmin, 0.0), "fmax": check_float("fmax", fmax, 1.0), "time_mode": time_mode,
            "window_ms": check_float("window_ms", window_ms, 1.0), "db_range": check_float("db_range", db_range, 1.0),
            "threshold": threshold, "min_silence_ms": check_float("min_silence_ms", min_silence_ms, 0.0),
            "min_syllable_ms": check_float("min_syllable_ms", min_syllable_ms, 0.0),
            "min_per_class": check_int("min_per_class", min_per_class, 1),
            "test_fraction": check_fraction(test_fraction), "seed": check_int("seed", seed)}


def _settings(o: dict, rate: int, durations) -> dict:
    hop_ms = o["window_ms"] / o["size"] if o["time_mode"] == "pad" else 1.0
    return stft_settings(rate, (o["size"], o["size"]), o["fmin"], o["fmax"], hop_ms=hop_ms,
                         win_ms=max(16.0, 4 * hop_ms), time_mode=o["time_mode"],
                         duration_ms=1000 * float(np.median(durations)) if len(durations) else None)


def _dataset(root, files, recs, spans, rejected, levels, rate, resampled, o, notes) -> Dataset:
    """The Dataset of the syllables ``spans`` of the recordings ``recs``: spectrograms, labels, the split."""
    labelled = levels is None
    if not labelled and o["min_per_class"] > 1:
        raise UserError(f"min_per_class needs labels, and {root} has no annotations (its syllables were found by "
                        "amplitude); drop min_per_class or add annotations")
    durations = [(b - a) / recs[p].rate for p, syl in spans.items() for a, b, _ in syl]
    st = _settings(o, rate, durations)
    db, cut, owner = _spectra(recs, spans, o["channel"], rate, st, root)
    labels = [lab for syl in spans.values() for _, _, lab in syl]
    keep = np.ones(len(db), bool)
    classes, y = None, None
    if labelled:
        classes, y = _labels(labels, o["min_per_class"], notes)
        keep = y >= 0
    kept = Counter(q for q, k in zip(owner, keep) if k)
    held = _split_files(list(spans), [kept[p] for p in spans], o["test_fraction"], o["seed"], root)
    test = np.array([q in held for q in owner]) & keep
    train = ~test & keep
    if not train.any() or not test.any():
        raise UserError(f"{root}: holding out recordings leaves the {'training' if not train.any() else 'test'} "
                        "split without syllables; give more recordings or another test_fraction")
    db = floor_items(db, st, o["db_range"], reference=train)
    extra = {"stft": st, "display_range": [st["db_floor"], st["db_floor"] + o["db_range"]], "rejected": rejected,
             "cut": int(cut), "resampled_from": resampled, "recordings": len(spans)}
    if levels is not None:
        extra["thresholds_db"] = [round(v, 1) for v in levels]
    info = modality_info("birdsong", "spectrogram", db.shape[1:], db[train], classes=classes, extra=extra)
    yy = (None, None) if y is None else (y[train], y[test])
    data = make_dataset(info.to_model(db[train]), yy[0], info=info, test_x=info.to_model(db[test]), test_y=yy[1],
                        label=str(root))
    segs = [(_rel(p, root), a / recs[p].rate, b / recs[p].rate) for p, syl in spans.items() for a, b, _ in syl]
    for d, mask in ((data, train), (data.test, test)):
        d.segments = [s for s, m in zip(segs, mask) if m]
        d.files = [s[0] for s in d.segments]
    data.notes = _notes(files, spans, held, rejected, cut, st, resampled, rate, notes)
    if rejected:
        warnings.warn(f"birdsong: {_reject_summary(rejected, len(files))}; the files are listed in "
                      "data.info.extra['rejected']", stacklevel=6)   # the caller of ls.data.load
    return data


def _reject_summary(rejected: dict, total: int) -> str:
    counts = ", ".join(f"{r}: {len(rejected[r])}" for r in REASONS if rejected.get(r))
    n = sum(len(v) for v in rejected.values())
    return f"left out {n:,} of {total:,} recordings ({counts or 'none'})"


def _notes(files, spans, held, rejected, cut, st, resampled, rate, notes) -> list[str]:
    out = [f"{len(spans)} recordings ({len(spans) - len(held)} training, {len(held)} held out) of {len(files)} "
           f"found; spectrograms {st['fmin'] / 1000:g}-{st['fmax'] / 1000:g} kHz at {rate} Hz, "
           + (f"{st['duration_ms']:g} ms windows" if st["time_mode"] == "pad" else
              f"stretched (median {st['duration_ms']:.0f} ms)")]
    if rejected:
        out.append(_reject_summary(rejected, len(files)) + ": "
                   + "; ".join(f"{r}: {', '.join(v[:5])}{' ...' if len(v) > 5 else ''}" for r, v in rejected.items()))
    if cut:
        out.append(f"{cut:,} syllables longer than the {st['duration_ms']:g} ms window were cut to it "
                   "(pass window_ms= or time_mode='stretch')")
    if resampled:
        out.append("resampled to " + f"{rate} Hz: " + ", ".join(f"{k} recording(s) at {r} Hz"
                                                                 for r, k in resampled.items()))
    return out + notes


# -- several birds in one latent space ------------------------------------------------------------------------
def _shared_settings(data) -> dict:
    """The spectrogram settings that must agree for birds to share a model (all but the dB floor)."""
    return {k: v for k, v in (data.info.extra.get("stft") or {}).items() if k != "db_floor"}


def pool_birds(birds: dict) -> Dataset:
    """One training set of several birds' training syllables, classes named ``bird:label``, so that one model
    puts all of them in one latent space (as AVA compared birds).

    ``birds`` maps a name to each bird's Dataset (from ``load("birdsong", ...)`` with the same options). Each
    loader floors its dB values at its own loudest level less its dB range; the pool floors them all at the
    highest of those floors, so that no bird's quieter background tells it apart. Give the model a bird's
    items on the pool's floor with :func:`on_pool_floor`.

    Examples
    --------
    >>> import latentspace as ls
    >>> a = ls.data.load("birdsong-synthetic", n=24, size=16)
    >>> b = ls.data.load("birdsong-synthetic", n=24, size=16, seed=1)
    >>> pool_birds({"a": a, "b": b}).classes[:2]
    ['a:upsweep', 'a:downsweep']
    """
    if not birds:
        raise UserError("pool_birds needs at least one bird's Dataset")
    first = next(iter(birds.values()))
    for name, data in birds.items():
        if "stft" not in data.info.extra:
            raise UserError(f"bird {name}'s items are not spectrograms made from sound; load it with 'birdsong'")
        if _shared_settings(data) != _shared_settings(first) or data.info.shape != first.info.shape:
            raise UserError(f"bird {name}'s spectrograms were made with other settings than the first bird's; "
                            "load every bird with the same options")
    floor = max(d.info.extra["stft"]["db_floor"] for d in birds.values())
    xs, ys, classes = [], [], []
    for name, data in birds.items():
        xs.append(data.to_data().clamp_min(floor))
        ys.append(data.y + len(classes))
        classes += [f"{name}:{c}" for c in data.info.classes]
    x = torch.cat(xs)
    extra = {"stft": {**first.info.extra["stft"], "db_floor": floor}, "display_range": [floor, float(x.max())]}
    info = modality_info("birdsong-pooled", first.info.modality, first.info.shape, x, classes=classes, extra=extra)
    return Dataset(info.to_model(x), torch.cat(ys), info=info, split="train")


def on_pool_floor(data: Dataset, pool: Dataset) -> torch.Tensor:
    """A bird's data-space items floored at the pool's dB floor (what a model trained on the pool saw)."""
    return data.to_data().clamp_min(pool.info.extra["stft"]["db_floor"])
