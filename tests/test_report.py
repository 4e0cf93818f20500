"""HTML reports: every section, pictures only as data: URIs, refusals, the CLI, and a real browser."""

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from latentspace.cli import main
from latentspace.errors import UserError
from latentspace.plots.curves import read_metrics, training_curves
from latentspace.plots.latent import interpolation_paths, interpolation_strip, latent_size, lerp, slerp
from latentspace.plots.neighbours import nearest_training_items
from latentspace.report import write_comparison, write_report
from latentspace.storage import atomic_write_json

SECTIONS = ("scores", "samples", "neighbours", "interpolation", "curves", "config")
CHROMIUM = Path("/usr/bin/chromium")


def snapshot(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} if folder.exists() else {}


def fake_results(model="kde", data="digits", n=50, seed=0, pairs=True) -> dict:
    """What latentspace.metrics.evaluate returns, by hand (fast, and independent of the evaluation)."""
    details = {"features": "classifier", "feature_accuracy": 0.97, "likelihood": "exact",
               "samples_per_s": 1234.0, "eval_seconds": 12.0, "class_histogram": [0.1] * 10}
    if pairs:
        details["closest_pairs"] = [{"sample": 3, "train": 17, "distance": 0.5},
                                    {"sample": 7, "train": 2, "distance": 0.75}]
    return {"model": model, "data": data, "n_samples": n, "seed": seed,
            "scores": {"fd": 12.3, "precision": 0.7, "c2st_accuracy": 0.6, "nll_nats": 80.1, "new_score": 3},
            "floor": {"fd": 1.5, "precision": 0.74, "c2st_accuracy": 0.51},
            "details": details}


def fake_evaluate(model, data, n=None, *, seed=0, **options):
    return fake_results(model.name, data.name, n or 50, seed, pairs=False)


def external_references(page: str) -> list[str]:
    """Every src/href/url() that is not an embedded data: URI or an anchor in the page."""
    refs = re.findall(r"""(?:src|href)\s*=\s*["']?([^"' >]*)""", page) + re.findall(r"url\(([^)]*)\)", page)
    return [r for r in refs if not (r.startswith("data:") or r.startswith("#"))]


def check_page(page: str, sections=SECTIONS) -> None:
    for ident in sections:
        assert f'<section id="{ident}">' in page, ident
    assert page.count('src="data:image/png;base64,') >= 2
    assert external_references(page) == []
    assert "<script" not in page.lower() and "http://" not in page and "https://" not in page
    from PIL import Image

    for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page):
        Image.open(io.BytesIO(base64.b64decode(data, validate=True))).verify()  # each picture is a real PNG


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A kde fitted to digits and a GAN trained for a few steps on ring8, as run folders."""
    root = tmp_path_factory.mktemp("runs")
    assert main(["train", "kde", "--data", "digits", "--out", str(root / "kde")]) == 0
    assert main(["train", "gan", "--data", "ring8", "--steps", "6", "--batch-size", "32", "--set", "hidden=16",
                 "--log-every", "2", "--sample-every", "100", "--out", str(root / "gan"), "--no-progress"]) == 0
    return root


@pytest.fixture(scope="module")
def kde_report(runs, tmp_path_factory):
    return write_report(runs / "kde", tmp_path_factory.mktemp("kde-report") / "report.html",
                        results=fake_results())


# -- plot helpers ------------------------------------------------------------------------------
def test_lerp_and_slerp():
    a, b = torch.tensor([3.0, 0.0, 0.0]), torch.tensor([0.0, 4.0, 0.0])
    for walk in (lerp, slerp):
        z = walk(a, b, 5)
        assert z.shape == (5, 3) and torch.equal(z[0], a) and torch.equal(z[-1], b)
    norms = slerp(a, b, 5).norm(dim=1)
    assert torch.allclose(norms, torch.linspace(3, 4, 5), atol=1e-5)  # on the arc, not through the middle
    assert lerp(a, b, 3)[1].norm() < 2.6
    assert torch.allclose(slerp(a, 2 * a, 3), lerp(a, 2 * a, 3))  # parallel: falls back to lerp
    with pytest.raises(UserError, match="steps"):
        lerp(a, b, 1)
    with pytest.raises(UserError, match="same shape"):
        slerp(a, b[:2], 4)


def test_training_curves_and_neighbours(runs):
    columns = read_metrics(runs / "gan" / "metrics.csv")
    assert {"step", "loss_d", "loss_g"} <= set(columns)
    fig = training_curves(runs / "gan" / "metrics.csv")
    assert len([ax for ax in fig.axes if ax.has_data()]) == len(columns) - 2  # all but step and time
    with pytest.raises(UserError, match="no such file"):
        read_metrics(runs / "kde" / "metrics.csv")
    train = torch.tensor([[0.0, 0.0], [10.0, 10.0], [10.0, 10.001]])
    idx, dist = nearest_training_items(torch.tensor([[10.0, 10.0009], [0.1, 0.0]]), train)
    assert idx.tolist() == [2, 0] and torch.allclose(dist, torch.tensor([1e-4, 0.1]), atol=1e-5)


def test_latent_helpers(runs):
    import latentspace as ls

    gan, kde = ls.load(runs / "gan"), ls.load(runs / "kde")
    assert latent_size(gan) == gan.z_dim and latent_size(kde) is None
    walk = interpolation_paths(gan, rows=2, steps=5, seed=1)
    assert walk["paths"].shape == (2, 5, 2) and walk["method"] == "slerp"
    assert interpolation_strip(walk["paths"], gan.info_).axes
    with pytest.raises(UserError, match="no latent space"):
        interpolation_paths(kde)


# -- reports -----------------------------------------------------------------------------------
def test_report_of_a_classical_image_model(kde_report):
    page = kde_report.read_text()
    check_page(page)
    assert "kde on digits" in page and "12.3" in page and "1.5" in page  # a score beside its floor
    assert "↓ lower" in page and "→ 0.5" in page and "new_score" in page
    assert "classifier feature space" in page  # the evaluation's closest pairs were used
    assert "no latent space" in page and "Fitted in one go" in page
    assert 'class="pixels"' in page  # image samples are shown pixel for pixel


def test_report_of_a_gan_on_points(runs, tmp_path):
    out = write_report(runs / "gan", tmp_path / "gan.html", results=fake_results("gan", "ring8", pairs=False))
    page = out.read_text()
    check_page(page)
    assert page.count('src="data:image/png;base64,') >= 4  # samples, neighbours, interpolation, curves
    assert "spherical interpolation" in page and "data space" in page
    assert "steps <b>6</b>" in page


def test_report_refuses_to_overwrite(runs, tmp_path):
    target = tmp_path / "r.html"
    target.write_bytes(b"precious")
    with pytest.raises(UserError, match="already exists"):
        write_report(runs / "kde", target, results=fake_results())
    assert target.read_bytes() == b"precious"
    write_report(runs / "kde", target, results=fake_results(), overwrite=True)
    assert target.read_text().startswith("<!DOCTYPE html>")


def test_comparison_page(runs, tmp_path):
    entries = [{"run": runs / "kde", "results": fake_results(), "train_seconds": 1.5},
               {"run": runs / "kde", "results": {**fake_results(), "scores": {"fd": 3.0, "precision": 0.9}},
                "label": "kde again", "samples_per_s": 10.0}]
    page = write_comparison(entries, tmp_path / "c.html").read_text()
    check_page(page, ("scores", "speed", "samples"))
    assert "kde again" in page and '<td class="num best">3</td>' in page  # the lower FD is marked best
    with pytest.raises(UserError, match="already exists"):
        write_comparison(entries, tmp_path / "c.html")


# -- the command line --------------------------------------------------------------------------
def test_cli_report_reuses_metrics_json(runs, tmp_path, capsys, monkeypatch):
    run = tmp_path / "kde"
    shutil.copytree(runs / "kde", run)
    atomic_write_json(run / "metrics.json", fake_results(n=50))

    def no_evaluation(*args, **kwargs):
        raise AssertionError("metrics.json matches --n and --seed: nothing to evaluate")

    monkeypatch.setattr("latentspace.report.evaluate", no_evaluation)
    assert main(["report", str(run), "--n", "50", "--no-progress"]) == 0
    check_page((run / "report.html").read_text())
    capsys.readouterr()
    before = snapshot(run)
    assert main(["report", str(run), "--n", "50"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0] and snapshot(run) == before
    assert main(["report", str(run), "--n", "50", "--overwrite", "--out", str(tmp_path / "other.html")]) == 0


def test_cli_report_of_a_missing_run(capsys, tmp_path):
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no such") and not (tmp_path / "nowhere").exists()


def test_cli_compare(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("latentspace.report.evaluate", fake_evaluate)
    out = tmp_path / "cmp"
    assert main(["compare", "kde", "gan", "--data", "ring8", "--steps", "3", "--n", "50", "--out", str(out),
                 "--no-progress"]) == 0
    page = (out / "report.html").read_text()
    check_page(page, ("scores", "speed", "samples"))
    assert "kde vs gan on ring8" in page and "fitted in one go" in page
    for name in ("kde", "gan"):
        assert (out / name / "model" / "model.json").is_file() and (out / name / "metrics.json").is_file()
    capsys.readouterr()
    before = snapshot(out)
    assert main(["compare", "kde", "--data", "ring8", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0] and snapshot(out) == before


@pytest.mark.parametrize("argv, message", [
    (["compare", "kde", "gann", "--data", "ring8"], "unknown model 'gann'"),
    (["compare", "kde", "kde", "--data", "ring8"], "given twice"),
    (["compare", "kde", "--data", "ring9"], "unknown dataset 'ring9'"),
    (["compare", "gan", "--data", "ring8", "--steps", "0"], "--steps must be a positive integer"),
])
def test_cli_compare_bad_input(argv, message, tmp_path, capsys):
    assert main(argv + ["--out", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
    assert not (tmp_path / "cmp").exists()


# -- a real browser ----------------------------------------------------------------------------
def test_report_renders_in_a_browser(kde_report, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("chromium not installed: apt-get install chromium")
    from PIL import Image

    shot = tmp_path / "shot.png"
    proc = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=1",
         f"--screenshot={shot}", "--window-size=1280,2000", kde_report.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    log = proc.stdout + proc.stderr
    console_errors = [line for line in log.splitlines()
                      if "CONSOLE" in line and ("ERROR" in line or "Uncaught" in line)]
    assert console_errors == []
    assert shot.is_file(), log[-2000:]
    pixels = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("RGB"))
    assert pixels.shape[:2] == (2000, 1280)
    assert pixels.std() > 20 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50
