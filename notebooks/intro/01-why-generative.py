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
# # Why generative models?
#
# **You will learn to**
#
# - say what a generative model is: a model of the distribution $p(x)$ of your data that you can
#   **sample** from and, often, **score** (compute $\log p(x)$ for a new item);
# - build two such models by hand in a few lines of PyTorch (a Gaussian and a kernel density
#   estimate): fit, sample, log-density;
# - fit the classical models of `latentspace` (KDE, Gaussian mixture, probabilistic PCA) in one
#   line each, on 2-D points and on 8 x 8 digits, and compare them by held-out log-likelihood;
# - tell *explicit* models (they give $\log p(x)$) from *implicit* ones (they only sample: GANs);
# - see what researchers use generative models for: augmentation, simulation, anomaly detection,
#   representation; and where GANs and VAEs, the subject of the rest of the course, fit in.
#
# **Time:** about 30 minutes to read and run. The code runs in seconds: under 20 seconds with
# `LATENTSPACE_FAST=1` (smaller data sets), well under a minute without, on two CPU cores.
#
# **You need:** Python, NumPy, a little probability (a Gaussian, a logarithm). No knowledge of GANs
# or VAEs. `notebooks/README.md` says how to run this file as a script or open it as a notebook.

# %% [markdown]
# ## What is a generative model?
#
# Your data are items $x$: points, images, spectrograms, volumes. We think of them as draws from
# an unknown distribution $p_\text{data}(x)$. A **generative model** is a distribution $p_\theta(x)$,
# with parameters $\theta$ fitted to the data, that we can use in two ways:
#
# 1. **sample**: draw new items $x \sim p_\theta$ that look like the data but were never seen;
# 2. **score**: compute the density $p_\theta(x)$, in practice its logarithm $\log p_\theta(x)$, for
#    any item $x$. A high value says "this item is typical of the data", a low value "this is odd".
#
# Fitting usually means **maximum likelihood**: choose $\theta$ to make the training items likely,
# i.e. maximise $\frac1n \sum_i \log p_\theta(x_i)$. To judge a model we compute the same average
# on **held-out** items it did not see: a model that merely memorised its training items scores
# them high and new items low.
#
# Log-likelihoods here are natural logarithms, so their unit is the **nat** (1 nat = 1/ln 2 ≈ 1.44
# bits). They are log-*densities*: for continuous data they depend on the units of $x$ and can be
# positive (a density, unlike a probability, can exceed 1 where the data are concentrated).

# %%
# ruff: noqa: E402   (imports appear where they are first needed, as in any notebook)
import math
import os

import latentspace as ls   # before torch: latentspace tells torch's idle threads not to hog shared cores
import matplotlib.pyplot as plt
import numpy as np
import torch

FAST = os.environ.get("LATENTSPACE_FAST") == "1"   # smaller data sets: checks that everything runs
print("fast mode" if FAST else "full mode")
torch.set_default_dtype(torch.float64)             # densities in float64: sums of many logs stay exact

# %% [markdown]
# ## Two-dimensional data
#
# We start in 2-D, where we can see everything. `moons` is two interleaving half circles
# (scikit-learn's `make_moons`); `ring8` is eight small Gaussians (standard deviation 0.01) on the
# unit circle, a test set from the GAN literature (PacGAN, Lin et al. 2018). Every latentspace data
# set comes with a held-out split in `.test`; `to_data()` gives the items in their own units
# (*data space*).

# %%
N, N_TEST = (2000, 1000) if FAST else (5000, 2000)
moons = ls.data.load("moons", n=N, n_test=N_TEST)
ring8 = ls.data.load("ring8", n=N, n_test=N_TEST)
x, x_test = moons.to_data().double(), moons.test.to_data().double()    # (n, 2) tensors
print(moons.summary())
print("training", tuple(x.shape), " held out", tuple(x_test.shape))

fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))
for ax, d in zip(axes, (moons, ring8)):
    p = d.to_data()
    ax.scatter(p[:, 0], p[:, 1], s=2, c=d.y, cmap="tab10")
    ax.set_title(f"{d.name}: {len(d)} training points, coloured by label", fontsize=9)
    ax.set_aspect("equal")
plt.show()

# %% [markdown]
# ## A generative model by hand: one Gaussian
#
# The simplest model of points is one Gaussian, $p(x) = \mathcal N(x;\, \mu, \Sigma)$. Maximum
# likelihood gives the sample mean $\mu$ and the sample covariance $\Sigma$ (divided by $n$).
#
# - **Sample**: with the Cholesky factor $\Sigma = L L^\top$, take $\varepsilon \sim \mathcal N(0, I)$
#   and return $\mu + L\varepsilon$.
# - **Score**: with $d = 2$ the dimension,
#   $\log p(x) = -\tfrac12 \lVert L^{-1}(x - \mu)\rVert^2 - \sum_i \log L_{ii} - \tfrac d2 \log 2\pi$.
#
# That is the whole model: fit, sample and score in a dozen lines.

# %%
def fit_gaussian(x):
    """Maximum likelihood: the mean and the Cholesky factor of the covariance (divided by n)."""
    mu = x.mean(0)
    cov = (x - mu).T @ (x - mu) / len(x)
    return mu, torch.linalg.cholesky(cov)


def gaussian_sample(mu, chol, n, seed=0):
    eps = torch.randn(n, len(mu), generator=torch.Generator().manual_seed(seed))
    return mu + eps @ chol.T


def gaussian_log_density(q, mu, chol):
    """log N(q; mu, L L^T) for each row of q, in nats."""
    white = torch.linalg.solve_triangular(chol, (q - mu).T, upper=False)     # L^{-1} (q - mu)
    return -0.5 * (white**2).sum(0) - torch.log(torch.diagonal(chol)).sum() - 0.5 * len(mu) * math.log(2 * math.pi)


mu, chol = fit_gaussian(x)
check = torch.distributions.MultivariateNormal(mu, scale_tril=chol).log_prob(x_test)
print("our log-density agrees with torch.distributions:", torch.allclose(gaussian_log_density(x_test, mu, chol), check))
print(f"Gaussian, held-out log-likelihood: {gaussian_log_density(x_test, mu, chol).mean():.3f} nats per point")

# %% [markdown]
# ## A better model by hand: kernel density estimation
#
# A kernel density estimate (KDE; Rosenblatt 1956, Parzen 1962) puts a small Gaussian of width
# $h$ (the *bandwidth*) on each of the $m$ training points $x_j$ and averages them:
#
# $$p(x) = \frac1m \sum_{j=1}^m \mathcal N(x;\, x_j,\, h^2 I), \qquad
# \log p(x) = \log \sum_j e^{-\lVert x - x_j\rVert^2 / 2h^2} - \log m - \tfrac d2 \log(2\pi h^2).$$
#
# Fitting is storing the points and choosing $h$; we use Scott's rule of thumb,
# $h = \bar\sigma\, m^{-1/(d+4)}$ with $\bar\sigma$ the points' typical standard deviation.
# Sampling is: pick a training point at random, add Gaussian noise of width $h$. The sum inside
# the logarithm is computed with `torch.logsumexp`, which does not underflow when every term is tiny.

# %%
def kde_log_density(q, centres, h):
    d2 = torch.cdist(q, centres) ** 2                                   # (n_query, m) squared distances
    m, d = centres.shape
    return torch.logsumexp(-d2 / (2 * h**2), dim=1) - math.log(m) - 0.5 * d * math.log(2 * math.pi * h**2)


def kde_sample(centres, h, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    pick = torch.randint(len(centres), (n,), generator=g)
    return centres[pick] + h * torch.randn(n, centres.shape[1], generator=g)


h_scott = float(x.var(0).mean().sqrt()) * len(x) ** (-1 / (2 + 4))
print(f"Scott's bandwidth h = {h_scott:.3f}")
for h in (h_scott, h_scott / 4):
    print(f"KDE with h = {h:.3f}: held-out log-likelihood {kde_log_density(x_test, x, h).mean():.3f} nats per point")

# %% [markdown]
# Now the models side by side. Top row: 1,000 samples of each beside the data. Bottom row: the
# log-density each assigns on a grid (the *score*), with the held-out points on top. The Gaussian
# is one elliptical blob: it puts density in the empty middle and samples there. The KDE with
# Scott's $h$ follows the moons but blurs them; with $h/4$ it is sharper and scores held-out points
# higher (the numbers printed above). A KDE with a very small $h$ would put a spike on each training
# point and score new points badly: exercise 1 chooses $h$ by held-out likelihood.

# %%
models = {"one Gaussian": (lambda n: gaussian_sample(mu, chol, n), lambda q: gaussian_log_density(q, mu, chol)),
          f"KDE, h = {h_scott:.2f}": (lambda n: kde_sample(x, h_scott, n), lambda q: kde_log_density(q, x, h_scott)),
          f"KDE, h = {h_scott / 4:.3f}": (lambda n: kde_sample(x, h_scott / 4, n),
                                          lambda q: kde_log_density(q, x, h_scott / 4))}
g1, g2 = torch.meshgrid(torch.linspace(-1.6, 2.6, 120), torch.linspace(-1.2, 1.7, 90), indexing="xy")
grid = torch.stack([g1.flatten(), g2.flatten()], 1)

fig, axes = plt.subplots(2, 4, figsize=(12, 5.4))
axes[0, 0].scatter(x[:1000, 0], x[:1000, 1], s=2, c="0.3")
axes[0, 0].set_title("data (1,000 training points)", fontsize=9)
axes[1, 0].axis("off")
for col, (name, (sample, score)) in enumerate(models.items(), start=1):
    s = sample(1000)
    axes[0, col].scatter(x[:1000, 0], x[:1000, 1], s=2, c="0.8")
    axes[0, col].scatter(s[:, 0], s[:, 1], s=2, c="C3")
    ll = score(x_test).mean()
    axes[0, col].set_title(f"{name}: samples (red)\nheld-out log-lik. {ll:.2f} nats/point", fontsize=9)
    im = axes[1, col].imshow(score(grid).reshape(g1.shape).clamp_min(-8), origin="lower", cmap="viridis",
                             extent=(-1.6, 2.6, -1.2, 1.7), aspect="auto")
    axes[1, col].scatter(x_test[:300, 0], x_test[:300, 1], s=1, c="w")
    axes[1, col].set_title(f"{name}: log p(x) (floored at -8)", fontsize=9)
    fig.colorbar(im, ax=axes[1, col])
for ax in axes[0]:
    ax.set_xlim(-1.6, 2.6), ax.set_ylim(-1.2, 1.7)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The same models in one line each
#
# `latentspace` has these classical models behind one scikit-learn-like interface:
# `ls.models.create(name, **params).fit(data)`, then `.sample(n, seed=...)` and
# `.score_samples(items)` (log-density in nats, per item, in data space):
#
# - `kde`: the kernel density estimate above (it first rescales each feature to a common range,
#   so its $h$ is in those units; `bandwidth="scott"` by default, or `"silverman"`, `"cv"`, a number);
# - `gmm`: a **Gaussian mixture** $p(x) = \sum_{c=1}^C \pi_c\, \mathcal N(x;\, \mu_c, \Sigma_c)$, a
#   weighted sum of $C$ Gaussians fitted by the EM algorithm (scikit-learn's `GaussianMixture`;
#   `n_components=25` by default). Between one Gaussian ($C = 1$) and a KDE ($C = m$, all equal);
# - `ppca`: **probabilistic PCA** (Tipping & Bishop 1999), a Gaussian whose covariance is
#   "a few directions of large variance plus a little noise in all directions"; more on it with
#   the digits below. In 2-D it can keep only one direction plus noise, which is just any 2 x 2
#   covariance: `ppca` on points is our single Gaussian.

# %%
def fit_three(data, seed=0):
    """The three classical models, fitted to ``data`` (each in well under a second here)."""
    return {name: ls.models.create(name, **params).fit(data, seed=seed)
            for name, params in (("kde", {}), ("gmm", {"n_components": 10}), ("ppca", {}))}


fitted = {d.name: fit_three(d) for d in (moons, ring8)}
held_out = {name: {m: float(model.score_samples(d.test.to_data()).mean()) for m, model in fitted[name].items()}
            for name, d in (("moons", moons), ("ring8", ring8))}
print("held-out log-likelihood, nats per point (higher is better)")
print(f"{'':8}" + "".join(f"{m:>9}" for m in ("kde", "gmm", "ppca")))
for name, row in held_out.items():
    print(f"{name:8}" + "".join(f"{v:9.3f}" for v in row.values()))
print(f"our Gaussian by hand on moons: {gaussian_log_density(x_test, mu, chol).mean():.3f} (ppca: "
      f"{held_out['moons']['ppca']:.3f})")

# %% [markdown]
# The last line checks what was said above: `ppca` on 2-D points is exactly the Gaussian we built
# by hand, to the last digit. The pictures, one row per data set:

# %%
fig, axes = plt.subplots(2, 4, figsize=(12, 6))
for row, d in enumerate((moons, ring8)):
    real = d.to_data()[:1000]
    axes[row, 0].scatter(real[:, 0], real[:, 1], s=2, c="0.3")
    axes[row, 0].set_title(f"{d.name}: data", fontsize=9)
    for col, (m, model) in enumerate(fitted[d.name].items(), start=1):
        s = model.sample(1000, seed=1)
        axes[row, col].scatter(real[:, 0], real[:, 1], s=2, c="0.8")
        axes[row, col].scatter(s[:, 0], s[:, 1], s=2, c="C3")
        axes[row, col].set_title(f"{m}: held-out {held_out[d.name][m]:.2f} nats/point", fontsize=9)
for row, (x0, x1, y0, y1) in enumerate(((-2.2, 3.2, -1.9, 2.2), (-2.2, 2.2, -2.2, 2.2))):   # same view per row
    for ax in axes[row]:
        ax.set_xlim(x0, x1), ax.set_ylim(y0, y1), ax.set_aspect("equal")
fig.tight_layout()
plt.show()

# %% [markdown]
# **Reading it.** On `ring8` the Gaussian mixture with 10 components puts one component on each
# of the 8 modes (the two spare ones share a mode with another) and scores far higher than
# the others. Scott's rule assumes one roughly Gaussian bump, so the KDE smears the eight tiny
# modes into a ring; `bandwidth="cv"` (exercise 1) chooses a much smaller $h$. PPCA is one Gaussian: it covers
# the empty centre. Held-out log-likelihood and the pictures agree here; in high dimensions, where
# we cannot look at everything, the number is what we have.
#
# Note the size of the `ring8` numbers: its modes are very narrow (standard deviation 0.01), so a
# good model has a high density there, and its log-density is positive.

# %% [markdown]
# ## Images: 8 x 8 digits
#
# `digits` holds scikit-learn's 1,797 handwritten digits, 8 x 8 pixels with gray values in
# $[0, 1]$. An image is a point in $d = 64$ dimensions. We cannot plot that space, but the same
# models apply.

# %%
digits = ls.data.load("digits")
xd, xd_test = digits.to_data().double(), digits.test.to_data().double()     # (n, 1, 8, 8) in [0, 1]
print(digits.summary())


def show_digits(ax, items, title, ncols=10):
    """A grid of 8 x 8 images on one axis, ink dark on white, one blank pixel between images."""
    items = items.reshape(-1, 8, 8).clamp(0, 1)
    rows = -(-len(items) // ncols)
    canvas = torch.zeros(rows * 9 + 1, ncols * 9 + 1)
    for i, item in enumerate(items):
        r, c = divmod(i, ncols)
        canvas[1 + 9 * r: 9 + 9 * r, 1 + 9 * c: 9 + 9 * c] = item
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])


fig, ax = plt.subplots(figsize=(6, 2.6))
show_digits(ax, xd[:40], "digits: 40 training images")
plt.show()

# %% [markdown]
# ### PCA and probabilistic PCA by hand
#
# **PCA** finds the directions along which the images vary most: the eigenvectors $u_1, u_2, \dots$
# of the covariance of the flattened images, with variances (eigenvalues)
# $\lambda_1 \ge \lambda_2 \ge \dots$. A handful of them explains most of the variation.
#
# PCA alone is not a density. **Probabilistic PCA** (Tipping & Bishop 1999) makes it one: keep $k$
# directions, draw a *latent code* $z \sim \mathcal N(0, I_k)$ and set
#
# $$x = W z + \mu + \varepsilon, \qquad \varepsilon \sim \mathcal N(0, \sigma^2 I_d), \qquad\text{so}\qquad
# p(x) = \mathcal N(x;\, \mu,\, W W^\top + \sigma^2 I).$$
#
# The maximum-likelihood solution is closed form: $\sigma^2$ is the mean of the $d - k$ discarded
# eigenvalues, and $W = U_k (\Lambda_k - \sigma^2 I)^{1/2}$. This is our first **latent-variable
# model**: a simple code $z$ mapped to an image. GANs and VAEs do the same with a neural network in
# place of the matrix $W$.

# %%
flat, flat_test = xd.flatten(1), xd_test.flatten(1)            # (n, 64)
mean = flat.mean(0)
cov = (flat - mean).T @ (flat - mean) / len(flat)
eigvals, eigvecs = torch.linalg.eigh(cov)                      # ascending order
eigvals, eigvecs = eigvals.flip(0), eigvecs.flip(1)            # largest first
explained = eigvals.cumsum(0) / eigvals.sum()
print(f"variance explained by 8 components {explained[7]:.2f}, by 16 {explained[15]:.2f}, by 32 {explained[31]:.2f}")

K = 16
sigma2 = eigvals[K:].mean()
W = eigvecs[:, :K] * (eigvals[:K] - sigma2).sqrt()             # U_k (Lambda_k - sigma^2 I)^(1/2)
ppca_hand = torch.distributions.MultivariateNormal(mean, W @ W.T + sigma2 * torch.eye(64))
ll_hand = ppca_hand.log_prob(flat_test)

g = torch.Generator().manual_seed(0)
z = torch.randn(20, K, generator=g)                            # codes from the prior
samples_hand = z @ W.T + mean + sigma2.sqrt() * torch.randn(20, 64, generator=g)
print(f"PPCA by hand (k = {K}): sigma^2 = {sigma2:.4f}, held-out log-likelihood {ll_hand.mean():.2f} nats per image")

# %% [markdown]
# The library's `ppca` with the same $k$ must give the same density; and its one line replaces all
# of the above:

# %%
ppca16 = ls.models.create("ppca", n_components=K).fit(digits)
ll_lib = ppca16.score_samples(xd_test)
print(f"ls ppca (k = {K}): held-out log-likelihood {ll_lib.mean():.2f} nats per image; "
      f"largest difference from ours {float((ll_lib - ll_hand).abs().max()):.1e}")

fig, axes = plt.subplots(1, 2, figsize=(10, 2.6))
components = torch.cat([mean[None], eigvecs[:, :9].T]).reshape(10, 1, 8, 8)
low, high = components.amin((1, 2, 3), keepdim=True), components.amax((1, 2, 3), keepdim=True)
components = (components - low) / (high - low)                 # each picture rescaled to [0, 1]
show_digits(axes[0], components, "the mean image, then directions u_1..u_9 (rescaled)", ncols=5)
show_digits(axes[1], samples_hand[:10], f"10 samples of our PPCA, k = {K}", ncols=5)
plt.show()

# %% [markdown]
# The PPCA samples are digit-like smudges: a Gaussian knows which pixels vary together, but
# not that a stroke is either there or not. Each sample also carries the isotropic noise
# $\varepsilon$, which speckles the whole image (the library clips samples to $[0, 1]$).

# %% [markdown]
# ### The three classical models on digits
#
# For images, `kde` and `gmm` first project onto the 32 leading PCA directions (whitened), fit
# there, and give the 32 discarded directions the isotropic Gaussian of PPCA, so that
# `score_samples` is still a proper density over all 64 pixels (`pca_components="auto"`). `ppca`
# keeps $k = 32$ by default.

# %%
digit_models = fit_three(digits)
digit_ll = {m: model.score_samples(xd_test) for m, model in digit_models.items()}
print("held-out log-likelihood, nats per image (a density over [0, 1]^64; higher is better)")
for m, ll in digit_ll.items():
    print(f"  {m:5} {ll.mean():8.2f}")

fig, axes = plt.subplots(2, 2, figsize=(11, 4.6))
show_digits(axes[0, 0], xd_test[:20], "held-out digits")
for ax, (m, model) in zip(axes.flat[1:], digit_models.items()):
    show_digits(ax, model.sample(20, seed=0), f"{m}: samples (held-out {digit_ll[m].mean():.1f} nats/image)")
fig.tight_layout()
plt.show()

# %% [markdown]
# **How to read these numbers.** They are log-densities over the space of 64 gray values in
# $[0, 1]$, in nats per image. They are positive because the digits fill only a thin part of that
# unit cube, where the density is much larger than 1. They can be compared between models fitted to
# the same data in the same units, not across data sets, nor with numbers in bits per pixel or on
# rescaled pixels. And beware: the digits' pixels take only 17 distinct values, so a model that
# piled its density onto those values could score without limit; held-out likelihood of continuous
# densities on discrete data needs care (Theis et al. 2016, "A note on the evaluation of generative
# models"). Here the models are too smooth for that to matter.
#
# The KDE's samples are training digits plus noise: a KDE draws near copies by construction. The
# mixture's are sharper than PPCA's, since each of its 10 Gaussians covers a part of the data.

# %% [markdown]
# ## Explicit and implicit models
#
# All models so far are **explicit**: they write down $p_\theta(x)$, so `score_samples` exists.
# An **implicit** model only gives a procedure to *sample*: draw $z \sim \mathcal N(0, I)$, compute
# $x = G_\theta(z)$ with a neural network $G$. The density of $x$ exists but no formula gives it.
# A **GAN** (Goodfellow et al. 2014) is implicit: it is trained without ever computing
# $\log p(x)$ (the next notebook shows how). A **VAE** (Kingma & Welling 2014) is explicit but
# approximate: it gives a lower bound of $\log p(x)$ and an estimate of it.
#
# In latentspace every model says what its `score_samples` gives (`likelihood_kind`), and a GAN
# refuses politely:

# %%
for name in ("kde", "gmm", "ppca", "vae", "gan"):
    print(f"{name:5} score_samples gives: {ls.models.create(name).likelihood_kind}")

gan = ls.models.create("gan")
try:
    gan.score_samples(xd_test[:5])
except NotImplementedError as err:
    print("gan.score_samples ->", type(err).__name__ + ":", err)

# %% [markdown]
# Why use an implicit model, then? Because freedom from a tractable density lets the network $G$
# be anything, and GANs were for years the models with the sharpest samples of natural images. The
# price: no likelihood to train on, to compare models by, or to flag outliers with; GANs must be
# judged by their samples (`ls.metrics`, and the notebooks that follow).

# %% [markdown]
# ## Why researchers want generative models
#
# - **Anomaly detection**: an item with a low $\log p(x)$ is unlike the data: a faulty
#   measurement, a rare event, a mislabelled file. Needs an explicit model.
# - **Augmentation**: more training items for a classifier where real ones are few (a rare class,
#   a rare disease), drawn from a model of the few.
# - **Simulation**: plausible new items for studying a system: vessels no potter made, syllables no
#   bird sang, synthetic patients to test a pipeline without sharing real ones.
# - **Representation**: latent-variable models (PPCA, VAEs, GANs) map each item to a short code $z$
#   in which similar items lie close; codes can be clustered, plotted, walked along.
#
# ### Anomaly detection: flagging odd digits
#
# Score each held-out digit with the Gaussian mixture, and also three kinds of odd items: digits
# with 6 random pixels set to full ink ("scratched"), digits turned upside down, and pure noise.
# We flag an item when its log-likelihood is below the 1% quantile of the training digits' scores.

# %%
gmm = digit_models["gmm"]
threshold = float(torch.quantile(gmm.score_samples(xd), 0.01))
g = torch.Generator().manual_seed(0)
scratched = xd_test.flatten(1).clone()
scratched[torch.arange(len(scratched))[:, None], torch.randint(64, (len(scratched), 6), generator=g)] = 1.0
odd = {"held-out digits": xd_test,
       "scratched (6 pixels)": scratched.reshape(xd_test.shape),
       "upside down": xd_test.flip(-2, -1),
       "uniform noise": torch.rand(xd_test.shape, generator=g)}
scores = {k: gmm.score_samples(v) for k, v in odd.items()}
for k, s in scores.items():
    print(f"{k:22} median log-likelihood {s.median():10.1f}   flagged {(s < threshold).float().mean():6.1%}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), gridspec_kw={"width_ratios": [1.6, 1]})
bins = np.linspace(-300, 80, 60)
for k, s in scores.items():
    axes[0].hist(s.clamp(-300, 80), bins=bins, alpha=0.6, label=k)
axes[0].axvline(threshold, color="k", ls="--", label="threshold (1% of training)")
axes[0].set_xlabel("log-likelihood under the GMM (nats per image; clipped at -300)")
axes[0].legend(fontsize=7)
order = torch.argsort(scores["held-out digits"])
show_digits(axes[1], torch.cat([xd_test[order[:5]], xd_test[order[-5:]]]),
            "held-out digits under the GMM\ntop: the 5 least likely; bottom: the 5 most likely", ncols=5)
fig.tight_layout()
plt.show()

# %% [markdown]
# Noise and scratched digits fall far below the threshold (the printed fractions flagged).
# Upside-down digits are flagged less often: some (a 0, an 8, a 1) are still good digits upside
# down. Genuine held-out digits are flagged more often than the 1% of training digits the threshold
# was set on: the mixture fits its own training digits better than new ones, a mild case of
# overfitting that is always worth checking this way. The least likely genuine digits have unusual
# strokes; the most likely are plain, well-centred ones (zeros and sixes in our run). A likelihood
# measures *typicality under the model*, not "is a digit".
#
# ### Representation: PPCA's codes
#
# With $k = 2$, PPCA's codes $E[z \mid x]$ (`encode`) place every digit on a plane. The labels were
# not used to fit the model, yet digits of one class gather together:

# %%
ppca2 = ls.models.create("ppca", n_components=2).fit(digits)
codes = ppca2.encode(xd_test)
fig, ax = plt.subplots(figsize=(5, 4))
sc = ax.scatter(codes[:, 0], codes[:, 1], c=digits.test.y, cmap="tab10", s=8)
fig.colorbar(sc, ax=ax, label="digit class")
ax.set_xlabel("z1"), ax.set_ylabel("z2"), ax.set_title("held-out digits, PPCA codes (k = 2)", fontsize=9)
plt.show()

# %% [markdown]
# ### Augmentation and simulation in science
#
# Two worked examples come with this course, both with data embedded in latentspace:
#
# - **CT volumes** ([../applications/volumes.py](../applications/volumes.py)): `ct-synthetic` holds
#   CT-like chest volumes, half of them with small lung nodules. With only 10 labelled volumes per
#   class, can volumes generated by a conditional VAE help a 3-D classifier find nodules?
# - **Archaeology** ([../applications/archaeology.py](../applications/archaeology.py)): pottery is
#   recorded as drawn half-profiles; `pottery-synthetic` makes parametric ones in six families. A
#   model of them draws new vessels, completes a broken sherd, and tops up small classes for a
#   classifier.
#
# A glimpse of both (middle slices of two volumes; one profile of each family):

# %%
from latentspace.modalities.scans import slices

ct = ls.data.load("ct-synthetic", n=4, n_test=2)
pots = ls.data.load("pottery-synthetic", n=60, n_test=6)
fig, axes = plt.subplots(2, 1, figsize=(6, 3.6))
for ax, pic, c in zip(axes, slices(ct.to_data()[:2, 0]), ct.y[:2]):
    ax.imshow(pic, cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_ylabel(ct.classes[int(c)], fontsize=8)
axes[0].set_title("ct-synthetic (lung window): axial, coronal, sagittal middle slices", fontsize=9)
plt.show()

first = [int(torch.nonzero(pots.y == c)[0]) for c in range(pots.num_classes)]
fig = ls.plots.profile_grid(pots.to_data()[first], n=len(first), ncols=6, labels=pots.classes,
                            title="pottery-synthetic: one half-profile per family (axis on the left)")
plt.show()

# %% [markdown]
# ## GANs and VAEs: what each is good at
#
# Classical models work in low dimensions or on small images. Beyond that, a Gaussian mixture
# needs too many components and a KDE too many points. The two neural families this course teaches:
#
# | | GAN (Goodfellow et al. 2014) | VAE (Kingma & Welling 2014) |
# |---|---|---|
# | how it is trained | a game: a generator against a discriminator | maximise a lower bound (ELBO) on $\log p(x)$ |
# | samples | sharp | often blurred (the decoder averages what it is unsure of) |
# | likelihood, `score_samples` | none (implicit) | a bound and an estimate |
# | encoder $x \to z$ | none built in (inversion by optimisation) | yes, trained with the decoder |
# | covers all the data? | may drop modes (mode collapse) | covers it, at the cost of blur |
# | training | delicate: can oscillate or diverge, needs recipes | stable: a loss that goes down |
# | progress | hard to read from the losses | the ELBO is a usable number |
# | anomaly detection | not directly | yes, by the likelihood estimate |
#
# Neither is best everywhere; notebook `99-gans-vs-vaes` puts both on the same data and measures.
#
# ## Where the course goes next
#
# - `intro/02-why-GANs`: the adversarial game, its objective and why it works, a GAN by hand in 1-D;
# - `GANs-with-pytorch/`: a GAN built piece by piece in plain PyTorch (the discriminator, training,
#   the generator), then the library's;
# - `GAN-flavours/`: DCGAN, conditional GANs, Wasserstein GANs, 3-D GANs, latent spaces and evaluation;
# - `VAEs/`: the variational autoencoder, its bound (the ELBO), its latent space and its flavours;
# - `99-gans-vs-vaes`: both families side by side on the same data, measured;
# - `applications/`: archaeology, volumes, neurobiology (birdsong).

# %% [markdown]
# ## Exercises
#
# 1. **Bandwidth by held-out likelihood.** Split the `moons` training points into a fitting part
#    (80%) and a validation part (20%). For 30 bandwidths from 0.01 to 1 (log-spaced), compute the
#    validation log-likelihood of our hand-made KDE, and plot it against $h$. Pick the best $h$,
#    report its log-likelihood on the *test* points, and compare with Scott's $h$ and with
#    `ls.models.create("kde", bandwidth="cv")`. Why not choose $h$ on the test points?
# 2. **Number of mixture components by BIC.** For $C = 1, \dots, 12$, fit `gmm` to `ring8` and
#    compute the Bayesian information criterion $\text{BIC} = -2 \sum_i \log p(x_i) + P \log n$ on
#    the training points, with $P$ the number of free parameters of a full-covariance mixture in
#    $d$ dimensions: $P = (C - 1) + C d + C\, d(d+1)/2$. Which $C$ has the smallest BIC?
# 3. **How many PPCA directions?** Fit `ppca` to `digits` with $k$ = 1, 2, 4, 8, 16, 32, 48, 63 and
#    print the training and held-out log-likelihoods. Does the held-out one keep rising with $k$?
#
# Solutions follow, in collapsed cells (click to expand them in Jupyter).

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 1: the KDE bandwidth chosen by validation likelihood
perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
fit_part, val_part = x[perm[: int(0.8 * len(x))]], x[perm[int(0.8 * len(x)):]]
hs = np.logspace(-2, 0, 30)
val_ll = [float(kde_log_density(val_part, fit_part, h).mean()) for h in hs]
best_h = float(hs[int(np.argmax(val_ll))])
print(f"best h on validation {best_h:.3f}: test log-likelihood {kde_log_density(x_test, x, best_h).mean():.3f}")
print(f"Scott's h {h_scott:.3f}:           test log-likelihood {kde_log_density(x_test, x, h_scott).mean():.3f}")
cv = ls.models.create("kde", bandwidth="cv").fit(moons)
print(f"ls kde, bandwidth='cv':  test log-likelihood {cv.score_samples(x_test).mean():.3f}")
fig, ax = plt.subplots(figsize=(5, 3))
ax.semilogx(hs, val_ll, "o-", ms=3)
ax.axvline(best_h, color="C3", ls="--", label="best")
ax.axvline(h_scott, color="0.5", ls=":", label="Scott")
ax.set_xlabel("bandwidth h"), ax.set_ylabel("validation log-lik. (nats/point)"), ax.legend()
fig.tight_layout()
plt.show()
# Small h: spikes on the fitting points, validation points fall between them. Large h: one blur.
# Choosing h on the test points would make the test score optimistic: it would no longer be held out.
# Note that the library's KDE rescales each feature first, so its h is in other units than ours.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 2: the number of components of a Gaussian mixture by BIC
n, dim = len(ring8), 2
bic = {}
for C in range(1, 13):
    model = ls.models.create("gmm", n_components=C).fit(ring8, seed=0)
    total_ll = float(model.score_samples(ring8.to_data()).sum())
    params = (C - 1) + C * dim + C * dim * (dim + 1) // 2
    bic[C] = -2 * total_ll + params * math.log(n)
print("BIC:", {C: round(b) for C, b in bic.items()})
print("smallest BIC at C =", min(bic, key=bic.get), "(ring8 has 8 modes)")
# The log-likelihood keeps creeping up after C = 8 (spare components fit noise), but by less than the
# penalty P log n for the extra parameters: BIC picks the 8 real modes.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 3: PPCA's held-out likelihood against the number of directions k
for k in (1, 2, 4, 8, 16, 32, 48, 63):
    model = ls.models.create("ppca", n_components=k).fit(digits)
    train_ll, test_ll = model.score_samples(xd).mean(), model.score_samples(xd_test).mean()
    print(f"k = {k:2d}: training {train_ll:7.2f}   held out {test_ll:7.2f} nats per image")
# Both keep rising, all the way to k = 63: no sign of overfitting. Why? A few pixels at the left and
# right edges are blank in (nearly) every digit, training or held out, so the last eigenvalues are
# (nearly) zero. Keeping those directions makes the noise variance sigma^2 tiny, and the density a
# tall spike along them: every digit, new or not, with those pixels blank gets a huge density there.
# The gain is real log-likelihood but says nothing about the shape of digits: a warning that data-space
# likelihoods reward being sure of trivial things (here, blank pixels). Compare k by samples too.
