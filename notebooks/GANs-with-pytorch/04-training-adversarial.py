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
# # GANs with PyTorch, part 4: adversarial training, from a to e
#
# **You will learn to**
#
# - (a) load PacGAN's two toy sets, eight Gaussians on a ring and twenty-five on a grid;
# - (b) write a generator and a discriminator as small MLPs in plain PyTorch;
# - (c) write the adversarial training loop yourself: the non-saturating loss, two Adam optimisers;
# - (d) watch training: the discriminator's decision surface with the real points and the
#   generated ones, as snapshots and as an animated GIF;
# - (e) measure the result with PacGAN's protocol (modes captured, share of high-quality
#   samples), make a GAN collapse on purpose, measure the collapse, undo it with the usual GAN
#   hacks, then compare with the library's one-liner and look at how the generator divides its
#   latent space between the modes.
#
# **Time:** about 40 minutes to read and run. Under a minute with `LATENTSPACE_FAST=1` (a few
# hundred steps per training, to check that everything runs: the figures of fast mode are of
# undertrained GANs, and the numbers say little); about 5 minutes without (the library's GAN
# takes about two of them), on two CPU cores.
#
# **You need:** parts 1 to 3 (`01-discriminator`, `02-training-SGD`, `03-generator`), or PyTorch
# basics (tensors, `nn.Module`, an optimiser step); the loss is derived below. This notebook runs
# on its own. `notebooks/README.md` says how to run this file as a script or open it as a notebook.

# %% [markdown]
# ## The plan
#
# A generative adversarial network (GAN; Goodfellow et al. 2014) is two networks trained against
# each other. The **generator** $G$ turns random noise $z \sim \mathcal N(0, I)$ into a data point
# $G(z)$. The **discriminator** $D$ looks at a point and says how likely it is to be real. $D$ is
# trained to tell real points from generated ones; $G$ is trained to fool $D$. If both play well,
# $G$'s points end up distributed like the data.
#
# Two-dimensional data are the best place to learn this: we can draw everything, including what
# $D$ thinks of every point of the plane. And PacGAN's toy sets (Lin et al. 2018, following
# VEEGAN, Srivastava et al. 2017) come with a protocol to measure the result: how many of the
# modes the generator found, and how many of its points are close to a mode.

# %%
# ruff: noqa: E402   (imports appear where they are first needed, as in any notebook)
import os
import tempfile
import time
from pathlib import Path

import latentspace as ls   # before torch: latentspace tells torch's idle threads not to hog shared cores
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

FAST = os.environ.get("LATENTSPACE_FAST") == "1"   # a few hundred steps per training: checks that everything runs
print("fast mode: the GANs below are undertrained" if FAST else "full mode")

FILES = Path(tempfile.mkdtemp(prefix="latentspace-gan2d-"))   # the animation goes here
print("writing the animation to", FILES)

THREADS = torch.get_num_threads()
torch.set_num_threads(1)   # tiny networks: a step is too little work to share between threads

# %% [markdown]
# ## (a) The data
#
# - `ring8`: eight Gaussians with centres evenly spaced on the unit circle, standard deviation
#   $\sigma = 0.01$;
# - `grid25`: twenty-five Gaussians with centres on $\{-4, -2, 0, 2, 4\}^2$, $\sigma = 0.05$.
#
# Both are equal-weight mixtures, exactly as in PacGAN. Each set has 50,000 training points and
# 10,000 held-out ones, and knows its own centres and $\sigma$ (`data.info.extra`), which the
# metrics of part (e) need. The modes are very narrow: a point counts as a good sample only
# within $3\sigma$ of a centre.

# %%
ring = ls.data.load("ring8")
grid = ls.data.load("grid25")
for d in (ring, grid):
    print(f"{d.name}: {len(d)} training points, {len(d.test)} held out, "
          f"{len(d.info.extra['modes'])} modes, sigma {d.info.extra['sigma']}")

fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
for ax, d in zip(axes, (ring, grid)):
    pts = d.to_data()[:5000]
    ax.scatter(pts[:, 0], pts[:, 1], s=1, c="0.3")
    ax.set_title(f"{d.name}: 5,000 of the training points")
    ax.set_aspect("equal")
plt.show()

# %% [markdown]
# Networks train best on inputs of order 1. We standardise: subtract the mean and divide by one
# common scale (one number for both coordinates, so that the circles stay round). The networks
# work in these *model-space* coordinates; every picture and every metric uses the original
# *data-space* ones. (`ls.data.load` has already done the same, per coordinate, in `data.x`; here
# we do it by hand.)

# %%
class Standardiser:
    """Data space <-> model space: subtract the mean, divide by one common scale."""

    def __init__(self, x):
        self.mean, self.scale = x.mean(0), x.std()

    def to_model(self, x):
        return (x - self.mean) / self.scale

    def to_data(self, x):
        return x * self.scale + self.mean


ring_std, grid_std = Standardiser(ring.to_data()), Standardiser(grid.to_data())
x_ring, x_grid = ring_std.to_model(ring.to_data()), grid_std.to_model(grid.to_data())
print("ring8 scale", float(ring_std.scale), "| grid25 scale", float(grid_std.scale))
print("grid25 sigma in model space:", grid.info.extra["sigma"] / float(grid_std.scale))

# %% [markdown]
# ## (b) The two networks
#
# Both are multilayer perceptrons (MLPs). The generator maps a noise vector $z$ (two numbers
# here, so that we can draw its input space later) through two hidden layers of 128 ReLU units
# to a point in the plane. The discriminator maps a point through two hidden layers of 128
# LeakyReLU units (slope 0.2 for negative inputs, so that some gradient always flows back to
# $G$) to one number, a **logit** $D(x)$: $\sigma(D(x)) = 1/(1 + e^{-D(x)})$ is its probability
# that $x$ is real.
#
# The discriminator takes `2 * pac` inputs: with `pac = 1` one point; part (e) uses PacGAN's
# *packing*, where it judges `pac` points at once.

# %%
def mlp(sizes, act):
    """Linear layers of the given sizes with the activation ``act`` between them (none after the last)."""
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), act()]
    return nn.Sequential(*layers[:-1])


def make_generator(z_dim=2, hidden=128, layers=2):
    return mlp([z_dim] + [hidden] * layers + [2], nn.ReLU)


def make_discriminator(hidden=128, layers=2, pac=1):
    return mlp([2 * pac] + [hidden] * layers + [1], lambda: nn.LeakyReLU(0.2))


G, D = make_generator(), make_discriminator()
print(G)
print(D)
print("parameters: G", sum(p.numel() for p in G.parameters()), "| D", sum(p.numel() for p in D.parameters()))

# %% [markdown]
# ## (c) The adversarial loop
#
# For a batch of real points $x$ and of noise $z$, the discriminator minimises the binary
# cross-entropy of telling them apart, real labelled 1 and generated labelled 0:
#
# $$L_D = -\mathbb E_x \log \sigma(D(x)) - \mathbb E_z \log\big(1 - \sigma(D(G(z)))\big).$$
#
# The original game has the generator *maximise* that same loss, i.e. minimise
# $\mathbb E_z \log(1 - \sigma(D(G(z))))$. Early in training $D$ rejects generated points easily,
# $\sigma(D(G(z))) \approx 0$, and this term is flat there: $G$ gets almost no gradient.
# Goodfellow et al. (2014) therefore train $G$ on the **non-saturating** loss instead,
#
# $$L_G = -\mathbb E_z \log \sigma(D(G(z))),$$
#
# which has the same fixed point but a strong gradient exactly when $G$ is losing.
# `F.binary_cross_entropy_with_logits(logits, targets)` computes both from the logits in a
# numerically stable way.
#
# Each step: one Adam step on $D$ (with $G$'s points detached, so no gradient reaches $G$), then
# one Adam step on $G$, whose loss is computed through $D$ (that backward pass also leaves
# gradients on $D$'s weights, but only $G$'s optimiser steps, and $D$'s gradients are cleared
# before its next step). The settings are ours, chosen on these toy sets, as in the library's
# recipe for points: Adam with learning rate $10^{-3}$ and $\beta_1 = 0$ (no momentum, which in a
# game tends to make the players overshoot and circle each other), a learning rate that decays
# linearly to 0 (which sharpens the samples late in training), batches of 256.
#
# `pac`, `instance_noise` and `label_smoothing` are GAN *hacks* for part (e), all off by default.
# Every `every` steps the loop records a **snapshot**: generated points and $D$'s values on a
# grid of the plane, for the pictures of part (d).

# %%
def train_gan(x, steps, *, z_dim=2, g_hidden=128, d_hidden=128, d_layers=2, lr_g=1e-3, lr_d=1e-3,
              betas=(0.0, 0.9), batch=256, lr_decay=True, seed=0,
              pac=1, instance_noise=0.0, label_smoothing=0.0, every=0, grid_pts=None):
    """Train a GAN on model-space points ``x`` (n, 2); returns G, D, the losses and the snapshots."""
    torch.manual_seed(seed)
    G = make_generator(z_dim, g_hidden)
    D = make_discriminator(d_hidden, d_layers, pac)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr_g, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr_d, betas=betas)
    decay = (lambda step: 1 - step / steps) if lr_decay else (lambda step: 1.0)
    schedules = [torch.optim.lr_scheduler.LambdaLR(opt, decay) for opt in (opt_g, opt_d)]
    losses, snapshots = [], []
    z_fixed = torch.randn(1000, z_dim, generator=torch.Generator().manual_seed(1))   # the same z in every snapshot

    def seen(points, noise_std):
        """What D sees: points with instance noise, packed ``pac`` at a time (batch*pac, 2) -> (batch, 2*pac)."""
        return (points + noise_std * torch.randn_like(points)).reshape(-1, 2 * pac)

    for step in range(steps + 1):
        if every and step % every == 0:   # a snapshot before the step (step 0: the untrained networks)
            with torch.no_grad():
                on_grid = grid_pts is not None and pac == 1   # a packing D judges groups of points, not one
                d_grid = torch.sigmoid(D(grid_pts)).reshape(-1) if on_grid else None
                snapshots.append({"step": step, "fake": G(z_fixed), "d": d_grid})
        if step == steps:
            break
        noise_std = instance_noise * max(0.0, 1 - 2 * step / steps)   # annealed to 0 at half the run

        # discriminator step: real -> 1 (or 1 - label_smoothing), generated -> 0
        real = x[torch.randint(len(x), (batch * pac,))]
        fake = G(torch.randn(batch * pac, z_dim))
        d_real, d_fake = D(seen(real, noise_std)), D(seen(fake.detach(), noise_std))
        loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, 1 - label_smoothing))
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()

        # generator step, non-saturating: make D call the generated points real
        d_fake = D(seen(fake, noise_std))
        loss_g = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()

        for s in schedules:
            s.step()
        losses.append((loss_d.item(), loss_g.item()))
    return G, D, np.array(losses), snapshots


# %% [markdown]
# Now train on the ring. A grid of 120 x 120 points over the plane (in model space) is where the
# snapshots record $D$'s opinion.

# %%
def plane(std, lim, n=120):
    """A square grid of n x n points over [-lim, lim]^2 (data space), and the same in model space."""
    u = torch.linspace(-lim, lim, n)
    pts = torch.stack(torch.meshgrid(u, u, indexing="xy"), -1).reshape(-1, 2)
    return pts, std.to_model(pts)


RING_STEPS = 400 if FAST else 4000
ring_plane, ring_plane_model = plane(ring_std, 1.5)
t0 = time.perf_counter()
G_ring, D_ring, ring_losses, ring_snaps = train_gan(x_ring, RING_STEPS, every=RING_STEPS // 20,
                                                     grid_pts=ring_plane_model)
print(f"{RING_STEPS} steps in {time.perf_counter() - t0:.1f} s, {len(ring_snaps)} snapshots")

# %% [markdown]
# ## (d) Watching it train
#
# The losses first. In a GAN they are not a progress bar: the two losses pull against each other,
# and at the game's equilibrium $D$ outputs $\sigma = 1/2$ everywhere, where $L_D = 2\log 2
# \approx 1.39$ and $L_G = \log 2 \approx 0.69$ (dashed). In our full-mode run they stayed near
# those values all along: $D$ gained a small edge in the first thousand steps and lost it again as
# the generated points settled on the modes. Nothing in them says how good the samples are; the
# pictures below do.

# %%
fig, ax = plt.subplots(figsize=(7, 3))
smooth = np.ones(25) / 25
for i, name in enumerate(("discriminator $L_D$", "generator $L_G$")):
    ax.plot(np.convolve(ring_losses[:, i], smooth, mode="valid"), label=name)
for level in (2 * np.log(2), np.log(2)):
    ax.axhline(level, ls="--", c="0.5", lw=0.8)
ax.set_xlabel("step")
ax.set_title("ring8: the two losses (moving average over 25 steps)")
ax.legend()
plt.show()

# %% [markdown]
# The pictures tell more. Each panel below is a snapshot: the colour is $\sigma(D(x))$ at every
# point of the plane (red: $D$ says real, blue: $D$ says generated, white: $D$ cannot tell), grey
# dots are real points, black dots generated ones. The generator's points move *uphill* on this
# surface, towards where $D$ says "real"; $D$ then learns that those places hold generated points
# too, and the surface changes under them. (These snapshots use 1,000 fixed noise vectors, so the
# same points can be followed from panel to panel.)

# %%
def draw_snapshot(ax, snap, d, std, plane_pts, lim):
    """D's decision surface, real points and generated points of one snapshot, in data space."""
    if snap["d"] is not None:   # (none for a packing discriminator)
        n = int(np.sqrt(len(plane_pts)))
        u = plane_pts[:n, 0].numpy()
        ax.contourf(u, u, snap["d"].reshape(n, n).numpy(), levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.8)
    real = d.to_data()[:1000]
    ax.scatter(real[:, 0], real[:, 1], s=2, c="0.55")
    fake = std.to_data(snap["fake"])
    ax.scatter(fake[:, 0], fake[:, 1], s=2, c="k")
    ax.set_xlim(-lim, lim), ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(f"step {snap['step']}", fontsize=9)


picks = np.linspace(0, len(ring_snaps) - 1, 6).round().astype(int)
fig, axes = plt.subplots(1, 6, figsize=(15, 2.9))
for ax, i in zip(axes, picks):
    draw_snapshot(ax, ring_snaps[i], ring, ring_std, ring_plane, 1.5)
fig.suptitle("ring8: D's surface (red: 'real', blue: 'generated'), real points (grey), generated points (black)"
             + (" — fast mode: undertrained" if FAST else ""))
plt.show()

# %% [markdown]
# The same snapshots as an animation: matplotlib's `FuncAnimation` redraws one snapshot per
# frame, and `PillowWriter` saves the frames as a GIF (into the temporary folder printed at the
# start). In Jupyter it plays below; from a script, open the file.

# %%
from matplotlib.animation import FuncAnimation, PillowWriter

fig, ax = plt.subplots(figsize=(4, 4))


def frame(i):
    ax.clear()
    draw_snapshot(ax, ring_snaps[i], ring, ring_std, ring_plane, 1.5)


anim = FuncAnimation(fig, frame, frames=len(ring_snaps))
gif = FILES / "ring8-training.gif"
anim.save(gif, writer=PillowWriter(fps=4), dpi=70)
plt.close(fig)
print("animation:", gif)
try:
    from IPython import get_ipython
    from IPython.display import Image, display
    if get_ipython() is not None:   # inside Jupyter (or IPython): show it
        display(Image(filename=str(gif)))
except ImportError:                 # no IPython: the path above is all there is
    pass

# %% [markdown]
# What to look for, in full mode: at step 0 the generator's points sit in a small blob near the
# centre and $D$ is undecided (pale everywhere). A few hundred steps later the blob has stretched
# into a ring, and $D$ says "generated" (blue) nearly everywhere except on the real modes. Then
# the generated points gather on the modes, and there $D$'s surface turns pale: where real and
# generated points overlap it can no longer tell them apart, which is what the generator wants.
# Far from any point $D$'s colour means nothing: it was never trained there. Thin trails of
# generated points between modes often remain: the generator is a *continuous* map from the
# noise plane to the data plane, so to reach eight separate islands it must draw lines between
# them, and it can only make them thinner. (In fast mode the run stops early in that story.)

# %% [markdown]
# ## (e) Evaluation: PacGAN's protocol
#
# Draw 2,500 samples. A sample is **high quality** if it lies within $3\sigma$ of the nearest
# mode centre; a mode is **captured** if at least one high-quality sample has it as its nearest
# centre. The **reverse KL** compares the histogram $p$ of the high-quality samples over the $K$
# modes with the uniform one: $\sum_i p_i \log(K p_i)$, 0 for perfectly balanced modes and
# $\log K$ for total collapse. `ls.metrics.toy2d_metrics` implements this (it is what
# `latentspace evaluate` reports on `ring8` and `grid25`). Its **floor** is the same score for
# 2,500 real held-out points: the best a model can hope for.

# %%
from latentspace.metrics import toy2d_metrics


@torch.no_grad()
def gan_samples(G, std, n=2500, z_dim=2, seed=0):
    """n samples of a hand-made generator, in data space."""
    return std.to_data(G(torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))))


def pacgan_scores(x, d):
    m = toy2d_metrics(x, d.info.extra["modes"], d.info.extra["sigma"])
    return (f"{m['modes_captured']:2d}/{m['modes_total']} modes, {100 * m['high_quality_fraction']:5.1f}% "
            f"high quality, reverse KL {m['reverse_kl']:.3f}")


print("ring8, our GAN:          ", pacgan_scores(gan_samples(G_ring, ring_std), ring))
print("ring8, real held out:    ", pacgan_scores(ring.test.to_data()[:2500], ring))

# %% [markdown]
# In our full-mode run (4,000 steps) the ring GAN captured all 8 modes with 85% of its samples high
# quality, against 98.7% for real points: the rest are the trails between modes.
#
# Now the grid, with the same loop and settings but more steps: 25 modes, spread over a larger
# square, take longer to find and to sharpen. We also follow the two scores over training.

# %%
GRID_STEPS = 600 if FAST else 8000
grid_plane, grid_plane_model = plane(grid_std, 5.5)
t0 = time.perf_counter()
G_grid, D_grid, grid_losses, grid_snaps = train_gan(x_grid, GRID_STEPS, every=GRID_STEPS // 10,
                                                     grid_pts=grid_plane_model)
print(f"{GRID_STEPS} steps in {time.perf_counter() - t0:.1f} s")
print("grid25, our GAN:         ", pacgan_scores(gan_samples(G_grid, grid_std), grid))
print("grid25, real held out:   ", pacgan_scores(grid.test.to_data()[:2500], grid))

# %%
def scores_over_training(snaps, std, d):
    """Modes captured and high-quality fraction of each snapshot's 1,000 points."""
    out = [toy2d_metrics(std.to_data(s["fake"]), d.info.extra["modes"], d.info.extra["sigma"]) for s in snaps]
    return [s["step"] for s in snaps], [m["modes_captured"] for m in out], [m["high_quality_fraction"] for m in out]


steps_seen, modes_seen, hq_seen = scores_over_training(grid_snaps, grid_std, grid)
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), gridspec_kw={"width_ratios": [1, 1, 1.1]})
axes[0].plot(steps_seen, modes_seen, "o-")
axes[0].set_title("modes captured (of 25)")
axes[1].plot(steps_seen, hq_seen, "o-", c="C1")
axes[1].set_title("high-quality fraction")
for ax in axes[:2]:
    ax.set_xlabel("step")
draw_snapshot(axes[2], grid_snaps[-1], grid, grid_std, grid_plane, 5.5)
axes[2].set_title(f"grid25 after {GRID_STEPS} steps", fontsize=9)
plt.show()

# %% [markdown]
# Read the printed numbers against PacGAN's table (Lin et al. 2018, as quoted in the README):
# their vanilla GAN captured 17.3 of 25 modes on average, with 94.8% high-quality samples. Our
# full-mode run (8,000 steps, seed 0) captured 25 of 25 modes with 86% of its samples high
# quality; the rest lie on thin trails between modes. The curves show the order of events: the
# modes are found first, then the samples sharpen as the learning rate decays. What made a plain
# GAN work here is not one of the famous hacks but the optimiser: $\beta_1 = 0$ and a decaying
# learning rate.

# %% [markdown]
# ### Mode collapse, on purpose
#
# The best-known failure of GANs is **mode collapse**: the generator puts all its points on one
# mode, or a few, because fooling the discriminator there is enough for now. The discriminator
# then learns that this mode is suspect, the generator moves on to another, and the two chase
# each other round the plane. Metz et al. (2017, *Unrolled GANs*) showed exactly this on a ring
# of Gaussians. We reproduce it by changing our settings towards theirs:
#
# - noise of 256 dimensions instead of 2, a discriminator with one hidden layer instead of two;
# - Adam with $\beta_1 = 0.5$, $\beta_2 = 0.999$ (the DCGAN defaults, Radford et al. 2016) and
#   no learning-rate decay; batches of 512.
#
# With these, in our runs on grid25 the generator made one blob that wandered over the grid and
# never split, whatever the seed (we tried two): one to four modes captured, a few percent of
# high-quality points.

# %%
COLLAPSE = dict(z_dim=256, d_layers=1, betas=(0.5, 0.999), lr_decay=False, batch=512)
HACK_STEPS = 300 if FAST else 3000
t0 = time.perf_counter()
G_bad, _, _, bad_snaps = train_gan(x_grid, HACK_STEPS, every=HACK_STEPS // 5, grid_pts=grid_plane_model, **COLLAPSE)
print(f"{HACK_STEPS} steps in {time.perf_counter() - t0:.1f} s")
print("grid25, collapsing settings:", pacgan_scores(gan_samples(G_bad, grid_std, z_dim=256), grid))

fig, axes = plt.subplots(1, len(bad_snaps) - 1, figsize=(3 * (len(bad_snaps) - 1), 3.1))
for ax, snap in zip(axes, bad_snaps[1:]):
    draw_snapshot(ax, snap, grid, grid_std, grid_plane, 5.5)
fig.suptitle("collapsing settings: the generated points (black)" + (" (fast mode: undertrained)" if FAST else ""))
plt.show()

# %% [markdown]
# ### The GAN hacks
#
# Many tricks have been proposed against collapse. Three of them, each added by itself to the
# collapsing settings (our loop has them as options):
#
# - **PacGAN packing** (`pac=4`; Lin et al. 2018): $D$ judges four points at once, concatenated.
#   Four real points usually come from four different modes; four points of a collapsed
#   generator all sit in the same place, which $D$ sees at once. Collapse becomes a losing move.
# - **Instance noise** (`instance_noise=0.1`, model space; Sønderby et al. 2017, Arjovsky & Bottou
#   2017): Gaussian noise on every point $D$ sees, annealed to 0 at half the run. It blurs real
#   and generated distributions until they overlap, so $D$'s surface is smooth and points the
#   generator towards every mode.
# - **The optimiser**: our recipe's $\beta_1 = 0$, a decaying learning rate, and a discriminator
#   three times as fast as the generator (`lr_d=3e-3`: the *two time-scale update rule*, Heusel
#   et al. 2017), so that $D$ tracks the generator instead of lagging behind it.
#
# Others are one line each in the same loop: **one-sided label smoothing** (`label_smoothing=0.1`,
# Salimans et al. 2016: real targets 0.9, so that $D$ never becomes certain), minibatch
# discrimination (Salimans et al. 2016), larger batches. Exercise 1 tries label smoothing.

# %%
HACKS = {"PacGAN, pac=4": dict(pac=4),
         "instance noise 0.1": dict(instance_noise=0.1),
         "beta1=0, decay, lr_d=3e-3": dict(betas=(0.0, 0.9), lr_decay=True, lr_d=3e-3)}
hacked = {}
for name, hack in HACKS.items():
    t0 = time.perf_counter()
    G_h, _, _, snaps = train_gan(x_grid, HACK_STEPS, every=HACK_STEPS, grid_pts=grid_plane_model,
                                 **{**COLLAPSE, **hack})
    hacked[name] = (G_h, snaps[-1])
    print(f"{name:27s} {pacgan_scores(gan_samples(G_h, grid_std, z_dim=256), grid)}"
          f"   ({time.perf_counter() - t0:.0f} s)")

fig, axes = plt.subplots(1, len(hacked), figsize=(4 * len(hacked), 4))
for ax, (name, (_, snap)) in zip(axes, hacked.items()):
    draw_snapshot(ax, snap, grid, grid_std, grid_plane, 5.5)
    ax.set_title(f"collapsing settings + {name}", fontsize=9)
plt.show()

# %% [markdown]
# In our full-mode run (seed 0, 3,000 steps each) the collapsing settings captured 1 mode of 25.
# Packing raised that to 13 and the optimiser to 21: both broke the collapse, and the generator
# spread over the grid. Instance noise alone did not (2 modes): the blob stayed a blob. None of
# them made the samples *sharp* in 3,000 steps: the high-quality fraction stayed at a few
# percent, the points a haze over the grid. Breaking a collapse and sharpening the modes are two
# different jobs; the second needs a longer run with a decaying learning rate (our 8,000-step run
# above), or the library's extra tricks below.

# %% [markdown]
# ### The library's GAN
#
# `ls.models.create("gan")` on points is the same game (non-saturating loss, MLPs) with a recipe
# measured on grid25 (`src/latentspace/models/gan_recipes.py`, `docs/gan-grid25.md`): MLPs of 3 x
# 256 units and 8-dimensional noise; Adam $10^{-3}$ for $G$ and $3 \cdot 10^{-3}$ for $D$ with
# $\beta = (0, 0.9)$ and linear decay, as ours; instance noise 0.1 annealed over the first half;
# an exponential moving average of $G$'s weights for sampling (Yazıcı et al. 2019); **top-k
# training** (Sinha et al. 2020: late in the run $G$ learns only from the half of its batch that
# $D$ rates best, so the points between modes stop pulling good points off their modes); and,
# when sampling, **discriminator rejection sampling** (Azadi et al. 2019): a well-trained $D$'s
# logit estimates $\log p_\text{data}(x)/p_G(x)$, so keeping each generated point with probability
# $\exp(D(x) - D_\max)$ removes the points on the trails between modes. The README reports 25/25
# modes and about 95% high quality on grid25 in about two minutes on two cores with the
# defaults (12,000 steps). The one-liner:

# %%
torch.set_num_threads(THREADS)   # the library's networks are larger: give it every core again
LIB_STEPS = 400 if FAST else None   # None: the recipe's 12,000 steps
t0 = time.perf_counter()
gan = ls.models.create("gan").fit(grid, steps=LIB_STEPS, seed=0, progress=False)
print(f"library gan trained in {time.perf_counter() - t0:.0f} s")
# PacGAN's protocol among the other scores; 2,500 samples (fast mode: 500, the kernel scores are slow)
result = ls.metrics.evaluate(gan, grid, n=500 if FAST else 2500, seed=0)
print(ls.metrics.format_results(result))

# %% [markdown]
# `evaluate` prints every score beside its floor. The last rows are PacGAN's (modes captured,
# high quality, reverse KL); the others (Fréchet distance, precision and recall, MMD, a
# classifier two-sample test) are explained in `99-gans-vs-vaes`. Rejection sampling is in
# `sample`; `decode(z)` gives the plain generator, so we can see what the rejection step adds:

# %%
z = torch.randn(2500, gan.latent_width(), generator=torch.Generator().manual_seed(0))
print("library gan, plain generator (decode):   ", pacgan_scores(gan.decode(z), grid))
print("library gan, with rejection (sample):    ", pacgan_scores(gan.sample(2500, seed=0), grid))
print(f"rejection sampling kept {100 * gan.acceptance_:.1f}% of the generator's points")

# %% [markdown]
# In our full-mode run (12,000 steps, seed 0) the library's GAN captured 25 of 25 modes with 95.6%
# of its samples high quality, the README's figure. Its plain generator alone reached 23 modes
# with 82% high quality: rejection sampling brought the last two modes into the count and removed
# most of the points between modes. It kept about 2% of the generator's points, so 2,500 samples
# cost about 125,000 generator passes, cheap for 2-D points. Compare with our 8,000-step hand-made
# GAN above: the loop is the same game; the difference is a bigger network, longer training and
# the tricks that fix the last few percent. In fast mode the library's GAN trains 400 steps
# instead of 12,000 and its scores are far from these.

# %% [markdown]
# ## Looking at the latent space
#
# Which noise vectors $z$ land on which mode? Our hand-made grid25 generator has a 2-D noise, so
# we can colour its whole input plane: each $z$ gets the colour of the mode its point $G(z)$ lands
# on, white if $G(z)$ is not within $3\sigma$ of any mode. On the right, the modes in the same
# colours. The noise is $\mathcal N(0, I)$, so most samples come from the disc of radius 2.

# %%
def mode_colours(x, d):
    """An RGB colour per data-space point: that of its nearest mode (a 2-D colour map), white if not high quality."""
    modes = torch.tensor(d.info.extra["modes"], dtype=torch.float32)
    dist = torch.cdist(x.float(), modes)
    nearest = dist.argmin(1)
    lo, hi = modes.min(0).values, modes.max(0).values
    uv = ((modes - lo) / (hi - lo).clamp_min(1e-9)).numpy()          # each mode's place in [0, 1]^2
    palette = np.stack([uv[:, 0], 0.3 + 0.5 * uv[:, 1], 1 - uv[:, 0]], 1)
    colours = palette[nearest.numpy()]
    colours[(dist.min(1).values >= 3 * d.info.extra["sigma"]).numpy()] = 1.0
    return colours, palette


n = 300
u = torch.linspace(-3, 3, n)
z_plane = torch.stack(torch.meshgrid(u, u, indexing="xy"), -1).reshape(-1, 2)
with torch.no_grad():
    landed = grid_std.to_data(G_grid(z_plane))
colours, palette = mode_colours(landed, grid)
print(f"{100 * (colours < 1).any(1).mean():.0f}% of the z-plane [-3, 3]^2 lands within 3 sigma of a mode")

fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
axes[0].imshow(colours.reshape(n, n, 3), origin="lower", extent=(-3, 3, -3, 3))
axes[0].add_patch(plt.Circle((0, 0), 2, fill=False, ls="--", color="k"))
axes[0].set_title("our generator's z-plane: colour of the mode G(z) lands on", fontsize=10)
axes[0].set_xlabel("$z_1$"), axes[0].set_ylabel("$z_2$")
modes = np.array(grid.info.extra["modes"])
axes[1].scatter(modes[:, 0], modes[:, 1], c=palette, s=250)
axes[1].set_title("the 25 modes, in the same colours", fontsize=10)
axes[1].set_aspect("equal")
plt.show()

# %% [markdown]
# In our full-mode run the z-plane is cut into regions, one per mode, with white borders between
# them: the borders are the $z$ that land on the trails between modes. The generator has to cut a
# plane of Gaussian noise into 25 pieces and stretch each onto its mode; the thinner the white
# borders, the higher the high-quality fraction (the share of the plane printed above is not
# the high-quality fraction itself: that weights each $z$ by its probability under the noise). A
# missing colour would be a missing mode, a large region an over-represented one. This
# generator kept the grid's order: two families of parallel cuts make a skewed 5 x 5 grid of
# regions. It need not: any assignment of regions to modes gives the same distribution, and
# other seeds fold the plane differently. (In fast mode the regions are still slivers.)
#
# The library's generator has 8-dimensional noise; we can colour a 2-D slice through it, the
# plane spanned by two random directions through $z = 0$. Its `decode` is the plain generator,
# without rejection sampling.

# %%
torch.manual_seed(0)
basis = torch.linalg.qr(torch.randn(gan.latent_width(), 2)).Q.T      # two orthonormal directions in z-space
landed = gan.decode(z_plane @ basis)
colours, _ = mode_colours(landed, grid)
fig, ax = plt.subplots(figsize=(4.6, 4.6))
ax.imshow(colours.reshape(n, n, 3), origin="lower", extent=(-3, 3, -3, 3))
ax.set_title("library gan: a 2-D slice of its 8-D z-space", fontsize=10)
ax.set_xlabel("along direction 1"), ax.set_ylabel("along direction 2")
plt.show()

# %% [markdown]
# A slice shows only the modes whose regions it crosses; in our run this one crossed most of
# them, again as strips cut by nearly parallel white borders. Every region is still bordered by
# $z$ that land between modes: that is the part rejection sampling throws away.
#
# **What to remember.** A GAN is a few dozen lines of PyTorch; making it *work* is about the
# optimiser and a handful of tricks, and only a measurement (here PacGAN's protocol) says whether
# it did: the losses do not. Mode collapse is real, easy to cause, and detected by counting modes.

# %% [markdown]
# ## Exercises
#
# 1. **Label smoothing.** Add one-sided label smoothing (`label_smoothing=0.1`) to the collapsing
#    settings and measure the result as above. Does it break the collapse?
# 2. **How much noise does the generator need?** Train our ring8 GAN with a 1-dimensional noise
#    (`z_dim=1`). Can a generator whose input is a line reach all 8 modes? What must its samples
#    look like between modes?
# 3. **Count modes over training.** The collapsing run's snapshots are in `bad_snaps`: print the
#    modes captured at each one (`scores_over_training`). Does the number grow, or wander?
#
# Solutions follow, in collapsed cells (click to expand them in Jupyter).

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 1: one-sided label smoothing on the collapsing settings
torch.set_num_threads(1)
G_ls, _, _, _ = train_gan(x_grid, HACK_STEPS, **COLLAPSE, label_smoothing=0.1)
print("collapsing settings + label smoothing 0.1:", pacgan_scores(gan_samples(G_ls, grid_std, z_dim=256), grid))
# Label smoothing keeps D from becoming certain, which softens its gradients, but it does not
# tell D anything about the *variety* of the generated points: in our runs the blob stayed a blob.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 2: a generator with 1-D noise on ring8
G_1d, _, _, _ = train_gan(x_ring, RING_STEPS, z_dim=1)
x_1d = gan_samples(G_1d, ring_std, z_dim=1)
print("ring8, 1-D noise:", pacgan_scores(x_1d, ring))
fig, ax = plt.subplots(figsize=(4, 4))
ax.scatter(*ring.to_data()[:1000].T, s=2, c="0.6")
ax.scatter(*x_1d.T, s=2, c="k")
ax.set_aspect("equal")
ax.set_title("1-D noise: one curve through the modes")
plt.show()
# G maps a line continuously into the plane: its samples lie on one curve, which can pass through
# every mode but must run between them, so some samples are always on the curve between modes.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 3: modes captured at each snapshot of the collapsing run
for step, modes_n, hq in zip(*scores_over_training(bad_snaps, grid_std, grid)):
    print(f"step {step:5d}: {modes_n:2d} modes, {100 * hq:4.1f}% high quality")
# In full mode the count stays low and jumps around as the blob moves: the generator visits modes
# one after another instead of covering them.
torch.set_num_threads(THREADS)
