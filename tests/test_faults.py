"""Fault injection: runs killed (SIGKILL) at random steps, killed inside a checkpoint write, stopped by
SIGTERM or SIGINT, a NaN, and a DDP process that stops answering. After each, `latentspace train MODEL
--resume --out RUN` with no other option ends with the weights of a run that never stopped."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from latentspace.cli import main
from latentspace.errors import TrainingDiverged
from latentspace.models.gan import GAN
from latentspace.runs import load_run
from latentspace.storage import load_state
from latentspace.train import run as runfolder

from conftest import assert_same_weights, exploding_gan, weights

STEPS = 40
#: a small GAN, a checkpoint after every step, a log line after every step (to see where a run is)
OPTIONS = ["--data", "ring8", "--steps", str(STEPS), "--batch-size", "64", "--seed", "2", "--set", "hidden=16",
           "--set", "layers=1", "--checkpoint-every", "1", "--log-every", "1", "--sample-every", "1000",
           "--no-progress"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def litter(run: Path) -> list[Path]:
    return sorted(run.rglob("*.tmp"))


def steps_logged(run: Path) -> int:
    try:
        lines = (run / runfolder.METRICS).read_text().splitlines()
        return int(float(lines[-1].split(",")[0])) if len(lines) > 1 else 0
    except (OSError, ValueError, IndexError):  # not written yet, or caught between two writes
        return 0


def start_training(run: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "latentspace.cli", "train", "gan", *OPTIONS, "--out", str(run),
                             *extra], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_step(proc: subprocess.Popen, run: Path, step: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while steps_logged(run) < step:
        assert proc.poll() is None, f"training ended before step {step}: {proc.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, f"no step {step} within {timeout} s"
        time.sleep(0.01)


def resume(run: Path, monkeypatch) -> None:
    """`latentspace train gan --resume --out RUN` and nothing else. The model's default length is made
    short so that a resume that forgot the run's own length fails quickly rather than trains for long."""
    monkeypatch.setattr(GAN, "_default_steps", lambda self, data: STEPS + 7)
    assert main(["train", "gan", "--resume", "--out", str(run), "--no-progress"]) == 0
    assert load_state(run / runfolder.CHECKPOINT)["step"] == STEPS
    assert runfolder.read_config(run)["train"]["steps"] == STEPS


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The weights of the run that never stopped."""
    run = tmp_path_factory.mktemp("reference") / "run"
    assert main(["train", "gan", *OPTIONS, "--out", str(run)]) == 0
    return weights(run)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sigkill_at_a_random_step_then_resume_without_options(seed, reference, tmp_path, monkeypatch):
    run = tmp_path / "run"
    proc = start_training(run)
    wait_for_step(proc, run, random.Random(seed).randint(2, STEPS - 12))
    proc.kill()
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    done = load_state(run / runfolder.CHECKPOINT)["step"]   # the last checkpoint is whole
    assert 1 <= done < STEPS and not (run / "model").exists()
    resume(run, monkeypatch)
    assert_same_weights(weights(run), reference)
    assert litter(run) == []


KILL_IN_WRITE = textwrap.dedent("""
    import os, signal, sys
    from latentspace.cli import main
    real_replace, writes = os.replace, []

    def replace(src, dst):  # the checkpoint of step 6 is written to its temporary file, then the power goes
        if str(dst).endswith("latest.safetensors"):
            writes.append(dst)
            if len(writes) == 6:
                os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(src, dst)

    os.replace = replace
    sys.exit(main(sys.argv[1:]))
""")


def test_kill_inside_a_checkpoint_write_keeps_the_previous_one_and_leaves_no_litter(reference, tmp_path,
                                                                                      monkeypatch):
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", KILL_IN_WRITE, "train", "gan", *OPTIONS, "--out", str(run)],
                          env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    (tmp,) = litter(run)                                       # the new checkpoint, never renamed into place
    assert tmp.parent == (run / runfolder.CHECKPOINT).parent and tmp.name.startswith(".latest.safetensors.")
    assert load_state(run / runfolder.CHECKPOINT)["step"] == 5  # the previous checkpoint is intact
    model, config = load_run(run, quiet=True)                   # and usable as it is
    assert "checkpoint of step 5" in config["note"] and torch.isfinite(model.sample(8, seed=0)).all()
    resume(run, monkeypatch)
    assert litter(run) == []
    assert_same_weights(weights(run), reference)


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_sigint_save_a_checkpoint_and_exit_cleanly(sig, code, reference, tmp_path, monkeypatch):
    run = tmp_path / "run"
    proc = start_training(run)
    wait_for_step(proc, run, 8)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err[-2000:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (f"stopped: {'interrupted' if sig == signal.SIGINT else 'terminated'} at "
                                            f"step {load_state(run / runfolder.CHECKPOINT)['step']}; checkpoint "
                                            f"saved in the run folder, continue with --resume: latentspace train gan "
                                            f"--resume --out {run}")
    assert not (run / "model").exists()
    resume(run, monkeypatch)
    assert_same_weights(weights(run), reference)


ExplodingGAN = exploding_gan(step=13, loss="loss_g")


def test_nan_at_step_k_keeps_the_last_good_checkpoint_loadable(tmp_path):
    import latentspace as ls

    run = tmp_path / "run"
    data = ls.data.load("ring8", n=512, n_test=64)
    with pytest.raises(TrainingDiverged, match=r"step 14; the last good checkpoint \(step 10\)"):
        ExplodingGAN(hidden=16, layers=1).fit(data, steps=STEPS, batch_size=64, out=run, checkpoint_every=5,
                                              progress=False)
    state = load_state(run / runfolder.CHECKPOINT)
    assert state["step"] == 10 and all(torch.isfinite(v).all() for net in state["nets"].values()
                                       for v in net.values())
    model, config = load_run(run, quiet=True)
    assert config["checkpoint_step"] == 10 and torch.isfinite(model.sample(16, seed=1)).all()


# -- DDP: a process that dies or hangs must not leave the other waiting for ever ----------------------------
DDP_SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    import latentspace as ls
    from latentspace.cli import main
    from latentspace.models.gan import GAN

    @ls.models.register
    class FailingGAN(GAN):
        name = "failing-gan"

        def train_step(self, batch, step):
            if self.dist_.rank == 1 and step == 5:
                with open(os.environ["FAULT_AT"], "w") as f:
                    f.write(repr(time.time()))
                os.kill(os.getpid(), getattr(signal, os.environ["FAULT"]))
            return super().train_step(batch, step)

    sys.exit(main(["train", "failing-gan", "--data", "ring8", "--steps", "30", "--batch-size", "64",
                   "--set", "hidden=16", "--set", "layers=1", "--checkpoint-every", "2", "--no-progress",
                   "--out", sys.argv[1]]))
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("fault", ["SIGSTOP", "SIGKILL"])
def test_ddp_process_that_hangs_or_dies_stops_the_other_within_the_timeout(fault, tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**ENV, "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()),
           "LATENTSPACE_DIST_TIMEOUT": "5", "FAULT": fault, "FAULT_AT": str(tmp_path / "fault-at")}
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path / "run")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env={**env, "RANK": str(r), "LOCAL_RANK": str(r)})
             for r in range(2)]
    try:
        _, err = procs[0].communicate(timeout=90)             # the default timeout would wait 5 minutes
        stopped_after = time.time() - float((tmp_path / "fault-at").read_text())
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate()
    assert procs[0].returncode == 1, err[-3000:]
    assert err.strip().splitlines()[-1] == ("error: process 0 of 2 stopped training: another process died or did "
                                            "not answer within 5 s (LATENTSPACE_DIST_TIMEOUT); the last checkpoint "
                                            "(step 4) is kept in the run folder, continue with --resume")
    assert load_state(tmp_path / "run" / runfolder.CHECKPOINT)["step"] == 4
    assert stopped_after < 5 + 15                             # the timeout, and time to exit on a busy machine
