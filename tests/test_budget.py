"""Time budgets (--time, fit(time=)) and CPU threads (--threads)."""

import os
import subprocess
import sys
import types

import pytest
import torch

import latentspace as ls
from latentspace import cli, threads
from latentspace.errors import UserError
from latentspace.train import engine
from latentspace.train.callbacks import Callback

SMALL = {"hidden": 16, "layers": 1}


@pytest.fixture(scope="module")
def ring():
    return ls.data.load("ring8", n=256, n_test=64)


class Clock:
    """A fake clock for the engine: each training step takes ``per_step(step)`` seconds."""

    def __init__(self, monkeypatch, per_step=lambda step: 1.0):
        self.now, self.per_step = 0.0, per_step
        monkeypatch.setattr(engine, "time", types.SimpleNamespace(perf_counter=lambda: self.now))

    def timed(self, model):
        step_fn = model.train_step

        def step(batch, k):
            self.now += self.per_step(k)
            return step_fn(batch, k)

        model.train_step = step
        return model


class Record(Callback):
    def __init__(self):
        self.steps, self.fractions, self.last = [], [], []

    def on_progress(self, model, step, fraction, last):
        self.steps.append(step)
        self.fractions.append(fraction)
        self.last.append(last)


def gan(clock):
    return clock.timed(ls.models.create("gan", **SMALL))


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("10m", 600), ("1h", 3600), ("1.5h", 5400), ("600", 600),
                                           (" 2M ", 120)])
def test_durations(text, seconds):
    assert cli._duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "-1m", "ten", "10x", "nan", "inf"])
def test_bad_durations_exit_2_in_one_line(text, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "gan", "--data", "ring8", f"--time={text}"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--time: must be a positive duration like 90s, 10m or 1h" in err


@pytest.mark.parametrize("bad", [0, -5, float("nan"), True, "10m"])
def test_fit_refuses_a_bad_time(ring, bad):
    with pytest.raises(UserError, match="time must be a positive number of seconds"):
        ls.models.create("gan", **SMALL).fit(ring, time=bad, progress=False)


def test_a_budgeted_run_stops_at_the_first_step_past_its_budget(ring, monkeypatch, tmp_path):
    clock = Clock(monkeypatch)
    rec = Record()
    gan(clock).fit(ring, time=5.5, batch_size=32, progress=False, callbacks=[rec], out=tmp_path / "run")
    assert rec.steps == [1, 2, 3, 4, 5, 6]   # 6 s >= 5.5 s: one step past the budget at most
    assert rec.last == [False] * 5 + [True]
    assert rec.fractions[:5] == pytest.approx([1 / 5.5, 2 / 5.5, 3 / 5.5, 4 / 5.5, 5 / 5.5]) and rec.fractions[5] == 1
    assert (tmp_path / "run" / "model" / "weights.safetensors").is_file()
    lines = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert lines[-1].startswith("6,6.0")


def test_steps_given_with_a_budget_end_the_run_first(ring, monkeypatch):
    clock = Clock(monkeypatch)
    rec = Record()
    gan(clock).fit(ring, time=100, steps=4, batch_size=32, progress=False, callbacks=[rec])
    assert rec.steps == [1, 2, 3, 4] and rec.fractions[-1] == 1


def test_the_schedule_follows_the_time_spent_not_the_steps(ring, monkeypatch):
    """Linear decay over a 20 s budget whose first steps are slow: the learning rate at each step is
    1 - (time spent)/budget (to the rounding of the planned step count), not 1 - step/steps."""
    clock = Clock(monkeypatch, per_step=lambda k: 3.0 if k < 2 else 1.0)
    model = gan(clock)
    seen = []
    step_fn = model.train_step

    def spy(batch, k):
        seen.append((clock.now, model.opt_g_.param_groups[0]["lr"], batch.progress))
        return step_fn(batch, k)

    model.train_step = spy
    model.fit(ring, time=20, batch_size=32, lr_schedule="linear", progress=False)
    assert len(seen) == 16   # 3 + 3 + 14 x 1 s = 20 s
    for spent, lr, progress in seen:
        assert abs(progress - spent / 20) <= 0.1, (spent, progress)
        assert lr == pytest.approx(model.setting("lr") * (1 - progress))
    lrs = [lr for _, lr, _ in seen]
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < 0.15 * lrs[0]


def test_a_budgeted_run_resumes_with_a_larger_budget(ring, monkeypatch, tmp_path, capsys):
    clock = Clock(monkeypatch)
    gan(clock).fit(ring, time=4, batch_size=32, progress=False, out=tmp_path / "run", checkpoint_every=100)
    with pytest.raises(UserError, match=r"trained for 4 s, its whole time budget of 4 s; give a larger --time"):
        gan(clock).fit(ring, resume=True, progress=False, out=tmp_path / "run")
    rec = Record()
    gan(clock).fit(ring, time=7, resume=True, progress=False, out=tmp_path / "run", callbacks=[rec])
    assert rec.steps == [5, 6, 7]
    config = (tmp_path / "run" / "config.json").read_text()
    assert '"time": 7' in config


def test_snapshots_at_each_tenth_of_the_budget(ring, monkeypatch, tmp_path):
    clock = Clock(monkeypatch)
    gan(clock).fit(ring, time=20, batch_size=32, progress=False, out=tmp_path / "run")
    names = sorted(p.name for p in (tmp_path / "run" / "samples").iterdir())
    assert names == [f"step-{k:06d}.png" for k in range(2, 21, 2)]


def test_cli_time_budget_and_announcement(tmp_path, capsys):
    code = cli.main(["train", "gan", "--data", "ring8", "--time", "1.5s", "--set", "hidden=16", "--set", "layers=1",
                     "--out", str(tmp_path / "run"), "--no-progress", "--threads", "1"])
    err = capsys.readouterr().err
    assert code == 0 and ", for 1.5 s" in err
    import json

    train = json.loads((tmp_path / "run" / "config.json").read_text())["train"]
    assert train["time"] == 1.5 and train["steps"] == engine.UNBOUNDED_STEPS
    last = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[-1]
    assert 1.5 <= float(last.split(",")[1]) < 3.0   # stopped within a step of the budget
    assert torch.get_num_threads() == 1
    torch.set_num_threads(threads.default_threads())


# -- threads ------------------------------------------------------------------------------------------------
def test_threads_option(capsys):
    before = torch.get_num_threads()
    try:
        assert cli.main(["sample", "no-such-run", "--out", "x.png", "--threads", "1"]) == 2
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert cli.main(["sample", "no-such-run", "--out", "x.png", "--threads", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: --threads must be a positive integer, got 0; leave it out to use the")


def test_default_threads_share_the_cores_among_local_processes(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert threads.default_threads() == 8
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "3")
    assert threads.default_threads() == 2
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "16")
    assert threads.default_threads() == 1


def test_available_cores_follow_the_affinity_mask():
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no sched_getaffinity here")
    assert threads.available_cores() == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("env, first, expected", [
    ({}, "latentspace", "2000"),
    ({"OMP_WAIT_POLICY": "ACTIVE"}, "latentspace", "None"),
    ({"GOMP_SPINCOUNT": "50"}, "latentspace", "50"),
    ({}, "torch", "None"),   # too late: OpenMP has read its settings
])
def test_idle_threads_sleep_soon_unless_told_otherwise(env, first, expected):
    environ = {k: v for k, v in os.environ.items() if k not in (threads.WAIT_ENV, threads.SPIN_ENV)}
    code = f"import os, {first}, latentspace; print(os.environ.get({threads.SPIN_ENV!r}))"
    out = subprocess.run([sys.executable, "-c", code], env={**environ, **env}, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == expected


# -- the time a run will take --------------------------------------------------------------------------------
@pytest.mark.parametrize("steps, says, hint", [(1000, "the 989 steps left take about 16 min", False),
                                               (40_000, "the 39,989 steps left take about 11 h 06 min", True),
                                               (60, "the 49 steps left take about 49 s", False)])
def test_time_estimate_after_the_first_steps(monkeypatch, steps, says, hint):
    from latentspace.train import callbacks

    now = [100.0]
    monkeypatch.setattr(callbacks, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))
    lines = []
    est = callbacks.TimeEstimate(say=lines.append)
    est.on_start(None, None, engine.TrainConfig(steps=steps), 0, 1)
    for step in range(1, 30):
        est.on_step(None, step)
        now[0] += 1.0   # a step a second
    assert len(lines) == 1 and "at 1 steps/s, " + says in lines[0]
    assert ("--time (e.g. --time 10m)" in lines[0]) is hint


def test_no_estimate_under_a_time_budget():
    from latentspace.train import callbacks

    lines = []
    est = callbacks.TimeEstimate(say=lines.append)
    est.on_start(None, None, engine.TrainConfig(steps=10 ** 6, time=60), 0, 1)
    for step in range(1, 50):
        est.on_step(None, step)
    assert lines == []


# -- every neural model ---------------------------------------------------------------------------------------


def neural_models():
    return sorted(name for name, cls in ls.models.registry().items() if cls.iterative)


@pytest.mark.parametrize("name", neural_models())
def test_every_neural_model_keeps_a_time_budget(name, monkeypatch):
    digits = ls.data.load("digits")
    model = ls.models.create(name, **({"width": 8} if "width" in ls.models.registry()[name]._param_names() else {}))
    clock = Clock(monkeypatch)
    rec = Record()
    kw = {"data_b": digits} if model.two_domains else {}
    clock.timed(model).fit(digits, time=3.5, batch_size=8, progress=False, callbacks=[rec], **kw)
    assert rec.steps == [1, 2, 3, 4] and rec.last[-1]
    assert model.sample(2, seed=0).shape == (2, *digits.shape)
