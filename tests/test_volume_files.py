"""Volumes from the files people have: .binvox, MagicaVoxel .vox, meshes (.off, .obj, .stl), NIfTI, DICOM series
and folders of them with class sub-folders; resampling, CT windows, the ``scan`` modality, and every bad input
refused with a one-line UserError (exit 2 on the command line) before anything is written."""

from __future__ import annotations

import builtins
import copy
import struct

import numpy as np
import pytest
import torch

import latentspace as ls
from latentspace import cli, modalities
from latentspace.data.scan_files import read_dicom_series
from latentspace.data.volume_files import WINDOWS, apply_window, check_window, resample_occupancy
from latentspace.data.voxel_formats import read_binvox, read_vox, save_binvox, save_vox
from latentspace.errors import UserError

from conftest import shared

trimesh = pytest.importorskip("trimesh")
nib = pytest.importorskip("nibabel")
pydicom = pytest.importorskip("pydicom")


def refused(match: str, *args, **kwargs):
    """``ls.data.load(*args, **kwargs)`` raises one one-line UserError matching ``match``; returns the message."""
    with pytest.raises(UserError, match=match) as e:
        ls.data.load(*args, **kwargs)
    assert "\n" not in str(e.value)
    return str(e.value)


def voxels(data) -> torch.Tensor:
    """Every item of both splits in data space, ``(n, X, Y, Z)``."""
    return torch.cat([data.to_data(), data.test.to_data()])[:, 0] if data.test is not None else data.to_data()[:, 0]


# -- binvox ------------------------------------------------------------------------------------------------
def test_binvox_bytes_follow_the_spec_axis_order_and_run_length_encoding(tmp_path):
    grid = np.zeros((2, 3, 4), bool)
    grid[1, 0, 0] = True      # x = 1: index x * W * H = 12 (y runs fastest, then z, then x)
    grid[0, 2, 0] = True      # y = 2: index 2
    path = save_binvox(tmp_path / "g.binvox", grid)
    head, _, body = path.read_bytes().partition(b"data\n")
    assert head.splitlines()[:2] == [b"#binvox 1", b"dim 2 3 4"]
    assert list(body) == [0, 2, 1, 1, 0, 9, 1, 1, 0, 11]
    assert np.array_equal(read_binvox(path), grid)


def test_binvox_runs_longer_than_255_are_split_and_round_trip(tmp_path):
    full = save_binvox(tmp_path / "full.binvox", np.ones((10, 10, 10), bool))
    assert list(full.read_bytes().partition(b"data\n")[2]) == [1, 255, 1, 255, 1, 255, 1, 235]
    grid = np.random.default_rng(0).random((17, 23, 31)) > 0.7
    assert np.array_equal(read_binvox(save_binvox(tmp_path / "r.binvox", grid)), grid)


def test_binvox_loads_with_its_voxels_resampled_to_32_and_64(tmp_path):
    grid = np.zeros((32, 32, 32), bool)
    grid[4:20, 10:12, 0:30] = True      # 16 * 2 * 30 = 960 voxels
    save_binvox(tmp_path / "g.binvox", grid)
    d32 = ls.data.load(tmp_path / "g.binvox", size=32)
    assert (d32.modality, d32.shape, len(d32), d32.test) == ("volume", (1, 32, 32, 32), 1, None)
    assert torch.equal(d32.to_data()[0, 0].bool(), torch.from_numpy(grid))
    d64 = ls.data.load(tmp_path / "g.binvox", size=64)
    assert d64.shape == (1, 64, 64, 64) and int(d64.to_data().sum()) == 960 * 8
    assert d64.info.extra == {"size": 64, "threshold": 0.5}


def test_shrinking_keeps_thin_parts_and_pads_to_a_centred_cube():
    grid = np.zeros((64, 64, 32), bool)
    grid[:, 21, :] = True               # a one-voxel wall
    out = resample_occupancy(grid, 32)
    assert out.shape == (32, 32, 32) and out.sum() == 32 * 16
    assert out[:, 10, 8:24].all() and not out[:, :, :8].any() and not out[:, :, 24:].any()   # z centred


# -- MagicaVoxel .vox ----------------------------------------------------------------------------------------
def vox_bytes(size, xyzi, version=150, extra=b"") -> bytes:
    def chunk(cid, content, children=b""):
        return cid + struct.pack("<ii", len(content), len(children)) + content + children
    body = chunk(b"SIZE", struct.pack("<iii", *size)) + chunk(b"XYZI", struct.pack("<i", len(xyzi))
                                                              + bytes(v for p in xyzi for v in p))
    return b"VOX " + struct.pack("<i", version) + chunk(b"MAIN", b"", extra + body + chunk(b"RGBA", bytes(1024)))


def test_vox_reads_voxels_with_z_up_and_skips_other_chunks(tmp_path):
    path = tmp_path / "tower.vox"
    path.write_bytes(vox_bytes((4, 5, 6), [(1, 2, z, 7) for z in range(6)] + [(3, 4, 0, 1)],
                               extra=b"PACK" + struct.pack("<iii", 4, 0, 1)))
    grid = read_vox(path)
    assert grid.shape == (4, 5, 6) and grid.sum() == 7 and grid[1, 2].all() and grid[3, 4, 0]
    data = ls.data.load(path, size=12)       # 4 x 5 x 6 -> 8 x 10 x 12, centred in 12^3
    occ = data.to_data()[0, 0]
    assert int(occ.sum()) == 7 * 8 and occ[4:6, 5:7, :].all()   # x 1 -> 2, 3 (+2), y 2 -> 4, 5 (+1): z up
    assert np.array_equal(read_vox(save_vox(tmp_path / "back.vox", grid)), grid)


@pytest.mark.parametrize("bad, match", [
    (b"RIFF" + bytes(20), "not a MagicaVoxel .vox file"),
    (b"VOX " + struct.pack("<i", 150) + b"MAIN" + struct.pack("<ii", 0, 999), "malformed .vox chunk 'MAIN'"),
    (vox_bytes((4, 4, 4), [(4, 0, 0, 1)]), "outside the model's size"),
    (vox_bytes((0, 4, 4), []), "not 1-256 voxels per side"),
    (vox_bytes((4, 4, 4), [(1, 1, 1, 1)])[:-1030], "malformed .vox chunk"),
])
def test_malformed_vox_chunks_are_refused(tmp_path, bad, match):
    (tmp_path / "bad.vox").write_bytes(bad)
    refused(match, tmp_path / "bad.vox")


# -- meshes ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ext", ["off", "obj", "stl"])
def test_meshes_are_voxelised_with_known_counts_and_placement(tmp_path, ext):
    trimesh.creation.box(extents=(2.0, 0.9, 0.45)).export(tmp_path / f"box.{ext}")
    occ = ls.data.load(tmp_path / f"box.{ext}", size=32).to_data()[0, 0]
    assert int(occ.sum()) == 32 * 16 * 8                       # 2 / 0.9 / 0.45 of a 2-unit cube
    assert occ[:, 8:24, 12:20].all() and not occ[:, :8].any() and not occ[:, :, 20:].any()


def test_a_sphere_is_filled_and_its_volume_is_close_at_64(tmp_path):
    trimesh.creation.icosphere(subdivisions=3, radius=1.0).export(tmp_path / "ball.stl")
    solid = ls.data.load(tmp_path / "ball.stl", size=64).to_data()
    shell = ls.data.load(tmp_path / "ball.stl", size=32, fill=False).to_data()
    ideal = 4 / 3 * np.pi * 32 ** 3
    assert ideal <= float(solid.sum()) <= 1.1 * ideal           # surface voxels count as occupied
    assert float(shell.sum()) < 0.4 * 4 / 3 * np.pi * 16 ** 3 and shell[0, 0, 16, 16, 16] == 0


# -- NIfTI ----------------------------------------------------------------------------------------------------
def test_nifti_is_reoriented_to_ras_with_its_voxel_sizes_and_windowed(tmp_path):
    a = np.full((40, 20, 10), -1000.0, np.float32)
    a[:20] = 40.0                                   # the first 20 voxels along i
    nib.save(nib.Nifti1Image(a, np.diag([-1.0, 2.0, 4.0, 1.0])), tmp_path / "flip.nii.gz")   # i runs to the left
    data = ls.data.load(tmp_path / "flip.nii.gz", window="soft-tissue")
    x = data.to_data()[0, 0]
    assert (data.modality, data.shape, data.info.extra["window"]) == ("scan", (1, 32, 32, 32), [40.0, 400.0])
    # 40 x 40 x 40 mm: a cube, no padding; the tissue lies on the right half (high x in RAS)
    assert torch.allclose(x[16:], torch.tensor(0.5)) and torch.allclose(x[:16], torch.tensor(0.0))


def test_nifti_without_a_window_maps_its_percentile_range(tmp_path):
    a = np.tile(np.arange(16, dtype=np.float32), (16, 16, 1))       # z from 0 to 15
    nib.save(nib.Nifti1Image(a, np.eye(4)), tmp_path / "ramp.nii")
    data = ls.data.load(tmp_path / "ramp.nii", size=16)
    lo, hi = data.info.extra["intensity_range"]
    assert (lo, hi) == (0.0, 15.0)                                  # 256 voxels of each value
    assert data.to_data()[0, 0, 3, 3].tolist() == pytest.approx(np.clip((np.arange(16) - lo) / (hi - lo), 0, 1))


# -- DICOM ----------------------------------------------------------------------------------------------------
def dicom_series(folder, hu_per_slice, slopes=None, *, order=None, uid=None, shape=(16, 16), positions=True):
    """Slices of one series made from pydicom's CT_small.dcm: slice k holds HU ``hu_per_slice[k]`` everywhere
    but a marker (+100 HU) at row 0, column 0 (anterior, the patient's right), stored as (HU + 1024) / slope."""
    template = pydicom.dcmread(pydicom.data.get_testdata_file("CT_small.dcm"))
    folder.mkdir(parents=True, exist_ok=True)
    n = len(hu_per_slice)
    slopes = slopes or [1] * n
    for name, k in enumerate(order or range(n)):
        ds = copy.deepcopy(template)
        hu = np.full(shape, hu_per_slice[k], np.float64)
        hu[0, 0] += 100
        ds.Rows, ds.Columns = shape
        ds.PixelData = np.round((hu + 1024) / slopes[k]).astype(np.int16).tobytes()
        ds.RescaleSlope, ds.RescaleIntercept = slopes[k], -1024
        ds.PixelSpacing = [2.0, 2.0]
        ds.InstanceNumber = k + 1
        if positions:
            ds.ImagePositionPatient = [0.0, 0.0, 2.0 * k]
        else:
            del ds.ImagePositionPatient
        if uid:
            ds.SeriesInstanceUID = uid
        ds.save_as(folder / f"IM{name:03d}.dcm")
    return folder


def test_dicom_slices_written_shuffled_come_back_ordered_in_hu(tmp_path):
    hu = [-100 + 10 * k for k in range(16)]
    shuffled = list(np.random.default_rng(0).permutation(16))
    series = dicom_series(tmp_path / "scan", hu, slopes=[1, 2] * 8, order=shuffled)
    data = ls.data.load(series, size=16, window=(0, 400))
    x = data.to_data()[0, 0]                             # 32 mm on every side: no resampling
    assert data.info.extra["units"] == "HU" and len(data) == 1
    assert x[5, 7].tolist() == pytest.approx([(h + 200) / 400 for h in hu], abs=1e-6)
    assert x[15, 15].tolist() == pytest.approx([(h + 300) / 400 for h in hu], abs=1e-6)   # the marker: right, anterior


def test_dicom_order_falls_back_to_instance_number(tmp_path):
    series = dicom_series(tmp_path / "scan", [0, 100, 200, 300], order=[2, 0, 3, 1], positions=False, shape=(4, 4))
    volume, spacing = read_dicom_series(sorted(series.iterdir()), "scan")
    assert volume[1, 1].tolist() == [0, 100, 200, 300]


def test_pydicoms_ct_small_is_read_in_hounsfield_units(tmp_path):
    src = pydicom.data.get_testdata_file("CT_small.dcm")
    stored = pydicom.dcmread(src).pixel_array
    folder = tmp_path / "ct"
    folder.mkdir()
    for k in range(3):
        ds = pydicom.dcmread(src)
        ds.ImagePositionPatient = [ds.ImagePositionPatient[0], ds.ImagePositionPatient[1], -75.7 + 5 * k]
        ds.save_as(folder / f"{k}.dcm")
    volume, spacing = read_dicom_series(sorted(folder.iterdir()), "ct")
    assert volume.shape == (128, 128, 3) and spacing.tolist() == pytest.approx([0.661468, 0.661468, 5.0])
    assert (volume.min(), volume.max()) == (128 - 1024, 2191 - 1024)
    assert np.array_equal(volume[::-1, ::-1, 0].T, stored - 1024.0)          # LPS slice -> RAS [x, y]
    data = ls.data.load(folder, window="bone")
    assert data.modality == "scan" and 0 < float(data.to_data().mean()) < 0.2


def test_one_dicom_slice_is_not_a_volume(tmp_path):
    refused("one 2-D DICOM slice, not a volume", pydicom.data.get_testdata_file("CT_small.dcm"))


def test_dicom_folder_with_two_series_is_refused(tmp_path):
    dicom_series(tmp_path / "mixed", [0, 10], uid="1.2.3.4")
    dicom_series(tmp_path / "other", [0, 10], uid="1.2.3.5")
    for f in (tmp_path / "other").iterdir():
        f.rename(tmp_path / "mixed" / f"B{f.name}")
    refused("holds slices of 2 DICOM series; put each series in its own folder", tmp_path / "mixed")


def test_dicom_slices_of_different_shapes_or_one_position_are_refused(tmp_path):
    dicom_series(tmp_path / "a", [0, 10], uid="1.2.3")
    dicom_series(tmp_path / "b", [0], uid="1.2.3", shape=(8, 8))
    (tmp_path / "b" / "IM000.dcm").rename(tmp_path / "a" / "small.dcm")
    refused("mixes DICOM images of shapes", tmp_path / "a")
    dicom_series(tmp_path / "c", [0, 10, 20], order=[0, 1, 1])
    refused("share one position", tmp_path / "c")


# -- windows -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, low, level, high", [("soft-tissue", -160, 40, 240), ("lung", -1350, -600, 150),
                                                    ("bone", -500, 400, 1300)])
def test_window_presets_map_their_range_to_0_1(name, low, level, high):
    assert apply_window([low - 1, low, level, high, high + 1], *WINDOWS[name]).tolist() == [0, 0, 0.5, 1, 1]


def test_window_forms_and_bad_windows():
    assert check_window("lung") == (-600, 1500) == check_window([-600, 1500]) == check_window("-600,1500")
    for bad in ("brain", (40,), (40, 0), "40,nan"):
        with pytest.raises(UserError, match="option window"):
            check_window(bad)


# -- folders ---------------------------------------------------------------------------------------------------
def test_modelnet_grids_as_binvox_and_vox_in_class_folders_keep_every_voxel(tmp_path):
    arrays = np.load(shared("voxels") / "modelnet10_vox32_chair_monitor_train.npz", allow_pickle=False)
    x, y, names = arrays["x"], arrays["y"], arrays["class_names"]
    picked = [i for c in range(2) for i in np.flatnonzero(y == c)[:5]]
    for i in picked:
        folder = tmp_path / "mn" / str(names[y[i]])
        folder.mkdir(parents=True, exist_ok=True)
        (save_binvox if i % 2 else save_vox)(folder / f"{i}.{'binvox' if i % 2 else 'vox'}", x[i])
    (tmp_path / "mn" / "README.txt").write_text("not a volume")
    data = ls.data.load(tmp_path / "mn", size=32, test_fraction=0.2)
    assert data.classes == ["chair", "monitor"] and (len(data), len(data.test)) == (8, 2)
    assert sorted(data.test.y.tolist()) == [0, 1]                 # stratified
    counts = sorted(int(v.sum()) for v in voxels(data))
    assert counts == sorted(int(x[i].sum()) for i in picked)
    assert "left out 1 file(s) that are not volumes, e.g. README.txt" in data.summary()
    # the same chairs through the .npz loader: the up axis is the last in both
    chair = int(np.flatnonzero(y == 0)[1])
    occ = ls.data.load(tmp_path / "mn" / "chair" / f"{chair}.binvox").to_data()[0, 0].numpy()
    assert np.array_equal(occ.astype(bool), x[chair])


def test_dicom_series_in_class_folders_are_one_item_each(tmp_path):
    for label, hu in (("healthy", 0), ("lesion", 100)):
        for patient in ("p1", "p2", "p3"):
            dicom_series(tmp_path / "ct" / label / patient, [hu] * 4, shape=(4, 4), uid=f"1.2.{hu}.{patient[1]}")
    (tmp_path / "ct" / "healthy" / "p1" / "DICOMDIR").write_bytes(bytes(128) + b"DICM")
    data = ls.data.load(tmp_path / "ct", size=4, window=(0, 400), test_fraction=0.34)
    assert data.classes == ["healthy", "lesion"] and (len(data), len(data.test)) == (4, 2)
    x = voxels(data)
    centre = x[:, 1:3, 1:3, 1:3].mean((1, 2, 3))
    labels = torch.cat([data.y, data.test.y])
    assert centre.tolist() == pytest.approx([0.5 if k == 0 else 0.75 for k in labels.tolist()])


def test_volume_folder_with_loose_files_or_mixed_kinds_is_refused(tmp_path):
    grid = np.ones((4, 4, 4), bool)
    save_binvox((tmp_path / "a" / "cls").mkdir(parents=True) or tmp_path / "a" / "cls" / "v.binvox", grid)
    save_binvox(tmp_path / "a" / "loose.binvox", grid)
    refused("lie above the class sub-folders", tmp_path / "a")
    save_binvox((tmp_path / "b").mkdir() or tmp_path / "b" / "v.binvox", grid)
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4)), tmp_path / "b" / "s.nii")
    refused("mixes occupancy grids .* and intensity scans", tmp_path / "b")


def test_image_folders_and_arrays_still_load_as_before(tmp_path):
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for k in range(3):
            Image.fromarray(np.full((8, 8), 40 * k, np.uint8)).save(tmp_path / "imgs" / c / f"{k}.png")
    assert ls.data.load(tmp_path / "imgs", size=8).modality == "image"
    np.save(tmp_path / "v.npy", np.zeros((4, 8, 8, 8), np.float32))
    assert ls.data.load(tmp_path / "v.npy").modality == "volume"      # an unnamed 4-D array is occupancy


# -- bad files ------------------------------------------------------------------------------------------------
def nan_nifti(path):
    a = np.zeros((8, 8, 8), np.float32)
    a[2, 3, 4] = np.nan
    nib.save(nib.Nifti1Image(a, np.eye(4)), path)


@pytest.mark.parametrize("name, write, match", [
    ("cut.binvox", lambda p: p.write_bytes(b"#binvox 1\ndim 4 4 4\ntranslate 0 0 0\nscale 1\ndata\n\x01\x20\x00"),
     "end in the middle of a"),
    ("short.binvox", lambda p: p.write_bytes(b"#binvox 1\ndim 4 4 4\ndata\n\x01\x20"), "hold 32 voxels but"),
    ("text.binvox", lambda p: p.write_text("hello"), "not a .binvox file"),
    ("junk.stl", lambda p: p.write_bytes(b"\x00" * 84), "cannot read the mesh|has no faces"),
    ("junk.off", lambda p: p.write_text("OFF\n3 1 0\n0 0 0\n"), "cannot read the mesh|has no faces"),
    ("junk.nii.gz", lambda p: p.write_bytes(b"\x1f\x8b not really gzip"), "cannot read the NIfTI file"),
    ("nan.nii", nan_nifti, "contains 1 NaN/inf voxel value"),
])
def test_corrupt_files_are_refused_in_one_line_and_exit_2_writing_nothing(tmp_path, capsys, name, write, match):
    write(tmp_path / name)
    refused(match, tmp_path / name)
    run = tmp_path / "run"
    assert cli.main(["train", "vae", "--data", str(tmp_path / name), "--steps", "1", "--out", str(run),
                     "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "error:" in err and not run.exists()


def test_empty_folders_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    refused(".", tmp_path / "empty")
    (tmp_path / "classes" / "chair").mkdir(parents=True)
    refused(".", tmp_path / "classes")


def test_missing_library_names_its_extra(tmp_path, monkeypatch):
    trimesh.creation.box().export(tmp_path / "box.stl")
    real_import = builtins.__import__

    def no_field_libraries(name, *args, **kwargs):
        if name.split(".")[0] in ("trimesh", "nibabel", "pydicom"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_field_libraries)
    monkeypatch.setattr("importlib.import_module", lambda name: no_field_libraries(name))
    assert refused(".", tmp_path / "box.stl") == "reading .stl needs trimesh: pip install 'latentspace[mesh]'"
    (tmp_path / "s.nii").write_bytes(b"x")
    refused(r"reading .nii needs nibabel: pip install 'latentspace\[nifti\]'", tmp_path / "s.nii")
    (tmp_path / "ct").mkdir()
    (tmp_path / "ct" / "a.dcm").write_bytes(b"x")
    refused(r"needs pydicom: pip install 'latentspace\[dicom\]'", tmp_path / "ct")


def test_bad_options_are_refused(tmp_path):
    save_binvox(tmp_path / "g.binvox", np.ones((4, 4, 4), bool))
    refused("option size must be at least 4", tmp_path / "g.binvox", size=2)
    refused("the window option is for CT scans", tmp_path / "g.binvox", window="lung")
    refused("takes no option 'colour'", tmp_path / "g.binvox", colour="red")
    refused("no such file or folder", tmp_path / "missing.binvox")


# -- the scan modality and the command line --------------------------------------------------------------------
def test_scan_pictures_are_three_grey_slices_in_radiological_orientation():
    spec = modalities.get("scan")
    assert (spec.spatial_dims, spec.natural_range, spec.cmap, "volume" in spec.lineage) == (3, (0.0, 1.0), "gray", True)
    x = torch.zeros(2, 1, 8, 8, 8)
    x[:, 0, 7, 7, 4] = 1                       # right, anterior, in the axial middle slice
    info = ls.data.DataInfo(name="t", modality="scan", shape=(1, 8, 8, 8), clip=(0, 1))
    pics = spec.display(x, info)
    assert pics.shape == (2, 1, 8, 26)
    axial = pics[0, 0, :, :8]
    assert axial[0, 0] == 1 and axial.sum() == 1       # top left: anterior at the top, the right on the left
    assert spec.grid(x, info).shape == (19, 28, 1)            # one item per row, framed
    assert spec.array_layout((4, 8, 8, 8), inferring=True) is None


def test_cli_data_and_train_on_a_volume_folder(tmp_path, capsys):
    for c in ("ball", "cube"):
        for k in range(3):
            grid = np.zeros((16, 16, 16), bool)
            grid[4:12 - k, 4:12, 4:12] = True
            if c == "ball":
                grid[4:6] = False
            save_binvox((tmp_path / "v" / c).mkdir(parents=True, exist_ok=True) or tmp_path / "v" / c / f"{k}.binvox",
                        grid)
    assert cli.main(["data", str(tmp_path / "v"), "--size", "16"]) == 0
    assert "v: 6 items (4 training + 2 held out), volume (1, 16, 16, 16), 2 classes" in capsys.readouterr().out
    run = tmp_path / "run"
    assert cli.main(["train", "vae", "--data", str(tmp_path / "v"), "--size", "16", "--steps", "2", "--batch-size",
                     "4", "--out", str(run), "--no-progress"]) == 0
    assert (run / "model").is_dir()


def test_training_on_a_single_volume_file_is_refused_in_one_line(tmp_path):
    grid = np.zeros((8, 8, 8), bool)
    grid[2:6, 2:6, 2:6] = True
    data = ls.data.load(save_binvox(tmp_path / "one.binvox", grid), size=8)
    assert len(data) == 1
    with pytest.raises(UserError, match="1 training item"):
        ls.models.create("vae").fit(data, steps=1, progress=False)
