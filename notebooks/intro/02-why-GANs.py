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
# # Why GANs? The adversarial game
#
# **You will learn to**
#
# - describe a generative adversarial network (GAN; Goodfellow et al. 2014) as a game between a
#   *generator* (a forger) and a *discriminator* (a detective), in its standard notation;
# - write its minimax objective, derive the optimal discriminator
#   $D^* = p_\text{data} / (p_\text{data} + p_g)$, and check numerically that against $D^*$ the
#   generator minimises $2\,\mathrm{JSD}(p_\text{data} \,\|\, p_g) - \log 4$;
# - explain why generators are trained with the *non-saturating* loss $-\log D(G(z))$;
# - train a GAN in a few dozen lines of plain PyTorch on 1-D data, and then the library's GAN in
#   one line on 2-D data.
#
# **Time:** about 20 minutes to read and run. The code runs in about 20 seconds with
# `LATENTSPACE_FAST=1` (short trainings, which show how things run rather than good results), and
# in about two to three minutes without, on two idle CPU cores.
#
# **You need:** the first notebook of this course (`01-why-generative.py`: what $p(x)$, sampling and
# scoring are), and a little PyTorch (a module, a loss, an optimiser step).

# %% [markdown]
# ## The game
#
# A forger paints fake banknotes; a detective is shown real and fake notes and must tell which is
# which. The detective learns from each mistake, and so does the forger, from the detective's
# verdicts: to fool a better detective it must paint better notes. If both keep learning, the
# fakes end up indistinguishable from real notes, and the detective can do no better than a coin.
#
# A GAN plays this game with two neural networks:
#
# - the **generator** $G$ (the forger) maps a random **latent code** $z \sim p_z$, usually
#   $p_z = \mathcal N(0, I)$, to an item $G(z)$. The items $G(z)$ have some distribution $p_g$:
#   that is the model. It is *implicit*: we can sample from it but have no formula for $p_g(x)$;
# - the **discriminator** $D$ (the detective) maps an item $x$ to $D(x) \in (0, 1)$, its
#   probability that $x$ is real, i.e. drawn from $p_\text{data}$ rather than from $p_g$.
#
# $D$ is trained as an ordinary classifier (real = 1, fake = 0). $G$ is trained through $D$: the
# gradient of $D$'s verdict flows back through $G(z)$ into $G$'s weights, telling it how to change
# its items so that $D$ finds them more real. $G$ never sees a real item.

# %%
# ruff: noqa: E402   (imports appear where they are first needed, as in any notebook)
import math
import os

import latentspace as ls   # before torch: latentspace tells torch's idle threads not to hog shared cores
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

FAST = os.environ.get("LATENTSPACE_FAST") == "1"   # short trainings: checks that everything runs
print("fast mode" if FAST else "full mode")

# %% [markdown]
# ## The objective
#
# Goodfellow et al. (2014) write the game as one value function that $D$ maximises and $G$ minimises:
#
# $$\min_G \max_D \; V(D, G) = \mathbb E_{x \sim p_\text{data}}\big[\log D(x)\big] +
#   \mathbb E_{z \sim p_z}\big[\log\big(1 - D(G(z))\big)\big].$$
#
# The first term is large when $D$ says "real" to real items, the second when it says "fake" to
# generated ones: $\max_D V$ is exactly logistic regression (the binary cross-entropy, negated).
# The generator can only change the second term, and wants $D(G(z))$ close to 1.
#
# ### The optimal discriminator
#
# Write the second expectation over $x = G(z) \sim p_g$. Then
# $V = \int \big[p_\text{data}(x) \log D(x) + p_g(x) \log(1 - D(x))\big]\,dx$, and $D$ can
# maximise the integrand at each $x$ separately. The function $a \log y + b \log(1 - y)$ is largest
# at $y = a / (a + b)$, so for a fixed generator the best discriminator is
#
# $$D^*(x) = \frac{p_\text{data}(x)}{p_\text{data}(x) + p_g(x)}.$$
#
# Put it back into $V$. With $m = \tfrac12(p_\text{data} + p_g)$ the mixture of the two,
#
# $$V(D^*, G) = \mathrm{KL}(p_\text{data} \,\|\, m) + \mathrm{KL}(p_g \,\|\, m) - \log 4
#   = 2\,\mathrm{JSD}(p_\text{data} \,\|\, p_g) - \log 4,$$
#
# where JSD is the **Jensen-Shannon divergence**, a symmetric distance between distributions,
# 0 when they are equal and at most $\log 2$. So, *if $D$ is optimal*, training $G$ minimises the
# JSD between the data and the model, and the minimum, $-\log 4$, is reached only at
# $p_g = p_\text{data}$, where $D^* = \tfrac12$ everywhere: the detective tosses a coin.

# %% [markdown]
# ### Checking it numerically
#
# Take 1-D Gaussians: $p_\text{data} = \mathcal N(0, 1)$ and a "generator" $p_g = \mathcal N(\mu, 0.7^2)$
# for a few shifts $\mu$. On a fine grid we compute $D^*$, then $V(D^*, G)$ by numerical
# integration, and separately the JSD from its definition. No training: only the formulas.

# %%
xs = torch.linspace(-12, 12, 24001, dtype=torch.float64)      # a fine grid; integrals by the trapezoid rule


def normal_pdf(x, mean, sd):
    return torch.exp(-0.5 * ((x - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def integrate(f):
    return float(torch.trapezoid(f, xs))


def xlogy(p, q):
    """p log q, with 0 log 0 = 0 (where the density p vanishes)."""
    return torch.where(p > 0, p * torch.log(q.clamp_min(1e-300)), torch.zeros_like(p))


def value_at_optimum(p_data, p_g):
    """V(D*, G) = E_data[log D*] + E_g[log(1 - D*)], with D* = p_data / (p_data + p_g)."""
    d_star = p_data / (p_data + p_g).clamp_min(1e-300)
    return integrate(xlogy(p_data, d_star) + xlogy(p_g, 1 - d_star)), d_star


def jsd(p, q):
    """Jensen-Shannon divergence from its definition, in nats."""
    m = 0.5 * (p + q)
    return 0.5 * integrate(xlogy(p, p) - xlogy(p, m)) + 0.5 * integrate(xlogy(q, q) - xlogy(q, m))


p_data = normal_pdf(xs, 0.0, 1.0)
print(f"log 4 = {math.log(4):.4f}")
print("  mu   V(D*, G)   2 JSD - log 4   JSD / log 2")
for mu in (0.0, 0.5, 1.0, 2.0, 4.0, 8.0):
    p_g = normal_pdf(xs, mu, 0.7)
    v, _ = value_at_optimum(p_data, p_g)
    j = jsd(p_data, p_g)
    print(f"{mu:4.1f}   {v:8.4f}   {2 * j - math.log(4):13.4f}   {j / math.log(2):11.3f}")

# %% [markdown]
# The two middle columns agree to the last digit, as the algebra said. The last column is the JSD
# as a fraction of its maximum $\log 2$: far-apart distributions have nearly the maximal JSD.
# Below, on the left, the densities and $D^*$ for $\mu = 1.5$: $D^*$ is near 1 where only the data
# has mass, near 0 where only the generator has, and crosses $\tfrac12$ where the densities cross.
# On the right, $V(D^*, G)$ as the generator's mean moves: smallest, $-\log 4$, at $\mu = 0$
# (not exactly equal distributions, since the widths differ, 0.7 against 1), and **flat** far from
# it. A generator far from the data gets almost no signal from the JSD about which way to move;
# keep that in mind for the Wasserstein GAN (notebooks in `GAN-flavours/`).

# %%
mus = np.linspace(-8, 8, 81)
values = [value_at_optimum(p_data, normal_pdf(xs, mu, 0.7))[0] for mu in mus]
p_g = normal_pdf(xs, 1.5, 0.7)
_, d_star = value_at_optimum(p_data, p_g)

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
axes[0].plot(xs, p_data, label=r"$p_\mathrm{data} = \mathcal{N}(0, 1)$")
axes[0].plot(xs, p_g, label=r"$p_g = \mathcal{N}(1.5, 0.7^2)$")
axes[0].plot(xs, d_star, "k--", label=r"$D^* = p_\mathrm{data} / (p_\mathrm{data} + p_g)$")
axes[0].axhline(0.5, color="0.7", lw=0.8)
axes[0].set_xlim(-4, 5), axes[0].set_xlabel("x"), axes[0].legend(fontsize=8)
axes[0].set_title("the optimal discriminator for one generator", fontsize=9)
axes[1].plot(mus, values)
axes[1].axhline(-math.log(4), color="C3", ls=":", label=r"$-\log 4$ (the minimum, at $p_g = p_\mathrm{data}$)")
axes[1].axhline(0, color="0.6", ls=":", label=r"$0 = 2 \log 2 - \log 4$ (disjoint distributions)")
axes[1].set_xlabel(r"mean $\mu$ of the generator's $\mathcal{N}(\mu, 0.7^2)$"), axes[1].set_ylabel(r"$V(D^*, G)$")
axes[1].legend(fontsize=8), axes[1].set_title("the value of the game against the best detective", fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The non-saturating generator loss
#
# In practice $G$ is not trained to minimise $\log(1 - D(G(z)))$. Early in training the fakes
# are poor, $D$ rejects them confidently, and $D(G(z)) \approx 0$. There $\log(1 - D)$ is flat:
# it **saturates**, and $G$ gets almost no gradient. Goodfellow et al. (2014) proposed instead to
# *maximise* $\log D(G(z))$, i.e. to minimise the **non-saturating** loss $-\log D(G(z))$. It has
# the same goal ($D(G(z)) \to 1$) but its gradient is largest exactly when the fakes are worst.
#
# A discriminator ends in a *logit* $a$ (any real number), and $D = \sigma(a) = 1/(1 + e^{-a})$.
# The gradients with respect to $a$ are $\partial_a \log(1 - \sigma(a)) = -D$ and
# $\partial_a\, (-\log \sigma(a)) = -(1 - D)$. We let autograd compute them rather than trust the algebra:

# %%
logit = torch.linspace(-8, 8, 401, requires_grad=True)
saturating = nn.functional.logsigmoid(-logit)       # log(1 - D), computed stably: G minimises it
non_saturating = -nn.functional.logsigmoid(logit)   # -log D: G minimises it
grad_sat, = torch.autograd.grad(saturating.sum(), logit)
grad_ns, = torch.autograd.grad(non_saturating.sum(), logit)
D = torch.sigmoid(logit).detach()
for d in (0.001, 0.01, 0.5, 0.99):
    i = int(torch.argmin((D - d).abs()))
    print(f"D(G(z)) = {D[i]:.3f}:  |d/da log(1 - D)| = {grad_sat[i].abs():.3f}"
          f"   |d/da -log D| = {grad_ns[i].abs():.3f}")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
axes[0].plot(D, saturating.detach(), label=r"saturating: $\log(1 - D)$")
axes[0].plot(D, non_saturating.detach(), label=r"non-saturating: $-\log D$")
axes[0].set_xlabel(r"$D(G(z))$"), axes[0].set_ylabel("generator loss"), axes[0].legend(fontsize=8)
axes[0].set_title("both losses fall as D is fooled", fontsize=9)
axes[1].plot(D, grad_sat.abs(), label=r"$|\partial_a \log(1 - D)| = D$")
axes[1].plot(D, grad_ns.abs(), label=r"$|\partial_a\, (-\log D)| = 1 - D$")
axes[1].axvspan(0, 0.1, color="0.9")
axes[1].text(0.02, 0.5, "early training:\nfakes rejected", fontsize=8)
axes[1].set_xlabel(r"$D(G(z))$"), axes[1].set_ylabel("gradient size w.r.t. the logit")
axes[1].legend(fontsize=8), axes[1].set_title("...but only one gives a gradient when D wins", fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# With the non-saturating loss, $G$ and $D$ no longer play one zero-sum game with one value, and the
# JSD argument above no longer applies as such; but the fixed point is the same ($p_g = p_\text{data}$,
# $D = \tfrac12$), and it is what almost every GAN uses (latentspace's `gan` too: `loss="ns"`).
#
# ## The training loop
#
# Algorithm 1 of Goodfellow et al. (2014), with the non-saturating loss, in pseudo-code:
#
# ```text
# for each step:
#     # 1. the detective learns: one gradient step up on V for D
#     draw a batch of real items x_1..x_m from the data
#     draw codes z_1..z_m from p_z and make fakes G(z_i)
#     loss_D = -mean log D(x_i) - mean log(1 - D(G(z_i)))     # binary cross-entropy, real=1, fake=0
#     update D's weights to decrease loss_D                   # G is held fixed
#     # 2. the forger learns: one gradient step for G, through D
#     draw fresh codes z_1..z_m
#     loss_G = -mean log D(G(z_i))                            # non-saturating
#     update G's weights to decrease loss_G                   # D is held fixed
# ```
#
# `nn.BCEWithLogitsLoss` computes both losses from $D$'s logits in a numerically stable way:
# with target 1 it is $-\log D$, with target 0 it is $-\log(1 - D)$.

# %% [markdown]
# ## A GAN by hand, in 1-D
#
# The data: an equal mixture of two Gaussians, $\tfrac12\mathcal N(-2, 0.5^2) + \tfrac12\mathcal N(2, 0.5^2)$.
# The generator: a small MLP from a 4-dimensional code to a number. The discriminator: a small
# MLP from a number to a logit. Adam for both (Kingma & Ba 2015) with $\beta_1 = 0.5$, as is common
# for GANs (Radford et al. 2016).

# %%
def sample_data(n, generator=None):
    """n draws of the two-Gaussian mixture, shape (n, 1)."""
    side = torch.randint(0, 2, (n, 1), generator=generator) * 4.0 - 2.0           # -2 or +2
    return side + 0.5 * torch.randn(n, 1, generator=generator)


def data_density(x):
    return 0.5 * normal_pdf(x, -2.0, 0.5) + 0.5 * normal_pdf(x, 2.0, 0.5)


LATENT = 4


def make_networks(seed=0):
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(LATENT, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
    D = nn.Sequential(nn.Linear(1, 32), nn.LeakyReLU(0.2), nn.Linear(32, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
    return G, D


def train_gan(G, D, steps, batch=128, lr=2e-3, saturating=False, seed=0):
    """The loop above; returns per step D's loss, G's loss and the size of G's gradient."""
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    real_label, fake_label = torch.ones(batch, 1), torch.zeros(batch, 1)
    gen = torch.Generator().manual_seed(seed)
    history = []
    for _ in range(steps):
        # 1. the discriminator: real items -> 1, fakes -> 0 (detach: no gradient into G here)
        x = sample_data(batch, gen)
        fake = G(torch.randn(batch, LATENT, generator=gen))
        loss_d = bce(D(x), real_label) + bce(D(fake.detach()), fake_label)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        # 2. the generator, through the discriminator
        logits = D(G(torch.randn(batch, LATENT, generator=gen)))
        if saturating:
            loss_g = -bce(logits, fake_label)         # = mean log(1 - D(G(z))), to be minimised
        else:
            loss_g = bce(logits, real_label)          # = mean -log D(G(z)), non-saturating
        opt_g.zero_grad()
        loss_g.backward()
        grad_norm = torch.cat([p.grad.flatten() for p in G.parameters()]).norm()
        opt_g.step()
        history.append((loss_d.item(), loss_g.item(), grad_norm.item()))
    return np.array(history)

# %% [markdown]
# Before training: where the generator's samples fall and what the discriminator says. We keep a
# copy of both networks to draw them later. The discriminator's curve is drawn on the same axis as
# the densities (its values lie in $[0, 1]$).

# %%
G, D = make_networks(seed=0)
grid = torch.linspace(-5, 5, 401)[:, None]


def snapshot(G, D, n=20000):
    """G's samples and D's curve on the grid, as NumPy arrays."""
    with torch.no_grad():
        return G(torch.randn(n, LATENT)).numpy().ravel(), torch.sigmoid(D(grid)).numpy().ravel()


before = snapshot(G, D)
STEPS = 600 if FAST else 3000
history = train_gan(G, D, STEPS)
after = snapshot(G, D)
print(f"trained {STEPS} steps; fraction of samples on the right (x > 0): {np.mean(after[0] > 0):.2f} (data: 0.50)")
print(f"last 100 steps: D loss {history[-100:, 0].mean():.3f} (log 4 = {math.log(4):.3f}),"
      f" G loss {history[-100:, 1].mean():.3f} (log 2 = {math.log(2):.3f})")

# %% [markdown]
# Each panel shows the data density (black), a histogram of 20,000 generated samples (blue; before
# training it is a spike, cut off at the top) and the discriminator's $D(x)$ (red). After training
# we also draw the optimal discriminator $D^* = p_\text{data} / (p_\text{data} + p_g)$ for the
# generator as it is, with $p_g$ estimated from the histogram (dashed, drawn only where either
# density is appreciable). The third panel holds the losses at each step.

# %%
bins = np.linspace(-5, 5, 81)
centres = 0.5 * (bins[1:] + bins[:-1])
p_true = data_density(grid).numpy().ravel()
fig, axes = plt.subplots(1, 3, figsize=(14, 3.6), gridspec_kw={"width_ratios": [1, 1, 0.9]})
for ax, (samples, d_curve), title in zip(axes, (before, after), ("before training", f"after {STEPS} steps")):
    ax.plot(grid, p_true, "k", label=r"$p_\mathrm{data}$")
    ax.hist(samples, bins=bins, density=True, alpha=0.5, color="C0", label="G's samples")
    ax.plot(grid, d_curve, "C3", label="D(x)")
    ax.set_ylim(0, 1.05), ax.set_xlabel("x"), ax.set_title(title, fontsize=9)
hist_g, _ = np.histogram(after[0], bins=bins, density=True)
p_g_est = np.interp(grid.numpy().ravel(), centres, hist_g)
both = p_true + p_g_est
d_star_est = np.where(both > 0.02, p_true / np.maximum(both, 1e-12), np.nan)   # only where there is mass
axes[1].plot(grid, d_star_est, "C3--", lw=1, label=r"$D^*$ for this $G$")
axes[1].legend(fontsize=7, loc="upper left")
axes[2].plot(history[:, 0], lw=0.6, label="D loss")
axes[2].plot(history[:, 1], lw=0.6, label="G loss")
axes[2].axhline(math.log(4), color="C0", ls=":", lw=1, label="log 4")
axes[2].axhline(math.log(2), color="C1", ls=":", lw=1, label="log 2")
axes[2].set_xlabel("step"), axes[2].legend(fontsize=7), axes[2].set_title("losses", fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# **Reading it.** Before training, $G$ puts all its samples in a narrow spike near 0, and $D$ is an
# arbitrary curve. During training the generator first moves its mass onto one of the two modes
# and then learns to spread it over both (the printed fraction of samples on the right side says
# how far it got: 0.5 is balanced; in fast mode it may still be lopsided). A sudden jump of both
# losses often marks the moment the second mode is found. The match is not perfect: in our runs
# one mode of the generator sits a little off the data's, or is too wide. The game oscillates
# around its equilibrium rather than settling in it.
#
# Compare the trained $D$ with $D^*$. $D$ dips where the generator puts mass the data lacks
# (between the modes), but it is much flatter than $D^*$: it is a small network updated one step
# at a time, always chasing a generator that just moved. The theory's "optimal discriminator" is an
# idealisation that real training only approaches.
#
# The losses do not go to zero. If the game reached its equilibrium, $D = \tfrac12$ everywhere, and
# the discriminator's loss would sit at $\log 4 \approx 1.39$ and the generator's at
# $\log 2 \approx 0.69$ (the dotted lines). A GAN's losses say whether the game is balanced, not
# how good the samples are: a well-trained GAN and a stuck one can show the same losses.

# %% [markdown]
# ## The library's GAN in one line
#
# `latentspace`'s `gan` is the same loop with networks, optimisers and safeguards chosen for the
# data. For 2-D points it uses MLPs and a recipe measured on PacGAN's `grid25`: Adam with
# different learning rates for $G$ and $D$, a little instance noise, *top-k training* (G learns
# from the fakes D rates best; Sinha et al. 2020) and *discriminator rejection sampling* (samples
# are kept with a probability read from D; Azadi et al. 2019), tricks covered in `GAN-flavours/`.
# Here it learns `ring8`, the eight narrow Gaussians on a circle of the first notebook: a classic
# test of **mode collapse**, where a generator covers only some of the modes.
#
# The full run trains 2,000 steps (the library's default for points is 12,000); fast mode trains
# 100, far too few to learn the ring: its samples are nowhere near it yet.

# %%
ring8 = ls.data.load("ring8", n=5000, n_test=1000)
GAN_STEPS = 100 if FAST else 2000
gan = ls.models.create("gan").fit(ring8, steps=GAN_STEPS, seed=0, progress=False)
print({k: v for k, v in gan.resolved_params().items() if k in ("width", "latent_dim", "lr", "lr_d", "beta1", "beta2")})

# %%
from latentspace.metrics.toy2d import toy2d_metrics

samples = gan.sample(2500, seed=1)
scores = toy2d_metrics(samples, ring8.info.extra["modes"], ring8.info.extra["sigma"])
print(f"{GAN_STEPS} steps: modes captured {scores['modes_captured']} of {scores['modes_total']}, "
      f"samples within 3 sigma of a mode {scores['high_quality_fraction']:.1%}")

real = ring8.to_data()[:2500]
fig, ax = plt.subplots(figsize=(4.6, 4.6))
ax.scatter(real[:, 0], real[:, 1], s=4, c="0.6", label="data")
ax.scatter(samples[:, 0], samples[:, 1], s=2, c="C3", alpha=0.5, label="GAN samples")
ax.set_aspect("equal"), ax.legend(fontsize=8, loc="upper right")
ax.set_title(f"ring8: the library's GAN after {GAN_STEPS} steps", fontsize=9)
plt.show()

# %% [markdown]
# A mode counts as *captured* when at least one sample lies within 3 standard deviations (0.03) of
# it, and a sample is *high quality* when it lies that close to some mode (PacGAN's measures, printed
# above). When we ran the full 2,000 steps, 7 of the 8 modes were captured, one missing entirely: a
# mild mode collapse, on a circle where every mode is equally easy. With the default 12,000 steps the
# library's own measurements (`docs/gan-grid25.md`) found all 8 modes and 98 to 99% of the samples
# near one. In fast mode the numbers are near zero.
#
# That is the whole idea. The next notebooks (`GANs-with-pytorch/01` to `04`) build GANs for points
# and images in plain PyTorch step by step, with the tricks that make them train; `GAN-flavours/`
# covers the variants (DCGAN, conditional GANs, Wasserstein GANs, 3-D GANs).

# %% [markdown]
# ## Exercises
#
# 1. **$D^*$ for another pair.** Let $p_\text{data}$ be the two-Gaussian mixture of the 1-D GAN and
#    $p_g$ a Laplace distribution, $p_g(x) = \frac{1}{2b} e^{-|x|/b}$ with $b = 1$. Compute $D^*$
#    on the grid, check $V(D^*, G) = 2\,\mathrm{JSD} - \log 4$, and check that $D^*$ beats other
#    discriminators: $D = \tfrac12$ everywhere, and $D^*$ pushed towards $\tfrac12$ or away from it.
# 2. **The saturating loss.** Make the discriminator win first: train $D$ alone for 200 steps
#    against the untrained generator, so that it rejects the fakes. Compute the size of G's
#    gradient under each loss at that point. Then train on from there, once with each loss
#    (`saturating=True` or not), and compare G's gradients over the first steps and the samples.
# 3. **Disjoint supports.** Let $p_\text{data}$ be uniform on $[0, 1]$ and $p_g$ uniform on
#    $[\mu, \mu + 1]$. Compute $V(D^*, G)$ for $\mu$ from 1.5 to 5. What gradient does a generator
#    whose samples do not overlap the data receive from the JSD? (Arjovsky & Bottou 2017.)
#
# Solutions follow, in collapsed cells (click to expand them in Jupyter).

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 1: D* for a Gaussian mixture against a Laplace distribution
p_mix = data_density(xs)
p_laplace = torch.exp(-xs.abs()) / 2             # b = 1 (its mass beyond the grid's |x| = 12 is 6e-6)
v_star, d_star = value_at_optimum(p_mix, p_laplace)
print(f"V(D*, G) = {v_star:.4f}   2 JSD - log 4 = {2 * jsd(p_mix, p_laplace) - math.log(4):.4f}")


def value(d):
    """V(D, G) for a discriminator given on the grid."""
    return integrate(xlogy(p_mix, d) + xlogy(p_laplace, 1 - d))


for name, d in (("D = 1/2", torch.full_like(xs, 0.5)),
                ("D* pulled halfway to 1/2", 0.5 * (d_star + 0.5)),
                ("D* pushed away from 1/2", (d_star + 0.3 * (d_star - 0.5)).clamp(1e-6, 1 - 1e-6)),
                ("D*", d_star)):
    print(f"{name:26} V = {value(d):.4f}")
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(xs, p_mix, label="data: Gaussian mixture"), ax.plot(xs, p_laplace, label="p_g: Laplace, b = 1")
ax.plot(xs, d_star, "k--", label="D*")
ax.set_xlim(-6, 6), ax.legend(fontsize=7, loc="upper left")
plt.show()
# Every other discriminator gives a smaller V (D = 1/2 gives exactly -log 4): D* is the maximum.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 2: the saturating loss log(1 - D(G(z))) against the non-saturating -log D(G(z))
import copy

G0, D0 = make_networks(seed=0)
opt_d = torch.optim.Adam(D0.parameters(), lr=2e-3, betas=(0.5, 0.999))
bce = nn.BCEWithLogitsLoss()
for _ in range(200):                                   # D alone: G stays as it was initialised
    fake = G0(torch.randn(128, LATENT)).detach()
    loss_d = bce(D0(sample_data(128)), torch.ones(128, 1)) + bce(D0(fake), torch.zeros(128, 1))
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
logits = D0(G0(torch.randn(1000, LATENT)))
print(f"after training D alone: mean D(G(z)) = {torch.sigmoid(logits).mean():.4f}")
for name, loss in (("saturating", nn.functional.logsigmoid(-logits).mean()),
                   ("non-saturating", -nn.functional.logsigmoid(logits).mean())):
    G0.zero_grad()
    loss.backward(retain_graph=True)
    print(f"  size of G's gradient, {name:15} {torch.cat([p.grad.flatten() for p in G0.parameters()]).norm():.4f}")

steps = 150 if FAST else 1000
runs = {}
for name, sat in (("non-saturating", False), ("saturating", True)):
    G_, D_ = copy.deepcopy(G0), copy.deepcopy(D0)   # the same start for both
    runs[name] = (G_, train_gan(G_, D_, steps, saturating=sat))
    print(f"{name:15} mean gradient size, first 20 steps {runs[name][1][:20, 2].mean():.3f}; "
          f"after {steps} steps, fraction of samples with x > 0: {np.mean(snapshot(G_, D_)[0] > 0):.2f}")
fig, axes = plt.subplots(1, 2, figsize=(10, 3))
for name, (G_, hist) in runs.items():
    axes[0].semilogy(hist[:, 2], lw=0.6, label=name)
    axes[1].hist(snapshot(G_, D0)[0], bins=bins, density=True, alpha=0.5, label=name)
axes[0].set_xlabel("step"), axes[0].set_ylabel("size of G's gradient"), axes[0].legend(fontsize=8)
axes[1].plot(grid, p_true, "k"), axes[1].legend(fontsize=8), axes[1].set_title(f"samples after {steps} steps")
fig.tight_layout()
plt.show()
# Against a confident discriminator (D(G(z)) near 0) the saturating loss gives G a far smaller
# gradient (the printed sizes; about D(G(z)) times the other, as the plot of the gradients showed):
# log(1 - D) is flat there. Adam divides each update by the running size of the gradients, which
# lets even the weak signal move G in this small problem, so compare the first steps; with plain
# SGD the first updates of the saturating generator would be smaller by the same factor. The
# discriminator's head start also costs both generators the second mode: in our runs both ended on
# one side only (the printed fractions of samples with x > 0 are 0 or 1).

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 3: with disjoint supports the value is flat: no gradient for the generator
uniform = lambda a: ((xs >= a) & (xs <= a + 1)).double()   # noqa: E731   density of U[a, a + 1]
for mu in (0.0, 0.5, 1.5, 2.0, 3.0, 5.0):
    v, _ = value_at_optimum(uniform(0.0), uniform(mu))
    print(f"mu = {mu:3.1f}: V(D*, G) = {v:8.4f}   (2 log 2 - log 4 = 0)")
# As soon as the supports do not overlap (mu > 1), D* is 1 on the data and 0 on the fakes, the JSD is
# log 2 and V = 0 whatever mu is: moving the generator closer changes nothing, so its gradient is zero.
# Real images lie near thin manifolds that rarely overlap early in training; this is the motivation of
# the Wasserstein GAN (Arjovsky et al. 2017), whose distance keeps decreasing as mu approaches 0.
