"""What the ``latentspace`` commands that write items share: the ``--out`` check, the ``.npy`` bytes, and
the WAV files of spectrogram samples (``sample --out FILE.wav`` writes ``FILE-000.wav``, ...).

Examples
--------
>>> new_output("samples.png", overwrite=False).suffix
'.png'
"""

from __future__ import annotations

import io
from pathlib import Path

from latentspace.errors import UserError

#: what ``sample`` and ``complete`` write: a picture, or the items themselves
ITEM_FORMATS = (".png", ".npy")


def new_output(out, overwrite: bool, suffixes: tuple = ITEM_FORMATS) -> Path:
    """``--out`` as a path, refused (before anything is computed) when its suffix is not one of
    ``suffixes`` or it exists and ``overwrite`` is not given."""
    out = Path(out)
    if out.suffix.lower() not in suffixes:
        raise UserError(f"--out must end in {' or '.join(suffixes)}, got {out.name!r}")
    if out.exists() and not overwrite:
        raise UserError(f"{out} already exists; pass --overwrite to replace it or choose another --out")
    return out


def npy_bytes(x) -> bytes:
    """A tensor or array as the bytes of a ``.npy`` file (no pickle)."""
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.asarray(x), allow_pickle=False)
    return buf.getvalue()


#: what ``sample`` writes besides items: sounds, one WAV file per sample of a spectrogram run made from sound
SOUND_FORMATS = (".wav",)


def wav_outputs(out: Path, n: int, info, overwrite: bool) -> list[Path]:
    """The WAV files ``OUT-000.wav``, ... that ``n`` samples go to, refused (before anything is computed)
    when the run's items do not turn into sound or a file exists and ``overwrite`` is not given."""
    from latentspace.modalities.spectrogram import settings_of

    if settings_of(info) is None:
        raise UserError(f"--out {out.name}: only spectrograms made from sound (birdsong, birdsong-synthetic) turn "
                        f"into WAV files, and this run's items are {info.spec.description}; give FILE.png or FILE.npy")
    width = max(3, len(str(n - 1)))
    paths = [out.with_name(f"{out.stem}-{i:0{width}d}.wav") for i in range(n)]
    taken = [p for p in paths if p.exists()]
    if taken and not overwrite:
        raise UserError(f"{taken[0]} already exists; pass --overwrite to replace the WAV files or choose another --out")
    return paths


def write_wavs(x, info, paths: list) -> None:
    """Data-space spectrograms ``x`` as WAV files at their STFT's sample rate (Griffin-Lim), all computed
    before the first is written."""
    from latentspace.modalities.spectrogram import settings_of, to_audio, wav_bytes
    from latentspace.storage import atomic_write_bytes

    sounds = to_audio(x, info)
    rate = settings_of(info)["sample_rate"]
    for path, sound in zip(paths, sounds):
        atomic_write_bytes(path, wav_bytes(sound, rate))
