"""benchmarks/birdsong_latents.py: two small birds made here go through the whole benchmark."""

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("soundfile", reason="the audio extra (soundfile) is not installed")
pytest.importorskip("crowsetta", reason="the audio extra (crowsetta) is not installed")

HERE = Path(__file__).resolve().parent


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_birds_share_one_model_and_get_every_measure(tmp_path, capsys):
    songs = _module(HERE / "test_birdsong.py", "birdsong_songs")
    bench = _module(HERE.parent / "benchmarks" / "birdsong_latents.py", "birdsong_latents")
    root = tmp_path / "birds"
    for fmt in ("simple-seq", "aud-seq"):             # two birds, annotated in two formats
        songs.folder_of(root, fmt, n=5)
    assert [p.name for p in bench.bird_folders(root)] == ["aud-seq", "simple-seq"]
    out = bench.main(["--data-dir", str(root), "--train-steps", "20", "--size", "16", "--map", "pca",
                      "--threads", "1", "--out", str(tmp_path / "out")])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last == json.loads(json.dumps(out)) and last["steps"] == 20
    for bird in ("aud-seq", "simple-seq"):
        assert last["labels"][bird] == 3 and last["items"][bird]["train"] + last["items"][bird]["test"] == 20
        assert 0 <= last["knn_accuracy"][bird] <= 1 and 0 <= last["v_measure"][bird] <= 1
    (pair,) = last["mmd"]
    assert set(last["mmd"][pair]) == {"between", "within_a", "within_b", "ratio", "bandwidth"}
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["interpolation.png", "interpolation.wav", "latent-map.png", "real-griffin-lim.wav",
                       "real.png", "samples-16.wav", "samples.png"]
    assert 0 <= last["spectral_convergence_real"] < 1


def test_birds_pool_on_the_highest_floor_and_other_settings_are_refused():
    import latentspace as ls
    from latentspace.data.birdsong import on_pool_floor, pool_birds
    from latentspace.errors import UserError

    a = ls.data.load("birdsong-synthetic", n=24, size=16)
    b = ls.data.load("birdsong-synthetic", n=24, size=16, seed=1, db_range=60)
    pool = pool_birds({"a": a, "b": b})
    floor = max(a.info.extra["stft"]["db_floor"], b.info.extra["stft"]["db_floor"])
    assert pool.info.extra["stft"]["db_floor"] == floor and float(pool.to_data().min()) >= floor - 1e-4
    assert float(on_pool_floor(a, pool).min()) >= floor - 1e-4
    assert pool.classes[:2] == ["a:upsweep", "a:downsweep"] and len(pool) == len(a) + len(b)
    assert int(pool.y.max()) == len(a.classes) + len(b.classes) - 1
    with pytest.raises(UserError, match="other settings"):
        pool_birds({"a": a, "c": ls.data.load("birdsong-synthetic", n=24, size=32)})
    with pytest.raises(UserError, match="not spectrograms"):
        pool_birds({"a": a, "d": ls.data.load("digits")})
