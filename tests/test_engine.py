"""The training engine: determinism, exact resume, Ctrl-C, atomic checkpoints, NaN guard, DDP."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

import latentspace as ls
from latentspace.errors import TrainingDiverged, UserError
from latentspace.models.gan import GAN
from latentspace.storage import load_state
from latentspace.train import run as runfolder

from conftest import assert_same_weights, exploding_gan, weights

SMALL = dict(hidden=32, layers=2)


@pytest.fixture(scope="module")
def ring():
    return ls.data.load("ring8", n=512, n_test=128)


def fit(model, data, out, steps, **kw):
    return model.fit(data, steps=steps, batch_size=64, seed=3, out=out, progress=False, checkpoint_every=10,
                     log_every=5, sample_every=50, **kw)


def test_same_seed_same_weights_and_different_seed_differs(ring, tmp_path):
    fit(GAN(**SMALL), ring, tmp_path / "a", 30)
    fit(GAN(**SMALL), ring, tmp_path / "b", 30)
    assert_same_weights(weights(tmp_path / "a"), weights(tmp_path / "b"))
    GAN(**SMALL).fit(ring, steps=30, batch_size=64, seed=4, out=tmp_path / "c", progress=False)
    c = weights(tmp_path / "c")
    assert any(not torch.equal(v, c[k]) for k, v in weights(tmp_path / "a").items())


def test_run_folder_layout(ring, tmp_path):
    fit(GAN(**SMALL), ring, tmp_path / "run", 20)
    run = tmp_path / "run"
    for name in ("config.json", "metrics.csv", "checkpoints/latest.safetensors", "model/model.json",
                 "model/weights.safetensors", "samples/step-000020.png"):
        assert (run / name).is_file(), name
    lines = (run / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("step,time,loss_d,loss_g")
    assert [int(r.split(",")[0]) for r in lines[1:]] == [5, 10, 15, 20]
    config = runfolder.read_config(run)
    assert config["model"] == "gan" and config["data"]["name_or_path"] == "ring8"
    assert config["params"]["hidden"] == 32


def test_resume_matches_uninterrupted_run(ring, tmp_path):
    # A run of 20 steps extended to 40 equals a run of 40 when the learning rate does not depend
    # on the planned length (a decaying schedule, annealed instance noise or top-k would differ: the
    # Ctrl-C test below covers resuming within one planned run).
    fixed = dict(SMALL, instance_noise=0.0, top_k=1.0)
    fit(GAN(**fixed), ring, tmp_path / "full", 40, lr_schedule="constant")
    fit(GAN(**fixed), ring, tmp_path / "part", 20, lr_schedule="constant")
    assert load_state(tmp_path / "part" / runfolder.CHECKPOINT)["step"] == 20
    fit(GAN(**fixed), ring, tmp_path / "part", 40, resume=True, lr_schedule="constant")
    assert_same_weights(weights(tmp_path / "full"), weights(tmp_path / "part"))
    steps = [int(r.split(",")[0]) for r in (tmp_path / "part" / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == list(range(5, 41, 5))


def test_resume_with_vae_including_optimizer_and_rng(tmp_path):
    data = ls.data.load("digits")
    kw = dict(width=8, latent_dim=4)
    # (a run extended from 10 to 30 steps is exact under a constant schedule; the CPU-sized default is cosine)
    fit(ls.models.create("vae", **kw), data, tmp_path / "full", 30, lr_schedule="constant")
    fit(ls.models.create("vae", **kw), data, tmp_path / "part", 10, lr_schedule="constant")
    fit(ls.models.create("vae", **kw), data, tmp_path / "part", 30, resume=True)
    assert_same_weights(weights(tmp_path / "full"), weights(tmp_path / "part"))


class InterruptedGAN(GAN):
    """Sends itself Ctrl-C during a given step, as a user would."""

    interrupt_at = 17

    def train_step(self, batch, step):
        if step == self.interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)
        return super().train_step(batch, step)


def test_ctrl_c_saves_a_checkpoint_that_resumes_exactly(ring, tmp_path):
    fit(GAN(**SMALL), ring, tmp_path / "full", 30)
    with pytest.raises(KeyboardInterrupt, match="--resume"):
        fit(InterruptedGAN(**SMALL), ring, tmp_path / "cut", 30)
    assert load_state(tmp_path / "cut" / runfolder.CHECKPOINT)["step"] == 18  # the step in flight finishes
    assert not (tmp_path / "cut" / "model").exists()
    fit(GAN(**SMALL), ring, tmp_path / "cut", 30, resume=True)
    assert_same_weights(weights(tmp_path / "full"), weights(tmp_path / "cut"))


def test_checkpoint_write_is_atomic(ring, tmp_path, monkeypatch):
    run = tmp_path / "run"
    fit(GAN(**SMALL), ring, run, 10)
    before = (run / runfolder.CHECKPOINT).read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        fit(GAN(**SMALL), ring, run, 20, resume=True)
    monkeypatch.undo()
    assert (run / runfolder.CHECKPOINT).read_bytes() == before  # the old checkpoint is intact
    assert load_state(run / runfolder.CHECKPOINT)["step"] == 10
    assert not [p for p in (run / "checkpoints").iterdir() if p.name != "latest.safetensors"]  # no temp files


ExplodingGAN = exploding_gan(step=24, loss="loss_d")


def test_nan_loss_stops_and_keeps_last_good_checkpoint(ring, tmp_path):
    with pytest.raises(TrainingDiverged, match=r"loss_d became NaN/inf at step 25.*step 20"):
        fit(ExplodingGAN(**SMALL), ring, tmp_path / "run", 40)
    assert load_state(tmp_path / "run" / runfolder.CHECKPOINT)["step"] == 20
    assert not (tmp_path / "run" / "model").exists()


def test_existing_run_needs_resume_or_overwrite(ring, tmp_path):
    run = tmp_path / "run"
    fit(GAN(**SMALL), ring, run, 10)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(UserError, match="already exists.*--resume.*--overwrite"):
        fit(GAN(**SMALL), ring, run, 10)
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    fit(GAN(**SMALL), ring, run, 10, overwrite=True)


def test_resume_checkpoint_of_another_model_is_refused(ring, tmp_path):
    fit(GAN(**SMALL), ring, tmp_path / "run", 10)
    with pytest.raises(UserError, match="checkpoint is of model 'gan', not 'vae'"):
        fit(ls.models.create("vae"), ring, tmp_path / "run", 20, resume=True)


DDP_SCRIPT = textwrap.dedent("""
    import os, sys, torch
    import torch.distributed as dist
    from safetensors.torch import save_file
    import latentspace as ls
    from latentspace.models.gan import GAN
    out = sys.argv[1]
    data = ls.data.load("ring8", n=512, n_test=64)
    model = GAN(hidden=32, layers=2).fit(data, steps=25, batch_size=64, seed=1, out=out + "/run",
                                          progress=False, checkpoint_every=10)
    rank = dist.get_rank()
    state = {f"{n}.{k}": v.contiguous() for n, net in model.nets_.items() for k, v in net.state_dict().items()}
    save_file(state, f"{out}/rank{rank}.safetensors")
    dist.barrier()
    print("rank", rank, "world", dist.get_world_size(), "done")
""")


@pytest.mark.slow
def test_ddp_two_cpu_processes_end_with_identical_weights(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), str(tmp_path)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0, r1 = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    assert_same_weights(r0, r1)
    init = GAN(hidden=32, layers=2).build(ls.data.load("ring8", n=512, n_test=64).info).nets_
    assert not torch.equal(r0["G.0.0.weight"], init["G"][0][0].weight.detach())  # training happened
    run = tmp_path / "run"
    assert (run / "model" / "weights.safetensors").is_file()
    assert load_state(run / runfolder.CHECKPOINT)["step"] == 25
    assert len(load_state(run / runfolder.CHECKPOINT)["rng"]["cpu"]) == 2  # every rank's RNG kept
    assert runfolder.read_config(run)["world_size"] == 2


def test_atomic_writes_get_ordinary_permissions(tmp_path):
    import os

    from latentspace.storage import atomic_write_bytes

    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "report.html", b"<html></html>")
    finally:
        os.umask(old)
    assert (tmp_path / "report.html").stat().st_mode & 0o777 == 0o644


# -- callbacks: the run's side effects, handed to the engine --------------------------------------------
class Recorder(ls.train.callbacks.Callback):
    def __init__(self):
        self.events = []

    def on_start(self, model, data, cfg, start, world):
        self.events.append(("start", start, world))

    def on_log(self, step, seconds, means):
        self.events.append(("log", step, sorted(means)))

    def on_step(self, model, step):
        self.events.append(("step", step))

    def on_end(self, model, data):
        self.events.append(("end",))

    def close(self):
        self.events.append(("close",))


def test_callbacks_see_the_run_and_nothing_is_written_without_a_folder(ring, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rec = Recorder()
    ls.models.create("gan", **SMALL).fit(ring, steps=6, batch_size=32, log_every=3, progress=False, callbacks=[rec])
    assert rec.events[0] == ("start", 0, 1) and rec.events[-2:] == [("end",), ("close",)]
    assert [e for e in rec.events if e[0] == "step"] == [("step", s) for s in range(1, 7)]
    logs = [e for e in rec.events if e[0] == "log"]
    assert [e[1] for e in logs] == [3, 6] and "loss_d" in logs[0][2]
    assert list(tmp_path.iterdir()) == []                    # no out: the engine wrote nothing


def test_tensorboard_callback_logs_every_loss(ring, tmp_path, monkeypatch):
    import types

    written = []

    class Writer:
        def __init__(self, log_dir):
            written.append(("dir", log_dir))

        def add_scalar(self, key, value, step):
            written.append((key, step))

        def close(self):
            written.append(("closed",))

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=Writer))
    tb = ls.train.callbacks.TensorBoard(tmp_path / "tb")
    ls.models.create("gan", **SMALL).fit(ring, steps=4, batch_size=32, log_every=2, progress=False, callbacks=[tb])
    assert written[0] == ("dir", str(tmp_path / "tb")) and written[-1] == ("closed",)
    assert ("loss_g", 2) in written and ("loss_d", 4) in written


def test_cli_tensorboard_without_the_package_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    from latentspace import cli

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)   # as if tensorboard were not installed
    code = cli.main(["train", "gan", "--data", "ring8", "--out", str(tmp_path / "run"), "--tensorboard"])
    assert code == 2 and "pip install tensorboard" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_lr_schedule_runs_within_each_optimizers_window():
    from latentspace.train.engine import _set_lr

    a, b = (torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0) for _ in range(2))
    lrs = []
    for step in range(10):
        _set_lr({"a": a, "b": b}, "linear", step, 10, {"a": (0, 4), "b": (4, 10)})
        lrs.append((a.param_groups[0]["lr"], b.param_groups[0]["lr"]))
    assert [round(x, 4) for x, _ in lrs[:4]] == [1.0, 0.75, 0.5, 0.25]
    assert [round(y, 4) for _, y in lrs[4:]] == [1.0, 0.8333, 0.6667, 0.5, 0.3333, 0.1667]


# -- resume takes the run's own settings; settings that would make it inexact are refused -------------------
def interrupted_run(data, run, steps=30, **kw):
    """A run of ``steps`` stopped by Ctrl-C at step 18, with settings other than the defaults."""
    with pytest.raises(KeyboardInterrupt, match="--resume"):
        InterruptedGAN(**SMALL).fit(data, steps=steps, batch_size=32, seed=5, out=run, progress=False,
                                    checkpoint_every=10, log_every=5, sample_every=50, lr_schedule="cosine", **kw)
    assert load_state(run / runfolder.CHECKPOINT)["step"] == 18


def test_fit_resume_without_settings_takes_the_runs_own(ring, tmp_path, monkeypatch):
    monkeypatch.setattr(GAN, "_default_steps", lambda self, data: 45)   # a forgotten length shows quickly
    GAN(**SMALL).fit(ring, steps=30, batch_size=32, seed=5, out=tmp_path / "full", progress=False,
                     checkpoint_every=10, log_every=5, sample_every=50, lr_schedule="cosine")
    interrupted_run(ring, tmp_path / "cut")
    GAN(**SMALL).fit(ring, out=tmp_path / "cut", resume=True, progress=False)          # nothing else given
    assert_same_weights(weights(tmp_path / "full"), weights(tmp_path / "cut"))
    train = runfolder.read_config(tmp_path / "cut")["train"]
    assert {k: train[k] for k in runfolder.RESUMED} == dict(steps=30, batch_size=32, seed=5, log_every=5,
                                                            sample_every=50, checkpoint_every=10,
                                                            lr_schedule="cosine", time=None)
    steps = [int(r.split(",")[0]) for r in (tmp_path / "cut" / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == list(range(5, 31, 5))


@pytest.mark.parametrize("setting, message", [
    (dict(batch_size=64), "trained with batch size 32, not 64; resume it with the same batch size"),
    (dict(seed=6), "trained with seed 5, not 6"),
    (dict(lr_schedule="linear"), "trained with learning-rate schedule 'cosine', not 'linear'"),
    (dict(steps=12), "checkpoint is at step 18, past the 12 steps asked for; give at least 18 steps"),
])
def test_resume_refuses_settings_that_would_not_be_exact(setting, message, ring, tmp_path):
    run = tmp_path / "run"
    interrupted_run(ring, run)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(UserError, match=message) as e:
        GAN(**SMALL).fit(ring, out=run, resume=True, progress=False, **setting)
    assert "\n" not in str(e.value)
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_resume_with_more_steps_continues_the_run(ring, tmp_path):
    run = tmp_path / "run"
    interrupted_run(ring, run, steps=20)
    GAN(**SMALL).fit(ring, out=run, resume=True, progress=False, steps=25)
    assert load_state(run / runfolder.CHECKPOINT)["step"] == 25 and runfolder.read_config(run)["train"]["steps"] == 25


@pytest.mark.parametrize("setting", [dict(steps=0), dict(batch_size=0), dict(steps=-3), dict(batch_size=-1),
                                     dict(checkpoint_every=0), dict(log_every=-5), dict(steps=2.5)])
def test_zero_negative_or_fractional_counts_are_refused(setting, ring, tmp_path):
    name = next(iter(setting))
    with pytest.raises(UserError, match=rf"^{name} must be (a positive integer|an integer)") as e:
        GAN(**SMALL).fit(ring, out=tmp_path / "run", progress=False, **{"steps": 5, **setting})
    assert "\n" not in str(e.value)
    assert not (tmp_path / "run").exists()


# -- SIGTERM, stale temporary files, disk space -------------------------------------------------------------
class TerminatedGAN(GAN):
    """Receives SIGTERM during step 12, as from a job scheduler."""

    def train_step(self, batch, step):
        if step == 12:
            os.kill(os.getpid(), signal.SIGTERM)
        return super().train_step(batch, step)


def test_sigterm_saves_a_checkpoint_like_ctrl_c(ring, tmp_path):
    from latentspace.train.engine import TrainingInterrupted

    with pytest.raises(TrainingInterrupted, match="terminated at step 13; checkpoint saved") as e:
        fit(TerminatedGAN(**SMALL), ring, tmp_path / "run", 30)
    assert e.value.exit_code == 143
    assert load_state(tmp_path / "run" / runfolder.CHECKPOINT)["step"] == 13
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL          # the handler is put back


def test_stale_temporary_files_of_the_checkpoint_are_removed_when_a_run_resumes(ring, tmp_path):
    run = tmp_path / "run"
    fit(GAN(**SMALL), ring, run, 10)
    stale = run / "checkpoints" / ".latest.safetensors.k1ll3d.tmp"     # a write cut short by SIGKILL
    stale.write_bytes((run / runfolder.CHECKPOINT).read_bytes()[:100])
    other = run / "checkpoints" / "notes.tmp"                            # not ours: left alone
    other.write_text("mine")
    fit(GAN(**SMALL), ring, run, 20, resume=True)
    assert not stale.exists() and other.exists()


def test_a_run_that_does_not_fit_on_the_disk_is_refused_before_anything_changes(ring, tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    run = tmp_path / "run"
    fit(GAN(**SMALL), ring, run, 10)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(UserError, match=r"not enough disk space for the run in .*: [\d.]+ KB free, about [\d.]+ MB "
                                        r"needed .*; free some space or choose another --out") as e:
        fit(GAN(**SMALL), ring, run, 10, overwrite=True)
    assert "\n" not in str(e.value)
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before      # the old run is intact
    with pytest.raises(UserError, match="not enough disk space"):
        fit(GAN(**SMALL), ring, tmp_path / "new", 10)
    assert not (tmp_path / "new").exists()
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**12, 0, 10**11))
    fit(GAN(**SMALL), ring, run, 10, overwrite=True)


def test_bad_distributed_timeout_is_refused(monkeypatch):
    from latentspace.train.distributed import timeout_seconds

    monkeypatch.setenv("LATENTSPACE_DIST_TIMEOUT", "soon")
    with pytest.raises(UserError, match="LATENTSPACE_DIST_TIMEOUT must be a positive number of seconds, got 'soon'"):
        timeout_seconds()
    monkeypatch.setenv("LATENTSPACE_DIST_TIMEOUT", "2.5")
    assert timeout_seconds() == 2.5


# -- an unfinished run can be sampled from its checkpoint --------------------------------------------------------
def test_load_run_gives_the_model_of_the_latest_checkpoint_when_the_run_did_not_finish(ring, tmp_path, capsys):
    from latentspace.runs import load_run

    run = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        fit(InterruptedGAN(**SMALL), ring, run, 30)
    model, config = load_run(run)
    assert "using its checkpoint of step 18 of 30" in capsys.readouterr().err
    assert config["checkpoint_step"] == 18 and f"latentspace train gan --resume --out {run}" in config["note"]
    state = load_state(run / runfolder.CHECKPOINT)
    assert torch.equal(model.nets_["G"].state_dict()["0.0.weight"], state["nets"]["G"]["0.0.weight"])
    assert model.sample(32, seed=0).shape == (32, 2)
    (run / runfolder.CHECKPOINT).unlink()
    with pytest.raises(UserError, match=r"holds no saved model \(model/\) and no checkpoint .*--overwrite"):
        load_run(run)
