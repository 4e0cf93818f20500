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
# # Pottery profiles: vessels from a generative model
#
# **You will learn to**
#
# - load archaeologists' vessel drawings (half-profiles) and look at them as sections and as 3-D vessels;
# - train a variational autoencoder (VAE) on them and draw new vessels from it;
# - complete a sherd: fill in the missing base of a profile, and measure how good the guess is,
#   by pixels and by outline shape;
# - read the result of an augmentation experiment: do generated vessels help a classifier
#   trained on small classes?
#
# **Time:** about 30 minutes to read and run. The code runs in 1 to 2 minutes with
# `LATENTSPACE_FAST=1` (tiny trainings, to check that everything runs), 10 to 15 minutes without
# (trainings of a few minutes, results worth looking at), on two CPU cores.
#
# **You need:** Python and NumPy; no knowledge of GANs or VAEs. `notebooks/README.md` says how to
# run this file as a script or open it as a notebook.

# %% [markdown]
# ## Why
#
# A wheel-made vessel is symmetric about its rotation axis, so archaeologists record it by its
# **profile**: the wall cut by a plane through the axis, drawn from the rim to the base. A drawing
# holds one **half-profile**: the rotation axis on one side (here always the left edge), the rim at
# the top. A collection holds hundreds of such drawings (the one below, 1,133), sorted into classes by shape.
#
# A *generative model* learns from these drawings what a plausible vessel of this collection looks
# like. That gives an archaeologist three things:
#
# 1. **new vessels, drawn as vessels**: samples look like the drawings and can be revolved into 3-D;
# 2. **reconstruction from a sherd**: most finds are fragments; the model proposes the missing part
#    of a profile that agrees with the part that was found;
# 3. **augmentation of small classes**: a class with seven drawings is hard to learn for a
#    classifier; generated vessels of that class might help (we measure whether they do).

# %%
# ruff: noqa: E402   (imports appear where they are first needed, as in any notebook)
import os
from pathlib import Path

import latentspace as ls   # before torch: latentspace tells torch's idle threads not to hog shared cores
import matplotlib.pyplot as plt
import numpy as np
import torch
from latentspace.plots.vessels import profile_grid, revolved_grid, section_grid, vessel_figure

FAST = os.environ.get("LATENTSPACE_FAST") == "1"   # tiny trainings: checks that everything runs
print("fast mode" if FAST else "full mode")

# %% [markdown]
# ## The data
#
# The Iberian collection of Navarro, Cintas et al. (2022) holds 1,133 half-profiles in 11 classes,
# one PNG per vessel (`train/<class>/*.png`, `test/<class>/*.png`). Point `LATENTSPACE_POTTERY_DIR`
# at your copy, or put it where this workplace keeps it: `../../../shared/data/pottery_profiles`
# from this notebook (here `/work/shared/data/pottery_profiles`). Any folder of your own drawings
# in the same layout works too. Without the drawings the notebook uses `pottery-synthetic`:
# parametric vessels in six families (plate, bowl, carinated bowl, cup, jar, amphora), made on the spot.
#
# The loader binarises each drawing, crops it, turns it so that the axis is on the left and the rim
# at the top (found from the drawing itself), scales it to fill a 64 x 64 frame and prints what it
# loaded, per class.

# %%
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
DIR = Path(os.environ.get("LATENTSPACE_POTTERY_DIR", HERE / "../../../shared/data/pottery_profiles"))

if DIR.is_dir():
    data = ls.data.load("pottery", data_dir=DIR)
else:
    print(f"No drawings at {DIR}: using the embedded pottery-synthetic vessels instead "
          "(set LATENTSPACE_POTTERY_DIR to a folder of drawings to use yours)")
    data = ls.data.load("pottery-synthetic", n=600 if FAST else 2000, n_test=120 if FAST else 500)
print(data.summary())

# %% [markdown]
# Items are tensors of shape `(1, 64, 64)`. `data.to_data()` gives them in the units of the
# drawing: 0 is ink (the clay of the wall), 1 is paper. `data.y` holds the class of each item and
# `data.test` the held-out drawings, which no model below sees while training.

# %%
x_train, y_train = data.to_data(), data.y
x_test, y_test = data.test.to_data(), data.test.y
print("training items", tuple(x_train.shape), " held out", tuple(x_test.shape))
print("values from", float(x_train.min()), "to", float(x_train.max()))

# %% [markdown]
# ## Looking at the drawings
#
# First the items exactly as a network sees them: half-profiles, the axis along the left edge,
# the rim at the top, the vessel standing in the bottom-left corner. One drawing of each class:

# %%
first = [int(torch.nonzero(y_train == c)[0]) for c in range(data.num_classes)]   # one item per class
fig = profile_grid(x_train[first], n=len(first), ncols=6, labels=data.classes, title="half-profiles, one per class")
plt.show()

# %% [markdown]
# Archaeologists publish a profile as a **section**: the filled wall on one side of a dashed
# rotation axis and the outline of the vessel mirrored on the other. Below each section is the
# vessel revolved about its axis in 3-D, a quarter cut away so that the wall and the inside show.
# The same drawings as above:

# %%
fig = vessel_figure(x_train[first], n=len(first), ncols=6, labels=data.classes, title="sections and vessels")
plt.show()

# %% [markdown]
# ## Training a VAE
#
# A variational autoencoder has two networks. The **encoder** squeezes each drawing into a short
# list of numbers, its *latent code* (32 numbers here); the **decoder** turns a code back into a
# drawing. Training makes decoded drawings match the inputs while keeping the codes spread like a
# standard normal distribution, so that a code drawn at random decodes to a plausible vessel
# (after training, latentspace also fits a mixture of Gaussians to where the drawings' codes
# actually lie, and draws new codes from it). `ls.models.create` picks settings sized for the
# machine; `fit` trains.
#
# The full run trains for 2,000 steps (updates, each on a batch of 100 drawings), about 3 minutes on two
# idle CPU cores. Fast mode trains for 20 seconds, which teaches the VAE little more than a gray
# average vessel.

# %%
vae = ls.models.create("vae")
if FAST:
    vae.fit(data, time=20, seed=0, progress=False)       # 20 seconds, however many steps that is
else:
    vae.fit(data, steps=2000, seed=0)                    # about 3 minutes on two idle cores
print("VAE trained:", vae.resolved_params())

# %% [markdown]
# **Samples** are decoded random codes: vessels no one drew. Each pixel of a sample is the
# model's expected value there, between ink (0) and paper (1), so places where it is unsure are
# gray. As sections:

# %%
samples = vae.sample(16, seed=1)
fig = section_grid(samples, n=16, ncols=8)
plt.show()

# %% [markdown]
# The same samples as vessels: blur becomes a ragged or broken wall, so this view shows at a glance
# which samples would make a pot.

# %%
fig = revolved_grid(samples, n=8, ncols=8)
plt.show()

# %% [markdown]
# ## A sherd completed
#
# We cut each held-out profile half-way down its height and keep the upper part: a rim sherd
# whose base is missing. `spec.fragment_mask` gives the kept pixels (True) for each item.
#
# To complete a sherd, `ls.latent.complete` searches for the latent code whose decoded vessel best
# matches the kept part (gradient descent on the code, from a few random starts), and fills the
# missing part from that vessel. The kept part is returned as it was given.
#
# The obvious competitor needs no model at all: look up the **training profile closest to the
# sherd** on the kept part and take its base. A model is only worth having if it beats this.

# %%
n = 12 if FAST else len(x_test)
x = x_test[:n]
kept = data.info.spec.fragment_mask(x, "rim", cut=0.5)
missing = ~kept
completed = ls.latent.complete(vae, x, kept, steps=100 if FAST else 300, restarts=2 if FAST else 4, seed=0)


def nearest_fill(x, kept, train):
    """Each item's missing part taken from the training item closest to it on the kept part."""
    k = kept.flatten(1).float()
    xs, ts = x.flatten(1), train.flatten(1)
    # squared distance over the kept pixels only: sum k (x - t)^2, for every pair at once
    d = (k * xs**2).sum(1, keepdim=True) - 2 * (k * xs) @ ts.T + k @ (ts**2).T
    return torch.where(kept, x, train[d.argmin(1)])


nearest = nearest_fill(x, kept, x_train)
print(f"completed {n} rim sherds; the base of each was missing")

# %% [markdown]
# Six of them, one column each. Rows: the true profile; the sherd (the missing part gray, the cut
# in red); the VAE's completion; the nearest training profile's base. After full training the VAE
# continues the wall from the cut, blurred where it is unsure (in fast mode it paints a gray smudge).
# The nearest profile draws a clean wall, but sometimes that of a quite different vessel: it is
# matched on the kept pixels only, most of them paper, so a profile with little ink there can win.

# %%
def cut_row(m):
    """The first row of the missing part of a mask (1, H, W)."""
    return int(torch.nonzero(m[0].any(1))[0])


rows = {"truth": x, "sherd": torch.where(kept, x, 0.8), "VAE": completed, "nearest profile": nearest}
fig, axes = plt.subplots(len(rows), 6, figsize=(9, 6.4))
for r, (name, items) in enumerate(rows.items()):
    for i in range(6):
        ax = axes[r, i]
        ax.imshow(items[i, 0], cmap="gray", vmin=0, vmax=1)
        ax.axhline(cut_row(missing[i]) - 0.5, color="red", lw=0.8)
        ax.set_xticks([]), ax.set_yticks([])
    axes[r, 0].set_ylabel(name)
fig.suptitle("rim sherds: the base filled in")
plt.show()

# %% [markdown]
# The VAE's completed vessels, revolved (same order). Where the guessed wall is too faint to count
# as clay the vessel has gaps or floating rings: the 3-D view shows at once how sure the guess is.

# %%
fig = revolved_grid(completed, n=6, ncols=6)
plt.show()

# %% [markdown]
# ### How good is the guess? Two measures
#
# **Pixel RMSE** of the missing part: the root-mean-square difference between the true and the
# guessed pixels, over the missing pixels only (0 = perfect, values in [0, 1]). It is blunt: a wall
# guessed one pixel too far to the side is wrong on every pixel of its thickness.
#
# **Outline Procrustes RMSE**, the measure of IberianGAN (Navarro et al. 2022): trace the outline
# of the missing part in the truth and in the guess, place 25 landmarks evenly along each, then
# shift, scale and rotate one set onto the other as well as possible and take the
# root-mean-square of what is left (`latentspace.metrics.outlines.part_rmse`). It compares *shapes*:
# a base of the right form but the wrong size or place scores well. IberianGAN's published figures
# also leave out the items more than one standard deviation from the mean (`trimmed`), which
# lowers the average when, as here, a few completions fail badly; we print both.
#
# The missing base of the first sherd, true and guessed by the VAE, each with the 25 landmarks of
# its outline (the line where the drawing crosses half-way between ink and paper):

# %%
from latentspace.metrics.outlines import landmarks, part_rmse, trimmed

fig, axes = plt.subplots(1, 2, figsize=(6, 3.2))
for ax, (name, items) in zip(axes, (("truth", x), ("VAE", completed))):
    part = np.where(missing[0, 0], items[0, 0], 1.0)      # the missing part alone, the rest paper
    ax.imshow(part, cmap="gray", vmin=0, vmax=1)
    if (part < 0.5).any():
        pts = landmarks(part)
        ax.plot(pts[:, 0], pts[:, 1], "o-", ms=3, color="tab:orange")
    ax.set_title(f"{name}: missing base and its landmarks", fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])
plt.show()

# %%
def pixel_rmse(a, b, where):
    """Per item, the root-mean-square difference over the pixels where ``where`` is True."""
    sq = ((a - b) ** 2 * where).flatten(1).sum(1)
    return (sq / where.flatten(1).sum(1)).sqrt().numpy()


def outline_summary(shape):
    """Mean ± sd of the outline RMSEs, the mean within one sd, and how many parts had an outline."""
    traced = shape[np.isfinite(shape)]    # NaN: the guessed part holds no ink (all gray), no outline
    if len(traced) == 0:
        return f"{'no outline traced':>30}"
    return (f"{traced.mean():8.3f} ± {traced.std():.3f}   {trimmed(traced).mean():.3f}"
            f"   {len(traced):3d} of {len(shape)}")


print(f"missing base of {n} held-out profiles   pixel RMSE      outline RMSE  within 1 sd  traced")
for name, guess in (("VAE completion", completed), ("nearest training profile", nearest)):
    pix = pixel_rmse(guess, x, missing)
    print(f"{name:<28} {pix.mean():7.3f} ± {pix.std():.3f}  {outline_summary(part_rmse(x, guess, missing))}")

# %% [markdown]
# **Reading the table.** Lower is better in every column. In `docs/archaeology.md` (3 minutes of
# training, all 269 held-out profiles) the two measures disagree: on pixels the VAE beats the
# nearest training profile (0.243 against 0.284), on outlines the nearest profile wins (0.023
# against 0.040). The collection holds many near-copies of each shape, so a retrieved profile is a
# clean, real outline, often of the right form but not in quite the right place; the VAE's guess
# sits closer on average but is blurred where the model is unsure, and the outline of a blur is a
# poor shape. In fast mode (20 seconds of training, a dozen sherds) the VAE has only learnt a gray
# average vessel: read nothing into its numbers.
#
# IberianGAN (Navarro et al. 2022) reported outline RMSEs of 0.021 (base missing) and 0.027 (rim
# missing), averaged over the items within one standard deviation, as the last outline column is.
# The nearest training profile alone already matches them on this collection. Beating retrieval
# on outlines needs a sharper completion: `ls.models.create("inpaint")`, a network trained for
# completion itself (`ls.latent.complete` uses it the same way), narrows the gap (outline RMSE
# 0.030 against the VAE's 0.040 with the base missing, `docs/archaeology.md`) but does not yet close it.

# %% [markdown]
# ## Does augmentation help a classifier?
#
# The Iberian classes are very unequal: class 4 has 7 training drawings, class 10 has 286. The
# experiment (`latentspace.metrics.augmentation.augmentation_experiment`) trains a small CNN
# classifier in several *arms*, each with the same classic augmentation (random scale and shift):
#
# - `classic`: on the training drawings alone;
# - `cvae` (or `cgan`): on the training drawings plus vessels *generated* for each class by a
#   conditional model trained on those same drawings, topping small classes up to the largest.
#
# Each arm is scored on the held-out drawings by its **accuracy** (the fraction classified right,
# dominated by the large classes) and its **balanced accuracy** (the mean over the classes of the
# fraction of each class classified right, in which class 4 weighs as much as class 10: where
# help for the small classes would show). Both are repeated over seeds; the difference from
# `classic` is paired by seed and tested (t-test and Wilcoxon).
#
# Every classifier of an experiment trains for the same number of steps (`min_steps` =
# `max_steps`), so an arm with more items does not also get more training. The trainings here
# are much shorter than in the real experiment, and there is one generator instead of two
# (`generators=("cgan", "cvae")`): a cvae of 1,000 steps and classifiers of 200 (fast mode: 50
# and 40), two seeds, about 6 minutes (fast mode: 30 seconds). The numbers show how to run and read
# the experiment; the figures over 5 seeds with full-length trainings are in `docs/augmentation.md`.

# %%
from latentspace.metrics.augmentation import augmentation_experiment

if FAST:
    settings = dict(generators=("cvae",), seeds=2, generator_params={"steps": 50},
                    classifier_config={"min_steps": 40, "max_steps": 40, "width": 8})
else:
    settings = dict(generators=("cvae",), seeds=2, generator_params={"steps": 1000},
                    classifier_config={"min_steps": 200, "max_steps": 200, "width": 16})
small = None if data.name == "pottery" else 10    # synthetic classes are balanced: make them small
result = augmentation_experiment(data, labels_per_class=small, **settings)

def versus_classic(scores):
    """The mean difference from the classic arm, with the paired t-test's p-value."""
    d = scores.get("difference")
    return f"{d['mean']:+.3f} (p {d['p_ttest']:.2f})" if d else ""


print("arm        accuracy  vs classic       balanced  vs classic     accuracy per seed")
for arm, r in result["arms"].items():
    b = r["balanced_accuracy"]
    per_seed = " ".join(f"{a:.3f}" for a in r["accuracy"])
    print(f"{arm:<9} {r['mean']:9.3f}  {versus_classic(r):<15} {b['mean']:9.3f}  {versus_classic(b):<15} {per_seed}")
print(f"augmentation experiment: {result['train_seconds']:.0f} s")

# %% [markdown]
# A positive difference means the generated vessels helped. Two seeds settle nothing: the
# Wilcoxon test cannot go below p = 0.5 with two, and a t-test on two differences that happen to
# be alike can look significant by chance. When we ran this notebook in full mode the cvae's
# vessels *lowered* the accuracy (0.920 to 0.862, two seeds) and the balanced accuracy much more
# (0.863 to 0.672). The small classes are topped up with the most generated vessels, drawn by a
# generator that saw only a handful of drawings of them: blurred vessels that teach the classifier
# shapes the real drawings do not have. The augmentation can only be as good as the generator;
# whether full-length generators help is what the 5-seed figures of `docs/augmentation.md` measure.

# %% [markdown]
# ## Exercises
#
# 1. **A base sherd.** Keep the base instead of the rim (`fragment_mask(x, "base", cut=0.5)`) and
#    complete the rim. Is the rim easier or harder to guess than the base, by each measure?
# 2. **How much sherd is needed?** Complete rim sherds cut at 0.25, 0.5 and 0.75 of the height and
#    print the pixel RMSE of the missing part for each. Careful: the missing part is a different
#    part each time.
# 3. **Is the VAE copying?** For each of 8 samples, find the closest training drawing over the whole
#    profile, and compare these distances with those of held-out drawings to their closest training
#    drawing. Samples much closer than held-out drawings would be copies.
#
# Solutions follow, in collapsed cells (click to expand them in Jupyter).

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 1: a base sherd; the rim is missing
xs = x[:64]                                  # 64 sherds are enough to compare, and quicker
kept_base = data.info.spec.fragment_mask(xs, "base", cut=0.5)
rim_guess = ls.latent.complete(vae, xs, kept_base, steps=100 if FAST else 300, restarts=2 if FAST else 4, seed=0)
rim_near = nearest_fill(xs, kept_base, x_train)
for name, guess in (("VAE", rim_guess), ("nearest", rim_near)):
    pix, shape = pixel_rmse(guess, xs, ~kept_base), part_rmse(xs, guess, ~kept_base)
    print(f"rim missing, {name:<8} pixel RMSE {pix.mean():.3f}   outline RMSE {outline_summary(shape)}")

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 2: the error of the missing base as the cut moves down (more sherd kept)
for cut in (0.25, 0.5, 0.75):
    k = data.info.spec.fragment_mask(xs, "rim", cut=cut)
    guess = ls.latent.complete(vae, xs, k, steps=100 if FAST else 300, restarts=2 if FAST else 4, seed=0)
    print(f"cut at {cut:.2f}: pixel RMSE of the missing base {pixel_rmse(guess, xs, ~k).mean():.3f}")
# The missing part is a different part at each cut, smaller as the cut moves down, so the numbers
# of different cuts measure different things: compare each with the nearest profile's at the same
# cut (nearest_fill) before concluding that more sherd helps.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 3: distance to the closest training drawing, samples against held-out drawings
def closest_distance(items, train):
    """Per item, the RMS pixel distance to its closest training item."""
    return torch.cdist(items.flatten(1), train.flatten(1)).min(1).values / items[0].numel() ** 0.5


d_samples, d_heldout = closest_distance(samples, x_train), closest_distance(x_test[:16], x_train)
print(f"16 samples,  distance to the closest training drawing: mean {d_samples.mean():.3f}, "
      f"smallest {d_samples.min():.3f}")
print(f"16 held out, distance to the closest training drawing: mean {d_heldout.mean():.3f}, "
      f"smallest {d_heldout.min():.3f}")
if d_samples.min() < 0.5 * d_heldout.min():
    print(f"sample {int(d_samples.argmin())} is unusually close to a training drawing: draw the two side by side")
else:
    print("no sample is much closer to a training drawing than new drawings are: no sign of copying")
# A copy would be at distance 0. Careful: blurred samples are gray where drawings are black or
# white, which keeps them away from every drawing; this test catches copies of sharp samples only.
