"""VQ-VAE: EMA codebook, restarts, straight-through gradients, the PixelCNN prior and the model API."""

import os
import signal

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import latentspace as ls
from latentspace.errors import UserError
from latentspace.models.vqvae import (VQVAE, MaskedConv, PixelCNN, VectorQuantizer, causal_mask, grid_sizes,
                                      perplexity)
from latentspace.plots.curves import read_metrics

from conftest import shared

TINY = dict(width=8, embedding_dim=4, num_embeddings=16, prior_width=8, prior_layers=1, res_blocks=1)


@pytest.fixture(scope="module")
def digits():
    return ls.data.load("digits")


@pytest.fixture(scope="module")
def fitted(digits):
    return ls.models.create("vqvae", **TINY).fit(digits, steps=60, batch_size=64, progress=False)


def codebook(K, D, **kw):
    vq = VectorQuantizer(K, D, **kw)
    vq.initialised.fill_(1)
    return vq


def grid_of(vectors):
    """Vectors (m, D) as encoder outputs (1, D, 1, m)."""
    return torch.tensor(vectors, dtype=torch.float32).T[None, :, None, :]


# -- the codebook ---------------------------------------------------------------------------------
def test_ema_update_moves_codes_toward_the_mean_of_their_vectors():
    vq = codebook(2, 2, decay=0.5, restart_after=0)
    vq.embed.data = torch.tensor([[0.0, 0.0], [10.0, 10.0]])
    vq.cluster_size.fill_(1.0)
    vq.embed_sum.copy_(vq.embed.data)
    z = grid_of([[1.0, 1.0], [3.0, 1.0], [9.0, 9.0]])
    k = vq.codes(z)
    assert k.tolist() == [[[0, 0, 1]]]
    stats = vq.ema_update(z, k)
    # N0 = .5 * 1 + .5 * 2, m0 = .5 * (0, 0) + .5 * (4, 2): e0 = (2, 1) / 1.5, between (0, 0) and the mean (2, 1)
    assert torch.allclose(vq.embed.data[0], torch.tensor([4 / 3, 2 / 3]))
    assert torch.allclose(vq.embed.data[1], torch.tensor([9.5, 9.5]))
    assert torch.allclose(vq.cluster_size, torch.tensor([1.5, 1.0]))
    assert stats["perplexity"] == pytest.approx(float(perplexity(torch.tensor([2.0, 1.0]))))


def test_a_fresh_code_jumps_to_the_mean_and_an_unused_one_stays():
    vq = codebook(3, 2, decay=0.99, restart_after=0)
    vq.embed.data = torch.tensor([[0.0, 0.0], [5.0, 5.0], [-9.0, 9.0]])
    z = grid_of([[1.0, 0.0], [0.0, 1.0], [4.0, 6.0]])
    vq.ema_update(z, vq.codes(z))
    assert torch.allclose(vq.embed.data, torch.tensor([[0.5, 0.5], [4.0, 6.0], [-9.0, 9.0]]))


def test_dead_code_is_restarted_from_an_encoder_output_of_the_batch():
    vq = codebook(3, 2, decay=0.9, restart_after=2)
    vq.embed.data = torch.tensor([[0.0, 0.0], [5.0, 5.0], [100.0, 100.0]])
    z = grid_of([[0.1, 0.0], [5.0, 4.9], [0.0, 0.2], [4.8, 5.0]])
    stats = vq.ema_update(z, vq.codes(z))
    assert stats["restarts"] == 0 and vq.unused.tolist() == [0, 0, 1]
    before = vq.embed.data[:2].clone()
    stats = vq.ema_update(z, vq.codes(z))
    assert stats["restarts"] == 1
    new = vq.embed.data[2]
    assert any(torch.equal(new, v) for v in VectorQuantizer.flat(z))  # one of the batch's vectors
    assert vq.unused[2] == 0 and vq.cluster_size[2] == 0 and vq.embed_sum[2].abs().sum() == 0
    assert torch.allclose(vq.embed.data[:2], before, atol=0.2)  # the used codes only moved by EMA


def test_first_training_step_initialises_codes_from_encoder_outputs():
    vq = VectorQuantizer(8, 3)
    z = torch.randn(2, 3, 4, 4)
    assert vq.initialise(z) and not vq.initialise(z)
    rows = VectorQuantizer.flat(z)
    assert all(any(torch.equal(e, r) for r in rows) for e in vq.embed.data)


def test_perplexity_is_codebook_size_for_uniform_use_and_one_for_a_single_code():
    assert float(perplexity(torch.full((64,), 3.0))) == pytest.approx(64.0, rel=1e-5)
    assert float(perplexity(torch.tensor([0.0, 0.0, 12.0, 0.0]))) == pytest.approx(1.0)
    vq = codebook(4, 1, decay=0.5)
    z = grid_of([[0.0]] * 8)
    assert vq.ema_update(z, torch.zeros(1, 1, 8, dtype=torch.long))["perplexity"] == pytest.approx(1.0)


def test_straight_through_gradient_reaches_the_encoder(digits):
    model = ls.models.create("vqvae", **TINY).build(digits.info)
    model.configure_optimizers()
    x = digits.x[:16].contiguous(memory_format=torch.channels_last)
    z_e = model.nets_["encoder"](x)
    z_st, k, commit, _ = model.nets_["codebook"](z_e)
    assert torch.allclose(z_st, model.nets_["codebook"].lookup(k))  # forward: the quantised vectors
    rec = -model._log_px_given_z(model._target(x), model.nets_["decoder"](z_st)).mean()
    rec.backward()  # the reconstruction alone: any encoder gradient came straight through
    grads = [p.grad for p in model.nets_["encoder"].parameters()]
    assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0
    assert model.nets_["codebook"].embed.grad is None  # EMA codebook: no gradient


# -- the PixelCNN -----------------------------------------------------------------------------------
def test_mask_type_a_excludes_the_centre_and_b_keeps_it():
    a, b = causal_mask((5, 5), "A"), causal_mask((5, 5), "B")
    assert not a[2, 2] and b[2, 2]
    assert a[:2].all() and a[2, :2].all() and not a[2, 2:].any() and not a[3:].any()
    assert torch.equal(b & ~a, torch.zeros(5, 5, dtype=torch.bool).index_put_((torch.tensor(2), torch.tensor(2)),
                                                                               torch.tensor(True)))
    a3 = causal_mask((3, 3, 3), "A")
    assert int(a3.sum()) == 13 and not a3[1, 1, 1] and a3[0].all()


@pytest.mark.parametrize("grid", [(5, 5), (3, 3, 3), (1, 4)])
def test_pixelcnn_is_causal_in_raster_order(grid):
    torch.manual_seed(0)
    net = PixelCNN(K=6, grid=grid, width=8, layers=3)
    k = torch.randint(6, (2, *grid))
    base = net(k).detach().flatten(2)
    n = base.shape[2]
    for t in range(n):
        changed = k.clone().view(2, -1)
        changed[:, t] = (changed[:, t] + 1) % 6
        out = net(changed.view_as(k)).detach().flatten(2)
        assert torch.equal(out[:, :, :t + 1], base[:, :, :t + 1]), t  # position t and earlier never move
        if t + 1 < n:
            assert not torch.equal(out[:, :, t + 1:], base[:, :, t + 1:])  # later ones can


def test_masked_conv_hides_later_inputs():
    conv = MaskedConv(1, 1, (3, 3), "A")
    x = torch.zeros(1, 1, 3, 3)
    x[0, 0, 1, 2] = 1.0  # right of the centre
    x[0, 0, 2, 0] = 1.0  # below
    x[0, 0, 1, 1] = 1.0  # the centre itself
    assert torch.equal(conv(x)[0, 0, 1, 1], conv(torch.zeros_like(x))[0, 0, 1, 1])


# -- the model ------------------------------------------------------------------------------------------
def test_sample_shape_range_and_seed(fitted, digits):
    x = fitted.sample(10, seed=3)
    assert x.shape == (10, 1, 8, 8) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1
    assert torch.equal(x, fitted.sample(10, seed=3)) and not torch.equal(x, fitted.sample(10, seed=4))
    codes = fitted.sample_codes(10, seed=3)
    assert codes.shape == (10, *fitted.grid_) and codes.dtype == torch.long
    assert torch.equal(fitted.decode(codes), x)


def test_encode_decode(fitted, digits):
    x = digits.test.to_data()[:6]
    k = fitted.encode(x)
    assert k.shape == (6, 4, 4) and k.dtype == torch.long and 0 <= int(k.min()) and int(k.max()) < 16
    v = fitted.encode(x, vectors=True)
    assert v.shape == (6, 4, 4, 4)
    assert torch.allclose(fitted.decode(v), fitted.decode(k), atol=1e-6)
    assert fitted.decode(k).shape == x.shape


def test_score_samples_is_a_bound_that_prefers_real_data(fitted, digits):
    real = digits.test.to_data()[:30]
    ll = fitted.score_samples(real)
    assert ll.shape == (30,) and torch.isfinite(ll).all()
    assert torch.equal(ll, fitted.elbo(real)) and torch.equal(ll, fitted.score_samples(real, k=50))
    assert ll.mean() > fitted.score_samples(torch.rand_like(real)).mean()
    parts = fitted.prior_log_prob(fitted.encode(real))
    assert (parts < 0).all() and (ll < parts).all()  # log p(x|z_q) < 0 for Bernoulli pixels


def test_save_load_round_trip(fitted, digits, tmp_path):
    fitted.save(tmp_path / "m")
    again = ls.load(tmp_path / "m")
    assert type(again) is VQVAE and again.get_params() == fitted.get_params() and again.grid_ == fitted.grid_
    assert torch.equal(again.sample(8, seed=1), fitted.sample(8, seed=1))
    real = digits.test.to_data()[:10]
    assert torch.allclose(again.score_samples(real), fitted.score_samples(real))


def test_stages_split_deterministically_and_lr_schedule_runs_within_each(digits):
    seen = []

    class Spy(VQVAE):
        def train_step(self, batch, step):
            logs = super().train_step(batch, step)
            seen.append((step, set(logs), self.opt_.param_groups[0]["lr"], self.prior_opt_.param_groups[0]["lr"]))
            return logs

    model = Spy(**TINY, prior_fraction=0.4, lr=1e-3, prior_lr=2e-3)
    assert [model.prior_start(s) for s in (1, 2, 10, 20)] == [1, 1, 6, 12]
    model.fit(digits, steps=20, batch_size=32, progress=False, lr_schedule="linear")
    vq_steps = [s for s, keys, *_ in seen if "rec" in keys]
    prior_steps = [s for s, keys, *_ in seen if "prior_nll" in keys]
    assert vq_steps == list(range(12)) and prior_steps == list(range(12, 20))
    lrs = {s: (a, b) for s, _, a, b in seen}
    assert lrs[0][0] == pytest.approx(1e-3) and lrs[11][0] == pytest.approx(1e-3 / 12)
    assert lrs[12][1] == pytest.approx(2e-3) and lrs[19][1] == pytest.approx(2e-3 / 8)


class InterruptedVQVAE(VQVAE):
    """Sends itself Ctrl-C during a given step, as a user would."""

    interrupt_at = 0

    def train_step(self, batch, step):
        if step == self.interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)
        return super().train_step(batch, step)


@pytest.mark.parametrize("interrupt_at", [7, 16])  # in the VQ-VAE stage, and in the prior stage
def test_resume_after_ctrl_c_matches_uninterrupted_run(digits, tmp_path, interrupt_at):
    kw = dict(steps=24, batch_size=8, seed=3, progress=False, checkpoint_every=100, log_every=1,
              sample_every=100, lr_schedule="cosine")
    params = dict(TINY, num_embeddings=64, restart_after=2)  # 128 vectors a batch for 64 codes: restarts
    ls.models.create("vqvae", **params).fit(digits, out=tmp_path / "full", **kw)
    restarts = read_metrics(tmp_path / "full")["restarts"]
    assert np.nansum(restarts[:7]) > 0 and np.nansum(restarts[7:12]) > 0  # before and after the first cut
    cut = InterruptedVQVAE(**params)
    cut.interrupt_at = interrupt_at
    with pytest.raises(KeyboardInterrupt, match="--resume"):
        cut.fit(digits, out=tmp_path / "cut", **kw)
    ls.models.create("vqvae", **params).fit(digits, out=tmp_path / "cut", resume=True, **kw)
    a = load_file(str(tmp_path / "full" / "model" / "weights.safetensors"))
    b = load_file(str(tmp_path / "cut" / "model" / "weights.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_gradient_codebook_when_decay_is_zero(digits):
    model = ls.models.create("vqvae", **TINY, decay=0.0, prior_fraction=0.5)
    model.fit(digits, steps=4, batch_size=32, progress=False)
    assert model.nets_["codebook"].embed.requires_grad
    assert any(p is model.nets_["codebook"].embed for g in model.opt_.param_groups for p in g["params"])
    assert model.nets_["codebook"].cluster_size.abs().sum() == 0  # no EMA statistics kept


# -- other data ---------------------------------------------------------------------------------------
def test_trains_on_points_with_a_gaussian_likelihood():
    data = ls.data.load("moons", n=600, n_test=100)
    model = ls.models.create("vqvae", num_embeddings=16, embedding_dim=4, hidden=32, prior_width=8,
                             prior_layers=1, slots=2).fit(data, steps=40, batch_size=64, progress=False)
    assert model.obs_model == "gaussian" and model.grid_ == (1, 2)
    x = model.sample(50, seed=0)
    assert x.shape == (50, 2) and torch.isfinite(x).all()
    assert model.encode(data.test.to_data()[:5]).shape == (5, 1, 2)
    assert torch.isfinite(model.score_samples(data.test.to_data()[:20])).all()


def test_trains_on_volumes_with_3d_convs(tmp_path):
    rng = np.random.default_rng(0)
    vox = rng.random((40, 8, 8, 8)) > 0.7
    np.savez(tmp_path / "vox.npz", x=vox)
    data = ls.data.load(tmp_path / "vox.npz", modality="volume")
    model = ls.models.create("vqvae", **TINY).fit(data, steps=6, batch_size=16, progress=False)
    assert isinstance(model.nets_["encoder"].net[0], torch.nn.Conv3d) and model.grid_ == (4, 4, 4)
    assert model.sample(3, seed=0).shape == (3, 1, 8, 8, 8)


def test_trains_on_a_folder_of_images(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(24):
        a = np.zeros((20, 20), dtype=np.uint8)
        r = int(rng.integers(3, 9))
        a[10 - r:10 + r, 10 - r:10 + r] = 255
        Image.fromarray(a).save(tmp_path / f"img{i:02d}.png")
    data = ls.data.load(tmp_path, size=16)
    model = ls.models.create("vqvae", **TINY).fit(data, steps=6, batch_size=8, progress=False)
    assert model.grid_ == (8, 8) and model.sample(2, seed=0).shape == (2, *data.shape)


def test_trains_on_pottery_profiles():
    data = ls.data.load(shared("pottery_profiles"), size=32)
    model = ls.models.create("vqvae", **TINY).fit(data, steps=4, batch_size=16, progress=False)
    assert model.grid_ == (8, 8)
    x = model.sample(2, seed=0)
    assert x.shape == (2, 1, 32, 32) and x.min() >= 0 and x.max() <= 1


def test_code_grid_is_sized_from_the_data():
    assert grid_sizes((28, 28)) == [(28, 28), (14, 14), (7, 7)]
    assert grid_sizes((8, 8))[-1] == (4, 4) and grid_sizes((64, 64))[-1] == (8, 8)
    assert grid_sizes((32, 32, 32))[-1] == (8, 8, 8) and grid_sizes((7, 9))[-1] == (4, 5)
    assert grid_sizes((28, 28), downsample=1)[-1] == (14, 14)
    with pytest.raises(UserError, match="too small"):
        grid_sizes((3, 3))


# -- bad input -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("params, match", [
    (dict(prior_fraction=1.0), "prior_fraction"),
    (dict(decay=1.0), "decay"),
    (dict(num_embeddings=1), "num_embeddings"),
    (dict(downsample=5), "downsample"),
])
def test_bad_parameters_are_user_errors(digits, params, match):
    with pytest.raises(UserError, match=match):
        ls.models.create("vqvae", **TINY).set_params(**params).fit(digits, steps=2, progress=False)


def test_bad_inputs_are_user_errors(fitted):
    with pytest.raises(UserError, match="not fitted"):
        ls.models.create("vqvae").sample(2)
    with pytest.raises(UserError, match="positive integer"):
        fitted.sample(0)
    with pytest.raises(UserError, match=r"code indices must have shape \(n, 4, 4\)"):
        fitted.decode(torch.zeros(2, 3, 3, dtype=torch.long))
    with pytest.raises(UserError, match=r"lie in 0..15"):
        fitted.decode(torch.full((2, 4, 4), 16))
    with pytest.raises(UserError, match=r"code vectors must have shape \(n, 4, 4, 4\)"):
        fitted.decode(torch.zeros(2, 5, 4, 4))
    with pytest.raises(UserError, match="fitted on"):
        fitted.encode(torch.zeros(2, 1, 9, 9))
    with pytest.raises(UserError, match="bernoulli"):
        ls.models.create("vqvae", likelihood="bernoulli").fit(ls.data.load("moons", n=100), steps=1, progress=False)
    with pytest.raises(UserError, match="must be one of"):
        ls.models.create("vqvae", likelihood="poisson")
