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
# # Flows, diffusion and flow matching
#
# **You will learn to**
#
# - build the three newest families by hand in plain PyTorch, each on 2-D points in under a minute:
#   a normalizing flow (affine couplings, the change of variables), DDPM (noise, then learn to
#   remove it) and flow matching (learn the velocity of straight paths from noise to data);
# - check what each one's likelihood is: the flow's density integrates to 1 (exact), DDPM's is a
#   bound, flow matching's comes from an ODE (the instantaneous change of variables);
# - train `flow`, `ddpm` and `flow-matching` from the library on the same data and on digits, beside
#   the GAN and the VAE of the earlier notebooks, and score them with the same judge;
# - weigh them: sample quality, likelihood, an encoder, sampling speed.
#
# **Time:** about 30 minutes to read and run. Under a minute with `LATENTSPACE_FAST=1` (tiny trainings
# that check that everything runs: read its numbers as an example of how to read them, not as
# results); about 8 minutes without, on two CPU cores.
#
# **You need:** `intro/01` (likelihoods, sampling) and `GANs-with-pytorch/04` (the 2-D toy sets and
# their scores) help; the VAE notebooks for the comparison at the end. `notebooks/README.md` says how
# to run this file as a script or open it as a notebook.

# %%
# ruff: noqa: E402, E501   (imports appear where they are first needed; markdown tables keep their rows on one line)
import math
import os
import time

import latentspace as ls   # before torch: latentspace tells torch's idle threads not to hog shared cores
import matplotlib.pyplot as plt
import torch
from torch import nn

FAST = os.environ.get("LATENTSPACE_FAST") == "1"   # tiny trainings: checks that everything runs
print("fast mode" if FAST else "full mode")
torch.manual_seed(0)

# %% [markdown]
# ## Three ways to turn noise into data
#
# A GAN's generator maps noise $z \sim \mathcal N(0, I)$ to an item in one pass, and nothing tells
# us how probable an item is. A VAE adds an encoder and a bound on $\log p(x)$. The three families
# here keep the noise-to-data map but build it so that it can be learned without a discriminator:
#
# | family | the map from noise to data | trained by | likelihood |
# |---|---|---|---|
# | normalizing flow | an invertible network $x = g(z)$ | maximum likelihood, exactly | exact: $\log p_X(x) = \log p_Z(f(x)) + \log\lvert\det \partial f/\partial x\rvert$ |
# | diffusion (DDPM) | many small denoising steps $x_T \to x_{T-1} \to \dots \to x_0$ | predicting the noise added to data | a lower bound (the ELBO of a deep latent chain) |
# | flow matching | an ODE $\dot x = v_\theta(x, t)$ from $t=0$ (noise) to $t=1$ (data) | regressing the velocity of straight paths | through the ODE (instantaneous change of variables) |
#
# We use `moons` (two interleaved half circles, a smooth density) for the hand-made flow, `ring8`
# (eight sharp Gaussians on a circle) for the hand-made DDPM and flow matching, and `grid25`
# (PacGAN's 25 sharp Gaussians, the GANs' hard case) for the library's models.

# %%
moons = ls.data.load("moons")
ring = ls.data.load("ring8")
grid = ls.data.load("grid25")
x_moons, x_ring = moons.x, ring.x            # model space: standardised coordinates
print(*(f"{d.name} {tuple(d.x.shape)}" for d in (moons, ring, grid)))

fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
for ax, d in zip(axes, (moons, ring, grid)):
    pts = d.to_data(d.x[:2000])
    ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5)
    ax.set_title(d.name)
    ax.set_aspect("equal")
plt.tight_layout()
plt.show()


# %% [markdown]
# ## 1. A normalizing flow by hand
#
# A flow is a chain of invertible maps $f = f_K \circ \dots \circ f_1$ from data $x$ to a code
# $z = f(x)$ with a simple density $p_Z = \mathcal N(0, I)$. The change of variables gives the
# data's density exactly:
#
# $$\log p_X(x) = \log p_Z(f(x)) + \sum_{k} \log \left\lvert \det \frac{\partial f_k}{\partial h_{k-1}} \right\rvert .$$
#
# The trick is a layer whose inverse and determinant are cheap. RealNVP's **affine coupling**
# (Dinh et al. 2017) leaves half of the coordinates alone and moves the other half by a scale and
# shift computed *from the first half*:
#
# $$y_1 = x_1, \qquad y_2 = x_2 \odot e^{s(x_1)} + t(x_1), \qquad \log\lvert\det\rvert = \textstyle\sum s(x_1).$$
#
# The Jacobian is triangular, so its determinant is the product of the diagonal; the inverse is
# $x_2 = (y_2 - t(y_1)) \odot e^{-s(y_1)}$, whatever the networks $s$ and $t$ are. Stacking couplings
# that alternate which half moves gives a flexible bijection.

# %%
class Coupling(nn.Module):
    """y = x with coordinates `moved` scaled and shifted by a net of the others."""

    def __init__(self, moved: int, hidden: int = 64):
        super().__init__()
        self.moved = moved
        self.net = nn.Sequential(nn.Linear(1, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 2))

    def forward(self, x):                       # data -> code, and log|det|
        kept, moved = x[:, 1 - self.moved:2 - self.moved], x[:, self.moved:self.moved + 1]
        s, t = self.net(kept).chunk(2, 1)
        s = torch.tanh(s)                       # bounded scales keep training stable
        y = torch.cat([kept, moved * s.exp() + t], 1) if self.moved else torch.cat([moved * s.exp() + t, kept], 1)
        return y, s.squeeze(1)

    def inverse(self, y):                       # code -> data
        kept, moved = y[:, 1 - self.moved:2 - self.moved], y[:, self.moved:self.moved + 1]
        s, t = self.net(kept).chunk(2, 1)
        x_moved = (moved - t) * torch.tanh(s).neg().exp()
        return torch.cat([kept, x_moved], 1) if self.moved else torch.cat([x_moved, kept], 1)


class Flow(nn.Module):
    def __init__(self, layers: int = 8):
        super().__init__()
        self.layers = nn.ModuleList(Coupling(i % 2) for i in range(layers))

    def log_prob(self, x):
        log_det = torch.zeros(len(x))
        for layer in self.layers:
            x, s = layer(x)
            log_det = log_det + s
        return -0.5 * (x ** 2).sum(1) - math.log(2 * math.pi) + log_det

    def sample(self, n):
        z = torch.randn(n, 2)
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z


flow = Flow()
opt = torch.optim.Adam(flow.parameters(), lr=3e-3)
STEPS_HAND = 300 if FAST else 3000
start = time.process_time()
for _step in range(STEPS_HAND):
    batch = x_moons[torch.randint(len(x_moons), (256,))]
    loss = -flow.log_prob(batch).mean()           # maximum likelihood: nothing but the change of variables
    opt.zero_grad()
    loss.backward()
    opt.step()
print(f"flow by hand: {STEPS_HAND} steps in {time.process_time() - start:.1f} CPU-s, "
      f"final NLL {loss.item():.3f} nats (model space)")

# %% [markdown]
# **Is it really a density?** A density integrates to 1. In two dimensions we can check it with
# a Riemann sum on a fine grid wide enough to hold the mass. A GAN could not take this test: it
# has no density to integrate.

# %%
side = torch.linspace(-4, 4, 400)
gx, gy = torch.meshgrid(side, side, indexing="xy")
cells = torch.stack([gx.ravel(), gy.ravel()], 1)
with torch.no_grad():
    density = flow.log_prob(cells).exp().view(400, 400)
cell_area = float(side[1] - side[0]) ** 2
print(f"integral of the hand-made flow's density over [-4, 4]^2: {float(density.sum()) * cell_area:.4f}")

fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.5))
axes[0].imshow(density, origin="lower", extent=(-4, 4, -4, 4), cmap="magma")
axes[0].set_title("p(x), the flow's density")
with torch.no_grad():
    fake = flow.sample(2000)
axes[1].scatter(fake[:, 0], fake[:, 1], s=2, alpha=0.5)
axes[1].set_xlim(-4, 4)
axes[1].set_ylim(-4, 4)
axes[1].set_title("samples: z through the inverse")
for ax in axes:
    ax.set_aspect("equal")
plt.tight_layout()
plt.show()

# %% [markdown]
# The two moons come out, joined by a thin bridge of density: a flow is a smooth, invertible
# deformation of one Gaussian blob, so it cannot tear the blob into two pieces, only stretch a
# thin neck between them. Sharp, separated clusters are the hard case (the first exercise tries
# `ring8`); coupling layers with more flexible maps than affine ones (the neural spline flows the
# library uses for points) handle them much better.
#
# ## 2. Diffusion (DDPM) by hand
#
# DDPM (Ho et al. 2020) destroys data step by step and learns to undo it. The *forward process*
# adds a little Gaussian noise at each of $T$ steps, with variances $\beta_1 < \dots < \beta_T$; any
# step can be drawn in one go, with $\alpha_t = 1 - \beta_t$ and $\bar\alpha_t = \prod_{s \le t}\alpha_s$:
#
# $$q(x_t \mid x_0) = \mathcal N\big(\sqrt{\bar\alpha_t}\, x_0,\ (1 - \bar\alpha_t) I\big), \qquad
#   x_t = \sqrt{\bar\alpha_t}\, x_0 + \sqrt{1 - \bar\alpha_t}\, \epsilon .$$
#
# A network $\epsilon_\theta(x_t, t)$ learns to tell which noise was added:
# $L_\text{simple} = \mathbb E_{t, x_0, \epsilon} \lVert \epsilon - \epsilon_\theta(x_t, t) \rVert^2$.
# Sampling runs the chain backwards from pure noise $x_T \sim \mathcal N(0, I)$:
#
# $$x_{t-1} = \frac{1}{\sqrt{\alpha_t}} \Big(x_t - \frac{\beta_t}{\sqrt{1 - \bar\alpha_t}}\, \epsilon_\theta(x_t, t)\Big) + \sigma_t z,
#   \qquad z \sim \mathcal N(0, I),\ \sigma_t^2 = \beta_t .$$

# %%
T = 100
beta = torch.linspace(1e-4, 0.2, T)            # a short chain: larger steps than DDPM's 1,000
alpha = 1 - beta
alpha_bar = torch.cumprod(alpha, 0)


def noised(x0, t, eps):
    a = alpha_bar[t][:, None]
    return a.sqrt() * x0 + (1 - a).sqrt() * eps


fig, axes = plt.subplots(1, 5, figsize=(12, 2.6))
x0 = x_ring[:1500]
for ax, t in zip(axes, (0, 10, 25, 50, 99)):
    xt = noised(x0, torch.full((len(x0),), t), torch.randn_like(x0))
    ax.scatter(xt[:, 0], xt[:, 1], s=1, alpha=0.4)
    ax.set_title(f"$x_t$, t = {t + 1}")
    ax.set_xlim(-3.5, 3.5)
    ax.set_ylim(-3.5, 3.5)
    ax.set_aspect("equal")
plt.suptitle("the forward process destroys ring8 step by step")
plt.tight_layout()
plt.show()


# %%
class NoiseNet(nn.Module):
    """eps_theta(x_t, t): an MLP that sees the point and sinusoidal features of t."""

    def __init__(self, hidden: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2 + 16, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 2))

    def forward(self, x, t):                       # t in [0, 1]
        freqs = torch.exp(torch.arange(8) * 0.8)
        feats = torch.cat([torch.sin(t[:, None] * freqs), torch.cos(t[:, None] * freqs)], 1)
        return self.net(torch.cat([x, feats], 1))


eps_net = NoiseNet()
opt = torch.optim.Adam(eps_net.parameters(), lr=2e-3)
start = time.process_time()
for _step in range(STEPS_HAND * 2):
    x0 = x_ring[torch.randint(len(x_ring), (256,))]
    t = torch.randint(T, (256,))
    eps = torch.randn_like(x0)
    loss = ((eps - eps_net(noised(x0, t, eps), t / T)) ** 2).mean()      # L_simple
    opt.zero_grad()
    loss.backward()
    opt.step()
print(f"DDPM by hand: {STEPS_HAND * 2} steps in {time.process_time() - start:.1f} CPU-s, L_simple {loss.item():.3f}")


@torch.no_grad()
def ddpm_sample(n, keep=(99, 60, 30, 10, 0)):
    x, kept = torch.randn(n, 2), {}
    for t in reversed(range(T)):
        eps = eps_net(x, torch.full((n,), t / T))
        x = (x - beta[t] / (1 - alpha_bar[t]).sqrt() * eps) / alpha[t].sqrt()
        if t > 0:
            x = x + beta[t].sqrt() * torch.randn_like(x)
        if t in keep:
            kept[t] = x.clone()
    return kept


chain = ddpm_sample(2000)
fig, axes = plt.subplots(1, 5, figsize=(12, 2.6))
for ax, (t, xt) in zip(axes, chain.items()):
    ax.scatter(xt[:, 0], xt[:, 1], s=1, alpha=0.4)
    ax.set_title(f"reverse chain, t = {t}")
    ax.set_xlim(-3.5, 3.5)
    ax.set_ylim(-3.5, 3.5)
    ax.set_aspect("equal")
plt.tight_layout()
plt.show()

# %% [markdown]
# The reverse chain gathers the noise into the eight clusters over its last steps. Where is the
# likelihood? DDPM is a VAE with $T$ latent layers $x_1 \dots x_T$ and a fixed encoder (the forward
# process), so $\log p(x_0)$ has an ELBO, a sum of KL divergences between Gaussians, one per step
# (the library's `ddpm.score_samples` computes it and says it is a bound). $L_\text{simple}$ is that
# bound with its weights dropped, which gives better samples.
#
# ## 3. Flow matching by hand
#
# Flow matching (Lipman et al. 2023; Liu et al. 2023's rectified flow) learns an ODE
# $\dot x = v_\theta(x, t)$ that carries noise ($t = 0$) to data ($t = 1$). Pick a noise point $x_0$
# and a data point $x_1$ and join them by a straight line, $x_t = (1 - t)\, x_0 + t\, x_1$: along it the
# velocity is constant, $u_t = x_1 - x_0$. Regress the network on it,
#
# $$L_\text{CFM} = \mathbb E_{t, x_0, x_1} \lVert v_\theta(x_t, t) - (x_1 - x_0) \rVert^2 .$$
#
# The network cannot know which $x_1$ a given $x_t$ came from, so it learns the *average* velocity
# through $x_t$, and that average field carries the whole noise distribution onto the data
# distribution. No noise schedule, no simulation in training: one regression.

# %%
v_net = NoiseNet()
opt = torch.optim.Adam(v_net.parameters(), lr=2e-3)
start = time.process_time()
for _step in range(STEPS_HAND * 2):
    x1 = x_ring[torch.randint(len(x_ring), (256,))]
    x0 = torch.randn_like(x1)
    t = torch.rand(256)
    xt = (1 - t[:, None]) * x0 + t[:, None] * x1
    loss = ((v_net(xt, t) - (x1 - x0)) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
print(f"flow matching by hand: {STEPS_HAND * 2} steps in {time.process_time() - start:.1f} CPU-s, loss {loss.item():.3f}")


@torch.no_grad()
def euler(x, steps=50, net=v_net):
    path = [x]
    for i in range(steps):
        t = torch.full((len(x),), i / steps)
        x = x + net(x, t) / steps
        path.append(x)
    return torch.stack(path)


paths = euler(torch.randn(1000, 2))
fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.6))
for k in range(60):
    axes[0].plot(paths[:, k, 0], paths[:, k, 1], lw=0.6, color="grey")
axes[0].scatter(paths[0, :60, 0], paths[0, :60, 1], s=6, c="k", label="noise, t = 0")
axes[0].scatter(paths[-1, :60, 0], paths[-1, :60, 1], s=6, c="C3", label="data, t = 1")
axes[0].legend(fontsize=7)
axes[0].set_title("ODE paths (50 Euler steps)")
axes[1].scatter(paths[-1, :, 0], paths[-1, :, 1], s=2, alpha=0.5)
axes[1].set_title("samples")
for ax in axes:
    ax.set_xlim(-3.5, 3.5)
    ax.set_ylim(-3.5, 3.5)
    ax.set_aspect("equal")
plt.tight_layout()
plt.show()

# %% [markdown]
# The paths bend: the average of many straight lines is not straight, because noise points near
# each other were paired with data points far apart. **Mini-batch optimal transport** (Tong et al.
# 2023) pairs each noise point in a batch with a nearby data point instead (the pairing that
# minimises the total squared distance, an assignment problem); the learned paths come out
# straighter, and a few ODE steps are then enough. It is the `coupling="ot"` option of the library's
# `flow-matching`, and the second exercise.
#
# ## 4. The library's models on grid25
#
# The same three ideas, at full strength, are `ls.models.create("flow")`, `"ddpm"` and
# `"flow-matching"`: a neural spline flow for points (through `zuko`) and a multiscale RealNVP for
# images; DDPM with 1,000 steps and DDIM sampling; flow matching with a choice of ODE solver. They
# share the API, the engine (EMA, checkpoints, exact resume) and the judge with the GAN and the VAE.
#
# Each family gets the same training budget here: **45 seconds** of training on this machine (100
# steps in fast mode). Their defaults train longer, 1.5 to 3 CPU-minutes each, and then reach all 25
# modes with 98% (`ddpm`), 96% (`gan`), 90% (`flow-matching`) and 65% (`flow`) high-quality points
# (`docs/flows-and-diffusion.md`); set `DEFAULTS = True` below to train them so (about 10 minutes).
# At 45 seconds, read it as a race at a fixed, short budget.

# %%
from latentspace.metrics import toy2d_metrics

DEFAULTS = False                                  # True: each family's own defaults (about 10 minutes)
BUDGET = {"steps": 100} if FAST else {} if DEFAULTS else {"time": 45}
FAMILIES = ("flow", "ddpm", "flow-matching", "gan", "vae")
on_grid, train_cpu = {}, {}
for name in FAMILIES:
    model = ls.models.create(name)
    start = time.process_time()
    model.fit(grid, seed=0, progress=False, **BUDGET)
    train_cpu[name] = time.process_time() - start
    on_grid[name] = model
    print(f"{name:14s} trained: {train_cpu[name]:5.1f} CPU-s")

# %%
modes, sigma = grid.info.extra["modes"], grid.info.extra["sigma"]
N_POINTS = 500 if FAST else 2500                 # PacGAN's protocol draws 2,500
fig, axes = plt.subplots(1, len(on_grid), figsize=(3.1 * len(on_grid), 3.3))
for ax, (name, model) in zip(axes, on_grid.items()):
    start = time.perf_counter()
    pts = model.sample(N_POINTS, seed=0)
    seconds = time.perf_counter() - start
    score = toy2d_metrics(pts, modes, sigma)
    ax.scatter(pts[:, 0], pts[:, 1], s=1, alpha=0.4)
    ax.set_title(f"{name}\n{score['modes_captured']}/25 modes, {100 * score['high_quality_fraction']:.0f}% HQ, "
                 f"{N_POINTS / seconds:,.0f}/s", fontsize=8)
    ax.set_xlim(-5.5, 5.5)
    ax.set_ylim(-5.5, 5.5)
    ax.set_aspect("equal")
plt.suptitle("grid25, the same short budget for every family" + (" (fast mode: barely trained)" if FAST else ""))
plt.tight_layout()
plt.show()

# %% [markdown]
# The title of each panel gives the two scores of PacGAN's protocol (modes covered; the share of
# points within three standard deviations of a mode, "high quality") and the sampling speed. After
# 45 seconds every family has found most of the modes but none has made them sharp yet: grid25's
# modes are tiny (a standard deviation of 0.05 on a grid of spacing 2), and the last stretch of
# training is what puts the points on them. The flow also keeps thin bridges between modes (it
# cannot tear its Gaussian apart, as above). The sampling speeds differ by orders of magnitude: the
# GAN and the VAE need one network pass per sample, flow matching 40 (20 midpoint steps), DDPM 1,000.
#
# ## 5. What each likelihood is
#
# Three of the five have a likelihood, and `score_samples` says what it is through
# `likelihood_kind`:
#
# - `flow`: **exact**, the change of variables;
# - `ddpm`: a **bound**, $-\log p(x) \le L_\text{vlb}$, summed over the chain's steps;
# - `flow-matching`: through the ODE, $\log p_1(x) = \log p_0(z) - \int_0^1 \nabla\!\cdot v_\theta(x_t, t)\, dt$,
#   with the divergence exact for points (a Hutchinson estimate for images);
# - `vae`: an importance-sampled **estimate** (a bound in expectation), as in the VAE notebooks.
#
# All four are densities of the same data-space points here, so their held-out NLLs can be put side
# by side (lower is better); the GAN has none.

# %%
NLL_ITEMS = 100 if FAST else 500
print(f"held-out NLL on {NLL_ITEMS} grid25 test points (nats per point; lower is better)")
for name, model in on_grid.items():
    if model.likelihood_kind is None:
        print(f"  {name:14s} no likelihood")
        continue
    nll = ls.metrics.heldout_nll(model, grid, max_items=NLL_ITEMS)
    print(f"  {name:14s} {nll['nll_nats']:7.3f}   ({model.likelihood_kind}, {nll['likelihood_of']})")

# %% [markdown]
# The library's flow passes the same test as the hand-made one: its density over the plane sums
# to 1 (the modes of grid25 are narrow, so the grid has to be fine).

# %%
side = torch.linspace(-6, 6, 300 if FAST else 900)
gx, gy = torch.meshgrid(side, side, indexing="xy")
plane = torch.stack([gx.ravel(), gy.ravel()], 1)
log_p = on_grid["flow"].score_samples(plane)
print(f"integral of the library flow's density over [-6, 6]^2: "
      f"{float(log_p.exp().sum()) * float(side[1] - side[0]) ** 2:.4f}")

# %% [markdown]
# ## 6. Digits: the same families on images
#
# On images the three families change their networks, not their ideas: the flow becomes a
# multiscale RealNVP (couplings with conv nets, squeezes that trade space for channels, and half the
# variables factored out at each scale), DDPM and flow matching learn with a small U-Net. We train
# each on scikit-learn's 8 x 8 digits for the same short budget and score them on the classifier
# features of `99-gans-vs-vaes`, beside the real-vs-real floor.

# %%
digits = ls.data.load("digits")
BUDGET_IMAGES = {"steps": 30} if FAST else {"time": 30}
on_digits = {}
for name in FAMILIES:
    model = ls.models.create(name)
    start = time.process_time()
    model.fit(digits, seed=0, progress=False, **BUDGET_IMAGES)
    on_digits[name] = model
    print(f"{name:14s} trained: {time.process_time() - start:5.1f} CPU-s")

# %%
shown = {"real": digits.to_data(digits.x[:16])}
speed = {}
for name, model in on_digits.items():
    start = time.perf_counter()
    shown[name] = model.sample(16, seed=1)
    speed[name] = 16 / (time.perf_counter() - start)
fig, axes = plt.subplots(1, len(shown), figsize=(2.4 * len(shown), 2.9), constrained_layout=True)
for ax, (name, x) in zip(axes, shown.items()):
    ax.imshow(ls.plots.image_grid(x.clamp(0, 1), ncols=4), cmap="gray")
    ax.set_title(name if name == "real" else f"{name}\n{speed[name]:,.0f} samples/s", fontsize=9)
    ax.axis("off")
fig.suptitle("digits" + (" (fast mode: barely trained)" if FAST else ", 30 s of training each"))
plt.show()

# %%
N_EVAL = 200 if FAST else 1000
rows, kinds = {}, {}
for name, model in on_digits.items():
    result = ls.metrics.evaluate(model, digits, n=N_EVAL, seed=0, nll_items=20 if FAST else 100)
    rows[name] = result["scores"]
    kinds[name] = f"({result['details']['likelihood']}, {result['details']['likelihood_of']})" \
        if "likelihood_of" in result["details"] else ""
floor = result["floor"]
print(f"{'':14s} {'FD':>6s} {'precision':>9s} {'recall':>7s} {'NLL (bits/dim)':>15s}")
for name, s in rows.items():
    bpd = f"{s['nll_bits_per_dim']:.3f}" if "nll_bits_per_dim" in s else "-"
    print(f"{name:14s} {s['fd']:6.2f} {s['precision']:9.2f} {s['recall']:7.2f} {bpd:>15s}  {kinds[name]}")
print(f"{'floor':14s} {floor['fd']:6.2f} {floor['precision']:9.2f} {floor['recall']:7.2f}")

# %% [markdown]
# Read the table with the floor in mind: it is what real held-out digits score against the training
# digits. The likelihoods are not all of one kind: the digits have 17 grey levels, so the flow and
# flow matching give densities of the values (a density can exceed 1, hence negative bits/dim), while
# DDPM's decoder gives a probability of 256-level pixels; the kind is printed beside each number,
# and only numbers of one kind can be ranked. At this budget the ranking is about speed of learning as much as
# about the families; with their defaults and MNIST-sized data, `docs/flows-and-diffusion.md` gives the
# measured figures (bits/dim of the flow on MNIST against its training time; DDPM and flow-matching
# samples on MNIST scored against the best GAN run).
#
# ## 7. Which one, when?
#
# | you need | reach for | why |
# |---|---|---|
# | an exact likelihood (anomaly scores, comparing hypotheses, a density to integrate) | `flow` | the change of variables is exact; `encode` is the exact inverse |
# | the best samples, and sampling time is no issue | `ddpm`, `flow-matching` | a regression loss, no adversary, no mode collapse; many network passes per sample |
# | good samples in few steps | `flow-matching` with `coupling="ot"` | straighter paths: 10-20 ODE steps, fewer with care |
# | one-pass sampling (thousands per second) | `gan`, `vae` | one network pass; the GAN's samples are sharp but it may drop modes |
# | a small, meaningful code | `vae` | the flow's and the ODE's codes are as wide as the data |
# | to ask for a class | `cgan`, `cvae`, or `ddpm` / `flow-matching` with `conditional=True` | classifier-free guidance trades variety for fidelity with one number, `guidance` |
#
# All of these are a line each on the command line, e.g.
#
# ```bash
# latentspace train ddpm --data grid25 --out runs/ddpm && latentspace evaluate runs/ddpm
# latentspace compare flow ddpm flow-matching gan vae --data digits --steps 2000 --out runs/cmp
# ```

# %% [markdown]
# ## Exercises
#
# **Exercise 1.** Train the hand-made affine flow of section 1 on `ring8` instead of `moons`. What do
# its density and its samples look like, and why? (Hint: ring8's clusters are tiny, and a flow
# maximises likelihood.)

# %% tags=["solution"] jupyter={"source_hidden": true}
# Exercise 1, a solution. Likelihood rewards putting density exactly where the points are; eight
# tiny clusters joined by a smooth bijection become thin curves through them, and samples follow
# the curves: the flow cannot tear its Gaussian apart, only stretch it.
flow_ring = Flow()
opt = torch.optim.Adam(flow_ring.parameters(), lr=3e-3)
for _step in range(STEPS_HAND):
    batch = x_ring[torch.randint(len(x_ring), (256,))]
    loss = -flow_ring.log_prob(batch).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
with torch.no_grad():
    fake = flow_ring.sample(2000)
plt.figure(figsize=(3.4, 3.4))
plt.scatter(fake[:, 0], fake[:, 1], s=2, alpha=0.5)
plt.xlim(-3, 3)
plt.ylim(-3, 3)
plt.gca().set_aspect("equal")
plt.title(f"affine flow on ring8: NLL {loss.item():.2f}")
plt.show()

# %% [markdown]
# **Exercise 2.** Train the library's `flow-matching` on `grid25` with `coupling="independent"`
# and with `coupling="ot"` (same budget), then sample each with only `sample_steps=2` Euler steps
# (`solver="euler"`). Which keeps more high-quality points, and why?

# %% tags=["solution"] jupyter={"source_hidden": true}
# Exercise 2, a solution. With the OT coupling each noise point is paired with a nearby data point,
# so the learned paths are nearly straight and two Euler steps still reach most modes (23 of 25 in
# full mode, against 9 with independent pairs, whose bent paths the coarse steps cut between the
# modes). Two steps are too coarse to put points within grid25's tiny 3-sigma discs either way.
for coupling in ("independent", "ot"):
    fm = ls.models.create("flow-matching", coupling=coupling)
    fm.fit(grid, seed=0, progress=False, **({"steps": 100} if FAST else {"time": 30}))
    fm.set_params(sample_steps=2, solver="euler")
    score = toy2d_metrics(fm.sample(N_POINTS, seed=0), modes, sigma)
    print(f"{coupling:12s}: {score['modes_captured']}/25 modes, {100 * score['high_quality_fraction']:.0f}% HQ "
          "with 2 Euler steps")

# %% [markdown]
# **Exercise 3.** DDPM's sampler can skip steps (DDIM, Song et al. 2021: a deterministic update that
# stays on the same marginals). Sample the grid25 `ddpm` of section 4 with `sample_steps` 5, 20 and
# 100 (`sampler="ddim"`): how do the high-quality share and the sampling speed change?

# %% tags=["solution"] jupyter={"source_hidden": true}
# Exercise 3, a solution. Fewer steps sample proportionally faster. With 5 DDIM steps the samples miss
# most modes (10 of 25 in full mode); from about 20 steps they find them all. This 45-second model keeps
# few points within 3 sigma whatever the steps; the fully trained default (98% with 1,000 ancestral
# steps) gives 88.5% with 100 DDIM steps and 80.1% with 50 (docs/flows-and-diffusion.md).
ddpm_grid = on_grid["ddpm"]
for steps in (5, 20, 100):
    ddpm_grid.set_params(sampler="ddim", sample_steps=steps)
    start = time.perf_counter()
    pts = ddpm_grid.sample(N_POINTS, seed=0)
    seconds = time.perf_counter() - start
    score = toy2d_metrics(pts, modes, sigma)
    print(f"DDIM {steps:3d} steps: {score['modes_captured']}/25 modes, {100 * score['high_quality_fraction']:.0f}% HQ, "
          f"{N_POINTS / seconds:,.0f} samples/s")
