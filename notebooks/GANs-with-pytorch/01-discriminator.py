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
# # GANs with PyTorch, part 1: the building blocks and a discriminator
#
# **You will learn to**
#
# - make and move PyTorch tensors (shape, dtype, device) and let autograd compute a gradient;
# - use the layers that GANs are built of: linear, convolution (and see what a kernel does to an
#   image), pooling, batch normalisation and the transposed convolution, with their shapes in and out;
# - write a network as an `nn.Module` and count its parameters;
# - build a small convolutional classifier for handwritten digits and run it forward: a
#   discriminator is such a classifier, with one output instead of ten.
#
# **Time:** about 25 minutes to work through; the file runs in under 20 seconds with
# `LATENTSPACE_FAST=1` and in a few seconds more without it (nothing is trained here: training
# is the next notebook, `02-training-SGD`).
#
# **You need:** Python and a little NumPy. No knowledge of neural networks is assumed.
# `notebooks/README.md` says how to run this file as a script or open it as a notebook.

# %% [markdown]
# ## Why start with the discriminator
#
# A generative adversarial network (GAN; Goodfellow et al. 2014) is two networks trained against
# each other. The **generator** $G$ turns random numbers $z$ into an image. The **discriminator**
# $D$ looks at an image and says how likely it is to be real (from the data) rather than made by
# $G$. Training alternates: $D$ learns to tell real from generated, $G$ learns to fool $D$.
#
# The discriminator is the familiar half: it is an image classifier with two classes, *real* and
# *generated*. So this course starts there, with the pieces every image classifier is made of,
# and builds the generator in part 3 from the same pieces run backwards.

# %%
# ruff: noqa: E402   (imports appear where they are first needed, as in any notebook)
import os
from pathlib import Path

import latentspace as ls   # before torch: latentspace tells torch's idle threads not to hog shared cores
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

FAST = os.environ.get("LATENTSPACE_FAST") == "1"   # smaller sizes: checks that everything runs
print("fast mode" if FAST else "full mode")

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"   # a GPU when there is one, else the CPU
print("computing on", DEVICE)
torch.manual_seed(0)   # the same random numbers on every run

# %% [markdown]
# ## Tensors
#
# A **tensor** is PyTorch's array: like a NumPy array, with two additions that deep learning needs.
# It can live on a GPU, and it can record the operations done to it so that gradients come for free.
# Every tensor has a **shape** (the size along each axis), a **dtype** (the type of its numbers;
# networks compute in `float32`) and a **device** (`cpu` or `cuda`).

# %%
a = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])   # from nested lists
b = torch.zeros(2, 3)                                    # filled with a constant
c = torch.randn(2, 3)                                    # standard normal numbers
d = torch.arange(6).reshape(2, 3)                        # 0, 1, ..., 5 as 2 rows of 3
for name, t in (("a", a), ("b", b), ("c", c), ("d", d)):
    print(f"{name}: shape {tuple(t.shape)}, dtype {t.dtype}, device {t.device}")
print("a + d =", (a + d).tolist(), "  (the integers of d became floats)")
print("a as NumPy:", a.numpy().sum(), " and back:", torch.from_numpy(np.ones(2)).dtype)
print("a on the chosen device:", a.to(DEVICE).device)

# %% [markdown]
# Images come in batches, as 4-D tensors of shape $(N, C, H, W)$: $N$ images, $C$ channels
# (1 for gray, 3 for colour), $H$ rows and $W$ columns. Indexing and reshaping work as in NumPy.
# `reshape` (or `flatten`) changes the shape without copying the numbers.

# %%
batch = torch.rand(16, 1, 28, 28)                # 16 gray images of 28 x 28 pixels
print("batch:", tuple(batch.shape), "  first image:", tuple(batch[0].shape),
      "  its top-left pixel:", round(float(batch[0, 0, 0, 0]), 3))
print("flattened to vectors:", tuple(batch.flatten(1).shape),
      "  the same with reshape:", tuple(batch.reshape(16, -1).shape))
print("mean over the pixels of each image:", tuple(batch.mean(dim=(1, 2, 3)).shape))

# %% [markdown]
# **Autograd in two lines.** Ask a tensor to record what is done to it (`requires_grad=True`),
# compute a number from it, and call `backward()`: the gradient of that number with respect to the
# tensor lands in `.grad`. For $y = \sum_i x_i^2$ the gradient is $\partial y / \partial x_i = 2 x_i$:

# %%
x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
(x ** 2).sum().backward()
print("x =", x.tolist(), "  dy/dx =", x.grad.tolist(), "  (2x)")

# %% [markdown]
# That is all training needs: the loss is a number computed from the network's weights, and
# `backward()` gives its gradient with respect to every weight at once (part 2 uses it).
#
# ## The data: handwritten digits
#
# MNIST (LeCun et al. 1998) holds 70,000 handwritten digits of 28 x 28 pixels. Point
# `LATENTSPACE_MNIST_DIR` at a folder holding its four `.gz` files, or keep them where this
# workplace does: `../../../shared/data/mnist` from this notebook. Without them the notebook uses
# the 1,797 digits of 8 x 8 pixels that come with scikit-learn (`ls.data.load("digits")`, no
# download), and says so. Everything below works with either.
#
# `ls.data.load` returns the training images in `data.x`, their labels in `data.y` and the
# held-out split in `data.test`. The pixels are scaled to $[-1, 1]$ (part 3 says why).

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
print(data.summary())
SIZE = data.shape[-1]          # 28 for MNIST, 8 for the embedded digits
print("images", tuple(data.x.shape), data.x.dtype, " labels", tuple(data.y.shape), data.y.dtype,
      " pixel values from", float(data.x.min()), "to", float(data.x.max()))

# %%
fig, axes = plt.subplots(2, 8, figsize=(8, 2.4))
for i, ax in enumerate(axes.flat):
    ax.imshow(data.x[i, 0], cmap="gray", vmin=-1, vmax=1)
    ax.set_title(f"label {int(data.y[i])}", fontsize=8)
    ax.axis("off")
fig.suptitle("the first 16 training digits (ink white, paper black)")
plt.show()

# %% [markdown]
# ## Layers
#
# A network is a chain of **layers**, each a function with learnable weights. We meet the five
# that GANs are made of, and look at the shapes that go in and out of each.
#
# ### Linear
#
# A linear (fully connected) layer maps a vector $x$ of $n$ numbers to $y = W x + b$, with a
# weight matrix $W$ of shape $(m, n)$ and a bias $b$ of $m$ numbers: every output sees every
# input. On an image it needs the image flattened into one vector.

# %%
digit = data.x[:1]                               # one image, kept as a batch of 1: (1, 1, SIZE, SIZE)
linear = nn.Linear(SIZE * SIZE, 10)
print("weight", tuple(linear.weight.shape), " bias", tuple(linear.bias.shape))
print("in", tuple(digit.flatten(1).shape), "-> out", tuple(linear(digit.flatten(1)).shape))

# %% [markdown]
# ### Convolution: what a kernel does to an image
#
# A convolution slides a small grid of weights, the **kernel**, over the image; each output pixel
# is the weighted sum of the input pixels under the kernel:
#
# $$y_{ij} = \sum_{u,v} k_{uv}\, x_{i+u,\, j+v} + b.$$
#
# The same few weights are used at every position, so a conv layer finds the same pattern
# wherever it is in the image. Before learning kernels, set one by hand: the **Sobel** kernel
# (a derivative across columns, smoothed down the rows) responds where the image changes from left to
# right, that is, at vertical edges; its transpose finds horizontal edges.

# %%
sobel_x = torch.tensor([[-1.0, 0.0, 1.0],
                        [-2.0, 0.0, 2.0],
                        [-1.0, 0.0, 1.0]])
kernels = torch.stack([sobel_x, sobel_x.T])[:, None]   # (out channels 2, in channels 1, 3, 3)
padded = F.pad(digit, (1, 1, 1, 1), mode="replicate")   # one more pixel all round, copied from the border
edges = F.conv2d(padded, kernels)                        # so the edge maps keep the image size
print("digit", tuple(digit.shape), "-> edge maps", tuple(edges.shape))

fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.8))
axes[0].imshow(digit[0, 0], cmap="gray", vmin=-1, vmax=1)
axes[0].set_title("digit")
for ax, e, name in zip(axes[1:], edges[0], ("vertical edges (Sobel x)", "horizontal edges (Sobel y)")):
    lim = float(e.abs().max())
    ax.imshow(e, cmap="RdBu_r", vmin=-lim, vmax=lim)   # red: brighter to the right / below; blue: darker
    ax.set_title(name, fontsize=9)
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# Red marks where the image gets brighter to the right (left map) or downwards (right map), blue
# where it gets darker; flat regions give 0 (white). We padded the digit by copying its border
# pixels: `padding=1` would pad with zeros, which is mid-gray on our $[-1, 1]$ scale and would draw
# a false edge round the frame. A conv layer, `nn.Conv2d`, holds many such kernels and
# *learns* their weights. Each of its output channels sums a kernel over every input channel,
# so its weight has shape (out channels, in channels, $k$, $k$). The output size follows from the
# kernel size $k$, the **stride** $s$ (how far the kernel moves between outputs) and the
# **padding** $p$ (zeros added around the border):
#
# $$H_\text{out} = \left\lfloor \frac{H_\text{in} + 2p - k}{s} \right\rfloor + 1.$$

# %%
for k, s, p in ((3, 1, 1), (3, 1, 0), (4, 2, 1), (3, 2, 1)):
    conv = nn.Conv2d(1, 16, kernel_size=k, stride=s, padding=p)
    out = conv(digit)
    print(f"Conv2d(1, 16, kernel {k}, stride {s}, padding {p}): {tuple(digit.shape)} -> {tuple(out.shape)}"
          f"   weight {tuple(conv.weight.shape)}")

# %% [markdown]
# A kernel of 3 with padding 1 keeps the size; stride 2 halves it. DCGAN's discriminators
# (Radford et al. 2016) shrink images with stride-2 convolutions of kernel 4.
#
# ### Pooling
#
# Pooling shrinks an image without weights: `MaxPool2d(2)` keeps the largest of each 2 x 2 block,
# `AvgPool2d(2)` their mean. After a conv layer, max pooling keeps "the pattern is somewhere here"
# and drops exactly where, which makes a classifier tolerant of small shifts.

# %%
pooled = {"max pool 2x2": nn.MaxPool2d(2)(digit), "average pool 2x2": nn.AvgPool2d(2)(digit)}
fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.8))
axes[0].imshow(digit[0, 0], cmap="gray", vmin=-1, vmax=1)
axes[0].set_title(f"digit {tuple(digit.shape[2:])}", fontsize=9)
for ax, (name, p) in zip(axes[1:], pooled.items()):
    ax.imshow(p[0, 0], cmap="gray", vmin=-1, vmax=1)
    ax.set_title(f"{name} {tuple(p.shape[2:])}", fontsize=9)
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# ### Batch normalisation
#
# Batch normalisation (Ioffe & Szegedy 2015) rescales each channel to mean 0 and standard
# deviation 1 *over the batch*, then applies a learnt scale $\gamma$ and shift $\beta$:
#
# $$\hat x = \gamma\,\frac{x - \mu_\text{batch}}{\sqrt{\sigma^2_\text{batch} + \epsilon}} + \beta.$$
#
# It keeps the numbers flowing through a deep network in a sensible range, which makes training
# faster and less sensitive to the initial weights. It also keeps running averages of $\mu$ and
# $\sigma^2$, and uses those instead of the batch's own statistics in **eval mode**
# (`net.eval()`). Forgetting to switch modes is a classic bug: in training mode one item's output
# depends on the other items of its batch.

# %%
bn = nn.BatchNorm2d(3)
h = 3.0 + 5.0 * torch.randn(64, 3, 8, 8)            # 3 channels, mean 3, std 5
out = bn(h)                                          # training mode: the batch's statistics
print(f"in:  mean {h.mean():.2f}, std {h.std():.2f}")
print(f"out: mean {out.mean():.2f}, std {out.std():.2f}   (training mode)")
print("running mean after one batch:", [round(v, 2) for v in bn.running_mean.tolist()],
      " (momentum 0.1: 10% of the way from 0 to 3)")
bn.eval()
print(f"out: mean {bn(h).mean():.2f}, std {bn(h).std():.2f}   (eval mode: the running statistics, not yet settled)")

# %% [markdown]
# ### Activations
#
# Between layers sit simple nonlinear functions; without them a stack of linear layers would be
# one linear layer. Classifiers mostly use the ReLU, $\max(0, x)$. GANs add two: the
# discriminator uses the **leaky ReLU**, $\max(0.2x, x)$, which lets a little gradient through
# for negative inputs (Radford et al. 2016), and the generator ends in **tanh**, which squashes
# any number into $(-1, 1)$, the range of our pixels. The **sigmoid** $\sigma(x) = 1/(1+e^{-x})$
# turns the discriminator's output into a probability.

# %%
t = torch.linspace(-4, 4, 200)
fig, ax = plt.subplots(figsize=(5, 3))
for name, f, style in (("ReLU", torch.relu, "-"), ("leaky ReLU (0.2)", lambda v: F.leaky_relu(v, 0.2), "--"),
                       ("tanh", torch.tanh, "-"), ("sigmoid", torch.sigmoid, "-")):
    ax.plot(t, f(t), style, label=name)
ax.axhline(0, color="0.8", lw=0.8)
ax.set_ylim(-1.5, 2)
ax.legend(fontsize=8)
ax.set_title("activations")
plt.show()

# %% [markdown]
# ### Transposed convolution: the generator's layer
#
# A transposed convolution runs a convolution's shapes backwards: each *input* pixel stamps a copy
# of the kernel, scaled by its value, onto the output, and overlapping stamps add up. With stride 2
# it doubles the image size, which is how a DCGAN generator grows a picture from a few pixels. Its
# output size is
#
# $$H_\text{out} = (H_\text{in} - 1)\, s - 2p + k,$$
#
# so kernel 4, stride 2, padding 1 maps $H$ to $2H$: the exact reverse of the stride-2 conv above.

# %%
for h_in in (2, 4, 7, 14):
    up = nn.ConvTranspose2d(16, 8, kernel_size=4, stride=2, padding=1)
    z = torch.randn(1, 16, h_in, h_in)
    print(f"ConvTranspose2d(16, 8, kernel 4, stride 2, padding 1): {tuple(z.shape)} -> {tuple(up(z).shape)}"
          f"   weight {tuple(up.weight.shape)}")

# %% [markdown]
# The stamps can overlap unevenly. With a kernel of all ones on an image of all ones, the output
# counts how many stamps cover each pixel. Kernel 4 with stride 2 covers the inside evenly; kernel
# 3 with stride 2 covers every other row and column twice, a **checkerboard** that a generator
# must learn to hide (Odena, Dumoulin & Olah 2016, "Deconvolution and checkerboard artifacts").

# %%
ones = torch.ones(1, 1, 4, 4)
fig, axes = plt.subplots(1, 2, figsize=(6, 3))
for ax, k in zip(axes, (4, 3)):
    stamps = F.conv_transpose2d(ones, torch.ones(1, 1, k, k), stride=2, padding=1)
    ax.imshow(stamps[0, 0], cmap="viridis")
    for (i, j), v in np.ndenumerate(stamps[0, 0].numpy()):
        ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7, color="w")
    ax.set_title(f"kernel {k}, stride 2: {tuple(ones.shape[2:])} -> {tuple(stamps.shape[2:])}", fontsize=9)
    ax.axis("off")
fig.suptitle("how many kernel stamps cover each output pixel")
plt.show()

# %% [markdown]
# ## `nn.Module`: a network of your own
#
# A network is a class derived from `nn.Module`: its layers are made in `__init__` (assigning them
# to `self` registers their weights), and `forward` says how an input flows through them. Calling
# the module calls `forward`. `parameters()` lists every learnable tensor, which is what an
# optimiser updates and what we count to know a network's size.

# %%
class TinyMLP(nn.Module):
    """Image -> 10 scores, through one hidden layer of ``hidden`` units."""

    def __init__(self, n_in: int, hidden: int = 32, n_out: int = 10):
        super().__init__()
        self.hidden = nn.Linear(n_in, hidden)
        self.out = nn.Linear(hidden, n_out)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x.flatten(1))))


def count_parameters(net: nn.Module) -> int:
    """The number of learnable numbers in ``net``."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


mlp = TinyMLP(SIZE * SIZE)
print(mlp)
for name, p in mlp.named_parameters():
    print(f"  {name:<14} {tuple(p.shape)}")
print(f"{count_parameters(mlp):,} parameters = {SIZE * SIZE} x 32 + 32 + 32 x 10 + 10;",
      "output", tuple(mlp(data.x[:5]).shape))

# %% [markdown]
# ## A discriminator is a classifier: a CNN for digits
#
# Now the pieces together: a small **convolutional neural network** (CNN, LeCun et al. 1998) that
# reads a digit and gives 10 scores, one per class. Two blocks of convolution, batch norm, ReLU
# and 2 x 2 max pooling each halve the image and double the channels; a linear layer turns the
# last feature maps into the scores. The scores are **logits**: any real numbers, turned into
# probabilities by the softmax, $p_c = e^{\ell_c} / \sum_{c'} e^{\ell_{c'}}$.
#
# `n_out` is the number of scores. With `n_out=1` the same network is a GAN discriminator: one
# logit, whose sigmoid is the probability that the image is real.

# %%
class DigitCNN(nn.Module):
    """Digits (N, 1, size, size) -> n_out logits: two conv blocks, then a linear layer."""

    def __init__(self, size: int, n_out: int = 10, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Linear(2 * width * (size // 4) ** 2, n_out)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


net = DigitCNN(SIZE).to(DEVICE)   # the weights now live on DEVICE; inputs must go there too
print(net)
print(f"{count_parameters(net):,} parameters")

# %% [markdown]
# Shapes are where most bugs hide, so trace one batch through the network layer by layer
# (an `nn.Sequential` can be iterated):

# %%
h = data.x[:8].to(DEVICE)
print(f"{'input':<12} {tuple(h.shape)}")
for layer in net.features:
    h = layer(h)
    print(f"{type(layer).__name__:<12} {tuple(h.shape)}")
h = h.flatten(1)
print(f"{'flatten':<12} {tuple(h.shape)}")
print(f"{'Linear':<12} {tuple(net.head(h).shape)}")

# %% [markdown]
# ### An untrained forward pass
#
# The weights are random, so the network knows nothing yet. Run it on held-out digits, in eval
# mode (batch norm uses its running statistics) and without recording gradients
# (`torch.no_grad()`, faster and lighter). Small random weights give logits near 0, so the
# softmax probabilities should sit near $1/10$ and the accuracy near chance, 10%.

# %%
x_test, y_test = data.test.x[:2000].to(DEVICE), data.test.y[:2000].to(DEVICE)   # 2,000 are plenty here
net.eval()
with torch.no_grad():
    logits = net(x_test)
probs = logits.softmax(dim=1)
predicted = logits.argmax(dim=1)
print("logits of the first test digit:", [round(v, 2) for v in logits[0].tolist()])
print("their softmax probabilities:   ", [round(v, 2) for v in probs[0].tolist()])
print(f"largest probability, mean over {len(x_test):,} test digits: {probs.max(1).values.mean():.3f}")
print(f"untrained accuracy: {(predicted == y_test).float().mean():.3f}   (chance: 0.1)")
print("how often each class is predicted:", torch.bincount(predicted, minlength=10).tolist())

# %% [markdown]
# Read the printed numbers: the probabilities are spread over the classes and the accuracy is near
# chance; the prediction counts show that a random network often prefers a few classes whatever
# the input. Part 2 trains this network.
#
# ### The GAN discriminator
#
# A GAN discriminator is the same kind of network with one output. DCGAN (Radford et al. 2016)
# gave a recipe that most image GANs still follow: no pooling, but stride-2 convolutions that
# learn their own downsampling; leaky ReLUs; no batch norm on the first layer. Below is such a
# discriminator for our digits. Untrained, it cannot tell real digits from noise: the sigmoid of
# its logit sits near 0.5 for both.

# %%
class Discriminator(nn.Module):
    """DCGAN-style: images (N, 1, size, size) -> one logit each (real: high, generated: low)."""

    def __init__(self, size: int, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),                   # size/2
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.BatchNorm2d(2 * width),   # size/4
            nn.LeakyReLU(0.2),
        )
        self.head = nn.Linear(2 * width * (size // 4) ** 2, 1)

    def forward(self, x):
        return self.head(self.features(x).flatten(1)).squeeze(1)   # (N,): one logit per image


D = Discriminator(SIZE).to(DEVICE).eval()
noise = torch.rand(len(x_test), 1, SIZE, SIZE, device=DEVICE) * 2 - 1   # uniform noise in [-1, 1]
with torch.no_grad():
    d_real, d_noise = torch.sigmoid(D(x_test)), torch.sigmoid(D(noise))
print(f"discriminator: {count_parameters(D):,} parameters, output {tuple(d_real.shape)}")
print(f"P(real) on real digits: mean {d_real.mean():.3f};  on noise: mean {d_noise.mean():.3f}")

# %% [markdown]
# The library builds this kind of discriminator for you. `ls.models.create("dcgan")` makes a GAN
# whose networks are chosen by the data; its discriminator is a stack of stride-2 convolutions with
# leaky ReLUs and a linear head, as above, down to 4 x 4 pixels or fewer (from its second layer
# on, if it has one, it normalises each image on its own, with GroupNorm, in place of batch norm:
# `src/latentspace/models/gan.py` says why). `build` makes the networks for our data without
# training them; `width=32` is the size that `fit` picks on a CPU (64 on a GPU).

# %%
gan = ls.models.create("dcgan", width=32).build(data.info)
print(gan.nets_["D"])
print(f"{count_parameters(gan.nets_['D']):,} parameters")

# %% [markdown]
# ## Summary
#
# - Tensors carry shape, dtype and device; `backward()` fills `.grad` of every tensor a number was
#   computed from.
# - A convolution slides a kernel over the image; stride 2 halves the size, a transposed
#   convolution with kernel 4, stride 2, padding 1 doubles it.
# - Batch norm behaves differently in training and eval mode.
# - A classifier and a discriminator are the same network with 10 outputs or 1.
#
# Next, `02-training-SGD`: losses, optimisers and the training loop, on this CNN.
#
# ## Exercises
#
# 1. **Your own kernels.** Make a 3 x 3 blurring kernel (all weights equal, summing to 1) and a
#    kernel that finds diagonal edges, apply both to a digit with `F.conv2d` and show the results.
# 2. **Shapes by formula.** Write `conv_out(h, k, s, p)` and `conv_transpose_out(h, k, s, p)` from
#    the two formulas above and check them against PyTorch for a handful of settings.
# 3. **Count by hand.** Work out the number of parameters of `DigitCNN(SIZE)` from its layers (a
#    conv layer has out x in x k x k weights plus out biases; a batch norm has 2 per channel) and
#    compare with `count_parameters`.
# 4. **No pooling.** Change `DigitCNN` so that each block shrinks the image with a stride-2
#    convolution instead of max pooling, as in the discriminator, and check that a batch of 5
#    digits still gives 5 x 10 logits.
#
# Solutions follow, in collapsed cells (click to expand them in Jupyter).

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 1: a blurring kernel and a diagonal-edge kernel
blur = torch.full((3, 3), 1 / 9)
diagonal = torch.tensor([[0.0, 1.0, 2.0],
                         [-1.0, 0.0, 1.0],
                         [-2.0, -1.0, 0.0]])   # bright above-right, dark below-left
maps = F.conv2d(F.pad(digit, (1, 1, 1, 1), mode="replicate"), torch.stack([blur, diagonal])[:, None])
fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.8))
axes[0].imshow(digit[0, 0], cmap="gray", vmin=-1, vmax=1)
axes[0].set_title("digit")
axes[1].imshow(maps[0, 0], cmap="gray")
axes[1].set_title("blurred")
lim = float(maps[0, 1].abs().max())
axes[2].imshow(maps[0, 1], cmap="RdBu_r", vmin=-lim, vmax=lim)
axes[2].set_title("diagonal edges")
for ax in axes:
    ax.axis("off")
plt.show()

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 2: output sizes by formula, checked against PyTorch
def conv_out(h, k, s, p):
    return (h + 2 * p - k) // s + 1


def conv_transpose_out(h, k, s, p):
    return (h - 1) * s - 2 * p + k


for h_in, k, s, p in ((28, 3, 1, 1), (28, 4, 2, 1), (7, 3, 2, 1), (8, 5, 1, 0), (13, 4, 3, 2)):
    x_in = torch.zeros(1, 1, h_in, h_in)
    got = nn.Conv2d(1, 1, k, s, p)(x_in).shape[-1]
    got_t = nn.ConvTranspose2d(1, 1, k, s, p)(x_in).shape[-1]
    assert got == conv_out(h_in, k, s, p) and got_t == conv_transpose_out(h_in, k, s, p)
    print(f"h {h_in:2d}, k {k}, s {s}, p {p}: conv -> {got:2d}, transposed conv -> {got_t:2d}  (formulas agree)")

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 3: DigitCNN's parameters by hand
w = 16
by_hand = ((w * 1 * 3 * 3 + w) + 2 * w                     # conv 1 and its batch norm
           + (2 * w * w * 3 * 3 + 2 * w) + 2 * 2 * w       # conv 2 and its batch norm
           + (2 * w * (SIZE // 4) ** 2 * 10 + 10))         # the linear head
print(f"by hand {by_hand:,}, counted {count_parameters(DigitCNN(SIZE)):,}")
# Batch norm's running mean and variance are buffers, not parameters: they are not learnt by gradient.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 4: strided convolutions instead of pooling
class StridedCNN(nn.Module):
    def __init__(self, size: int, n_out: int = 10, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
        )
        self.head = nn.Linear(2 * width * (size // 4) ** 2, n_out)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


strided = StridedCNN(SIZE)
print("5 digits ->", tuple(strided(data.x[:5]).shape), f"  {count_parameters(strided):,} parameters")
