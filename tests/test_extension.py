"""A new data domain and a new model family, added from this file alone (docs/architecture.md's two
checklists), then trained, sampled, evaluated and reported on through the Python API and the CLI.

- the domain: 1-D signals (``Signal``: one channel of ``LENGTH`` samples, 1-D convs, no natural
  range, each signal drawn as a line in a small picture) and a loader ``toy-signals``;
- the family: ``toy-factor``, a linear-Gaussian factor model trained by gradient ascent on its
  exact log-likelihood, ``x = W z + b + sigma * eps``: exact ``score_samples``, ``encode`` (the
  posterior mean), ``decode`` and a differentiable decoder for inversion.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from torch import nn

import latentspace as ls
from latentspace import cli, modalities
from latentspace.data.arrays import standardised_dataset
from latentspace.models.base import register
from latentspace.models.neural import NeuralModel

LENGTH = 32


# -- checklist "add a data domain": a Modality, its registration, a loader ---------------------------
class Signal(modalities.Modality):
    """One-channel 1-D signals ``(1, LENGTH)`` in their own units, drawn as a line in a 16-pixel-high picture."""

    name = "toy-signal"
    spatial_dims = 1
    grid_items = 16

    def display(self, x, info):
        x = torch.as_tensor(x).detach().float().cpu()
        lead, length = x.shape[:-2], x.shape[-1]
        flat = x.reshape(-1, length)
        lo, hi = self.display_range(info, flat)
        rows = ((1 - (flat - lo) / (hi - lo)).clamp(0, 1) * 15).round().long()   # high values at the top
        pics = torch.ones(len(flat), 16, length)
        pics[torch.arange(len(flat))[:, None], rows, torch.arange(length)] = 0.0  # a dark line on white
        return pics.reshape(*lead, 1, 16, length)


def toy_signals(n=600, seed=0):
    """Noisy sine waves of random phase and amplitude."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * math.pi, LENGTH)
    phase, amp = rng.uniform(0, 2 * math.pi, (n, 1)), rng.uniform(0.5, 1.5, (n, 1))
    x = amp * np.sin(t + phase) + 0.05 * rng.standard_normal((n, LENGTH))
    return standardised_dataset("toy-signals", "toy-signal", x[:, None, :], test_fraction=0.25, seed=seed)


# -- checklist "add a model family": capabilities, parameters, networks, a step, the API ----------------
class ToyFactor(NeuralModel):
    r"""Linear-Gaussian factor model, :math:`p(x) = \mathcal N(b, W W^\top + \sigma^2 I)`, trained on its
    exact log-likelihood (model space), with :math:`z \sim \mathcal N(0, I_k)`."""

    name = "toy-factor"
    likelihood_kind = "exact"
    encodes = True
    latent = "continuous"
    inversion = "gradient"
    default_steps = 300
    default_batch_size = 64

    def __init__(self, latent_dim: int = 2, lr: float = 0.02):
        self.latent_dim = latent_dim
        self.lr = lr

    def _build(self, info):
        return {"W": nn.Linear(self.latent_dim, info.dim), "log_sigma": _Scalar()}

    def configure_optimizers(self):
        self.opt_ = torch.optim.Adam(self.nets_.parameters(), lr=self.lr)
        return {"all": self.opt_}

    def _normal(self):
        W = self.nets_["W"]
        sigma2 = torch.exp(2 * self.nets_["log_sigma"]()).expand(self.info_.dim)
        return torch.distributions.LowRankMultivariateNormal(W.bias, W.weight, sigma2)

    def train_step(self, batch, step):
        loss = -self._normal().log_prob(batch.x.flatten(1)).mean()
        self.opt_.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_.step()
        return {"nll": loss.item()}

    def latent_width(self):
        return self.latent_dim

    @torch.no_grad()
    def sample(self, n, *, seed=None, **cond):
        self._check_fitted()
        n = self._check_n(n)
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        z = torch.randn(n, self.latent_dim, generator=g)
        noise = torch.randn(n, self.info_.dim, generator=g) * torch.exp(self.nets_["log_sigma"]())
        return self._to_data((self.nets_["W"](z) + noise).reshape(n, *self.info_.shape))

    @torch.no_grad()
    def score_samples(self, x):
        xm = self._as_model_space(x).flatten(1)
        return self._normal().log_prob(xm).double() + self._log_det_to_data()

    @torch.no_grad()
    def encode(self, x):
        xm = self._as_model_space(x).flatten(1)
        W, b = self.nets_["W"].weight, self.nets_["W"].bias
        M = W.T @ W + torch.exp(2 * self.nets_["log_sigma"]()) * torch.eye(self.latent_dim)
        return torch.linalg.solve(M, W.T @ (xm - b).T).T

    @torch.no_grad()
    def decode(self, z):
        z = torch.as_tensor(z, dtype=torch.float32)
        return self._to_data(self.nets_["W"](z).reshape(len(z), *self.info_.shape))

    @contextmanager
    def differentiable_decoder(self):
        yield lambda z, y: self.nets_["W"](z).reshape(len(z), *self.info_.shape)


class _Scalar(nn.Module):
    def __init__(self):
        super().__init__()
        self.value = nn.Parameter(torch.tensor(-1.0))

    def forward(self):
        return self.value


@pytest.fixture(scope="module")
def extension():
    """Register the domain, the loader and the family; take them out again afterwards."""
    modalities.register(Signal())
    ls.data.register("toy-signals", "noisy sine waves, 1-D signals (a test's own domain)")(toy_signals)
    register(ToyFactor)
    yield
    from latentspace.data import registry as data_registry
    from latentspace.modalities import base as modality_registry
    from latentspace.models import base as model_registry

    model_registry._REGISTRY.pop("toy-factor")
    data_registry._LOADERS.pop("toy-signals")
    modality_registry._REGISTRY.pop("toy-signal")


def test_python_api_trains_samples_evaluates_and_reports(extension, tmp_path):
    from latentspace.latent import interpolate, invert
    from latentspace.report import write_report

    data = ls.data.load("toy-signals")
    assert data.info.spec.spatial_dims == 1 and data.shape == (1, LENGTH)
    model = ls.models.create("toy-factor").fit(data, out=tmp_path / "run", progress=False)
    x = model.sample(200, seed=0)
    assert x.shape == (200, 1, LENGTH) and torch.equal(x, model.sample(200, seed=0))
    # the exact likelihood of the held-out signals beats a standard normal's by far
    ll = model.score_samples(data.test.to_data())
    base = torch.distributions.Normal(0, 1).log_prob(data.test.to_data()).flatten(1).sum(1)
    assert ll.mean() > base.mean() + 20
    # latent tools, from the capabilities alone
    path = interpolate(model, data.test.to_data()[0], data.test.to_data()[1], steps=5)
    assert path.shape == (5, 1, LENGTH)
    z, recon = invert(model, data.test.to_data()[:4], steps=100)
    assert z.shape == (4, 2) and recon.shape == (4, 1, LENGTH)
    results = ls.metrics.evaluate(model, data, n=300)
    assert results["details"]["features"] == "autoencoder"   # learned on 1-D convs: spatial, unlabelled
    assert {"fd", "precision", "recall", "nll_nats"} <= set(results["scores"])
    assert results["details"]["likelihood"] == "exact"
    page = write_report(tmp_path / "run", results=results).read_text()
    for section in ("samples", "neighbours", "interpolation", "reconstructions", "latents", "curves"):
        assert f'<section id="{section}">' in page
    same = ls.load(tmp_path / "run")
    assert torch.equal(same.sample(10, seed=3), model.sample(10, seed=3))


def test_cli_trains_samples_evaluates_and_reports(extension, tmp_path, capsys):
    run = tmp_path / "cli"
    assert cli.main(["train", "toy-factor", "--data", "toy-signals", "--steps", "120", "--out", str(run),
                     "--no-progress"]) == 0
    assert (run / "model" / "model.json").is_file() and (run / "samples").is_dir()
    assert cli.main(["sample", str(run), "--n", "16", "--out", str(tmp_path / "s.png")]) == 0
    assert cli.main(["sample", str(run), "--n", "16", "--out", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (16, 1, LENGTH)
    assert cli.main(["evaluate", str(run), "--n", "300", "--no-progress"]) == 0
    assert "held-out negative log-likelihood" in capsys.readouterr().out
    assert cli.main(["report", str(run), "--n", "300", "--no-progress"]) == 0
    assert (run / "report.html").is_file()
    assert cli.main(["plot", str(run), "--kind", "reconstructions", "--out", str(tmp_path / "r.png")]) == 0
    # resume continues the same run
    assert cli.main(["train", "toy-factor", "--resume", "--out", str(run), "--steps", "150", "--no-progress"]) == 0
