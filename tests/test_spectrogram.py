"""The spectrogram modality with its STFT settings: items from sound, back to sound (Griffin-Lim), WAV files
from `latentspace sample --out FILE.wav`, pictures on real axes, and the synthetic birdsong set."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import torch

import latentspace as ls
from latentspace import cli, modalities
from latentspace.data.arrays import modality_info
from latentspace.errors import UserError
from latentspace.modalities import spectrogram as S

from conftest import shared

RATE = 32000


def sine(freq: float, seconds: float, amp: float = 0.5, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_the_modality_moved_to_its_own_file_and_kept_its_name_and_place():
    spec = modalities.get("spectrogram")
    assert type(spec) is S.Spectrogram and spec is S.SPECTROGRAM
    assert modalities.names()[:4] == ("points", "image", "volume", "spectrogram")
    assert spec.spatial_dims == 2 and spec.natural_range is None and spec.origin_lower and spec.cmap == "magma"


def test_settings_are_in_milliseconds_and_hertz_at_any_rate():
    a = S.stft_settings(32000)
    assert (a["n_fft"], a["hop_length"], a["duration_ms"], a["n_freqs"], a["n_frames"]) == (512, 64, 256.0, 128, 128)
    b = S.stft_settings(44100, size=(64, 32), hop_ms=4.0)
    assert (b["n_fft"], b["hop_length"], b["duration_ms"]) == (706, 176, pytest.approx(127.7, abs=0.05))
    with pytest.raises(UserError, match="sample rate 16000 Hz holds frequencies up to 8000 Hz, below fmax=10000"):
        S.stft_settings(16000)
    with pytest.raises(UserError, match="time_mode must be 'pad'"):
        S.stft_settings(32000, time_mode="crop")
    with pytest.raises(UserError, match="needs the playback duration_ms"):
        S.stft_settings(32000, time_mode="stretch")


def test_a_tone_lands_on_its_row_at_its_level_and_long_sounds_are_cut():
    st = S.stft_settings(RATE, size=(64, 64))                    # 128 ms window
    rows = np.linspace(st["fmin"], st["fmax"], 64)
    db, cut = S.spectrograms([sine(3000.0, 0.05), sine(6000.0, 0.2, amp=0.05)], st)
    assert cut == 1 and db.shape == (2, 1, 64, 64) and db.dtype == np.float32
    top = db[0, 0].max(1)
    # the row nearest 3 kHz (2,990 Hz), within 0.7 dB of the tone's -6.02 dB re full scale (between two bins)
    assert top.argmax() == np.abs(rows - 3000).argmin() and abs(top.max() - 20 * np.log10(0.5)) < 0.75
    # 6 kHz falls on bin 96 but between rows: the nearest row (6,038 Hz) reads 3.2 dB low (Hann side of bin 97)
    assert abs(rows[db[1, 0].max(1).argmax()] - 6000.0) < 160 and -26.0 - 3.5 < db[1, 0].max() < -26.0
    frames_on = (db[0, 0].max(0) > -40).sum()                    # 50 ms of a 2 ms hop: about 25 frames
    assert 24 <= frames_on <= 30 and (db[1, 0].max(0) > -60).all()   # the long one fills the window


def test_no_tone_falls_between_sparse_rows():
    """16 rows 640 Hz apart over bins 15.6 Hz apart (44.1 kHz, 64 ms): every tone is seen, on a row at its
    level, half-way between two rows at most 6 dB lower (linear interpolation between the two nearest
    bins read these tones 40 dB low)."""
    st = S.stft_settings(44100, size=(16, 16), hop_ms=16.0, win_ms=64.0)
    rows = np.linspace(st["fmin"], st["fmax"], 16)
    level = 20 * np.log10(0.3)
    for f, worst in ((rows[9], 0.05), ((rows[4] + rows[5]) / 2, 6.5), (2000.0, 6.5), (4000.0, 6.5)):
        db, _ = S.spectrograms([sine(f, 0.15, amp=0.3, rate=44100)], st)
        steady = db[0, 0, :, 4]                                   # a frame inside the tone
        assert level - worst <= steady.max() <= level + 0.05, (f, steady.max())


def test_stretched_items_span_the_frames_whatever_the_duration():
    st = S.stft_settings(RATE, size=(32, 32), hop_ms=1.0, time_mode="stretch", duration_ms=80.0)
    db, cut = S.spectrograms([sine(2000.0, 0.03), sine(2000.0, 0.15)], st)
    assert cut == 0 and ((db[:, 0].max(1) > -30).sum(1) >= 30).all()
    assert S.item_length(st) == 2560


def test_griffin_lim_brings_synthetic_syllables_back_as_sound():
    data = ls.data.load("birdsong-synthetic", n=60, size=64)
    x = data.test.to_data()
    sounds = S.to_audio(x, data.info, n_iter=64)
    st = data.info.extra["stft"]
    assert sounds.shape == (len(x), S.pad_length(st)) and np.abs(sounds).max() <= 1.0
    sc = [S.spectral_convergence(x[i], sounds[i], st) for i in range(len(x))]
    assert np.mean(sc) < 0.05 and max(sc) < 0.12                  # measured: mean 0.031, max 0.087 of 40


def _silent_after_the_syllable(x, sounds, st) -> None:
    """Where an item's frames all sit on its floor, its sound is silent (60 dB below its loudest 10 ms)."""
    frames = (x.reshape(len(x), st["n_freqs"], st["n_frames"]) > st["db_floor"]).any(1)
    hop, w = st["hop_length"], int(0.01 * st["sample_rate"])
    checked = 0
    for i in range(len(x)):
        last = int(frames[i].nonzero().max())
        if last > st["n_frames"] - 12:
            continue                                   # the syllable fills the window
        env = np.sqrt(np.convolve(sounds[i] ** 2, np.ones(w) / w, "same"))
        tail = env[(last + 8) * hop:]                  # past the last sounding frame and its window
        assert tail.max() < 1e-3 * env.max(), (i, 20 * np.log10(tail.max() / env.max()))
        checked += 1
    assert checked >= len(x) // 2


def test_items_sit_on_the_floor_their_settings_state_and_it_comes_back_as_silence():
    # the floor is set from the loudest value after the dB values are computed: no hidden floor left
    # above it (that came back as a bed of noise for the whole window: 5-11 dB below a quiet syllable)
    data = ls.data.load("birdsong-synthetic", n=60, size=64)
    st, x = data.info.extra["stft"], data.test.to_data()
    assert float(data.to_data().min()) == st["db_floor"] == data.info.extra["display_range"][1] - 70.0
    assert float(data.to_data().max()) > st["db_floor"] + 60          # the whole 70 dB range is used
    _silent_after_the_syllable(x, S.to_audio(x, data.info, n_iter=32), st)


@pytest.mark.parametrize("bird", ["koumura_bird0", "bfsongrepo_gy6or6"])
def test_real_syllables_use_their_stated_floor_and_fall_silent_after_it(bird):
    data = ls.data.load("birdsong", data_dir=shared(f"birdsong/{bird}"), size=64)
    st, x = data.info.extra["stft"], data.test.to_data()[:16]
    assert float(data.to_data().min()) == st["db_floor"] and float(data.test.to_data().min()) == st["db_floor"]
    _silent_after_the_syllable(x, S.to_audio(x, data.info, n_iter=32), st)


@pytest.mark.parametrize("bird", ["koumura_bird0", "bfsongrepo_gy6or6"])
def test_griffin_lim_round_trip_on_real_syllables(bird):
    data = ls.data.load("birdsong", data_dir=shared(f"birdsong/{bird}"))
    x = data.test.to_data()[::max(1, len(data.test) // 12)][:12]
    st = data.info.extra["stft"]
    sounds = S.to_audio(x, data.info, n_iter=64)
    sc = np.array([S.spectral_convergence(x[i], sounds[i], st) for i in range(len(x))])
    # measured on 40 held-out syllables: mean 0.045 (koumura) and 0.039 (gy6or6), max 0.107 (0.060, 0.061 and
    # 0.113 before the dB floor was fixed)
    assert sc.mean() < 0.09 and sc.max() < 0.15
    # the iterations earn their cost: random phases alone (no iteration) are far off
    start = S.to_audio(x, data.info, n_iter=0)
    sc0 = np.array([S.spectral_convergence(x[i], start[i], st) for i in range(len(x))])
    assert sc0.mean() > 2 * sc.mean()
    assert sounds.shape[1] == S.pad_length(st) == 127 * 64 and np.abs(sounds).max() > 1e-3


def test_sounds_without_settings_are_refused_and_drawn_as_before():
    info = modality_info("s", "spectrogram", (1, 16, 8), np.random.default_rng(0).normal(-40, 10, (20, 1, 16, 8)))
    with pytest.raises(UserError, match="carry no STFT settings"):
        S.to_audio(torch.zeros(1, 1, 16, 8), info)
    grid = info.spec.grid(torch.full((4, 1, 16, 8), -40.0), info, ncols=2)
    assert grid.shape == (35, 19, 3)                              # tiled pixels, no axes


def test_pictures_have_axes_in_khz_and_ms_and_a_db_colour_bar():
    data = ls.data.load("birdsong-synthetic", n=60, size=32)
    x = data.to_data()[:6]
    pic = data.info.spec.grid(x, data.info, ncols=3)
    assert pic.dtype == np.uint8 and pic.shape[2] == 3 and pic.shape[1] > 3 * 32 * 2
    # a colour bar: a column of the picture runs through the colour map's ends
    from matplotlib import colormaps

    ends = (np.array(colormaps["magma"]([0.0, 1.0]))[:, :3] * 255).round()
    near = [np.abs(pic.reshape(-1, 3)[None] - e[:, None].T[:, None]).sum(-1).min() for e in ends]
    assert max(near) < 12
    many = data.info.spec.grid(data.to_data()[:40], data.info)    # over 16: tiled on one axes, still a bar
    assert many.dtype == np.uint8 and many.shape[2] == 3 and min(many.shape[:2]) > 8 * 33


def test_wav_bytes_keep_the_rate_and_the_samples():
    sf = pytest.importorskip("soundfile", reason="the audio extra (soundfile) is not installed")
    a = sine(1000.0, 0.1, amp=0.25)
    back, rate = sf.read(io.BytesIO(S.wav_bytes(a, 44100)), dtype="float32")
    assert rate == 44100 and len(back) == len(a) and np.abs(back - a).max() < 1 / 32767 + 1e-6


def test_synthetic_birdsong_is_seeded_and_balanced():
    data = ls.data.load("birdsong-synthetic")
    assert data.shape == (1, 64, 64) and len(data) + len(data.test) == 1200
    assert data.classes == ["upsweep", "downsweep", "flat", "trill", "noisy", "whistle"]
    counts = torch.bincount(torch.cat([data.y, data.test.y])).tolist()
    assert counts == [200] * 6
    again = ls.data.load("birdsong-synthetic")
    other = ls.data.load("birdsong-synthetic", seed=1)
    assert torch.equal(again.x, data.x) and not torch.equal(other.x[:10], data.x[:10])
    small = ls.data.load("birdsong-synthetic", n=24, size=16)
    assert small.shape == (1, 16, 16) and len(small) + len(small.test) == 24
    st = data.info.extra["stft"]
    assert st["sample_rate"] == 32000 and st["duration_ms"] == 256.0
    assert data.info.extra["display_range"] == [st["db_floor"], st["db_floor"] + 70.0]


# -- `latentspace sample --out FILE.wav` ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("spectrogram-runs")
    for name, data in (("sound", ["birdsong-synthetic", "--data-option", "n=60", "--data-option", "size=16"]),
                       ("digits", ["digits"])):
        assert cli.main(["train", "ppca", "--data", *data, "--out", str(base / name)]) == 0
    return base


def test_sample_writes_one_wav_file_per_sample(runs, tmp_path, capsys):
    sf = pytest.importorskip("soundfile", reason="the audio extra (soundfile) is not installed")
    out = tmp_path / "calls.wav"
    assert cli.main(["sample", str(runs / "sound"), "--n", "3", "--out", str(out)]) == 0
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["calls-000.wav", "calls-001.wav", "calls-002.wav"]
    info = sf.info(str(tmp_path / "calls-001.wav"))
    assert info.samplerate == 32000 and info.channels == 1 and info.frames == 15 * 16 * 32   # (frames - 1) * hop
    assert "wrote 3 samples to" in capsys.readouterr().err


def test_sample_to_wav_refuses_bad_input_and_writes_nothing(runs, tmp_path, capsys):
    out = tmp_path / "calls.wav"
    (tmp_path / "calls-001.wav").write_bytes(b"keep me")
    cases = [(["sample", str(runs / "sound"), "--n", "3", "--out", str(out)], "calls-001.wav already exists"),
             (["sample", str(runs / "digits"), "--n", "3", "--out", str(tmp_path / "d.wav")],
              "only spectrograms made from sound .* turn into WAV files"),
             (["sample", str(runs / "sound"), "--n", "3", "--out", str(tmp_path / "x.mp3")],
              r"--out must end in .png or .npy or .wav"),
             (["sample", str(runs / "sound"), "--n", "0", "--out", str(tmp_path / "y.wav")],
              "--n must be a positive integer, got 0")]
    for argv, message in cases:
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and re.search(message, err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls-001.wav"]
    assert (tmp_path / "calls-001.wav").read_bytes() == b"keep me"
    assert cli.main(["sample", str(runs / "sound"), "--n", "2", "--out", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls-000.wav", "calls-001.wav"]
    assert (tmp_path / "calls-001.wav").read_bytes()[:4] == b"RIFF"


def test_the_report_plays_samples_of_a_run_made_from_sound(runs):
    sf = pytest.importorskip("soundfile", reason="the audio extra (soundfile) is not installed")
    import base64

    from latentspace.report.html import environment, samples_pictures
    from latentspace.runs import load_run

    model, _ = load_run(runs / "sound")
    data = ls.data.load("birdsong-synthetic", n=60, size=16)
    pics = samples_pictures(model, data, 0, "samples")
    assert len(pics[0].audio) == 8 and all(a.startswith("data:audio/wav;base64,") for a in pics[0].audio)
    sound, rate = sf.read(io.BytesIO(base64.b64decode(pics[0].audio[0].split(",", 1)[1])))
    assert rate == 32000 and len(sound) == 15 * 512
    html = str(environment().get_template("macros.html").module.figure(pics[0]))
    assert html.count("<audio controls") == 8 and html.count('<img') == 1
    digits, _ = load_run(runs / "digits")
    assert samples_pictures(digits, ls.data.load("digits"), 0, "samples")[0].audio == []
