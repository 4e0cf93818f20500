"""The architecture stays as docs/architecture.md says: an acyclic subpackage graph, modality names
compared only in the modality registry, every registered model round-trips through save/load, and
neural models take networks of their own."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import torch
from torch import nn

import latentspace as ls
from latentspace.errors import UserError

SRC = Path(ls.__file__).parent


def _unit(path: Path) -> str:
    """The top-level unit of a source file: its subpackage, or the module's own name."""
    rel = path.relative_to(SRC).parts
    return rel[0].removesuffix(".py")


def import_graph() -> dict[str, set[str]]:
    """Edges between top-level units from every ``latentspace.X`` import, at module level or inside functions."""
    units = {_unit(f) for f in SRC.rglob("*.py")} - {"__init__"}
    graph: dict[str, set[str]] = {u: set() for u in units}
    for f in SRC.rglob("*.py"):
        here = _unit(f)
        if here == "__init__":
            continue
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("latentspace."):
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("latentspace.")]
            for name in names:
                target = name.split(".")[1]
                if target in units and target != here:
                    graph[here].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(u):
        state[u] = 1
        stack.append(u)
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if v not in state:
                found = visit(v)
                if found:
                    return found
        stack.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in state:
            found = visit(u)
            if found:
                return found
    return None


def test_subpackage_import_graph_is_acyclic():
    graph = import_graph()
    assert {"models", "train", "plots", "latent", "data", "modalities"} <= set(graph)
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


def test_the_cycle_finder_finds_a_planted_cycle():
    graph = import_graph()
    graph["modalities"] = graph["modalities"] | {"report"}   # the lowest layer importing the highest
    assert find_cycle(graph) is not None


def test_engine_imports_neither_plots_nor_metrics():
    tree = ast.parse((SRC / "train" / "engine.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not any(m.startswith(("latentspace.plots", "latentspace.metrics")) for m in imported)


COMPARE = re.compile(r"modality\s*(==|!=|\bin\b|\bnot in\b)|(==|!=)\s*\w*\.?modality\b"
                     r"|[\"'](points|image|volume|spectrogram)[\"']\s*(==|!=|in)\s")


def test_modality_names_are_compared_only_in_the_registry():
    sites = [f"{f.relative_to(SRC)}:{i}" for f in SRC.rglob("*.py") if "modalities" not in f.parts
             for i, line in enumerate(f.read_text().splitlines(), 1) if COMPARE.search(line)]
    assert sites == []


def test_no_module_is_over_600_lines():
    big = {str(f.relative_to(SRC)): n for f in SRC.rglob("*.py") if (n := f.read_text().count("\n")) > 600}
    assert big == {}


# -- every registered model: fit, save, load, sample ---------------------------------------------------
#: small settings per model so that the round trip takes seconds; others fit with the defaults
SMALL = {"vqvae": dict(width=8, prior_width=8), "cyclegan": dict(width=8, d_width=8, blocks=1, bank_size=16),
         "gan": {}, "cgan": dict(width=8), "dcgan": dict(width=8), "wgan": dict(width=8),
         "wgan-gp": dict(width=8)}


@pytest.mark.parametrize("name", sorted(ls.models.registry()))
def test_every_registered_model_round_trips(name, tmp_path):
    cls = ls.models.registry()[name]
    data = ls.data.load("digits")
    model = ls.models.create(name, **SMALL.get(name, {}))
    fit = {"steps": 4, "batch_size": 16, "progress": False} if cls.iterative else {}
    if cls.two_domains:
        fit["data_b"] = ls.data.load("digits", classes="5,6,7,8,9")
        data = ls.data.load("digits", classes="0,1,2,3,4")
    model.fit(data, seed=0, **fit)
    labels = {"labels": torch.arange(6) % data.num_classes} if cls.conditional else {}
    x = model.sample(6, seed=1, **labels)
    model.save(tmp_path / "m")
    same = ls.load(tmp_path / "m")
    assert type(same) is cls and same.get_params() == model.get_params()
    assert torch.equal(same.sample(6, seed=1, **labels), x)
    if cls.likelihood_kind is not None:
        items = same.likelihood_items(data.test.to_data()[:5])[0]
        kw = {"labels": data.test.y[:5]} if cls.conditional else {}
        kw.update({"k": 5} if cls.likelihood_kind == "estimate" else {})
        assert torch.allclose(same.score_samples(items, **kw), model.score_samples(items, **kw))
    if cls.encodes:
        kw = {"labels": data.test.y[:5]} if cls.conditional else {}
        assert torch.equal(same.encode(data.test.to_data()[:5], **kw), model.encode(data.test.to_data()[:5], **kw))


def test_capabilities_match_what_each_model_does():
    for name, cls in ls.models.registry().items():
        assert cls.likelihood_kind in ("exact", "bound", "estimate", None), name
        assert cls.latent in ("continuous", "discrete", None), name
        assert cls.inversion in ("gradient", "exact", None), name
        assert (cls.inversion is None) or (cls.latent == "continuous"), name
        assert (cls.score_samples is ls.models.GenerativeModel.score_samples) == (cls.likelihood_kind is None), name
        assert (cls.encode is ls.models.GenerativeModel.encode) == (not cls.encodes), name



def test_each_model_says_what_its_likelihood_is_of():
    from latentspace.metrics.likelihood import LIKELIHOOD_OF

    digits, grid = ls.data.load("digits"), ls.data.load("grid25", n=300)
    fits = {"kde": grid, "gmm": grid, "ppca": digits, "vae": digits, "vqvae": digits}
    expect = {"kde": "density", "gmm": "density", "ppca": "density", "vae": "discrete-binary",
              "vqvae": "cross-entropy"}
    for name, data in fits.items():
        small = {"width": 8, "prior_width": 8} if name == "vqvae" else {"width": 8} if name == "vae" else {}
        model = ls.models.create(name, **small).fit(data, **({"steps": 2, "progress": False}
                                                             if ls.models.registry()[name].iterative else {}))
        assert model.likelihood_of == expect[name] and model.likelihood_of in LIKELIHOOD_OF, name
    assert ls.models.create("vae", likelihood="logistic").likelihood_of == "discrete-8bit"
    assert ls.models.create("vae", likelihood="continuous-bernoulli").likelihood_of == "density-unit"
    assert ls.models.create("gan").likelihood_of is None


# -- networks of one's own ---------------------------------------------------------------------------------
class TinyEncoder(nn.Module):
    def __init__(self, z=3):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 2 * z))

    def forward(self, x):
        return self.net(x)


class TinyDecoder(nn.Module):
    def __init__(self, z=3):
        super().__init__()
        self.net = nn.Linear(z, 64)

    def forward(self, z):
        return self.net(z).view(len(z), 1, 8, 8)


def test_vae_trains_with_networks_of_ones_own_and_needs_them_to_load(tmp_path):
    data = ls.data.load("digits")
    enc, dec = TinyEncoder(), TinyDecoder()
    before = enc.net[1].weight.clone()
    vae = ls.models.create("vae", encoder=enc, decoder=dec, latent_dim=3).fit(data, steps=20, progress=False,
                                                                             out=tmp_path / "run")
    assert torch.equal(enc.net[1].weight, before)          # a copy was trained, the user's left as it was
    assert vae.encode(data.test.to_data()[:4]).shape == (4, 3)
    assert vae.resolved_params()["own_networks"] == ["encoder", "decoder"]
    with pytest.raises(UserError, match=r"networks of your own \(encoder, decoder\).*latentspace.load\(path, "
                                        r"encoder=<your .*TinyEncoder>"):
        ls.load(tmp_path / "run")
    same = ls.load(tmp_path / "run", encoder=TinyEncoder(), decoder=TinyDecoder())
    assert torch.equal(same.sample(5, seed=0), vae.sample(5, seed=0))


def test_own_networks_are_checked_for_shape_with_a_clear_error():
    data = ls.data.load("digits")
    with pytest.raises(UserError, match=r"your decoder maps inputs \(2, 3\) to \(2, 10\); it must give"):
        ls.models.create("vae", decoder=nn.Linear(3, 10), latent_dim=3).fit(data, steps=1, progress=False)
    with pytest.raises(UserError, match="need latent_dim"):
        ls.models.create("vae", encoder=TinyEncoder()).fit(data, steps=1, progress=False)
    with pytest.raises(UserError, match=r"your discriminator fails on inputs of shape \(2, 1, 8, 8\)"):
        ls.models.create("gan", discriminator=nn.Linear(3, 1)).fit(data, steps=1, progress=False)


def test_gan_trains_with_a_generator_and_discriminator_of_ones_own():
    data = ls.data.load("grid25", n=500)
    G = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))
    D = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
    gan = ls.models.create("wgan-gp", generator=G, discriminator=D, latent_dim=4)
    gan.fit(data, steps=30, batch_size=64, progress=False)
    assert gan.sample(7, seed=0).shape == (7, 2)
    assert gan.settings_["lr"] == 2e-3 and gan.resolved_params()["lr"] == 2e-3   # the points recipe, resolved


def test_model_json_records_the_resolved_settings(tmp_path):
    data = ls.data.load("grid25", n=500)
    ls.models.create("gan").fit(data, steps=3, progress=False, out=tmp_path / "run")
    meta = ls.storage.read_json(tmp_path / "run" / "model" / "model.json")
    assert meta["params"]["lr"] is None and meta["resolved"]["lr"] == 1e-3 and meta["resolved"]["lr_d"] == 3e-3
    config = ls.storage.read_json(tmp_path / "run" / "config.json")
    assert config["resolved"]["latent_dim"] == 8


def test_every_public_submodule_is_an_attribute_of_the_package():
    import latentspace as ls

    for name in ("data", "models", "train", "metrics", "plots", "latent", "report", "errors", "storage"):
        assert name in dir(ls) and getattr(ls, name).__name__ == f"latentspace.{name}"
    assert callable(ls.report.write_comparison)
