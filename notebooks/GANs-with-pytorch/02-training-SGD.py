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
# # GANs with PyTorch, part 2: training a network
#
# **You will learn to**
#
# - feed a network batches: from tensors in memory, by index with a seeded `torch.Generator`, and
#   with PyTorch's `TensorDataset` and `DataLoader`;
# - pick a loss: cross-entropy for classes, binary cross-entropy *with logits* for real/fake, and
#   see why the logits matter;
# - write the training loop (train and eval mode, `zero_grad`, `backward`, `step`) and compare
#   three optimisers, SGD, SGD with momentum and Adam, on the same network;
# - evaluate a classifier on held-out digits (accuracy, confusion matrix), look at its mistakes
#   and at the kernels it learnt;
# - train a first discriminator: real digits against fakes.
#
# **Time:** about 30 minutes to work through; the file runs in under 30 seconds with
# `LATENTSPACE_FAST=1` (a few dozen steps per training, to check that everything runs) and in a
# few minutes without (600 steps per training, most of a pass over MNIST), on two CPU cores.
#
# **You need:** part 1 (`01-discriminator`), or knowing what a tensor, a conv layer and an
# `nn.Module` are. This notebook runs on its own: it defines again the network of part 1.

# %% [markdown]
# ## Training in one paragraph
#
# A network with weights $\theta$ makes a prediction $f_\theta(x)$ for an input $x$. A **loss**
# $L(\theta)$ says, with one number, how wrong the predictions are on a batch of examples.
# Training repeats: take a batch, compute the loss, compute its gradient $\nabla_\theta L$ with
# `backward()`, and move the weights a little against the gradient. This is **stochastic gradient
# descent** (SGD): stochastic because each step sees a random batch, not the whole data. A GAN is
# trained the same way, with two networks and two losses (part 4).

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

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
print("computing on", DEVICE)

# %% [markdown]
# ## The data, in memory
#
# MNIST (LeCun et al. 1998) from `LATENTSPACE_MNIST_DIR`, or where this workplace keeps it
# (`../../../shared/data/mnist` from this notebook); without it, the embedded 8 x 8 digits of
# scikit-learn (`ls.data.load("digits")`). Pixels are in $[-1, 1]$.
#
# We keep the last part of the training digits apart as a **validation set**: the training curves
# and the learning-rate exercise look at it, so that the **test set** (`data.test`) is looked at
# only once, for the final scores. In fast mode we use 5,000 training and 2,000 test digits of MNIST.

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

n_val = min(len(data) // 6, 2000)          # up to 1/6 of the training digits for validation
x_all, y_all = data.x.to(DEVICE), data.y.to(DEVICE)
x_train, y_train = x_all[:-n_val], y_all[:-n_val]
x_val, y_val = x_all[-n_val:], y_all[-n_val:]
n_test = 2000 if FAST else len(data.test)
x_test, y_test = data.test.x[:n_test].to(DEVICE), data.test.y[:n_test].to(DEVICE)
print(f"{SIZE}x{SIZE} digits: {len(x_train):,} for training, {len(x_val):,} for validation, {len(x_test):,} for test")

# %% [markdown]
# ## Batches by index
#
# When the whole data set fits in memory (MNIST's 60,000 training digits take 190 MB as
# `float32`), the simplest and fastest way to make batches is to draw **indices**: shuffle the
# numbers $0, \dots, n-1$ once per pass over the data (an **epoch**) and cut the shuffled list into
# batches. `x_train[idx]` then picks a batch in one operation.
#
# The shuffle draws from a `torch.Generator` with its own seed, so the order of the batches is the
# same on every run and does not depend on any other random numbers the program draws. Two
# trainings given the same seed see the same batches in the same order, which makes comparisons
# fair (latentspace trains this way: `src/latentspace/train/batches.py`).

# %%
BATCH = 64


def batches(n: int, batch_size: int, steps: int, seed: int = 0):
    """Index tensors for ``steps`` batches of ``batch_size`` out of ``n`` items, reshuffled each epoch."""
    g = torch.Generator().manual_seed(seed)
    perm, start = torch.randperm(n, generator=g), 0
    for _ in range(steps):
        if start + batch_size > n:                     # epoch done: a new shuffle
            perm, start = torch.randperm(n, generator=g), 0
        yield perm[start:start + batch_size]
        start += batch_size


first = next(batches(len(x_train), BATCH, steps=1, seed=0))
again = next(batches(len(x_train), BATCH, steps=1, seed=0))
print("first batch, first indices:", first[:8].tolist(), " same with the same seed:", torch.equal(first, again))
print("the batch:", tuple(x_train[first].shape), tuple(y_train[first].shape))

# %% [markdown]
# PyTorch's own tools do the same job in a more general way. A `TensorDataset` wraps tensors so
# that `dataset[i]` returns the $i$-th item of each; a `DataLoader` shuffles, batches and, for data
# read from disk, can load batches in parallel worker processes. Given a seeded generator, it
# shuffles reproducibly too. For data already in memory the index batches above do the same with
# less machinery (and faster: the loader builds every batch item by item).

# %%
from torch.utils.data import DataLoader, TensorDataset

dataset = TensorDataset(x_train, y_train)
loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(0))
xb, yb = next(iter(loader))
print(f"{len(dataset):,} items, {len(loader)} batches per epoch; one batch: {tuple(xb.shape)} {tuple(yb.shape)}")

# %% [markdown]
# ## Losses
#
# ### Cross-entropy, for classes
#
# A classifier gives $K$ logits $\ell_1, \dots, \ell_K$ per input; the softmax turns them into
# probabilities $p_c = e^{\ell_c} / \sum_{c'} e^{\ell_{c'}}$. The **cross-entropy** loss is the
# negative log-probability of the true class $y$, averaged over the batch:
#
# $$L = -\log p_y = -\ell_y + \log \sum_{c} e^{\ell_c}.$$
#
# It is 0 for a sure and right prediction, $\log K$ for a uniform guess, and large for a confident
# mistake. `F.cross_entropy` takes the logits, not the probabilities:

# %%
logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 0.0]])      # 2 examples, 3 classes
target = torch.tensor([0, 2])
by_hand = -(logits.log_softmax(dim=1)[torch.arange(2), target]).mean()
print(f"by hand {by_hand:.4f}   F.cross_entropy {F.cross_entropy(logits, target):.4f}")
print(f"a uniform guess costs log 3 = {np.log(3):.4f}:", f"{F.cross_entropy(logits[1:], target[1:]):.4f}")

# %% [markdown]
# ### Binary cross-entropy with logits, for real against fake
#
# A discriminator gives one logit $\ell$ per image and $\sigma(\ell) = 1 / (1 + e^{-\ell})$ is the
# probability that the image is real. With target $t = 1$ for real and $t = 0$ for fake, the
# **binary cross-entropy** is
#
# $$L = -t \log \sigma(\ell) - (1 - t) \log\big(1 - \sigma(\ell)\big).$$
#
# Why give PyTorch the logit (`F.binary_cross_entropy_with_logits`) rather than the probability
# (`F.binary_cross_entropy(torch.sigmoid(logit), t)`)? Mathematically they are equal. Numerically,
# for a confident discriminator, the sigmoid rounds to exactly 1 in `float32` (from $\ell \approx
# 17$), so $\log(1 - \sigma(\ell)) = \log 0$. PyTorch clips that log at $-100$ so the loss stays
# finite, but the gradient through the rounded sigmoid is 0: a discriminator that is confidently wrong
# stops learning. The logit version computes $\log(1 + e^{\ell})$ directly, exactly, and its
# gradient is always $\sigma(\ell) - t$. In a GAN a confident discriminator is the normal case,
# so the logits matter.

# %%
for value in (2.0, 10.0, 20.0, 40.0):
    z1 = torch.tensor([value], requires_grad=True)
    z2 = torch.tensor([value], requires_grad=True)
    fake = torch.zeros(1)                                   # target 0: the image is fake
    via_prob = F.binary_cross_entropy(torch.sigmoid(z1), fake)
    via_logit = F.binary_cross_entropy_with_logits(z2, fake)
    via_prob.backward()
    via_logit.backward()
    print(f"logit {value:4.0f} on a fake:  through the sigmoid: loss {via_prob.item():8.4f}, "
          f"gradient {z1.grad.item():.4f}   with logits: loss {via_logit.item():8.4f}, gradient {z2.grad.item():.4f}")

# %% [markdown]
# The true loss on a fake scored with logit $\ell$ is $\log(1 + e^{\ell}) \approx \ell$: the logit
# version gets it right at every value, with gradient 1 (push the logit down). Through the
# sigmoid, from $\ell = 20$ the loss is stuck at the clipped 100 and the gradient is 0.
#
# ## The network
#
# The CNN of part 1: two blocks of convolution, batch norm, ReLU and max pooling, then a linear
# layer. `n_out` logits: 10 for the digit classes, 1 for a discriminator.

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
        logits = self.head(self.features(x).flatten(1))
        return logits.squeeze(1) if logits.shape[1] == 1 else logits


def new_net(n_out: int = 10, seed: int = 0) -> DigitCNN:
    """A fresh DigitCNN on DEVICE; the same seed gives the same initial weights."""
    torch.manual_seed(seed)
    return DigitCNN(SIZE, n_out).to(DEVICE)


print(f"{sum(p.numel() for p in new_net().parameters()):,} parameters")

# %% [markdown]
# ## The training loop
#
# Every PyTorch training loop has the same five lines at its heart:
#
# 1. `net.train()`: training mode (batch norm uses the batch's statistics and updates its running ones);
# 2. `loss = loss_fn(net(x), y)`: the forward pass and the loss;
# 3. `opt.zero_grad()`: clear the gradients of the last step (PyTorch *adds* gradients up);
# 4. `loss.backward()`: the gradient of the loss with respect to every weight;
# 5. `opt.step()`: the optimiser moves the weights.
#
# Evaluation runs in **eval mode** (`net.eval()`: batch norm uses its running statistics, so an
# image's prediction does not depend on the rest of its batch) and under `torch.no_grad()`.

# %%
@torch.no_grad()
def predict(net: nn.Module, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """Logits for ``x``, in eval mode, a thousand items at a time."""
    net.eval()
    return torch.cat([net(x[i:i + batch]) for i in range(0, len(x), batch)])


def accuracy(net, x, y) -> float:
    return (predict(net, x).argmax(1) == y).float().mean().item()


STEPS = 50 if FAST else 600                    # steps per training (full: 38,400 digits, 3/4 of an epoch of MNIST)
EVAL_EVERY = 25 if FAST else 100             # steps between two looks at the validation accuracy


def train(net, opt, steps: int = STEPS, loss_fn=F.cross_entropy, seed: int = 0) -> dict:
    """Train ``net`` with ``opt`` on index batches; the loss of every step and the validation accuracy."""
    history = {"loss": [], "val_step": [], "val_acc": []}
    for step, idx in enumerate(batches(len(x_train), BATCH, steps, seed), start=1):
        net.train()
        loss = loss_fn(net(x_train[idx]), y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        history["loss"].append(loss.item())
        if step % EVAL_EVERY == 0 or step == steps:
            history["val_step"].append(step)
            history["val_acc"].append(accuracy(net, x_val, y_val))
    return history

# %% [markdown]
# ## Three optimisers on the same network
#
# With gradient $g = \nabla_\theta L$ and learning rate $\eta$:
#
# - **SGD**: $\theta \leftarrow \theta - \eta\, g$;
# - **SGD with momentum** (Polyak 1964; Sutskever et al. 2013): a velocity $v \leftarrow \mu v + g$,
#   then $\theta \leftarrow \theta - \eta\, v$; with $\mu = 0.9$ the steps build up along directions
#   where successive gradients agree and cancel where they zig-zag;
# - **Adam** (Kingma & Ba 2015): running means of $g$ and of $g^2$, and a step of
#   $\eta\, \hat m / (\sqrt{\hat v} + \epsilon)$ for each weight, so that every weight moves at about
#   the same speed whatever the scale of its gradient. GANs are almost always trained with Adam
#   (DCGAN: $\eta = 2 \times 10^{-4}$, $\beta_1 = 0.5$).
#
# Each starts from the same initial weights (seed 0) and sees the same batches. SGD with and without
# momentum use the same learning rate, 0.01, so that momentum is the only difference; Adam uses
# its usual $10^{-3}$.

# %%
OPTIMISERS = {
    "SGD": lambda params: torch.optim.SGD(params, lr=0.01),
    "SGD + momentum": lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.9),
    "Adam": lambda params: torch.optim.Adam(params, lr=1e-3),
}
histories, nets = {}, {}
for name, make_opt in OPTIMISERS.items():
    start = time.time()
    nets[name] = new_net()
    histories[name] = train(nets[name], make_opt(nets[name].parameters()))
    print(f"{name:<15} {STEPS} steps in {time.time() - start:4.1f} s:  last loss "
          f"{np.mean(histories[name]['loss'][-20:]):.3f} (mean of 20 steps),  validation accuracy "
          f"{histories[name]['val_acc'][-1]:.3f}")

# %%
def smooth(values, span: int = 20):
    """The running mean over ``span`` steps (the per-batch loss is noisy)."""
    kernel = np.ones(span) / span
    return np.convolve(values, kernel, mode="valid") if len(values) >= span else np.asarray(values)


fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
for name, h in histories.items():
    s = smooth(h["loss"])
    ax1.plot(np.arange(len(s)) + len(h["loss"]) - len(s) + 1, s, label=name)
    ax2.plot(h["val_step"], h["val_acc"], "o-", ms=3, label=name)
ax1.set(xlabel="step", ylabel="training loss (running mean of 20 steps)", ylim=(0, None))
ax2.set(xlabel="step", ylabel="validation accuracy")
ax1.legend()
ax2.legend()
fig.suptitle(f"three optimisers, the same network, the same batches ({SIZE}x{SIZE} digits)")
plt.show()

# %% [markdown]
# Read the printed numbers and the curves. At the same learning rate plain SGD lags behind SGD
# with momentum: momentum adds up successive gradients, so in a direction where they agree its
# steps grow up to $1/(1-\mu) = 10$ times larger. Adam scales every weight's step to its
# gradient's typical size, which usually gets it going fastest. When we ran this in full mode on
# MNIST, Adam was ahead at first, momentum caught up, and plain SGD stayed about a point behind
# (validation accuracy 0.989, 0.987 and 0.980 after 600 steps). On a problem this easy all three
# get there in the end (batch norm helps plain SGD a lot); the difference is how soon. In fast mode
# the trainings are a few dozen steps long, so the curves show only the start.
#
# ## Evaluation on the test set
#
# Now, once, the held-out test digits. The **accuracy** is the fraction classified right. The
# **confusion matrix** counts, for each true class (row), how often each class was predicted
# (column): the diagonal holds the right answers, everything off it a kind of mistake.

# %%
best = max(nets, key=lambda name: histories[name]["val_acc"][-1])   # chosen on validation, not on test
net = nets[best]
test_logits = predict(net, x_test)
test_pred = test_logits.argmax(1)
print(f"best on validation: {best};  test accuracy {(test_pred == y_test).float().mean():.3f} "
      f"on {len(y_test):,} digits")

confusion = torch.bincount(y_test * 10 + test_pred, minlength=100).reshape(10, 10).cpu()
fig, ax = plt.subplots(figsize=(5, 4.5), layout="constrained")
ax.imshow(confusion, cmap="Blues")
for (i, j), v in np.ndenumerate(confusion.numpy()):
    if v:
        ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                color="w" if v > confusion.max() / 2 else "k")
ax.set(xticks=range(10), yticks=range(10), xlabel="predicted class", ylabel="true class",
       title=f"confusion matrix, {best}")
plt.show()

worst = (confusion - torch.diag(torch.diag(confusion))).flatten().argmax()
print(f"the most common mistake: a true {int(worst // 10)} predicted as {int(worst % 10)} "
      f"({int(confusion.flatten()[worst])} times)")

# %% [markdown]
# ## Looking at the mistakes
#
# Numbers hide *what* the network gets wrong. The misclassified test digits, with the true class,
# the predicted one and the probability the network gave its prediction. Some are digits a person
# would also hesitate over; others are plain errors of a network that is still learning.

# %%
wrong = torch.nonzero(test_pred != y_test).flatten()[:16].cpu()
probs = test_logits.softmax(1).cpu()
print(f"{int((test_pred != y_test).sum())} misclassified test digits; the first {len(wrong)}:")
fig, axes = plt.subplots(2, 8, figsize=(9, 2.8))
for ax in axes.flat:
    ax.axis("off")
for ax, i in zip(axes.flat, wrong.tolist()):
    ax.imshow(x_test[i, 0].cpu(), cmap="gray", vmin=-1, vmax=1)
    ax.set_title(f"{int(y_test[i])} -> {int(test_pred[i])} ({probs[i].max():.2f})", fontsize=8)
fig.suptitle("misclassified: true -> predicted (probability)")
plt.show()

# %% [markdown]
# ## What the first layer learnt
#
# The first conv layer's 16 kernels of 3 x 3 weights, before and after training (the same
# initial weights for every optimiser, seed 0), and what each trained kernel makes of one digit
# (its feature map, after batch norm and ReLU). The kernels move only a little from their random
# start (compare the two rows), and nine weights are hard to read; the feature maps say more.
# Some kernels light up the whole stroke, others only one of its edges,
# like the hand-set edge kernels of part 1, here found by training.

# %%
w0, w1 = new_net().features[0].weight.detach().cpu(), net.features[0].weight.detach().cpu()
lim = float(max(w0.abs().max(), w1.abs().max()))
net.eval()
with torch.no_grad():
    maps = net.features[:3](x_test[:1])[0].cpu()          # conv, batch norm, ReLU: (16, SIZE, SIZE)
fig, axes = plt.subplots(3, 16, figsize=(12, 2.8))
for k in range(16):
    axes[0, k].imshow(w0[k, 0], cmap="RdBu_r", vmin=-lim, vmax=lim)
    axes[1, k].imshow(w1[k, 0], cmap="RdBu_r", vmin=-lim, vmax=lim)
    axes[2, k].imshow(maps[k], cmap="gray")
for ax in axes.flat:
    ax.set_xticks([]), ax.set_yticks([])
for r, name in enumerate(("at init", "trained", "feature map")):
    axes[r, 0].set_ylabel(name, fontsize=8)
fig.suptitle(f"first-layer kernels ({best}; red positive, blue negative) and their response to a digit")
plt.show()

# %% [markdown]
# ## A first discriminator: real against fake
#
# A discriminator is trained by the same loop, with one logit and the binary cross-entropy with
# logits. In a GAN the fakes come from the generator, and they change at every step (part 4).
# Here, to see the discriminator alone, the fakes are fixed and simple: each is the average of two
# real training digits, a ghostly overlap of strokes. Real digits get target 1, fakes target 0;
# every batch holds half of each.

# %%
def fakes(n: int, g: torch.Generator) -> torch.Tensor:
    """``n`` fakes: each the pixel-wise mean of two random training digits."""
    i, j = torch.randint(len(x_train), (2, n), generator=g)
    return (x_train[i] + x_train[j]) / 2


g = torch.Generator().manual_seed(1)
D = new_net(n_out=1)
opt = torch.optim.Adam(D.parameters(), lr=1e-3)
d_steps = 40 if FAST else 300
for idx in batches(len(x_train), BATCH // 2, d_steps, seed=1):
    x = torch.cat([x_train[idx], fakes(len(idx), g)])
    t = torch.cat([torch.ones(len(idx)), torch.zeros(len(idx))]).to(DEVICE)
    D.train()
    loss = F.binary_cross_entropy_with_logits(D(x), t)
    opt.zero_grad()
    loss.backward()
    opt.step()

p_real = torch.sigmoid(predict(D, x_test))                        # held-out real digits
p_fake = torch.sigmoid(predict(D, fakes(len(x_test), g)))
print(f"after {d_steps} steps: P(real) on held-out real digits {p_real.mean():.3f}, on fakes {p_fake.mean():.3f}")
print(f"accuracy: {((p_real > 0.5).float().mean() + (p_fake < 0.5).float().mean()) / 2:.3f}")

# %% [markdown]
# A discriminator that wins this easily is a problem in a GAN: once it is sure, the
# generator's loss gives the generator little to learn from (Goodfellow et al. 2014 noted it; Arjovsky &
# Bottou 2017 analysed it). Much of the GAN literature, and part 4, is about keeping this contest
# balanced. One of the simplest tricks is **label smoothing**, the subject of the first exercise.
#
# ## Exercises
#
# 1. **Label smoothing** (Szegedy et al. 2016). Instead of the one-hot target, train towards
#    $q = (1 - \epsilon)\,\text{onehot}(y) + \epsilon / K$. Implement the loss by hand,
#    $L = -\sum_c q_c \log p_c$, check it against `F.cross_entropy(..., label_smoothing=eps)`, train
#    the CNN with Adam and $\epsilon = 0.1$, and compare with the Adam run above: test accuracy and
#    **calibration**, how well the confidence (the largest probability) matches the accuracy. A
#    common measure is the expected calibration error (ECE): sort the predictions into 10 bins by
#    confidence and average $|\text{accuracy} - \text{confidence}|$ over the bins, weighted by their
#    size. (GANs use a one-sided version: real targets $1 - \epsilon$, fakes 0; Salimans et al. 2016.)
# 2. **A learning-rate sweep.** Train with SGD with momentum at learning rates 0.001, 0.01, 0.1 and
#    1.0, and print the final validation accuracy of each. Which is best? What happens at 1.0?
# 3. **Eval mode matters.** Compute the test accuracy of the trained network in *training* mode
#    (`net.train()` then forward passes under `torch.no_grad()`), on batches of 100 test digits in
#    their usual mixed order, and on batches of 100 digits of one class each (sort the test digits
#    by label first). Why does the accuracy hardly change for the first, and drop for the second?
#
# Solutions follow, in collapsed cells (click to expand them in Jupyter).

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 1: label smoothing by hand, then its effect on accuracy and calibration
def smoothed_cross_entropy(logits, y, eps: float = 0.1):
    k = logits.shape[1]
    q = F.one_hot(y, k).float() * (1 - eps) + eps / k
    return -(q * logits.log_softmax(1)).sum(1).mean()


check = torch.randn(5, 10), torch.randint(10, (5,))
print(f"by hand {smoothed_cross_entropy(*check):.5f}   PyTorch "
      f"{F.cross_entropy(*check, label_smoothing=0.1):.5f}")


def calibration(logits, y, bins: int = 10) -> dict:
    """Accuracy, mean confidence and expected calibration error of ``logits`` against labels ``y``."""
    conf, pred = logits.softmax(1).max(1)
    right = (pred == y).float()
    which = (conf * bins).long().clamp(max=bins - 1)
    ece = sum((which == b).float().mean() * (right[which == b].mean() - conf[which == b].mean()).abs()
              for b in range(bins) if (which == b).any())
    return {"accuracy": right.mean().item(), "confidence": conf.mean().item(), "ECE": float(ece)}


smoothed = new_net()
train(smoothed, torch.optim.Adam(smoothed.parameters(), lr=1e-3),
      loss_fn=lambda logits, y: smoothed_cross_entropy(logits, y, 0.1))
for name, model in (("Adam, one-hot targets", nets["Adam"]), ("Adam, label smoothing 0.1", smoothed)):
    c = calibration(predict(model, x_test), y_test)
    print(f"{name:<27} test accuracy {c['accuracy']:.3f}, mean confidence {c['confidence']:.3f}, ECE {c['ECE']:.3f}")
# Label smoothing keeps the network from pushing its probabilities to 1: its confidence drops.
# Whether that improves calibration depends on how confident the plain network was: after long
# training plain networks are over-confident and smoothing helps (Mueller, Kornblith & Hinton
# 2019); after a short one they may be under-confident already, and smoothing makes that worse.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 2: a learning-rate sweep for SGD with momentum
for lr in (0.001, 0.01, 0.1, 1.0):
    model = new_net()
    h = train(model, torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9))
    print(f"lr {lr:<6} validation accuracy {h['val_acc'][-1]:.3f}, training loss of the last 20 steps "
          f"{np.mean(h['loss'][-20:]):.3g}")
# Too small a rate learns slowly; too large a rate overshoots: the loss jumps around, blows up
# (inf or nan), or the network ends up no better than chance (in our runs, at 1.0, the accuracy
# fell to about 0.1). The best rate is usually a little below the largest one that still trains stably.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 3: batch norm in training mode at test time
import copy

probe = copy.deepcopy(net)             # training-mode passes change the running statistics: use a copy
print(f"eval mode:                          test accuracy {accuracy(probe, x_test, y_test):.3f}")
by_class = torch.argsort(y_test.cpu(), stable=True).to(DEVICE)
for name, order in (("mixed", torch.arange(len(y_test), device=DEVICE)), ("one class each", by_class)):
    xs, ys = x_test[order], y_test[order]
    probe.train()                      # batch norm now uses each batch's own statistics
    with torch.no_grad():
        pred = torch.cat([probe(xs[i:i + 100]).argmax(1) for i in range(0, len(xs), 100)])
    print(f"training mode, batches of 100, {name:<15} test accuracy {(pred == ys).float().mean():.3f}")
# In training mode each image is normalised with its batch's mean and variance, so its prediction
# depends on the other images of the batch. A mixed batch of 100 has statistics close to the
# running ones, and little changes. A batch of one class has different statistics (a batch of 1s
# has little ink): the normalisation removes exactly what the classes have in common, and the
# predictions suffer. A GAN meets the same problem when real and generated images are normalised
# together or apart: part 4.
