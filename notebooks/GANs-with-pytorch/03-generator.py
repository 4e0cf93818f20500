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
# # GANs with PyTorch, part 3: the generator
#
# **You will learn to**
#
# - build a generator, the network that maps random noise $z \sim \mathcal N(0, I)$ to an image,
#   twice by hand: as a multilayer perceptron and as a DCGAN-style stack of transposed convolutions;
# - explain why it ends in tanh and why the data are scaled to $[-1, 1]$;
# - initialise its weights as DCGAN does, $\mathcal N(0, 0.02)$, and measure what the
#   initialisation does to its output before any training;
# - treat the latent space as a function $z \mapsto$ image: sample grids, the same seed giving the
#   same image, interpolation between two codes;
# - find the same generator in the library (`ls.models.create("dcgan")`) and draw samples after a
#   short training.
#
# **Time:** about 20 minutes to work through; the file runs in under 25 seconds with
# `LATENTSPACE_FAST=1` (the library's GAN trains for a few dozen steps, so its samples are blobs)
# and in 2 to 3 minutes without (1,500 steps: first digit shapes), on two idle CPU cores.
#
# **You need:** parts 1 and 2 (`01-discriminator`, `02-training-SGD`), or knowing layers,
# `nn.Module` and the training loop. This notebook runs on its own.

# %% [markdown]
# ## What a generator is
#
# A generator $G_\theta$ is a network that takes a vector $z$ of $d$ random numbers, drawn from
# the standard normal distribution $\mathcal N(0, I)$, and returns an image. Every $z$ gives one
# image, so drawing many $z$'s gives a *distribution* of images, $p_G$. Training (part 4) adjusts
# $\theta$ until $p_G$ looks like the distribution of the data (Goodfellow et al. 2014). The
# space of the $z$'s is the **latent space**: the image is hidden (latent) in the code.
#
# Before training, $G$ is just a random function. This notebook builds it and looks at what it
# does at initialisation, where many GAN failures start.

# %%
# ruff: noqa: E402   (imports appear where they are first needed, as in any notebook)
import os
import time
from pathlib import Path

import latentspace as ls   # before torch: latentspace tells torch's idle threads not to hog shared cores
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

FAST = os.environ.get("LATENTSPACE_FAST") == "1"   # tiny trainings: checks that everything runs
print("fast mode" if FAST else "full mode")

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
print("computing on", DEVICE)

# %% [markdown]
# ## The data, and why $[-1, 1]$
#
# MNIST (LeCun et al. 1998) from `LATENTSPACE_MNIST_DIR` or where this workplace keeps it
# (`../../../shared/data/mnist` from this notebook); without it, the embedded 8 x 8 digits
# (`ls.data.load("digits")`).
#
# A generator's last layer is usually **tanh**, which maps any number into $(-1, 1)$: every pixel
# it makes is in range, whatever the weights, and tanh's gradient is largest around 0, the middle of
# the range (Radford et al. 2016 found that a bounded output let the generator learn faster to
# cover the range of the data's pixel values). So the
# data are scaled to the same range, $x_\text{model} = (x - 0.5) / 0.5$ for pixels in $[0, 1]$:
# otherwise the generator could never produce a black pixel, and the discriminator would spot
# its fakes by their range alone. `ls.data.load` does this scaling; `data.info` remembers it, and
# `data.to_data` undoes it.

# %%
HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
SHARED = Path(os.environ.get("LATENTSPACE_SHARED_DATA", HERE / "../../../shared/data"))
MNIST_DIR = Path(os.environ.get("LATENTSPACE_MNIST_DIR", SHARED / "mnist"))

if MNIST_DIR.is_dir():
    data = ls.data.load("mnist", data_dir=MNIST_DIR, limit=5000 if FAST else None)
else:
    print(f"No MNIST at {MNIST_DIR}: using the embedded 8x8 digits instead "
          "(set LATENTSPACE_MNIST_DIR to a folder with MNIST's four .gz files)")
    data = ls.data.load("digits")
SIZE = data.shape[-1]
print(data.summary())
back = data.to_data()[:100]     # the first 100 images, back in data space
print(f"model space: pixels from {data.x.min():.0f} to {data.x.max():.0f};  shift {data.info.shift}, "
      f"scale {data.info.scale};  data space: from {back.min():.0f} to {back.max():.0f}")


def grid(images: torch.Tensor, ncols: int = 8, lim: float = 1.0) -> np.ndarray:
    """Model-space images (n, 1, H, W) tiled into one picture with the library's ``image_grid``:
    pixel value -lim black, 0 mid-gray, +lim white (lim=1: the full range of the data)."""
    return ls.plots.image_grid((images.detach().cpu() / lim + 1) / 2, ncols=ncols)


fig, ax = plt.subplots(figsize=(9, 1.4))
ax.imshow(grid(data.x[:16], ncols=16), cmap="gray")
ax.set_title("training digits")
ax.axis("off")
plt.show()

# %% [markdown]
# ## An MLP generator
#
# The simplest generator is a multilayer perceptron: linear layers and ReLUs from $d$ numbers to
# $H \times W$ numbers, a tanh, and a reshape into an image. It treats pixels as a list: nothing in
# it knows that neighbouring pixels are neighbours. Goodfellow et al. (2014) used this kind of
# generator for MNIST.

# %%
Z_DIM = 64    # the size of the latent code z


class MLPGenerator(nn.Module):
    """z (N, z_dim) -> images (N, 1, size, size) through linear layers, ReLUs and a tanh."""

    def __init__(self, z_dim: int = Z_DIM, size: int = SIZE, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(z_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, 2 * hidden), nn.ReLU(),
            nn.Linear(2 * hidden, size * size), nn.Tanh(),
            nn.Unflatten(1, (1, size, size)),
        )

    def forward(self, z):
        return self.net(z)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


torch.manual_seed(0)
mlp_g = MLPGenerator().to(DEVICE)
z = torch.randn(16, Z_DIM, device=DEVICE)
print(f"MLP generator: {count_parameters(mlp_g):,} parameters;  z {tuple(z.shape)} -> images {tuple(mlp_g(z).shape)}")

# %% [markdown]
# ## A transposed-convolution generator (DCGAN)
#
# DCGAN (Radford et al. 2016) runs a discriminator backwards. A linear layer turns $z$ into a small
# stack of feature maps of a quarter of the image's size (7 x 7 pixels for MNIST, 2 x 2 for the
# 8 x 8 digits); each transposed convolution (kernel 4, stride 2, padding 1) doubles
# their size and halves their number, with batch norm and ReLU between, until one channel at full
# size comes out through a tanh. Each layer works on neighbourhoods, so the generator builds an
# image from coarse to fine.

# %%
class ConvGenerator(nn.Module):
    """z (N, z_dim) -> images (N, 1, size, size): linear, then two stride-2 transposed convolutions."""

    def __init__(self, z_dim: int = Z_DIM, size: int = SIZE, width: int = 64):
        super().__init__()
        s = size // 4
        self.stem = nn.Sequential(
            nn.Linear(z_dim, 2 * width * s * s), nn.Unflatten(1, (2 * width, s, s)),
            nn.BatchNorm2d(2 * width), nn.ReLU(),
        )
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1), nn.Tanh(),
        )

    def forward(self, z):
        return self.up(self.stem(z))


torch.manual_seed(0)
conv_g = ConvGenerator().to(DEVICE)
print(f"conv generator: {count_parameters(conv_g):,} parameters")
h = z
print(f"{'z':<16} {tuple(h.shape)}")
for layer in [*conv_g.stem, *conv_g.up]:
    h = layer(h)
    print(f"{type(layer).__name__:<16} {tuple(h.shape)}")

# %% [markdown]
# ## Weight initialisation
#
# PyTorch initialises each layer's weights from a uniform distribution scaled by the number of
# inputs, a choice made for classifiers. DCGAN instead draws every conv and linear weight from
# $\mathcal N(0, 0.02^2)$ (and, in PyTorch's DCGAN tutorial, batch norm's scales $\gamma$ from
# $\mathcal N(1, 0.02^2)$), with zero biases. The initialisation decides what the untrained
# generator outputs, and so where training starts. Three numbers summarise that, over a batch of 256 codes:
#
# - **pixel std**: the spread of the output pixels (the data's is close to 1: mostly $-1$ with strokes at $+1$);
# - **saturated**: the fraction of pixels with $|x| > 0.99$, where tanh is flat and passes almost
#   no gradient back;
# - **std over z**: how much a pixel changes from one $z$ to another, averaged over pixels. Near
#   0, the generator ignores its input: every code gives the same image.

# %%
def dcgan_init(net: nn.Module) -> nn.Module:
    """DCGAN's initialisation (Radford et al. 2016): N(0, 0.02) weights, batch norm scales N(1, 0.02), zero biases."""
    for m in net.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return net


@torch.no_grad()
def output_stats(g: nn.Module, n: int = 256, seed: int = 0) -> dict:
    """Statistics of the untrained generator's output over ``n`` codes (training mode, as in training)."""
    z = torch.randn(n, Z_DIM, generator=torch.Generator().manual_seed(seed)).to(DEVICE)
    x = g.train()(z)
    return {"pixel std": x.std().item(), "saturated": (x.abs() > 0.99).float().mean().item(),
            "std over z": x.std(0).mean().item(), "pixels": x.flatten().cpu()}


stats = {}
for name, make in (("MLP", MLPGenerator), ("conv", ConvGenerator)):
    for init in ("PyTorch default", "DCGAN N(0, 0.02)"):
        torch.manual_seed(0)
        g = make().to(DEVICE)
        if init.startswith("DCGAN"):
            dcgan_init(g)
        stats[name, init] = output_stats(g)
real = data.x[:256]
print(f"{'generator':<10}{'initialisation':<19}{'pixel std':>10}{'saturated':>11}{'std over z':>12}")
print(f"{'data':<29}{real.std():10.3f}{(real.abs() > 0.99).float().mean():11.3f}{real.std(0).mean():12.3f}")
for (name, init), s in stats.items():
    print(f"{name:<10}{init:<19}{s['pixel std']:10.3f}{s['saturated']:11.3f}{s['std over z']:12.3f}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True, layout="constrained")
bins = np.linspace(-1, 1, 41)
for ax, name in zip(axes, ("MLP", "conv")):
    ax.hist(real.flatten().numpy(), bins=bins, density=True, color="0.8", label="data")
    for init, colour in (("PyTorch default", "C0"), ("DCGAN N(0, 0.02)", "C3")):
        ax.hist(stats[name, init]["pixels"].numpy(), bins=bins, density=True, histtype="step", lw=1.5,
                color=colour, label=init)
    ax.set(title=f"{name} generator at initialisation", xlabel="output pixel value", yscale="log")
axes[0].set_ylabel("density (log scale)")
axes[1].legend(fontsize=8)
plt.show()

# %% [markdown]
# Read the table and the histograms. Three things to look for:
#
# - The **conv generator** with PyTorch's default initialisation spreads its pixels over the whole
#   range and pushes some onto the rails $\pm 1$ (the "saturated" column), where they learn slowly.
#   PyTorch scales a transposed convolution's weights by its number of *output* channels (one, in
#   the last layer), so they come out large. With DCGAN's initialisation the pixels start in the
#   middle, where tanh is steep and every pixel can learn.
# - The **MLP** has no batch norm, so DCGAN's small weights shrink the signal at each layer: its
#   outputs are all close to 0 and nearly the same for every $z$ (a small "std over z"). The
#   $\mathcal N(0, 0.02)$ recipe was made for networks with batch norm, which restores the scale
#   after every layer.
# - The data are far from either: most of their pixels are at $-1$ (paper) or near $+1$ (ink), the
#   first row of the table. Training must take the generator there.
#
# From here on we use the conv generator with DCGAN's initialisation.
#
# ## The latent space as a function
#
# Once trained, a generator *is* its latent space: a function from codes to images. Write it as
# one. `G.eval()` matters: in training mode batch norm normalises with the batch's statistics, so
# an image would depend on the other codes of its batch; in eval mode it uses the running
# statistics, and the image depends on $z$ alone.
#
# An untrained network's running statistics are still at their initial values (mean 0, variance
# 1), far from those of its activations, so its eval-mode images would not look like its
# training-mode ones. We set them from a few batches first: `momentum=None` makes batch norm keep
# the plain average over the batches it sees. No weight changes.

# %%
def settle_batch_norm(g: nn.Module, batches: int = 4, n: int = 256) -> nn.Module:
    """Set every batch norm's running statistics to their average over a few batches of codes; eval mode."""
    norms = [m for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None                  # a cumulative average instead of an exponential one
    with torch.no_grad():
        g.train()
        for _ in range(batches):
            g(torch.randn(n, Z_DIM, device=DEVICE))
    for m in norms:
        m.momentum = 0.1                   # back to PyTorch's default
    return g.eval()


torch.manual_seed(0)
G = settle_batch_norm(dcgan_init(ConvGenerator()).to(DEVICE))


@torch.no_grad()
def image_of(z: torch.Tensor) -> torch.Tensor:
    """The generator as a function: codes (N, Z_DIM) -> images (N, 1, SIZE, SIZE) in [-1, 1]."""
    return G(z.to(DEVICE)).cpu()


def codes(n: int, seed: int) -> torch.Tensor:
    """``n`` latent codes from N(0, I), the same for the same ``seed``."""
    return torch.randn(n, Z_DIM, generator=torch.Generator().manual_seed(seed))


samples = image_of(codes(32, seed=1))
lim = float(samples.abs().max())
print(f"pixel values from {samples.min():.2f} to {samples.max():.2f}: shown with contrast stretched, +-{lim:.2f}")
fig, ax = plt.subplots(figsize=(7, 3.8))
ax.imshow(grid(samples, lim=lim), cmap="gray")
ax.set_title("32 samples of the untrained generator (DCGAN initialisation, contrast stretched)", fontsize=10)
ax.axis("off")
plt.show()

# %% [markdown]
# Faint noise-like textures around mid-gray (the contrast is stretched: on the data's scale they
# would all look the same gray), different for every $z$, with a regular pattern from the
# overlapping stamps of the transposed convolutions (part 1). A random function: nothing of
# digits yet.
#
# **The same seed gives the same image**, and in eval mode an image does not depend on its batch.
# In training mode it does:

# %%
z7 = codes(1, seed=7)
print("same seed, same image:", torch.equal(image_of(codes(1, seed=7)), image_of(z7)))
alone, in_batch = image_of(z7), image_of(torch.cat([z7, codes(15, seed=8)]))[:1]
print(f"eval mode, alone or in a batch of 16: largest pixel difference {(alone - in_batch).abs().max():.1e}")
with torch.no_grad():
    G.train()
    a = G(torch.cat([z7, codes(15, seed=8)]).to(DEVICE))[:1]
    b = G(torch.cat([z7, codes(15, seed=9)]).to(DEVICE))[:1]
    G.eval()
print(f"training mode, the same z in two different batches: largest pixel difference {(a - b).abs().max():.2f}")

# %% [markdown]
# ### Interpolation
#
# Walking in a straight line from one code $z_0$ to another $z_1$ and decoding every step shows
# how the generator's images change with the code: smoothly, for a network of smooth layers. One
# subtlety (White 2016, "Sampling generative networks"): in $d = 64$ dimensions, codes from
# $\mathcal N(0, I)$ all lie near the sphere of radius $\sqrt{d} = 8$, and the midpoint of a straight line
# between two of them is much closer to the origin, where no training code ever was. Spherical
# interpolation (slerp) follows the great circle between the two codes instead, and stays at their norm:
#
# $$\text{slerp}(z_0, z_1; t) = \frac{\sin((1-t)\Omega)}{\sin \Omega} z_0 + \frac{\sin(t\Omega)}{\sin \Omega} z_1,
# \qquad \cos \Omega = \frac{z_0 \cdot z_1}{\|z_0\|\,\|z_1\|}.$$

# %%
def lerp(z0, z1, t):
    return (1 - t) * z0 + t * z1


def slerp(z0, z1, t):
    omega = torch.arccos((z0 * z1).sum() / (z0.norm() * z1.norm()))
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


z0, z1 = codes(2, seed=3)
ts = torch.linspace(0, 1, 9)[:, None]
paths = {"straight line": lerp(z0, z1, ts), "slerp": slerp(z0, z1, ts)}
for name, path in paths.items():
    print(f"{name:<14} norm of z along the path:   ", " ".join(f"{v:5.1f}" for v in path.norm(dim=1)))
    print(f"{'':<14} pixel std of its images:    ", " ".join(f"{v:5.2f}" for v in image_of(path).flatten(1).std(1)))

fig, axes = plt.subplots(2, 1, figsize=(10, 3.2))
for ax, (name, path) in zip(axes, paths.items()):
    ax.imshow(grid(image_of(path), ncols=9, lim=lim), cmap="gray")     # the same contrast as above
    ax.set_title(f"{name} from z0 to z1 (untrained generator)", fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# The straight line's codes shrink towards the middle of the path (the printed norms), and the
# middle images lose contrast (their pixel std drops) as they fade towards the generator's
# average image; along slerp the contrast stays about the same.
#
# ## The library's generator
#
# `ls.models.create("dcgan")` is a GAN with DCGAN's recipe: this generator (a linear stem, batch
# norm, ReLU, stride-2 transposed convolutions of kernel 4, tanh), a strided-conv discriminator
# like that of part 1, the $\mathcal N(0, 0.02)$ initialisation and Adam with $\beta_1 = 0.5$ (at
# a learning rate sized for the machine: printed below). For
# images the library grows the picture by default with nearest-neighbour upsampling followed by a
# 3 x 3 convolution, which avoids checkerboard artefacts (Odena et al. 2016); `upsample="transposed"`
# asks for the transposed convolutions we built. It runs the training loop of part 2 for both
# networks, with the adversarial losses of part 4, and picks its sizes for the machine it trains on.
#
# Here it trains for a very short time, only to show the API: 1,500 steps in full mode (about 2
# minutes on two idle cores: the first digit shapes), 30 in fast mode (noise). Part 4,
# `04-training-adversarial`, trains it properly and explains what happens during training.

# %%
gan = ls.models.create("dcgan", upsample="transposed", latent_dim=Z_DIM)
start = time.time()
gan.fit(data, steps=30 if FAST else 1500, seed=0, progress=False)
print(f"trained in {time.time() - start:.0f} s with", {k: v for k, v in gan.resolved_params().items()
                                                        if k in ("steps", "batch_size", "width", "lr", "beta1")})
print(gan.nets_["G"])
print(f"generator: {count_parameters(gan.nets_['G']):,} parameters")

# %% [markdown]
# The same modules as ours, with one more layer for 28 x 28 images: the stem makes 4 x 4 maps and three
# transposed convolutions grow them to 8, 16 and 32 pixels, each cropped (`_Crop`) to the sizes of
# the way down (7, 14, 28). For 8 x 8 digits one transposed convolution is enough.
#
# The library's model is the same kind of callable: `gan.sample(n, seed=...)` draws $n$ codes and
# decodes them, `gan.decode(z)` decodes codes of our own. Both return images in *data* space,
# $[0, 1]$, undoing the scaling. So the slerp path above can be walked through the trained
# generator:

# %%
fig, axes = plt.subplots(2, 1, figsize=(8, 4.6), gridspec_kw={"height_ratios": [4, 1]})
axes[0].imshow(ls.plots.image_grid(gan.sample(32, seed=1), ncols=8), cmap="gray")
axes[0].set_title(f"32 samples after a very short training ({'fast mode' if FAST else '1,500 steps'})", fontsize=9)
axes[1].imshow(ls.plots.image_grid(gan.decode(paths["slerp"]), ncols=9), cmap="gray")
axes[1].set_title("the slerp path from z0 to z1 through the trained generator", fontsize=9)
for ax in axes:
    ax.axis("off")
plt.show()
print("same seed, same samples:", torch.equal(gan.sample(4, seed=5), gan.sample(4, seed=5)))

# %% [markdown]
# In fast mode these are gray noise: 30 steps teach the generator almost nothing. In full mode
# (when we ran it) the samples are white strokes on black, some already digits (sevens, zeros,
# ones), many still scribbles; and along the path one shape turns smoothly into another. Making
# them good, and measuring how good, is part 4.
#
# ## Summary
#
# - A generator maps codes $z \sim \mathcal N(0, I)$ to images; a tanh output and data in $[-1, 1]$
#   put both in the same range.
# - The initialisation decides where training starts: DCGAN's $\mathcal N(0, 0.02)$ keeps a
#   batch-normed conv generator out of tanh's flat tails, but shrinks a generator without batch norm to gray.
# - In eval mode a generator is a deterministic function of $z$; the same seed gives the same
#   image, and paths through the latent space give smooth changes.
# - `ls.models.create("dcgan")` holds this generator, its discriminator and the training loop.
#
# ## Exercises
#
# 1. **The init scale.** Initialise the conv generator with weights from $\mathcal N(0, s^2)$ for
#    $s$ = 0.002, 0.02, 0.2 and 1 and print the three output statistics for each. Where does the
#    output saturate? Where does it stop depending on $z$?
# 2. **How smooth is the latent space?** For 64 random codes $z$, perturb each by $\epsilon u$
#    with $u$ a random unit vector, and measure the mean absolute pixel change for $\epsilon$ = 0.01,
#    0.1, 1 and 10, with the untrained generator `G`. Compare with the change between two
#    independent codes. Is the change proportional to $\epsilon$?
# 3. **Your generator in the library.** `ls.models.create("dcgan", generator=..., latent_dim=...)`
#    trains a generator of your own (the library checks its shapes). Train a fresh `ConvGenerator`
#    with DCGAN's initialisation for a few steps and draw 16 samples.
#
# Solutions follow, in collapsed cells (click to expand them in Jupyter).

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 1: output statistics against the initial weight scale
print(f"{'std':>6}{'pixel std':>11}{'saturated':>11}{'std over z':>12}")
for s in (0.002, 0.02, 0.2, 1.0):
    torch.manual_seed(0)
    g = ConvGenerator().to(DEVICE)
    for m in g.modules():
        if isinstance(m, (nn.Linear, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, s)
            nn.init.zeros_(m.bias)
    st = output_stats(g)
    print(f"{s:6g}{st['pixel std']:11.3f}{st['saturated']:11.3f}{st['std over z']:12.3f}")
# Batch norm rescales the hidden layers whatever the weights, so only the last layer's scale
# matters: small weights give a gray image that still varies with z (only faintly at 0.002), large ones push
# most pixels to +-1, where tanh passes no gradient.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 2: how much the image changes when the code moves by epsilon (untrained G, eval mode)
z_a = codes(64, seed=11)
u = torch.randn(64, Z_DIM, generator=torch.Generator().manual_seed(12))
u = u / u.norm(dim=1, keepdim=True)
base = image_of(z_a)
for eps in (0.01, 0.1, 1.0, 10.0):
    change = (image_of(z_a + eps * u) - base).abs().mean()
    print(f"epsilon {eps:5g}: mean pixel change {change:.4f}   (per unit of epsilon {change / eps:.4f})")
print(f"two independent codes (about {np.sqrt(2 * Z_DIM):.0f} apart): mean pixel change "
      f"{(image_of(codes(64, seed=13)) - base).abs().mean():.4f}")
# The change grows in proportion to epsilon: the untrained generator is smooth, nearly linear.
# A step of 10 (the distance between two random codes is about 11) changes the image about as much
# as replacing the code. Try it again on a trained generator (part 4): is it still so even?

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 3: the library trains a generator of our own
torch.manual_seed(0)
mine = ls.models.create("dcgan", generator=dcgan_init(ConvGenerator()), latent_dim=Z_DIM)
mine.fit(data, steps=20 if FAST else 300, seed=0, progress=False)
fig, ax = plt.subplots(figsize=(6, 1.8))
ax.imshow(ls.plots.image_grid(mine.sample(16, seed=0), ncols=8), cmap="gray")
ax.set_title("our ConvGenerator, trained briefly by the library")
ax.axis("off")
plt.show()
