# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.16.4
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # VAEs 2: training and evaluation
#
# **You will learn**
#
# - how the choice of likelihood $p(x|z)$ (Bernoulli or Gaussian, and the Gaussian's spread)
#   sets the balance between the two terms of the loss, and what goes wrong when it is off;
# - KL warm-up, and how to watch the reconstruction and KL terms while training;
# - to train `latentspace`'s VAE in one line and look at its reconstructions and samples;
# - what its likelihood, `score_samples`, is: an importance-sampled estimate of $\log p(x)$ in
#   nats, of what, and how it relates to the ELBO;
# - to draw latent maps coloured by label, find the latent units the VAE switched off (the KL
#   per dimension), and see what the prior fitted after training changes in the samples.
#
# **Time:** about 30 minutes to read and run. The code runs in under a minute with
# `LATENTSPACE_FAST=1` (the models are then barely trained) and in 3 to 6 minutes without, on
# two CPU cores.
#
# **You need:** notebook `01-latent-variables-and-the-ELBO` (the ELBO, the reparameterisation
# trick, a VAE by hand). `notebooks/README.md` says how to run this file as a script or open it
# as a notebook.

# %%
# ruff: noqa: E402   (imports appear where they are first needed, as in any notebook)
import math
import os
from pathlib import Path

import latentspace as ls   # before torch: latentspace tells torch's idle threads not to hog shared cores
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FAST = os.environ.get("LATENTSPACE_FAST") == "1"   # tiny trainings: checks that everything runs
print("fast mode" if FAST else "full mode")

# %% [markdown]
# ## The data
#
# Handwritten digits: MNIST (LeCun et al. 1998; 28 x 28 pixels) from `../../../shared/data/mnist`
# beside the repository (here `/work/shared/data/mnist`) or `$LATENTSPACE_SHARED_DATA/mnist`,
# and scikit-learn's 1,797 digits of 8 x 8 pixels, embedded in latentspace, when MNIST is not
# there. Fast mode always uses the 8 x 8 digits, to stay fast. The published likelihoods quoted
# below are for MNIST; on the 8 x 8 digits the numbers are on another scale (64 pixels, not 784),
# and the pictures are coarse.

# %%
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
SHARED = Path(os.environ.get("LATENTSPACE_SHARED_DATA", HERE.parents[1].parent / "shared" / "data"))
MNIST_DIR = SHARED / "mnist"
if FAST:
    print("fast mode: the embedded 8x8 digits, to stay fast")
    data = ls.data.load("digits")
elif (MNIST_DIR / "train-images-idx3-ubyte.gz").is_file() or (MNIST_DIR / "train-images-idx3-ubyte").is_file():
    data = ls.data.load("mnist", data_dir=MNIST_DIR)
else:
    print(f"No MNIST at {MNIST_DIR}: using the embedded 8x8 digits instead "
          "(set LATENTSPACE_SHARED_DATA to a folder holding mnist/ to use MNIST)")
    data = ls.data.load("digits")
print(data.summary())
x_train, x_test, y_test = data.to_data(), data.test.to_data(), data.test.y     # intensities in [0, 1]
D, SHAPE = data.info.dim, tuple(data.shape)

# %% [markdown]
# ## The loss, term by term
#
# A VAE minimises the negative ELBO of each item,
#
# $$\text{loss}(x) = \underbrace{-\mathbb E_{q(z|x)}[\log p(x|z)]}_{\text{rec}}
#   + \underbrace{\mathrm{KL}\big(q(z|x)\,\|\,\mathcal N(0, I)\big)}_{\text{KL}} .$$
#
# The KL is always measured in the same units (nats of information the code carries about $x$),
# but the reconstruction term depends on the likelihood we choose, and so does the exchange rate
# between the two:
#
# - **Bernoulli**: each pixel is 0 or 1 with probability $\lambda_i(z)$;
#   $-\log p(x|z) = -\sum_i [x_i\log\lambda_i + (1 - x_i)\log(1 - \lambda_i)]$, the binary
#   cross-entropy. A probability of *binary* images: we binarise the digits (notebook 1).
# - **Gaussian** with a fixed standard deviation $\sigma$: $x_i \sim \mathcal N(\mu_i(z), \sigma^2)$,
#   $-\log p(x|z) = \sum_i \frac{(x_i - \mu_i)^2}{2\sigma^2} + D\log(\sigma\sqrt{2\pi})$, a density
#   of the grey levels. A squared error, weighted by $1/(2\sigma^2)$: with a large $\sigma$ errors
#   cost little, and the KL term dominates.
#
# We train the same small VAE by hand with three likelihoods: Bernoulli, Gaussian with
# $\sigma = 0.1$, and Gaussian with $\sigma = 1$ (of the order of the whole range of a pixel).
# The function below also takes a **KL warm-up** length, used further down.

# %%
LATENT, HIDDEN = 16, (256 if D > 100 else 128)
STEPS_HAND = 150 if FAST else 1000


def mlp(n_in, n_out):
    return nn.Sequential(nn.Linear(n_in, HIDDEN), nn.LeakyReLU(0.2), nn.Linear(HIDDEN, HIDDEN), nn.LeakyReLU(0.2),
                         nn.Linear(HIDDEN, n_out))


def neg_log_lik(likelihood, x, out, sigma):
    """-log p(x|z) per item from the decoder's output: logits (Bernoulli) or means (Gaussian)."""
    x = x.flatten(1)
    if likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(1)
    return (((x - out) / sigma) ** 2 / 2 + math.log(sigma * math.sqrt(2 * math.pi))).sum(1)


def train_by_hand(likelihood, sigma=None, warmup=0, steps=STEPS_HAND, seed=0):
    """A VAE trained for ``steps`` steps; returns (encoder, decoder, history of rec, KL and KL weight)."""
    torch.manual_seed(seed)
    enc, dec = mlp(D, 2 * LATENT), mlp(LATENT, D)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    history = []
    for step in range(steps):
        xb = x_train[torch.randint(len(x_train), (128,), generator=gen)]
        if likelihood == "bernoulli":
            xb = torch.bernoulli(xb, generator=gen)                      # dynamic binarisation
        mu, logvar = enc(2 * xb.flatten(1) - 1).chunk(2, dim=1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        rec = neg_log_lik(likelihood, xb, dec(z), sigma)
        kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1)
        weight = min(1.0, step / warmup) if warmup else 1.0              # the KL's weight at this step
        loss = (rec + weight * kl).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append((rec.mean().item(), kl.mean().item(), weight))
    return enc, dec, np.array(history)


runs = {"Bernoulli": train_by_hand("bernoulli"),
        "Gaussian, sigma 0.1": train_by_hand("gaussian", sigma=0.1),
        "Gaussian, sigma 1": train_by_hand("gaussian", sigma=1.0)}
for name, (_, _, h) in runs.items():
    print(f"{name:<20} last 20 steps: rec {h[-20:, 0].mean():9.1f}   KL {h[-20:, 1].mean():6.2f} nats")

# %% [markdown]
# Reconstructions of the same test digits by the three models (the decoder's mean at the mean
# of $q(z|x)$: pixel probabilities for the Bernoulli, the Gaussian's mean, clipped to $[0, 1]$):

# %%
@torch.no_grad()
def reconstruct_by_hand(enc, dec, likelihood, x):
    out = dec(enc(2 * x.flatten(1) - 1).chunk(2, dim=1)[0])
    return (torch.sigmoid(out) if likelihood == "bernoulli" else out.clamp(0, 1)).view_as(x)


fig, axes = plt.subplots(4, 1, figsize=(8, 4.6))
rows = [("test digits", x_test[:10])]
rows += [(name, reconstruct_by_hand(enc, dec, "bernoulli" if name == "Bernoulli" else "gaussian", x_test[:10]))
         for name, (enc, dec, _) in runs.items()]
for ax, (name, items) in zip(axes, rows):
    ax.imshow(ls.plots.image_grid(items, ncols=10)[..., 0], cmap="gray")
    ax.set_title(name, fontsize=9), ax.axis("off")
fig.tight_layout()
plt.show()

# %% [markdown]
# Read the KL column printed above. With $\sigma = 1$ a reconstruction error costs so little that
# the code is barely worth its KL: it carries a few nats at most (against tens with $\sigma = 0.1$),
# and the reconstructions are blurred towards an average digit, the thin strokes lost first. Taken
# to the extreme this is **posterior collapse**: $q(z|x) = p(z)$ for every digit, a KL of zero,
# and a decoder that ignores $z$ and draws the mean image. With $\sigma = 0.1$ errors cost a
# hundred times more, and the code carries much more. The Bernoulli has no $\sigma$ to choose;
# for binary pixels it is the natural likelihood.
#
# Two warnings. First, the reconstruction numbers of the three rows are not comparable: the
# Bernoulli's is a probability of binarised digits, the Gaussians' are densities of grey levels,
# which depend on $\sigma$ and can even be negative. Second, a fixed $\sigma$ is a modelling
# choice; `latentspace` learns one $\sigma$ per pixel with `likelihood="gaussian"` (or takes yours
# with `sigma=`), and picks the Bernoulli by default for ink-on-paper images like these.
#
# ## KL warm-up: watching the two terms
#
# Early in training the decoder is poor, so information put in the code barely improves the
# reconstruction, while it costs KL at once. The optimiser may then switch latent units off for
# good. **KL warm-up** (Bowman et al. 2016; Sønderby et al. 2016) multiplies the KL by a weight
# that rises linearly from 0 to 1 over the first $T$ steps, so that the code is free at first. We
# train the Bernoulli VAE again with $T$ = half of the run and plot both terms against the run
# without warm-up. (During the ramp the loss is not the ELBO; after it, it is.)

# %%
runs["Bernoulli, warm-up"] = train_by_hand("bernoulli", warmup=STEPS_HAND // 2)


def smooth(v, n=15):
    n = min(n, len(v))
    return np.convolve(v, np.ones(n) / n, mode="valid")


fig, axes = plt.subplots(1, 3, figsize=(11, 2.8))
for name in ("Bernoulli", "Bernoulli, warm-up"):
    h = runs[name][2]
    axes[0].plot(smooth(h[:, 0]), label=name)
    axes[1].plot(smooth(h[:, 1]), label=name)
    axes[2].plot(h[:, 2], label=name)
for ax, title in zip(axes, ("rec = -log p(x|z)", "KL(q(z|x) || p(z))", "KL weight")):
    ax.set_title(title, fontsize=9), ax.set_xlabel("step", fontsize=8)
axes[0].set_ylabel("nats per image", fontsize=8), axes[1].legend(fontsize=8)
fig.tight_layout()
plt.show()
for name in ("Bernoulli", "Bernoulli, warm-up"):
    h = runs[name][2]
    print(f"{name:<20} last 20 steps: rec {h[-20:, 0].mean():6.1f}  KL {h[-20:, 1].mean():5.1f}  "
          f"negative ELBO {h[-20:, :2].sum(1).mean():6.1f}")

# %% [markdown]
# With warm-up the KL shoots up while its weight is small (the code carries as much as helps the
# reconstruction), then comes down as the weight grows. Whether warm-up ends with a better
# ELBO depends on the model: compare the last line of each run printed above. For small MLPs on
# digits the difference is usually small; warm-up matters most for decoders strong enough to model
# the data without $z$ (autoregressive decoders of text, Bowman et al. 2016). In fast mode the runs
# are too short to tell.
#
# ## The library's VAE
#
# `ls.models.create("vae")` builds this model with defaults chosen for the data and the machine:
# on a CPU, for images, MLPs of 512 units, a 32-D latent, the Bernoulli likelihood with dynamic
# binarisation for ink-on-paper images, batches of 100 and a cosine decay of the learning rate.
# `fit` trains it; `warmup=`, `beta=`, `free_bits=`, `likelihood=`, `latent_dim=` and others change
# the model (`help(ls.models.create("vae"))` lists them). The engine logs the mean of each term
# every `log_every` steps; a small callback keeps them for a plot.
#
# The full run takes 4,000 steps (about 7 passes over MNIST, a few minutes on two cores); fast
# mode takes 300, which gives blurry digits.

# %%
from latentspace.train.callbacks import Callback


class Keep(Callback):
    """Keeps what the engine logs: one dict of means per ``log_every`` steps."""

    def __init__(self):
        self.rows = []

    def on_log(self, step, seconds, means):
        self.rows.append({"step": step, **means})


STEPS = 300 if FAST else 4000
log = Keep()
vae = ls.models.create("vae", k=100 if FAST else 1000)   # k: importance samples in score_samples
vae.fit(data, steps=STEPS, seed=0, log_every=10 if FAST else 50, progress=False, callbacks=[log])
print("settings resolved from the data:", vae.resolved_params())
print("logged columns:", list(log.rows[-1]))

fig, axes = plt.subplots(1, 2, figsize=(8, 2.8))
steps = [r["step"] for r in log.rows]
axes[0].plot(steps, [r["rec"] for r in log.rows]), axes[0].set_title("rec", fontsize=9)
axes[1].plot(steps, [r["kl"] for r in log.rows]), axes[1].set_title("KL", fontsize=9)
for ax in axes:
    ax.set_xlabel("step", fontsize=8)
axes[0].set_ylabel("nats per image", fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# **Reconstructions** (`ls.plots.reconstructions`: each item beside $\text{decode}(\text{encode}(x))$,
# the decoder's mean at the posterior mean) and **samples** (`vae.sample(n, seed=)`: codes from
# the prior, decoded; the pixel values are the Bernoulli probabilities, so unsure pixels are grey).

# %%
fig = ls.plots.reconstructions(vae, x_test[:16], title="test digits and their reconstructions")
plt.show()
fig = ls.plots.samples_figure(vae.sample(64, seed=0), data.info, title="64 samples from the library's VAE")
plt.show()

# %% [markdown]
# ## The likelihood: what `score_samples` returns
#
# The ELBO bounds $\log p(x)$ from below. A better number is the **importance-sampled estimate**
# of notebook 1, with $K$ draws from $q(z|x)$:
#
# $$\log p(x) \approx \log \frac1K \sum_{k=1}^{K} \frac{p(x|z_k)\,p(z_k)}{q(z_k|x)}, \qquad z_k \sim q(z|x).$$
#
# `vae.score_samples(x, k=K)` returns it per item, in nats. How `latentspace` states what this
# number is (`src/latentspace/models/vae_likelihood.py` and `metrics/likelihood.py`):
#
# - **A stochastic lower bound**: its *expectation* lies below $\log p(x)$ for every $K$, equals
#   the ELBO's at $K = 1$, and rises towards $\log p(x)$ as $K$ grows (Burda et al. 2016). So
#   the reported negative log-likelihood (NLL) is an upper bound in expectation: the model is at
#   least this good. The library calls this kind of number an `"estimate"`; an ELBO is a
#   `"bound"`; PPCA's or a Gaussian mixture's likelihood is `"exact"`.
# - **Of what**: the data-space items as given. For a model trained on binarised digits it is
#   the **probability of binary images**, so the NLL is at least 0, and it must be measured on
#   binary digits: `vae.likelihood_items(x)` binarises held-out items once with a fixed seed
#   (seed 0), the protocol of the published MNIST figures. A Gaussian likelihood would give a
#   *density* of grey levels instead, which can exceed 1 (negative NLL): the two are never compared.
# - **With which prior**: the one used after training. By default `latentspace` replaces
#   $\mathcal N(0, I)$ by a mixture fitted after training (last section), and the estimate uses it.
#
# Bits per dimension divide the NLL by the number of pixels and by $\ln 2$.

# %%
from latentspace.metrics.likelihood import LIKELIHOOD_OF, MEASURED, likelihood_of

N_LIK = 100 if FAST else 300
x_lik, note = vae.likelihood_items(x_test[:N_LIK])
print("held-out items:", note)
print("a likelihood of:", LIKELIHOOD_OF[likelihood_of(vae, x_lik)][1])
print("measured as:", MEASURED[vae.likelihood_kind].format(k=""))

KS = (1, 10, 100) if FAST else (1, 10, 100, 1000)
elbo = vae.elbo(x_lik)
print(f"\n{N_LIK} held-out digits, mean over items (± standard error)")
print(f"  ELBO               {float(elbo.mean()):9.2f} ± {float(elbo.std() / math.sqrt(N_LIK)):.2f} nats")
estimates = {}
for k in KS:
    estimates[k] = vae.score_samples(x_lik, k=k, seed=0)
    ll = estimates[k]
    print(f"  score_samples k={k:<4} {float(ll.mean()):9.2f} ± {float(ll.std() / math.sqrt(N_LIK)):.2f} nats   "
          f"NLL {-float(ll.mean()) / (D * math.log(2)):.4f} bits/dim")

# %% [markdown]
# The estimate rises with $K$ and lies above the ELBO: the gap between them is (an estimate of)
# the average $\mathrm{KL}(q(z|x)\|p(z|x))$. The standard errors are across digits; the same
# digits are used throughout, so the differences between rows are much more certain than the
# errors suggest. After long training, published MLP VAEs reach about 86 to 87 nats on
# binarised MNIST (86.76, Burda et al. 2016); `latentspace`'s reached 86.64 after 20 minutes of
# training (`docs/vae-family.md`). A few minutes of training here leave it some nats above that;
# fast mode, far above.
#
# `ls.metrics.heldout_nll` does all of this in one call, and says what it measured:

# %%
result = ls.metrics.heldout_nll(vae, data, max_items=N_LIK)
for key in ("nll_nats", "nll_bits_per_dim", "nelbo_nats", "likelihood", "likelihood_of", "likelihood_k",
            "likelihood_items", "active_units", "latent_dim"):
    value = result.get(key)
    print(f"  {key:<18} {value:.3f}" if isinstance(value, float) else f"  {key:<18} {value}")

# %% [markdown]
# ## Latent maps
#
# Where does the encoder put the digits? `ls.plots.latent_projection` encodes items (the posterior
# means $\mathbb E[z|x]$), projects the 32-D means to 2-D with PCA, and colours them by label.

# %%
fig = ls.plots.latent_projection(vae, data.test, method="pca", n=2000)
plt.show()

# %% [markdown]
# A projection loses most of 32 dimensions. A VAE with a **2-D latent** can be drawn exactly, at a
# cost in reconstruction. We train one (`latent_dim=2`) and draw its posterior means, and the
# decoder over a grid of codes (`ls.plots.latent_manifold`: the grid runs over the quantiles of
# $\mathcal N(0, 1)$ in each dimension, so equal steps hold equal prior mass).

# %%
vae2 = ls.models.create("vae", latent_dim=2)
vae2.fit(data, steps=200 if FAST else 2000, seed=0, progress=False)
z2 = vae2.encode(x_test[:2000])
fig, ax = plt.subplots(figsize=(6, 5))
sc = ax.scatter(z2[:, 0], z2[:, 1], c=y_test[:2000], cmap="tab10", s=4, vmin=-0.5, vmax=9.5)
fig.colorbar(sc, ax=ax, ticks=range(10), label="label")
ax.set_xlabel("$z_1$"), ax.set_ylabel("$z_2$"), ax.set_title(f"posterior means of {len(z2):,} test digits, 2-D VAE")
fig.tight_layout()
plt.show()
fig = ls.plots.latent_manifold(vae2, n=15)
plt.show()

# %% [markdown]
# Digits of one class gather, and similar classes (4 and 9, 3, 5 and 8) sit side by side; the
# decoder's grid morphs smoothly from one digit into the next. No labels were used in training:
# the classes emerge because they explain much of the variation between images. (In fast mode the
# classes overlap much more.)
#
# ## Inactive latent units
#
# Each latent dimension $j$ has its own KL term,
# $\frac12(\mu_j^2 + \sigma_j^2 - 1 - \log\sigma_j^2)$. A dimension whose $q(z_j|x)$ is
# $\mathcal N(0, 1)$ for every digit costs no KL and carries no information: the decoder ignores
# it. The VAE switches units off whenever the information they would carry is not worth their KL
# (Burda et al. 2016 count a unit as **active** when the variance across items of its posterior
# mean, $A_j = \mathrm{Var}_x(\mathbb E[z_j|x])$, exceeds 0.01). We compute both per dimension.
# `vae.encode` gives only the means; `vae.log_weights` (which `score_samples` uses) gives the
# variances too, from items in the model's own units (`vae.info_.to_model`).

# %%
with torch.no_grad():
    vae.set_train(False)
    t = vae.log_weights(vae.info_.to_model(x_lik), k=1)
kl_dims = (0.5 * (t["mu"] ** 2 + t["logvar"].exp() - 1 - t["logvar"])).mean(0)   # mean KL per dimension
activity = vae.latent_activity(x_lik)                                             # A_j
order = torch.argsort(kl_dims, descending=True)

fig, ax = plt.subplots(figsize=(8, 3))
ax.bar(range(len(order)), kl_dims[order].numpy(), color="tab:blue", label="mean KL per dimension (nats)")
ax.plot(range(len(order)), activity[order].numpy(), "o", color="tab:orange", ms=4,
        label="activity $A_j$ = Var of the posterior mean")
ax.axhline(0.01, color="gray", lw=0.8, ls="--", label="0.01: the active-unit threshold")
ax.set_yscale("log"), ax.set_xlabel("latent dimension, by KL"), ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
print(f"active units (A_j > 0.01): {vae.active_units(x_lik)} of {vae.latent_width()}; "
      f"dimensions with KL > 0.01 nats: {int((kl_dims > 0.01).sum())}; total KL {float(kl_dims.sum()):.1f} nats")

# %% [markdown]
# The two measures rank the dimensions alike: a dimension with a large KL moves its posterior mean
# from digit to digit. After the full run, when we ran it, about half the dimensions carried
# around a nat or more each and the rest a few hundredths of a nat, close to the threshold: the
# VAE is switching them off, and the count of "active" units depends on where the line is drawn
# and on how long it trained (`docs/vae-family.md` reports 19 of 32 active after 20 minutes on
# MNIST). In fast mode the encoder has not yet sorted its dimensions. Inactive units are not a
# bug: the VAE found that fewer dimensions are worth their price. If you want them used,
# `free_bits` (exercise 1) floors each dimension's KL in the loss.
#
# ## The prior after training
#
# Training pulls each $q(z|x)$ towards $\mathcal N(0, I)$, but the **aggregate posterior**
# $q(z) = \frac1N\sum_n q(z|x_n)$, where the training digits' codes actually are, does not fill
# that ball: it has holes and dense regions. Codes drawn from $\mathcal N(0, I)$ that fall in a
# hole decode to blurred blends. So after the last step `latentspace` fits a Gaussian mixture
# (50 components, fewer for small sets) to one posterior draw per training item, and from then on
# draws samples from the mixture and uses it in `score_samples` (`prior="auto"`, the default;
# `prior="normal"` keeps $\mathcal N(0, I)$; Ghosh et al. 2020, Dai & Wipf 2019). The mixture is
# `vae.prior_`; setting that attribute to `None` goes back to $\mathcal N(0, I)$.
#
# The 2-D VAE above got one too (we left `prior` at its default), and in 2-D we can see it: one
# posterior draw $z \sim q(z|x)$ per test digit (the aggregate posterior), against draws from
# $\mathcal N(0, I)$ and from the fitted mixture.

# %%
mixture = vae.prior_
print(f"the 32-D VAE's prior: a mixture of {mixture.components} full-covariance Gaussians; "
      f"the 2-D VAE's: {vae2.prior_.components}")
with torch.no_grad():
    vae2.set_train(False)
    t2 = vae2.log_weights(vae2.info_.to_model(vae2.likelihood_items(x_test[:2000])[0]), k=1)
codes2 = t2["z"][0]                                                   # one posterior draw per digit
draws = {"N(0, I)": torch.randn(len(codes2), 2, generator=torch.Generator().manual_seed(0)),
         "the fitted mixture": vae2.prior_.sample(len(codes2), seed=0)}
fig, axes = plt.subplots(1, 3, figsize=(12, 4), sharex=True, sharey=True)
axes[0].scatter(*codes2.T, s=3, c=y_test[:2000], cmap="tab10", vmin=-0.5, vmax=9.5)
axes[0].set_title(f"codes of {len(codes2):,} test digits, by label", fontsize=9)
for ax, (name, z) in zip(axes[1:], draws.items()):
    ax.scatter(*z.T, s=3, color="tab:gray")
    ax.set_title(f"{len(z):,} draws from {name}", fontsize=9)
for ax in axes:
    ax.set_xlabel("$z_1$")
axes[0].set_ylabel("$z_2$")
fig.tight_layout()
plt.show()

# %% [markdown]
# The codes crowd some regions and leave others nearly empty, while $\mathcal N(0, I)$ spreads
# its draws evenly over the disc; the mixture's draws follow the codes. (In fast mode the codes
# have less structure.) In 32 dimensions the same happens, out of sight. Back to the 32-D VAE:
# samples under each prior, and the held-out likelihood under each (the same $K$ draws from $q$;
# only $p(z)$ in the weights changes).

# %%
K_PRIOR = KS[-1]
vae.prior_ = None                                            # N(0, I)
samples_normal = vae.sample(32, seed=0)
ll_normal = vae.score_samples(x_lik, k=K_PRIOR, seed=0)
vae.prior_ = mixture                                         # the fitted mixture, as fit left it
samples_mixture = vae.sample(32, seed=0)
ll_mixture = estimates[K_PRIOR]                              # computed above, with this prior, k and seed

fig, axes = plt.subplots(1, 2, figsize=(10, 3))
for ax, items, name, ll in ((axes[0], samples_normal, "prior N(0, I)", ll_normal),
                            (axes[1], samples_mixture, "prior: the fitted mixture", ll_mixture)):
    ax.imshow(ls.plots.image_grid(items, ncols=8)[..., 0], cmap="gray")
    ax.set_title(f"{name}: held-out NLL {-float(ll.mean()):.2f} nats (k = {K_PRIOR})", fontsize=9)
    ax.axis("off")
fig.tight_layout()
plt.show()

# %% [markdown]
# The mixture's draws stay where the codes are, so fewer samples are blends of two digits, and the
# held-out NLL (printed in the titles) is usually a little lower with it: $p(z)$ is now a better
# model of where codes fall. On MNIST after 10 minutes of training, `latentspace` measured a
# Fréchet distance of the samples falling from 3.95 to 0.39 and the NLL from 86.40 to 84.14 nats
# (`docs/vae-family.md`, `models/latent_prior.py`). In fast mode the model is too rough for the
# difference to mean much.
#
# ## Summary
#
# - The likelihood sets the exchange rate between reconstruction and KL; a Gaussian with a large
#   fixed $\sigma$ collapses the posterior. Watch `rec` and `kl` separately.
# - `score_samples` is an importance-sampled estimate of $\log p(x)$ in nats: a lower bound in
#   expectation, tightening with $k$, above the ELBO; a probability of binarised items for the
#   Bernoulli likelihood. Report it with $k$, the items and what it is a likelihood of.
# - Units whose KL is near zero are switched off; the active-unit count says how many are used.
# - A mixture fitted to the codes after training is a better prior than $\mathcal N(0, I)$.
#
# ## Exercises
#
# 1. **Free bits.** Train the library's VAE with `free_bits=0.5` (each dimension's KL is floored
#    at 0.5 nats in the loss, so pushing it lower gains nothing) and `prior="normal"`, for as many
#    steps as `vae2`, and count its active units against a VAE trained the same way without free bits.
# 2. **How noisy is the estimate?** Call `score_samples` on 20 held-out digits with five different
#    seeds, for $k = 10$ and for the largest $k$ above. How much does the estimate of one digit
#    vary from seed to seed, compared with the difference between the two $k$?
# 3. **Fewer mixture components.** Fit a mixture of 5 components to the codes of 1,000 training
#    digits (`MixturePrior.fit` from `latentspace.models.latent_prior`), put it in `vae.prior_`
#    and compare the held-out NLL with the 50-component prior's. Restore `vae.prior_` afterwards.
#
# Solutions follow, in collapsed cells (click to expand them in Jupyter).

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 1: free bits against none, same steps and seed
steps_ex = 100 if FAST else 1000
for fb in (0.0, 0.5):
    model = ls.models.create("vae", free_bits=fb, prior="normal").fit(data, steps=steps_ex, seed=0, progress=False)
    with torch.no_grad():
        model.set_train(False)
        tm = model.log_weights(model.info_.to_model(x_lik), k=1)
    kl_j = (0.5 * (tm["mu"] ** 2 + tm["logvar"].exp() - 1 - tm["logvar"])).mean(0)
    print(f"free_bits={fb}: {model.active_units(x_lik)} of {model.latent_width()} units active, "
          f"{int((kl_j > 0.1).sum())} with a KL above 0.1 nats, held-out ELBO {float(model.elbo(x_lik).mean()):.2f}")
# With free bits a dimension's KL below 0.5 nats costs nothing, so more dimensions carry a tenth of
# a nat or more. The count of active units (A_j > 0.01) may not change in a short run: pruning
# takes time (notebook 2's full run). Free bits change the loss being minimised, not the ELBO
# that is reported, which may come out lower.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 2: the spread of the estimate over seeds, per digit
x20 = x_lik[:20]
for k in (10, K_PRIOR):
    runs_k = torch.stack([vae.score_samples(x20, k=k, seed=s) for s in range(5)])   # (5 seeds, 20 digits)
    print(f"k={k:<5} mean {float(runs_k.mean()):8.2f} nats; sd over seeds, averaged over digits "
          f"{float(runs_k.std(0).mean()):.3f}")
# The spread shrinks as k grows, and the mean rises: at small k the estimate is both noisier and
# biased low (it is a lower bound in expectation).

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 3: a 5-component mixture prior
from latentspace.models.latent_prior import MixturePrior

with torch.no_grad():
    xt, _ = vae.likelihood_items(x_train[:1000])                   # binarised, as the encoder saw them
    tt = vae.log_weights(vae.info_.to_model(xt), k=1)
    z_fit = tt["z"][0]                                              # one posterior draw per digit
vae.prior_ = MixturePrior.fit(z_fit, components=5, seed=0)
ll_5 = vae.score_samples(x_lik, k=K_PRIOR, seed=0)
vae.prior_ = mixture                                                # restore the fitted prior
print(f"held-out NLL: 5 components {-float(ll_5.mean()):.2f}, {mixture.components} components "
      f"{-float(ll_mixture.mean()):.2f}, N(0, I) {-float(ll_normal.mean()):.2f} nats")
