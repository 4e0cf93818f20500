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
# # VAEs 1: latent variables and the ELBO
#
# **You will learn**
#
# - what a latent-variable model is, $p(x) = \int p(x|z)\, p(z)\, dz$, and why that integral is
#   hard to compute once $z$ has more than a few dimensions;
# - the Kullback-Leibler (KL) divergence: its definition, its closed form for two Gaussians, and
#   how to check a closed form against a Monte-Carlo estimate;
# - the evidence lower bound (ELBO), $\log p(x) \ge \mathbb E_q[\log p(x|z)] - \mathrm{KL}(q(z|x)\,\|\,p(z))$,
#   and what its gap is;
# - the reparameterisation trick $z = \mu + \sigma\epsilon$: why gradients flow through it, and
#   how much less noisy it is than the score-function estimator;
# - to write a variational autoencoder (VAE) by hand in plain PyTorch, train it on handwritten
#   digits and measure its ELBO against a better estimate of $\log p(x)$.
#
# **Time:** about 30 minutes to read and run. The code runs in under a minute with
# `LATENTSPACE_FAST=1` (the VAE is then barely trained) and in 2 to 4 minutes without, on two CPU cores.
#
# **You need:** Python, NumPy and a little PyTorch (tensors, `nn.Linear`, an optimiser step). No
# knowledge of VAEs. `notebooks/README.md` says how to run this file as a script or open it as a
# notebook. The next notebooks, `02-training-and-evaluation` and `03-flavours`, build on this one.

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
from torch.distributions import Normal

FAST = os.environ.get("LATENTSPACE_FAST") == "1"   # tiny trainings: checks that everything runs
print("fast mode" if FAST else "full mode")
torch.manual_seed(0)

# %% [markdown]
# ## A latent-variable model
#
# A **latent variable** $z$ is a quantity we never observe but which explains what we do observe,
# $x$. A handwritten digit, say, is explained by which digit it is, the slant, the stroke width,
# and so on. A latent-variable model writes this as two steps:
#
# 1. draw $z$ from a simple **prior** $p(z)$, here always the standard normal $\mathcal N(0, I)$;
# 2. draw $x$ from the **likelihood** $p(x|z)$, whose parameters are a function of $z$ (in a VAE,
#    a neural network, the *decoder*).
#
# The model's density of an observation is then the **marginal likelihood** (or *evidence*)
#
# $$p(x) = \int p(x|z)\, p(z)\, dz .$$
#
# Training means making $p(x)$ large on the data. We start with a toy whose latent has one
# dimension, so that everything can be computed exactly: $z \sim \mathcal N(0, 1)$ and
# $x = (z^2, z/2) + $ Gaussian noise of standard deviation 0.15 in each coordinate. Points fall
# near a sideways parabola; the colour is the $z$ that made each point.

# %%
NOISE = 0.15


def curve(z):
    """The toy decoder: z (...,) -> the mean of x (..., 2)."""
    return torch.stack([z ** 2, 0.5 * z], -1)


def log_lik(x, z):
    """log p(x|z) of the toy, for one point x (2,) and latent values z (...,)."""
    return Normal(curve(z), NOISE).log_prob(x).sum(-1)


z_draws = torch.randn(1500)
x_draws = curve(z_draws) + NOISE * torch.randn(1500, 2)
x0 = torch.tensor([1.0, 0.02])          # one observation we will study closely

fig, ax = plt.subplots(figsize=(5, 3.6))
sc = ax.scatter(x_draws[:, 0], x_draws[:, 1], c=z_draws, s=5, cmap="coolwarm")
ax.plot(*x0, "k*", ms=14, label="the point $x_0$ studied below")
fig.colorbar(sc, label="latent $z$")
ax.set_xlabel("$x_1$"), ax.set_ylabel("$x_2$"), ax.legend(fontsize=8)
ax.set_title("1,500 draws from the toy latent-variable model", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# With one latent dimension the integral is a 1-D integral: a sum over a fine grid of $z$ values
# gives $\log p(x_0)$ to many digits, and the **posterior** $p(z|x_0) = p(x_0|z)\,p(z)/p(x_0)$
# (which $z$ could have made $x_0$) comes with it. The point $x_0 = (1, 0.02)$ could have come from
# $z \approx 1$ or from $z \approx -1$ (both give $z^2 = 1$); the second coordinate, $0.02$, is
# slightly closer to $+0.5$ than to $-0.5$, so the posterior has two bumps of unequal height.

# %%
Z_GRID = torch.linspace(-6, 6, 6001)
DZ = float(Z_GRID[1] - Z_GRID[0])
LOG_PRIOR = Normal(0.0, 1.0).log_prob(Z_GRID)


def exact_log_px(x):
    """log p(x) = log of the integral of p(x|z) p(z) dz, by a sum over the grid of z."""
    return float(torch.logsumexp(log_lik(x, Z_GRID) + LOG_PRIOR, 0) + math.log(DZ))


log_px0 = exact_log_px(x0)
posterior = torch.exp(log_lik(x0, Z_GRID) + LOG_PRIOR - log_px0)     # p(z|x0) on the grid
print(f"log p(x0) = {log_px0:.4f} nats;  the posterior integrates to {float(posterior.sum() * DZ):.4f}")
right = float(posterior[Z_GRID > 0].sum() * DZ)
print(f"posterior mass on z > 0: {right:.2f}, on z < 0: {1 - right:.2f}")

# %% [markdown]
# ## Why the integral is hard
#
# The grid works because $z$ has one dimension. With 100 grid points per dimension a 10-D latent
# needs $100^{10}$ decoder evaluations. The obvious alternative is Monte Carlo: draw
# $z_1, \dots, z_K$ from the prior and average,
#
# $$p(x) \approx \frac1K \sum_{k=1}^K p(x|z_k), \qquad z_k \sim p(z).$$
#
# This is unbiased, but only draws that land where $p(x|z)$ is large contribute, and in many
# dimensions almost none do. We make a $d$-dimensional toy out of $d$ independent copies of the
# one above (each copy has its own $z_j$ and its own $x^{(j)} = x_0$), so that the exact answer is
# $d \log p(x_0)$, and estimate it with 10,000 prior draws. The **effective sample size**
# $(\sum_k w_k)^2 / \sum_k w_k^2$ of the weights $w_k = p(x|z_k)$ says how many of the draws
# actually count.

# %%
K_NAIVE = 10_000
rows = []
for d in (1, 2, 4, 8, 16):
    z = torch.randn(K_NAIVE, d)
    log_w = log_lik(x0, z).sum(1)                          # log p(x|z_k): the d copies multiply
    estimate = float(torch.logsumexp(log_w, 0) - math.log(K_NAIVE))
    w = torch.softmax(log_w, 0)                             # normalised weights
    rows.append((d, d * log_px0, estimate, float(1 / (w ** 2).sum())))
print("  d    exact log p(x)   prior-sampling estimate   effective draws (of 10,000)")
for d, exact, est, ess in rows:
    print(f"{d:3d}   {exact:12.2f}   {est:20.2f}   {ess:20.1f}")

# %% [markdown]
# The estimate falls further below the truth as $d$ grows, and the effective number of draws
# collapses from thousands to a handful: the prior almost never proposes a $z$ that explains the
# point. (The estimate of $p(x)$ is unbiased, but that of $\log p(x)$ is biased low, and with a
# handful of effective draws the bias is large.) A VAE for images has a latent of 10 to 100
# dimensions, so we need a better way: propose $z$ from a distribution $q(z|x)$ that already
# knows roughly where the posterior is. To say how close $q$ is to the posterior we need a way to
# compare two distributions.
#
# ## The KL divergence
#
# The Kullback-Leibler divergence of $q$ from $p$ is
#
# $$\mathrm{KL}(q\,\|\,p) = \mathbb E_{z \sim q}\left[\log q(z) - \log p(z)\right]
#   = \int q(z) \log\frac{q(z)}{p(z)}\, dz .$$
#
# It is never negative, and zero only when $q = p$. It is not symmetric:
# $\mathrm{KL}(q\|p) \ne \mathrm{KL}(p\|q)$ in general, so it is not a distance. For two
# 1-D Gaussians it has a closed form,
#
# $$\mathrm{KL}\big(\mathcal N(\mu_1, \sigma_1^2)\,\|\,\mathcal N(\mu_2, \sigma_2^2)\big)
#   = \log\frac{\sigma_2}{\sigma_1} + \frac{\sigma_1^2 + (\mu_1 - \mu_2)^2}{2\sigma_2^2} - \frac12 ,$$
#
# and for Gaussians with diagonal covariances it is the sum of this over the dimensions. The
# case a VAE uses, $q = \mathcal N(\mu, \sigma^2)$ against the prior $\mathcal N(0, 1)$, becomes
# $\frac12(\mu^2 + \sigma^2 - 1 - \log\sigma^2)$ per dimension. Closed forms are easy to get
# wrong, so we check one against a Monte-Carlo average of $\log q(z) - \log p(z)$ over draws from $q$.

# %%
def kl_normal(mu1, s1, mu2, s2):
    """KL(N(mu1, s1^2) || N(mu2, s2^2)), the closed form."""
    return math.log(s2 / s1) + (s1 ** 2 + (mu1 - mu2) ** 2) / (2 * s2 ** 2) - 0.5


q, p = Normal(1.0, 0.5), Normal(0.0, 1.0)
z = q.sample((200_000,))
terms = q.log_prob(z) - p.log_prob(z)
print(f"KL(q || p): closed form {kl_normal(1.0, 0.5, 0.0, 1.0):.4f}, "
      f"Monte Carlo {float(terms.mean()):.4f} ± {float(terms.std() / math.sqrt(len(z))):.4f}")
print(f"KL(p || q): closed form {kl_normal(0.0, 1.0, 1.0, 0.5):.4f}   (not the same: KL is not symmetric)")
mu, sigma = torch.tensor([1.0, -0.3, 0.0]), torch.tensor([0.5, 2.0, 1.0])
vae_form = 0.5 * (mu ** 2 + sigma ** 2 - 1 - torch.log(sigma ** 2))
torch_form = torch.distributions.kl_divergence(Normal(mu, sigma), Normal(0.0, 1.0))
print("the VAE's per-dimension form:", vae_form.numpy().round(4), "  torch's:", torch_form.numpy().round(4))

# %% [markdown]
# The two numbers agree within the Monte-Carlo error, and the VAE's form agrees with torch's own.
# (The third dimension, $\mathcal N(0, 1)$ itself, has KL 0.) The integrand shows where the KL
# comes from: where $q$ has mass that $p$ does not.

# %%
zz = torch.linspace(-3, 4, 400)
fig, ax = plt.subplots(figsize=(5.5, 3))
ax.plot(zz, p.log_prob(zz).exp(), label="$p = \\mathcal{N}(0, 1)$")
ax.plot(zz, q.log_prob(zz).exp(), label="$q = \\mathcal{N}(1, 0.5^2)$")
ax.fill_between(zz, q.log_prob(zz).exp() * (q.log_prob(zz) - p.log_prob(zz)), color="gray", alpha=0.4,
                label="$q \\log(q/p)$: integrates to KL(q||p)")
ax.set_xlabel("$z$"), ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The evidence lower bound (ELBO)
#
# Take any distribution $q(z|x)$ over the latent, for one observation $x$. Writing
# $p(x) = p(x, z) / p(z|x)$ for every $z$ and averaging the logarithm over $z \sim q$ gives an identity:
#
# $$\log p(x) = \underbrace{\mathbb E_{q(z|x)}\left[\log p(x|z) + \log p(z) - \log q(z|x)\right]}_{\text{ELBO}}
#   + \mathrm{KL}\big(q(z|x)\,\|\,p(z|x)\big).$$
#
# The KL is never negative, so the first term is a **lower bound** on the evidence, the ELBO
# (Jordan et al. 1999; Kingma & Welling 2014). Grouping its terms differently,
#
# $$\mathrm{ELBO}(x) = \mathbb E_{q(z|x)}[\log p(x|z)] - \mathrm{KL}\big(q(z|x)\,\|\,p(z)\big):$$
#
# a **reconstruction** term (codes drawn from $q$ should explain $x$) minus a **KL term** (keep
# $q$ close to the prior). Both can be computed: the first by Monte Carlo with draws from $q$, the
# second in closed form. The **gap** $\log p(x) - \mathrm{ELBO}$ is exactly how far $q$ is from the
# true posterior, $\mathrm{KL}(q(z|x)\|p(z|x))$. So raising the ELBO by changing $q$ does two
# things at once: it tightens the bound and makes $q$ a better approximation of the posterior.
#
# We check this on the toy point $x_0$ with three Gaussians $q$: one on each bump of the
# posterior, and one broad one in between.

# %%
def elbo_toy(x, mu, sigma):
    """E_q[log p(x|z)] (a sum over the z grid) minus the closed-form KL(q || N(0, 1)), for q = N(mu, sigma^2)."""
    q_grid = Normal(mu, sigma).log_prob(Z_GRID).exp()
    return float((q_grid * log_lik(x, Z_GRID)).sum() * DZ) - kl_normal(mu, sigma, 0.0, 1.0)


def kl_to_posterior(mu, sigma):
    """KL(q || p(z|x0)) by a sum over the z grid."""
    log_q = Normal(mu, sigma).log_prob(Z_GRID)
    log_post = log_lik(x0, Z_GRID) + LOG_PRIOR - log_px0      # log p(z|x0), finite everywhere
    return float((log_q.exp() * (log_q - log_post)).sum() * DZ)


candidates = {"on the right bump": (1.0, 0.15), "on the left bump": (-1.0, 0.15), "broad, in between": (0.0, 1.0)}
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(Z_GRID, posterior, "k", lw=2, label="posterior $p(z|x_0)$")
print(f"log p(x0) = {log_px0:.3f}")
print("q                       ELBO     gap = log p(x0) - ELBO     KL(q || posterior)")
for name, (m, s) in candidates.items():
    elbo = elbo_toy(x0, m, s)
    print(f"{name:<20} {elbo:8.3f}   {log_px0 - elbo:16.3f}   {kl_to_posterior(m, s):22.3f}")
    ax.plot(Z_GRID, Normal(m, s).log_prob(Z_GRID).exp(), "--", label=f"q {name}: ELBO {elbo:.2f}")
ax.set_xlim(-3, 3), ax.set_xlabel("$z$"), ax.legend(fontsize=7)
ax.set_title(f"log $p(x_0)$ = {log_px0:.2f}: every ELBO is below it", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# In each row the gap equals $\mathrm{KL}(q\|p(z|x_0))$, as the identity says (both are sums
# over the same grid of $z$ here; in a VAE the expectation is a Monte-Carlo average instead).
# The $q$ on the larger bump has the smallest gap; the broad one the largest. No single Gaussian
# fits two bumps, so every Gaussian $q$ leaves a gap here.
#
# ## The reparameterisation trick
#
# To find a good $q$ we want to climb the ELBO by gradient ascent on $q$'s parameters
# $(\mu, \sigma)$. But they appear in the *distribution* the expectation is taken over, and a
# sample $z \sim q$ drawn by a random number generator carries no gradient. The trick (Kingma &
# Welling 2014; Rezende et al. 2014) draws the randomness first and moves it through a
# differentiable function:
#
# $$z = \mu + \sigma\,\epsilon, \qquad \epsilon \sim \mathcal N(0, 1).$$
#
# Now $z$ is an ordinary function of $\mu$ and $\sigma$, and autograd differentiates
# $\log p(x|z)$ with respect to them. We check that gradients flow:

# %%
mu = torch.tensor(0.5, requires_grad=True)
log_sigma = torch.tensor(-1.0, requires_grad=True)          # sigma = exp(log_sigma) stays positive
eps = torch.randn(1000)
z = mu + log_sigma.exp() * eps                              # the reparameterised draws
elbo = log_lik(x0, z).mean() - 0.5 * (mu ** 2 + (2 * log_sigma).exp() - 1 - 2 * log_sigma)
elbo.backward()
print(f"ELBO estimate {elbo.item():.3f};  d ELBO / d mu = {float(mu.grad):.3f},  "
      f"d ELBO / d log sigma = {float(log_sigma.grad):.3f}")

# %% [markdown]
# The older alternative is the **score-function** (REINFORCE, likelihood-ratio) estimator
# (Williams 1992): $\nabla_\mu \mathbb E_q[f(z)] = \mathbb E_q[f(z)\, \nabla_\mu \log q(z)]$,
# which needs no derivative of $f$, only of $\log q$. For a Gaussian,
# $\nabla_\mu \log q(z) = (z - \mu)/\sigma^2$. Both are unbiased; they differ in their noise.
#
# We compare them on the $d$-copy toy from above: $f(z) = \log p(x|z)$ summed over the $d$ copies
# (the reconstruction term), $q = \mathcal N(0.9, 0.1^2)$ in every dimension (near the posterior's
# main bump), and the gradient with respect to the *first* mean $\mu_1$. Each estimator is computed
# 10,000 times from **one draw** of $z$, as a training step would.

# %%
M_Q, S_Q = 0.9, 0.1
estimates = {}
print("  d   reparameterisation: mean   sd     score function: mean    sd     sd ratio")
for d in (1, 10, 100):
    zs = (M_Q + S_Q * torch.randn(10_000, d)).requires_grad_(True)
    fs = log_lik(x0, zs).sum(1)                                    # f(z): the d copies' log-likelihoods
    reparam = torch.autograd.grad(fs.sum(), zs)[0][:, 0]           # d f(mu + sigma eps) / d mu_1
    score = fs.detach() * (zs.detach()[:, 0] - M_Q) / S_Q ** 2     # f(z) d log q(z) / d mu_1
    estimates[d] = (zs.detach(), fs.detach(), reparam, score)
    print(f"{d:3d}   {float(reparam.mean()):21.2f} {float(reparam.std()):7.1f}   {float(score.mean()):18.2f} "
          f"{float(score.std()):8.1f}   {float(score.std() / reparam.std()):8.1f}")

zs, fs, reparam, score = estimates[10]
fig, ax = plt.subplots(figsize=(6, 3))
lim = float(score.abs().quantile(0.99))
bins = np.linspace(-lim, lim, 120)
ax.hist(score.numpy(), bins=bins, alpha=0.6, label="score function", density=True)
ax.hist(reparam.numpy(), bins=bins, alpha=0.6, label="reparameterisation", density=True)
ax.axvline(float(reparam.mean()), color="k", lw=1, label="the true gradient (their mean)")
ax.set_xlabel("one-draw estimate of $\\partial\\, \\mathbb{E}_q[f(z)] / \\partial \\mu_1$, d = 10", fontsize=9)
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# The means agree within their noise (both are unbiased), but the score-function estimates are
# more spread out, and the more so the more dimensions: the last column of the table is the ratio
# of the standard deviations. The score function only learns that "this $z$ scored $f(z)$", and
# $f$ adds up the luck of all $d$ dimensions, while the gradient we want concerns one of them. The
# reparameterised estimate uses the slope of $f$ in that dimension, which the others do not
# disturb. That low noise is what lets VAEs train with one draw of $z$ per item. (Exercise 2 shows
# how a *baseline* reduces the score function's noise, and by how much.)
#
# With the trick we can fit $q$ to the toy posterior by stochastic gradient ascent on the ELBO:
# this is **variational inference** for the one point $x_0$.

# %%
torch.manual_seed(1)
mu = torch.tensor(0.3, requires_grad=True)                  # start: q = N(0.3, 1)
log_sigma = torch.tensor(0.0, requires_grad=True)
opt = torch.optim.Adam([mu, log_sigma], lr=0.05)
for step in range(1000):
    for group in opt.param_groups:
        group["lr"] = 0.05 * (1 - step / 1000)              # a decaying step size, to settle precisely
    z = mu + log_sigma.exp() * torch.randn(256)             # 256 reparameterised draws per step
    kl = 0.5 * (mu ** 2 + (2 * log_sigma).exp() - 1 - 2 * log_sigma)
    loss = -(log_lik(x0, z).mean() - kl)
    opt.zero_grad()
    loss.backward()
    opt.step()
m_fit, s_fit = mu.item(), log_sigma.exp().item()
elbo_fit = elbo_toy(x0, m_fit, s_fit)
print(f"fitted q = N({m_fit:.3f}, {s_fit:.3f}^2):  ELBO {elbo_fit:.3f},  log p(x0) {log_px0:.3f},  "
      f"gap {log_px0 - elbo_fit:.3f} nats")
side = right if m_fit > 0 else 1 - right                    # posterior mass of the bump q sits on
print(f"a q on the {'right' if m_fit > 0 else 'left'} bump alone has a gap of at least "
      f"-log {side:.2f} = {-math.log(side):.3f} nats")

fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(Z_GRID, posterior, "k", lw=2, label="posterior $p(z|x_0)$")
ax.plot(Z_GRID, Normal(m_fit, s_fit).log_prob(Z_GRID).exp(), "--", label="fitted Gaussian $q$")
ax.set_xlim(-3, 3), ax.set_xlabel("$z$"), ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# Started broad, at $\mathcal N(0.3, 1)$, $q$ settles on one of the bumps; which one depends on
# the start and on the random draws (try other seeds). When we ran it, it settled on the smaller,
# left bump, whose gap is larger than the right one's: gradient ascent on the ELBO finds a local
# optimum, not necessarily the best $q$. Minimising $\mathrm{KL}(q\|p)$ is
# *mode-seeking*: a $q$ spread over both bumps would put mass in the valley between them, which
# this KL punishes. Most of the remaining gap is the other bump, which $q$ ignores: a $q$ that
# lives on one bump pays at least $-\log$ of that bump's posterior mass (printed), however well
# it fits the bump.
#
# ## From one point to a data set: the VAE
#
# Fitting a $q$ for every data point by its own optimisation is slow. The **variational
# autoencoder** (Kingma & Welling 2014; Rezende et al. 2014) *amortises* it: a network, the
# **encoder**, reads $x$ and outputs the parameters $(\mu(x), \log\sigma^2(x))$ of
# $q(z|x) = \mathcal N(\mu(x), \mathrm{diag}\,\sigma^2(x))$ in one pass. A second network, the
# **decoder**, maps $z$ to the parameters of $p(x|z)$. Both are trained together by gradient ascent
# on the ELBO averaged over the data, with the reparameterisation trick in between.
#
# ### The data
#
# Handwritten digits. MNIST (LeCun et al. 1998: 60,000 training and 10,000 test digits of
# 28 x 28 pixels) is read from `../../../shared/data/mnist` beside this notebook's repository
# (here `/work/shared/data/mnist`) or from `$LATENTSPACE_SHARED_DATA/mnist`; without it the
# notebook uses scikit-learn's 1,797 digits of 8 x 8 pixels, embedded in latentspace. In fast mode
# only the first 5,000 MNIST training digits are used.

# %%
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
SHARED = Path(os.environ.get("LATENTSPACE_SHARED_DATA", HERE.parents[1].parent / "shared" / "data"))
MNIST_DIR = SHARED / "mnist"
if (MNIST_DIR / "train-images-idx3-ubyte.gz").is_file() or (MNIST_DIR / "train-images-idx3-ubyte").is_file():
    data = ls.data.load("mnist", data_dir=MNIST_DIR, limit=5000 if FAST else None)
else:
    print(f"No MNIST at {MNIST_DIR}: using the embedded 8x8 digits instead "
          "(set LATENTSPACE_SHARED_DATA to a folder holding mnist/ to use MNIST)")
    data = ls.data.load("digits")
print(data.summary())
x_train, x_test, y_test = data.to_data(), data.test.to_data(), data.test.y   # intensities in [0, 1]
D = data.info.dim                       # pixels per image
print("training images", tuple(x_train.shape), " test images", tuple(x_test.shape))

# %% [markdown]
# **The likelihood.** We treat each pixel as a coin that is black (0) or white (1), a Bernoulli
# variable, and the decoder outputs one *logit* per pixel: the pixel is 1 with probability
# $\lambda = 1/(1 + e^{-\text{logit}})$. Then
# $\log p(x|z) = \sum_i x_i \log\lambda_i + (1 - x_i)\log(1 - \lambda_i)$, minus the binary
# cross-entropy. This is a probability only of *binary* images, so each time a digit is used for
# training we binarise it afresh, setting each pixel to 1 with its grey level as probability
# (dynamic binarisation, Salakhutdinov & Murray 2008). Notebook 2 discusses other likelihoods.
#
# ### Encoder and decoder
#
# Two small multi-layer perceptrons (MLPs). The encoder outputs $2d$ numbers, the mean and the
# log-variance of each of the $d$ latent dimensions (a log-variance can be any real number, so no
# constraint is needed); the decoder outputs $D$ logits. The encoder sees the pixels shifted to
# $[-1, 1]$ and uses leaky ReLUs; both choices, which `latentspace` makes too, made early training
# noticeably faster when we tried them.

# %%
LATENT = 10
HIDDEN = 256 if D > 100 else 128


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(D, HIDDEN), nn.LeakyReLU(0.2), nn.Linear(HIDDEN, HIDDEN),
                                 nn.LeakyReLU(0.2), nn.Linear(HIDDEN, 2 * LATENT))

    def forward(self, x):
        h = 2 * x.flatten(1) - 1                                 # pixels from [0, 1] to [-1, 1]: centred inputs
        mu, logvar = self.net(h).chunk(2, dim=1)                 # the parameters of q(z|x)
        return mu, logvar


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(LATENT, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                                 nn.Linear(HIDDEN, D))

    def forward(self, z):
        return self.net(z)                                       # one logit per pixel of p(x|z)


def losses(encoder, decoder, x):
    """Per item: the reconstruction term -log p(x|z) at one reparameterised z, and KL(q(z|x) || N(0, I))."""
    mu, logvar = encoder(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)        # the reparameterisation trick
    rec = F.binary_cross_entropy_with_logits(decoder(z), x.flatten(1), reduction="none").sum(1)
    kl = 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(1)        # the closed form, summed over dimensions
    return rec, kl


torch.manual_seed(0)
encoder, decoder = Encoder(), Decoder()
print(f"encoder {sum(p.numel() for p in encoder.parameters()):,} parameters, "
      f"decoder {sum(p.numel() for p in decoder.parameters()):,}")

# %% [markdown]
# ### Training
#
# Each step draws a batch of 128 digits, binarises them, and takes an Adam step (Kingma & Ba 2015)
# on the negative ELBO, $\text{rec} + \text{KL}$, averaged over the batch. We keep both terms for
# a plot. The full run takes 4,000 steps (about 8 passes over MNIST, a minute or two on two cores);
# fast mode takes 300, which teaches the VAE only blurry blobs.

# %%
STEPS = 300 if FAST else 4000
BATCH = 128
opt = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=1e-3)
gen = torch.Generator().manual_seed(0)
history = []
for _ in range(STEPS):
    idx = torch.randint(len(x_train), (BATCH,), generator=gen)
    xb = torch.bernoulli(x_train[idx], generator=gen)             # dynamic binarisation
    rec, kl = losses(encoder, decoder, xb)
    loss = (rec + kl).mean()                                       # the negative ELBO
    opt.zero_grad()
    loss.backward()
    opt.step()
    history.append((rec.mean().item(), kl.mean().item()))
history = np.array(history)
print(f"last 50 steps: rec {history[-50:, 0].mean():.1f}, KL {history[-50:, 1].mean():.1f}, "
      f"negative ELBO {history[-50:].sum(1).mean():.1f} nats per image")

# %%
def smooth(v, n=25):
    """A running mean over n steps, to see the trend through the batch noise."""
    n = min(n, len(v))
    return np.convolve(v, np.ones(n) / n, mode="valid")


fig, axes = plt.subplots(1, 3, figsize=(11, 2.8))
for ax, values, name in zip(axes, (history.sum(1), history[:, 0], history[:, 1]),
                            ("negative ELBO = rec + KL", "rec = -log p(x|z)", "KL(q(z|x) || p(z))")):
    ax.plot(smooth(values))
    ax.set_title(name, fontsize=9), ax.set_xlabel("step", fontsize=8)
axes[0].set_ylabel("nats per image", fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# The reconstruction term falls fast. The KL first drops (the random initial encoder gives codes
# far from the prior, and pulling them in is the quickest gain), then climbs again as the encoder
# learns to put information about each digit into its code, which costs KL but pays in
# reconstruction. The negative ELBO is their sum.
#
# ### What the VAE learnt
#
# **Reconstructions**: each test digit is encoded to the mean of $q(z|x)$ and decoded; we show
# the decoder's pixel probabilities $\lambda$. **Samples**: codes drawn from the prior
# $\mathcal N(0, I)$, decoded the same way. (In fast mode both are blurry.)

# %%
encoder.eval(), decoder.eval()
with torch.no_grad():
    recon = torch.sigmoid(decoder(encoder(x_test[:16])[0])).view_as(x_test[:16])
    samples = torch.sigmoid(decoder(torch.randn(16, LATENT, generator=gen))).view(16, *x_test.shape[1:])

fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
for ax, items, title in ((axes[0], x_test[:16], "test digits"), (axes[1], recon, "their reconstructions"),
                         (axes[2], samples, "samples: z ~ N(0, I), decoded")):
    ax.imshow(ls.plots.image_grid(items, ncols=4)[..., 0], cmap="gray")
    ax.set_title(title, fontsize=9), ax.axis("off")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### The ELBO against $\log p(x)$
#
# On images $\log p(x)$ has no closed form, but we now have a good proposal: $q(z|x)$ itself.
# **Importance sampling** draws $z_k \sim q(z|x)$ and reweights,
#
# $$p(x) = \mathbb E_{q(z|x)}\left[\frac{p(x|z)\,p(z)}{q(z|x)}\right]
#   \approx \frac1K \sum_{k=1}^K \frac{p(x|z_k)\,p(z_k)}{q(z_k|x)},$$
#
# and its logarithm is again a lower bound on $\log p(x)$ in expectation, which tightens as $K$
# grows (Burda et al. 2016; notebook 3 computes it for several $K$). We compare three numbers on
# held-out digits, each binarised once with a fixed seed: the ELBO, the importance-sampled estimate
# with $q$, and the naive estimate with $K$ draws from the prior, as in the toy above.

# %%
N_EVAL, K = (50, 200) if FAST else (200, 1000)
xe = torch.bernoulli(x_test[:N_EVAL], generator=torch.Generator().manual_seed(0))


@torch.no_grad()
def log_weights(x, proposal):
    """log p(x|z_k) + log p(z_k) - log r(z_k) for K draws z_k from r = q(z|x) or r = p(z): (K, n)."""
    out = []
    for xc in x.split(8):                                  # 8 digits at a time: K decoder passes each
        mu, logvar = encoder(xc)
        if proposal == "prior":
            mu, logvar = torch.zeros_like(mu), torch.zeros_like(logvar)
        std = torch.exp(0.5 * logvar)
        z = mu + std * torch.randn(K, *mu.shape)                               # (K, n, d)
        log_px_z = -F.binary_cross_entropy_with_logits(
            decoder(z), xc.flatten(1).expand(K, -1, -1), reduction="none").sum(2)
        log_pz = Normal(0.0, 1.0).log_prob(z).sum(2)
        log_r = Normal(mu, std).log_prob(z).sum(2)
        out.append(log_px_z + log_pz - log_r)
    return torch.cat(out, 1)


with torch.no_grad():
    rec, kl = zip(*(losses(encoder, decoder, xe) for _ in range(10)))     # 10 draws of z per digit
    elbo = -(torch.stack(rec).mean(0) + kl[0])
is_q = torch.logsumexp(log_weights(xe, "q"), 0) - math.log(K)
is_prior = torch.logsumexp(log_weights(xe, "prior"), 0) - math.log(K)
print(f"mean over {N_EVAL} held-out digits, nats per digit (K = {K}):")
print(f"  ELBO                                       {float(elbo.mean()):9.2f}")
print(f"  importance-sampled log p(x), draws from q  {float(is_q.mean()):9.2f}")
print(f"  naive log p(x), draws from the prior       {float(is_prior.mean()):9.2f}")
print(f"digits whose q-estimate is above their ELBO: {int((is_q > elbo).sum())} of {N_EVAL}")

# %% [markdown]
# Read the three numbers printed above. The importance-sampled estimate lies above the ELBO: the
# difference is (an estimate of) the gap $\mathrm{KL}(q(z|x)\|p(z|x))$, the price of the Gaussian
# $q$. The naive estimate from prior draws falls below it, the further the more information the
# codes carry (the larger the KL), for the same reason as in the $d$-dimensional toy: hardly any
# prior draw explains a given digit. After the full run on MNIST it was about 44 nats below
# ($-143.3$ against $-99.4$ when we ran it); in fast mode on the 8 x 8 digits the codes carry so
# little that $q$ is close to the prior and the two can agree. The number worth reporting as "the
# model's log-likelihood" is the importance-sampled one with many draws; `latentspace` computes it
# with $K = 1000$ (notebook 2).
#
# ### The same model in one line
#
# `latentspace`'s `vae` is this model: the same MLPs, a diagonal Gaussian $q$, the Bernoulli
# likelihood with dynamic binarisation, the ELBO with one draw. We ask for our
# sizes and our training, and `prior="normal"` to keep $\mathcal N(0, I)$ after training (notebook 2
# shows the fitted prior it uses by default). `elbo` gives its ELBO of the same digits.

# %%
vae = ls.models.create("vae", latent_dim=LATENT, arch="mlp", hidden=HIDDEN, layers=2, prior="normal")
vae.fit(data, steps=STEPS, batch_size=BATCH, lr_schedule="constant", seed=0, progress=False)
print("resolved settings:", vae.resolved_params())
print(f"library VAE: mean ELBO of the same {N_EVAL} digits {float(vae.elbo(xe).mean()):.2f} nats "
      f"(ours: {float(elbo.mean()):.2f})")

# %% [markdown]
# The two ELBOs should be close, not equal: the two runs draw different batches, noise and
# initial weights. When we ran this notebook they were about a nat apart, in fast mode
# (-139.2 for ours, -138.3 for the library's, on MNIST) and in full mode (-104.0 and -103.0).

# %% [markdown]
# ## Summary
#
# - A latent-variable model defines $p(x) = \int p(x|z)p(z)dz$; in more than a few dimensions
#   neither grids nor prior sampling compute it.
# - For any $q$: $\log p(x) = \mathrm{ELBO} + \mathrm{KL}(q(z|x)\|p(z|x))$. The ELBO is a
#   reconstruction term minus $\mathrm{KL}(q(z|x)\|p(z))$, both computable.
# - The reparameterisation $z = \mu + \sigma\epsilon$ gives low-noise gradients of the ELBO.
# - A VAE amortises $q$ with an encoder and trains encoder and decoder on the ELBO together.
#
# ## Exercises
#
# 1. **The other KL.** For the toy posterior $p(z|x_0)$, the Gaussian that minimises the *other*
#    divergence, $\mathrm{KL}(p\|q)$, matches the posterior's mean and variance (moment matching).
#    Compute it from the grid, draw it beside the posterior and the fitted $q$, and compare its
#    ELBO with that of the fitted $q$. Which is the better bound, and why?
# 2. **A baseline for the score function.** $\mathbb E_q[\nabla_\mu \log q(z)] = 0$, so
#    subtracting any constant $b$ from $f(z)$ leaves the score-function estimator unbiased. Take
#    $b$ = the mean of $f$ over the draws and compare the standard deviation with the plain score
#    function and with the reparameterisation estimator above.
# 3. **How many prior draws would do?** For the trained VAE and 5 test digits, compute the
#    effective sample size (as in the toy) of the importance weights when $z$ is drawn from $q$
#    and when it is drawn from the prior.
#
# Solutions follow, in collapsed cells (click to expand them in Jupyter).

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 1: the moment-matched Gaussian, which minimises KL(posterior || q)
post_mean = float((Z_GRID * posterior).sum() * DZ)
post_std = float((((Z_GRID - post_mean) ** 2 * posterior).sum() * DZ).sqrt())
elbo_mm = elbo_toy(x0, post_mean, post_std)
print(f"moment matching: N({post_mean:.3f}, {post_std:.3f}^2), ELBO {elbo_mm:.3f}  "
      f"(fitted q: {elbo_fit:.3f}; log p(x0) {log_px0:.3f})")
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(Z_GRID, posterior, "k", lw=2, label="posterior")
ax.plot(Z_GRID, Normal(m_fit, s_fit).log_prob(Z_GRID).exp(), "--", label="min KL(q||p): mode-seeking")
ax.plot(Z_GRID, Normal(post_mean, post_std).log_prob(Z_GRID).exp(), ":", label="min KL(p||q): mass-covering")
ax.set_xlim(-3, 3), ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
# The moment-matched q covers both bumps but puts much of its mass in the valley between them,
# where p(x0|z) is tiny: its ELBO is far lower. The ELBO's gap is KL(q||p), which the fitted q minimises.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 2: the score-function estimator with a baseline (d = 10, the draws of the histogram)
baseline = float(fs.mean())
score_b = (fs - baseline) * (zs[:, 0] - M_Q) / S_Q ** 2
for name, g in (("score function", score), ("score function with baseline", score_b),
                ("reparameterisation", reparam)):
    print(f"{name:<29} mean {float(g.mean()):8.3f}   standard deviation {float(g.std()):8.3f}")
# The baseline removes the large constant part of f, which only added noise, but not the luck of
# the other nine dimensions: the reparameterised estimator stays the least noisy.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 3: effective sample size of the importance weights, q against the prior
for proposal in ("q", "prior"):
    w = torch.softmax(log_weights(xe[:5], proposal), 0)            # (K, 5), each column sums to 1
    ess = 1 / (w ** 2).sum(0)
    print(f"draws from {proposal:<5}: effective draws of {K}, per digit:", ess.numpy().round(1))
# From q many of the draws count. From the prior, after the full run on MNIST, one or two draws
# dominate: the estimate rests on a single lucky draw, and more draws barely help. (A barely
# trained model, whose codes are close to the prior, shows a smaller difference.)
