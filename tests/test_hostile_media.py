"""Hostile files for the audio and volume loaders, in the manner of test_hostile.py: a pickle dressed as any
supported format never runs, headers that promise more than any scan or than the file holds are refused before
anything is allocated, and annotations cannot reach recordings outside the data folder. Each is one line
(exit 2 on the command line) and writes nothing."""

from __future__ import annotations

import pickle
import struct

import numpy as np
import pytest
import torch

import latentspace as ls

from conftest import snapshot
from test_hostile import api_refuses, cli_refuses, pickled

sf = pytest.importorskip("soundfile", reason="the audio extra (soundfile) is not installed")
nib = pytest.importorskip("nibabel", reason="the nifti extra (nibabel) is not installed")


@pytest.fixture
def no_unpickling(tmp_path, monkeypatch):
    """cwd = tmp_path; pickle.load(s) and torch.load fail the test if anything calls them."""
    monkeypatch.chdir(tmp_path)

    def forbidden(*a, **k):
        raise AssertionError("something tried to unpickle")

    for owner, name in ((pickle, "load"), (pickle, "loads"), (torch, "load")):
        monkeypatch.setattr(owner, name, forbidden)
    return tmp_path


# -- a pickle under every volume and audio suffix ----------------------------------------------------------
VOLUME_SUFFIXES = [".binvox", ".vox", ".nii", ".nii.gz", ".dcm", ".stl", ".off", ".obj", ".npy"]


@pytest.mark.parametrize("suffix", VOLUME_SUFFIXES)
def test_a_pickle_named_as_a_volume_never_runs(no_unpickling, suffix):
    marker = no_unpickling / "PWNED"
    folder = no_unpickling / "scans" / "a"
    folder.mkdir(parents=True)
    for i in range(2):
        (folder / f"item{i}{suffix}").write_bytes(pickled(marker, "pickle"))
    if suffix in (".stl", ".off", ".obj"):
        pytest.importorskip("trimesh", reason="the mesh extra (trimesh) is not installed")
    if suffix == ".dcm":
        pytest.importorskip("pydicom", reason="the dicom extra (pydicom) is not installed")
    api_refuses(lambda: ls.data.load(str(folder / f"item0{suffix}"), size=8), "item0")
    if suffix != ".npy":   # a .npy file is a whole dataset, not one item of a folder
        api_refuses(lambda: ls.data.load(str(no_unpickling / "scans"), size=8), "item")
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".wav", ".cbin"])
def test_a_pickle_named_as_a_recording_never_runs(no_unpickling, suffix):
    marker = no_unpickling / "PWNED"
    folder = no_unpickling / "song"
    folder.mkdir()
    for i in range(2):
        (folder / f"bird{i}{suffix}").write_bytes(pickled(marker, "torch.save"))
        if suffix == ".cbin":
            (folder / f"bird{i}.rec").write_bytes(pickled(marker, "pickle"))
    api_refuses(lambda: ls.data.load("birdsong", data_dir=str(folder)), "bird")
    assert not marker.exists()


# -- headers that promise too much -------------------------------------------------------------------------
def _nifti_claiming(path, shape) -> None:
    """A small valid .nii whose header then claims ``shape``."""
    nib.Nifti1Image(np.zeros((2, 2, 2), np.float32), np.eye(4)).to_filename(str(path))
    raw = bytearray(path.read_bytes())
    struct.pack_into("<8h", raw, 40, len(shape), *shape, *([1] * (7 - len(shape))))
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("shape, phrase", [((3000, 3000, 3000), "over 1024^3 voxels"),
                                           ((64, 64, 64), "the file is truncated")])
def test_a_nifti_header_promising_more_than_the_file_is_refused_before_reading(tmp_path, shape, phrase,
                                                                                capsys):
    path = tmp_path / "scan.nii"
    _nifti_claiming(path, shape)
    api_refuses(lambda: ls.data.load(str(path), size=8), phrase)
    before = snapshot(tmp_path)
    cli_refuses(["train", "vae", "--data", path, "--size", "8", "--out", tmp_path / "run"], capsys, phrase)
    assert snapshot(tmp_path) == before and not (tmp_path / "run").exists()


def test_a_vox_model_larger_than_the_format_can_address_is_refused(tmp_path):
    size = struct.pack("<iii", 2048, 2048, 2048)
    xyzi = struct.pack("<i", 1) + bytes([0, 0, 0, 1])
    chunk = lambda cid, body: cid + struct.pack("<ii", len(body), 0) + body   # noqa: E731
    children = chunk(b"SIZE", size) + chunk(b"XYZI", xyzi)
    path = tmp_path / "big.vox"
    path.write_bytes(b"VOX " + struct.pack("<i", 150) + b"MAIN" + struct.pack("<ii", 0, len(children)) + children)
    api_refuses(lambda: ls.data.load(str(path), size=8), "not 1-256 voxels per side")


def test_a_wav_whose_header_claims_gigabytes_reads_only_what_is_there(tmp_path):
    folder = tmp_path / "song"
    folder.mkdir()
    for i in range(2):
        sf.write(str(folder / f"b{i}.wav"), np.zeros(3200, np.int16), 32000, subtype="PCM_16")
        raw = bytearray((folder / f"b{i}.wav").read_bytes())
        struct.pack_into("<I", raw, 4, 0x7FFFFFF0)                          # RIFF size
        struct.pack_into("<I", raw, raw.find(b"data") + 4, 0x7FFFFFF0)     # data size: 2 GB
        (folder / f"b{i}.wav").write_bytes(bytes(raw))
    api_refuses(lambda: ls.data.load("birdsong", data_dir=str(folder)), "no syllables found")


# -- annotations naming recordings outside the folder ------------------------------------------------------
@pytest.mark.parametrize("name", ["../outside/secret.wav", "/etc/passwd"])
def test_an_annotation_cannot_reach_a_recording_outside_the_folder(tmp_path, name):
    pytest.importorskip("crowsetta", reason="the audio extra (crowsetta) is not installed")
    outside = tmp_path / "outside"
    outside.mkdir()
    sf.write(str(outside / "secret.wav"), np.zeros(32000, np.int16), 32000, subtype="PCM_16")
    root = tmp_path / "bird"
    (root / "Wave").mkdir(parents=True)
    sf.write(str(root / "Wave" / "w0.wav"), np.zeros(32000, np.int16), 32000, subtype="PCM_16")
    notes = "<Note><Position>100</Position><Length>3200</Length><Label>a</Label></Note>"
    seq = (f"<Sequence><WaveFileName>{name}</WaveFileName><Position>0</Position><Length>32000</Length>"
           f"<NumNote>1</NumNote>{notes}</Sequence>")
    (root / "Annotation.xml").write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n<Sequences><NumSequence>1'
                                         f"</NumSequence>{seq}</Sequences>")
    message = api_refuses(lambda: ls.data.load("birdsong", data_dir=str(root)), "none of which is in")
    assert "secret" not in message or "not in" in message
