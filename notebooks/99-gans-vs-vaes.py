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
# # GANs against VAEs: one measured comparison
#
# **You will learn to**
#
# - train a GAN, a VAE and two classical baselines (a Gaussian mixture and probabilistic PCA) on
#   one dataset, under one budget, and time their training and their sampling;
# - compute two of the scores by hand (the Fréchet distance and k-NN precision/recall on domain
#   features) and check them against the library's;
# - read the full comparison table (`latentspace compare`, or its Python equivalent): fidelity
#   against diversity, memorisation, likelihood where there is one, speed;
# - turn the table into the pros and cons of each family: sharpness against coverage, a
#   likelihood, an encoder, stable training, speed.
#
# **Time:** about 15 minutes to read and run. Under a minute with `LATENTSPACE_FAST=1` (tiny
# trainings, to check that everything runs: the GAN and the VAE are barely trained, so read the
# numbers as an example of how to read them, not as results); about 3 to 4 minutes without, on
# two CPU cores.
#
# **You need:** the earlier notebooks help (what a GAN and a VAE are, `intro/01` for the
# pros-and-cons table we test here), but this one stands alone. `notebooks/README.md` says how to
# run this file as a script or open it as a notebook.

# %% [markdown]
# ## Why measure?
#
# Every introduction to generative models has a table like the one in `intro/01`: GANs give
# sharp samples but drop modes and train unstably; VAEs cover the data and have an encoder and a
# likelihood, but their samples are blurry; classical models (mixtures, PCA) are fast and exact
# but weak on images. Such a table is a summary of many papers on large images. On *your* data,
# at *your* budget, it may or may not hold. Here we test it on one dataset with numbers, the way
# `latentspace compare` does:
#
# ```bash
# latentspace compare gmm ppca gan vae --data digits --steps 3000 --out runs/cmp   # one HTML page
# ```
#
# We do the same in Python, one step at a time, so that every number in the table has a cell
# that made it.

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

FAST = os.environ.get("LATENTSPACE_FAST") == "1"   # tiny trainings: checks that everything runs
print("fast mode" if FAST else "full mode")

FILES = Path(tempfile.mkdtemp(prefix="latentspace-compare-"))   # run folders and the HTML page go here
print("writing run folders and the comparison page to", FILES)

# %% [markdown]
# ## The data: scikit-learn's digits
#
# 1,797 handwritten digits of 8 x 8 pixels, grey levels in [0, 1], 10 classes; 1,438 for training
# and 359 held out. It ships with scikit-learn, so the notebook needs no file, and every model
# trains on it in seconds. That is also its limit: 8 x 8 pictures are small enough for a Gaussian
# mixture to do well, which is not so on larger images (see the MNIST figures at the end).

# %%
data = ls.data.load("digits")
print(data, "| held out:", len(data.test))
x_train, x_test = data.to_data(), data.test.to_data()
print("items", tuple(x_train.shape[1:]), "values in", (float(x_train.min()), float(x_train.max())))

# %% [markdown]
# ## Four models, one loop
#
# - `gmm`: a Gaussian mixture (25 components, on PCA-whitened pixels); fitted by EM in one go;
#   an exact likelihood.
# - `ppca`: probabilistic PCA (Tipping & Bishop 1999): a *linear* latent model, $x = Wz + \mu +
#   \varepsilon$ with $z \sim \mathcal N(0, I)$; the ancestor of the VAE, with an exact likelihood
#   and an exact encoder.
# - `gan` (Goodfellow et al. 2014): on images the DCGAN networks (Radford et al. 2016), a conv
#   generator and a conv discriminator, with the non-saturating loss.
# - `vae` (Kingma & Welling 2014; Rezende et al. 2014): MLP encoder and decoder, a Bernoulli
#   likelihood on the pixels, and after training a mixture prior fitted to the codes.
#
# The neural models get a number of steps; the classical ones are fitted in one go. We time
# each `fit` by hand: this is all `latentspace compare` does before it evaluates.

# %%
STEPS = {"gan": 150, "vae": 300} if FAST else {"gan": 3000, "vae": 3000}
models, train_seconds = {}, {}
for name in ("gmm", "ppca", "gan", "vae"):
    model = ls.models.create(name)
    t0 = time.perf_counter()
    if name in STEPS:   # neural: a run folder keeps the training curves (metrics.csv)
        model.fit(data, steps=STEPS[name], seed=0, out=FILES / name, progress=False,
                  log_every=max(1, STEPS[name] // 60))
    else:
        model.fit(data, seed=0)
    train_seconds[name] = time.perf_counter() - t0
    models[name] = model
    print(f"{name:5s} trained in {train_seconds[name]:6.1f} s", f"({STEPS[name]} steps)" if name in STEPS else "")

# %% [markdown]
# ## Sampling speed
#
# A sample of the GAN is one pass through the generator; of the VAE, one pass through the
# decoder (plus a draw from its prior); of the mixture, a draw of a component and of a Gaussian.
# We time 2,000 samples of each after a small warm-up call (the first call of a network pays for
# setting things up).

# %%
samples_per_s = {}
for name, model in models.items():
    model.sample(16, seed=0)                         # warm-up
    t0 = time.perf_counter()
    model.sample(2000, seed=0)
    samples_per_s[name] = 2000 / (time.perf_counter() - t0)
    print(f"{name:5s} {samples_per_s[name]:10,.0f} samples/s")

# %% [markdown]
# ## Samples side by side
#
# Sixteen samples of each model, beside sixteen real training digits. Look for three
# things: **sharpness** (clean strokes, or grey smudges?), **variety** (all ten digits, in
# different styles?) and **plausibility** (would you read each as a digit?).

# %%
shown = {"real": x_train[:16]} | {name: m.sample(16, seed=1) for name, m in models.items()}
fig, axes = plt.subplots(1, len(shown), figsize=(2.6 * len(shown), 3.2), constrained_layout=True)
for ax, (name, x) in zip(axes, shown.items()):
    ax.imshow(ls.plots.image_grid(x.clamp(0, 1), ncols=4), cmap="gray")
    ax.set_title(name)
    ax.axis("off")
fig.suptitle("samples" + (" (fast mode: the GAN and the VAE are barely trained)" if FAST else ""))
plt.show()

# %% [markdown]
# ## Two scores by hand
#
# Pixels are a poor place to compare pictures: a digit shifted by one pixel is far from itself.
# The scores are computed on **domain features** instead: the 64 numbers before the last layer
# of a small classifier trained on the training digits (Inception features, the usual choice for
# natural photographs, know nothing about 8 x 8 digits). `ls.metrics.feature_extractor` trains it
# once and caches it; each feature is then standardised by its mean and spread over the training
# items.
#
# **Fréchet distance** (FD; Heusel et al. 2017, there on Inception features as the FID): fit a
# Gaussian to each set of features and measure the distance between the two Gaussians,
#
# $$\mathrm{FD} = \|\mu_r - \mu_g\|^2 + \mathrm{tr}\big(\Sigma_r + \Sigma_g - 2(\Sigma_r\Sigma_g)^{1/2}\big).$$
#
# It mixes everything into one number: blur, missing classes and wrong proportions all raise it.
#
# **Precision and recall** (Kynkäänniemi et al. 2019) separate the two failures. Put a ball
# around each real item reaching its $k$-th nearest real neighbour ($k = 5$): *precision* is the
# share of samples inside at least one real ball (are samples plausible?); swap the roles and
# *recall* is the share of real items inside at least one sample ball (is the data covered?).

# %%
from scipy import linalg

phi = ls.metrics.feature_extractor(data)   # trained on the training digits (or read from the cache)
print(f"feature extractor: {phi.kind}, held-out accuracy {phi.scores['accuracy']:.3f}")

f_train = phi.features(x_train)
mean, std = f_train.mean(0), f_train.std(0).clamp_min(1e-8)


def feats(x):
    """Standardised domain features of data-space items."""
    return ((phi.features(x) - mean) / std).double()


def frechet(a, b):
    """Fréchet distance between Gaussians fitted to feature sets a and b."""
    mu_a, mu_b = a.mean(0).numpy(), b.mean(0).numpy()
    cov_a, cov_b = np.cov(a.numpy(), rowvar=False), np.cov(b.numpy(), rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def precision_recall(real, fake, k=5):
    """k-NN precision and recall (Kynkäänniemi et al. 2019)."""
    def radii(z):                                        # distance of each item to its k-th neighbour
        return torch.cdist(z, z).kthvalue(k + 1, dim=1).values   # k + 1: the item itself is at 0
    inside = torch.cdist(fake, real) <= radii(real)[None, :]     # sample i inside real ball j
    precision = inside.any(1).double().mean()
    inside = torch.cdist(real, fake) <= radii(fake)[None, :]
    recall = inside.any(1).double().mean()
    return float(precision), float(recall)


m = len(x_test)                                    # as many items a side as the held-out split has
ref = feats(x_train[torch.randperm(len(x_train), generator=torch.Generator().manual_seed(0))[:m]])
by_hand = {"held-out real digits": feats(x_test)} | {name: feats(mdl.sample(m, seed=2)) for name, mdl in models.items()}
print(f"{m} items a side, against {m} training digits")
print(f"{'':22s} {'FD':>7s} {'precision':>10s} {'recall':>7s}")
for name, f in by_hand.items():
    p, r = precision_recall(ref, f)
    print(f"{name:22s} {frechet(ref, f):7.2f} {p:10.3f} {r:7.3f}")

# %% [markdown]
# The first row is the **floor**: real digits the models never saw, scored the same way. No model
# can be expected to beat it (a model that does is usually copying its training set), so read
# every score as a distance from the floor, not from zero. With only 359 items a side the FD is
# biased upwards (the floor is not 0) and the scores vary from draw to draw: small differences
# are noise.

# %% [markdown]
# ## The full evaluation
#
# `ls.metrics.evaluate(model, data)` computes these and more, each beside its floor, on the same
# features (`latentspace evaluate RUN` on the command line): KID (an unbiased cousin of the FD),
# density and coverage (Naeem et al. 2020: precision and recall made robust to outliers), a
# classifier two-sample test (0.5 means a classifier cannot tell samples from real digits), the
# share of samples **suspiciously close to a training item** (memorisation), the classes the
# domain classifier sees in the samples, and the held-out negative log-likelihood where the
# model has one. Its numbers differ a little from ours above: it draws its own samples and its
# own subset of training digits.

# %%
N_EVAL = 2000 if FAST else 10000
results = {name: ls.metrics.evaluate(m, data, n=N_EVAL, seed=0) for name, m in models.items()}
floor = results["gmm"]["floor"]

ROWS = [("fd", "Fréchet distance", "lower"), ("kid_mean", "KID", "lower"),
        ("precision", "precision", "higher"), ("recall", "recall", "higher"),
        ("density", "density", "~1"), ("coverage", "coverage", "higher"),
        ("c2st_accuracy", "two-sample test accuracy", "0.5"), ("memorised_fraction", "suspiciously close", "lower"),
        ("class_entropy", "class entropy", "higher"), ("nll_nats", "held-out NLL (nats)", "lower*")]
print(f"{'score':27s}" + "".join(f"{n:>9s}" for n in models) + f"{'floor':>9s}   better")
for key, label, better in ROWS:
    cells = [results[n]["scores"].get(key) for n in models] + [floor.get(key)]
    print(f"{label:27s}" + "".join(f"{v:9.3f}" if v is not None else f"{'-':>9s}" for v in cells) + f"   {better}")
print(f"{'training time (s)':27s}" + "".join(f"{train_seconds[n]:9.1f}" for n in models))
print(f"{'samples per second':27s}" + "".join(f"{samples_per_s[n]:9.0f}" for n in models))

# %% [markdown]
# `*` The likelihoods are not one column of comparable numbers. The mixture's and PPCA's are
# **densities** of continuous pixel values: a density can exceed 1, so their NLLs can be
# negative. The VAE's is a **probability** of the held-out digits binarised (black or white
# pixels), estimated by importance sampling on 100 of them; a probability never exceeds 1, so its
# NLL is positive. The two kinds measure different things and are never ranked against each
# other. The GAN has no likelihood at all: it defines samples, not a density.

# %%
for name in ("gmm", "vae"):
    d = results[name]["details"]
    print(f"{name}: NLL {results[name]['scores']['nll_nats']:.2f} nats ({d['likelihood']}; "
          f"{d['likelihood_of']}) on {d['nll_items']} held-out digits")
try:
    models["gan"].score_samples(x_test[:5])
except NotImplementedError as e:
    print("gan:", e)

# %% [markdown]
# ## The same as `latentspace compare`
#
# The command line trains each model into a run folder, evaluates it and writes one HTML page:
# the scores with the best model of each row marked and the floor beside them, the likelihoods
# grouped by what they are a likelihood of, training and sampling time, and a picture of samples
# per model. From Python the page comes from the models and results we already have:

# %%
from latentspace.report import write_comparison

entries = [{"model": m, "results": results[name], "train_seconds": train_seconds[name],
            "samples_per_s": samples_per_s[name], "run": FILES / name if name in STEPS else None}
           for name, m in models.items()]
page = write_comparison(entries, FILES / "report.html", data=data, seed=0)
print("open in a browser:", page)
print("the same from the shell: latentspace compare gmm ppca gan vae --data digits "
      f"--steps {STEPS['gan']} --out {FILES / 'cli'}")

# %% [markdown]
# ## Stability: the training curves
#
# A VAE minimises one loss, the negative ELBO, and it goes down. A GAN plays a game: the
# discriminator's and the generator's losses pull against each other and neither has to go down.
# The curves below come from each run's `metrics.csv`.

# %%
gan_log, vae_log = ls.plots.read_metrics(FILES / "gan"), ls.plots.read_metrics(FILES / "vae")
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
axes[0].plot(gan_log["step"], gan_log["loss_d"], label="discriminator")
axes[0].plot(gan_log["step"], gan_log["loss_g"], label="generator")
axes[0].set_title("GAN: two losses in a game")
axes[0].legend()
axes[1].plot(vae_log["step"], -vae_log["elbo"], color="C2")
axes[1].set_title("VAE: one loss (the negative ELBO, nats), minimised")
for ax in axes:
    ax.set_xlabel("step")
plt.show()

# %% [markdown]
# ## An encoder, or a search
#
# A VAE has an encoder: one pass gives the code of a new digit, and decoding the code gives its
# reconstruction. A GAN has none; finding the code of a digit means a search, gradient descent on
# $z$ to make $G(z)$ match the digit (`ls.latent.invert`). PPCA's encoder is exact and linear. We
# reconstruct 64 held-out digits with each and time it.

# %%
x = x_test[:64]
t0 = time.perf_counter()
vae_rec = models["vae"].decode(models["vae"].encode(x))
t_vae = time.perf_counter() - t0
t0 = time.perf_counter()
z_gan, _ = ls.latent.invert(models["gan"], x, steps=50 if FAST else 300, restarts=2, seed=0)
gan_rec = models["gan"].decode(z_gan)
t_gan = time.perf_counter() - t0
ppca_rec = models["ppca"].decode(models["ppca"].encode(x))
for name, rec, t in (("vae", vae_rec, t_vae), ("gan (inverted)", gan_rec, t_gan), ("ppca", ppca_rec, None)):
    err = float(((rec - x) ** 2).mean())
    print(f"{name:15s} reconstruction MSE {err:.4f}" + (f"   {t:.2f} s for 64 digits" if t is not None else ""))

fig, axes = plt.subplots(1, 4, figsize=(9, 2.6))
for ax, (name, pics) in zip(axes, {"held out": x, "vae": vae_rec, "gan (inverted)": gan_rec, "ppca": ppca_rec}.items()):
    ax.imshow(ls.plots.image_grid(pics[:16].clamp(0, 1), ncols=4), cmap="gray")
    ax.set_title(name)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Reading the table
#
# First the winners of the main rows, and the gap between precision and recall of the two
# neural models (positive: plausible samples that miss part of the data; negative: samples that
# cover the data but include implausible ones).

# %%
def best(key, higher=True):
    """The model with the best value of a score, and that value."""
    vals = {n: r["scores"][key] for n, r in results.items() if key in r["scores"]}
    name = max(vals, key=vals.get) if higher else min(vals, key=vals.get)
    return f"{name} ({vals[name]:.3f})"


print("lowest FD:", best("fd", higher=False), "| highest precision:", best("precision"),
      "| highest recall:", best("recall"), "| highest coverage:", best("coverage"))
gan_s, vae_s = results["gan"]["scores"], results["vae"]["scores"]
print(f"GAN precision - recall: {gan_s['precision'] - gan_s['recall']:+.3f};"
      f"  VAE precision - recall: {vae_s['precision'] - vae_s['recall']:+.3f}")

# %% [markdown]
# What to look for, with the reasons. The figures quoted are from our full-mode run (3,000 steps
# each, seed 0); yours are printed above, and in fast mode they come from barely trained networks.
#
# - **Sharpness against coverage.** Precision and density say how plausible the samples are,
#   recall and coverage how much of the data they cover. The textbook pattern is a GAN with high
#   precision and lower recall (it drops rare styles: *mode dropping*) and a VAE with high recall
#   but blurred samples. Our run did not follow it: the GAN covered the data (recall 0.93) but
#   with rough, less plausible samples (precision 0.78, density 0.35), while the VAE scored 0.95
#   on both. A GAN's sharpness comes late in training: in the README's MNIST runs its precision
#   rose from 0.64 after 2 minutes to 0.79 after 8,500 steps. And the VAE here is helped by the
#   mixture prior fitted after training (the README: FD 3.95 to 0.50 on MNIST).
# - **The baseline.** On these tiny digits the Gaussian mixture was best or tied on every
#   two-set score (FD 1.96 against about 2.16 for both neural models): 8 x 8 pixels are few
#   enough for 25 Gaussians in a PCA space. Always run the baseline; it sets the bar.
# - **Likelihood.** The GMM, PPCA and the VAE have one (exact, exact, estimated); the GAN has
#   none. Only a likelihood lets you score a *new* item ("how typical is this pot?"), compare
#   models on held-out data with one number, or flag outliers.
# - **Encoder.** The VAE and PPCA map an item to its code in one pass; the GAN needs a search.
#   In our run the search reconstructed the held-out digits more closely than the VAE's encoder
#   (MSE 0.0035 against 0.019: with 64 noise numbers for 64 pixels the GAN has room to fit almost
#   any 8 x 8 picture), but took about 500 times as long. PPCA, with 32 components, is nearly
#   exact.
# - **Stability.** The VAE's loss went down steadily. The GAN's two losses sat at their
#   equilibrium values ($2 \log 2$ and $\log 2$) from the first hundred steps while the samples
#   went on improving: they say nothing about when training is done or whether the generator has
#   collapsed. Only the scores do (`GANs-with-pytorch/04` collapses a GAN on purpose).
# - **Speed.** Training: the classical models fit in under a second, the neural ones take as
#   long as you give them. Sampling: every model here makes thousands of samples per second
#   (timings vary with the machine and its load: compare orders of magnitude, not digits).
# - **Memorisation.** "Suspiciously close" should sit near its floor (about 0.01 by construction):
#   a model far above it reproduces training digits. None did.

# %% [markdown]
# ## The same comparison at full size: MNIST
#
# Digits are 8 x 8; on 28 x 28 MNIST the picture changes, and the README records measured runs
# on two CPU cores (10,000 samples, domain-classifier features; the floor, held-out digits against
# training digits: FD 0.086, precision 0.94, recall 0.93). From the README, each model at its CPU
# defaults with no options:
#
# | model (README, "no options") | training | FD | precision / recall | coverage | held-out NLL |
# |---|---|---|---|---|---|
# | `dcgan` (= `gan` on images), 8,500 steps | 566 s | 0.62 | 0.79 / 0.94 | 0.77 | none |
# | `vae`, 24,000 steps | 366 s | 0.50 | 0.94 / 0.88 | 0.95 | 86.15 nats |
#
# and from the README's "Evaluation" table, the Gaussian mixture on MNIST: FD 14.5, precision 0.77,
# recall 0.13. So at full size the mixture falls far behind both neural models, and the GAN and the
# VAE end close on FD, the VAE ahead on precision and coverage, the GAN on recall. The README also
# records that the VAE owes much of its FD to the mixture prior fitted after training (FD 3.95
# with the plain N(0, I) prior), and that a short GAN run can collapse onto one class (its 800-step
# MNIST run: 1 class of 10, recall 0.00): on MNIST the GAN needs the longer budget. To run it:
#
# ```bash
# latentspace compare gmm gan vae --data mnist --data-dir ../shared/data/mnist --time 2m --out runs/cmp-mnist
# ```

# %% [markdown]
# ## Pros and cons, measured
#
# `intro/01` closed with a table of what each family is good at. Here it is again, row by row,
# with where this notebook (or the README) measured it:
#
# | `intro/01` says | GAN | VAE | measured here |
# |---|---|---|---|
# | samples | sharp | often blurred | sample grids; density and precision |
# | likelihood, `score_samples` | none | a bound and an estimate | the NLL rows; the GAN's `score_samples` refuses |
# | encoder $x \to z$ | inversion by optimisation | yes | the reconstruction cell: one pass against a search |
# | covers all the data? | may drop modes | covers it, with blur | recall, coverage, class entropy |
# | training | delicate, needs recipes | stable | the curves; `GANs-with-pytorch/04` collapses a GAN |
# | progress | hard to read from the losses | the ELBO is a usable number | the curves |
# | anomaly detection | not directly | by the likelihood | the NLL rows (GMM and PPCA too, exactly) |
#
# Two rows are not in `intro/01`'s table. **Speed**: the classical models fit in about a second
# and sample fastest; the GAN and the VAE train as long as you let them and then sample at
# similar rates (one network pass each). **Scale**: on these 8 x 8 digits the Gaussian mixture
# is a strong baseline; on 28 x 28 MNIST the README's figures put it far behind both neural
# families (FD 14.5 against 0.62 and 0.50).
#
# No family wins every row: choose by what you need. To generate plausible new items, a GAN
# (with the scores to check that it has not collapsed); to measure how typical an item is, or to
# get codes for your data, a VAE; for a baseline in a second, a mixture.

# %% [markdown]
# ## Exercises
#
# 1. **How fast does the GAN improve?** Train the GAN again with half the steps and evaluate it.
#    Which scores changed most between half and full training: precision or recall?
# 2. **A memoriser.** A "model" that returns training digits is perfect on every two-set score
#    but useless. Evaluate 1,000 training digits as if they were samples
#    (`ls.metrics.evaluate(tensor, data)`): which score gives it away?
# 3. **A fifth model.** Add the kernel density estimate (`kde`) to the comparison: how does it
#    compare with the GMM on the scores, and where does its likelihood stand?
#
# Solutions follow, in collapsed cells (click to expand them in Jupyter).

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 1: the GAN at half the budget
half = STEPS["gan"] // 2
gan_half = ls.models.create("gan").fit(data, steps=half, seed=0, progress=False)
r_half = ls.metrics.evaluate(gan_half, data, n=N_EVAL, seed=0)
for key in ("fd", "precision", "recall", "density", "coverage"):
    print(f"{key:10s} {half} steps: {r_half['scores'][key]:7.3f}   "
          f"{STEPS['gan']} steps: {results['gan']['scores'][key]:7.3f}")
# Read the differences, not the values: in fast mode both GANs are barely trained. In our
# full-mode run the second half of training more than halved the FD (5.5 to 2.2) and raised
# precision and recall by about 0.1 each, while density hardly moved (0.34 to 0.35): the samples
# spread over the data and got more plausible, but were not yet sharp. Sharpness comes later, as
# the README's MNIST runs show (precision 0.64 at 2 minutes, 0.75 at 5, 0.79 after 8,500 steps).

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 2: training digits passed off as samples
copies = x_train[torch.randint(len(x_train), (1000,), generator=torch.Generator().manual_seed(0))]
r_copy = ls.metrics.evaluate(copies, data, seed=0)
for key in ("fd", "precision", "recall", "memorised_fraction"):
    print(f"{key:20s} copies {r_copy['scores'][key]:7.3f}   floor {r_copy['floor'][key]:7.3f}")
# Every two-set score sits at (or beyond) the floor, but nearly all copies are "suspiciously
# close to a training item" (distance 0), against about 1% of held-out digits.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 3: the kernel density estimate
t0 = time.perf_counter()
kde = ls.models.create("kde").fit(data)
print(f"kde fitted in {time.perf_counter() - t0:.2f} s")
r_kde = ls.metrics.evaluate(kde, data, n=N_EVAL, seed=0)
for key in ("fd", "precision", "recall", "memorised_fraction", "nll_nats"):
    print(f"{key:20s} kde {r_kde['scores'][key]:8.3f}   gmm {results['gmm']['scores'][key]:8.3f}")
# A KDE puts a small Gaussian on every training digit: a sample is a training digit plus noise.
# The noise keeps the samples off the training digits ("suspiciously close" stays low) but also
# off the digit manifold: recall is high, precision lower than the GMM's. Its NLL is a density of
# pixel values like the GMM's, so those two can be compared; neither with the VAE's.
