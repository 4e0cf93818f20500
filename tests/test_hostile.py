"""Hostile files: pickles where safetensors or JSON are expected, safetensors headers that lie,
configs that name what is not a model or point outside the run, and symbolic links in run folders.

Every one is refused with a one-line UserError (exit 2 on the command line) before any code in a
file runs, and nothing outside the run folder is read or written. The rules are in
docs/reliability.md.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

import latentspace as ls
from latentspace import cli, storage
from latentspace.errors import UserError
from latentspace.storage import atomic_write_bytes, load_state, save_state

from conftest import snapshot


# -- a payload that leaves a mark if it ever runs ------------------------------------------------------
class Payload:
    """Unpickling this calls ``open(marker, "w")``: the marker file appears if a pickle is ever loaded."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def pickled(marker: Path, kind: str) -> bytes:
    if kind == "pickle":
        return pickle.dumps({"weights": Payload(marker)})
    buf = io.BytesIO()
    torch.save({"weights": Payload(marker), "t": torch.zeros(2)}, buf)   # a zip holding a pickle
    return buf.getvalue()


def test_the_payload_does_run_when_unpickled(tmp_path):
    """The control: these bytes do write the marker when something unpickles them."""
    marker = tmp_path / "ran"
    pickle.loads(pickled(marker, "pickle"))
    assert marker.exists()


# -- fixtures ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile-runs")
    assert cli.main(["train", "gan", "--data", "ring8", "--steps", "2", "--out", str(base / "gan"),
                     "--no-progress"]) == 0
    return base / "gan"


@pytest.fixture
def place(tmp_path, trained, monkeypatch):
    """A fresh copy of the trained run at ``tmp_path/run``, an ``outside`` folder beside it, cwd = tmp_path,
    and no unpickling anywhere: pickle.load(s) and torch.load fail the test if called."""
    shutil.copytree(trained, tmp_path / "run")
    (tmp_path / "outside").mkdir()
    monkeypatch.chdir(tmp_path)

    def forbidden(*a, **k):
        raise AssertionError("something tried to unpickle")

    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    return tmp_path


def cli_refuses(argv, capsys, phrase: str) -> str:
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 2, err
    assert len(errors) == 1 and err.rstrip().endswith(errors[0]), err
    assert phrase.lower() in errors[0].lower(), errors[0]
    return errors[0]


def api_refuses(fn, phrase: str) -> str:
    with pytest.raises(UserError) as e:
        fn()
    message = str(e.value)
    assert "\n" not in message and phrase.lower() in message.lower(), message
    return message


# -- pickles where safetensors or JSON belong -----------------------------------------------------------
PICKLE_TARGETS = {
    "model/weights.safetensors": [("api", "not a valid safetensors file"),
                                  (["sample", "run", "--out", "s.png"], "not a valid safetensors file")],
    "checkpoints/latest.safetensors": [(["train", "gan", "--resume", "--steps", "4", "--out", "run",
                                         "--no-progress"], "latest.safetensors")],
    "model/model.json": [("api", "is not valid json"), (["sample", "run", "--out", "s.png"], "is not valid json")],
    "config.json": [(["evaluate", "run"], "is not valid json"),
                    (["train", "gan", "--resume", "--steps", "4", "--out", "run"], "is not valid json")],
}


@pytest.mark.parametrize("kind", ["pickle", "torch.save"])
@pytest.mark.parametrize("target", list(PICKLE_TARGETS))
def test_a_pickle_in_place_of_a_run_file_never_runs(place, target, kind, capsys):
    marker = place / "outside" / "PWNED"
    (place / "run" / target).write_bytes(pickled(marker, kind))
    before = snapshot(place)
    for how, phrase in PICKLE_TARGETS[target]:
        if how == "api":
            api_refuses(lambda: ls.load("run"), phrase)
        else:
            cli_refuses(how, capsys, phrase)
        assert not marker.exists()
    assert snapshot(place) == before


@pytest.mark.parametrize("kind", ["raw-pickle", "object-npy"])
def test_a_config_naming_a_pickled_data_file_outside_the_run(place, kind, capsys):
    """config.json's data source is read with the ordinary loaders: never unpickled, never written."""
    marker = place / "outside" / "PWNED"
    evil = place / "outside" / "evil.npy"
    if kind == "raw-pickle":
        evil.write_bytes(pickled(marker, "pickle"))
        phrase = "not a numpy .npy"
    else:
        buf = io.BytesIO()
        np.save(buf, np.array([Payload(marker), 1], dtype=object), allow_pickle=True)
        evil.write_bytes(buf.getvalue())
        phrase = "object array"
    config = json.loads((place / "run" / "config.json").read_text())
    config["data"] = {"name_or_path": str(evil), "options": {}}
    (place / "run" / "config.json").write_text(json.dumps(config))
    before = snapshot(place)
    cli_refuses(["evaluate", "run"], capsys, phrase)
    assert not marker.exists()
    assert snapshot(place) == before


# -- safetensors headers that lie -------------------------------------------------------------------------
def _parts(path: Path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def _pack(header, body: bytes, length: int | None = None) -> bytes:
    hb = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(hb) if length is None else length) + hb + body


def _lie(kind: str, header: dict, body: bytes) -> bytes:
    h = json.loads(json.dumps(header))
    keys = sorted((k for k in h if k != "__metadata__"), key=lambda k: h[k]["data_offsets"][0])
    a, b = h[keys[0]], h[keys[1]]
    if kind == "header-length-beyond-file":
        return _pack(h, body, length=10 * (len(body) + 1000))
    if kind == "header-length-2**63":
        return _pack(h, body, length=2**63)
    if kind == "file-shorter-than-8-bytes":
        return b"\x05\x00\x00"
    if kind == "offsets-past-the-end":
        b["data_offsets"] = [b["data_offsets"][0], len(body) + 4096]
    elif kind == "overlapping-offsets":
        b["data_offsets"] = [a["data_offsets"][0], a["data_offsets"][0] + b["data_offsets"][1] - b["data_offsets"][0]]
    elif kind == "gap-between-tensors":
        a["data_offsets"] = [a["data_offsets"][0], a["data_offsets"][1] - 4]
    elif kind == "reversed-offsets":
        a["data_offsets"] = a["data_offsets"][::-1]
    elif kind == "shape-larger-than-bytes":
        a["shape"] = [10**6, 10**6]
    elif kind == "unknown-dtype":
        a["dtype"] = "PYOBJ"
    elif kind == "negative-shape":
        a["shape"] = [-1]
    elif kind == "trailing-bytes":
        return _pack(h, body + b"\0" * 64)
    elif kind == "header-not-json":
        return _pack(b"{this is not json" + b" " * 7, body)
    elif kind == "header-a-list":
        return _pack(b"[1, 2, 3]", body)
    elif kind == "metadata-names-a-missing-tensor":
        h["__metadata__"]["latentspace"] = json.dumps({"__dict__": [["nets", {"__tensor__": "not.there"}]]})
    elif kind == "metadata-not-strings":
        h["__metadata__"] = {"latentspace": {"__tensor__": 1}}
    return _pack(h, body)


LIES = {
    "header-length-beyond-file": "its header claims",
    "header-length-2**63": "its header claims",
    "file-shorter-than-8-bytes": "too short for a header",
    "offsets-past-the-end": "claims bytes",
    "overlapping-offsets": "overlaps",
    "gap-between-tensors": "but",   # its size no longer matches its shape
    "reversed-offsets": "claims bytes",
    "shape-larger-than-bytes": "has shape",
    "unknown-dtype": "known dtype",
    "negative-shape": "known dtype",
    "trailing-bytes": "cover",
    "header-not-json": "header is not json",
    "header-a-list": "not a json object",
    "metadata-names-a-missing-tensor": "malformed state",
    "metadata-not-strings": "metadata is not a map of strings",
}


@pytest.mark.parametrize("kind", list(LIES))
def test_a_safetensors_header_that_lies_is_refused_before_the_library_reads_it(place, kind, monkeypatch, capsys):
    weights = place / "run" / "model" / "weights.safetensors"
    header, body = _parts(weights)
    weights.write_bytes(_lie(kind, header, body))
    opened = []
    real_open = storage.safe_open
    monkeypatch.setattr(storage, "safe_open", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    before = snapshot(place)
    api_refuses(lambda: load_state(weights), LIES[kind])
    api_refuses(lambda: ls.load("run"), LIES[kind])
    cli_refuses(["sample", "run", "--out", "s.png"], capsys, LIES[kind])
    if kind != "metadata-names-a-missing-tensor":   # that one is a valid file whose state is malformed
        assert not opened, "safe_open was reached"
    assert snapshot(place) == before


def test_a_gap_between_tensors_is_refused(tmp_path):
    """Two tensors whose byte ranges leave unused bytes between them (each size consistent)."""
    path = tmp_path / "s.safetensors"
    save_state(path, {"a": torch.zeros(2), "b": torch.zeros(2)})
    header, body = _parts(path)
    first, second = sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])
    header[second]["data_offsets"] = [12, 20]
    path.write_bytes(_pack(header, body + b"\0" * 4))
    api_refuses(lambda: load_state(path), "leaves a gap")


def test_valid_states_still_load(tmp_path):
    path = tmp_path / "s.safetensors"
    state = {"w": torch.randn(3, 2), "i": torch.arange(4), "b": torch.ones(2, dtype=torch.bool), "empty": {},
             "n": 3, "t": (torch.zeros(0), "x"), "h": torch.zeros(2, dtype=torch.float16)}
    save_state(path, state)
    back = load_state(path)
    assert torch.equal(back["w"], state["w"]) and back["n"] == 3 and back["t"][1] == "x" and back["empty"] == {}
    save_state(tmp_path / "nothing.safetensors", {})
    assert load_state(tmp_path / "nothing.safetensors") == {}


# -- configs that name what is not a model -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["os.system", "builtins.eval", "latentspace.models.gan.GAN", "__import__"])
def test_model_json_naming_an_unknown_class(place, name, capsys):
    meta = place / "run" / "model" / "model.json"
    d = json.loads(meta.read_text())
    d["model"] = name
    meta.write_text(json.dumps(d))
    before = snapshot(place)
    api_refuses(lambda: ls.load("run"), "names an unknown model")
    cli_refuses(["sample", "run", "--out", "s.png"], capsys, "names an unknown model")
    assert snapshot(place) == before


def test_config_json_naming_an_unknown_class_on_resume(place, capsys):
    config = place / "run" / "config.json"
    d = json.loads(config.read_text())
    d["model"] = "os.system"
    config.write_text(json.dumps(d))
    before = snapshot(place)
    cli_refuses(["train", "gan", "--resume", "--steps", "4", "--out", "run"], capsys, "'os.system'")
    assert snapshot(place) == before


@pytest.mark.parametrize("change,phrase", [
    (lambda d: d["params"].update(__class__="os.system"), "has no parameter '__class__'"),
    (lambda d: d["data"].update(__reduce__="os.system"), "unknown field '__reduce__'"),
    (lambda d: d["data"].update(modality="os.system"), "unknown modality"),
    (lambda d: d["data"].update(scale=[1.0, 2.0, 3.0]), "'scale' must be a number"),
    (lambda d: d.update(params=["os.system"]), "'params' must be a json object"),
    (lambda d: d.update(extra="os.system"), "'extra' must be a json object"),
])
def test_model_json_smuggling_fields(place, change, phrase):
    meta = place / "run" / "model" / "model.json"
    d = json.loads(meta.read_text())
    change(d)
    meta.write_text(json.dumps(d))
    before = snapshot(place)
    api_refuses(lambda: ls.load("run"), phrase)
    assert snapshot(place) == before


def test_a_resume_writes_only_into_the_run_folder_named_on_the_command_line(place, capsys):
    """Nothing read from config.json (here a train.out pointing elsewhere) decides where a run writes."""
    config = place / "run" / "config.json"
    d = json.loads(config.read_text())
    d["train"]["out"] = str(place / "outside")
    config.write_text(json.dumps(d))
    assert cli.main(["train", "gan", "--resume", "--steps", "4", "--out", "run", "--no-progress"]) == 0
    assert list((place / "outside").iterdir()) == []


# -- symbolic links in run folders: reading ----------------------------------------------------------------
def _move_out(place: Path, rel: str) -> Path:
    """Move run/REL outside and leave a symbolic link to it in its place."""
    inside, outside = place / "run" / rel, place / "outside" / rel.replace("/", "-")
    shutil.move(str(inside), str(outside))
    os.symlink(outside, inside)
    return outside


@pytest.mark.parametrize("rel,argv", [
    ("model", ["sample", "run", "--out", "s.png"]),
    ("model/weights.safetensors", ["sample", "run", "--out", "s.png"]),
    ("model/model.json", ["sample", "run", "--out", "s.png"]),
    ("config.json", ["evaluate", "run"]),
    ("checkpoints/latest.safetensors", ["train", "gan", "--resume", "--steps", "4", "--out", "run", "--no-progress"]),
])
def test_a_link_leading_out_of_the_run_folder_is_refused(place, rel, argv, capsys):
    _move_out(place, rel)
    before = snapshot(place)
    if rel.startswith("model"):
        api_refuses(lambda: ls.load("run"), "symbolic link")
    cli_refuses(argv, capsys, "symbolic link")
    assert snapshot(place) == before


def test_links_inside_the_run_folder_and_a_linked_run_folder_are_followed(place):
    (place / "run" / "model").rename(place / "run" / "model-v2")
    os.symlink("model-v2", place / "run" / "model")
    assert ls.load("run").info_.shape == (2,)
    os.symlink(place / "run", place / "outside" / "latest")
    assert ls.load(place / "outside" / "latest").info_.shape == (2,)


# -- symbolic links in run folders: writing ----------------------------------------------------------------
def test_save_replaces_a_linked_model_folder_never_writing_through_it(place):
    model = ls.load("run")
    target = place / "outside" / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    os.symlink(target, place / "saved")
    before = snapshot(place / "outside")
    model.save("saved")
    assert not (place / "saved").is_symlink() and (place / "saved" / "weights.safetensors").is_file()
    assert snapshot(place / "outside") == before
    assert ls.load("saved").info_.shape == (2,)


def test_save_replaces_linked_files_never_their_targets(place):
    model = ls.load("run")
    (place / "saved").mkdir()
    for name in ("weights.safetensors", "model.json"):
        (place / "outside" / name).write_text("precious")
        os.symlink(place / "outside" / name, place / "saved" / name)
    before = snapshot(place / "outside")
    model.save("saved")
    assert not (place / "saved" / "weights.safetensors").is_symlink()
    assert snapshot(place / "outside") == before


def test_atomic_write_replaces_a_link(tmp_path):
    (tmp_path / "target.txt").write_text("precious")
    os.symlink(tmp_path / "target.txt", tmp_path / "link.txt")
    atomic_write_bytes(tmp_path / "link.txt", b"new")
    assert (tmp_path / "target.txt").read_text() == "precious"
    assert not (tmp_path / "link.txt").is_symlink() and (tmp_path / "link.txt").read_bytes() == b"new"


def test_a_resumed_run_replaces_a_linked_model_folder(place):
    target = _move_out(place, "model")
    before = snapshot(place / "outside")
    assert cli.main(["train", "gan", "--resume", "--steps", "4", "--out", "run", "--no-progress"]) == 0
    assert not (place / "run" / "model").is_symlink()
    assert snapshot(place / "outside") == before and target.is_dir()


def test_a_resumed_run_never_writes_through_a_linked_samples_folder(place):
    _move_out(place, "samples")
    before = snapshot(place / "outside")
    cli.main(["train", "gan", "--resume", "--steps", "4", "--out", "run", "--no-progress"])
    assert snapshot(place / "outside") == before


def test_a_resumed_run_never_writes_through_a_linked_checkpoints_folder(place, capsys):
    _move_out(place, "checkpoints")
    before = snapshot(place / "outside")
    cli.main(["train", "gan", "--resume", "--steps", "4", "--out", "run", "--no-progress"])
    assert snapshot(place / "outside") == before


def test_overwrite_removes_a_linked_folder_not_its_contents(place, capsys):
    _move_out(place, "checkpoints")
    before = snapshot(place / "outside")
    code = cli.main(["train", "gan", "--data", "ring8", "--overwrite", "--steps", "2", "--out", "run",
                     "--no-progress"])
    assert code == 0
    assert snapshot(place / "outside") == before


# -- the cache of memory-mapped collections (latentspace.data.mapped) ----------------------------------
@pytest.mark.parametrize("kind", ["raw-pickle", "object-npy"])
def test_a_pickle_in_the_mapped_cache_never_runs(tmp_path, monkeypatch, kind):
    """A cache entry's ``.npy`` replaced by a pickle is refused with its folder named; nothing runs."""
    from PIL import Image

    monkeypatch.setenv("LATENTSPACE_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(np.full((6, 6), 40 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    ls.data.load(folder, size=8, memory="map")
    entry, = (tmp_path / "cache" / "mapped").iterdir()
    marker = tmp_path / "PWNED"
    if kind == "raw-pickle":
        (entry / "train.npy").write_bytes(pickled(marker, "pickle"))
    else:
        np.save(entry / "train.npy", np.array([Payload(marker), 1], dtype=object), allow_pickle=True)
    before = snapshot(tmp_path / "pictures")
    message = api_refuses(lambda: ls.data.load(folder, size=8, memory="map"), "delete that folder and load again")
    assert str(entry) in message
    assert not marker.exists()
    assert snapshot(tmp_path / "pictures") == before


# -- zip archives of images and label tables (latentspace.data.sources, .collections) -----------------------
def _hostile_zip(members: dict, compression=0) -> bytes:
    """A zip whose entry names are written as given (``../``, ``/abs``), as a hostile tool would."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as z:
        for name, data in members.items():
            info = zipfile.ZipInfo("placeholder")
            info.filename, info.compress_type = name, compression
            if isinstance(data, tuple):   # (bytes, external_attr): e.g. a symbolic link
                data, info.external_attr = data
            z.writestr(info, data)
    return buf.getvalue()


def _png_bytes(value: int = 0) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (6, 6), value).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def no_unpickling(tmp_path, monkeypatch):
    """cwd = tmp_path with an ``outside`` folder; pickle.load(s) and torch.load fail the test if called."""
    (tmp_path / "outside").mkdir()
    monkeypatch.chdir(tmp_path)

    def forbidden(*a, **k):
        raise AssertionError("something tried to unpickle")

    for owner, name in ((pickle, "load"), (pickle, "loads"), (torch, "load")):
        monkeypatch.setattr(owner, name, forbidden)
    return tmp_path


@pytest.mark.parametrize("member", ["../outside/evil.png", "../../evil.png", "/tmp/evil.png", "C:/evil.png",
                                    "..\\outside\\evil.png", "a/../../outside/evil.png"])
def test_a_zip_entry_leaving_the_archive_is_refused_and_nothing_is_written(no_unpickling, member, capsys):
    """Zip slip: an entry whose path leaves the archive refuses the whole archive; nothing is unpacked anywhere."""
    (no_unpickling / "x.zip").write_bytes(_hostile_zip({"a.png": _png_bytes(1), "b.png": _png_bytes(2),
                                                        member: _png_bytes(3)}))
    before = snapshot(no_unpickling)
    api_refuses(lambda: ls.data.load("x.zip"), "entry whose path leaves the archive")
    cli_refuses(["train", "gan", "--data", "x.zip", "--steps", "2", "--out", "out", "--no-progress"], capsys,
                "leaves the archive")
    assert snapshot(no_unpickling) == before


def _claim_size(blob: bytes, size: int) -> bytes:
    """``blob`` with every central-directory record claiming ``size`` uncompressed bytes."""
    out, at = bytearray(blob), 0
    while (at := out.find(b"PK\x01\x02", at)) >= 0:
        out[at + 24:at + 28] = struct.pack("<I", size)
        at += 4
    return bytes(out)


def test_a_zip_member_claiming_gigabytes_is_refused_unread(no_unpickling, monkeypatch):
    import zipfile

    blob = _claim_size(_hostile_zip({"a.png": _png_bytes(1), "b.png": _png_bytes(2)}), 0xFFFFFFF0)
    (no_unpickling / "x.zip").write_bytes(blob)
    monkeypatch.setattr(zipfile.ZipFile, "read", lambda *a, **k: pytest.fail("a member was read"))
    message = api_refuses(lambda: ls.data.load("x.zip"), "claims 4.3 GB uncompressed")
    assert "x.zip:a.png" in message and "re-create it" in message


def test_a_zip_bomb_is_refused_before_it_is_inflated(no_unpickling, monkeypatch):
    """A member that inflates past the limit (here 1 MB: 2 MB of zeros in about 2 KB) is refused from its header."""
    import zipfile

    from latentspace.data import sources

    monkeypatch.setattr(sources, "MAX_MEMBER_BYTES", 1 << 20)
    blob = _hostile_zip({"a.png": _png_bytes(1), "b.png": b"\0" * (2 << 20)}, compression=zipfile.ZIP_DEFLATED)
    assert len(blob) < 10_000
    (no_unpickling / "bomb.zip").write_bytes(blob)
    api_refuses(lambda: ls.data.load("bomb.zip", memory="ram"), "bomb.zip:b.png claims 2.1 MB uncompressed")


def test_an_encrypted_zip_member_is_refused(no_unpickling):
    blob = bytearray(_hostile_zip({"a.png": _png_bytes(1), "b.png": _png_bytes(2)}))
    at = 0
    while (at := blob.find(b"PK\x01\x02", at)) >= 0:   # set the "encrypted" flag in the central directory
        blob[at + 8] |= 0x1
        at += 4
    (no_unpickling / "x.zip").write_bytes(bytes(blob))
    api_refuses(lambda: ls.data.load("x.zip"), "is encrypted; re-create the archive without a password")


@pytest.mark.parametrize("kind", ["pickle", "torch.save"])
def test_a_pickle_in_a_zip_or_a_label_table_never_runs(no_unpickling, kind):
    marker = no_unpickling / "outside" / "PWNED"
    (no_unpickling / "x.zip").write_bytes(_hostile_zip({"a.png": _png_bytes(1), "b.png": pickled(marker, kind)}))
    api_refuses(lambda: ls.data.load("x.zip"), "cannot read image x.zip:b.png")
    (no_unpickling / "imgs").mkdir()
    for name in ("a.png", "b.png"):
        (no_unpickling / "imgs" / name).write_bytes(_png_bytes(5))
    (no_unpickling / "labels.csv").write_bytes(pickled(marker, kind))
    api_refuses(lambda: ls.data.load("imgs", labels="labels.csv"), "labels.csv is not")
    assert not marker.exists()


def test_a_symbolic_link_in_a_zip_is_read_as_its_bytes_never_followed(no_unpickling):
    """An entry marked as a link to a file outside is a few bytes of text: not an image, and never opened as a path."""
    secret = no_unpickling / "outside" / "secret.png"
    secret.write_bytes(_png_bytes(9))
    link = (str(secret).encode(), (0o120777 << 16))
    (no_unpickling / "x.zip").write_bytes(_hostile_zip({"a.png": _png_bytes(1), "b.png": link}))
    api_refuses(lambda: ls.data.load("x.zip"), "cannot read image x.zip:b.png")


def test_a_labels_table_cannot_reach_out_of_the_collection_with_dotdot(no_unpickling):
    """A table named with ``..`` is looked for from the working folder only, never by climbing out of an archive."""
    (no_unpickling / "x.zip").write_bytes(_hostile_zip({"a/1.png": _png_bytes(1), "b/2.png": _png_bytes(2)}))
    api_refuses(lambda: ls.data.load("x.zip", labels="../secret.csv"), "no such labels file: ../secret.csv")
