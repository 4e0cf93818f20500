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
# # DCGAN: a convolutional GAN, built by hand
#
# **You will learn to**
#
# - state the game a generative adversarial network (GAN) plays, and why the generator is trained
#   on the "non-saturating" loss;
# - build a DCGAN generator and discriminator by hand in PyTorch, following the architecture
#   guidelines of Radford et al. (2016);
# - write the training loop yourself and watch samples take shape over training;
# - train the library's `dcgan` in one line, and measure both with the Fréchet distance on
#   features learnt from the data, beside the real-vs-real floor.
#
# **Time:** about 25 minutes to read and run. Under a minute with `LATENTSPACE_FAST=1` (tiny
# trainings, to check that everything runs); about 8 minutes without (trainings worth looking
# at), on two idle CPU cores, a few minutes more the first time (the evaluation's feature
# extractor is trained once, then cached).
#
# **You need:** Python, NumPy, and a first look at PyTorch (`nn.Module`, `loss.backward()`,
# an optimiser). No knowledge of GANs. `notebooks/README.md` says how to run this file as a
# script or open it as a notebook.

# %% [markdown]
# ## The game
#
# A GAN (Goodfellow et al. 2014) has two networks. The **generator** $G$ turns a random code
# $z \sim \mathcal N(0, I)$ into an item $G(z)$, here an image. The **discriminator** $D$ looks at
# an image and outputs a number, the logit of its belief that the image is real:
# $\sigma(D(x))$ is the probability it gives to "real", with $\sigma$ the logistic function.
#
# $D$ is trained as an ordinary classifier, real images against generated ones, by minimising
# the binary cross-entropy
#
# $$L_D = -\mathbb E_{x \sim p_\text{data}} \log \sigma(D(x)) - \mathbb E_{z} \log\big(1 - \sigma(D(G(z)))\big).$$
#
# $G$ is trained to fool it. In the original minimax game $G$ minimises
# $\mathbb E_z \log(1 - \sigma(D(G(z))))$; but early in training $D$ easily rejects the poor
# samples, $\sigma(D(G(z))) \approx 0$, and that loss is then flat: $G$ learns almost nothing.
# Goodfellow et al. proposed the **non-saturating** loss instead, with the same fixed point and
# strong gradients exactly where $G$ is bad:
#
# $$L_G = -\mathbb E_z \log \sigma(D(G(z))).$$
#
# (Exercise 2 measures the two gradients.) At the equilibrium of the game $G$ draws from the data
# distribution and $D$ can only guess, $\sigma(D(x)) = 1/2$ everywhere.

# %% [markdown]
# ## DCGAN's guidelines
#
# Early GANs used fully-connected networks and were hard to train on images. Radford, Metz &
# Chintala (2016) found an architecture that trains reliably, and stated it as guidelines:
#
# 1. no pooling: the discriminator shrinks images with **strided convolutions**, the generator
#    grows them with **transposed (fractionally-strided) convolutions**;
# 2. **batch normalisation** in both networks, except the generator's output layer and the
#    discriminator's input layer;
# 3. **no fully-connected hidden layers**;
# 4. **ReLU** in the generator, **tanh** at its output (images scaled to $[-1, 1]$);
# 5. **LeakyReLU** (slope 0.2) in the discriminator.
#
# And the training settings: weights drawn from $\mathcal N(0, 0.02)$, **Adam** with learning
# rate $2 \times 10^{-4}$ and $\beta_1 = 0.5$ (the default 0.9 made training oscillate), batches of
# 128 (we use 64, for the CPU).

# %%
# ruff: noqa: E402   (imports appear where they are first needed, as in any notebook)
import os
import time
from pathlib import Path

import latentspace as ls   # before torch: latentspace tells torch's idle threads not to hog shared cores
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FAST = os.environ.get("LATENTSPACE_FAST") == "1"   # tiny trainings: checks that everything runs
print("fast mode" if FAST else "full mode")
torch.manual_seed(0)

# %% [markdown]
# ## The data
#
# MNIST: 70,000 handwritten digits, 28 x 28 pixels (LeCun et al. 1998). Point `LATENTSPACE_MNIST_DIR`
# at a folder holding the four idx files, or put them where this workplace keeps them:
# `../../../shared/data/mnist` from this notebook. Without them the notebook uses scikit-learn's
# 8 x 8 `digits`, which ship with the library; everything below works on either size.
#
# `data.x` holds the images in *model space*, scaled to $[-1, 1]$ as tanh outputs are;
# `data.to_data(...)` maps them back to $[0, 1]$ for pictures.

# %%
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
MNIST_DIR = Path(os.environ.get("LATENTSPACE_MNIST_DIR", HERE / "../../../shared/data/mnist"))

if MNIST_DIR.is_dir():
    data = ls.data.load("mnist", data_dir=MNIST_DIR)
else:
    print(f"No MNIST at {MNIST_DIR}: using the embedded 8x8 digits instead (set LATENTSPACE_MNIST_DIR to use MNIST)")
    data = ls.data.load("digits")
print(data.summary())

x_all = data.x                                    # (n, 1, H, W), values in [-1, 1]
if FAST:
    x_all = x_all[:5000]                          # a subset: fast mode only checks that the code runs
SIZE = x_all.shape[-1]                            # 28 (MNIST) or 8 (digits)
print("training images", tuple(x_all.shape), "values from", float(x_all.min()), "to", float(x_all.max()))


def show_grid(x, ncols=8, title=None, ax=None):
    """Model-space images (n, 1, H, W) tiled into one picture."""
    grid = ls.plots.image_grid(data.to_data(x.detach().cpu()).clamp(0, 1), ncols=ncols)
    if ax is None:
        _, ax = plt.subplots(figsize=(ncols * 0.75, grid.shape[0] / grid.shape[1] * ncols * 0.75))
    ax.imshow(grid[..., 0], cmap="gray", vmin=0, vmax=255)
    ax.set_xticks([]), ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


show_grid(x_all[:32], title="real digits")
plt.show()

# %% [markdown]
# ## The generator: from a code to an image
#
# The code $z$ (64 numbers) is treated as a 64-channel image of 1 x 1 pixel. A first transposed
# convolution with a kernel as large as the smallest feature map (7 x 7 for MNIST, 4 x 4 for the
# 8 x 8 digits) spreads it out; then each transposed convolution of kernel 4, stride 2, padding 1
# doubles the height and width and halves the channels: 1 → 7 → 14 → 28 pixels. A transposed
# convolution is the backward pass of a strided convolution: every input pixel paints a weighted
# 4 x 4 patch onto an output twice as large. BatchNorm and ReLU follow every layer but the last,
# which ends in tanh.

# %%
LATENT = 64
WIDTH = 32                      # channels of the discriminator's first layer (DCGAN: 128; 32 is enough for digits)
N_UP = 2 if SIZE == 28 else 1   # stride-2 layers: 7 -> 14 -> 28, or 4 -> 8
BASE = SIZE // 2**N_UP          # the smallest feature map: 7 or 4


def make_generator():
    ch = WIDTH * 2**N_UP
    layers = [nn.ConvTranspose2d(LATENT, ch, BASE, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU()]
    for _ in range(N_UP - 1):
        layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU()]
        ch //= 2
    layers += [nn.ConvTranspose2d(ch, 1, 4, 2, 1), nn.Tanh()]      # no BatchNorm at the output
    return nn.Sequential(*layers)


def trace_shapes(net, x):
    """Print the shape after each layer (a picture of the architecture)."""
    print(f"{'input':<22} {tuple(x.shape)}")
    for layer in net:
        x = layer(x)
        print(f"{type(layer).__name__:<22} {tuple(x.shape)}")


G = make_generator()
trace_shapes(G, torch.randn(2, LATENT, 1, 1))

# %% [markdown]
# ## The discriminator: from an image to one logit
#
# The mirror image: convolutions of kernel 4, stride 2, padding 1 halve the size (28 → 14 → 7),
# LeakyReLU with slope 0.2 keeps a small gradient for negative inputs, BatchNorm on every layer but
# the first. The last layer is a convolution as large as its input: one number per image, the
# logit. There is no sigmoid in the network: `F.binary_cross_entropy_with_logits` applies it inside
# the loss, which is numerically safer.

# %%
def make_discriminator():
    ch = WIDTH
    layers = [nn.Conv2d(1, ch, 4, 2, 1), nn.LeakyReLU(0.2)]       # no BatchNorm at the input
    for _ in range(N_UP - 1):
        layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2)]
        ch *= 2
    layers += [nn.Conv2d(ch, 1, BASE), nn.Flatten()]              # (n, 1): one logit per image
    return nn.Sequential(*layers)


def dcgan_init(module):
    """DCGAN's initialisation: conv weights from N(0, 0.02), BatchNorm scales from N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


D = make_discriminator()
trace_shapes(D, torch.randn(2, 1, SIZE, SIZE))
print(f"parameters: generator {sum(p.numel() for p in G.parameters()):,}, "
      f"discriminator {sum(p.numel() for p in D.parameters()):,}")

# %% [markdown]
# ## The training loop
#
# One step trains each network once on a batch of 64:
#
# 1. **discriminator**: real images with target 1, generated images with target 0. The generated
#    images are `detach()`ed: this step must not change $G$.
# 2. **generator**: the same generated images, now with target 1: the non-saturating loss
#    $-\log \sigma(D(G(z)))$. Its gradient flows *through* $D$ into $G$; only $G$'s optimiser steps.
#
# The real and the generated batch go through $D$ in **separate** calls. With BatchNorm in $D$, a
# mixed batch would let $D$ tell the two apart by their batch statistics instead of by looking at
# each image (the library's own discriminator uses a per-item normalisation instead, see below).
#
# We keep 16 fixed codes and draw their images every few steps, to watch the same codes turn into
# digits. The loop also records the losses and the discriminator's mean belief $\sigma(D)$ on real
# and on generated images.

# %%
STEPS = 40 if FAST else 1500        # fast mode: the networks are barely trained
BATCH = 64
SNAPSHOTS = sorted({0, STEPS // 20, STEPS // 6, STEPS // 2, STEPS})


def train_dcgan(G, D, x, steps, batch=BATCH, seed=0, snapshots=(), lr=2e-4, beta1=0.5):
    """The DCGAN loop: returns the history (losses, beliefs) and the fixed codes' images at `snapshots`."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    G.apply(dcgan_init), D.apply(dcgan_init)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(beta1, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(beta1, 0.999))
    fixed_z = torch.randn(16, LATENT, 1, 1, generator=gen)
    history = {"loss_d": [], "loss_g": [], "d_real": [], "d_fake": []}
    pictures = {}
    for step in range(steps + 1):
        if step in snapshots:
            G.eval()                                   # BatchNorm's running statistics: no batch mixing
            with torch.no_grad():
                pictures[step] = G(fixed_z)
            G.train()
        if step == steps:
            break
        real = x[torch.randint(len(x), (batch,), generator=gen)]
        fake = G(torch.randn(batch, LATENT, 1, 1, generator=gen))

        # 1. the discriminator: real -> 1, generated -> 0 (two separate forward passes)
        d_real, d_fake = D(real), D(fake.detach())
        loss_d = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()

        # 2. the generator: make D say "real" (the non-saturating loss)
        d_gen = D(fake)
        loss_g = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()

        history["loss_d"].append(loss_d.item())
        history["loss_g"].append(loss_g.item())
        history["d_real"].append(torch.sigmoid(d_real).mean().item())
        history["d_fake"].append(torch.sigmoid(d_fake).mean().item())
    return history, pictures


t0 = time.perf_counter()
history, pictures = train_dcgan(G, D, x_all, STEPS, snapshots=SNAPSHOTS)
hand_seconds = time.perf_counter() - t0
print(f"{STEPS} steps in {hand_seconds:.0f} s")

# %% [markdown]
# ## Reading the curves
#
# A GAN's losses do not go to zero: each network's loss is the other's gain. What to look for is
# *balance*. If $\sigma(D)$ on generated images drops to 0 and stays there, $D$ has won and $G$
# learns little; if $\sigma(D)$ is 1/2 on both from the start, $D$ learns nothing and neither will
# $G$. In a healthy run both beliefs hover between the two, real above generated, and the losses
# wander without trend (the curves are smoothed over 25 steps).

# %%
def smooth(v, k=25):
    v = np.asarray(v)
    k = max(1, min(k, len(v)))
    return np.convolve(v, np.ones(k) / k, mode="valid")


fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
axes[0].plot(smooth(history["loss_d"]), label="discriminator $L_D$")
axes[0].plot(smooth(history["loss_g"]), label="generator $L_G$")
axes[0].set_xlabel("step"), axes[0].set_title("losses"), axes[0].legend()
axes[1].plot(smooth(history["d_real"]), label="real images")
axes[1].plot(smooth(history["d_fake"]), label="generated images")
axes[1].axhline(0.5, color="0.6", ls=":", lw=1)
axes[1].set_ylim(0, 1), axes[1].set_xlabel("step"), axes[1].set_title(r"mean $\sigma(D)$"), axes[1].legend()
fig.tight_layout()
plt.show()
print(f"last 100 steps: sigma(D) on real {np.mean(history['d_real'][-100:]):.2f}, "
      f"on generated {np.mean(history['d_fake'][-100:]):.2f}")

# %% [markdown]
# ## The same codes over training
#
# Each row shows the 16 fixed codes' images at one step. At step 0 the untrained generator paints
# the same flat gray for every code. Blurred blobs come first, then strokes, then shapes like digits,
# then digits. In fast mode the generator is stopped long before that: expect smudges.

# %%
fig, axes = plt.subplots(len(pictures), 1, figsize=(9, 1.25 * len(pictures)))
for ax, (step, images) in zip(np.atleast_1d(axes), pictures.items()):
    show_grid(images, ncols=16, ax=ax)
    ax.set_ylabel(f"step {step}", rotation=0, ha="right", va="center", fontsize=9)
fig.suptitle("the 16 fixed codes as training goes on", fontsize=10)
plt.show()

# %% [markdown]
# ## Walking between two codes
#
# Radford et al. showed that a DCGAN's code space is smooth: the images along a straight line
# between two codes change gradually from one digit into another, instead of jumping or passing
# through noise. A generator that had memorised its training images would jump.

# %%
G.eval()
with torch.no_grad():
    ends = torch.randn(2, 3, LATENT, 1, 1, generator=torch.Generator().manual_seed(3))
    t = torch.linspace(0, 1, 10).reshape(1, 10, 1, 1, 1)
    path = (1 - t) * ends[0][:, None] + t * ends[1][:, None]          # 3 paths of 10 codes each
    walk = G(path.reshape(-1, LATENT, 1, 1))
show_grid(walk, ncols=10, title="three straight lines in code space")
plt.show()

# %% [markdown]
# ## The library's `dcgan`
#
# `ls.models.create("dcgan")` builds the same recipe (DCGAN's initialisation and Adam settings),
# with differences measured in the library's docs (`docs/gan-family.md`):
#
# - the discriminator normalises each image on its own (GroupNorm with one group) instead of
#   BatchNorm: it cannot learn batch statistics, so real and generated images may share a batch;
# - the generator grows images by nearest-neighbour upsampling and a 3 x 3 convolution, which
#   avoids the checkerboard pattern that transposed convolutions can print (Odena et al. 2016);
# - on a CPU it is sized for a CPU (width 32, batch 64) and trains at learning rate
#   $6 \times 10^{-4}$, which gave a lower Fréchet distance on MNIST than $2 \times 10^{-4}$ in the
#   same time; the learning rate decays linearly to 0 over the run.
#
# `resolved_params()` prints the settings it chose.

# %%
LIB_STEPS = 40 if FAST else 2500          # 2,500 steps: about 3 minutes on two idle cores
train_set = data if not FAST else ls.data.Dataset(x_all, data.y[:len(x_all)], info=data.info, test=data.test)
dcgan = ls.models.create("dcgan")
t0 = time.perf_counter()
dcgan.fit(train_set, steps=LIB_STEPS, seed=0, progress=False)
lib_seconds = time.perf_counter() - t0
print(f"dcgan: {LIB_STEPS} steps in {lib_seconds:.0f} s; settings {dcgan.resolved_params()}")

# %%
library_samples = dcgan.sample(32, seed=1)           # data space: values in [0, 1]
show_grid(data.info.to_model(library_samples), title=f"ls.models.create('dcgan'), {LIB_STEPS} steps")
plt.show()

# %% [markdown]
# ## How good are the samples? The Fréchet distance
#
# Looking is not measuring. The **Fréchet distance** (FD; as FID, Heusel et al. 2017) compares two
# sets of images through *features*: each image becomes a vector $f(x)$, a Gaussian is fitted to the
# features of each set (means $\mu_r, \mu_g$, covariances $\Sigma_r, \Sigma_g$), and
#
# $$\mathrm{FD} = \|\mu_r - \mu_g\|^2 + \mathrm{tr}\big(\Sigma_r + \Sigma_g - 2(\Sigma_r \Sigma_g)^{1/2}\big).$$
#
# It is 0 for identical Gaussians and grows when the generated images are off (means differ) or
# too alike (covariances differ). FID uses features of an ImageNet classifier, which knows nothing
# of digits. The library learns its features from the data instead: a small classifier trained on
# the training images; $f(x)$ is its layer before the class scores
# (`ls.metrics.feature_extractor`). Its held-out accuracy says how far the features can be trusted.
#
# An FD is never 0 for a finite sample, even between two sets of real images. So every score is
# printed beside its **floor**: the same score for held-out real images in place of the samples,
# as many of them. A model is as good as real data when it reaches the floor.
#
# To keep this quick, we score on a subset: a reference of training images, held-out images for the
# floor, and as many samples. The feature extractor is trained once and cached in
# `~/.cache/latentspace/features`.

# %%
from latentspace.metrics.features import FeatureConfig

N_REF, N_HELD = (2000, 500) if FAST else (10000, 2000)
held = data.test.subset(range(min(N_HELD, len(data.test))))
eval_data = ls.data.Dataset(data.x[:N_REF], data.y[:N_REF], info=data.info, test=held)
config = FeatureConfig(min_steps=150, max_steps=150) if FAST else None      # None: the library's default
phi = ls.metrics.feature_extractor(eval_data, config=config)
print(f"features: {phi.kind}, {phi.num_features} numbers per image; held-out accuracy {phi.scores['accuracy']:.3f}")

# %% [markdown]
# First by hand, to see that nothing is hidden: features, standardised by the training images'
# statistics (as the library does, so that every feature counts alike), the two Gaussians and the
# formula. `scipy.linalg.sqrtm` computes the matrix square root.

# %%
from scipy.linalg import sqrtm


def fd_by_hand(f_a, f_b):
    mu_a, mu_b = f_a.mean(0), f_b.mean(0)
    cov_a, cov_b = np.cov(f_a, rowvar=False), np.cov(f_b, rowvar=False)
    root = sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


m = len(held)
f_ref = phi.features(eval_data.to_data()).double().numpy()
mean, std = f_ref.mean(0), f_ref.std(0, ddof=1)
f_ref = (f_ref - mean) / std
G.eval()
with torch.no_grad():
    hand_samples = data.to_data(G(torch.randn(m, LATENT, 1, 1, generator=torch.Generator().manual_seed(5))))
f_hand = (phi.features(hand_samples).double().numpy() - mean) / std
f_held = (phi.features(held.to_data()).double().numpy() - mean) / std
ref = f_ref[np.random.default_rng(0).permutation(len(f_ref))[:m]]     # m training images, as many as each side
print(f"FD, hand-made DCGAN ({m} samples vs {m} training images): {fd_by_hand(ref, f_hand):.2f}")
print(f"FD, floor (held-out real images vs the same training images): {fd_by_hand(ref, f_held):.2f}")

# %% [markdown]
# The library does all of this in one call, `ls.metrics.evaluate(model_or_samples, data)`, and
# adds other scores beside their floors: precision (the share of samples that look like some real
# image) and recall (the share of real images that some sample looks like) of Kynkäänniemi et al.
# (2019), and the share of each class among the samples, as the feature classifier sees them. It
# draws its own random reference subset, so its FD differs a little from ours. It accepts a model
# (it draws the samples) or a tensor of samples in data space:

# %%
results = {"hand-made DCGAN": ls.metrics.evaluate(hand_samples, eval_data, features=phi),
           "ls dcgan": ls.metrics.evaluate(dcgan, eval_data, n=m, features=phi)}
K = data.num_classes
print(f"{'':<18}{'FD':>8}{'precision':>11}{'recall':>8}   classes with >= 1% of samples")
for name, r in results.items():
    s = r["scores"]
    print(f"{name:<18}{s['fd']:8.2f}{s['precision']:11.2f}{s['recall']:8.2f}   "
          f"{s['class_coverage'] * K:.0f} of {K}")
f = results["ls dcgan"]["floor"]
print(f"{'floor (real)':<18}{f['fd']:8.2f}{f['precision']:11.2f}{f['recall']:8.2f}   "
      f"{f['class_coverage'] * K:.0f} of {K}")

# %% [markdown]
# **Reading the table.** Lower FD is better, and no model should beat the floor (one that did would
# be copying its training images). Precision below the floor's means samples that the features do
# not take for digits; recall far below it means missing variety, the first sign of *mode
# collapse*; fewer than 10 classes with at least 1% of the samples means whole digits are missing.
#
# When we ran this notebook in full mode on MNIST, the library's `dcgan` (2,500 steps) came close to
# the floor (FD 0.86 against 0.64, recall 0.96 against 0.94) and the hand-made DCGAN (1,500 steps)
# stayed well above it (FD 4.5, precision 0.65, recall 0.80), though its samples look like digits.
# It had fewer steps, the paper's lower learning rate and no learning-rate decay. A GAN on MNIST
# keeps improving for thousands of steps: the library's docs measured FD 0.62 after 8,500 steps
# (`docs/gan-family.md`; on 10,000 samples, where the floor is 0.086: FDs of different sample
# sizes are not comparable). In fast mode every number here is that of an untrained model.
#
# `print(ls.metrics.format_results(results["ls dcgan"]))` prints every score the evaluation
# computed, each with its floor; from a shell, `latentspace evaluate RUN_FOLDER` does the same for
# a saved model.

# %% [markdown]
# ## Exercises
#
# 1. **Take BatchNorm out of the generator.** Build the generator without its BatchNorm layers,
#    train it with `train_dcgan` for half as many steps as above, and compare its 16 fixed codes'
#    images with those of the generator with BatchNorm at the same step (`pictures`: the same seed
#    gives the same codes and batches). (Radford et al. found BatchNorm essential for deep
#    generators: it keeps every layer's inputs at a workable scale.) Is it essential here?
# 2. **Saturating against non-saturating.** For a generated image the discriminator rejects with
#    logit $d$, the minimax generator loss is $\log(1 - \sigma(d))$ and the non-saturating one
#    $-\log \sigma(d)$. Compute the size of each loss's gradient with respect to $d$ with autograd,
#    for $d$ from $-8$ to $2$. Which one gives the generator something to learn from when $D$ wins?
# 3. **The floor depends on the sample size.** Compute the FD between two disjoint sets of $m$ real
#    training images' features for $m$ = 100, 300 and 1000 (with `fd_by_hand`). Why must a model's
#    FD always be compared with a floor computed at the same $m$?
#
# Solutions follow, in collapsed cells (click to expand them in Jupyter).

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 1: a generator without BatchNorm
def make_generator_without_bn():
    return nn.Sequential(*[layer for layer in make_generator() if not isinstance(layer, nn.BatchNorm2d)])


half = STEPS // 2                               # one of the SNAPSHOTS of the run above
G_plain, D_plain = make_generator_without_bn(), make_discriminator()
_, plain_pictures = train_dcgan(G_plain, D_plain, x_all, half, snapshots=[half])
fig, axes = plt.subplots(2, 1, figsize=(9, 2.5))
show_grid(pictures[half], ncols=16, ax=axes[0], title=f"with BatchNorm, step {half}")
show_grid(plain_pictures[half], ncols=16, ax=axes[1], title=f"without BatchNorm, step {half}")
plt.show()
# Compare the two rows code by code. In our full-mode run they looked alike in quality: a generator
# this shallow trains without BatchNorm. Radford et al. found it critical for deeper generators
# (theirs had four layers for 64x64 images): without it they did not begin to learn, or collapsed
# all samples onto a single point.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 2: the gradient each generator loss gives, as a function of D's logit on a generated image
d = torch.linspace(-8, 2, 101, requires_grad=True)
saturating = torch.log(1 - torch.sigmoid(d))          # minimised by G in the minimax game
non_saturating = -torch.log(torch.sigmoid(d))
(g_sat,) = torch.autograd.grad(saturating.sum(), d)
(g_ns,) = torch.autograd.grad(non_saturating.sum(), d)
plt.figure(figsize=(5, 3))
plt.semilogy(d.detach(), g_sat.abs(), label=r"minimax: $\log(1 - \sigma(d))$")
plt.semilogy(d.detach(), g_ns.abs(), label=r"non-saturating: $-\log \sigma(d)$")
plt.xlabel("D's logit on a generated image (negative: rejected)"), plt.ylabel("|dL/dd|")
plt.legend(fontsize=8)
plt.tight_layout()
plt.show()
print(f"at d = -8 (rejected with sigma(d) = {torch.sigmoid(torch.tensor(-8.0)):.4f}): "
      f"minimax gradient {g_sat[0].abs():.4f}, non-saturating {g_ns[0].abs():.4f}")
# The minimax gradient is sigma(d): it vanishes exactly when D rejects the sample. The
# non-saturating gradient is 1 - sigma(d): close to 1 there.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 3: the real-vs-real FD shrinks as the sets grow
rng = np.random.default_rng(1)
for size in (100, 300, 1000):
    if 2 * size > len(f_ref):
        print(f"m = {size}: needs {2 * size} reference images, have {len(f_ref)}")
        continue
    pick = rng.permutation(len(f_ref))[:2 * size]
    print(f"m = {size:4d}: FD between two sets of real images {fd_by_hand(f_ref[pick[:size]], f_ref[pick[size:]]):.2f}")
# The means and covariances are estimates: with few images they are noisy, and the noise adds to
# the FD. A model scored on 500 samples would look worse than one scored on 10,000, for no reason
# of its own. Hence the floor at the same m.
