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
# # A GAN's latent space, and how to score a generator
#
# **You will learn to**
#
# - walk through a GAN's latent space: straight-line and spherical interpolation between two
#   codes, and why the straight line leaves the region where the codes live;
# - vary one latent coordinate at a time (a *traversal*) and measure what each one changes;
# - *invert* the generator: find the code whose image matches a real digit, by gradient descent
#   written by hand, then with latentspace's `invert`;
# - score a generator against real data: the Fréchet distance on domain features,
#   precision and recall (Kynkäänniemi et al. 2019) and a memorisation check, each beside its
#   real-vs-real floor, and see on two deliberately bad "models" which score catches which failure.
#
# **Time:** under a minute with `LATENTSPACE_FAST=1` (a GAN trained for a few seconds: the
# pictures are noise-like, the code runs), about 30 minutes to work through without it (the GAN
# trains for 1 to 3 minutes on two CPU cores).
#
# **You need:** Python, NumPy and a first idea of what a GAN is (notebook 01 of this folder).
# `notebooks/README.md` says how to run this file as a script or open it as a notebook.

# %% [markdown]
# ## Why
#
# A GAN (Goodfellow et al. 2014) is a generator $G$ that turns a code $z \sim \mathcal N(0, I_d)$
# into an item. Two questions follow once one is trained:
#
# 1. **What does the code space look like?** Which paths through it give sensible items, what
#    does one coordinate control, and which code (if any) gives a particular real item?
# 2. **How good is the generator?** A GAN has no likelihood to report. Instead we compare a set
#    of its samples with a set of real items. Every such score is noisy and depends on the number
#    of items and on the features used. So we always print it beside its **floor**: the same
#    score for real held-out items in place of the samples, which is the best a perfect
#    generator could reach with as many items.
#
# We use the embedded `digits` data (scikit-learn's 1,797 handwritten digits of 8 x 8 pixels),
# so that everything trains in seconds to minutes on a laptop.

# %%
# ruff: noqa: E402   (imports appear where they are first needed, as in any notebook)
import os

import latentspace as ls   # before torch: latentspace tells torch's idle threads not to hog shared cores
import matplotlib.pyplot as plt
import numpy as np
import torch

FAST = os.environ.get("LATENTSPACE_FAST") == "1"   # tiny trainings: checks that everything runs
print("fast mode" if FAST else "full mode")

data = ls.data.load("digits")
print(data.summary())
x_train, x_test = data.to_data(), data.test.to_data()   # pixel values in [0, 1], shape (n, 1, 8, 8)

# %% [markdown]
# One helper draws rows of digits, which most figures below are.

# %%
def digit_rows(rows, labels, title, col_titles=None):
    """Rows of 8 x 8 digits: ``rows`` is a list of tensors (k, 1, 8, 8) in [0, 1], one per row."""
    ncols = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(0.75 * ncols + 1.1, 0.8 * len(rows) + 0.5), squeeze=False)
    for r, (row, label) in enumerate(zip(rows, labels)):
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            if c < len(row):
                ax.imshow(row[c, 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            else:
                ax.axis("off")
            if r == 0 and col_titles is not None:
                ax.set_title(col_titles[c], fontsize=7)
        axes[r, 0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


fig = digit_rows([x_train[i * 10:(i + 1) * 10] for i in range(3)], ["", "real", ""], "training digits")
plt.show()

# %% [markdown]
# ## A GAN on the digits
#
# `ls.models.create("gan")` builds a convolutional GAN of the kind `01-dcgan.py` builds by hand: a
# generator from a 64-dimensional code to an 8 x 8 image, and a discriminator. On a CPU its
# defaults are the DCGAN recipe measured on MNIST (Adam at $6 \cdot 10^{-4}$, batch 64, the
# learning rate falling linearly to 0). The full run trains for 3,000 steps, 1 to 3 minutes on
# two CPU cores; fast mode for 150 steps, a few seconds, which leaves the generator barely trained.

# %%
STEPS = 150 if FAST else 3000
gan = ls.models.create("gan")
gan.fit(data, steps=STEPS, seed=0, progress=False)
d = ls.latent.latent_size(gan)      # the width of the codes z
print(f"trained {STEPS} steps; codes have d = {d} dimensions")

fig = ls.plots.samples_figure(gan.sample(64, seed=0), data.info, title=f"GAN samples after {STEPS} steps")
plt.show()

# %% [markdown]
# After the full run many samples are recognisable digits, blurrier and more irregular than the
# real ones; others are not digits at all. (8 x 8 pixels leave little room: even the real digits
# are hard to read.) In fast mode they are blobs.
#
# `gan.sample(n, seed=s)` is simply `gan.decode(z)` for codes `z = torch.randn(n, d)` drawn with
# that seed: a sample *is* a point of the latent space, decoded.

# %%
z = torch.randn(4, d, generator=torch.Generator().manual_seed(0))
print("decode(z) == sample(4, seed=0):", torch.allclose(gan.decode(z), gan.sample(4, seed=0)))

# %% [markdown]
# ## Interpolation: straight line or great circle?
#
# A path between two codes $z_0$ and $z_1$ shows how the generator's output changes between
# two samples. The obvious path is the straight line (**lerp**),
#
# $$z(t) = (1 - t)\, z_0 + t\, z_1, \qquad t \in [0, 1].$$
#
# But in $d = 64$ dimensions a standard normal code almost always has a norm close to
# $\sqrt d = 8$: the codes live on a thin shell, and the inside of the shell is almost never
# drawn. The midpoint of two independent codes has norm about $\sqrt{d/2} \approx 5.7$, far inside.
# **Spherical interpolation** (slerp, Shoemake 1985; White 2016 for generative models) walks
# along the great circle between the two directions instead, with angle
# $\Omega = \arccos(\hat z_0 \cdot \hat z_1)$ between the unit vectors $\hat z_i = z_i/\|z_i\|$:
#
# $$z(t) = \big((1-t)\|z_0\| + t\|z_1\|\big)\,
#   \frac{\sin((1-t)\Omega)\, \hat z_0 + \sin(t\Omega)\, \hat z_1}{\sin \Omega}.$$
#
# Both by hand, then checked against `ls.latent.lerp` and `ls.latent.slerp`:

# %%
z0, z1 = torch.randn(2, d, generator=torch.Generator().manual_seed(3))
t = torch.linspace(0, 1, 9)[:, None]                      # 9 points, ends included

z_lin = (1 - t) * z0 + t * z1
u0, u1 = z0 / z0.norm(), z1 / z1.norm()
omega = torch.arccos(u0 @ u1)
z_sph = ((1 - t) * z0.norm() + t * z1.norm()) * (torch.sin((1 - t) * omega) * u0 + torch.sin(t * omega) * u1) \
    / torch.sin(omega)

print("matches ls.latent.lerp: ", torch.allclose(z_lin, ls.latent.lerp(z0, z1, steps=9), atol=1e-5))
print("matches ls.latent.slerp:", torch.allclose(z_sph, ls.latent.slerp(z0, z1, steps=9), atol=1e-5))
print(f"angle between the codes: {float(omega) * 180 / np.pi:.0f} degrees (random codes in 64-d: about 90)")

# %% [markdown]
# The norm along each path, against the norms of 10,000 random codes:

# %%
norms = torch.randn(10000, d, generator=torch.Generator().manual_seed(1)).norm(dim=1)
fig, ax = plt.subplots(figsize=(6, 3))
ax.axhspan(float(norms.quantile(0.005)), float(norms.quantile(0.995)), color="0.85",
           label="99% of random codes")
ax.plot(t[:, 0], z_lin.norm(dim=1), "o-", label="linear")
ax.plot(t[:, 0], z_sph.norm(dim=1), "s-", label="spherical")
ax.set_xlabel("t"), ax.set_ylabel("||z(t)||"), ax.legend(fontsize=8)
ax.set_title("how typical is each code on the path?", fontsize=10)
fig.tight_layout()
plt.show()
print(f"midpoint norm: linear {float(z_lin[4].norm()):.2f}, spherical {float(z_sph[4].norm()):.2f}; "
      f"random codes: {float(norms.mean()):.2f} +- {float(norms.std()):.2f}")
print(f"the linear midpoint lies {float((norms.mean() - z_lin[4].norm()) / norms.std()):.1f} standard deviations "
      f"inside the shell; {float((norms <= z_lin[4].norm()).float().mean()):.2%} of random codes are that short")

# %% [markdown]
# The straight line's midpoint lies several standard deviations inside the shell (the second line
# above says how many): a code of a kind the generator practically never saw in training. The
# spherical path stays on the shell. Decoded:

# %%
fig = digit_rows([gan.decode(z_lin), gan.decode(z_sph)], ["linear", "spherical"],
                 "from one code to another", col_titles=[f"t={v:.2f}" for v in t[:, 0].tolist()])
plt.show()

# %% [markdown]
# `ls.latent.interpolate(gan, z0, z1, steps=9, method="linear" | "slerp")` does both at once
# and decodes. Does the midpoint of a straight line look worse? One picture cannot say; a
# measurement over many pairs can. As a simple stand-in for "looks like a digit" we take the
# distance from a generated image to its nearest training digit (`ls.plots.nearest_training_items`,
# in pixels): for 300 pairs of codes, at the midpoint of each path, beside that of random samples.

# %%
gen = torch.Generator().manual_seed(7)
za, zb = torch.randn(300, d, generator=gen), torch.randn(300, d, generator=gen)
mid_lin = torch.stack([ls.latent.lerp(a, b, steps=3)[1] for a, b in zip(za, zb)])
mid_sph = torch.stack([ls.latent.slerp(a, b, steps=3)[1] for a, b in zip(za, zb)])
for name, codes in [("random codes", za), ("linear midpoints", mid_lin), ("spherical midpoints", mid_sph)]:
    images = gan.decode(codes)
    _, dist = ls.plots.nearest_training_items(images, x_train)
    print(f"{name:<20} distance to the nearest training digit: median {float(dist.median()):.2f}   "
          f"ink (mean pixel) {float(images.mean()):.3f}")
print(f"{'(training digits)':<20} {'':34}ink (mean pixel) {float(x_train.mean()):.3f}")

# %% [markdown]
# **Reading it.** In our full run the linear midpoints carried less ink than random samples
# (0.282 against 0.308; the training digits 0.305) and the spherical midpoints as much (0.308):
# the straight path fades the digits half way, the washed-out look that codes of small norm
# often give. By distance to the nearest training digit the linear midpoints even came slightly
# *closer* (median 1.54 against 1.59): a faint, averaged image lies near many digits in pixels,
# which is why pixel distance is a poor judge of quality (hence the learnt features below). In
# fast mode the generator is untrained and the comparison means nothing. For a GAN's Gaussian
# codes, prefer slerp.
#
# ## Traversal: one coordinate at a time
#
# Fix a code $z$ and add $\delta \in [-3, 3]$ to one coordinate $z_k$ while keeping the others:
# a row of images per coordinate. By hand for the first six coordinates:

# %%
z_base = torch.randn(d, generator=torch.Generator().manual_seed(11))
offsets = torch.linspace(-3, 3, 7)
rows = []
for k in range(6):
    codes = z_base.repeat(7, 1)
    codes[:, k] += offsets
    rows.append(gan.decode(codes))

grid = ls.latent.traverse(gan, z_base, dims=range(6), span=3.0, steps=7)   # the same, in one call
print("matches ls.latent.traverse:", torch.allclose(torch.stack(rows), grid, atol=1e-5))
fig = ls.plots.traversal_grid(grid, gan.info_, dims=list(range(6)), span=3.0,
                              title="one coordinate at a time (middle column: z itself)")
plt.show()

# %% [markdown]
# Nothing in a GAN's training asks single coordinates to mean anything. A coordinate usually
# changes several things at once (thickness, slant, even the digit), and by different amounts
# around different codes: the code is *entangled*. How much does each of the 64 coordinates move
# the image? The mean absolute pixel change for a step of $+2$ in coordinate $k$, averaged over
# 200 codes:

# %%
base = torch.randn(200, d, generator=torch.Generator().manual_seed(12))
x_base = gan.decode(base)
effect = torch.empty(d)
for k in range(d):
    moved = base.clone()
    moved[:, k] += 2.0
    effect[k] = (gan.decode(moved) - x_base).abs().mean()

fig, ax = plt.subplots(figsize=(7, 2.6))
ax.bar(range(d), effect.numpy(), color="C0")
ax.set_xlabel("latent coordinate k"), ax.set_ylabel("mean |change| of a pixel")
ax.set_title("effect of z_k += 2 on the image", fontsize=10)
fig.tight_layout()
plt.show()
order = effect.argsort(descending=True)
print("strongest coordinates:", order[:5].tolist(), "  weakest:", order[-5:].tolist())
print(f"largest effect {float(effect.max()):.3f}, smallest {float(effect.min()):.3f}, "
      f"median {float(effect.median()):.3f} (pixels from 0 to 1)")

# %% [markdown]
# In our full run every coordinate moved the image, all by similar amounts (from about 0.03 to
# 0.065 per pixel): no handful of coordinates does the work, as the leading principal components
# of PPCA would. Models trained
# to separate factors, such as the beta-VAE (Higgins et al. 2017; `ls.models.create("beta-vae")`),
# give traversals that are easier to read.
#
# ## Inversion: which code draws this digit?
#
# A GAN has no encoder. To find the code of a real item $x$ we search for it: minimise
#
# $$L(z) = \|G(z) - x\|^2 + \lambda \|z\|^2$$
#
# over $z$ by gradient descent through the frozen generator. The second term (a Gaussian prior
# on $z$, $\lambda = 0.1$) keeps the code on typical ground. Pixels are compared in the model's
# space, where they run from -1 to 1. `gan.differentiable_decoder()` lends us the generator as a
# differentiable function `G(z, labels)` (labels are `None` for an unconditional GAN).
#
# Six held-out digits, which the GAN never saw:

# %%
x_real = x_test[:6]
x_target = data.info.to_model(x_real)                   # pixels in [-1, 1], as G outputs them
z_fit = torch.randn(6, d, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
optimiser = torch.optim.Adam([z_fit], lr=0.05)
INVERT_STEPS = 100 if FAST else 500
curve = []
with gan.differentiable_decoder() as G:
    for _ in range(INVERT_STEPS):
        error = (G(z_fit, None) - x_target).pow(2).flatten(1).sum(1)       # ||G(z) - x||^2, per digit
        loss = error + 0.1 * z_fit.pow(2).sum(1)
        (z_fit.grad,) = torch.autograd.grad(loss.sum(), z_fit)   # the gradient for z only: G stays as it is
        optimiser.step()
        curve.append(error.mean().item())
    with torch.no_grad():
        x_fit = data.info.to_data(G(z_fit, None))

fig, ax = plt.subplots(figsize=(5, 2.6))
ax.plot(curve)
ax.set_xlabel("Adam step"), ax.set_ylabel("||G(z) - x||² (model space)"), ax.set_yscale("log")
ax.set_title("inversion by gradient descent", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# The fit, and the residual $|x - G(\hat z)|$ (white: a large error). As a yardstick, the nearest
# *training* digit of each target: if the generator has learnt more than the training digits
# themselves, its best code should come closer than the closest training digit does.

# %%
near_idx, near_dist = ls.plots.nearest_training_items(x_real, x_train)
fig = digit_rows([x_real, x_fit, (x_real - x_fit).abs(), x_train[near_idx]],
                 ["held out", "G(z*)", "|residual|", "nearest\ntraining"], "inverting the generator by hand")
plt.show()
mse_fit = (x_fit - x_real).pow(2).flatten(1).mean(1)
mse_near = (x_train[near_idx] - x_real).pow(2).flatten(1).mean(1)
print("mean squared error per pixel (data space, 0..1)")
print("  G(z*):           ", " ".join(f"{v:.3f}" for v in mse_fit.tolist()), f"  mean {float(mse_fit.mean()):.3f}")
print("  nearest training:", " ".join(f"{v:.3f}" for v in mse_near.tolist()), f"  mean {float(mse_near.mean()):.3f}")

# %% [markdown]
# **Reading it.** In our full run $G(\hat z)$ matched the held-out digits far more closely than
# their nearest training digits did (mean squared error 0.003 against 0.024 per pixel): the
# generator can draw digits it never saw. But look at the norms of the codes it needed (printed
# below): about 3, where random codes have about 8. These codes lie deep inside the shell, where
# sampling almost never goes. A generator's *range* (everything some code can draw) is much
# larger than what it draws when sampled. So an inversion that fits says that an image is within
# reach of $G$, not that $G$ would generate it. In fast mode the generator draws blobs and the
# fit is poor; where the residual is large (white strokes), the generator cannot draw that shape.
#
# Gradient descent from a single random start can get stuck in a poor local minimum.
# `ls.latent.invert` runs the same objective from several random starts per item
# (`restarts=4`) with a learning rate that decays along a cosine, and keeps the best; it works for
# any model with a differentiable decoder (GANs, VAEs) and in closed form for PPCA. With a
# `mask` it fits only the visible pixels (exercise 2).

# %%
z_lib, x_lib = ls.latent.invert(gan, x_real, steps=INVERT_STEPS, restarts=4, prior_weight=0.1, seed=0)
mse_lib = (x_lib - x_real).pow(2).flatten(1).mean(1)
print("  ls.latent.invert:", " ".join(f"{v:.3f}" for v in mse_lib.tolist()), f"  mean {float(mse_lib.mean()):.3f}")
print(f"code norms: by hand {z_fit.detach().norm(dim=1).mean():.2f}, invert {z_lib.norm(dim=1).mean():.2f} "
      f"(random codes: about {np.sqrt(d):.1f})")
fig = digit_rows([x_real, x_lib, (x_real - x_lib).abs()], ["held out", "invert", "|residual|"],
                 "ls.latent.invert: best of 4 starts")
plt.show()

# %% [markdown]
# ## Evaluation: which score sees what
#
# ### Features
#
# Comparing samples pixel by pixel tells us little: a digit shifted by one pixel is far away in
# pixels but the same digit. Scores are computed on **features**. For photographs the field uses
# the Inception network (FID, Heusel et al. 2017), which knows nothing of digits, spectrograms or
# voxels. latentspace trains its own on the training split: for labelled data, a small
# classifier, whose layer before the class scores gives 64 features per item. It is trained once
# per dataset and cached (under `~/.cache/latentspace`), and its held-out accuracy says how far
# to trust it. As `latentspace evaluate` does, each feature is then standardised by the training
# items' mean and standard deviation.

# %%
phi = ls.metrics.feature_extractor(data)
print(f"features: {phi.kind}, {phi.num_features} per item; held-out accuracy {phi.scores['accuracy']:.3f}")

f_train_raw = phi.features(x_train)
mean, std = f_train_raw.mean(0), f_train_raw.std(0).clamp_min(1e-6)


def features(x):
    """Standardised domain features of data-space items (n, 1, 8, 8)."""
    return (phi.features(x) - mean) / std


m = len(x_test)                                          # 359: every two-set score compares m items a side
g = torch.Generator().manual_seed(0)
f_ref = features(x_train[torch.randperm(len(x_train), generator=g)[:m]])   # reference: m training digits
f_floor = features(x_test)                                                   # the floor: held-out digits
f_gan = features(gan.sample(m, seed=1))                                      # the GAN's samples
print(f"{m} items a side")

# %% [markdown]
# ### The Fréchet distance
#
# Fit a Gaussian to each set of features (mean $\mu$, covariance $\Sigma$) and measure the
# distance between the two Gaussians (Fréchet 1957; FID when the features are Inception's):
#
# $$\mathrm{FD} = \|\mu_r - \mu_g\|^2 + \operatorname{tr}\!\big(\Sigma_r + \Sigma_g - 2(\Sigma_r\Sigma_g)^{1/2}\big).$$
#
# By hand with SciPy's matrix square root, then `ls.metrics.frechet_distance`:

# %%
from scipy import linalg


def frechet(a, b):
    a, b = a.double().numpy(), b.double().numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


print(f"FD, GAN samples vs training:  by hand {frechet(f_ref, f_gan):8.3f}   "
      f"library {ls.metrics.frechet_distance(f_ref, f_gan):8.3f}")
print(f"FD, held-out vs training:     by hand {frechet(f_ref, f_floor):8.3f}   "
      f"library {ls.metrics.frechet_distance(f_ref, f_floor):8.3f}   <- the floor")

# %% [markdown]
# The floor is not 0: two finite samples of one distribution differ, and with 359 items a side
# and 64 features the covariances are rough estimates (FD is biased upwards at small sizes).
# A GAN's FD means something only next to this floor, computed with the same items and features.
#
# One number mixes two failures: samples that look wrong (poor *fidelity*) and samples that look
# right but miss part of the data (poor *diversity*). Precision and recall separate them.
#
# ### Precision and recall (Kynkäänniemi et al. 2019)
#
# Around each real point draw a ball reaching its $k$-th nearest real neighbour ($k = 5$); the
# union of these balls is an estimate of where real data live. **Precision** is the fraction of
# generated points inside it. Swap the roles for **recall**: balls around the generated points,
# and the fraction of real points inside their union. By hand:

# %%
def precision_recall(real, fake, k=5):
    radius_real = torch.cdist(real, real).kthvalue(k + 1, dim=1).values   # k+1: each point is its own 0-th neighbour
    radius_fake = torch.cdist(fake, fake).kthvalue(k + 1, dim=1).values
    dist = torch.cdist(fake, real)                                          # (fake, real)
    precision = (dist <= radius_real[None, :]).any(1).float().mean()
    recall = (dist <= radius_fake[:, None]).any(0).float().mean()
    return float(precision), float(recall)


for name, f in [("GAN", f_gan), ("held out (floor)", f_floor)]:
    p, r = precision_recall(f_ref, f)
    lib = ls.metrics.precision_recall(f_ref, f, k=5)
    print(f"{name:<17} precision {p:.3f} recall {r:.3f}    library: {lib['precision']:.3f} {lib['recall']:.3f}")

# %% [markdown]
# ### Memorisation: nearest training neighbours
#
# A generator that returns its training items scores perfectly on all of the above. The check:
# how far is each sample from its *nearest training item* (in features), compared with how far
# real held-out items are from theirs? Held-out items are new draws from the data, so their
# distances show what "new" looks like. A threshold at the 1% quantile of the held-out distances
# flags about 1% of held-out items by construction; a model that copies is flagged far more often.

# %%
f_all_train = features(x_train)
nn_gan = torch.cdist(features(gan.sample(2000, seed=2)), f_all_train).min(1).values
nn_test = torch.cdist(f_floor, f_all_train).min(1).values
threshold = float(nn_test.quantile(0.01))
print(f"threshold (1% of held-out distances): {threshold:.2f}")
print(f"flagged: GAN {float((nn_gan <= threshold).float().mean()):.3f}, "
      f"held out {float((nn_test <= threshold).float().mean()):.3f}")

fig, ax = plt.subplots(figsize=(6, 2.8))
bins = np.linspace(0, float(max(nn_gan.max(), nn_test.max())), 40)
ax.hist(nn_test.numpy(), bins, density=True, alpha=0.6, label="held-out digits")
ax.hist(nn_gan.numpy(), bins, density=True, alpha=0.6, label="GAN samples")
ax.axvline(threshold, color="k", ls="--", lw=1, label="threshold")
ax.set_xlabel("distance to the nearest training digit (features)"), ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# In our full run no GAN sample fell below the threshold, and most lay *further* from every
# training digit than held-out digits do: nothing is copied, but many samples are also not quite
# like any digit, which the precision above already said. Distances below the held-out ones would
# be the warning sign. `ls.metrics.memorisation(samples, train, heldout)` computes the same (with
# the closest pairs, to look at).
#
# ### Everything at once: `ls.metrics.evaluate`
#
# `ls.metrics.evaluate(model, data, n=...)` is what `latentspace evaluate RUN` prints: it draws
# `n` samples and computes every score that applies, each beside its floor, on the same items
# and features as above (plus KID, density and coverage (Naeem et al. 2020), a classifier
# two-sample test, and the classes the domain classifier sees in the samples).

# %%
report = ls.metrics.evaluate(gan, data, n=2000, seed=0)
print(ls.metrics.format_results(report))

# %% [markdown]
# ### Two deliberately bad "models"
#
# To see which score catches which failure we evaluate two sets of samples whose faults we know.
# `evaluate` takes a tensor of samples in place of a model.
#
# - **The copycat**: 2,000 training digits returned as they are (drawn with replacement).
#   Perfect pictures, perfect variety, and nothing new.
# - **The mode dropper**: the GAN's own samples, but only those the domain classifier calls
#   0, 1, 2, 3 or 4: the same generator with half the digits missing.

# %%
n_bad = 2000
copycat = x_train[torch.randint(len(x_train), (n_bad,), generator=torch.Generator().manual_seed(5))]

pool = gan.sample(6 * n_bad, seed=3)
mode_dropper = pool[phi.predict(pool) < 5][:n_bad]
print(f"mode dropper: kept {len(mode_dropper)} of {len(pool)} GAN samples")

results = {"GAN": report, "copycat": ls.metrics.evaluate(copycat, data, seed=0),
           "mode dropper": ls.metrics.evaluate(mode_dropper, data, seed=0)}

columns = [("fd", "FD"), ("precision", "precision"), ("recall", "recall"), ("coverage", "coverage"),
           ("memorised_fraction", "memorised")]


def table_row(name, values):
    classes = f"{round(values['class_coverage'] * data.num_classes)}/{data.num_classes}"
    print(f"{name:<14}" + "".join(f"{values[key]:>11.3f}" for key, _ in columns) + f"{classes:>9}")


print(f"{'':<14}" + "".join(f"{label:>11}" for _, label in columns) + f"{'classes':>9}")
table_row("floor", report["floor"])
for name, res in results.items():
    table_row(name, res["scores"])
print("(classes: how many of the 10 classes hold at least 1% of the samples, as the domain classifier sees them)")

# %% [markdown]
# **Reading it** (compare each row with the floor, not with an ideal value):
#
# - The **copycat** sits at the floor on precision, recall and coverage and close to it on FD
#   (0.99 against 0.68 in our run; between two random sets of 359 real training digits we
#   measured FDs from 0.4 to 1.4 over six draws): its samples *are* digits from the training
#   distribution. Only the memorisation check
#   sees the fraud: all of its samples are closer to a training digit than 99% of the held-out
#   digits are.
# - The **mode dropper** keeps the GAN's precision (each sample is as good as before) while its
#   recall and coverage fall and its FD grows: half of the real digits have no sample near
#   them. The class count says what is missing (5 of 10 classes in our full run). It copies
#   nothing, so the memorisation check is as quiet as for the GAN.
# - The **GAN** itself: in our full run its precision (0.78) was well below the floor's (0.98):
#   many samples are not quite digits. Its recall (0.93) was close to the floor's (0.96), all
#   10 classes were there, and no sample was suspiciously close to a training digit. In fast
#   mode every score of the GAN is far from its floor.
#
# No single number tells a good generator: report FD (a summary), precision and recall
# (fidelity and diversity apart) and a memorisation check, each beside its floor.
#
# ## What next
#
# - `latentspace evaluate RUN` prints the same table for any trained run; `docs/evaluation.md`
#   says how each score is computed and when it misleads.
# - Inversion with a mask completes partial items: `ls.latent.complete` (exercise 2; the
#   archaeology notebook completes pottery sherds with a VAE).
#
# ## Exercises
#
# 1. **The truncation trick** (Brock et al. 2019). Draw codes with every coordinate inside
#    $[-\tau, \tau]$ (`ls.latent.sample_truncated(gan, n, threshold=tau)`) for
#    $\tau = 0.5, 1, 2$ and no truncation, and compute precision and recall for each. What do you
#    trade?
# 2. **Completion.** Hide the bottom half of 8 held-out digits and fill it in with
#    `ls.latent.complete(gan, x, mask)`. Compare the error on the hidden half with that of the
#    training digit whose top half is nearest.
# 3. **A noisy copycat.** Add Gaussian noise of standard deviation $\sigma = 0.05, 0.2, 0.5$ to the
#    copycat's digits (clip to $[0, 1]$). At which $\sigma$ does the memorisation check stop
#    catching it, and what happens to precision meanwhile?
#
# Solutions follow, in collapsed cells (click to expand them in Jupyter).

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 1: the truncation trick trades recall (diversity) for precision (fidelity)
print(f"{'threshold':>10} {'precision':>10} {'recall':>8}")
for tau in (0.5, 1.0, 2.0, None):
    samples = ls.latent.sample_truncated(gan, m, threshold=tau, seed=4)
    p, r = precision_recall(f_ref, features(samples))
    print(f"{str(tau):>10} {p:10.3f} {r:8.3f}")
print(f"{'floor':>10} {precision_recall(f_ref, f_floor)[0]:10.3f} {precision_recall(f_ref, f_floor)[1]:8.3f}")
# Small thresholds keep the codes near the centre, so the samples grow alike and recall falls:
# in our full run from 0.93 (no truncation) to 0.81 at 1.0 and 0.35 at 0.5. The hoped-for gain
# in precision did not come: 0.78 untruncated, 0.79 at 1.0 and 0.67 at 0.5. Truncation helps
# large GANs whose typical codes draw their best images (BigGAN); for this small GAN the centre
# of the code space is no better than the rest. Measure before you truncate. In fast mode the
# generator is untrained and the numbers say little.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 2: completing the bottom half of held-out digits
targets = x_test[10:18]
mask = torch.zeros(1, 8, 8, dtype=torch.bool)
mask[:, :4] = True                                     # rows 0-3 visible, rows 4-7 hidden
done = ls.latent.complete(gan, targets, mask, steps=INVERT_STEPS, restarts=4, seed=0)
top = lambda x: x[:, :, :4].flatten(1)                 # noqa: E731
nearest = x_train[torch.cdist(top(targets), top(x_train)).argmin(1)]
err = lambda x: float((x[:, :, 4:] - targets[:, :, 4:]).pow(2).mean())   # noqa: E731
print(f"hidden half, mean squared error: completion {err(done):.4f}, nearest training by top half {err(nearest):.4f}")
fig = digit_rows([targets, torch.where(mask, targets, 0.5), done, nearest],
                 ["truth", "visible", "completed", "nearest\nby top"], "completing the bottom half")
plt.show()
# In our full run the completion was much worse than simply taking the training digit with the
# nearest top half (0.106 against 0.036), and a larger prior_weight (1 to 20) made it worse still.
# As the inversion above showed, the generator can match almost any top half with some code, and
# nothing in the objective says which bottom half is likely with it. A model with an encoder and a
# likelihood does better: latentspace's benchmark completes MNIST digits with a VAE and beats the
# nearest-neighbour guess on 75% of them (docs/gan-family.md).

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 3: how much noise hides a copy from the memorisation check?
for sigma in (0.05, 0.2, 0.5):
    noisy = (copycat + sigma * torch.randn(copycat.shape, generator=torch.Generator().manual_seed(6))).clamp(0, 1)
    res = ls.metrics.evaluate(noisy, data, seed=0)
    print(f"sigma {sigma:4}: memorised {res['scores']['memorised_fraction']:.3f} "
          f"(floor {res['floor']['memorised_fraction']:.3f}), precision {res['scores']['precision']:.3f}, "
          f"recall {res['scores']['recall']:.3f}")
# At sigma 0.05 most copies are still flagged (0.87 in our run). At sigma 0.2 none is, while
# precision is still 0.91 against a floor of 0.98: noisy copies that still look like digits slip
# through. At 0.5 the noise ruins the digits (precision 0.44). The check compares distances with
# those of held-out digits, so anything that moves a copy as far from its original as a new digit
# would be hides it; look at the closest pairs as well
# (report["details"]["closest_pairs"], ls.plots.nearest_neighbour_gallery).
