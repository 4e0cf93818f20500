"""Image collections in the layouts people have (latentspace.data.collections and .sources): label tables,
label patterns, zip archives read in place, classes deeper than the parent folder, every pixel format,
a minimum per class, and the summary of what was loaded; each refusal in one line, nothing written."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import latentspace as ls
from latentspace import cli
from latentspace.cli_data import data_argv
from latentspace.data import collections, images, sources
from latentspace.errors import UserError

from conftest import snapshot

# -- making collections --------------------------------------------------------------------------------------


def _save(path: Path, value: int, mode: str = "L", size=(6, 6)) -> None:
    """A constant image of intensity ``value`` (0..255): the decoded item names its file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value,) * len(mode)).save(path)


def collection(root: Path, names: dict) -> dict:
    """Write ``{relative path: value}`` images under ``root``; return it."""
    for rel, value in names.items():
        _save(root / rel, value)
    return names


def values(names) -> dict:
    """Distinct intensities for the paths ``names``: ``{path: value}``."""
    return {rel: 20 + 9 * i for i, rel in enumerate(names)}


def zip_folder(folder: Path, path: Path, top: str | None = None, extra: dict | None = None) -> Path:
    """Zip every file under ``folder`` (under the archive folder ``top`` when given), plus ``extra`` members."""
    with zipfile.ZipFile(path, "w") as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                rel = p.relative_to(folder).as_posix()
                z.write(p, f"{top}/{rel}" if top else rel)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return path


def loaded(data) -> dict:
    """``{intensity: class name or None}`` over both splits of ``data``."""
    out = {}
    for d in (data, data.test):
        v = (d.to_data().flatten(1).mean(1) * 255).round().int().tolist()
        ys = [None] * len(v) if d.y is None else [data.classes[i] for i in d.y.tolist()]
        out.update(zip(v, ys))
    return out


def refused(fn, *phrases) -> str:
    with pytest.raises(UserError) as e:
        fn()
    message = str(e.value)
    assert "\n" not in message, message
    for phrase in phrases:
        assert phrase.lower() in message.lower(), message
    return message


@pytest.fixture
def flat(tmp_path, monkeypatch):
    """12 images in tmp_path/imgs (two in a sub-folder), their values, and cwd = tmp_path."""
    monkeypatch.chdir(tmp_path)
    names = [f"{i}.png" for i in range(10)] + ["sub/a.png", "sub/b.png"]
    return collection(tmp_path / "imgs", values(names))


def label_of(rel: str) -> str:
    return "even" if int(rel.split("/")[-1][0], 16) % 2 == 0 else "odd"


# -- labels from a table -------------------------------------------------------------------------------------


def test_csv_labels_round_trip_with_sub_paths(flat, tmp_path):
    Path("labels.csv").write_text("file,label\n" + "".join(f"{r},{label_of(r)}\n" for r in flat))
    data = ls.data.load("imgs", labels="labels.csv", size=8, test_fraction=0.25)
    assert data.classes == ["even", "odd"] and len(data) + len(data.test) == 12
    assert loaded(data) == {v: label_of(r) for r, v in flat.items()}
    assert data.source["options"]["labels"] == str(tmp_path / "labels.csv")   # recorded absolute
    assert data.notes == [] and "per class: even: 6, odd: 6" in data.summary()


@pytest.mark.parametrize("name,text", [
    ("labels.tsv", "file\tlabel\n{rows}"),                     # TSV by extension
    ("labels.txt", "File;Class\n{rows}"),                      # semicolons sniffed, column aliases, any case
    ("labels.csv", "\ufeffpath,notes,label\n{rows}\n\n"),      # a BOM, an extra column, blank lines
])
def test_table_formats(flat, name, text):
    sep = {"labels.tsv": "\t", "labels.txt": ";"}.get(name, ",")
    rows = "".join(f"./{r}{sep}{'x' + sep if 'notes' in text else ''}{label_of(r)}\n" for r in flat)
    Path(name).write_text(text.format(rows=rows), encoding="utf-8")
    assert loaded(ls.data.load("imgs", labels=name, size=8)) == {v: label_of(r) for r, v in flat.items()}


def test_a_table_inside_the_collection_is_found_there_and_not_reported(flat, tmp_path):
    (tmp_path / "imgs" / "labels.csv").write_text("file,label\n" + "".join(f"{r},{label_of(r)}\n" for r in flat))
    data = ls.data.load("imgs", labels="labels.csv", size=8)
    assert data.num_classes == 2 and data.notes == []
    assert data.source["options"]["labels"] == str(tmp_path / "imgs" / "labels.csv")   # recorded absolute
    Path("labels.csv").write_text("file,label\n0.png,a\n")
    refused(lambda: ls.data.load("imgs", labels="labels.csv"), "names two different tables",
            "rename one of them")
    os.chdir("imgs")   # the same file from both sides: no ambiguity
    assert ls.data.load(".", labels="labels.csv", size=8).num_classes == 2


def test_an_unreadable_sub_folder_is_skipped_and_said(flat, tmp_path, monkeypatch):
    _save(tmp_path / "imgs" / "locked" / "x.png", 1)
    real = os.scandir

    def denied(path):   # as os.scandir behaves on a folder the user may not read (any user, root too)
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(sources.os, "scandir", denied)
    data = ls.data.load("imgs", size=8, class_depth=0)
    assert len(data) + len(data.test) == 12
    assert "skipped 1 folder that could not be read (permissions), e.g. 'locked/'" in data.summary()
    refused(lambda: ls.data.load("imgs/locked"), "cannot read the folder imgs/locked (Permission denied)")


def test_unlabelled_images_are_refused_or_dropped(flat):
    Path("labels.csv").write_text("file,label\n" + "".join(f"{r},{label_of(r)}\n" for r in list(flat)[:9]))
    refused(lambda: ls.data.load("imgs", labels="labels.csv"), "no row in labels.csv for 3 of 12 images",
            "'9.png'", "drop_unlabelled=True")
    data = ls.data.load("imgs", labels="labels.csv", drop_unlabelled=True, size=8)
    assert len(data) + len(data.test) == 9
    assert "left out 3 images without a row in labels.csv (drop_unlabelled), e.g. '9.png'" in data.summary()


@pytest.mark.parametrize("table,phrases", [
    ("file,label\n0.png,a\nmissing.png,a\nsub/zz.png,b\n", ("names 2 files not among the images of imgs",
                                                             "'missing.png'", "fix the paths")),
    ("name,label\n0.png,a\n", ("no file column", "'name'", "file and label")),
    ("file,label\n0.png,\n", ("row 2 gives no label",)),
    ("file,label\n0.png,a\n./0.png,b\n", ("names '0.png' twice (rows 2 and 3)",)),
    ("file,label\n0.png\n", ("row 2 has 1 column(s)",)),
    ("file,label\n", ("has a header row but no rows",)),
    ("", ("labels.csv is empty",)),
    (",,\n , \n", ("labels.csv holds no table",)),
    (b"\xff\xfe\x00\x01 not utf-8", ("not utf-8 text",)),
])
def test_bad_tables_are_refused_in_one_line(flat, table, phrases):
    Path("labels.csv").write_bytes(table if isinstance(table, bytes) else table.encode())
    refused(lambda: ls.data.load("imgs", labels="labels.csv"), *phrases)


def test_a_missing_table_says_where_it_looked(flat):
    refused(lambda: ls.data.load("imgs", labels="nope.csv"), "no such labels file: nope.csv",
            "working folder and in imgs")


def test_a_table_and_a_pattern_over_a_given_split(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = values([f"{s}/{c}_{i}.png" for s in ("train", "test") for c in ("cat", "dog") for i in range(2)])
    collection(tmp_path / "s", names)
    Path("t.csv").write_text("file,label\n" + "".join(f"{r},{r.split('/')[1][:3]}\n" for r in names))
    for data in (ls.data.load("s", labels="t.csv", size=8),
                 ls.data.load("s", label_pattern=r"^(?:train|test)/(?P<label>[a-z]+)_", size=8)):
        assert (len(data), len(data.test), data.classes) == (4, 4, ["cat", "dog"])
        assert loaded(data) == {v: r.split("/")[1][:3] for r, v in names.items()}


# -- labels from a pattern -----------------------------------------------------------------------------------


def test_label_pattern_round_trip(tmp_path):
    names = values([f"{c}_{i}.png" for c in ("cat", "dog", "eel") for i in range(4)] + ["more/cat_9.png"])
    collection(tmp_path / "pets", names)
    data = ls.data.load(tmp_path / "pets", label_pattern=r"(?:^|/)(?P<label>[a-z]+)_", size=8)
    assert data.classes == ["cat", "dog", "eel"]
    assert loaded(data) == {v: r.split("/")[-1].split("_")[0] for r, v in names.items()}


def test_label_pattern_refusals(flat):
    refused(lambda: ls.data.load("imgs", label_pattern="(?P<label>[a-z]"), "not a valid regular expression",
            "(?P<label>")
    refused(lambda: ls.data.load("imgs", label_pattern=r"(\d)"), "has no group named 'label'", "(?P<label>...)")
    refused(lambda: ls.data.load("imgs", label_pattern=r"^\d\.(?P<label>png)"),
            "finds no label in 2 of 12 images of imgs", "'sub/a.png'", "drop_unlabelled=True")
    data = ls.data.load("imgs", label_pattern=r"^\d\.(?P<label>png)", drop_unlabelled=True, size=8)
    assert data.classes == ["png"] and "2 images not matched by label_pattern" in data.summary()


def test_label_options_are_exclusive(flat):
    Path("labels.csv").write_text("file,label\n")
    refused(lambda: ls.data.load("imgs", labels="labels.csv", label_pattern="(?P<label>.)"), "not both")
    refused(lambda: ls.data.load("imgs", label_pattern="(?P<label>.)", class_depth=2), "not both")
    np.save("x.npy", np.zeros((4, 2)))
    refused(lambda: ls.data.load("x.npy", labels="labels.csv"), "takes no option 'labels'")


# -- classes deeper than the parent folder -------------------------------------------------------------------


def test_class_depth(tmp_path):
    names = values([f"{site}/{cls}/{i}.png" for site in ("north", "south") for cls in ("bowl", "cup")
                    for i in range(3)])
    collection(tmp_path / "sites", names)
    by_site = ls.data.load(tmp_path / "sites", size=8)                      # the default: the top folder
    assert by_site.classes == ["north", "south"]
    by_class = ls.data.load(tmp_path / "sites", class_depth=2, size=8)
    assert by_class.classes == ["bowl", "cup"]
    assert loaded(by_class) == {v: r.split("/")[1] for r, v in names.items()}
    assert ls.data.load(tmp_path / "sites", class_depth=0, size=8).y is None
    _save(tmp_path / "sites" / "north" / "stray.png", 250)
    refused(lambda: ls.data.load(tmp_path / "sites", class_depth=2), "1 image lies above the class folders",
            "'north/stray.png'", "drop_unlabelled=True")
    kept = ls.data.load(tmp_path / "sites", class_depth=2, drop_unlabelled=True, size=8)
    assert len(kept) + len(kept.test) == 12 and "above the class folders" in kept.summary()
    refused(lambda: ls.data.load(tmp_path / "sites", class_depth=-1), "option class_depth must be at least 0")


def test_top_level_images_beside_class_folders_can_be_dropped(tmp_path):
    collection(tmp_path / "c", values(["a/1.png", "a/2.png", "b/1.png", "b/2.png", "loose.png"]))
    refused(lambda: ls.data.load(tmp_path / "c"), "both at its top level and in sub-folders (a, b)")
    data = ls.data.load(tmp_path / "c", drop_unlabelled=True, size=8, test_fraction=0.5)
    assert data.classes == ["a", "b"] and "left out 1 image above the class folders" in data.summary()


# -- zip archives --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["classes", "flat", "split"])
@pytest.mark.parametrize("top", [None, "pots"])
def test_a_zip_loads_exactly_as_its_folder(tmp_path, layout, top):
    rels = {"classes": [f"{c}/{i}.png" for c in ("bowl", "cup") for i in range(4)],
            "flat": [f"{i}.png" for i in range(6)],
            "split": [f"{s}/{c}/{i}.png" for s in ("train", "test") for c in ("bowl", "cup") for i in range(2)]}
    folder = tmp_path / "pots"
    collection(folder, values(rels[layout]))
    inside = f"{top}/" if top else ""
    archive = zip_folder(folder, tmp_path / "pots.zip", top, extra={"__MACOSX/._0.png": b"junk",
                                                                    f"{inside}.DS_Store": b"junk",
                                                                    f"{inside}notes.txt": b"hi"})
    a, b = ls.data.load(folder, size=8), ls.data.load(archive, size=8)
    for x, y in ((a, b), (a.test, b.test)):
        assert torch.equal(x.x, y.x) and (x.y is None or torch.equal(x.y, y.y))
    assert a.classes == b.classes and b.name == "pots"
    assert "skipped 2 hidden entries, e.g. '__MACOSX/._0.png'" in b.summary()
    assert "skipped 1 file that is not an image, e.g. 'notes.txt'" in b.summary()


def test_zip_with_a_label_table_inside_and_a_pattern(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = values([f"img/{i:02d}.png" for i in range(8)])
    collection(tmp_path / "src", names)
    table = "file,label\n" + "".join(f"pots/{r},{'ab'[i % 2]}\n" for i, r in enumerate(names))   # top folder kept
    archive = zip_folder(tmp_path / "src", tmp_path / "pots.zip", "pots", extra={"pots/labels.csv": table})
    data = ls.data.load("pots.zip", labels="labels.csv", size=8)
    assert loaded(data) == {v: "ab"[i % 2] for i, v in enumerate(names.values())}
    assert data.source["options"]["labels"] == "labels.csv"   # inside the archive: relative to it
    assert "read inside the archive's top folder 'pots/'" in data.summary()
    by_name = ls.data.load(archive, label_pattern=r"/(?P<label>\d)\d\.png", size=8)
    assert by_name.classes == ["0"]


def _raw_zip(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            info = zipfile.ZipInfo("placeholder")
            info.filename = name          # bypass ZipInfo's own clean-up, as a hostile tool would
            z.writestr(info, data)
    return buf.getvalue()


def _png_bytes(value=10) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (6, 6), value).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("member", ["../evil.png", "a/../../evil.png", "/etc/evil.png", "C:/evil.png",
                                    "..\\evil.png"])
def test_a_zip_entry_leaving_the_archive_is_refused(tmp_path, member):
    path = tmp_path / "x.zip"
    path.write_bytes(_raw_zip({"a.png": _png_bytes(), "b.png": _png_bytes(20), member: _png_bytes(30)}))
    before = snapshot(tmp_path)
    refused(lambda: ls.data.load(path), "entry whose path leaves the archive", "re-create the archive")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("damage,phrase", [
    (lambda b: b"", "not a readable zip archive"),
    (lambda b: os.urandom(300), "not a readable zip archive"),
    (lambda b: b[:len(b) // 2], "not a readable zip archive"),
    (lambda b: b.replace(b"IEND", b"IENX"), "cannot read"),        # a member's bytes changed: its CRC fails
])
def test_a_corrupt_zip_is_refused_in_one_line(tmp_path, damage, phrase):
    good = _raw_zip({"a.png": _png_bytes(), "b.png": _png_bytes(20)})
    (tmp_path / "x.zip").write_bytes(damage(good))
    refused(lambda: ls.data.load(tmp_path / "x.zip"), phrase)


def test_zip_refusals_missing_empty_and_twice(tmp_path):
    refused(lambda: ls.data.load(tmp_path / "none.zip"), "no such file", "check the path")
    (tmp_path / "empty.zip").write_bytes(_raw_zip({"readme.txt": b"hi"}))
    refused(lambda: ls.data.load(tmp_path / "empty.zip"), "holds no images", "an archive of images")
    (tmp_path / "twice.zip").write_bytes(_raw_zip({"a.png": _png_bytes(), "./a.png": _png_bytes()}))
    refused(lambda: ls.data.load(tmp_path / "twice.zip"), "two entries named 'a.png'")


def test_zip_members_are_read_one_at_a_time_and_the_archive_closed(tmp_path, monkeypatch):
    collection(tmp_path / "f", values([f"{i}.png" for i in range(4)]))
    archive = zip_folder(tmp_path / "f", tmp_path / "f.zip")
    reads, closed = [], []
    real_read, real_close = zipfile.ZipFile.read, zipfile.ZipFile.close
    monkeypatch.setattr(zipfile.ZipFile, "read", lambda self, name, pwd=None: reads.append(name) or
                        real_read(self, name, pwd))
    monkeypatch.setattr(zipfile.ZipFile, "close", lambda self: closed.append(1) or real_close(self))
    ls.data.load(archive, size=8, memory="ram")
    assert len(reads) == 4 and closed
    assert not (tmp_path / "f.zip.d").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["f", "f.zip"]


# -- pixel formats -------------------------------------------------------------------------------------------


def _write(path: Path, im: Image.Image) -> Path:
    im.save(path)
    return path


def test_every_pixel_format_decodes_to_its_intensities(tmp_path):
    a = np.array([[0, 64], [128, 255]], dtype=np.uint8).repeat(3, 0).repeat(3, 1)      # 6x6, four blocks
    folder = tmp_path / "modes"
    folder.mkdir()
    bits = np.array([[0, 1], [1, 0]], dtype=bool).repeat(3, 0).repeat(3, 1)
    palette = Image.fromarray(np.array([[0, 1], [2, 3]], dtype=np.uint8).repeat(3, 0).repeat(3, 1), "P")
    palette.putpalette([0, 0, 0, 64, 64, 64, 128, 128, 128, 255, 255, 255])
    rgba = np.dstack([np.repeat(a[:, :, None], 3, 2), np.full_like(a, 255)])
    rgba[0, 0, 3] = 0                                                                   # one transparent pixel
    files = {"gray": _write(folder / "gray.png", Image.fromarray(a)),
             "rgb": _write(folder / "rgb.png", Image.fromarray(np.repeat(a[:, :, None], 3, 2))),
             "rgba": _write(folder / "rgba.png", Image.fromarray(rgba, "RGBA")),
             "one-bit": _write(folder / "bits.png", Image.fromarray(bits).convert("1")),
             "16-bit": _write(folder / "deep.png", Image.fromarray(a.astype(np.uint16) * 257)),
             "16-bit-dark": _write(folder / "dark.png", Image.fromarray((a.astype(np.uint16) // 4))),
             "palette": _write(folder / "pal.png", palette),
             "palette-gif": _write(folder / "pal.gif", palette),
             "la": _write(folder / "la.png", Image.fromarray(np.dstack([a, np.full_like(a, 255)]), "LA"))}
    assert Image.open(files["one-bit"]).mode == "1" and Image.open(files["16-bit"]).mode.startswith("I;16")
    assert Image.open(files["palette"]).mode == "P"
    for kind, path in files.items():
        got = images._process(path, 6, "auto", False)
        assert got.shape[1:] == (6, 6), kind
        plane = got[0].astype(int)
        if kind == "one-bit":
            np.testing.assert_array_equal(plane, bits * 255)
        elif kind == "16-bit-dark":   # 16-bit values 0..63: dark, not read as 8-bit
            assert plane.max() == 0
        else:
            want = a.astype(int).copy()
            if kind == "rgba":
                want[0, 0] = 255                                    # transparency composited on white
            np.testing.assert_allclose(plane, want, atol=1, err_msg=kind)
    data = ls.data.load(folder, size=6)
    assert data.shape == (1, 6, 6) and len(data) + len(data.test) == len(files)


# -- a minimum number per class ------------------------------------------------------------------------------


def test_min_per_class_on_the_whole_collection(tmp_path):
    counts = {"amphora": 6, "bowl": 4, "jug": 2, "lid": 1}
    collection(tmp_path / "pots", values([f"{c}/{i}.png" for c, k in counts.items() for i in range(k)]))
    data = ls.data.load(tmp_path / "pots", min_per_class=4, size=8)
    assert data.classes == ["amphora", "bowl"] and len(data) + len(data.test) == 10
    assert ("dropped 2 classes with fewer than 4 images (min_per_class): jug: 2, lid: 1"
            in data.summary())
    refused(lambda: ls.data.load(tmp_path / "pots", min_per_class=7), "no class has 7 or more images",
            "the largest, 'amphora', has 6", "lower min_per_class")
    refused(lambda: ls.data.load(tmp_path / "pots", min_per_class=0), "must be at least 1")
    collection(tmp_path / "flat", values(["1.png", "2.png"]))
    refused(lambda: ls.data.load(tmp_path / "flat", min_per_class=2), "min_per_class needs labels")


def test_min_per_class_counts_the_training_split_when_given(tmp_path):
    rels = [f"train/a/{i}.png" for i in range(3)] + ["train/b/0.png"] + [f"test/b/{i}.png" for i in range(5)]
    collection(tmp_path / "s", values(rels + ["test/a/0.png", "extra/0.png"]))
    data = ls.data.load(tmp_path / "s", min_per_class=2, size=8)
    assert data.classes == ["a"] and (len(data), len(data.test)) == (3, 1)
    summary = data.summary()
    assert "fewer than 2 training images (min_per_class): b: 1" in summary
    assert "ignored 1 image outside train/ and test/, e.g. 'extra/0.png'" in summary


# -- the summary ---------------------------------------------------------------------------------------------


def test_the_summary_is_one_compact_block(tmp_path):
    collection(tmp_path / "pots", values([f"{c}/{i}.png" for c, k in (("bowl", 5), ("cup", 4), ("jug", 1))
                                          for i in range(k)]))
    (tmp_path / "pots" / "notes.txt").write_text("hi")
    data = ls.data.load(tmp_path / "pots", min_per_class=2, size=8)
    assert data.summary() == (
        "pots: 9 items (7 training + 2 held out), image (1, 8, 8), 2 classes\n"
        "  per class: bowl: 5, cup: 4\n"
        "  dropped 1 class with fewer than 2 images (min_per_class): jug: 1\n"
        "  skipped 1 file that is not an image, e.g. 'notes.txt'")
    picked = ls.data.load(tmp_path / "pots", min_per_class=2, classes="cup", size=8)
    assert picked.summary().splitlines()[1:] == ["  per class: cup: 4", *data.summary().splitlines()[2:]]
    assert ls.data.load("ring8").notes is None


# -- the cache of memory-mapped collections ------------------------------------------------------------------


def test_a_changed_table_or_archive_makes_a_new_cache_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTSPACE_CACHE", str(tmp_path / "cache"))
    names = values([f"{i}.png" for i in range(8)])
    collection(tmp_path / "f", names)
    table = tmp_path / "labels.csv"
    table.write_text("file,label\n" + "".join(f"{r},{'ab'[i % 2]}\n" for i, r in enumerate(names)))
    first = loaded(ls.data.load(tmp_path / "f", labels=table, size=8, memory="map"))
    ls.data.load(tmp_path / "f", labels=table, size=8, memory="map")
    entries = lambda: sorted(p.name for p in (tmp_path / "cache" / "mapped").iterdir())   # noqa: E731
    assert len(entries()) == 1
    table.write_text("file,label\n" + "".join(f"{r},{'ab'[i < 4]}\n" for i, r in enumerate(names)))
    again = ls.data.load(tmp_path / "f", labels=table, size=8, memory="map")
    assert len(entries()) == 2 and loaded(again) != first
    ram = ls.data.load(tmp_path / "f", labels=table, size=8, memory="ram")
    assert torch.equal(ram.x, again.x) and torch.equal(ram.y, again.y)
    archive = zip_folder(tmp_path / "f", tmp_path / "f.zip")
    ls.data.load(archive, size=8, memory="map")
    assert len(entries()) == 3
    zip_folder(tmp_path / "f", archive, extra={"8.png": _png_bytes(200)})
    assert len(ls.data.load(archive, size=8, memory="map")) == 7 and len(entries()) == 4


# -- the command line ----------------------------------------------------------------------------------------


def _cli(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_data_prints_the_summary_and_train_says_it_too(flat, tmp_path, capsys):
    Path("labels.csv").write_text("file,label\n" + "".join(f"{r},{label_of(r)}\n" for r in list(flat)[:10]))
    code, out, _ = _cli(["data", "imgs", "--labels", "labels.csv", "--drop-unlabelled", "--size", "8"], capsys)
    assert code == 0 and out.startswith("imgs: 10 items") and "left out 2 images" in out
    code, out, _ = _cli(["data", "imgs", "--label-pattern", r"^\d\.(?P<label>png)", "--drop-unlabelled",
                         "--min-per-class", "1", "--size", "8"], capsys)
    assert code == 0 and "1 class\n" in out and "per class: png: 10" in out
    code, _, err = _cli(["train", "ppca", "--data", "imgs", "--labels", "labels.csv", "--drop-unlabelled",
                         "--size", "8", "--out", "run"], capsys)
    assert code == 0 and "imgs: 10 items (8 training + 2 held out)" in err
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["data"]["options"] == {"size": 8, "labels": str(tmp_path / "labels.csv"), "drop_unlabelled": True}


def test_a_run_on_a_zip_with_its_table_inside_reloads_from_anywhere(tmp_path, monkeypatch, capsys):
    from latentspace.runs import read_config, run_data

    monkeypatch.chdir(tmp_path)
    names = values([f"{i:02d}.png" for i in range(10)])
    collection(tmp_path / "src", names)
    table = "file,label\n" + "".join(f"{r},{'ab'[i % 2]}\n" for i, r in enumerate(names))
    zip_folder(tmp_path / "src", tmp_path / "pots.zip", extra={"labels.csv": table})
    code, _, err = _cli(["train", "ppca", "--data", "pots.zip", "--labels", "labels.csv", "--size", "8",
                         "--out", "run"], capsys)
    assert code == 0 and "pots: 10 items" in err
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    data = run_data(tmp_path / "run", read_config(tmp_path / "run"))
    assert data.classes == ["a", "b"] and loaded(data) == {v: "ab"[i % 2] for i, v in enumerate(names.values())}


@pytest.mark.parametrize("argv,phrase", [
    (["--labels", "nope.csv"], "no such labels file: nope.csv"),
    (["--label-pattern", "(?P<label>"], "not a valid regular expression"),
    (["--label-pattern", "(x)"], "no group named 'label'"),
    (["--labels", "labels.csv"], "no row in labels.csv for 11 of 12 images"),
    (["--min-per-class", "3", "--class-depth", "0"], "min_per_class needs labels"),
    (["--class-depth", "2"], "12 images lie above the class folders"),
    (["--labels", "labels.csv", "--min-per-class", "2", "--drop-unlabelled"], "no class has 2 or more images"),
])
@pytest.mark.parametrize("command", ["train", "data"])
def test_cli_refusals_exit_2_in_one_line_writing_nothing(flat, tmp_path, capsys, argv, phrase, command):
    Path("labels.csv").write_text("file,label\nsub/a.png,a\n")
    before = snapshot(tmp_path)
    head = ["train", "gan", "--data", "imgs", "--steps", "2", "--out", "out", "--no-progress"] if command == "train" \
        else ["data", "imgs"]
    code, out, err = _cli(head + argv, capsys)
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 2 and len(errors) == 1 and err.rstrip().endswith(errors[0]) and "Traceback" not in err
    assert phrase.lower() in errors[0].lower(), errors[0]
    assert snapshot(tmp_path) == before


def test_compare_passes_the_collection_options_on():
    args = cli.build_parser().parse_args(["compare", "gan", "--data", "imgs", "--out", "c", "--labels", "t.csv",
                                          "--label-pattern", "(?P<label>x)", "--class-depth", "2",
                                          "--min-per-class", "3", "--drop-unlabelled", "--size", "8"])
    assert data_argv(args) == ["--size", "8", "--labels", "t.csv", "--label-pattern", "(?P<label>x)",
                               "--class-depth", "2", "--min-per-class", "3", "--drop-unlabelled"]
    train = cli.build_parser().parse_args(["train", "gan", "--data", "imgs", *data_argv(args)])
    assert (train.labels, train.class_depth, train.drop_unlabelled) == ("t.csv", 2, True)


def test_the_collection_modules_stay_under_500_lines():
    for module in (collections, sources, images):
        assert Path(module.__file__).read_text().count("\n") <= 500, module.__name__
