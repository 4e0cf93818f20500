"""Completion from a fragment: the profile modality's rim/base cuts, and ``latentspace complete``."""

import numpy as np
import pytest
import torch
from PIL import Image

import latentspace as ls
from latentspace import cli
from latentspace.errors import UserError
from latentspace.modalities import get


def a_profile(h=16, w=16, top=3, bottom=12):
    x = torch.ones(1, h, w)
    x[0, top:bottom + 1, 5] = 0.0          # the wall
    x[0, bottom, :6] = 0.0                 # the floor, to the axis
    return x


def test_rim_and_base_split_the_profile_at_the_cut():
    spec = get("profile")
    x = torch.stack([a_profile(), a_profile(top=1, bottom=14)])
    rim, base = spec.fragment_mask(x, "rim"), spec.fragment_mask(x, "base")
    assert rim.shape == x.shape and rim.dtype == torch.bool
    assert bool((rim ^ base).all())                                  # each value in exactly one part
    # ink rows 3..12 (10 rows): the rim keeps rows 0..7, the base rows 8..15
    assert rim[0, 0, :, 0].tolist() == [True] * 8 + [False] * 8
    assert rim[1, 0, :, 0].tolist() == [True] * 8 + [False] * 8     # rows 1..14: 14 rows, cut after 7
    assert spec.fragment_mask(x, "rim", cut=0.25)[0, 0, :, 0].sum() == 3 + 3
    with pytest.raises(UserError, match="rim, base"):
        spec.fragment_mask(x, "neck")
    with pytest.raises(UserError, match="between 0 and 1"):
        spec.fragment_mask(x, "rim", cut=1.5)
    with pytest.raises(UserError, match="no ink"):
        spec.fragment_mask(torch.ones(1, 1, 8, 8), "rim")
    with pytest.raises(UserError, match="MASK.png"):
        get("image").fragment_mask(x, "rim")


@pytest.fixture(scope="module")
def pots_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("complete")
    code = cli.main(["train", "vae", "--data", "pottery-synthetic", "--data-option", "n=64", "--data-option",
                     "n_test=16", "--size", "16", "--steps", "5", "--out", str(root / "run"), "--no-progress"])
    assert code == 0
    data = ls.data.load("pottery-synthetic", n=64, n_test=16, size=16)
    item = data.test.to_data()[0]
    Image.fromarray((item[0].numpy() * 255).round().astype(np.uint8)).save(root / "item.png")
    return root, item


def _cli(argv, capsys):
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err.strip()


def test_complete_keeps_the_rim_and_fills_the_base(pots_run, capsys):
    root, item = pots_run
    out = root / "whole.png"
    code, err = _cli(["complete", root / "run", "--item", root / "item.png", "--keep", "rim", "--out", out,
                      "--steps", "5", "--restarts", "1"], capsys)
    assert code == 0 and "wrote" in err
    whole = np.asarray(Image.open(out), dtype=np.float32) / 255
    given = np.asarray(Image.open(root / "item.png"), dtype=np.float32) / 255
    rim = get("profile").fragment_mask(torch.from_numpy(given)[None], "rim")[0].numpy()
    assert whole.shape == (16, 16)
    assert np.array_equal(whole[rim], given[rim])                   # the kept part is the item's own
    # the same with a mask picture: white where kept
    Image.fromarray((rim * 255).astype(np.uint8)).save(root / "mask.png")
    code, _ = _cli(["complete", root / "run", "--item", root / "item.png", "--keep", root / "mask.png",
                    "--out", root / "whole2.npy", "--steps", "5", "--restarts", "1"], capsys)
    again = np.load(root / "whole2.npy")
    assert code == 0 and again.shape == (1, 16, 16) and np.array_equal(again[0][rim], given[rim])


@pytest.mark.parametrize("change, phrase", [
    ({"--keep": "neck"}, "neither a fragment"),
    ({"--out": "whole.png"}, "already exists"),
    ({"--out": "whole.txt"}, "must end in .png or .npy"),
    ({"--item": "missing.png"}, "no such file"),
    ({"--item": "big.png"}, "the model makes items of 1x16x16"),
    ({"--keep": "bigmask.png"}, "draw the mask at the items' size"),
])
def test_bad_input_is_one_line_and_writes_nothing(pots_run, capsys, change, phrase):
    root, _ = pots_run
    Image.new("L", (20, 20), 255).save(root / "big.png")
    Image.new("L", (20, 20), 255).save(root / "bigmask.png")
    (root / "whole.png").touch() if not (root / "whole.png").exists() else None
    before = sorted(p.name for p in root.iterdir())
    args = {"--item": "item.png", "--keep": "rim", "--out": "new.png", **change}
    argv = ["complete", root / "run"] + [a for k, v in args.items() for a in (k, v if k == "--keep" and "." not in v
                                                                              else root / v)]
    code, err = _cli(argv + ["--steps", "2", "--restarts", "1"], capsys)
    assert code == 2 and phrase in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in root.iterdir()) == before
