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
    details = {"features": "classifier", "feature_accuracy": 0.97, "likelihood": "exact", "likelihood_of": "density",
               "samples_per_s": 1234.0, "eval_seconds": 12.0, "class_histogram": [0.1] * 10, "classes_total": 10}
    if pairs:
        details["closest_pairs"] = [{"sample": 3, "train": 17, "distance": 0.5},
                                    {"sample": 7, "train": 2, "distance": 0.75}]
    return {"model": model, "data": data, "n_samples": n, "seed": seed,
            "scores": {"fd": 12.3, "precision": 0.7, "c2st_accuracy": 0.6, "class_coverage": 0.9, "nll_nats": 80.1,
                       "new_score": 3},
            "floor": {"fd": 1.5, "precision": 0.74, "c2st_accuracy": 0.51, "class_coverage": 1.0},
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


def likelihood_results(model, nll, of, how, items, note=None, **scores) -> dict:
    """Fake results of a model with a held-out likelihood of kind ``of``, measured ``how`` on ``items``."""
    res = fake_results(model)
    res["scores"] = {"fd": 3.0, "nll_nats": nll, "nll_bits_per_dim": nll / 44.4, **scores}
    res["details"].update(likelihood=how, likelihood_of=of, nll_items=items, n_compared=10_000, heldout_items=359)
    if note:
        res["details"]["likelihood_items"] = note
    return res


def table_rows(page: str) -> list[str]:
    return re.findall(r"<tr.*?</tr>", page.split('<table class="scores">')[1].split("</table>")[0], re.S)


def test_comparison_ranks_likelihoods_only_within_one_kind(runs, tmp_path):
    kde = likelihood_results("kde", -40.5, "density", "exact", 359)
    gmm = likelihood_results("gmm", -35.25, "density", "exact", 359)
    vae = likelihood_results("vae", 22.125, "discrete-binary", "estimate", 359, "binarised once with fixed seed 0",
                             nelbo_nats=25.5)
    entries = [{"run": runs / "kde", "results": r, "label": r["model"]} for r in (kde, gmm, vae)]
    page = write_comparison(entries, tmp_path / "c.html").read_text()
    rows = table_rows(page)
    nll = [r for r in rows if ">nll_nats<" in r]
    assert len(nll) == 2  # one row per kind
    density, binary = nll
    assert '<td class="num best">-40.5<span class="tag">exact</span></td>' in density and "22.12" not in density
    assert "22.12" in binary and "best" not in binary and "estimate" in binary
    assert binary.count('<td class="num"></td>') == 2  # the densities' cells are empty in the probability's row
    headers = [r for r in rows if 'class="group"' in r]
    assert "density of data-space values on 359 held-out items — kde, gmm" in headers[0]
    assert "probability of binary items on 359 held-out items — vae" in headers[1]
    assert "not ranked against each other" in page and "different scales" in page
    assert "vae: a probability of binary items (Bernoulli), so the NLL is &gt;= 0; measured on 359 held-out items, " \
           "binarised once with fixed seed 0" in page
    # every NLL rests on the 359 held-out items of digits: one note says so, and that there are no more
    assert "the NLLs rest on few held-out items (fewer than 500): kde 359" in page
    assert page.count("all the held-out split has") == 3
    # a density against a probability alone: nothing is ranked
    two = write_comparison([entries[0], entries[2]], tmp_path / "two.html").read_text()
    assert all("best" not in r for r in table_rows(two) if "nll_" in r or "nelbo_" in r)
    # one kind, but different held-out items: not ranked either, and the note says why
    fewer = likelihood_results("gmm", -35.25, "density", "exact", 100)
    other = write_comparison([entries[0], {"run": runs / "kde", "results": fewer, "label": "gmm"}],
                             tmp_path / "items.html").read_text()
    assert all("best" not in r for r in table_rows(other) if ">nll_nats<" in r)
    assert "different held-out items" in other and "different scales" not in other


def test_pages_show_counts_negative_kernel_distances_and_few_items(runs, tmp_path):
    res = fake_results()
    res["scores"].update(kid_mean=-0.0021, nll_nats=80.1)
    res["floor"]["kid_mean"] = 0.004
    res["details"].update(n_compared=359, nll_items=100, nll_sem_nats=0.52, heldout_items=359)
    page = write_report(runs / "kde", tmp_path / "r.html", results=res).read_text()
    assert ">9/10<" in page and ">10/10<" in page   # classes with >= 1% of samples, model and floor
    assert "slightly below 0" in page and "-0.0021" in page
    assert "only 359 items a side" in page
    assert "NLL rests on only 100 held-out items (standard error ±0.52 nats); score more with --nll-items" in page
    assert "held-out negative log-likelihood, nats (density of data-space values, exact)" in page
    cmp = write_comparison([{"run": runs / "kde", "results": res}], tmp_path / "c.html").read_text()
    assert ">9/10<" in cmp and "slightly below 0" in cmp and "only 359 items a side" in cmp
    assert "the NLL of kde rests on only 100 held-out items" in cmp
    plenty = fake_results()
    plenty["details"].update(n_compared=10_000, nll_items=10_000)
    quiet = write_report(runs / "kde", tmp_path / "q.html", results=plenty).read_text()
    assert "few items" not in quiet and "below 0" not in quiet
    gan = write_report(runs / "gan", tmp_path / "g.html",
                       results={**fake_results("gan", "ring8", pairs=False),
                                "scores": {"modes_captured": 7}, "floor": {"modes_captured": 8},
                                "details": {"modes_total": 8}}).read_text()
    assert ">7/8<" in gan and ">8/8<" in gan


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


def test_results_that_do_not_say_what_their_likelihood_is_of_are_evaluated_again(runs, tmp_path, monkeypatch):
    import latentspace as ls
    from latentspace.report import run_results

    run = tmp_path / "kde"
    shutil.copytree(runs / "kde", run)
    old = fake_results(n=50)
    del old["details"]["likelihood_of"]  # a metrics.json written before likelihoods said what they are of
    atomic_write_json(run / "metrics.json", old)
    calls = []
    monkeypatch.setattr("latentspace.report.evaluate", lambda *a, **k: calls.append(1) or fake_evaluate(*a, **k))
    model = ls.load(run)
    data = ls.data.load("digits")
    assert run_results(run, model, data, n=50)[1] and calls == [1]
    atomic_write_json(run / "metrics.json", fake_results(n=50))
    assert not run_results(run, model, data, n=50)[1] and calls == [1]


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
