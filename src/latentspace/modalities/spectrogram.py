"""The ``spectrogram`` modality: log-magnitude spectrograms that know their STFT settings.

An item is ``(1, frequencies, frames)`` in dB. Loaders that make items from sound (``birdsong``,
``birdsong-synthetic``) record how in ``info.extra["stft"]`` (:func:`stft_settings`): the sample
rate, ``n_fft``, hop and window, the frequency range the rows span (linearly), the dB reference
(dB re full scale of the value 0) and floor, and the time mode (``"pad"``: a fixed window of
``duration_ms``; ``"stretch"``: each syllable stretched to the frames, ``duration_ms`` its median
duration). With these a spectrogram turns back into sound (:func:`to_audio`: fast Griffin-Lim)
and into WAV bytes at the original rate (:func:`wav_bytes`), and pictures get real axes (kHz, ms)
and a colour scale in dB (:meth:`Spectrogram.grid`). Spectrograms without settings (a ``.npy``
loaded with ``modality="spectrogram"``) are drawn as before, colour-mapped over their dB range.

Examples
--------
>>> import numpy as np
>>> st = stft_settings(32000, size=(64, 64))
>>> st["n_fft"], st["hop_length"], st["duration_ms"]
(512, 64, 128.0)
>>> t = np.arange(3200) / 32000
>>> db, cut = spectrograms([0.5 * np.sin(2 * np.pi * 3000 * t)], st)   # -6.0 dB re full scale
>>> db.shape, int(cut), round(float(db.max()), 1)
((1, 1, 64, 64), 0, -6.1)
"""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
import torch

from latentspace.errors import UserError
from latentspace.modalities.base import Modality, register, tile

TIME_MODES = ("pad", "stretch")
#: dB of the smallest magnitude (1e-12): no floor, while a loader has yet to choose its own
RAW_FLOOR_DB = -240.0


def stft_settings(sample_rate: int, size=(128, 128), fmin: float = 400.0, fmax: float = 10000.0,
                  hop_ms: float = 2.0, win_ms: float = 16.0, time_mode: str = "pad", duration_ms=None,
                  db_ref: float = 0.0, db_floor: float = -70.0) -> dict:
    """The STFT settings of spectrograms of ``size`` (frequencies, frames), checked.

    ``n_fft`` is ``win_ms`` (at least twice ``hop_ms``) at ``sample_rate`` (a Hann window), the hop
    ``hop_ms``; rows are
    ``size[0]`` frequencies spaced linearly from ``fmin`` to ``fmax`` (Hz). ``"pad"``: the
    frames span ``duration_ms = frames * hop`` (longer sounds are cut); ``"stretch"``: each sound
    is stretched to the frames, and ``duration_ms`` (required) is the duration it is played back at.
    Values are dB relative to ``db_ref`` dB re full scale, clipped below at ``db_floor``.
    """
    sample_rate = int(sample_rate)
    f, t = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
    if min(f, t) < 8:
        raise UserError(f"option size must be at least 8 (frequencies and frames), got {size!r}")
    if time_mode not in TIME_MODES:
        raise UserError(f"option time_mode must be 'pad' (a fixed window, longer sounds cut) or 'stretch' (each "
                        f"sound stretched to the frames), got {time_mode!r}")
    if not 0 <= fmin < fmax:
        raise UserError(f"options fmin and fmax must satisfy 0 <= fmin < fmax, got {fmin!r} and {fmax!r}")
    if fmax > sample_rate / 2:
        raise UserError(f"sample rate {sample_rate} Hz holds frequencies up to {sample_rate / 2:g} Hz, below "
                        f"fmax={fmax:g}; pass fmax={int(sample_rate / 2) // 100 * 100} or a higher sample_rate")
    if not (hop_ms > 0 and win_ms >= 2 * hop_ms and db_floor < 0):
        raise UserError(f"need hop_ms > 0, win_ms >= 2 * hop_ms (windows overlap, so that sound comes back) and "
                        f"db_floor < 0, got {hop_ms}, {win_ms} and {db_floor}")
    hop = max(1, int(round(sample_rate * hop_ms / 1000)))
    if time_mode == "pad":
        duration_ms = 1000.0 * t * hop / sample_rate
    elif duration_ms is None or not duration_ms > 0:
        raise UserError("time_mode='stretch' needs the playback duration_ms (e.g. the median syllable duration)")
    return {"sample_rate": sample_rate, "n_fft": max(8, int(round(sample_rate * win_ms / 1000))), "hop_length": hop,
            "window": "hann", "fmin": float(fmin), "fmax": float(fmax), "n_freqs": f, "n_frames": t,
            "db_ref": float(db_ref), "db_floor": float(db_floor), "time_mode": time_mode,
            "duration_ms": float(duration_ms)}


def settings_of(info) -> dict | None:
    """The STFT settings of a dataset (``info.extra["stft"]``), or None for spectrograms without them."""
    return (info.extra or {}).get("stft")


# -- the STFT and the map between its bins and an item's rows ---------------------------------------------
@lru_cache(maxsize=16)
def _maps(sample_rate: int, n_fft: int, fmin: float, fmax: float, n_freqs: int):
    """The map from the STFT bins' magnitudes to the item's rows, its pseudo-inverse (rows back to bins),
    and which bins the rows see.

    Row ``r`` weighs the bins with a triangle centred on its frequency, as wide as the spacing of the
    rows (or of the bins, if wider: then it is linear interpolation), scaled so that a sinusoid at the
    row's frequency reads its amplitude. So a tone half-way between two rows reads about 6 dB less
    in both, and none falls between rows unseen, whatever the size. (Triangles half as wide, or power
    instead of magnitude, brought sound back less faithfully: see docs/birdsong.md.)
    """
    bins = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    rows = np.linspace(fmin, fmax, n_freqs)
    half = max((fmax - fmin) / (n_freqs - 1), sample_rate / n_fft)
    tri = np.clip(1 - np.abs(rows[:, None] - bins[None, :]) / half, 0, None)
    window = torch.hann_window(n_fft, dtype=torch.float64).numpy()
    t = np.arange(n_fft) / sample_rate
    tones = np.abs(np.fft.rfft(np.cos(2 * np.pi * rows[:, None] * t) * window, axis=1)) * 2 / window.sum()
    forward = torch.from_numpy(tri / (tri * tones).sum(1, keepdims=True)).float()
    inside = torch.from_numpy(tri.sum(0) > 0)[:, None]
    return forward, torch.linalg.pinv(forward), inside


def _stft(audio: torch.Tensor, st: dict) -> torch.Tensor:
    window = torch.hann_window(st["n_fft"], dtype=audio.dtype)
    return torch.stft(audio, st["n_fft"], st["hop_length"], window=window, center=True, pad_mode="constant",
                      return_complex=True)


def _gain(st: dict) -> float:
    """|STFT| times this is the amplitude of a sinusoid (a Hann window sums to n_fft / 2)."""
    return 2.0 / float(torch.hann_window(st["n_fft"]).sum())


def pad_length(st: dict) -> int:
    """Samples a ``"pad"`` item spans: its frames are ``1 + length // hop`` (a centred STFT)."""
    return (st["n_frames"] - 1) * st["hop_length"]


def _stretch(mag: torch.Tensor, frames: int) -> torch.Tensor:
    """Magnitudes ``(..., F, T)`` resampled linearly in time to ``frames`` columns."""
    lead = mag.shape[:-1]
    out = torch.nn.functional.interpolate(mag.reshape(1, -1, mag.shape[-1]), size=frames, mode="linear",
                                          align_corners=True)
    return out.reshape(*lead, frames)


def _rows(forward: torch.Tensor, spec: torch.Tensor, st: dict) -> torch.Tensor:
    """The rows' magnitudes (sinusoid amplitudes) of complex STFT frames ``(..., bins, T)``."""
    return (forward @ (spec.abs() * _gain(st))).clamp_min(0)


def magnitudes(clips, st: dict) -> tuple[torch.Tensor, int]:
    """Linear magnitudes ``(n, n_freqs, n_frames)`` of sounds (1-D float arrays at ``st["sample_rate"]``),
    and how many were longer than a ``"pad"`` window (cut to it)."""
    forward = _maps(st["sample_rate"], st["n_fft"], st["fmin"], st["fmax"], st["n_freqs"])[0]
    if st["time_mode"] == "pad":
        length = pad_length(st)
        batch = torch.zeros(len(clips), length)
        for i, c in enumerate(clips):
            c = torch.as_tensor(np.asarray(c, dtype=np.float32)[:length])
            batch[i, :len(c)] = c
        cut = sum(len(c) > length for c in clips)
        mags = [_rows(forward, _stft(b, st), st) for b in batch.split(256)]
        return (torch.cat(mags) if mags else torch.zeros(0, st["n_freqs"], st["n_frames"])), int(cut)
    out = torch.zeros(len(clips), st["n_freqs"], st["n_frames"])
    for i, c in enumerate(clips):
        c = torch.as_tensor(np.asarray(c, dtype=np.float32))
        out[i] = _stretch(_rows(forward, _stft(c, st), st), st["n_frames"])
    return out, 0


def to_db(mag: torch.Tensor, st: dict) -> torch.Tensor:
    """Magnitudes to dB relative to ``db_ref`` dB re full scale, clipped below at ``db_floor``."""
    return (20 * torch.log10(mag.clamp_min(1e-12)) - st["db_ref"]).clamp_min(st["db_floor"])


def from_db(db: torch.Tensor, st: dict) -> torch.Tensor:
    """dB items back to magnitudes; the floor (and anything below it) is silence."""
    db = torch.as_tensor(db, dtype=torch.float32)
    mag = 10 ** ((db + st["db_ref"]) / 20)
    return torch.where(db <= st["db_floor"] + 1e-3, torch.zeros_like(mag), mag)


def spectrograms(clips, st: dict, floor: bool = True) -> tuple[np.ndarray, int]:
    """Items ``(n, 1, n_freqs, n_frames)`` in dB (float32) of sounds, and how many were cut (``"pad"``);
    ``floor=False``: not clipped at ``st["db_floor"]`` (for a loader that sets it with :func:`floor_items`)."""
    mag, cut = magnitudes(clips, st)
    db = to_db(mag, st if floor else {**st, "db_floor": RAW_FLOOR_DB})
    return db[:, None].numpy().astype(np.float32), cut


def floor_items(db: np.ndarray, st: dict, db_range: float, reference=None) -> np.ndarray:
    """Items floored ``db_range`` dB below their loudest value (of the items ``reference`` selects, e.g. the
    training split; all by default), with ``st["db_floor"]`` set to that floor and ``st["db_ref"]`` to 0.

    Give it items computed with ``spectrograms(..., floor=False)``, so that the floor in the items is the one
    their settings state: the padding after a syllable and every quieter bin sit exactly on it, and
    :func:`from_db` turns them back into silence. (Items computed at a fixed floor and floored again lower
    keep a hidden floor that comes back as a bed of noise.)
    """
    top = float(np.ceil(db[reference if reference is not None else slice(None)].max()))
    st["db_ref"], st["db_floor"] = 0.0, top - float(db_range)
    return np.maximum(db, st["db_floor"])


# -- back to sound -------------------------------------------------------------------------------------------
def griffin_lim(mag_rows: torch.Tensor, st: dict, length: int, n_iter: int = 64, momentum: float = 0.99,
                seed: int = 0) -> torch.Tensor:
    """Signals of ``length`` samples whose spectrogram rows approach ``mag_rows`` ``(..., n_freqs, T)``
    (sinusoid amplitudes; ``T = 1 + length // hop``): fast Griffin-Lim (Perraudin, Balazs & Sondergaard
    2013, momentum 0.99) where each iteration corrects the rebuilt magnitudes only where the rows see them
    (least squares through the rows' pseudo-inverse), bins the rows do not see kept silent."""
    forward, pinv, inside = _maps(st["sample_rate"], st["n_fft"], st["fmin"], st["fmax"], st["n_freqs"])
    window, gain = torch.hann_window(st["n_fft"]), _gain(st)
    mag = (pinv @ mag_rows).clamp_min(0) * inside
    gen = torch.Generator().manual_seed(seed)
    angles = torch.exp(2j * np.pi * torch.rand(mag.shape, generator=gen))
    previous = torch.zeros_like(angles)
    for _ in range(n_iter):
        signal = torch.istft(mag / gain * angles, st["n_fft"], st["hop_length"], window=window, center=True,
                             length=length)
        rebuilt = _stft(signal, st)
        seen = rebuilt.abs() * gain
        mag = (seen + pinv @ (mag_rows - forward @ seen)).clamp_min(0) * inside
        angles = rebuilt - previous * (momentum / (1 + momentum))
        angles = angles / (angles.abs() + 1e-16)
        previous = rebuilt
    return torch.istft(mag / gain * angles, st["n_fft"], st["hop_length"], window=window, center=True,
                       length=length)


def item_length(st: dict) -> int:
    """Samples of the sound an item turns back into (the pad window, or ``duration_ms`` stretched)."""
    if st["time_mode"] == "pad":
        return pad_length(st)
    return max(st["hop_length"], int(round(st["duration_ms"] * st["sample_rate"] / 1000)))


def to_audio(x, info_or_settings, n_iter: int = 64, seed: int = 0) -> np.ndarray:
    """Data-space spectrograms ``(n, 1, F, T)`` (dB) as sounds ``(n, samples)`` (float32 in [-1, 1]) at
    ``st["sample_rate"]``, by fast Griffin-Lim; ``info_or_settings`` is a ``DataInfo`` or the settings."""
    st = info_or_settings if isinstance(info_or_settings, dict) else settings_of(info_or_settings)
    if st is None:
        raise UserError("these spectrograms carry no STFT settings (info.extra['stft']), so they cannot be turned "
                        "into sound; make them with a loader from audio (birdsong, birdsong-synthetic)")
    length = item_length(st)
    frames = 1 + length // st["hop_length"]
    x = torch.as_tensor(x).detach().float().cpu().reshape(-1, st["n_freqs"], st["n_frames"])
    out = np.zeros((len(x), length), np.float32)
    for start in range(0, len(x), 16):   # 16 at a time: batched FFTs, bounded memory
        mag = from_db(x[start:start + 16], st)
        if mag.shape[-1] != frames:
            mag = _stretch(mag, frames)
        out[start:start + 16] = griffin_lim(mag, st, length, n_iter=n_iter, seed=seed + start).numpy()
    return np.clip(out, -1.0, 1.0)


def spectral_convergence(db_item, audio, st: dict) -> float:
    """``||M(audio) - M|| / ||M||`` over an item's rows and frames (linear magnitudes): how far the sound's
    spectrogram is from the item it was made from (0: the same)."""
    target = from_db(torch.as_tensor(db_item).reshape(st["n_freqs"], st["n_frames"]), st)
    got = from_db(to_db(magnitudes([audio], st)[0][0], st), st)
    return float(torch.linalg.norm(got - target) / torch.linalg.norm(target).clamp_min(1e-12))


def wav_bytes(audio, sample_rate: int) -> bytes:
    """One sound (float in [-1, 1]) as the bytes of a 16-bit PCM WAV file."""
    from scipy.io import wavfile

    pcm = (np.clip(np.asarray(audio, dtype=np.float64), -1, 1) * 32767).round().astype("<i2")
    buf = io.BytesIO()
    wavfile.write(buf, int(sample_rate), pcm)
    return buf.getvalue()


# -- the modality ---------------------------------------------------------------------------------------------
class Spectrogram(Modality):
    """Log-magnitude spectrograms ``(1, frequencies, frames)``, values in dB: 2-D convs, drawn with a
    colour map over the data's own dB range (``info.extra["display_range"]`` when the loader knows
    it), low frequencies at the bottom; with STFT settings (``info.extra["stft"]``) drawn with axes in
    kHz and ms and a dB colour bar, and turned back into sound (:func:`to_audio`)."""

    name = "spectrogram"
    description = "log-magnitude spectrograms (1, frequencies, frames), values in dB"
    spatial_dims = 2
    cmap = "magma"
    origin_lower = True
    array_shapes = "(n, F, T) or (n, 1, F, T)"
    #: items in a report's sample grid (each drawn with its own axes), and of them played in a report
    grid_items = 16
    sound_items = 8

    def array_layout(self, shape, inferring=False):
        if inferring:  # a 3-D array is an image unless the user says otherwise
            return None
        return "hw" if len(shape) == 3 else "chw" if len(shape) == 4 and shape[1] == 1 else None

    def sounds(self, x, info) -> list[bytes]:
        """The first :attr:`sound_items` items as WAV files (fast Griffin-Lim), for a report's players."""
        st = settings_of(info)
        if st is None:
            return []
        return [wav_bytes(s, st["sample_rate"]) for s in to_audio(torch.as_tensor(x)[:self.sound_items], st)]

    def grid(self, x, info, ncols=None) -> np.ndarray:
        """Items tiled; with STFT settings, up to :attr:`grid_items` each on axes in ms and kHz (more tiled on
        one), beside one colour bar in dB."""
        st = settings_of(info)
        if st is None:
            return tile(self.display(x, info), ncols)
        return axes_grid(torch.as_tensor(x).detach().float().cpu(), st, self.display_range(info, x), self.cmap,
                         ncols, self.grid_items)


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=min(80.0, 1100 / width), layout="constrained")   # <= 1,100 px wide
    FigureCanvasAgg(fig)
    return fig


def _pixels(fig, shown, axes) -> np.ndarray:
    """The figure with a dB colour bar beside ``axes``, as a uint8 picture ``(H, W, 3)``."""
    bar = fig.colorbar(shown, ax=axes, shrink=0.8, pad=0.02)
    bar.set_label("dB", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def axes_grid(x: torch.Tensor, st: dict, vrange, cmap: str, ncols=None, axes_items: int = 16) -> np.ndarray:
    """Spectrograms ``(n, 1, F, T)`` in dB as a uint8 picture ``(H, W, 3)`` with a dB colour bar: up to
    ``axes_items`` each on its own axes (ms, kHz); more tiled on one (a picture of 64 takes 0.3 s, not 2.3 s)."""
    import math

    n = len(x)
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    kind = dict(cmap=cmap, vmin=vrange[0], vmax=vrange[1], interpolation="nearest")
    stretched = " (stretched)" if st["time_mode"] == "stretch" else ""
    if n > axes_items:
        f, t = x.shape[-2:]
        mosaic = np.full((nrows * (f + 1) - 1, ncols * (t + 1) - 1), np.nan, np.float32)
        for i in range(n):
            r, c = divmod(i, ncols)
            mosaic[r * (f + 1):r * (f + 1) + f, c * (t + 1):c * (t + 1) + t] = x[i, 0].flip(0).numpy()
        fig = _figure(min(14.0, 0.9 * ncols + 1.5), min(14.0, 0.9 * nrows * f / t + 0.6))
        ax = fig.subplots()
        shown = ax.imshow(np.ma.masked_invalid(mosaic), aspect="auto", **kind)
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_xlabel(f"each: 0-{st['duration_ms']:.0f} ms{stretched} (left to right), "
                      f"{st['fmin'] / 1000:g}-{st['fmax'] / 1000:g} kHz (bottom to top)", fontsize=7)
        return _pixels(fig, shown, ax)
    fig = _figure(1.9 * ncols + 1.0, 1.6 * nrows + 0.5)
    extent = [0, st["duration_ms"], st["fmin"] / 1000, st["fmax"] / 1000]
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        shown = ax.imshow(x[i, 0].numpy(), origin="lower", aspect="auto", extent=extent, **kind)
        ax.tick_params(labelsize=6, length=2)
        if i % ncols == 0:
            ax.set_ylabel("kHz", fontsize=7)
        if i // ncols == nrows - 1 or i + ncols >= n:
            ax.set_xlabel("ms" + stretched, fontsize=7)
    return _pixels(fig, shown, axes.ravel().tolist())


SPECTROGRAM = register(Spectrogram())
