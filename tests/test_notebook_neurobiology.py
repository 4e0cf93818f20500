"""notebooks/applications/neurobiology.py runs in fast mode as Jupyter runs it (format: test_notebooks_format.py)."""

import re
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from conftest import SHARED_DATA
from notebook_cells import code_until, images, notebook_env, now, run_notebook, run_script, written_into_repo

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "applications" / "neurobiology.py"
FIGURES = 7   # pictures shown in fast mode (plt.show() calls that run)
BIRDS = [SHARED_DATA / "birdsong" / "bfsongrepo_gy6or6", SHARED_DATA / "birdsong" / "koumura_bird0"]
WAVS = {"syllable.wav", "real-griffin-lim.wav", "samples.wav", "interpolation.wav", "griffin-lim-0.wav",
        "griffin-lim-64.wav"}



def test_without_shared_birds_it_uses_synthetic_ones(tmp_path):
    """The cells up to the hand-made spectrogram and the first WAV, without the shared folder: two made-up birds."""
    script = tmp_path / "first_cells.py"
    script.write_text(code_until(NOTEBOOK, 'play(sound, "syllable.wav")'))
    out = run_script(script, tmp_path, notebook_env(tmp_path, tmp_path / "no-such-folder"), timeout=180)
    assert "No shared birds at" in out and "birdsong-synthetic: 1,200 items" in out
    counts = {m[1]: eval(m[2]) for m in re.finditer(r"^(synthetic-[AB]) (\{.*\})$", out, re.M)}
    assert set(counts["synthetic-A"]) == {"upsweep", "downsweep", "flat", "trill"}, counts
    assert set(counts["synthetic-B"]) == {"flat", "trill", "noisy", "whistle"}, counts
    assert counts["synthetic-A"]["flat"] + counts["synthetic-B"]["flat"] == 200   # each shared syllable in one bird
    difference = float(re.search(r"largest difference from the loader's: ([\d.]+) dB", out)[1])
    assert difference < 0.01, out                       # the hand-made spectrogram is the loader's
    written = [p for p in (tmp_path / "tmp").rglob("*") if p.is_file()]
    assert [p.name for p in written] == ["syllable.wav"], written
    assert not [p for p in tmp_path.iterdir() if p.name not in ("tmp", "cache", "first_cells.py")]


@pytest.mark.slow
def test_notebook_runs_in_fast_mode(tmp_path):
    real = all(d.is_dir() for d in BIRDS)
    start = now()
    out, nb = run_notebook(NOTEBOOK, notebook_env(tmp_path, SHARED_DATA if real else tmp_path / "no-such-folder"))
    assert "fast mode" in out
    names = ["bfsongrepo_gy6or6", "koumura_bird0"] if real else ["synthetic-A", "synthetic-B"]
    assert ("birdsong: 601 items" if real else "No shared birds at") in out
    assert float(re.search(r"largest difference from the loader's: ([\d.]+) dB", out)[1]) < 0.01

    knn = {m[1]: float(m[2]) for m in re.finditer(r"^(\S+): k-NN accuracy (\d\.\d{3}) on \d+ held-out", out, re.M)}
    assert list(knn) == names, out[-3000:]
    for name, accuracy in knn.items():   # 300 steps already separate most syllable types
        commonest = float(re.search(rf"^{name}: k-NN .*the commonest label alone: (\d\.\d{{3}})", out, re.M)[1])
        assert accuracy > max(0.7, commonest + 0.3), (name, accuracy, commonest)
    v = {m[1]: (float(m[2]), m[3]) for m in re.finditer(r"^(\S+): V-measure (\d\.\d{3}) .* on the (\w+) map", out,
                                                      re.M)}
    # far above chance (random clusters: about 0.01). Without umap-learn (CI's test extra) the map is PCA's,
    # which merges more types after 300 steps: koumura_bird0 0.268 there, 0.85 on the UMAP map
    assert list(v) == names and all((0.3 if m == "umap" else 0.2) < x <= 1 for x, m in v.values()), v

    convergence = float(re.search(r"round trip of \d+ held-out syllables: spectral convergence (\d\.\d{3})", out)[1])
    assert convergence < 0.09, convergence
    iterations = [float(x) for x in re.findall(r"n_iter +\d+: spectral convergence (\d\.\d{3})", out)]
    assert len(iterations) == 4 and iterations[0] > 0.3 and iterations[-1] < iterations[0] / 4, iterations
    assert re.search(r"samples \(8, 1, 64, 64\)", out)

    mmd = re.search(r"MMD² \S+ vs \S+: (-?[\d.]+); within each \(two halves\): (-?[\d.]+), (-?[\d.]+)", out)
    assert mmd and float(mmd[1]) > 5 * max(abs(float(mmd[2])), abs(float(mmd[3])), 1e-4), mmd and mmd[0]
    assert ("training vs held-out recordings" if real else "training vs held-out syllables") in out
    assert re.search(r"\d+ shuffled splits: .*permutation p = [01]\.\d{3}", out)

    wavs = {p.name: p for p in (tmp_path / "tmp").rglob("*.wav")}
    assert set(wavs) == WAVS, sorted(wavs)                  # under TMPDIR, not the working folder
    for name, path in wavs.items():
        rate, sound = wavfile.read(path)
        assert rate == 32000 and sound.dtype == np.int16 and len(sound) > 1000, name
        assert np.abs(sound).max() > 30, name               # a sound, not silence
        assert f"wrote {path}" in out, name
    assert images(nb) >= FIGURES, "the notebook shows its figures"
    assert not written_into_repo(start), written_into_repo(start)
