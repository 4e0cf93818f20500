"""Sound files for the audio loaders: open, read spans, stream blocks, resample, segment by amplitude.

WAV (and FLAC, OGG, AIFF) are read with ``soundfile`` at any sample rate and channel count;
``.cbin`` files (EvTAF's big-endian 16-bit interleaved channels) with their ``.rec`` (sample rate
and channels, read by ``evfuncs``) are memory-mapped. Nothing reads a whole recording into memory
where a part will do: annotated syllables are read as spans (:func:`read_span`), and a recording
segmented by amplitude is streamed in blocks (:func:`segment`). The libraries come with the
``audio`` extra; a missing one is a one-line :class:`~latentspace.errors.UserError`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np

from latentspace.errors import UserError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aif", ".aiff", ".cbin")
EXTRA = "pip install 'latentspace[audio]'"
#: samples streamed at a time when a recording is segmented by amplitude
BLOCK = 1 << 18


def require(module: str):
    """Import ``module`` (soundfile, crowsetta, evfuncs), or a UserError naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(f"reading birdsong needs the {module} library: {EXTRA}") from None


@dataclass
class Recording:
    """A sound file: where it is, its sample rate, length (samples per channel) and channels."""

    path: Path
    rate: int
    frames: int
    channels: int
    kind: str  # "soundfile" or "cbin"

    @property
    def seconds(self) -> float:
        return self.frames / self.rate


def open_recording(path: Path, label: str) -> Recording:
    """The header facts of ``path``; a corrupt file is a UserError naming it (``label``: as shown)."""
    if path.suffix.lower() == ".cbin":
        return _open_cbin(path, label)
    sf = require("soundfile")
    try:
        info = sf.info(str(path))
    except (RuntimeError, OSError, sf.LibsndfileError) as e:
        raise UserError(f"{label} is not a readable sound file ({str(e).splitlines()[0][-80:]}); re-export it as "
                        "WAV or move it out of the folder") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise UserError(f"{label} holds no samples; re-export it or move it out of the folder")
    return Recording(path, int(info.samplerate), int(info.frames), int(info.channels), "soundfile")


def _open_cbin(path: Path, label: str) -> Recording:
    evfuncs = require("evfuncs")
    rec = path.with_suffix(".rec")
    if not rec.is_file():
        raise UserError(f"{label} has no {rec.name} beside it (its sample rate and channels); copy the .rec file "
                        "that came with it")
    try:
        facts = evfuncs.readrecf(str(rec))
        rate, chans = int(facts["sample_freq"]), int(facts["num_channels"])
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        raise UserError(f"{rec.name} beside {label} has no readable ADFREQ and Chans lines; copy the .rec file "
                        "that came with the recording") from None
    if rate <= 0 or chans <= 0:
        raise UserError(f"{rec.name} says the sample rate is {rate} Hz with {chans} channels; fix the .rec file")
    size = path.stat().st_size
    if size == 0 or size % (2 * chans):
        raise UserError(f"{label} is {size} bytes, not a whole number of {chans}-channel 16-bit frames; the file "
                        "is truncated or not a .cbin: copy it again")
    return Recording(path, rate, size // (2 * chans), chans, "cbin")


def check_channel(rec: Recording, channel: int, label: str) -> None:
    if not 0 <= channel < rec.channels:
        raise UserError(f"{label} has {rec.channels} channel(s), so channel={channel} does not exist; pass channel="
                        f"0..{rec.channels - 1}")


def read_span(rec: Recording, start: int, stop: int, channel: int = 0, label: str = "") -> np.ndarray:
    """Samples ``start:stop`` of one channel as float32 in [-1, 1] (clipped to the recording), checked finite."""
    start, stop = max(0, int(start)), min(rec.frames, int(stop))
    if stop <= start:
        return np.zeros(0, np.float32)
    if rec.kind == "cbin":
        mm = np.memmap(rec.path, dtype=">i2", mode="r", shape=(rec.frames, rec.channels))
        out = np.asarray(mm[start:stop, channel], dtype=np.float32) / 32768.0
    else:
        sf = require("soundfile")
        try:
            out = sf.read(str(rec.path), start=start, stop=stop, dtype="float32", always_2d=True)[0][:, channel]
        except (RuntimeError, OSError, sf.LibsndfileError) as e:
            raise UserError(f"{label or rec.path} cannot be read past its header ({str(e).splitlines()[0][-60:]}); "
                            "re-export it or move it out of the folder") from None
    return _finite(np.ascontiguousarray(out), label or str(rec.path))


def read_spans(rec: Recording, spans, channel: int = 0, label: str = "") -> list[np.ndarray]:
    """Samples of each ``(start, stop)`` of ``spans`` (one channel, float32), the file opened once."""
    if rec.kind == "cbin":
        return [read_span(rec, a, b, channel, label) for a, b in spans]
    sf = require("soundfile")
    out = []
    try:
        with sf.SoundFile(str(rec.path)) as f:
            for a, b in spans:
                a, b = max(0, int(a)), min(rec.frames, int(b))
                f.seek(a)
                got = f.read(max(0, b - a), dtype="float32", always_2d=True)[:, channel]
                out.append(_finite(np.ascontiguousarray(got), label or str(rec.path)))
    except (RuntimeError, OSError, sf.LibsndfileError) as e:
        raise UserError(f"{label or rec.path} cannot be read past its header ({str(e).splitlines()[0][-60:]}); "
                        "re-export it or move it out of the folder") from None
    return out


def _finite(a: np.ndarray, label: str) -> np.ndarray:
    if not np.isfinite(a).all():
        raise UserError(f"{label} holds {int((~np.isfinite(a)).sum())} NaN/inf sample(s); re-export the "
                        "recording as 16-bit PCM or move it out of the folder")
    return a


def blocks(rec: Recording, channel: int = 0, size: int = BLOCK, label: str = ""):
    """The recording's samples of one channel, ``size`` at a time (float32, checked finite)."""
    for start in range(0, rec.frames, size):
        yield read_span(rec, start, start + size, channel, label)


def resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    """``audio`` from ``rate`` to ``target`` Hz (polyphase, scipy); unchanged when equal."""
    if rate == target:
        return audio
    from scipy.signal import resample_poly

    g = gcd(int(rate), int(target))
    return resample_poly(audio, target // g, rate // g).astype(np.float32)


# -- segmentation by amplitude ---------------------------------------------------------------------------
def envelope(rec: Recording, channel: int, band: tuple, frame_ms: float = 1.0, label: str = "") -> np.ndarray:
    """The level in dB re full scale of each ``frame_ms`` frame, after a band-pass to ``band`` (Hz);
    streamed in blocks, the filter's state carried across them."""
    from scipy.signal import butter, sosfilt, sosfilt_zi

    hop = max(1, int(round(rec.rate * frame_ms / 1000)))
    lo, hi = band[0], min(band[1], 0.45 * rec.rate)
    sos = butter(4, [max(lo, 1.0), hi], btype="bandpass", fs=rec.rate, output="sos") if lo < hi else None
    zi = None if sos is None else sosfilt_zi(sos) * 0.0
    size = (BLOCK // hop) * hop
    levels = []
    for block in blocks(rec, channel, size, label):
        if sos is not None:
            block, zi = sosfilt(sos, block, zi=zi)
        n = len(block) // hop
        if n == 0:
            continue
        power = np.mean(np.square(block[:n * hop].reshape(n, hop), dtype=np.float64), axis=1)
        levels.append(10 * np.log10(np.maximum(power * 2, 1e-14)))   # a sinusoid's amplitude: power * 2
    return np.concatenate(levels) if levels else np.zeros(0)


def auto_threshold(levels: np.ndarray, above: float = 20.0) -> float:
    """A threshold ``above`` dB over the recording's background (its 10th-percentile frame level)."""
    return float(np.percentile(levels, 10)) + above if len(levels) else 0.0


def runs(loud: np.ndarray, min_silence: int, min_length: int) -> list[tuple[int, int]]:
    """(start, stop) frames of runs of True in ``loud``: gaps shorter than ``min_silence`` frames are
    closed, then runs shorter than ``min_length`` frames dropped.

    Examples
    --------
    >>> runs(np.array([0, 1, 1, 0, 1, 1, 0, 0, 0, 1, 0], bool), min_silence=2, min_length=2)
    [(1, 6)]
    """
    edges = np.diff(np.concatenate([[0], loud.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    merged: list[list[int]] = []
    for s, e in zip(starts, stops):
        if merged and s - merged[-1][1] < min_silence:
            merged[-1][1] = int(e)
        else:
            merged.append([int(s), int(e)])
    return [(s, e) for s, e in merged if e - s >= min_length]


def segment(rec: Recording, channel: int, threshold, min_silence_ms: float, min_syllable_ms: float, band: tuple,
            label: str = "") -> tuple[list[tuple[int, int]], float]:
    """Syllables of a recording found by amplitude: (start, stop) samples of the stretches louder than
    ``threshold`` (dB re full scale in ``band``; ``"auto"``: 20 dB over the background), gaps shorter
    than ``min_silence_ms`` closed, syllables shorter than ``min_syllable_ms`` dropped; and the
    threshold used."""
    frame_ms = 1.0
    levels = envelope(rec, channel, band, frame_ms, label)
    level = auto_threshold(levels) if threshold == "auto" else float(threshold)
    hop = max(1, int(round(rec.rate * frame_ms / 1000)))
    found = runs(levels > level, int(round(min_silence_ms / frame_ms)), max(1, int(round(min_syllable_ms / frame_ms))))
    return [(s * hop, min(rec.frames, e * hop)) for s, e in found], level
