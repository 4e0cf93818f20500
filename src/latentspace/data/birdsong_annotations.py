"""Annotations of birdsong recordings, read with crowsetta, and which recording each one is of.

Formats (crowsetta's names; detected from the files when ``annotation_format`` is not given):

==================================  ===============================  =====================================
format                              files                            the recording it annotates
==================================  ===============================  =====================================
``notmat``                          ``X.cbin.not.mat``               ``X.cbin`` (or ``X.wav``) beside it
``birdsong-recognition-dataset``    ``Annotation.xml`` (Koumura)     each ``WaveFileName``, in ``Wave/``
``aud-seq`` (Audacity labels)       ``X.txt`` or ``X.wav.txt``       ``X.wav`` beside it
``textgrid`` (Praat)                ``X.TextGrid``                   ``X.wav`` beside it
``raven``                           ``X.Table.1.selections.txt``     ``X.wav`` beside it
``simple-seq``                      ``X.csv`` (onset_s, offset_s,    ``X.wav`` beside it
                                    label)
==================================  ===============================  =====================================
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from latentspace.data.audio import AUDIO_SUFFIXES, require
from latentspace.errors import UserError

FORMATS = ("notmat", "birdsong-recognition-dataset", "aud-seq", "textgrid", "raven", "simple-seq")
#: formats where one file annotates many recordings (the rest annotate the recording they are named after)
COLLECTIONS = ("birdsong-recognition-dataset",)
_RAVEN = re.compile(r"\.Table\.\d+\.selections\.txt$", re.IGNORECASE)


@dataclass
class Annotation:
    """Syllables of one recording: ``(onset, offset, label)`` in ``unit`` ("s" or "sample")."""

    source: Path
    audio: str           # the recording's name as the annotation gives it (a file name, or a stem)
    syllables: list = field(default_factory=list)
    unit: str = "s"


def detect(path: Path) -> str | None:
    """The crowsetta format of an annotation file, from its name and first line; None: not one."""
    name = path.name.lower()
    if name.endswith(".not.mat"):
        return "notmat"
    if name.endswith(".textgrid"):
        return "textgrid"
    if name.endswith(".xml"):
        return "birdsong-recognition-dataset" if "<Sequences>" in _head(path, 4096) else None
    if name.endswith(".csv"):
        return "simple-seq" if "onset_s" in (_head(path, 512).splitlines() or [""])[0] else None
    if name.endswith(".txt"):
        first = (_head(path, 512).splitlines() or [""])[0]
        if "Begin Time (s)" in first:
            return "raven"
        parts = first.split("\t")
        return "aud-seq" if len(parts) >= 2 and all(_is_number(p) for p in parts[:2]) else None
    return None


def _head(path: Path, n: int) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(n).decode("utf-8", "replace")
    except OSError:
        return ""


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def find(folder: Path, fmt: str | None) -> list[tuple[Path, str]]:
    """Annotation files under ``folder`` with their format (only ``fmt``'s when given)."""
    if fmt is not None and fmt not in FORMATS:
        raise UserError(f"option annotation_format must be one of {', '.join(FORMATS)} (crowsetta's names), "
                        f"got {fmt!r}")
    found = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or any(part.startswith(".") for part in p.relative_to(folder).parts):
            continue
        kind = detect(p)
        if kind is not None and (fmt is None or kind == fmt):
            found.append((p, kind))
    kinds = sorted({k for _, k in found})
    if len(kinds) > 1:
        raise UserError(f"{folder} holds annotations in several formats ({', '.join(kinds)}); pass "
                        "annotation_format= to choose one")
    return found


def read(path: Path, fmt: str, label: str) -> list[Annotation]:
    """The annotations in ``path`` (``label``: the file as shown in messages)."""
    crowsetta = require("crowsetta")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fmt == "birdsong-recognition-dataset":
                return _koumura(crowsetta, path)
            obj = crowsetta.formats.by_name(fmt).from_file(path)
            if fmt == "raven":
                rows = [(b.onset, b.offset, str(b.label)) for b in obj.to_bbox()]
            else:
                seq = obj.to_annot(round_times=False).seq
                rows = [(s.onset_s, s.offset_s, str(s.label)) for s in seq.segments]
    except UserError:
        raise
    except Exception as e:  # crowsetta and pandera raise many kinds on a malformed file
        why = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot read {label} as {fmt} annotations ({why}); fix the file, or pass "
                        "annotation_format= if it is in another format") from None
    return [Annotation(path, _audio_name(path, fmt), [(float(a), float(b), c) for a, b, c in rows])]


def _koumura(crowsetta, path: Path) -> list[Annotation]:
    """Koumura & Okanoya's XML: positions in samples, sequences of one file concatenated."""
    obj = crowsetta.formats.by_name("birdsong-recognition-dataset").from_file(path, concat_seqs_into_songs=True)
    out: dict[str, Annotation] = {}
    for seq in obj.sequences:
        ann = out.setdefault(seq.wav_file, Annotation(path, seq.wav_file, unit="sample"))
        ann.syllables += [(int(s.position), int(s.position) + int(s.length), str(s.label)) for s in seq.syls]
    return list(out.values())


def _audio_name(path: Path, fmt: str) -> str:
    """The recording a per-recording annotation file is named after: ``X.cbin`` or ``X`` (a stem)."""
    name = path.name
    if fmt == "notmat":
        return name[:-len(".not.mat")]
    if fmt == "raven" and _RAVEN.search(name):
        return _RAVEN.sub("", name)
    return name.rsplit(".", 1)[0]


def recording_of(ann: Annotation, fmt: str, by_path: dict) -> Path | None:
    """The recording (a key of ``by_path``, absolute paths) an annotation is of, or None when absent."""
    here = ann.source.parent
    places = [here / "Wave", here] if fmt in COLLECTIONS else [here]
    for place in places:
        exact = place / ann.audio
        if exact in by_path:
            return exact
        if Path(ann.audio).suffix.lower() not in AUDIO_SUFFIXES:
            for suffix in AUDIO_SUFFIXES:
                for cand in (place / (ann.audio + suffix), place / (ann.audio + suffix.upper())):
                    if cand in by_path:
                        return cand
    return None
