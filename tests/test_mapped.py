"""Memory-mapped folders: the same items as in memory, decoded once, bounded memory, nothing half-written."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import latentspace as ls
from latentspace.data import images, mapped
from latentspace.errors import UserError
from latentspace.metrics.evaluation import evaluate
from latentspace.metrics.features import FeatureConfig, feature_extractor
from conftest import assert_same_weights


def _save(path: Path, a: np.ndarray):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)


def make_folder(root: Path, layout: str, n: int = 12, seed: int = 0) -> Path:
    """A small collection: ``classes`` (two sub-folders), ``flat``, ``split`` (train/ and test/),
    ``gray``, ``gray-in-rgb`` (RGB files of gray pictures) or ``mixed`` (gray and colour files)."""
    rng = np.random.default_rng(seed)
    folder = root / layout
    for i in range(n):
        rgb = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
        gray = rng.integers(0, 256, (9, 7), dtype=np.uint8)
        if layout == "classes":
            _save(folder / ("a" if i % 3 else "b") / f"{i}.png", rgb)
        elif layout == "flat":
            _save(folder / f"{i}.png", rgb)
        elif layout == "split":
            _save(folder / ("train" if i % 4 else "test") / ("x" if i % 2 else "y") / f"{i}.png", rgb)
        elif layout == "gray":
            _save(folder / f"{i}.png", gray)
        elif layout == "gray-in-rgb":
            _save(folder / f"{i}.png", np.repeat(gray[:, :, None], 3, axis=2))
        elif layout == "mixed":
            _save(folder / f"{i}.png", gray if i % 2 else rgb)
    return folder


@pytest.fixture
def cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("LATENTSPACE_CACHE", str(path))
    return path / "mapped"


def assert_same_data(a, b):
    for x, y in ((a, b), (a.test, b.test)):
        assert x.x.dtype == y.x.dtype == torch.float32
        assert torch.equal(x.x, y.x)
        assert (x.y is None and y.y is None) or torch.equal(x.y, y.y)
    assert a.info.to_json() == b.info.to_json()


@pytest.mark.parametrize("layout", ["classes", "flat", "split", "gray", "gray-in-rgb", "mixed"])
def test_mapped_items_equal_in_memory_items(tmp_path, cache, layout):
    folder = make_folder(tmp_path, layout)
    ram = ls.data.load(folder, size=16, memory="ram")
    mm = ls.data.load(folder, size=16, memory="map")
    assert ram.storage == "memory" and mm.storage == mm.test.storage == "mapped"
    assert_same_data(ram, mm)
    channels = {"gray": 1, "gray-in-rgb": 1}.get(layout, 3)
    assert mm.shape == (channels, 16, 16)
    entry, = cache.iterdir()
    assert json.loads((entry / "meta.json").read_text())["item_shape"] == [channels, 16, 16]
    assert sorted(p.name for p in entry.iterdir()) == ["meta.json", "test.npy", "train.npy"]


def test_second_load_maps_the_entry_without_decoding(tmp_path, cache, monkeypatch):
    folder = make_folder(tmp_path, "classes")
    first = ls.data.load(folder, size=16, memory="map")

    def must_not_decode(*a, **k):
        raise AssertionError("decoded again")

    monkeypatch.setattr(images, "_process", must_not_decode)
    again = ls.data.load(folder, size=16, memory="map")
    assert_same_data(first, again)
    assert len(list(cache.iterdir())) == 1


def test_changed_file_or_option_makes_a_new_entry(tmp_path, cache):
    folder = make_folder(tmp_path, "flat")
    ls.data.load(folder, size=16, memory="map")
    _save(folder / "3.png", np.zeros((10, 12, 3), dtype=np.uint8))
    changed = ls.data.load(folder, size=16, memory="map")
    assert len(list(cache.iterdir())) == 2
    assert_same_data(ls.data.load(folder, size=16, memory="ram"), changed)
    ls.data.load(folder, size=8, memory="map")
    assert len(list(cache.iterdir())) == 3


def test_auto_maps_only_items_over_half_the_free_memory(tmp_path, cache, monkeypatch):
    folder = make_folder(tmp_path, "flat")   # 12 RGB items at 16 px: 36,864 bytes of float32
    monkeypatch.setattr(mapped, "available_memory", lambda: 2 * 36_864 + 8)
    assert ls.data.load(folder, size=16).storage == "memory"
    monkeypatch.setattr(mapped, "available_memory", lambda: 2 * 36_864 - 8)
    assert ls.data.load(folder, size=16).storage == "mapped"


def test_unknown_memory_option_is_refused(tmp_path, cache):
    folder = make_folder(tmp_path, "flat")
    with pytest.raises(UserError, match="option memory must be one of auto, ram, map"):
        ls.data.load(folder, memory="disk")
    assert not cache.exists()


def test_full_disk_is_refused_before_decoding(tmp_path, cache, monkeypatch):
    folder = make_folder(tmp_path, "flat")
    monkeypatch.setattr(mapped.shutil, "disk_usage", lambda p: type("U", (), {"free": 1000})())
    with pytest.raises(UserError, match=r"needs .* which has 1.0 KB free; free some space or set LATENTSPACE_CACHE"):
        ls.data.load(folder, size=16, memory="map")
    assert list(cache.iterdir()) == []


def test_interrupted_decode_leaves_no_entry_and_the_next_load_completes(tmp_path, cache, monkeypatch):
    folder = make_folder(tmp_path, "flat", n=40)
    real, calls = images._process, []

    def dies_midway(*a, **k):
        calls.append(1)
        if len(calls) == 20:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(mapped, "CHUNK_BYTES", 8 * 3 * 16 * 16 * 4)
    monkeypatch.setattr(images, "_process", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        ls.data.load(folder, size=16, memory="map")
    assert list(cache.iterdir()) == []   # neither an entry nor its .part folder
    monkeypatch.setattr(images, "_process", real)
    assert_same_data(ls.data.load(folder, size=16, memory="ram"), ls.data.load(folder, size=16, memory="map"))


@pytest.mark.parametrize("damage", ["meta", "shape"])
def test_damaged_entry_is_refused_in_one_line(tmp_path, cache, damage):
    folder = make_folder(tmp_path, "flat")
    ls.data.load(folder, size=16, memory="map")
    entry, = cache.iterdir()
    if damage == "meta":
        (entry / "meta.json").write_text("{not json")
    else:
        np.save(entry / "train.npy", np.zeros((3, 3, 16, 16), dtype=np.float32))
    with pytest.raises(UserError, match="delete that folder and load again") as e:
        ls.data.load(folder, size=16, memory="map")
    assert "\n" not in str(e.value) and str(entry) in str(e.value)


def test_mapped_file_is_never_written_through(tmp_path, cache):
    folder = make_folder(tmp_path, "flat")
    data = ls.data.load(folder, size=16, memory="map")
    entry, = cache.iterdir()
    before = (entry / "train.npy").read_bytes()
    data.x[0] = 99.0   # copy-on-write: the process's own page, not the file
    assert (entry / "train.npy").read_bytes() == before


@pytest.mark.parametrize("model", ["vae", "dcgan"])
def test_training_on_mapped_items_equals_training_in_memory(tmp_path, cache, model):
    folder = make_folder(tmp_path, "classes", n=40)
    out = {}
    for memory in ("ram", "map"):
        data = ls.data.load(folder, size=16, memory=memory)
        net = ls.models.create(model, width=8) if model == "dcgan" else ls.models.create(model, latent_dim=4)
        net.fit(data, steps=4, batch_size=8, seed=2, out=tmp_path / memory, progress=False)
        out[memory] = tmp_path / memory
    from conftest import weights

    assert_same_weights(weights(out["ram"]), weights(out["map"]))


def test_evaluation_and_neighbours_read_mapped_data_in_slices(tmp_path, cache):
    folder = make_folder(tmp_path, "classes", n=40)
    config = FeatureConfig(min_steps=20, max_steps=20)
    scores = []
    for memory in ("ram", "map"):
        data = ls.data.load(folder, size=16, memory=memory)
        phi = feature_extractor(data, config=config, cache=False)
        samples = data.test.to_data() * 0.9 + 0.05
        scores.append(evaluate(samples, data, features=phi, n=len(samples)))
        from latentspace.plots.neighbours import nearest_training_items

        a = nearest_training_items(samples, data.to_data())
        b = nearest_training_items(samples, data)   # a dataset: read a slice at a time
        assert torch.equal(a[0], b[0]) and torch.allclose(a[1], b[1])
    assert scores[0]["scores"] == scores[1]["scores"] and scores[0]["floor"] == scores[1]["floor"]


def test_classical_model_refuses_items_larger_than_free_memory(tmp_path, cache, monkeypatch):
    from latentspace.models import classical

    data = ls.data.load(make_folder(tmp_path, "flat"), size=16, memory="map")
    monkeypatch.setattr(classical, "available_memory", lambda: 1000)
    with pytest.raises(UserError, match=r"gmm is fitted on all 10 items at once, which need 61.4 KB .* 1.0 KB"):
        ls.models.create("gmm").fit(data)


@pytest.mark.skipif(not Path("/proc/self/status").exists() or sys.platform != "linux",
                    reason="reads RssAnon from /proc and trims glibc's heap (Linux)")
def test_mapped_collection_stays_out_of_the_process_memory(tmp_path):
    """160 tiny files loaded at 160 px: 49 MB of float32 items. In memory, the process's own (anonymous)
    memory grows by them; mapped, by almost nothing, while loading and during training (measured after
    glibc returns its freed heap, so that only live memory counts)."""
    folder = make_folder(tmp_path, "flat", n=160)
    script = textwrap.dedent(f"""
        import ctypes, os, sys
        os.environ["LATENTSPACE_CACHE"] = {str(tmp_path / 'cache')!r}
        import torch, latentspace as ls
        from latentspace.data import mapped
        torch.set_num_threads(1)
        mapped.CHUNK_BYTES = 4 << 20
        libc = ctypes.CDLL("libc.so.6")
        def anon():
            libc.malloc_trim(0)
            return int(next(l for l in open("/proc/self/status") if l.startswith("RssAnon")).split()[1]) * 1024
        ls.data.load({str(tmp_path / 'flat')!r}, size=8, memory="ram")   # warm the imports
        before = anon()
        data = ls.data.load({str(folder)!r}, size=160, memory=sys.argv[1])
        loaded = anon() - before
        from latentspace.train.callbacks import Callback
        class Peak(Callback):
            most = 0
            def on_step(self, model, step):
                Peak.most = max(Peak.most, anon() - before)
        ls.models.create("vae", latent_dim=2, hidden=16, layers=1).fit(data, steps=3, batch_size=4, progress=False,
                                                                        callbacks=[Peak()])
        print(loaded, Peak.most)
    """)
    grew = {}
    for memory in ("ram", "map"):
        out = subprocess.run([sys.executable, "-c", script, memory], capture_output=True, text=True, check=True)
        grew[memory] = [int(v) for v in out.stdout.split()]
    items = 160 * 3 * 160 * 160 * 4
    assert grew["ram"][0] > 0.9 * items, grew
    assert grew["map"][0] < 0.1 * items, grew
    # In memory, training holds the items once (each batch is converted to channels_last as it is drawn);
    # mapped, a batch at a time: the peaks differ by the items (a whole-set copy anywhere: by ~0).
    assert grew["ram"][1] - grew["map"][1] > 0.8 * items, grew
