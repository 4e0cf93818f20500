"""The command line: the happy path, and one test per kind of bad input (exit 2, one line, nothing written)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from latentspace.cli import main
from latentspace.storage import load_state, save_state


def snapshot(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} if folder.exists() else {}


def fails(capsys, argv, pattern, *, watch=None):
    """Run the CLI, expect exit 2 with a one-line error matching ``pattern`` and no change under ``watch``."""
    before = snapshot(watch) if watch is not None else None
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert pattern.lower() in err[0].lower(), err[0]
    if watch is not None:
        assert snapshot(watch) == before
    return err[0]


@pytest.fixture
def gan_run(tmp_path):
    run = tmp_path / "gan"
    assert main(["train", "gan", "--data", "ring8", "--steps", "20", "--batch-size", "64", "--out", str(run),
                 "--set", "hidden=32", "--no-progress"]) == 0
    return run


def test_train_sample_evaluate_round_trip(gan_run, tmp_path, capsys):
    assert (gan_run / "model" / "weights.safetensors").is_file()
    assert main(["sample", str(gan_run), "--n", "10", "--out", str(tmp_path / "s.npy"), "--seed", "1"]) == 0
    x = np.load(tmp_path / "s.npy", allow_pickle=False)
    assert x.shape == (10, 2) and np.isfinite(x).all()
    assert main(["sample", str(gan_run), "--n", "16", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()
    assert main(["evaluate", str(gan_run), "--n", "500"]) == 0
    out = capsys.readouterr().out
    assert "modes captured (PacGAN)" in out and "floor" in out.splitlines()[1]
    metrics = json.loads((gan_run / "metrics.json").read_text())
    assert metrics["floor"]["modes_captured"] == 8 and 0 <= metrics["scores"]["high_quality_fraction"] <= 1


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("kde", "gmm", "ppca", "gan", "vae", "ring8", "grid25", "digits", "mnist"):
        assert f"  {name} " in out


def test_resume_continues_a_run(gan_run, capsys):
    assert main(["train", "gan", "--data", "ring8", "--steps", "30", "--out", str(gan_run), "--resume",
                 "--no-progress"]) == 0
    assert load_state(gan_run / "checkpoints" / "latest.safetensors")["step"] == 30


def test_unknown_model(capsys, tmp_path):
    fails(capsys, ["train", "gann", "--data", "ring8", "--out", tmp_path / "r"], "unknown model 'gann'")
    assert not (tmp_path / "r").exists()


def test_unknown_dataset(capsys, tmp_path):
    fails(capsys, ["train", "gan", "--data", "ring9", "--out", tmp_path / "r"], "unknown dataset 'ring9'")
    assert not (tmp_path / "r").exists()


def test_missing_path(capsys, tmp_path):
    fails(capsys, ["train", "vae", "--data", tmp_path / "nowhere", "--out", tmp_path / "r"], "no such file")
    assert not (tmp_path / "r").exists()


def test_empty_folder(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    fails(capsys, ["train", "vae", "--data", tmp_path / "empty", "--out", tmp_path / "r"], "empty")
    assert not (tmp_path / "r").exists()


def test_corrupt_image(capsys, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    from PIL import Image

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "good.png")
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    msg = fails(capsys, ["train", "vae", "--data", folder, "--out", tmp_path / "r"], "bad.png")
    assert "corrupt" in msg.lower() or "cannot" in msg.lower()
    assert not (tmp_path / "r").exists()


def test_nan_in_array(capsys, tmp_path):
    x = np.random.default_rng(0).normal(size=(50, 2))
    x[3, 1] = np.nan
    np.save(tmp_path / "x.npy", x)
    fails(capsys, ["train", "gmm", "--data", tmp_path / "x.npy", "--out", tmp_path / "r"], "nan")
    assert not (tmp_path / "r").exists()


def test_wrong_shape(capsys, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros(10))
    fails(capsys, ["train", "gmm", "--data", tmp_path / "x.npy", "--out", tmp_path / "r"], "shape")
    assert not (tmp_path / "r").exists()


def test_wrong_dtype(capsys, tmp_path):
    np.save(tmp_path / "x.npy", np.array([["a", "b"], ["c", "d"]]))
    fails(capsys, ["train", "gmm", "--data", tmp_path / "x.npy", "--out", tmp_path / "r"], "dtype")
    assert not (tmp_path / "r").exists()


def test_existing_run_folder(gan_run, capsys):
    fails(capsys, ["train", "gan", "--data", "ring8", "--steps", "5", "--out", gan_run], "already exists",
          watch=gan_run)


def test_checkpoint_of_another_model(gan_run, capsys):
    fails(capsys, ["train", "vae", "--data", "ring8", "--steps", "40", "--out", gan_run, "--resume"],
          "model 'gan', not 'vae'", watch=gan_run)


def test_bad_set_key(capsys, tmp_path):
    fails(capsys, ["train", "gan", "--data", "ring8", "--out", tmp_path / "r", "--set", "learning_rate=1"],
          "no parameter 'learning_rate'")
    assert not (tmp_path / "r").exists()


def test_bad_set_value(capsys, tmp_path):
    fails(capsys, ["train", "gan", "--data", "ring8", "--out", tmp_path / "r", "--set", "lr=fast"],
          "'lr' expects a float")
    assert not (tmp_path / "r").exists()


def test_sample_refuses_to_overwrite(gan_run, tmp_path, capsys):
    target = tmp_path / "s.npy"
    target.write_bytes(b"precious")
    fails(capsys, ["sample", gan_run, "--n", "4", "--out", target], "already exists")
    assert target.read_bytes() == b"precious"


def test_load_missing_model(capsys, tmp_path):
    fails(capsys, ["sample", tmp_path / "nope", "--n", "4", "--out", tmp_path / "s.npy"], "no such model")


def test_corrupt_weights(gan_run, capsys, tmp_path):
    (gan_run / "model" / "weights.safetensors").write_bytes(b"garbage")
    fails(capsys, ["sample", gan_run, "--n", "4", "--out", tmp_path / "s.npy"], "corrupt")
    assert not (tmp_path / "s.npy").exists()


def test_real_process_exit_code_and_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "latentspace.cli", "train", "nosuchmodel", "--data", "ring8",
                           "--out", str(tmp_path / "r")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error: unknown model 'nosuchmodel'")


def test_help_does_not_import_torch():
    code = "import sys; from latentspace.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "False"


def test_seeded_sampling_identical_after_load(gan_run, tmp_path):
    import latentspace as ls

    a = ls.load(gan_run).sample(50, seed=7)
    b = ls.load(gan_run / "model").sample(50, seed=7)
    assert torch.equal(a, b)
    assert not torch.equal(a, ls.load(gan_run).sample(50, seed=8))


def test_default_run_folder_is_named_for_the_model_and_the_data(tmp_path, monkeypatch):
    np.save(tmp_path / "points.npy", np.random.default_rng(0).normal(size=(60, 2)))
    monkeypatch.chdir(tmp_path)
    assert main(["train", "gmm", "--data", "points.npy"]) == 0
    assert main(["train", "gmm", "--data", "ring8"]) == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["gmm-points", "gmm-ring8"]


# -- resuming needs no other option; unfinished runs; counts; paths; disk space -----------------------------
RUN_OPTIONS = ["--data", "ring8", "--steps", "30", "--batch-size", "32", "--seed", "5", "--set", "hidden=32",
               "--set", "layers=2", "--checkpoint-every", "10", "--log-every", "5", "--sample-every", "50",
               "--no-progress"]


@pytest.fixture
def cut_run(tmp_path, monkeypatch, capsys):
    """A run of RUN_OPTIONS stopped by Ctrl-C during step 18, as the user would."""
    import os
    import signal

    from latentspace.models.gan import GAN

    real = GAN.train_step

    def interrupted(self, batch, step):
        if step == 17:
            os.kill(os.getpid(), signal.SIGINT)
        return real(self, batch, step)

    run = tmp_path / "cut"
    with monkeypatch.context() as m:
        m.setattr(GAN, "train_step", interrupted)
        assert main(["train", "gan", *RUN_OPTIONS, "--out", str(run)]) == 130
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (f"stopped: interrupted at step 18; checkpoint saved in the run folder, continue with --resume: "
                   f"latentspace train gan --resume --out {run}")
    return run


def test_resume_with_no_other_option_keeps_the_runs_length_and_settings(cut_run, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    from latentspace.models.gan import GAN
    from latentspace.train import run as runfolder

    monkeypatch.setattr(GAN, "_default_steps", lambda self, data: 45)  # a forgotten length shows quickly
    assert main(["train", "gan", *RUN_OPTIONS, "--out", str(tmp_path / "full")]) == 0
    before = runfolder.read_config(cut_run)
    assert main(["train", "gan", "--resume", "--out", str(cut_run), "--no-progress"]) == 0
    assert load_state(cut_run / "checkpoints" / "latest.safetensors")["step"] == 30
    after = runfolder.read_config(cut_run)
    assert {k: after["train"][k] for k in runfolder.RESUMED} == {k: before["train"][k] for k in runfolder.RESUMED}
    full = load_file(str(tmp_path / "full" / "model" / "weights.safetensors"))
    cut = load_file(str(cut_run / "model" / "weights.safetensors"))
    assert all(torch.equal(full[k], cut[k]) for k in full)


@pytest.mark.parametrize("option, message", [
    (["--batch-size", "64"], "trained with batch size 32, not 64"),
    (["--seed", "0"], "trained with seed 5, not 0"),
    (["--steps", "10"], "give at least 18 steps"),
    (["--steps", "0"], "--steps must be a positive integer, got 0"),
])
def test_resume_refuses_settings_that_break_exactness(option, message, cut_run, capsys):
    fails(capsys, ["train", "gan", "--resume", "--out", cut_run, "--no-progress", *option], message, watch=cut_run)


@pytest.mark.parametrize("option, message", [
    (["--steps", "0"], "--steps must be a positive integer, got 0"),
    (["--steps", "-5"], "--steps must be a positive integer, got -5"),
    (["--batch-size", "0"], "--batch-size must be a positive integer, got 0"),
    (["--batch-size", "-64"], "--batch-size must be a positive integer, got -64"),
    (["--checkpoint-every", "0"], "--checkpoint-every must be a positive integer"),
    (["--sample-every", "-1"], "--sample-every must be at least 0"),
])
def test_zero_or_negative_counts_are_refused_and_an_old_run_is_kept(option, message, gan_run, capsys):
    fails(capsys, ["train", "gan", "--data", "ring8", "--out", gan_run, "--overwrite", *option], message,
          watch=gan_run)


def test_sample_and_evaluate_an_unfinished_run_from_its_checkpoint(cut_run, tmp_path, capsys):
    assert main(["sample", str(cut_run), "--n", "10", "--out", str(tmp_path / "s.npy")]) == 0
    assert "using its checkpoint of step 18 of 30" in capsys.readouterr().err
    assert np.isfinite(np.load(tmp_path / "s.npy")).all()
    assert main(["evaluate", str(cut_run), "--n", "300", "--nll-items", "0", "--no-progress",
                 "--out", str(tmp_path / "m.json")]) == 0
    assert "checkpoint of step 18" in capsys.readouterr().err


def test_a_run_with_neither_model_nor_checkpoint_says_which_is_missing(cut_run, tmp_path, capsys):
    (cut_run / "checkpoints" / "latest.safetensors").unlink()
    fails(capsys, ["sample", cut_run, "--n", "4", "--out", tmp_path / "s.npy"],
          "holds no saved model (model/) and no checkpoint (checkpoints/latest.safetensors)")


def test_data_paths_are_recorded_absolute_and_names_as_names(tmp_path, monkeypatch):
    from latentspace.runs import read_config, run_data

    (tmp_path / "data").mkdir()
    np.save(tmp_path / "data" / "points.npy", np.random.default_rng(0).normal(size=(60, 2)))
    monkeypatch.chdir(tmp_path)
    assert main(["train", "gmm", "--data", "data/points.npy", "--out", "run"]) == 0
    assert main(["train", "gmm", "--data", "ring8", "--out", "named"]) == 0
    source = read_config(tmp_path / "run")["data"]["name_or_path"]
    assert source == str(tmp_path / "data" / "points.npy")
    assert read_config(tmp_path / "named")["data"]["name_or_path"] == "ring8"
    monkeypatch.chdir(tmp_path / "data")                             # evaluate and resume start elsewhere
    assert run_data(tmp_path / "run", read_config(tmp_path / "run")).shape == (2,)


def test_a_run_that_does_not_fit_on_the_disk_is_refused(gan_run, capsys, monkeypatch):
    import shutil
    from collections import namedtuple

    monkeypatch.setattr(shutil, "disk_usage", lambda path: namedtuple("u", "total used free")(10**9, 10**9, 0))
    fails(capsys, ["train", "gan", "--data", "ring8", "--steps", "5", "--out", gan_run, "--overwrite",
                   "--no-progress"], "not enough disk space", watch=gan_run)


def test_a_run_resumed_and_stopped_again_is_sampled_from_its_newer_checkpoint(tmp_path):
    from latentspace.runs import load_run

    run = tmp_path / "run"
    args = ["train", "gan", "--data", "ring8", "--set", "hidden=16", "--set", "layers=1", "--batch-size", "32",
            "--checkpoint-every", "2", "--out", str(run), "--no-progress"]
    assert main(args + ["--steps", "4"]) == 0                       # finished: model/ saved after step 4
    model, config = load_run(run, quiet=True)
    assert "checkpoint_step" not in config
    state = load_state(run / "checkpoints" / "latest.safetensors")  # resumed to step 6, then stopped
    state["step"] = 6
    import time
    time.sleep(0.01)
    save_state(run / "checkpoints" / "latest.safetensors", state)
    model, config = load_run(run, quiet=True)
    assert config["checkpoint_step"] == 6 and "was resumed after its model was saved" in config["note"]
