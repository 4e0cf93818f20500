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
# # Volumes: 3-D shapes and CT-like scans
#
# **You will learn to**
#
# - load volumes from the files people have (a `.binvox` grid, an `.stl` mesh, a NIfTI scan) and
#   look at them: occupancy grids as shaded voxels, intensity scans as slices through CT windows;
# - train a 3-D variational autoencoder (VAE), draw new shapes from it and walk between two shapes;
# - run an augmentation experiment on CT-like volumes: does a classifier that has seen few
#   labelled scans get better when generated scans are added? And read its answer honestly.
#
# **Time:** about 30 minutes to read and run. The code runs in 1 to 2 minutes with
# `LATENTSPACE_FAST=1` (tiny trainings, to check that everything runs), about 11 minutes without
# (trainings of a few minutes, results worth looking at), on two CPU cores shared with other
# trainings.
#
# **You need:** Python and NumPy. `trimesh` and `nibabel` for the mesh and the NIfTI file
# (`pip install 'latentspace[mesh,nifti]'`). `notebooks/README.md` says how to run this file as a
# script or open it as a notebook.

# %% [markdown]
# ## Why
#
# Much 3-D data is a **volume**: a cube of voxels. Two kinds are common:
#
# - **occupancy grids**: each voxel is inside a shape (1) or not (0): furniture from CAD models,
#   3-D scans of objects, a mesh made solid. Drawn as shaded surfaces.
# - **intensity volumes**: each voxel holds a measurement: CT in Hounsfield units (HU: air -1000,
#   water 0, soft tissue about 40, bone 400 to 1000), MRI. Drawn as slices.
#
# A generative model learns what a plausible volume of a collection looks like. Drawing new shapes
# is the obvious use; in medicine the hoped-for one is **augmentation**: labelled scans are scarce
# (a radiologist has to mark each one), so perhaps generated scans of each class could stand in
# for more. We measure whether they do, on CT-like volumes made on the spot.

# %%
# ruff: noqa: E402   (imports appear where they are first needed, as in any notebook)
import os
import tempfile
from pathlib import Path

import latentspace as ls   # before torch: latentspace tells torch's idle threads not to hog shared cores
import matplotlib.pyplot as plt
import numpy as np
import torch
from latentspace.plots.voxels import voxel_grid

FAST = os.environ.get("LATENTSPACE_FAST") == "1"   # tiny trainings: checks that everything runs
print("fast mode" if FAST else "full mode")

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
FILES = Path(tempfile.mkdtemp(prefix="latentspace-volumes-"))   # the files we write below
print("writing example files to", FILES)

# %% [markdown]
# ## Volumes from the files you have
#
# `ls.data.load(path, size=32)` reads a volume file (or a folder of them, one item per file, class
# sub-folders giving labels), puts the volume in the middle of a cube keeping its proportions and
# resamples it to `size`³ voxels. Every volume is indexed `[x, y, z]` with `z` up. We write three
# small files from code, so that nothing needs downloading.
#
# **A `.binvox` file** (the occupancy format of ModelNet and ShapeNet): a little table, built
# voxel by voxel in a 48³ grid and written with `save_binvox`.

# %%
from latentspace.data.voxel_formats import save_binvox

table = np.zeros((48, 48, 48), dtype=bool)
table[4:44, 10:38, 30:34] = True                          # the top, 4 voxels thick, z up
for x in (6, 39):
    for y in (12, 33):
        table[x:x + 3, y:y + 3, 0:30] = True                # four legs
save_binvox(FILES / "table.binvox", table)

grid = ls.data.load(FILES / "table.binvox", size=32)
print(grid.summary())
print("shape", grid.shape, " modality", grid.modality, " occupied voxels", int(grid.to_data().sum()))

# %% [markdown]
# **A mesh** (`.stl`, `.obj`, `.off`): surfaces of triangles, the format of every 3-D modelling
# program. The loader voxelises it: every voxel the surface passes through is occupied (thin parts
# stay) and closed surfaces are filled. Here a mug made with trimesh: a hollow cylinder, a bottom
# and a ring for the handle.

# %%
import trimesh

wall = trimesh.creation.annulus(r_min=0.8, r_max=1.0, height=2.0)
bottom = trimesh.creation.cylinder(radius=0.85, height=0.2)
bottom.apply_translation([0, 0, -0.9])
handle = trimesh.creation.torus(major_radius=0.5, minor_radius=0.12)
handle.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))   # stand it up
handle.apply_translation([1.1, 0, 0])
trimesh.util.concatenate([wall, bottom, handle]).export(FILES / "mug.stl")

mug = ls.data.load(FILES / "mug.stl", size=32)
print(mug.summary())

# %% [markdown]
# Both as the model sees them, each from four views (oblique, front, side, top). The voxels are
# shaded by their surface's direction and darker when further away.

# %%
shapes = torch.cat([grid.to_data(), mug.to_data()])
fig = voxel_grid(shapes, n=2, ncols=2, labels=["table.binvox", "mug.stl"], title="occupancy grids, 32³")
plt.show()

# %% [markdown]
# **A NIfTI scan** (`.nii`, `.nii.gz`, the format of medical imaging research). We make a CT-like
# chest in HU with latentspace's `make_ct` (the generator of the `ct-synthetic` data set below,
# with lung nodules), keep every third slice as a thick-slice scanner would (48 x 48 pixels of
# 8 mm, 16 slices 24 mm apart) and write it with nibabel. The file records the voxel sizes; the
# loader reorients to RAS+ (`x` towards the patient's right, `y` anterior, `z` towards the head)
# and resamples in millimetres, so the 24 mm slices are stretched
# back to the right height.
#
# Scans need a **window**: the HU range drawn from black to white. `window="lung"` (level -600,
# width 1500 HU) shows the lungs and what lies in them; `"soft-tissue"` (40, 400) the organs;
# `"bone"` (400, 1800) the skeleton; or give `(level, width)`. Without one, the data's own 0.5 to
# 99.5 percentile range is used. A **DICOM series** (a folder of `.dcm` slices, what scanners
# write) loads the same way, in HU: `ls.data.load("ct/patient-07/", window="soft-tissue")`
# (needs `pydicom`); a folder with one sub-folder per class and one per patient inside them gives
# a labelled dataset.

# %%
import nibabel as nib
from latentspace.data.volumes_synthetic import make_ct

hu, _, lesion_mask = make_ct(4, size=48, seed=0, masks=True)   # items 1 and 3 carry nodules
scan_hu = hu[3][:, :, ::3]                                      # 48 x 48 x 16: thick slices
nib.save(nib.Nifti1Image(scan_hu.astype(np.int16), affine=np.diag([8.0, 8.0, 24.0, 1.0])), FILES / "chest.nii.gz")

windows = {w: ls.data.load(FILES / "chest.nii.gz", size=32, window=w) for w in ("lung", "soft-tissue", "bone")}
print(windows["lung"].summary())
print("file", scan_hu.shape, "voxels of 8 x 8 x 24 mm  ->  loaded", windows["lung"].shape)

# %% [markdown]
# latentspace draws a scan as its three middle slices, in the radiological convention: **axial**
# (seen from the feet: the patient's right on the left of the picture, the front at the top),
# **coronal** (seen from the front) and **sagittal** (seen from the side, the front on the left).
# One row per window: the lungs dark in the lung window, the body grey with its texture in the
# soft-tissue window, only the spine white in the bone window.

# %%
from latentspace.modalities.scans import slices


def slice_rows(volumes, labels, title):
    """Scans (n, 1, X, Y, Z) in [0, 1] as rows of their axial, coronal and sagittal middle slices."""
    pics = slices(torch.as_tensor(volumes)[:, 0])
    fig, axes = plt.subplots(len(pics), 1, figsize=(5.4, 1.9 * len(pics)), squeeze=False)
    for ax, pic, label in zip(axes[:, 0], pics, labels):
        ax.imshow(pic, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_ylabel(label, fontsize=8)
    axes[0, 0].set_title("axial            coronal            sagittal", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


fig = slice_rows(torch.cat([d.to_data() for d in windows.values()]), [f"window {w}" for w in windows],
                 "chest.nii.gz through three CT windows")
plt.show()

# %% [markdown]
# The nodules are 2 to 5 voxels across and few lie on the middle slices. To find them, page
# through the axial slices, as a radiologist does: here slices 11 to 18 of 32, lung window. A
# nodule is a small light spot inside a dark lung, grey rather than white here: the 24 mm slices
# and the resampling average each nodule with the lung around it (the *partial volume effect*).
# `make_ct` also gave us where it put them (`lesion_mask`), so we can check.

# %%
from scipy import ndimage

parts, count = ndimage.label(lesion_mask[3])
centres = ndimage.center_of_mass(lesion_mask[3], parts, range(1, count + 1))
print(f"{count} nodule(s), centred on axial slices", [round((c[2] + 0.5) * 32 / 48 - 0.5) for c in centres],
      "of the loaded 32-slice volume")


def axial(volume, z):
    """The axial slice ``z`` of a volume (X, Y, Z), drawn as latentspace draws it (right on the left, front up)."""
    return np.flip(np.asarray(volume)[:, :, z].T, (0, 1))


def axial_rows(volumes, labels, zs, title):
    """Axial slices ``zs`` of each volume (n, 1, X, Y, Z), one row per volume."""
    fig, axes = plt.subplots(len(volumes), len(zs), figsize=(1.3 * len(zs), 1.4 * len(volumes) + 0.4),
                             squeeze=False)
    for r, (v, label) in enumerate(zip(volumes, labels)):
        for c, z in enumerate(zs):
            ax = axes[r, c]
            ax.imshow(axial(v[0], z), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(f"z = {z}", fontsize=8)
        axes[r, 0].set_ylabel(label, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


fig = axial_rows(windows["lung"].to_data(), ["lung window"], range(11, 19), "chest.nii.gz, axial slices")
plt.show()

# %% [markdown]
# ### Real shapes: ModelNet10 chairs
#
# ModelNet10 (Wu et al. 2015) holds CAD models of ten kinds of furniture. This workplace keeps the
# chairs and monitors voxelised at 32³ in one `.npz` file (`x`: the grids, `y`: the labels), at
# `../shared/data/voxels/` beside the repository, or under `$LATENTSPACE_SHARED_DATA/voxels/`. A
# folder of ModelNet's own `.off` files (`chair/train/*.off`, ...) loads too, voxelised as the mug
# was, but takes a few minutes for 900 chairs.

# %%
SHARED = Path(os.environ.get("LATENTSPACE_SHARED_DATA", HERE.parents[1].parent / "shared" / "data"))
CHAIRS_FILE = SHARED / "voxels" / "modelnet10_vox32_chair_monitor_train.npz"
if CHAIRS_FILE.is_file():
    chairs = ls.data.load(CHAIRS_FILE, classes="chair")
    print(chairs.summary())
else:
    chairs = None
    print(f"No ModelNet10 chairs at {CHAIRS_FILE}: skipping them (the rest of the notebook does not need them)")

# %%
if chairs is not None:
    fig = voxel_grid(chairs.to_data()[:8], n=8, ncols=4, views=["oblique"], title="ModelNet10 chairs, 32³")
    plt.show()

# %% [markdown]
# ## A 3-D VAE: new shapes
#
# A variational autoencoder has two networks: the **encoder** squeezes each volume into a short
# list of numbers, its *latent code* (32 numbers here), and the **decoder** turns a code back into
# a volume. Training makes decoded volumes match the inputs while keeping the codes spread like a
# standard normal distribution, so that a random code decodes to a plausible shape. For volumes
# both networks are 3-D convolutions; the decoder gives each voxel a probability of being occupied.
#
# A 32³ volume has 32,768 voxels, 40 times an MNIST digit, so 3-D convolutions are slow on a CPU:
# we use narrow networks (`width=16` channels in the first layer) and batches of 32. The data:
# `shapes-3d`, spheres, boxes, tori and cylinders of random size and pose, made on the spot; in
# full mode the chairs, when they are here. The full run trains for 1,500 steps (about 5 minutes
# on two busy cores). Fast mode trains for 15 seconds on shapes at 16³ (8 times fewer voxels, so
# several times more steps in the time): at 32³, 15 seconds leave almost every voxel of a sample
# below a probability of one half, and the pictures would be empty.

# %%
shapes3d = ls.data.load("shapes-3d", n=400 if FAST else 800, n_test=100 if FAST else 200, size=16 if FAST else 32)
data3d = chairs if (chairs is not None and not FAST) else shapes3d
print("training the VAE on", data3d.name, f"({len(data3d)} volumes)")

vae = ls.models.create("vae", width=16)
if FAST:
    vae.fit(data3d, time=15, batch_size=32, seed=0, progress=False)
else:
    vae.fit(data3d, steps=1500, batch_size=32, seed=0)
print("VAE trained:", vae.resolved_params())

# %% [markdown]
# **Samples**: random codes decoded, shapes no one made. A voxel is drawn where its probability
# of being occupied is at least one half.

# %%
samples = vae.sample(8, seed=1)
print(f"samples {tuple(samples.shape)}: {float((samples >= 0.5).float().mean()):.1%} of the voxels drawn "
      f"(the training volumes: {float(data3d.to_data().mean()):.1%} occupied)")
fig = voxel_grid(samples, n=8, ncols=4, views=["oblique"], title=f"VAE samples ({data3d.name})")
plt.show()

# %% [markdown]
# **An interpolation**: encode two held-out volumes, walk along a path between their codes and
# decode each step (`ls.latent.interpolate`). A smooth change of shape along the way says that the
# latent space has organised the shapes; a jump says the model has not learnt what lies between.

# %%
test = data3d.test.to_data()
if data3d is shapes3d:
    a, b = test[data3d.test.y == 0][0], test[data3d.test.y == 2][0]      # a sphere and a torus
else:
    a, b = test[0], test[5]
path = ls.latent.interpolate(vae, a, b, steps=6)
ends = ["its code, decoded"] + [""] * 4 + ["its code, decoded"]
fig = voxel_grid(torch.cat([a[None], path, b[None]]), n=8, ncols=8, views=["oblique"],
                 labels=["held out"] + ends + ["held out"], title="from one held-out volume to another")
plt.show()

# %% [markdown]
# After the full run on the chairs most samples are chairs, with a seat, a back and legs, but with
# legs broken into pieces or missing and holes in seats and backs: thin parts are the first thing
# a VAE blurs away (a voxel is drawn only where the model is more than half sure of it), and the
# walk between two chairs passes through chairs. In fast mode the samples are rough blobs. The 3-D GAN
# (`ls.models.create("gan")`) draws sharper chairs but needs about 15 minutes to learn them
# (`docs/gan-family.md`); exercise 3 trains it briefly.

# %% [markdown]
# ## Does augmentation help a CT classifier?
#
# `ct-synthetic` holds CT-like chest volumes (32³, lung window): a body of textured soft tissue,
# two lungs, a spine and scanner noise. Half of them (class `lesion`) carry one to three small
# nodules in the lungs, the others (`no lesion`) none. The task, for a small 3-D CNN: say which.
#
# We give the classifier only **10 labelled volumes per class** and compare two arms:
#
# - `classic`: the 20 labelled volumes, each batch augmented with random scale (±10%) and shift
#   (±1/16 of the side): no flips here;
# - `cvae`: the same, plus volumes *generated* for each class by a conditional VAE (`cvae`, told
#   the class while training) trained on those same 20 volumes: 10 per class more.
#
# Each arm is scored by its accuracy on held-out volumes, over a few seeds (each seed draws
# other labelled volumes and trains everything afresh).
#
# First the real data, two of each class, through the middle slices:

# %%
n_ct, n_ct_test = (200, 100) if FAST else (400, 200)
ct = ls.data.load("ct-synthetic", n=n_ct, n_test=n_ct_test)
print(ct.summary())
fig = slice_rows(ct.to_data()[:4], [ct.classes[int(c)] for c in ct.y[:4]], "ct-synthetic, lung window")
plt.show()

# %% [markdown]
# The nodules rarely lie on the middle slices; `make_ct` can also say where they are, so here
# are the axial slices through the first nodule of each of the first three lesion volumes (the
# same volumes as the data set's, from the same seed), with a slice of a volume without one:

# %%
_, _, masks = make_ct(n_ct + n_ct_test, size=32, seed=0, masks=True)   # ct-synthetic's own seed
lesion_items = [int(i) for i in torch.nonzero(ct.y == 1)[:3, 0]]
fig, axes = plt.subplots(1, 4, figsize=(7, 2.1))
for ax, i in zip(axes, lesion_items + [0]):
    if i in lesion_items:
        parts, _ = ndimage.label(masks[i])
        x0, y0, z = (round(c) for c in ndimage.center_of_mass(masks[i], parts, 1))   # the first nodule
        ax.plot(31 - x0, 31 - y0, "o", ms=14, mfc="none", mec="tab:red", mew=1)      # where axial() draws it
    else:
        z = 16
    ax.imshow(axial(ct.to_data()[i, 0], z), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(f"{ct.classes[int(ct.y[i])]}, z = {z}", fontsize=8)
    ax.set_xticks([]), ax.set_yticks([])
plt.show()

# %% [markdown]
# ### One seed by hand
#
# Before running the experiment, its first seed by hand, to see what the generator gives the
# classifier: draw 10 volumes of each class (`labelled_subset`, as the experiment does), train a
# cvae on them, and sample volumes of each class. Fast mode trains it for 60 steps, the full
# run for 600 (about 2 minutes), with narrow networks (`width=8`) and a Gaussian likelihood: the
# default for grey values, an 8-bit logistic, gave darker, blurrier volumes in our trials (300
# steps: mean absolute reconstruction error 0.11 against 0.06).

# %%
from latentspace.metrics.augmentation import augmentation_experiment, labelled_subset

LABELS = 10
GENERATOR = {"steps": 60 if FAST else 600, "batch_size": 16, "width": 8, "likelihood": "gaussian"}
subset = labelled_subset(ct, LABELS, seed=0)
print("labelled volumes per class:", torch.bincount(subset.y).tolist())

cvae = ls.models.create("cvae", width=GENERATOR["width"], likelihood=GENERATOR["likelihood"])
cvae.fit(subset, steps=GENERATOR["steps"], batch_size=GENERATOR["batch_size"], seed=0, progress=False)
generated = cvae.sample(4, labels=torch.tensor([0, 0, 1, 1]), seed=0)
print("generated", tuple(generated.shape), "values from", round(float(generated.min()), 3),
      "to", round(float(generated.max()), 3))

# %%
fig = slice_rows(torch.cat([subset.to_data()[subset.y == 1][:2], generated[2:]]),
                 ["real lesion", "real lesion", "cvae: lesion", "cvae: lesion"],
                 "real and generated volumes of the lesion class")
plt.show()

# %% [markdown]
# Does a generated `lesion` volume hold a nodule? Page through its axial slices beside a real one:

# %%
fig = axial_rows(torch.stack([subset.to_data()[subset.y == 1][0], generated[2], generated[3]]),
                 ["real lesion", "cvae: lesion", "cvae: lesion"], range(6, 27, 3),
                 "axial slices: real and generated lesion volumes")
plt.show()

# %% [markdown]
# After the full run (600 steps on the 20 volumes) the generated volumes hold a ghost of the
# anatomy: the outline of the body and of two lungs, blurred, with a fraction of the contrast
# (values from about 0.3 to 0.7 where the real ones span 0 to 1), some hardly that; the spine,
# the texture and the noise are gone, and there is no nodule to be seen. In fast mode (60 steps)
# they are fainter still. A cvae that has seen 20 volumes learns at best the average chest of each class, and the
# classes differ by nothing but a few small bright spots.
#
# ### The experiment
#
# `augmentation_experiment` repeats this for each seed and trains the classifiers: every
# classifier the same number of steps, so that the arm with more volumes does not also get more
# training (fast mode: 40 steps, 2 seeds; full: 300 steps, 3 seeds, about 4 minutes).

# %%
if FAST:
    settings = dict(seeds=2, classifier_config={"min_steps": 40, "max_steps": 40})
else:
    settings = dict(seeds=3, classifier_config={"min_steps": 300, "max_steps": 300})
result = augmentation_experiment(ct, generators=("cvae",), labels_per_class=LABELS,
                                 generator_params=GENERATOR, **settings)

print("arm       accuracy   vs classic         accuracy per seed")
for arm, r in result["arms"].items():
    d = r.get("difference")
    versus = f"{d['mean']:+.3f} (p {d['p_ttest']:.2f})" if d else ""
    print(f"{arm:<9} {r['mean']:8.3f}   {versus:<17} " + " ".join(f"{v:.3f}" for v in r["accuracy"]))
print(f"generated volumes per class: {result['synthetic_per_class']}")
print(f"augmentation experiment: {result['train_seconds']:.0f} s")

# %% [markdown]
# **Reading it.** Half the held-out volumes carry a nodule, so 0.5 is chance. A positive
# difference means the generated volumes helped. In fast mode neither the classifiers (40 steps)
# nor the generator are trained: read nothing into the numbers. When we ran the full notebook
# (3 seeds, 200 held-out volumes, 4 minutes for the experiment) the classic classifiers reached
# 0.590 on average (0.655, 0.555 and 0.560 by seed) and the cvae arm 0.555 (0.630, 0.465, 0.570):
# the generated volumes lowered the accuracy in two seeds of three, by 0.035 on average (paired
# t-test p = 0.35). Three seeds cannot tell a loss of 0.035 from none; they do show no sign of a
# gain. Both arms are not far above chance: 20 labelled volumes and 300 steps are not enough for a
# small 3-D CNN to learn to find spots of 2 to 5 voxels, with or without help.
#
# This is the common outcome when the generator sees no more labels than the classifier: it cannot
# add information about the classes that the labelled volumes do not hold, only its own blur, and
# here the one thing that tells the classes apart (a few small bright voxels) is exactly what the
# blur removes. Generated data helps more when the generator learns from many *unlabelled* volumes
# (or from other patients), when what separates the classes is large, or when a class is so rare
# that any plausible example of it counts. Three seeds settle little: `docs/augmentation.md` runs 5
# and tests the differences.

# %% [markdown]
# ## Exercises
#
# 1. **Windows.** Load `ct-synthetic` with `window="soft-tissue"` and draw the same four volumes as
#    above. Can you still see the lungs? Which window would you give a classifier for nodules?
# 2. **Surfaces and resolution.** Load `mug.stl` again with `fill=False` (the surface only) and at
#    `size=64`, and draw the three. How many voxels does each occupy?
# 3. **The 3-D GAN.** Train `ls.models.create("gan", width=8)` on the VAE's data (`data3d`) for 20 seconds
#    (`time=20`, `batch_size=32`) and draw 8 samples beside the VAE's. What differs?
#
# Solutions follow, in collapsed cells (click to expand them in Jupyter).

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 1: the soft-tissue window
soft = ls.data.load("ct-synthetic", n=8, n_test=4, window="soft-tissue")
fig = slice_rows(soft.to_data()[:4], [soft.classes[int(c)] for c in soft.y[:4]], "ct-synthetic, soft-tissue window")
plt.show()
print("voxels at 0 (below -160 HU) in the soft-tissue window:", f"{float((soft.to_data() == 0).float().mean()):.2f}")
# Everything below -160 HU is black: air and lungs alike, so the lungs become holes of one shade.
# A nodule (20-60 HU) is still bright against them, but the lung window keeps the lungs' own
# grey levels too, which a classifier can use to find them: keep the lung window for nodules.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 2: the mug's surface only, and at 64³
mugs = {"filled, 32³": mug.to_data()[0],
        "surface, 32³": ls.data.load(FILES / "mug.stl", size=32, fill=False).to_data()[0],
        "filled, 64³": ls.data.load(FILES / "mug.stl", size=64).to_data()[0]}
for name, m in mugs.items():
    print(f"{name:<13} {int(m.sum()):6d} occupied voxels of {m.numel():,}")
fig = voxel_grid(torch.stack([mugs["filled, 32³"], mugs["surface, 32³"]]), n=2, ncols=2, views=["oblique", "top"],
                 labels=["filled", "surface only"], title="mug.stl, 32³")
plt.show()
fig = voxel_grid(mugs["filled, 64³"][None], n=1, views=["oblique", "top"], title="mug.stl, 64³")
plt.show()
# The mug is open at the top, so filling only closes the inside of its wall, bottom and handle (each
# a closed surface): a quarter fewer voxels without it, and the same picture from outside. At 64³
# the wall is twice as many voxels thick and the handle a clean ring; each volume costs 8 times the
# memory and the training time.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 3: a 3-D GAN for 20 seconds (fast mode: 10)
gan = ls.models.create("gan", width=8)
gan.fit(data3d, time=10 if FAST else 20, batch_size=32, seed=0, progress=False)
fig = voxel_grid(torch.cat([gan.sample(4, seed=1), vae.sample(4, seed=1)]), n=8, ncols=4, views=["oblique"],
                 labels=["GAN"] * 4 + ["VAE"] * 4, title="3-D GAN (top) and VAE (bottom) samples")
plt.show()
# After 20 seconds the GAN draws noise or one blob for every code: a GAN needs many more steps than
# a VAE before its samples look like anything (docs/gan-family.md: 3,600 steps for the chairs), but
# once trained its volumes are sharp where the VAE's are rounded.
