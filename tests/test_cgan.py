"""The conditional GAN: labels reach both networks, sample(labels=...), and it learns the classes."""

import pytest
import torch

import latentspace as ls
from latentspace.errors import UserError
from latentspace.metrics import evaluate


@pytest.fixture(scope="module")
def digits():
    return ls.data.load("digits")


def test_labels_reach_generator_and_discriminator(digits):
    cgan = ls.models.create("cgan", width=8).fit(digits, steps=3, batch_size=16, progress=False)
    z = torch.randn(4, cgan.z_dim)
    assert not torch.equal(cgan.decode(z, labels=0), cgan.decode(z, labels=1))
    D = cgan.nets_["D"]
    assert D.body.features[0].in_channels == 1 + 10  # the image and a one-hot label map
    x = digits.x[:4]
    assert not torch.equal(cgan.discriminate(x, torch.zeros(4, dtype=torch.long)),
                           cgan.discriminate(x, torch.ones(4, dtype=torch.long)))


def test_projection_discriminator_is_psi_plus_class_projection(digits):
    cgan = ls.models.create("cgan", width=8, projection=True).build(digits.info)
    D = cgan.nets_["D"]
    x, y = digits.x[:5], torch.tensor([0, 1, 2, 3, 9])
    h = D.phi(x)
    expected = D.psi(h) + (D.v.weight[y] * h).sum(1, keepdim=True)
    assert torch.allclose(D(x, y), expected, atol=1e-6)


def test_sample_labels_and_errors(digits):
    cgan = ls.models.create("cgan", width=8).fit(digits, steps=2, batch_size=16, progress=False)
    assert cgan.sample(5, seed=1).shape == (5, 1, 8, 8)
    assert torch.equal(cgan.sample(3, seed=1, labels=4), cgan.sample(3, seed=1, labels=[4, 4, 4]))
    with pytest.raises(UserError, match="must lie in 0..9"):
        cgan.sample(2, labels=[0, 10])
    with pytest.raises(UserError, match="one per item"):
        cgan.sample(3, labels=[1, 2])
    unlabelled = ls.data.load("moons", n=200)
    unlabelled.y = None
    with pytest.raises(UserError, match="needs class labels"):
        ls.models.create("cgan").fit(unlabelled, steps=1, progress=False)


@pytest.mark.parametrize("projection", [False, True])
def test_cgan_puts_each_requested_label_on_its_mode(projection):
    data = ls.data.load("ring8", n=4000, n_test=200)
    cgan = ls.models.create("cgan", hidden=64, layers=2, projection=projection)
    cgan.fit(data, steps=1200, batch_size=128, progress=False)
    labels = torch.arange(800) % 8
    x = cgan.sample(800, seed=0, labels=labels)
    modes = torch.tensor(data.info.extra["modes"], dtype=torch.float32)
    nearest = torch.cdist(x, modes).argmin(1)
    assert float((nearest == labels).float().mean()) > 0.9


def test_evaluate_reports_conditional_accuracy(digits):
    cgan = ls.models.create("cgan", width=8).fit(digits, steps=2, batch_size=16, progress=False)
    res = evaluate(cgan, digits, n=200, nll_items=10)
    assert 0.0 <= res["scores"]["conditional_accuracy"] <= 1.0


def test_conv_discriminators_normalise_each_item(digits):
    from dataclasses import replace

    info = replace(digits.info, shape=(1, 28, 28))  # digits' 8x8 has one conv layer: nothing to normalise
    for name in ("gan", "cgan"):
        model = ls.models.create(name, width=8).build(info)
        norms = [m for m in model.nets_["D"].modules() if isinstance(m, torch.nn.GroupNorm)]
        assert norms and all(m.num_groups == 1 for m in norms), name  # per item: never mixes real and fake
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.nets_["D"].modules())
