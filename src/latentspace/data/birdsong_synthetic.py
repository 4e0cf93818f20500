"""``birdsong-synthetic``: syllables of made-up birds, rendered as sound, then spectrograms.

Six syllable types, the classes: ``upsweep`` and ``downsweep`` (harmonic stacks whose fundamental
rises or falls), ``flat`` (a steady harmonic stack), ``trill`` (a train of fast down-chirps),
``noisy`` (a band of noise) and ``whistle`` (a pure tone with a slow vibrato). Each item's
parameters (fundamental, duration, sweep, harmonics, loudness) are drawn from the seed; the sound
(32 kHz, a faint noise floor) goes through the same spectrogram path as recorded birdsong
(:func:`latentspace.modalities.spectrogram.spectrograms`), so samples turn back into WAV files.
Deterministic from ``seed``; no file, no extra library.
"""

from __future__ import annotations

import numpy as np

from latentspace.data.arrays import check_fraction, check_int, modality_info
from latentspace.data.dataset import Dataset, make_dataset, seeded_split
from latentspace.data.registry import register
from latentspace.modalities.spectrogram import floor_items, spectrograms, stft_settings

RATE = 32000
TYPES = ("upsweep", "downsweep", "flat", "trill", "noisy", "whistle")


def _envelope(n: int, rng) -> np.ndarray:
    """A rise, a plateau and a fall (raised-cosine ramps of 10-30 % of the syllable each)."""
    ramp = max(2, int(n * rng.uniform(0.1, 0.3)))
    env = np.ones(n)
    edge = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, ramp))
    env[:ramp], env[-ramp:] = edge, edge[::-1]
    return env


def _stack(f0: np.ndarray, rng, top: float = 9000.0) -> np.ndarray:
    """Harmonics of the instantaneous fundamental ``f0`` (Hz per sample) up to ``top`` Hz, decaying."""
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    k = np.arange(1, max(2, int(top / f0.max())) + 1)
    weights = rng.uniform(0.3, 1.0, len(k)) * k ** -rng.uniform(0.5, 1.2)
    return np.sin(np.outer(k, phase)).T @ weights / weights.sum()


def _render(kind: str, rng) -> np.ndarray:
    n = int(RATE * rng.uniform(0.04, 0.18))
    t = np.arange(n) / RATE
    if kind in ("upsweep", "downsweep", "flat"):
        lo, span = rng.uniform(500, 1100), rng.uniform(1.3, 2.0)
        ends = {"upsweep": (lo, lo * span), "downsweep": (lo * span, lo), "flat": (lo, lo)}[kind]
        sound = _stack(np.linspace(*ends, n), rng)
    elif kind == "trill":
        rate, hi, lo = rng.uniform(25, 45), rng.uniform(5000, 8000), rng.uniform(2000, 3500)
        cycle = (t * rate) % 1.0
        sound = np.sin(2 * np.pi * np.cumsum(hi - (hi - lo) * cycle) / RATE) * np.sin(np.pi * cycle) ** 2
    elif kind == "noisy":
        lo = rng.uniform(1500, 4000)
        spec = np.fft.rfft(rng.normal(size=n))
        freqs = np.fft.rfftfreq(n, 1 / RATE)
        spec[(freqs < lo) | (freqs > lo + rng.uniform(2000, 4500))] = 0
        sound = np.fft.irfft(spec, n)
        sound /= np.abs(sound).max() + 1e-12
    else:  # whistle
        f = rng.uniform(2500, 6000) * (1 + 0.03 * np.sin(2 * np.pi * rng.uniform(8, 20) * t))
        sound = np.sin(2 * np.pi * np.cumsum(f) / RATE)
    level = 10 ** (rng.uniform(-24, -12) / 20)
    return (level * sound * _envelope(n, rng) + rng.normal(0, 10 ** (-75 / 20), n)).astype(np.float32)


def render(n: int, seed: int = 0) -> tuple[list, np.ndarray]:
    """``n`` synthetic syllables (float32 sounds at 32 kHz) and their types (indices of :data:`TYPES`),
    the types in turn so that every class has ``n // 6`` or one more."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % len(TYPES)
    return [_render(TYPES[k], rng) for k in y], y


@register("birdsong-synthetic", "synthetic birdsong syllables (6 types: sweeps, stacks, trills, noise, "
                                "whistles) as spectrograms that turn back into sound")
def birdsong_synthetic(n=1200, size=64, window_ms=256.0, db_range=70.0, test_fraction=0.2, seed=0) -> Dataset:
    """Synthetic birdsong syllables as spectrograms, six types as classes.

    Parameters
    ----------
    n : int
        Syllables (1,200: 200 of each type).
    size : int
        Items are ``(1, size, size)``: 400 Hz-10 kHz by a ``window_ms`` window.
    window_ms : float
        The window every syllable is padded to (syllables last 40-180 ms).
    db_range : float
        dB re full scale, clipped ``db_range`` below the loudest training value.
    test_fraction, seed : float, int
        The stratified held-out share, and the seed of the sounds and the split.

    Returns
    -------
    Dataset
        ``spectrogram`` items with the STFT settings in ``info.extra["stft"]`` (see
        :func:`latentspace.modalities.spectrogram.to_audio`).

    Examples
    --------
    >>> import latentspace as ls
    >>> d = ls.data.load("birdsong-synthetic", n=120, size=32)
    >>> d.shape, d.classes[:3], len(d) + len(d.test)
    ((1, 32, 32), ['upsweep', 'downsweep', 'flat'], 120)
    """
    n, size = check_int("n", n, 12), check_int("size", size, 8)
    test_fraction, seed = check_fraction(test_fraction), check_int("seed", seed)
    hop_ms = float(window_ms) / size
    st = stft_settings(RATE, (size, size), hop_ms=hop_ms, win_ms=max(16.0, 4 * hop_ms))
    sounds, y = render(n, seed)
    tr, te = seeded_split(n, test_fraction, seed, y, label="birdsong-synthetic")
    db = floor_items(spectrograms(sounds, st, floor=False)[0], st, db_range, reference=tr)
    info = modality_info("birdsong-synthetic", "spectrogram", db.shape[1:], db[tr], classes=list(TYPES),
                         extra={"stft": st, "display_range": [st["db_floor"], st["db_floor"] + float(db_range)]})
    return make_dataset(info.to_model(db[tr]), y[tr], info=info, test_x=info.to_model(db[te]), test_y=y[te])
