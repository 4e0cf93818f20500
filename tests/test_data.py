"""Dataset loaders: known values, invariants, and one UserError per kind of bad input."""

from __future__ import annotations

import gzip
import hashlib
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

import latentspace as ls
from latentspace.data import images as images_mod
from latentspace.data.images import IDX_FILES, load_folder, parse_idx
from latentspace.errors import UserError

from conftest import shared


def _points_raw_roundtrip(d):
    """Model -> data must give back data whose standardisation used the train split."""
    raw = d.to_data()
    assert torch.allclose(d.info.to_model(raw), d.x, atol=1e-5)
    assert torch.allclose(d.x.mean(0), torch.zeros(2), atol=1e-4)
    assert torch.allclose(d.x.std(0), torch.ones(2), atol=1e-3)
    json.dumps(d.info.to_json())   # serialisable
    return raw.double().numpy()


# -- toy 2-D ---------------------------------------------------------------------------
def test_ring8_modes_sigma_and_labels():
    d = ls.data.load("ring8", n=20_000, n_test=4_000, seed=3)
    assert (len(d), len(d.test), d.modality, d.shape) == (20_000, 4_000, "points", (2,))
    modes = np.array(d.info.extra["modes"])
    assert modes.shape == (8, 2) and d.info.extra["sigma"] == 0.01
    np.testing.assert_allclose(np.linalg.norm(modes, axis=1), 1.0)
    np.testing.assert_allclose(modes[2], [0.0, 1.0], atol=1e-12)      # angle 2*pi*2/8
    assert d.classes == [f"mode{i}" for i in range(8)]
    raw, y = _points_raw_roundtrip(d), d.y.numpy()
    for k in range(8):
        pts = raw[y == k] - modes[k]
        assert abs(len(pts) / len(raw) - 1 / 8) < 0.02                 # equal weights
        np.testing.assert_allclose(pts.mean(0), 0.0, atol=2e-3)
        np.testing.assert_allclose(pts.std(0), 0.01, rtol=0.1)
    assert not torch.equal(d.x[:100], d.test.x[:100])                    # independent draws
    again = ls.data.load("ring8", n=20_000, n_test=4_000, seed=3)
    assert torch.equal(again.x, d.x) and torch.equal(again.test.x, d.test.x)
    assert not torch.equal(ls.data.load("ring8", n=100, seed=4).x, d.x[:100])


def test_grid25_modes_sigma():
    d = ls.data.load("grid25", n=25_000, n_test=1_000)
    modes = np.array(d.info.extra["modes"])
    assert d.info.extra["sigma"] == 0.05 and d.num_classes == 25
    assert sorted(map(tuple, modes)) == [(a, b) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)]
    raw, y = _points_raw_roundtrip(d), d.y.numpy()
    res = raw - modes[y]
    np.testing.assert_allclose(res.std(0), 0.05, rtol=0.05)
    assert np.bincount(y, minlength=25).min() > 800


def test_moons_and_swissroll():
    m = ls.data.load("moons", n=2_000, n_test=500, noise=0.0)
    assert m.classes == ["moon0", "moon1"] and "modes" not in m.info.extra
    raw = _points_raw_roundtrip(m)
    upper = raw[m.y.numpy() == 0]
    np.testing.assert_allclose(np.linalg.norm(upper, axis=1), 1.0, atol=1e-5)   # noise-free half circle
    s = ls.data.load("swissroll", n=2_000, n_test=500)
    assert s.y is None and s.shape == (2,) and "modes" not in s.info.extra
    _points_raw_roundtrip(s)


# -- digits and MNIST ----------------------------------------------------------------------
def test_digits_shape_split_stratified_and_roundtrip():
    from sklearn.datasets import load_digits

    d = ls.data.load("digits")
    assert (d.modality, d.shape, d.classes) == ("image", (1, 8, 8), [str(i) for i in range(10)])
    assert len(d) + len(d.test) == 1797 and len(d.test) == 359
    assert float(d.x.min()) == -1.0 and float(d.x.max()) == 1.0
    counts = np.bincount(np.concatenate([d.y.numpy(), d.test.y.numpy()]), minlength=10)
    np.testing.assert_array_equal(np.bincount(d.test.y.numpy(), minlength=10), np.round(counts * 0.2))
    # data space * 16 gives back sklearn's integer intensities, item for item (multiset check)
    ref = load_digits().images.reshape(1797, -1)
    got = torch.cat([d.to_data(), d.test.to_data()]).reshape(1797, -1).numpy() * 16
    np.testing.assert_allclose(np.sort(got.sum(1)), np.sort(ref.sum(1)), atol=1e-3)
    assert not torch.equal(ls.data.load("digits", seed=1).x, d.x)
    half = ls.data.load("digits", test_fraction=0.5)
    assert len(half.test) == int(np.round(counts * 0.5).sum()) and len(half) + len(half.test) == 1797


def _mnist_md5s(folder):
    out = {}
    for line in (folder / "MD5SUMS.txt").read_text().splitlines():
        if "uncompressed md5" in line:
            name = line.split()[1].removesuffix(".gz")
            out[name] = line.split("uncompressed md5")[1].strip(" )")
    return out


def test_mnist_from_shared_folder():
    folder = shared("mnist")
    md5 = _mnist_md5s(folder)
    assert set(md5) == set(IDX_FILES)
    raw = {}
    for stem in IDX_FILES:
        data = gzip.decompress((folder / f"{stem}.gz").read_bytes())
        assert hashlib.md5(data).hexdigest() == md5[stem]
        raw[stem] = parse_idx(data, stem)
    d = ls.data.load("mnist", data_dir=folder)
    assert (len(d), len(d.test), d.shape, d.num_classes) == (60_000, 10_000, (1, 28, 28), 10)
    assert d.y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert d.test.y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(d.test.y.numpy()).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    # model -> data reproduces the raw bytes exactly
    back = (d.to_data()[:, 0] * 255).round().to(torch.uint8).numpy()
    np.testing.assert_array_equal(back, raw["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(d.test.y.numpy(), raw["t10k-labels-idx1-ubyte"])
    small = ls.data.load("mnist", data_dir=str(folder), limit=500)
    assert len(small) == 500 and len(small.test) == 10_000 and torch.equal(small.x, d.x[:500])


def _idx(arr: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, arr.ndim]) + np.array(arr.shape, ">u4").tobytes() + arr.astype(np.uint8).tobytes()


def _fake_idx_dir(path, n=6, m=4, gz=False):
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n, 5, 7)),
              "train-labels-idx1-ubyte": np.arange(n) % 10,
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (m, 5, 7)),
              "t10k-labels-idx1-ubyte": np.arange(m) % 10}
    path.mkdir(exist_ok=True)
    for stem, a in arrays.items():
        data = _idx(a)
        (path / (stem + (".gz" if gz else ""))).write_bytes(gzip.compress(data) if gz else data)
    return arrays


def test_fashion_mnist_uncompressed_idx(tmp_path):
    arrays = _fake_idx_dir(tmp_path / "f")
    d = ls.data.load("fashion-mnist", data_dir=tmp_path / "f")
    assert d.classes[0] == "T-shirt/top" and d.classes[9] == "Ankle boot"
    assert (len(d), len(d.test), d.shape) == (6, 4, (1, 5, 7))
    np.testing.assert_allclose(d.test.to_data()[:, 0].numpy() * 255, arrays["t10k-images-idx3-ubyte"], atol=1e-3)


def test_idx_truncated_and_bad_magic(tmp_path):
    _fake_idx_dir(tmp_path / "t")
    p = tmp_path / "t" / "t10k-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-3])
    with pytest.raises(UserError, match="truncated"):
        ls.data.load("mnist", data_dir=tmp_path / "t")
    p.write_bytes(b"\x12\x34" + p.read_bytes()[2:])
    with pytest.raises(UserError, match="magic"):
        ls.data.load("mnist", data_dir=tmp_path / "t")


class _Resp(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_mnist_download_verifies_checksums(tmp_path, monkeypatch):
    folder = shared("mnist")
    urls = []

    def good(url, timeout=None):   # the shared files are re-gzipped: accepted via the raw MD5
        urls.append(url)
        return _Resp((folder / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(images_mod.urllib.request, "urlopen", good)
    d = ls.data.load("mnist", data_dir=tmp_path / "dl", download=True, limit=10)
    assert len(d) == 10 and len(urls) == 4
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == sorted(s + ".gz" for s in IDX_FILES)

    monkeypatch.setattr(images_mod.urllib.request, "urlopen", lambda url, timeout=None: _Resp(b"tampered"))
    with pytest.raises(UserError, match="bad checksum"):
        ls.data.load("fashion-mnist", data_dir=tmp_path / "bad", download=True)
    assert list((tmp_path / "bad").iterdir()) == []       # nothing written


# -- folders of images -----------------------------------------------------------------------
def _png(path, size, color, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)


def test_folder_with_class_subfolders(tmp_path):
    root = tmp_path / "shapes"
    for i in range(10):
        im = Image.new("L", (40, 20), 255)          # white background, black bar: wide images
        im.paste(0, (5, 5, 35, 15))
        (root / "2").mkdir(parents=True, exist_ok=True)
        im.save(root / "2" / f"a{i}.png")
        _png(root / "10" / "deep" / f"b{i}.bmp", (10, 30), 128, "L")
    (root / ".hidden.png").write_bytes(b"junk")      # hidden files are skipped
    d = ls.data.load(root, size=16, test_fraction=0.2, seed=0)
    assert d.classes == ["2", "10"] and d.shape == (1, 16, 16) and d.modality == "image"
    assert (len(d), len(d.test)) == (16, 4)
    assert np.bincount(d.test.y.numpy()).tolist() == [2, 2]
    img = d.to_data()[d.y == 0][0, 0].numpy()
    assert img[0].min() == 1.0 and img[-1].min() == 1.0          # padded top/bottom with white
    assert img[8].min() < 0.05                                     # the bar, resized to fit
    rgb = load_folder(root, size=16, color="rgb")
    assert rgb.shape == (3, 16, 16)


def test_folder_flat_rgba_and_crop(tmp_path):
    im = Image.new("RGBA", (200, 100), (0, 0, 0, 0))              # transparent -> white
    im.paste((255, 0, 0, 255), (90, 40, 110, 60))                 # a small red square
    im.save(tmp_path / "a.png")
    Image.new("RGB", (30, 30), (0, 0, 255)).save(tmp_path / "b.jpg")
    d = load_folder(tmp_path, size=8, crop=True, test_fraction=0.5)
    assert d.y is None and d.shape == (3, 8, 8) and len(d) + len(d.test) == 2
    x = torch.cat([d.to_data(), d.test.to_data()])
    red = x[(x[:, 1] < 0.5).flatten(1).any(1) & (x[:, 2] < 0.5).flatten(1).any(1)][0]
    np.testing.assert_allclose(red[:, 2:6, 2:6].mean((1, 2)).numpy(), [1, 0, 0], atol=0.05)  # square fills it
    plain = load_folder(tmp_path, size=8, color="gray", test_fraction=0.5)
    assert plain.shape == (1, 8, 8)


def test_pottery_profiles_given_split():
    root = shared("pottery_profiles")
    d = ls.data.load(root, crop=True)
    n_train = {c.name: len(list(c.glob("*.png"))) for c in (root / "train").iterdir()}
    assert (len(d), len(d.test), d.shape) == (sum(n_train.values()), 269, (1, 64, 64))
    assert d.classes == [str(i) for i in range(1, 12)]
    assert np.bincount(d.y.numpy(), minlength=11).tolist() == [n_train[c] for c in d.classes]
    assert set(d.test.y.tolist()) == set(range(11))
    data = d.to_data()
    assert float(data.min()) == 0.0 and float(data.max()) == 1.0
    assert (data.flatten(1).median(1).values == 1.0).all()       # black profiles on white


# -- arrays ----------------------------------------------------------------------------------
def test_npy_points_roundtrip(tmp_path):
    x = np.random.default_rng(0).normal([5.0, -3.0, 100.0], [1.0, 0.1, 20.0], (500, 3))
    np.save(tmp_path / "pts.npy", x)
    d = ls.data.load(tmp_path / "pts.npy", test_fraction=0.1)
    assert (d.modality, d.shape, len(d), len(d.test), d.y) == ("points", (3,), 450, 50, None)
    got = torch.cat([d.to_data(), d.test.to_data()]).double().numpy()
    np.testing.assert_allclose(np.sort(got, 0), np.sort(x, 0), rtol=1e-5, atol=1e-4)
    assert torch.allclose(d.x.std(0), torch.ones(3), atol=1e-2)


def test_npz_images_given_split_and_string_labels(tmp_path):
    rng = np.random.default_rng(1)
    x, xt = rng.integers(0, 256, (20, 6, 5), np.uint8), rng.integers(0, 256, (4, 6, 5), np.uint8)
    np.savez(tmp_path / "im.npz", x=x, y=np.array(["cat", "dog"] * 10), x_test=xt, y_test=np.array(["dog"] * 4))
    d = ls.data.load(tmp_path / "im.npz")
    assert (d.modality, d.shape, d.classes, len(d), len(d.test)) == ("image", (1, 6, 5), ["cat", "dog"], 20, 4)
    np.testing.assert_array_equal((d.to_data()[:, 0] * 255).round().numpy(), x)
    assert d.test.y.tolist() == [1] * 4
    hwc = rng.random((10, 8, 8, 3))
    np.savez(tmp_path / "hwc.npz", x=hwc, y=np.arange(10) % 2, class_names=np.array(["a", "b"]))
    h = ls.data.load(tmp_path / "hwc.npz", test_fraction=0.2)
    assert h.shape == (3, 8, 8) and h.classes == ["a", "b"]


def test_voxels_npz():
    path = shared("voxels") / "modelnet10_vox32_chair_monitor_train.npz"
    ref = np.load(path)
    d = ls.data.load(path)
    assert (d.modality, d.shape, d.classes) == ("volume", (1, 32, 32, 32), ["chair", "monitor"])
    assert d.info.extra == {"threshold": 0.5} and d.info.clip == (0.0, 1.0)
    assert len(d) + len(d.test) == 1354
    assert ((d.x == 1) | (d.x == -1)).all()                                 # {0, 1} -> {-1, 1}
    occupied = int(d.to_data().sum()) + int(d.test.to_data().sum())
    assert occupied == int(ref["x"].sum())                                   # round trip to {0, 1}
    counts = np.bincount(np.concatenate([d.y.numpy(), d.test.y.numpy()]))
    assert counts.tolist() == np.bincount(ref["y"]).tolist() == [889, 465]


# -- one UserError per kind of bad input -----------------------------------------------------
def test_unknown_dataset_name():
    with pytest.raises(UserError, match="unknown dataset 'rng8'.*ring8"):
        ls.data.load("rng8")


def test_missing_path(tmp_path):
    with pytest.raises(UserError, match="no such"):
        ls.data.load(tmp_path / "nope.npz")
    with pytest.raises(UserError, match="no such folder"):
        load_folder(tmp_path / "nothing")


def test_empty_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("no images")
    with pytest.raises(UserError, match="holds no images"):
        ls.data.load(tmp_path)


def test_corrupt_image(tmp_path):
    _png(tmp_path / "ok.png", (8, 8), (0, 0, 0))
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(UserError, match=r"bad\.png"):
        ls.data.load(tmp_path)


def test_nan_in_array(tmp_path):
    x = np.ones((10, 2))
    x[3, 1] = np.nan
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(UserError, match="NaN"):
        ls.data.load(tmp_path / "x.npy")


def test_wrong_shape(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((10, 4, 5, 6)))
    with pytest.raises(UserError, match=r"shape \(10, 4, 5, 6\)"):
        ls.data.load(tmp_path / "x.npy")


def test_object_dtype(tmp_path):
    np.save(tmp_path / "x.npy", np.array([[1, "a"]], dtype=object), allow_pickle=True)
    with pytest.raises(UserError, match="object"):
        ls.data.load(tmp_path / "x.npy")


def test_unknown_option():
    with pytest.raises(UserError, match="no option 'bogus'.*n, n_test, seed"):
        ls.data.load("ring8", bogus=1)


def test_mnist_without_data_dir():
    with pytest.raises(UserError, match="--data-dir PATH.*--download"):
        ls.data.load("mnist")


def test_npz_without_x(tmp_path):
    np.savez(tmp_path / "a.npz", x_train_extra=np.zeros((3, 2)))
    with pytest.raises(UserError, match="unknown key 'x_train_extra'"):
        ls.data.load(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", y=np.zeros(3))
    with pytest.raises(UserError, match="no array 'x' .*keys present: y"):
        ls.data.load(tmp_path / "b.npz")


def test_float_image_out_of_range(tmp_path):
    np.save(tmp_path / "im.npy", np.full((4, 1, 8, 8), 200.0))
    with pytest.raises(UserError, match="divide by 255"):
        ls.data.load(tmp_path / "im.npy")


def test_classes_option_keeps_and_relabels_classes_in_both_splits():
    full = ls.data.load("digits")
    data = ls.data.load("digits", classes="8,3")
    assert data.info.classes == ["8", "3"] and set(data.y.tolist()) == {0, 1}
    assert len(data.x) == int(((full.y == 8) | (full.y == 3)).sum())
    assert torch.equal(data.x[data.y == 0], full.x[full.y == 8])
    assert set(data.test.y.tolist()) == {0, 1} and data.source["options"]["classes"] == "8,3"
    with pytest.raises(UserError, match="no class 'eleven'"):
        ls.data.load("digits", classes="eleven")
    from latentspace.data.registry import select_classes

    with pytest.raises(UserError, match="no labels"):
        select_classes(ls.data.Dataset(full.x, None, info=full.info), "1")


# -- what a file is, named as given ------------------------------------------------------------
@pytest.mark.parametrize("content", [bytes(range(256)) * 2, b"1,2,3\n4,5,6\n", b"PK-ish but not"[:1] + b"junk"])
def test_a_file_that_is_not_numpy_is_not_called_an_object_array(tmp_path, content):
    (tmp_path / "x.npy").write_bytes(content)
    with pytest.raises(UserError, match=r"x\.npy is not a NumPy \.npy or \.npz file") as e:
        ls.data.load(tmp_path / "x.npy")
    assert "object" not in str(e.value)


def test_npy_header_is_checked_before_numpy_allocates(tmp_path):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
    (tmp_path / "big.npy").write_bytes(buf.getvalue() + b"\0" * 8)
    with pytest.raises(UserError, match=r"big\.npy is truncated: its header promises"):
        ls.data.load(tmp_path / "big.npy")
    z = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(z, "w") as f:
        f.writestr("x.npy", buf.getvalue() + b"\0" * 8)
    (tmp_path / "big.npz").write_bytes(z.getvalue())
    with pytest.raises(UserError, match=r"big\.npz: array 'x' is truncated"):
        ls.data.load(tmp_path / "big.npz")


def test_messages_name_the_file_as_given_not_its_stem(tmp_path):
    np.save(tmp_path / "one.npy", np.zeros((1, 2)))
    with pytest.raises(UserError, match=r"one\.npy: x holds 1 item; give at least 2"):
        ls.data.load(tmp_path / "one.npy")
    np.savez(tmp_path / "few.npz", x=np.random.default_rng(0).random((3, 2)), y=np.arange(3))
    with pytest.raises(UserError, match=r"few\.npz: .*held-out split empty"):
        ls.data.load(tmp_path / "few.npz")
    np.savez(tmp_path / "names.npz", x=np.zeros((4, 2)), y=np.array([0, 1, 2, 2]), class_names=np.array(["a"]))
    with pytest.raises(UserError, match=r"names\.npz: label 2 has no name"):
        ls.data.load(tmp_path / "names.npz")
    _png(tmp_path / "imgs" / "only.png", (8, 8), (0, 0, 0))
    with pytest.raises(UserError, match=r"imgs holds 1 image"):
        ls.data.load(tmp_path / "imgs")
    np.savez(tmp_path / "many.npz", x=np.random.default_rng(0).random((10, 2)))
    assert ls.data.load(tmp_path / "many.npz").name == "many"   # the dataset's name is still the stem


# -- from_array --------------------------------------------------------------------------------
def test_from_array_reads_like_the_npy_loader(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    d = ls.data.from_array(x, name="pts", seed=1)
    np.save(tmp_path / "pts.npy", x)
    f = ls.data.load(tmp_path / "pts.npy", seed=1)
    assert (d.modality, d.shape, d.name, len(d), len(d.test)) == ("points", (3,), "pts", 40, 10)
    assert torch.equal(d.x, f.x) and d.info.to_json() == f.info.to_json() and d.source is None

    im = rng.integers(0, 256, (12, 6, 6), dtype=np.uint8)
    g = ls.data.from_array(torch.as_tensor(im), y=["cat", "dog"] * 6, test_fraction=0.25)
    assert (g.modality, g.shape, g.classes, len(g.test)) == ("image", (1, 6, 6), ["cat", "dog"], 4)
    assert ls.data.from_array(im[:, None], modality="image").shape == (1, 6, 6)
    model = ls.models.create("ppca").fit(ls.data.from_array(rng.random((40, 8, 8))))
    assert model.sample(2, seed=0).shape == (2, 1, 8, 8)


@pytest.mark.parametrize("call,match", [
    (lambda: ls.data.from_array(np.full((5, 2), np.nan)), r"from_array\('array'\): x contains"),
    (lambda: ls.data.from_array(np.zeros((5, 2)), y=[1, 2]), "2 labels for 5 items"),
    (lambda: ls.data.from_array(np.zeros((5, 2)), y=3), "a single value for 5 items"),
    (lambda: ls.data.from_array([[1, 2], [3]]), "is not an array|not numbers|object dtype"),
    (lambda: ls.data.from_array(np.zeros((5, 2)), name=""), "non-empty string"),
    (lambda: ls.data.from_array(np.zeros((5, 2)), test_fraction=0), "strictly between 0 and 1"),
    (lambda: ls.data.from_array(np.full((4, 8, 8), 3.0)), r"must lie in \[0, 1\]"),
])
def test_from_array_refuses_bad_input(call, match):
    with pytest.raises(UserError, match=match) as e:
        call()
    assert "\n" not in str(e.value)


# -- a model folder's data description --------------------------------------------------------
def test_datainfo_from_json_checks_every_field():
    good = ls.data.load("ring8", n=20, n_test=5).info.to_json()
    assert ls.data.DataInfo.from_json(good).to_json() == good
    for change, match in [({"shape": "2"}, "item shape"), ({"modality": "sound"}, "unknown modality 'sound'"),
                          ({"bogus": 1}, "unknown field 'bogus'"), ({"scale": [1.0, 0.0]}, "must not be 0"),
                          ({"clip": [1, 0]}, "'clip' must be null"), ({"classes": [1, 2]}, "list of names"),
                          ({"shift": "x"}, "'shift' must be a number")]:
        with pytest.raises(UserError, match=match):
            ls.data.DataInfo.from_json({**good, **change}, where="m.json")
    with pytest.raises(UserError, match="no field 'shape'"):
        ls.data.DataInfo.from_json({k: v for k, v in good.items() if k != "shape"})
