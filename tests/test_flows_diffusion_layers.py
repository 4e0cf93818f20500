"""The flow, diffusion and flow-matching families in the shared layers: what their likelihood is of, the latent
tools (interpolation between items, inversion of the flow's exact bijection) and the command line."""

import pytest
import torch

import latentspace as ls
from latentspace.cli import main
from latentspace.metrics.likelihood import LIKELIHOOD_OF

torch.set_num_threads(1)
SMALL = {"flow": {"depth": 2, "width": 8}, "ddpm": {"width": 8, "timesteps": 50},
         "flow-matching": {"width": 8, "hidden": 32}}


def fitted(name, data, steps=30):
    small = SMALL[name] if data.info.spec.spatial else {k: v for k, v in SMALL[name].items() if k != "width"}
    return ls.models.create(name, **small).fit(data, steps=steps, seed=0, progress=False)


def test_each_family_says_what_its_likelihood_is_of():
    grid, digits = ls.data.load("grid25", n=400, n_test=50), ls.data.load("digits")
    expect = {("flow", "grid25"): ("exact", "density"), ("ddpm", "grid25"): ("bound", "density"),
              ("flow-matching", "grid25"): ("exact", "density"), ("flow", "digits"): ("exact", "density"),
              ("ddpm", "digits"): ("bound", "discrete-8bit"), ("flow-matching", "digits"): ("estimate", "density")}
    for (name, data_name), (kind, of) in expect.items():
        model = fitted(name, grid if data_name == "grid25" else digits, steps=2)
        assert (model.likelihood_kind, model.likelihood_of) == (kind, of), (name, data_name)
        assert of in LIKELIHOOD_OF


@pytest.mark.parametrize("name", sorted(SMALL))
def test_interpolation_between_items_runs_through_the_codes(name):
    data = ls.data.load("moons", n=400, n_test=50)
    model = fitted(name, data)
    a, b = data.test.to_data()[:1], data.test.to_data()[1:2]
    path = ls.latent.interpolate(model, a, b, steps=5, method="linear", inputs="items")
    assert path.shape == (1, 5, 2) and torch.isfinite(path).all()
    path = path[0]
    codes = model.encode(torch.cat([a, b]))
    assert torch.allclose(path[0], model.decode(codes[:1])[0], atol=1e-4)
    assert torch.allclose(path[-1], model.decode(codes[1:])[0], atol=1e-4)


def test_the_flow_inverts_a_complete_item_to_its_own_code():
    data = ls.data.load("moons", n=400, n_test=50)
    flow = fitted("flow", data)
    x = data.test.to_data()[:3]
    z, _ = ls.latent.invert(flow, x, steps=300, lr=0.05, restarts=1, prior_weight=0.0)
    assert torch.allclose(flow.decode(z), x, atol=0.05)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_the_command_line_trains_samples_and_evaluates(name, tmp_path, capsys):
    sets = [a for k, v in SMALL[name].items() if k != "width" for a in ("--set", f"{k}={v}")]
    assert main(["train", name, "--data", "moons", "--steps", "20", "--out", str(tmp_path / "run"), "--no-progress",
                 *sets]) == 0
    assert main(["sample", str(tmp_path / "run"), "--n", "8", "--out", str(tmp_path / "x.npy")]) == 0
    assert main(["evaluate", str(tmp_path / "run"), "--n", "200", "--nll-items", "20", "--no-progress"]) == 0
    assert "negative log-likelihood" in capsys.readouterr().out
