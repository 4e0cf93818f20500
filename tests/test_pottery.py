"""Pottery profiles: the loader of drawings (orientation, rejects, scales), the synthetic vessels, the
``profile`` modality's pictures (sections, 3-D renders), the report's views and the real collection."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import latentspace as ls
from latentspace.cli import main
from latentspace.data import profiles
from latentspace.errors import UserError
from latentspace.modalities.vessels import render_vessels, sections, vessel_image
from latentspace.report import write_report

from conftest import shared

TURNS = [(t, f) for t in range(4) for f in (False, True)]


def _vessels(families=("bowl", "cup", "jar", "carinated bowl"), size=96, seed=0) -> list[np.ndarray]:
    """Ink masks (H, W) of synthetic vessels in the canonical orientation, one per family, cropped."""
    d = ls.data.load("pottery-synthetic", n=40, n_test=1, size=size, seed=seed)
    x, y = d.to_data()[:, 0].numpy(), d.y.numpy()
    return [profiles.crop(x[int(np.flatnonzero(y == d.classes.index(f))[0])] < 0.5) for f in families]


def _save(mask: np.ndarray, path, turns: int = 0, flip: bool = False, pad: int = 6) -> None:
    """A drawing: the ink black on white, turned by ``np.rot90(., turns)`` and then flipped upside down."""
    a = np.rot90(mask, turns)
    a = a[::-1] if flip else a
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.pad(np.where(a, 0, 255).astype(np.uint8), pad, constant_values=255)).save(path)


# -- orientation ---------------------------------------------------------------------------------------------
def test_orientation_is_found_from_the_drawing_in_all_eight_positions():
    for mask in _vessels():
        for turns, flip in TURNS:
            drawn = np.rot90(mask, turns)
            drawn = drawn[::-1] if flip else drawn
            o = profiles.orient(drawn)
            assert np.array_equal(profiles.apply(drawn, o), mask), (turns, flip, o.name)
    assert len(set(profiles.NAMES)) == 8 and profiles.by_name("axis right, rim top").turns == 2


def test_the_loader_orients_flipped_and_turned_drawings_alike(tmp_path):
    masks = _vessels(("bowl", "jar"))
    for k, mask in enumerate(masks):
        for turns, flip in TURNS:
            _save(mask, tmp_path / f"c{k}" / f"v{turns}{int(flip)}.png", turns, flip)
    d = ls.data.load("pottery", data_dir=tmp_path, size=32, orient="file", test_fraction=0.25)
    x = torch.cat([d.to_data(), d.test.to_data()])[:, 0]
    y = torch.cat([d.y, d.test.y])
    assert d.modality == "profile" and d.shape == (1, 32, 32) and d.classes == ["c0", "c1"]
    assert len(d.info.extra["orientation_detected"]) == 8 and d.info.extra["rejected"] == {}
    for k in range(2):
        same = x[y == k]
        assert (same - same[0]).abs().mean(dim=(1, 2)).max() < 0.02      # the eight copies agree
        assert (same[:, :, 0] < 0.5).any(1).all() and (same[:, -1] < 0.5).any(1).all()   # axis left, on the ground
    assert len(d.files) + len(d.test.files) == 16 and d.files[0].startswith("c0/")


def test_a_collection_drawn_one_way_is_turned_as_a_whole(tmp_path):
    for k, mask in enumerate(_vessels(("bowl", "cup", "jar"))):
        _save(mask, tmp_path / "a" / f"{k}.png", turns=2, flip=True)      # axis on the right, rim at the top
    for orient in ("auto", "collection"):
        d = ls.data.load("pottery", data_dir=tmp_path, size=24, orient=orient, test_fraction=0.34)
        assert d.info.extra["orientation_used"] == {"axis right, rim top": 3}
    plain = ls.data.load("pottery", data_dir=tmp_path, size=24, orient="none", test_fraction=0.34)
    assert plain.info.extra["orientation_used"] == {"axis left, rim top": 3}
    with pytest.raises(UserError, match="option orient must be one of auto, file, collection, none"):
        ls.data.load("pottery", data_dir=tmp_path, orient="sideways")


# -- files that cannot be used, folders that hold none --------------------------------------------------------
def test_blank_and_corrupt_drawings_are_left_out_with_one_warning(tmp_path):
    mask = _vessels(("cup",))[0]
    for split in ("train", "test"):
        for k in range(2):
            _save(mask, tmp_path / split / "cups" / f"{k}.png")
    Image.new("L", (40, 60), 255).save(tmp_path / "train" / "cups" / "blank.png")
    (tmp_path / "train" / "cups" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    good = (tmp_path / "test" / "cups" / "0.png").read_bytes()
    (tmp_path / "test" / "cups" / "truncated.png").write_bytes(good[:len(good) // 2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = ls.data.load("pottery", data_dir=tmp_path, size=16)
    messages = [str(w.message) for w in caught if "pottery" in str(w.message)]
    assert messages == ["pottery: left out 3 of 7 drawings (unreadable: 2, blank: 1); the files are listed in "
                        "data.info.extra['rejected']"]
    assert d.info.extra["rejected"] == {"unreadable": ["train/cups/corrupt.png", "test/cups/truncated.png"],
                                        "blank": ["train/cups/blank.png"]}
    assert (len(d), len(d.test)) == (2, 2) and d.notes == ["left out 3 of 7 drawings (unreadable: 2, blank: 1)"]


def test_specks_of_dust_do_not_move_the_profile(tmp_path):
    mask = _vessels(("jar",))[0]
    dusty = np.pad(mask, 20)
    dusty[2:4, -3:-1] = True                                               # a speck in a corner of the scan
    _save(mask, tmp_path / "train" / "clean.png", turns=2, flip=True)
    _save(dusty, tmp_path / "test" / "dusty.png", turns=2, flip=True)
    d = ls.data.load("pottery", data_dir=tmp_path, size=32)
    assert torch.allclose(d.to_data(), d.test.to_data()) and d.info.extra["specks_removed"] == 1


@pytest.mark.parametrize("layout, message", [
    ("missing", "no such folder: .*; pass --data-dir PATH"),
    ("empty", "holds no drawings .*; give a folder of profile drawings"),
    ("empty test", "test holds no drawings"),
    ("all blank", r"no drawing in .* could be used \(left out 2 of 2 drawings \(blank: 2\)\)"),
    ("none", "pottery reads a folder of profile drawings: pass --data-dir PATH"),
])
def test_folders_without_usable_drawings_are_one_line_errors(tmp_path, layout, message):
    root = tmp_path / "drawings"
    if layout != "missing":
        root.mkdir()
    if layout == "empty test":
        _save(_vessels(("cup",))[0], root / "train" / "a" / "0.png")
        (root / "test" / "a").mkdir(parents=True)
    if layout == "all blank":
        for k in range(2):
            Image.new("L", (30, 30), 255).save(root / f"{k}.png")
    with pytest.raises(UserError, match=message) as err:
        ls.data.load("pottery", data_dir=None if layout == "none" else root)
    assert "\n" not in str(err.value)


def test_options_are_checked(tmp_path):
    with pytest.raises(UserError, match="option scale must be 'height'"):
        ls.data.load("pottery-synthetic", scale="metric")
    with pytest.raises(UserError, match=r"option quantile must lie in \(0, 1\]"):
        ls.data.load("pottery-synthetic", scale="common", quantile=0)
    with pytest.raises(UserError, match="option size must be at least 8"):
        ls.data.load("pottery-synthetic", size=4)


# -- scales ----------------------------------------------------------------------------------------------------
def test_common_scale_keeps_relative_sizes(tmp_path):
    mask = _vessels(("jar",), size=128)[0]
    half = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize((mask.shape[1] // 2, mask.shape[0] // 2),
                                                                          Image.Resampling.BOX)) > 127
    _save(mask, tmp_path / "train" / "big.png", turns=2, flip=True)
    _save(half, tmp_path / "train" / "small.png", turns=2, flip=True)
    _save(half, tmp_path / "test" / "small.png", turns=2, flip=True)
    heights = {}
    for scale in ("height", "common"):
        d = ls.data.load("pottery", data_dir=tmp_path, size=32, scale=scale)
        x = d.to_data()[:, 0]
        heights[scale] = {f[6:-4]: int((x[i] < 0.9).any(1).sum()) for i, f in enumerate(d.files)}
        assert d.y is None and d.info.extra["scale"] == scale and d.files == ["train/big.png", "train/small.png"]
    assert heights["height"]["big"] == heights["height"]["small"] == 32
    assert heights["common"]["big"] == 32 and abs(heights["common"]["small"] - 16) <= 1


def test_synthetic_profiles_are_seeded_and_labelled_by_family():
    a = ls.data.load("pottery-synthetic", n=120, n_test=30, size=32, seed=5)
    b = ls.data.load("pottery-synthetic", n=120, n_test=30, size=32, seed=5)
    c = ls.data.load("pottery-synthetic", n=120, n_test=30, size=32, seed=6)
    assert torch.equal(a.x, b.x) and torch.equal(a.test.x, b.test.x) and not torch.equal(a.x, c.x)
    assert a.classes == ["plate", "bowl", "carinated bowl", "cup", "jar", "amphora"]
    assert set(a.y.tolist()) == set(range(6)) and (a.modality, a.shape, len(a.test)) == ("profile", (1, 32, 32), 30)
    x = a.to_data()[:, 0]
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert (x[:, :, 0] < 0.9).any(1).all() and (x[:, -1] < 0.9).any(1).all()     # the floor at the axis, standing
    assert ((x < 0.5).any(2).any(1)).all()
    tall = (x < 0.9).any(2).sum(1)
    assert (tall[a.y == 5] == 32).all()                                            # amphorae fill the height
    common = ls.data.load("pottery-synthetic", n=120, n_test=30, size=32, scale="common", seed=5)
    h = (common.to_data()[:, 0] < 0.9).any(2).sum(1).float()
    assert h[common.y == 5].min() > 3 * h[common.y == 0].max()                      # amphorae dwarf plates
    assert np.allclose(common.height_cm, a.height_cm)


def test_synthetic_profiles_are_quick():
    t0 = time.perf_counter()
    d = ls.data.load("pottery-synthetic", n=1000, n_test=200)
    assert len(d) == 1000 and time.perf_counter() - t0 < 20      # about 1.5 s on two idle cores


# -- pictures ----------------------------------------------------------------------------------------------------
def test_sections_mirror_the_profile_about_the_axis():
    x = ls.data.load("pottery-synthetic", n=24, n_test=1, size=32, seed=2).to_data()
    s = sections(x)[:, 0]
    assert s.shape == (24, 32, 65) and float(s.min()) >= 0 and float(s.max()) <= 1
    filled, axis, outline = s[:, :, :32].flip(-1), s[:, :, 32], s[:, :, 33:]
    assert torch.allclose(filled, x[:, 0], atol=1e-6)                     # the section is the profile itself
    ink_f, ink_o = filled < 0.75, outline < 0.75
    assert torch.equal(ink_f.any(2), ink_o.any(2))                        # the same rows on both sides
    far = lambda ink: ink.float().cumsum(2).argmax(2)                     # noqa: E731  outermost ink per row
    assert (far(ink_f) - far(ink_o)).abs().max() <= 1                    # the same outer contour, mirrored
    dash = torch.arange(32) % 6 < 4                                       # a dashed gray axis, black at the floor
    assert (axis[:, dash] <= 0.4501).all() and torch.allclose(axis[:, ~dash], x[:, 0, ~dash, 0], atol=1e-6)
    thick = torch.ones(1, 1, 12, 12)
    thick[0, 0, 4:10, :8] = 0                                             # a solid block: outlined, not filled
    s = sections(thick)[0, 0]
    assert float(s[6, 12 - 3]) == 0.0 and float(s[6, 13 + 3]) == 1.0 and float(s[4, 13 + 3]) == 0.0
    assert float(s[7, 12]) == 0.0 and float(s[1, 12]) < 0.5 and float(s[10, 12]) == 1.0


def test_revolved_vessels_are_shaded_pictures():
    x = ls.data.load("pottery-synthetic", n=16, n_test=1, size=64).to_data()
    t0 = time.perf_counter()
    pics = render_vessels(x)
    seconds = time.perf_counter() - t0
    assert pics.dtype == np.uint8 and pics.shape == (16, 113, 128, 3)
    assert (pics[:, 0] == 255).all() and (pics[:, :8, :8] == 255).all()    # white above and around each vessel
    clay = (pics < 250).any(-1).mean((1, 2))
    assert (clay > 0.02).all() and seconds < 30                             # about 1 s on two idle cores
    assert pics.std() > 20                                                  # shaded, not flat
    whole = render_vessels(x[:2], cutaway=False, zoom=2, elevation=10)
    e = np.radians(10)
    assert whole.shape == (2, int(np.ceil((64 * np.cos(e) + 128 * np.sin(e)) * 2)), 256, 3)
    assert vessel_image(x[:3], ncols=3).shape[-1] == 3


def test_the_profile_modality_draws_sections_and_two_more_views():
    d = ls.data.load("pottery-synthetic", n=20, n_test=2, size=16)
    spec, x = d.info.spec, d.to_data()
    assert spec.name == "profile" and spec.spatial_dims == 2 and spec.natural_range == (0.0, 1.0)
    assert spec.display(x, d.info).shape == (20, 1, 16, 33)
    assert spec.grid(x[:8], d.info, ncols=4).shape == (2 * 17 + 1, 4 * 34 + 1, 1)
    views = spec.extra_views(x, d.info)
    assert list(views) == ["half-profiles (first 16)", "revolved in 3-D (first 16)"]
    assert views["revolved in 3-D (first 16)"].dtype == np.uint8 and views["half-profiles (first 16)"].ndim == 3
    assert ls.modalities.get("image").extra_views(x, d.info) == {}
    assert spec.array_layout((5, 16, 16), inferring=True) is None and spec.array_layout((5, 1, 16, 16)) == "chw"
    with pytest.raises(UserError, match="profile items have one channel"):
        spec.check_shape((3, 16, 16))


def test_vessel_figures():
    from latentspace.plots import profile_grid, revolved_grid, section_grid, vessel_figure

    x = ls.data.load("pottery-synthetic", n=8, n_test=1, size=16).to_data()
    for draw in (profile_grid, section_grid, revolved_grid, vessel_figure):
        fig = draw(x, n=4, labels=list("abcd"))
        assert len([ax for ax in fig.axes if ax.images]) == (8 if draw is vessel_figure else 4)
    with pytest.raises(UserError, match="n must be a positive integer"):
        section_grid(x, n=0)


# -- training and the report -------------------------------------------------------------------------------------
def test_cli_trains_on_a_folder_of_drawings_and_the_report_shows_three_views(tmp_path):
    for k, mask in enumerate(_vessels(("bowl", "cup", "jar", "carinated bowl"))):
        for j in range(3):
            _save(mask, tmp_path / "drawings" / f"class{k % 2}" / f"{k}{j}.png", turns=2 * (j % 2), flip=bool(j % 2))
    run = tmp_path / "run"
    assert main(["train", "kde", "--data", "pottery", "--data-dir", str(tmp_path / "drawings"), "--size", "16",
                 "--out", str(run)]) == 0
    assert ls.load(run).info_.modality == "profile"
    results = {"model": "kde", "data": "pottery", "n_samples": 50, "seed": 0, "scores": {"fd": 1.0},
               "floor": {"fd": 0.5}, "details": {"likelihood": "exact", "likelihood_of": "density"}}
    page = write_report(run, tmp_path / "report.html", results=results).read_text()
    for caption in ("half-profiles (first 16)", "revolved in 3-D (first 16)"):
        assert f"<figcaption>{caption}</figcaption>" in page
    assert page.count('src="data:image/png;base64,') >= 3


# -- the real collection -------------------------------------------------------------------------------------------
def test_the_iberian_collection():
    root = shared("pottery_profiles")
    t0 = time.perf_counter()
    d = ls.data.load("pottery", data_dir=root)
    seconds = time.perf_counter() - t0
    assert (len(d), len(d.test), d.shape, d.modality) == (864, 269, (1, 64, 64), "profile")
    assert d.classes == [str(i) for i in range(1, 12)]
    assert np.bincount(d.y.numpy()).tolist() == [25, 38, 55, 7, 40, 39, 38, 215, 16, 286, 105]
    assert np.bincount(d.test.y.numpy()).tolist() == [5, 9, 20, 3, 16, 13, 12, 78, 6, 87, 20]
    extra = d.info.extra
    assert extra["rejected"] == {} and extra["orientation_used"] == {"axis right, rim top": 1133}
    assert extra["orientation_detected"]["axis right, rim top"] >= 1120          # 1,125 measured
    x = d.to_data()[:, 0]
    assert (x[:, :, 0] < 0.5).any(1).float().mean() > 0.99                         # the floor meets the axis
    assert seconds < 120, f"loading took {seconds:.0f} s"                         # about 6 s on two cores


def test_real_drawings_turned_and_flipped_come_back_upright(tmp_path):
    root = shared("pottery_profiles")
    files = [root / "train" / c / f for c, f in (("3", "GI_04.png"), ("8", "TU75_1(1).png"), ("10", "GU070.png"))]
    files = [f for f in files if f.exists()] or sorted((root / "train" / "5").glob("*.png"))[:3]
    for f in files:
        ink = profiles.crop(profiles.ink_mask(np.asarray(Image.open(f).convert("L"))))
        upright = profiles.apply(ink, profiles.by_name("axis right, rim top"))
        for turns, flip in TURNS:
            drawn = np.rot90(upright, turns)
            drawn = drawn[::-1] if flip else drawn
            assert np.array_equal(profiles.apply(drawn, profiles.orient(drawn)), upright), (f.name, turns, flip)


def test_loader_options_reach_the_loader_from_the_command_line(capsys):
    from latentspace import cli

    code = cli.main(["data", "pottery-synthetic", "--data-option", "n=60", "--data-option", "n_test=12",
                     "--size", "32"])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("pottery-synthetic: 72 items (60 training + 12 held out), profile (1, 32, 32)")
    code = cli.main(["data", "pottery-synthetic", "--data-option", "scale"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--data-option expects key=value" in err and len(err.splitlines()) == 1
