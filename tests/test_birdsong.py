"""The birdsong loader: recordings and annotations in every supported format, segmentation by amplitude,
splits by recording, the two real birds, and bad input refused in one line."""

from __future__ import annotations

import re
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import latentspace as ls
from latentspace import cli
from latentspace.errors import UserError

from conftest import shared

sf = pytest.importorskip("soundfile", reason="the audio extra (soundfile) is not installed")
pytest.importorskip("crowsetta", reason="the audio extra (crowsetta) is not installed")

#: syllables of the test recordings: (onset s, offset s, label, frequency Hz)
SONG = [(0.10, 0.16, "a", 2000), (0.25, 0.33, "b", 4000), (0.42, 0.47, "a", 2000), (0.60, 0.70, "c", 6000)]


def tones(rate: int, song=SONG, seconds: float = 0.8, amp: float = 0.3, noise: float = 1e-4) -> np.ndarray:
    """Tones at the song's times and frequencies over faint noise (float64 samples)."""
    rng = np.random.default_rng(rate)
    x = rng.normal(0, noise, int(seconds * rate))
    for on, off, _, f in song:
        a, b = int(on * rate), int(off * rate)
        t = np.arange(b - a) / rate
        x[a:b] += amp * np.sin(2 * np.pi * f * t) * np.hanning(b - a) ** 0.2
    return x


def wav(path: Path, rate: int = 32000, song=SONG, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), tones(rate, song, **kw), rate, subtype="PCM_16")
    return path


def cbin(path: Path, rate: int = 32000, song=SONG) -> Path:
    """An EvTAF .cbin (big-endian int16, 2 channels, song on 0) and its .rec."""
    path.parent.mkdir(parents=True, exist_ok=True)
    song_ch = np.round(tones(rate, song) * 32767)
    np.stack([song_ch, np.zeros_like(song_ch)], 1).astype(">i2").tofile(path)
    path.with_suffix(".rec").write_text(f"File created: today\n\n     begin rec = 0 ms\n     trig time  = 0 ms\n"
                                        f"     rec end = 800 ms\n\nADFREQ =  {rate}\nChans = 2\n"
                                        f"Samples = {len(song_ch)}\nT Before = 2.0\nT After = 2.0\n")
    return path


# -- annotation writers, one per format -----------------------------------------------------------------
def notmat(path: Path, song=SONG):
    from scipy.io import savemat

    savemat(str(path), {"fname": path.name[:-8], "Fs": 32000, "labels": "".join(s[2] for s in song),
                        "onsets": np.array([s[0] * 1000 for s in song])[:, None],
                        "offsets": np.array([s[1] * 1000 for s in song])[:, None],
                        "min_int": 5, "min_dur": 20, "threshold": 1000, "sm_win": 2})


def audseq(path: Path, song=SONG):
    path.write_text("".join(f"{on:.6f}\t{off:.6f}\t{lab}\n" for on, off, lab, _ in song))


def simpleseq(path: Path, song=SONG):
    path.write_text("onset_s,offset_s,label\n" + "".join(f"{on},{off},{lab}\n" for on, off, lab, _ in song))


def raven(path: Path, song=SONG):
    head = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\tAnnotation\n"
    path.write_text(head + "".join(f"{i + 1}\tSpectrogram 1\t1\t{on}\t{off}\t{f - 500:.1f}\t{f + 500:.1f}\t{lab}\n"
                                   for i, (on, off, lab, f) in enumerate(song)))


def textgrid(path: Path, song=SONG, seconds: float = 0.8):
    cuts = [0.0] + [t for on, off, _, _ in song for t in (on, off)] + [seconds]
    marks = [""] + [m for _, _, lab, _ in song for m in (lab, "")]
    rows = "".join(f'        intervals [{i + 1}]:\n            xmin = {a}\n            xmax = {b}\n'
                   f'            text = "{m}"\n' for i, (a, b, m) in enumerate(zip(cuts[:-1], cuts[1:], marks)))
    path.write_text('File type = "ooTextFile"\nObject class = "TextGrid"\n\nxmin = 0\n'
                    f'xmax = {seconds}\ntiers? <exists>\nsize = 1\nitem []:\n    item [1]:\n'
                    '        class = "IntervalTier"\n        name = "syllables"\n        xmin = 0\n'
                    f'        xmax = {seconds}\n        intervals: size = {len(marks)}\n' + rows)


def koumura(folder: Path, files: dict, rate: int = 32000):
    """Koumura's Annotation.xml: one sequence per file, positions in samples."""
    seqs = ""
    for name, song in files.items():
        notes = "".join(f"<Note><Position>{int(on * rate)}</Position><Length>{int((off - on) * rate)}</Length>"
                        f"<Label>{lab}</Label></Note>" for on, off, lab, _ in song)
        seqs += (f"<Sequence><WaveFileName>{name}</WaveFileName><Position>0</Position><Length>{int(0.8 * rate)}"
                 f"</Length><NumNote>{len(song)}</NumNote>{notes}</Sequence>")
    (folder / "Annotation.xml").write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n<Sequences><NumSequence>'
                                           f"{len(files)}</NumSequence>{seqs}</Sequences>")


WRITERS = {"notmat": (notmat, "{}.not.mat"), "aud-seq": (audseq, "{}.txt"), "simple-seq": (simpleseq, "{}.csv"),
           "raven": (raven, "{}.Table.1.selections.txt"), "textgrid": (textgrid, "{}.TextGrid")}


def folder_of(tmp_path: Path, fmt: str, n: int = 3) -> Path:
    root = tmp_path / fmt
    for i in range(n):
        audio = cbin(root / f"bird_{i}.cbin") if fmt == "notmat" else wav(root / f"bird_{i}.wav")
        if fmt == "birdsong-recognition-dataset":
            audio.rename(root / "Wave" / audio.name) if (root / "Wave").mkdir(exist_ok=True) is None else None
            continue
        writer, pattern = WRITERS[fmt]
        writer(root / pattern.format(audio.name if fmt == "notmat" else audio.stem))
    if fmt == "birdsong-recognition-dataset":
        koumura(root, {f"bird_{i}.wav": SONG for i in range(n)})
    return root


# -- every format -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["notmat", "birdsong-recognition-dataset", "aud-seq", "textgrid", "raven",
                                 "simple-seq"])
def test_every_annotation_format_gives_the_labelled_syllables(tmp_path, fmt):
    root = folder_of(tmp_path, fmt)
    data = ls.data.load("birdsong", data_dir=root, size=32, test_fraction=0.34)
    assert data.classes == ["a", "b", "c"]
    assert len(data) + len(data.test) == 12                       # 4 syllables in each of 3 recordings
    labels = [data.classes[i] for i in data.y.tolist() + data.test.y.tolist()]
    assert Counter(labels) == {"a": 6, "b": 3, "c": 3}
    onsets = sorted({round(s[1], 3) for s in data.segments + data.test.segments})
    assert onsets == [0.1, 0.25, 0.42, 0.6]
    # each syllable's loudest row is its tone: 2, 4, 6 kHz on rows spanning 0.4-10 kHz
    st = data.info.extra["stft"]
    rows = np.linspace(st["fmin"], st["fmax"], st["n_freqs"])
    x, y = data.to_data(), data.y
    for k, f in zip(range(3), (2000, 4000, 6000)):
        peak = rows[int(x[y == k][0, 0].max(1).values.argmax())]
        assert abs(peak - f) < 310


def test_the_format_can_be_named_and_an_unknown_name_is_refused(tmp_path):
    root = folder_of(tmp_path, "aud-seq")
    assert len(ls.data.load("birdsong", data_dir=root, annotation_format="aud-seq", size=16).classes) == 3
    with pytest.raises(UserError, match="annotation_format must be one of notmat, birdsong-recognition"):
        ls.data.load("birdsong", data_dir=root, annotation_format="audacity")
    with pytest.raises(UserError, match="holds no textgrid annotations; drop annotation_format="):
        ls.data.load("birdsong", data_dir=root, annotation_format="textgrid")


def test_wavs_at_several_rates_are_resampled_to_the_most_common(tmp_path):
    root = tmp_path / "rates"
    for i, rate in enumerate((32000, 32000, 44100)):
        simpleseq(root / f"r{i}.csv") if wav(root / f"r{i}.wav", rate) else None
    data = ls.data.load("birdsong", data_dir=root, size=32, test_fraction=0.34)
    st = data.info.extra["stft"]
    assert st["sample_rate"] == 32000 and data.info.extra["resampled_from"] == {"44100": 1}
    assert any("resampled to 32000 Hz: 1 recording(s) at 44100 Hz" in n for n in data.notes)
    alone = ls.data.load("birdsong", data_dir=root, size=32, sample_rate=44100, test_fraction=0.34)
    st = alone.info.extra["stft"]
    assert st["sample_rate"] == 44100 and st["n_fft"] == 1411   # 32 ms: 4 hops of 8 ms
    # the 44.1 kHz recording's syllables look like the others': same rows and levels within 1 dB
    x = np.concatenate([data.to_data().numpy(), data.test.to_data().numpy()])
    files = data.files + data.test.files
    a = x[[f == "r2.wav" for f in files]][0, 0]
    b = x[[f != "r2.wav" for f in files]][0, 0]
    assert abs(a.max() - b.max()) < 1.0 and a.max(1).argmax() == b.max(1).argmax()


def test_unannotated_recordings_are_segmented_by_amplitude(tmp_path):
    root = tmp_path / "plain"
    for i in range(3):
        wav(root / f"p{i}.wav", 44100)
    data = ls.data.load("birdsong", data_dir=root, size=32, test_fraction=0.34)
    assert data.y is None and len(data) + len(data.test) == 12
    found = sorted((round(s[1], 2), round(s[2], 2)) for s in data.segments if s[0] == data.files[0])
    assert all(abs(a - on) < 0.02 and abs(b - off) < 0.02 for (a, b), (on, off, _, _) in zip(found, SONG))
    # a gap under min_silence_ms is closed, a syllable under min_syllable_ms dropped
    close = [(0.10, 0.16, "a", 3000), (0.165, 0.22, "a", 3000), (0.40, 0.405, "b", 3000), (0.5, 0.6, "c", 3000)]
    for i in range(2):
        wav(tmp_path / "close" / f"c{i}.wav", song=close)
    merged = ls.data.load("birdsong", data_dir=tmp_path / "close", size=16, min_silence_ms=10, min_syllable_ms=15)
    assert len(merged) + len(merged.test) == 4                     # 2 per recording: merged pair + last
    split = ls.data.load("birdsong", data_dir=tmp_path / "close", size=16, min_silence_ms=1, min_syllable_ms=2)
    assert len(split) + len(split.test) == 8


def test_a_threshold_in_db_and_the_channel_of_a_stereo_file(tmp_path):
    root = tmp_path / "stereo"
    for i in range(2):
        song = tones(32000)
        sf.write(str(root / f"s{i}.wav") if root.mkdir(exist_ok=True) is None else "", np.stack(
            [np.zeros_like(song), song], 1), 32000)
    data = ls.data.load("birdsong", data_dir=root, channel=1, size=16, threshold=-40)
    assert len(data) + len(data.test) == 8 and data.info.extra["thresholds_db"] == [-40.0, -40.0]
    with pytest.raises(UserError, match=r"s0.wav has 2 channel\(s\), so channel=2 does not exist"):
        ls.data.load("birdsong", data_dir=root, channel=2)
    with pytest.raises(UserError, match="no syllables found"):
        ls.data.load("birdsong", data_dir=root, channel=0)


def test_recordings_are_split_whole_and_the_split_is_seeded(tmp_path):
    root = tmp_path / "many"
    for i in range(10):
        wav(root / f"m{i}.wav")
        audseq(root / f"m{i}.txt")
    data = ls.data.load("birdsong", data_dir=root, size=16, seed=3)
    assert not set(data.files) & set(data.test.files)
    assert len(set(data.test.files)) == 2 and len(data.test) == 8   # 0.2 of 10 recordings
    again = ls.data.load("birdsong", data_dir=root, size=16, seed=3)
    assert again.test.files == data.test.files
    other = ls.data.load("birdsong", data_dir=root, size=16, seed=4)
    assert set(other.test.files) != set(data.test.files)
    half = ls.data.load("birdsong", data_dir=root, size=16, test_fraction=0.5)
    assert len(set(half.test.files)) == 5


def test_rare_labels_unannotated_files_and_long_syllables_are_reported(tmp_path):
    root = tmp_path / "mixed"
    long_song = SONG[:3] + [(0.45, 0.78, "z", 3000)]
    for i in range(3):
        wav(root / f"k{i}.wav", song=long_song if i == 0 else SONG)
        simpleseq(root / f"k{i}.csv", long_song if i == 0 else SONG)
    wav(root / "extra.wav")
    with pytest.warns(UserWarning, match=r"left out 1 of 4 recordings \(unannotated: 1\)"):
        data = ls.data.load("birdsong", data_dir=root, size=16, min_per_class=2, window_ms=200,
                            test_fraction=0.34)
    assert data.classes == ["a", "b", "c"] and data.info.extra["rejected"] == {"unannotated": ["extra.wav"]}
    assert data.info.extra["cut"] == 1                             # the 330 ms "z" is longer than 200 ms
    text = data.summary()
    assert "dropped 1 syllables of 1 label(s) with fewer than 2 (min_per_class): z: 1" in text
    assert "1 syllables longer than the 200 ms window were cut to it" in text
    assert "per class: a: 6, b: 3, c: 2" in text
    with pytest.warns(UserWarning, match="unannotated: 1"):
        stretched = ls.data.load("birdsong", data_dir=root, size=16, time_mode="stretch", test_fraction=0.34)
    st = stretched.info.extra["stft"]
    assert stretched.info.extra["cut"] == 0 and st["time_mode"] == "stretch" and 60 < st["duration_ms"] < 90


def test_koumuras_xml_may_annotate_recordings_that_are_not_in_the_folder(tmp_path):
    root = tmp_path / "subset"
    for i in range(2):
        wav(root / "Wave" / f"{i}.wav")
    koumura(root, {f"{i}.wav": SONG for i in range(5)})
    data = ls.data.load("birdsong", data_dir=root, size=16, test_fraction=0.5)
    assert len(data) + len(data.test) == 8 and data.classes == ["a", "b", "c"]
    assert "Annotation.xml: annotations of 3 recording(s) not in the folder were ignored" in data.summary()


# -- the two real birds -----------------------------------------------------------------------------------
def test_koumura_bird0_matches_its_annotation_file():
    root = shared("birdsong/koumura_bird0")
    text = (root / "Annotation.xml").read_text()
    expected = Counter()
    for seq in re.findall(r"<Sequence>(.*?)</Sequence>", text, re.S):
        if (root / "Wave" / re.search(r"<WaveFileName>(.*?)</", seq).group(1)).exists():
            expected.update(re.findall(r"<Label>(.*?)</Label>", seq))
    data = ls.data.load("birdsong", data_dir=root)
    got = Counter(data.classes[i] for i in data.y.tolist() + data.test.y.tolist())
    assert got == expected and sum(got.values()) == 1379 and data.classes == [str(i) for i in range(9)]
    assert data.shape == (1, 128, 128) and len(set(data.files) | set(data.test.files)) == 30
    assert not set(data.files) & set(data.test.files)
    assert "annotations of 105 recording(s) not in the folder were ignored" in data.summary()


def test_bfsongrepo_gy6or6_matches_its_notmat_files():
    from scipy.io import loadmat

    root = shared("birdsong/bfsongrepo_gy6or6")
    expected = Counter()
    for f in root.glob("*.not.mat"):
        expected.update(str(loadmat(str(f), squeeze_me=True)["labels"]))
    data = ls.data.load("birdsong", data_dir=root)
    got = Counter(data.classes[i] for i in data.y.tolist() + data.test.y.tolist())
    assert got == expected and sum(got.values()) == 601 and data.classes == list("abcdefghijk")
    assert data.info.extra["stft"]["sample_rate"] == 32000 and len(set(data.files) | set(data.test.files)) == 10


# -- bad input: one line, naming the problem and the fix ---------------------------------------------------
def bad_folders(tmp_path: Path) -> dict:
    out = {}
    (tmp_path / "empty").mkdir(parents=True)
    out["empty"] = (tmp_path / "empty", {}, "holds no recordings")
    corrupt = folder_of(tmp_path / "c", "aud-seq", 2)
    (corrupt / "bird_1.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    out["corrupt"] = (corrupt, {}, "bird_1.wav is not a readable sound file")
    missing = folder_of(tmp_path / "m", "aud-seq", 2)
    audseq(missing / "ghost.txt")
    out["missing"] = (missing, {}, "ghost.txt annotates ghost, which is not in")
    slow = tmp_path / "slow"
    for i in range(2):
        wav(slow / f"s{i}.wav", 16000)
    out["rate"] = (slow, {}, "s0.wav is sampled at 16000 Hz, too slow for frequencies up to fmax=10000 Hz; "
                             "pass fmax=8000")
    late = folder_of(tmp_path / "l", "simple-seq", 2)
    simpleseq(late / "bird_0.csv", SONG + [(3.0, 3.1, "a", 0)])
    out["past end"] = (late, {}, "lies past the end of bird_0.wav .* another sample rate")
    part = folder_of(tmp_path / "p", "aud-seq", 2)
    wav(part / "extra.wav")
    out["unannotated"] = (part, {"segment": "annotations"}, "extra.wav has no annotation")
    plain = tmp_path / "plain"
    for i in range(2):
        wav(plain / f"p{i}.wav")
    out["labels needed"] = (plain, {"min_per_class": 2}, "min_per_class needs labels")
    nan = folder_of(tmp_path / "n", "aud-seq", 2)
    x = tones(32000)
    x[int(0.3 * 32000)] = np.nan
    sf.write(str(nan / "bird_1.wav"), x.astype(np.float32), 32000, subtype="FLOAT")
    out["nan"] = (nan, {}, "bird_1.wav holds 1 NaN/inf sample")
    xml = tmp_path / "xml"
    for i in range(2):
        wav(xml / "Wave" / f"w{i}.wav")
    koumura(xml, {"other.wav": SONG})
    out["xml names none"] = (xml, {}, r"Annotation.xml annotates 1 recording\(s\), none of which is in")
    one = tmp_path / "one"
    wav(one / "only.wav")
    out["one recording"] = (one, {}, "has 1 usable recording; give at least 2")
    return out


def test_bad_input_is_one_line_naming_the_problem(tmp_path):
    for name, (root, options, message) in bad_folders(tmp_path).items():
        with pytest.raises(UserError, match=message) as e:
            ls.data.load("birdsong", data_dir=root, **options)
        assert "\n" not in str(e.value), name
    with pytest.raises(UserError, match="pass --data-dir PATH"):
        ls.data.load("birdsong")
    with pytest.raises(UserError, match="option time_mode must be 'pad' or 'stretch'"):
        ls.data.load("birdsong", data_dir=tmp_path, time_mode="crop")


@pytest.mark.parametrize("library, fmt", [("soundfile", "aud-seq"), ("crowsetta", "aud-seq"), ("evfuncs", "notmat")])
def test_a_missing_audio_library_names_the_extra(tmp_path, monkeypatch, library, fmt):
    root = folder_of(tmp_path, fmt, 2)
    monkeypatch.setitem(sys.modules, library, None)
    with pytest.raises(UserError, match=rf"needs the {library} library: pip install 'latentspace\[audio\]'$"):
        ls.data.load("birdsong", data_dir=root)


def test_the_command_line_trains_on_a_folder_and_refuses_bad_ones(tmp_path, capsys):
    root = folder_of(tmp_path, "aud-seq", 3)
    run = tmp_path / "run"
    code = cli.main(["train", "ppca", "--data", "birdsong", "--data-dir", str(root), "--data-option", "size=16",
                     "--out", str(run)])
    err = capsys.readouterr().err
    assert code == 0 and (run / "model").is_dir() and "birdsong: 12 items" in err and "3 recordings" in err
    for name, (bad, options, message) in bad_folders(tmp_path / "bad").items():
        out = tmp_path / f"run-{name.replace(' ', '-')}"
        argv = ["train", "ppca", "--data", "birdsong", "--data-dir", str(bad), "--out", str(out)]
        for k, v in options.items():
            argv += ["--data-option", f"{k}={v}"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            code = cli.main(argv)
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and re.search(message, err), (name, err)
        assert not out.exists() or not any(out.iterdir()), name
