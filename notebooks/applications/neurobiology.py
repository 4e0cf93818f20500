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
# # Birdsong: a repertoire in a latent space
#
# **You will learn to**
#
# - turn a bird's song recordings into one spectrogram per syllable, look at them on real axes
#   (kHz, ms), make one by hand with `torch.stft` and listen to a syllable;
# - train a syllable VAE and measure how well its latent space keeps what a person labelled by
#   hand: k-nearest-neighbour accuracy on held-out recordings, and the V-measure of clusters found
#   in a UMAP map, beside the published figures (Sainburg et al. 2020; AVA, Goffinet et al. 2021);
# - hear what the model makes: generated syllables, a walk between two syllables, and the
#   Griffin-Lim round trip that turns every spectrogram back into sound;
# - compare two repertoires (two birds) with the MMD, against the floor of two halves of one.
#
# **Time:** about 30 minutes to read and run. The code runs in under a minute with
# `LATENTSPACE_FAST=1` (a training of 300 steps, to check that everything runs), about 3 minutes
# without (3,000 steps, results worth looking at), on two CPU cores shared with other work.
#
# **You need:** Python and NumPy; for real recordings the `audio` extra
# (`pip install 'latentspace[audio]'`: soundfile, crowsetta, evfuncs), and `umap-learn` for the
# maps (PCA is used without it). `notebooks/README.md` says how to run this file as a script or
# open it as a notebook.

# %% [markdown]
# ## Why
#
# Songbirds learn their song from a tutor, as children learn speech, and a bird's song is built of
# **syllables**: short sounds separated by silences, a few to a dozen types per bird, sung in
# sequences. Neurobiologists study how the song is learnt, how it changes with a lesion, a drug or
# deafening, and how it differs between birds. For that they label syllables by hand, listening and
# looking at spectrograms, which takes hours per bird and depends on who labels.
#
# A model that learns a **latent space** of syllables gives every syllable a short list of numbers
# (its *code*) without labels. If syllables of one type sit together in that space, the codes can
# stand in for hand labels (clusters), and whole repertoires can be compared as clouds of codes:
# before and after a treatment, one bird and another. AVA (Goffinet et al. 2021, *eLife*) did this
# with a VAE on syllable spectrograms; Sainburg, Thielk & Gentner (2020, *PLoS Comput Biol*) with
# UMAP on the spectrograms themselves. We do both on two Bengalese finches.

# %%
# ruff: noqa: E402   (imports appear where they are first needed, as in any notebook)
import os
import tempfile
from pathlib import Path

import latentspace as ls   # before torch: latentspace tells torch's idle threads not to hog shared cores
import matplotlib.pyplot as plt
import numpy as np
import torch

FAST = os.environ.get("LATENTSPACE_FAST") == "1"   # tiny trainings: checks that everything runs
print("fast mode" if FAST else "full mode")

HERE = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
FILES = Path(tempfile.mkdtemp(prefix="latentspace-birdsong-"))   # the WAV files we write below
print("writing WAV files to", FILES)

# %% [markdown]
# ## Recordings in
#
# Two birds of two public collections, kept by this workplace under `../shared/data/birdsong/`
# beside the repository (or `$LATENTSPACE_SHARED_DATA/birdsong/`):
#
# - `bfsongrepo_gy6or6`: 10 recordings (`.cbin` files of the evTAF recording system) of the
#   Bengalese finch gy6or6 from the BFSongRepository (Nicholson et al. 2017), with hand labels in
#   `.not.mat` files (evsonganaly): 11 syllable types, `a` to `k`;
# - `koumura_bird0`: 30 WAV recordings of bird 0 of Koumura & Okanoya (2016), labels in one
#   `Annotation.xml`: 9 types, `0` to `8`.
#
# `ls.data.load("birdsong", data_dir=DIR, size=64)` finds the recordings and their annotations,
# cuts out each labelled syllable and makes it a 64 x 64 spectrogram: 400 Hz to 10 kHz on 64 rows,
# a 256 ms window from the syllable's onset on 64 frames of 4 ms (shorter syllables are followed by
# silence, longer ones cut). Whole **recordings** are held out, not syllables, so that no song is
# on both sides of the split. Without the shared folder the notebook uses `birdsong-synthetic`: six
# made-up syllable types rendered as sound (sweeps, a flat harmonic stack, a trill, noise, a
# whistle), and makes two "birds" of it, each singing four of the six types.

# %%
SHARED = Path(os.environ.get("LATENTSPACE_SHARED_DATA", HERE.parents[1].parent / "shared" / "data"))
BIRDS_DIR = SHARED / "birdsong"
REAL = [BIRDS_DIR / "bfsongrepo_gy6or6", BIRDS_DIR / "koumura_bird0"]
REAL_BIRDS = all(d.is_dir() for d in REAL)
if REAL_BIRDS:
    birds = {d.name: ls.data.load("birdsong", data_dir=d, size=64) for d in REAL}
    for data in birds.values():
        print(data.summary())
else:
    print(f"No shared birds at {BIRDS_DIR}: using birdsong-synthetic, two made-up birds of four syllable types each")
    synthetic = ls.data.load("birdsong-synthetic", size=64)
    print(synthetic.summary())

    def made_up_bird(types, half):
        """The syllables of ``types``, every other one of the types both birds sing (so no syllable is in both)."""
        def pick(d):
            y = d.y.numpy()
            shared = np.isin(y, [2, 3])
            keep = np.isin(y, types) & (~shared | (np.cumsum(shared) % 2 == half))
            return d.subset(np.flatnonzero(keep))
        bird = pick(synthetic)
        bird.test = pick(synthetic.test)
        return bird

    birds = {"synthetic-A": made_up_bird([0, 1, 2, 3], 0), "synthetic-B": made_up_bird([2, 3, 4, 5], 1)}

names = list(birds)
bird = birds[names[0]]                 # the first bird: the one we look at closely
st = bird.info.extra["stft"]           # how its spectrograms were made, and how to turn them back into sound
RATE = st["sample_rate"]
print({k: st[k] for k in ("sample_rate", "n_fft", "hop_length", "fmin", "fmax", "n_freqs", "n_frames", "db_floor")})

# %% [markdown]
# **Syllables per label.** A repertoire is unbalanced: a bird sings some syllables several times
# per song (gy6or6's `i`, Koumura's `0`) and others once.

# %%
fig, axes = plt.subplots(1, len(birds), figsize=(4.5 * len(birds), 2.6), squeeze=False)
for ax, (name, data) in zip(axes[0], birds.items()):
    y = np.concatenate([data.y.numpy(), data.test.y.numpy()])
    present = np.unique(y)
    counts = [int((y == k).sum()) for k in present]
    ax.bar([str(data.classes[k]) for k in present], counts, color="tab:blue")
    ax.set_title(f"{name}: {len(y)} syllables", fontsize=9)
    ax.set_xlabel("hand label", fontsize=8)
    ax.tick_params(labelsize=7)
    print(name, dict(zip([str(data.classes[k]) for k in present], counts)))
axes[0, 0].set_ylabel("syllables", fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# **One syllable of each label**, on the axes of the spectrograms' settings: time in ms from the
# onset, frequency in kHz with the low notes at the bottom, loudness in dB re full scale (0 dB: the
# loudest sine wave a recording can hold). Each item spans 256 ms; most Bengalese finch syllables
# last 30 to 150 ms, so the right of each picture is the silence the loader pads them with.
# (`info.spec.grid(x, info)` draws the same as one picture, without titles: it is what
# `latentspace sample RUN --out samples.png` writes.)


# %%
def spectrogram_grid(x, titles, title, ncols=6):
    """Spectrograms (n, 1, F, T) in dB, each on kHz / ms axes with its title, one colour bar in dB."""
    x = torch.as_tensor(x).detach()[:, 0]
    nrows = -(-len(x) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols + 1, 1.45 * nrows + 0.5), squeeze=False,
                             sharex=True, sharey=True, layout="constrained")
    extent = [0, st["duration_ms"], st["fmin"] / 1000, st["fmax"] / 1000]
    for i, ax in enumerate(axes.flat):
        if i >= len(x):
            ax.axis("off")
            continue
        shown = ax.imshow(x[i].numpy(), origin="lower", aspect="auto", extent=extent, cmap="magma",
                          vmin=DB_RANGE[0], vmax=DB_RANGE[1], interpolation="nearest")
        ax.set_title(titles[i], fontsize=8)
        ax.tick_params(labelsize=6, length=2)
    for ax in axes[:, 0]:
        ax.set_ylabel("kHz", fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("ms", fontsize=7)
    fig.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.8, pad=0.01).set_label("dB", fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


DB_RANGE = bird.info.extra["display_range"]          # the loader's floor and loudest value, in dB
x_bird = bird.to_data()
first = [int(np.flatnonzero(bird.y.numpy() == k)[0]) for k in np.unique(bird.y.numpy())]
fig = spectrogram_grid(x_bird[first], [f"label {bird.classes[int(bird.y[i])]}" for i in first],
                       f"{names[0]}: the first syllable of each label")
plt.show()

# %% [markdown]
# ### A spectrogram by hand
#
# What the loader does to each syllable, in a few lines of torch. We need the syllable's sound:
# `data.segments` says where each syllable lies (recording, onset and offset in seconds), and
# latentspace's `audio` module reads that span of the recording. (For the synthetic birds we render
# a syllable with the generator of `birdsong-synthetic`.)
#
# 1. Pad the sound with silence to the window (256 ms; a syllable longer than that is cut).
# 2. A short-time Fourier transform (STFT): 16 ms Hann windows (`n_fft` = 512 samples at 32 kHz),
#    one every 4 ms (`hop_length` = 128), each turned into the amplitudes of its frequencies, every
#    62.5 Hz. Scaling the magnitudes by 2 / (sum of the window) makes a sine wave read its amplitude.
# 3. The 64 rows: frequencies spaced evenly from 400 Hz to 10 kHz (152 Hz apart); each row averages
#    the STFT's bins near it with a triangle as wide as the rows' spacing, scaled so that a sine wave
#    on the row reads its amplitude.
# 4. Decibels: 20 log10(amplitude), clipped at the floor (here the loudest value less 70 dB).

# %%
from latentspace.data import audio
from latentspace.modalities.spectrogram import spectrograms, wav_bytes

if getattr(bird, "segments", None):
    file, onset, offset = bird.segments[0]
    recording = audio.open_recording(BIRDS_DIR / names[0] / file, file)
    sound = audio.read_span(recording, round(onset * recording.rate), round(offset * recording.rate))
    print(f"syllable 0 of {names[0]}: {file}, {onset:.3f}-{offset:.3f} s, label {bird.classes[int(bird.y[0])]}, "
          f"{len(sound)} samples at {recording.rate} Hz")
else:
    from latentspace.data.birdsong_synthetic import render

    sounds, types = render(1, seed=0)
    sound = sounds[0]
    print(f"a synthetic {synthetic.classes[int(types[0])]}: {len(sound)} samples at {RATE} Hz")

length = (st["n_frames"] - 1) * st["hop_length"]                       # 1. the 256 ms window
clip = torch.zeros(length)
clip[:min(len(sound), length)] = torch.as_tensor(sound[:length])
window = torch.hann_window(st["n_fft"])                                # 2. the STFT
stft = torch.stft(clip, st["n_fft"], st["hop_length"], window=window, center=True, pad_mode="constant",
                  return_complex=True)
amplitude = stft.abs() * 2 / window.sum()                              # (bins, frames): sine amplitudes
bins = torch.arange(st["n_fft"] // 2 + 1) * RATE / st["n_fft"]
rows = torch.linspace(st["fmin"], st["fmax"], st["n_freqs"])           # 3. the rows
spacing = float(rows[1] - rows[0])
triangles = (1 - (rows[:, None] - bins[None, :]).abs() / spacing).clamp_min(0)
t = torch.arange(st["n_fft"]) / RATE                                   # a sine wave on each row, through
tones = torch.fft.rfft(torch.cos(2 * torch.pi * rows[:, None] * t) * window).abs() * 2 / window.sum()
triangles = triangles / (triangles * tones).sum(1, keepdim=True)       # the same window: it reads 1
by_hand = (20 * torch.log10((triangles @ amplitude).clamp_min(1e-12))).clamp_min(st["db_floor"])   # 4. dB

library, cut = spectrograms([sound], st)                               # what the loader calls
print("by hand", tuple(by_hand.shape), f"from {float(by_hand.min()):.1f} to {float(by_hand.max()):.1f} dB; "
      f"largest difference from the loader's: {float((by_hand - torch.as_tensor(library[0, 0])).abs().max()):.4f} dB")

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 2.8))
axes[0].plot(np.arange(len(sound)) / RATE * 1000, sound, lw=0.5, color="k")
axes[0].set_xlabel("ms", fontsize=8), axes[0].set_ylabel("amplitude (full scale 1)", fontsize=8)
axes[0].set_xlim(0, 1000 * length / RATE)
axes[0].set_title("the sound", fontsize=9)
shown = axes[1].imshow(by_hand.numpy(), origin="lower", aspect="auto", cmap="magma",
                       extent=[0, st["duration_ms"], st["fmin"] / 1000, st["fmax"] / 1000])
axes[1].set_xlabel("ms", fontsize=8), axes[1].set_ylabel("kHz", fontsize=8)
axes[1].set_title("its spectrogram, by hand", fontsize=9)
fig.colorbar(shown, ax=axes[1], label="dB")
for ax in axes:
    ax.tick_params(labelsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# **Listening.** `wav_bytes(sound, rate)` makes the bytes of a 16-bit WAV file. In Jupyter, the
# player below plays it; as a script, open the file it writes.

# %%
try:
    from IPython.display import Audio, display
except ImportError:                      # no IPython: only the files
    Audio = None
IN_NOTEBOOK = "get_ipython" in globals()


def play(sound, name):
    """Write ``sound`` (float in [-1, 1] at RATE) as FILES/name and, in a notebook, show a player."""
    path = FILES / name
    path.write_bytes(wav_bytes(sound, RATE))
    print(f"wrote {path} ({len(sound) / RATE * 1000:.0f} ms)")
    if Audio is not None and IN_NOTEBOOK:
        display(Audio(np.asarray(sound), rate=RATE))


play(sound, "syllable.wav")

# %% [markdown]
# ## A syllable VAE
#
# A variational autoencoder (VAE) has two networks: the **encoder** turns a spectrogram into a
# code of 32 numbers (the mean and spread of a Gaussian: we use the mean), the **decoder** turns a
# code back into a spectrogram. Training makes the decoded spectrograms match the inputs while
# keeping the codes spread like the prior, so that codes between syllables decode to something
# plausible. On a CPU, latentspace's VAE for spectrograms uses fully connected networks
# (512-512 units, a 32-number code), as AVA's did not (AVA used convolutions on a GPU), but they train
# in minutes.
#
# As AVA did to compare birds, we train **one** model on both birds' training syllables, so that
# both live in one latent space. Each bird's loader clips its dB values at its own floor (the
# loudest value less 70 dB); pooled, they are clipped at the higher of the two, so that a quiet
# background does not tell the birds apart. Fast mode trains for 300 steps (about 15 seconds), the
# full run for the model's default 3,000 (about 2 minutes on two busy cores).

# %%
from latentspace.data.birdsong import pool_birds

pool = pool_birds(birds)                 # classes "bird:label", every bird on the highest dB floor
floor = pool.info.extra["stft"]["db_floor"]
st = pool.info.extra["stft"]
print(f"pooled: {len(pool)} training syllables of {len(birds)} birds, dB floor {floor:.0f}")
DB_RANGE = pool.info.extra["display_range"]          # the pictures from here on: the pool's dB range

vae = ls.models.create("vae")
if FAST:
    vae.fit(pool, steps=300, seed=0, progress=False)
else:
    vae.fit(pool, seed=0)
print("VAE trained:", vae.resolved_params())

# %% [markdown]
# **The codes.** `posterior_means` encodes data-space items and returns the encoder's means, one
# row of 32 numbers per syllable.

# %%
from latentspace.metrics.repertoire import cluster_agreement, knn_accuracy, repertoire_mmd
from latentspace.plots.encoded import posterior_means


def items(data):
    return data.to_data().clamp_min(floor)


codes = {}
for name, data in birds.items():
    codes[name] = {"train": posterior_means(vae, items(data)).numpy(), "y_train": data.y.numpy(),
                   "test": posterior_means(vae, items(data.test)).numpy(), "y_test": data.test.y.numpy()}
    print(f"{name}: codes {codes[name]['train'].shape} training, {codes[name]['test'].shape} held out")

# %% [markdown]
# ### Does the latent space keep the hand labels?
#
# **k-nearest neighbours.** For each held-out syllable (from recordings the model never saw), find
# the 5 training syllables with the nearest codes and let them vote on its label. If syllables of
# one type sit together, the vote is right. Chance is the share of the commonest label.

# %%
knn = {}
for name, c in codes.items():
    knn[name] = knn_accuracy(c["train"], c["y_train"], c["test"], c["y_test"], k=5)
    commonest = np.bincount(c["y_test"]).max() / len(c["y_test"])
    print(f"{name}: k-NN accuracy {knn[name]:.3f} on {len(c['y_test'])} held-out syllables "
          f"(the commonest label alone: {commonest:.3f})")

# %% [markdown]
# **Clusters without labels.** Sainburg et al. mapped syllables to 2-D with UMAP (a map that keeps
# near neighbours near), let HDBSCAN find dense clusters in the map, and scored the clusters
# against the hand labels with the **V-measure**: 1 when each cluster holds one label and each
# label one cluster, 0 when clusters say nothing about labels. `cluster_agreement` does the same on
# our codes (syllables HDBSCAN calls noise join the cluster of their nearest neighbour in the map).
# UMAP needs `umap-learn`; without it the map is PCA's, which separates types less well.

# %%
import warnings

warnings.filterwarnings("ignore", message="n_jobs value")   # umap-learn: a seeded map runs on one thread
agree = {}
for name, c in codes.items():
    z, y = np.concatenate([c["train"], c["test"]]), np.concatenate([c["y_train"], c["y_test"]])
    agree[name] = cluster_agreement(z, y, seed=0)
    a = agree[name]
    print(f"{name}: V-measure {a['v_measure']:.3f} (homogeneity {a['homogeneity']:.3f}, completeness "
          f"{a['completeness']:.3f}); {a['clusters']} clusters for {a['labels']} labels on the {a['method']} map, "
          f"{a['noise_fraction']:.0%} noise")

# %%
fig, axes = plt.subplots(len(birds), 2, figsize=(10, 4.4 * len(birds)), squeeze=False)
for row, (name, a) in zip(axes, agree.items()):
    y = np.concatenate([codes[name]["y_train"], codes[name]["y_test"]])
    for k in np.unique(y):
        pick = y == k
        row[0].scatter(*a["points"][pick].T, s=4, color=plt.cm.tab20(k % 20), label=str(birds[name].classes[k]))
    row[0].legend(markerscale=3, fontsize=7, frameon=False, loc="best")
    row[0].set_title(f"{name}: the codes on a {a['method'].upper()} map, coloured by hand label", fontsize=9)
    row[1].scatter(*a["points"].T, s=4, c=a["clusters_of"], cmap="tab20")
    row[1].set_title(f"HDBSCAN's {a['clusters']} clusters: V-measure {a['v_measure']:.2f}", fontsize=9)
    for ax in row:
        ax.set_xticks([]), ax.set_yticks([])
fig.tight_layout()
plt.show()

# %% [markdown]
# **Beside the published figures.** Sainburg, Thielk & Gentner (2020) found a V-measure of
# **0.903 ± 0.042** between HDBSCAN clusters of UMAP maps and hand labels over Nicholson et al.'s
# Bengalese finches (where gy6or6 comes from), and **0.841 ± 0.088** over Koumura & Okanoya's (their
# Table 1; UMAP on the spectrograms themselves: exercise 1 does that). AVA
# (Goffinet et al. 2021) showed that its VAE's codes predict hand labels better than classical
# acoustic features (duration, pitch, entropy, ...) do, with k-NN classifiers like ours; the
# syllables of Bengalese finches are distinct enough that a well-trained latent space labels
# nearly all of them right.

# %%
SAINBURG = {"koumura": "0.841 ± 0.088 on Koumura's birds", "": "0.903 ± 0.042 on Nicholson's birds"}
for name in birds:
    anchor = next(v for k, v in SAINBURG.items() if k in name)
    print(f"{name:<18} k-NN accuracy {knn[name]:.3f}   V-measure {agree[name]['v_measure']:.3f}"
          f"   (Sainburg et al. 2020: {anchor})")

# %% [markdown]
# **Reading it.** When we ran the full notebook on the two shared birds (3,000 steps, 2026-12-05),
# the vote of 5 neighbours labelled 0.991 of gy6or6's 115 held-out syllables right and 0.989 of
# koumura_bird0's 276; the V-measure was 0.922 for gy6or6 (16 clusters for 11 labels) and 0.854 for
# koumura_bird0 (16 clusters for 9 labels). Fast mode's 300 steps give nearly the same V-measures
# (0.89 and 0.85): Bengalese finch syllables are so distinct that a barely trained model already
# keeps them apart.
#
# The V-measure is the stricter of the two. Its homogeneity is near 1 (a cluster seldom mixes two
# labels), its completeness lower (a label falls into several clusters): Koumura's `0`, the bird's
# commonest syllable, lies in three islands on the map, and `1` and `2` touch. Whether such islands
# are variants that the person labelling lumped together or an artefact of the map, the map cannot
# say: listen to a few syllables of each. Each bird lands near Sainburg et al.'s figure for its own
# dataset, and Koumura's birds scored lower for them too, with the same pattern (homogeneity 0.99,
# completeness 0.74); with two birds, that compares birds, not methods (exercise 1 runs their recipe,
# UMAP on the spectrograms themselves).

# %% [markdown]
# ## Syllables the model makes, as pictures and as sound
#
# A spectrogram holds the loudness of each frequency but not its phase, so it does not say
# exactly what sound made it. **Griffin-Lim** finds a sound whose spectrogram is close: start from
# random phases, turn the spectrogram into a sound, take that sound's spectrogram, keep its phases
# and put back the wanted loudness, again and again (64 times here). `to_audio(x, settings)` does
# that for a batch of spectrograms in dB.
#
# First, how close it gets on **real** syllables: the *spectral convergence* of the round trip
# (spectrogram, sound, spectrogram again): the size of the difference over the size of the
# spectrogram, 0 for a perfect sound. docs/birdsong.md measured 0.03 to 0.05 on these data.

# %%
from latentspace.modalities.spectrogram import spectral_convergence, to_audio

every = max(1, len(bird.test) // 16)
real, real_labels = items(bird.test)[::every][:16], bird.test.y[::every][:16]
real_sounds = to_audio(real, st)
convergence = [spectral_convergence(real[i], real_sounds[i], st) for i in range(len(real))]
print(f"round trip of {len(real)} held-out syllables: spectral convergence {np.mean(convergence):.3f} "
      f"(median {np.median(convergence):.3f}, max {np.max(convergence):.3f})")
back = torch.as_tensor(spectrograms(list(real_sounds[:4]), st)[0]).clamp_min(floor)
titles = [f"held out, {bird.classes[int(k)]}" for k in real_labels[:4]] + ["after Griffin-Lim"] * 4
fig = spectrogram_grid(torch.cat([real[:4], back]), titles,
                       "held-out syllables (top) and the spectrograms of their sounds (bottom)", ncols=4)
plt.show()
gap = np.zeros(int(0.15 * RATE), np.float32)
play(np.concatenate([np.concatenate([s, gap]) for s in real_sounds[:8]]), "real-griffin-lim.wav")

# %% [markdown]
# **Generated syllables**: random codes from the prior, decoded, and turned into sound.

# %%
samples = vae.sample(8, seed=1).clamp_min(floor)   # the decoder can go below the floor: silence either way
print("samples", tuple(samples.shape), f"from {float(samples.min()):.0f} to {float(samples.max()):.0f} dB")
fig = spectrogram_grid(samples, [f"sample {i + 1}" for i in range(len(samples))], "VAE samples (random codes, decoded)",
                       ncols=4)
plt.show()
play(np.concatenate([np.concatenate([s, gap]) for s in to_audio(samples, st)]), "samples.wav")

# %% [markdown]
# **An interpolation**: encode two held-out syllables of two labels, walk in a straight line
# between their codes and decode each step (`ls.latent.interpolate`). Does one syllable turn into
# the other gradually, with plausible syllables on the way, or does it jump?

# %%
y_test = bird.test.y.numpy()
loudness = {k: float(items(bird.test)[y_test == k].mean()) for k in np.unique(y_test)}
la, lb = sorted(loudness, key=loudness.get)[-2:]             # the two loudest labels: easy to see and hear
a, b = items(bird.test)[np.flatnonzero(y_test == la)[0]], items(bird.test)[np.flatnonzero(y_test == lb)[0]]
path = ls.latent.interpolate(vae, a, b, steps=6)
fig = spectrogram_grid(torch.cat([a[None], path, b[None]]),
                       [f"held out, {bird.classes[la]}"] + [f"decoded {i + 1}" for i in range(len(path))]
                       + [f"held out, {bird.classes[lb]}"],
                       f"from a held-out '{bird.classes[la]}' to a held-out '{bird.classes[lb]}' through the codes",
                       ncols=8)
plt.show()
play(np.concatenate([np.concatenate([s, gap]) for s in to_audio(path, st)]), "interpolation.wav")

# %% [markdown]
# **Reading the pictures and the sounds.** The round trip keeps a syllable's harmonics and timing:
# its spectrogram comes back within a few per cent, and the sound is the syllable, with a little
# roughness where Griffin-Lim's phases do not quite agree. The VAE's samples are blurrier than real
# syllables: the decoder gives the mean of the spectrograms a code could stand for, which smears
# harmonics and noisy onsets; after the full run about half of them are recognisable syllables
# with clear harmonics, the others broadband smudges. The walk between two codes does not jump
# from one syllable to the other, but neither does it morph one into the other: the middle steps
# are cross-fades, both syllables' harmonics at once, fainter, with dark patches below the
# background where the two disagree. The bird sings nothing between two of its syllable types, so
# the decoder has never seen anything there: a latent space is continuous, but only where there
# were data is it meaningful.

# %% [markdown]
# ## Two repertoires
#
# How different are two birds' songs? AVA compared repertoires (birds, days, before and after an
# experiment) as clouds of codes with the **maximum mean discrepancy** (MMD): the squared MMD is 0
# when two clouds are drawn from one distribution and grows as they part. An MMD from samples is
# never exactly 0, so `repertoire_mmd` also splits each bird's syllables into two random halves and
# takes the MMD between them: the floor a difference must clear to mean anything.

# %%
za = np.concatenate([codes[names[0]]["train"], codes[names[0]]["test"]])
zb = np.concatenate([codes[names[1]]["train"], codes[names[1]]["test"]])
mmd = repertoire_mmd(za, zb, seed=0)
print(f"MMD² {names[0]} vs {names[1]}: {mmd['between']:.4f}; within each (two halves): "
      f"{mmd['within_a']:.4f}, {mmd['within_b']:.4f}")

# %% [markdown]
# A subtler comparison inside one bird: its training recordings against its held-out recordings
# (other songs, sung at other times), beside the two halves of each.

# %%
c = codes[names[0]]
inside = repertoire_mmd(c["train"], c["test"], seed=0)
held = "recordings" if REAL_BIRDS else "syllables"
print(f"MMD² {names[0]}, training vs held-out {held}: {inside['between']:.4f}; "
      f"two halves of each: {inside['within_a']:.4f}, {inside['within_b']:.4f}")

# %% [markdown]
# **Reading it.** In the full run the two birds lay far apart: MMD² 0.075, against 0.0008 and
# -0.0004 for the halves of each (fast mode: 0.110 against 0.0027 and -0.0004). Two birds, two
# songs learnt from two tutors: that is the easy case. (A negative value is no mistake: the
# unbiased estimate of an MMD that is truly 0 falls on either side of it.)
#
# Inside gy6or6, the training recordings against the two held-out ones gave 0.0030, above the
# halves' 0.0007 and -0.0012. Is that a difference between songs? Not yet shown: the held-out side
# is small (115 syllables from two recordings), and two halves of 486 and of 115 syllables are not
# the floor for 486 against 115. The honest floor is a **permutation test**: shuffle which
# syllables count as held out, many times, and see how often the shuffled MMD reaches the real
# one (exercise 4). Note also what MMD compares: whole distributions, so a song that sings `i`
# more often differs even if every syllable sounds the same. AVA used it to follow a repertoire
# from day to day during song learning and to tell birds apart.

# %% [markdown]
# ## Exercises
#
# 1. **Sainburg et al. without a VAE.** Put the first bird's spectrograms themselves (flattened:
#    4,096 numbers each) through `cluster_agreement`. Is the V-measure higher or lower than the
#    VAE codes'? What does the VAE add, then?
# 2. **Griffin-Lim's iterations.** Measure the spectral convergence of the round trip of 8 held-out
#    syllables with `to_audio(..., n_iter=n)` for n = 0 (random phases), 8, 32 and 64. Listen to
#    n = 0 and n = 64.
# 3. **A baseline for k-NN.** Replace the VAE's codes by the first 32 principal components of the
#    spectrograms (`sklearn.decomposition.PCA`, fitted on the first bird's training syllables) and
#    compute the k-NN accuracy again. Is a VAE needed to label syllables?
# 4. **A permutation floor.** Pool the first bird's codes, draw 200 random splits into as many
#    "training" and "held-out" syllables as the real split has, and compute the MMD² of each
#    (`repertoire_mmd(...)["between"]`, with the real split's `bandwidth`). What fraction of the
#    shuffled splits reach the real split's MMD²? Why is shuffling syllables still not quite fair
#    to the real split, which holds out whole recordings?
#
# Solutions follow, in collapsed cells (click to expand them in Jupyter).

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 1: UMAP + HDBSCAN on the spectrograms themselves
flat = torch.cat([items(bird), items(bird.test)]).flatten(1).numpy()
y_all = np.concatenate([bird.y.numpy(), bird.test.y.numpy()])
raw = cluster_agreement(flat, y_all, seed=0)
print(f"spectrograms themselves: V-measure {raw['v_measure']:.3f} ({raw['clusters']} clusters, {raw['method']} map); "
      f"VAE codes: {agree[names[0]]['v_measure']:.3f}")
# Bengalese finch syllables are distinct enough that UMAP finds their types in the pixels
# themselves, as Sainburg et al. did: for gy6or6, 0.970 on the pixels against 0.922 on the codes in
# our full run (12 clusters against 16: here the map of the pixels splits fewer labels). The VAE gives a space of 32
# numbers instead of 4,096, one that decodes (samples, interpolations) and where distances
# between repertoires (MMD) are cheap.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 2: Griffin-Lim's iterations
eight = real[:8]
for n_iter in (0, 8, 32, 64):
    sounds_n = to_audio(eight, st, n_iter=n_iter)
    sc = np.mean([spectral_convergence(eight[i], sounds_n[i], st) for i in range(len(eight))])
    print(f"n_iter {n_iter:>2}: spectral convergence {sc:.3f}")
    if n_iter in (0, 64):
        play(np.concatenate([np.concatenate([s, gap]) for s in sounds_n]), f"griffin-lim-{n_iter}.wav")
# Random phases give the right loudness per frame but a rough, noisy sound (convergence about 0.6);
# a few dozen iterations bring the phases into line and the syllables back.

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 3: k-NN on principal components of the spectrograms
from sklearn.decomposition import PCA

pca = PCA(n_components=32, random_state=0).fit(items(bird).flatten(1).numpy())
pcs_train, pcs_test = pca.transform(items(bird).flatten(1).numpy()), pca.transform(items(bird.test).flatten(1).numpy())
pca_knn = knn_accuracy(pcs_train, bird.y.numpy(), pcs_test, bird.test.y.numpy(), k=5)
print(f"k-NN accuracy on 32 principal components: {pca_knn:.3f}; on the VAE's 32-number codes: {knn[names[0]]:.3f}")
# Labelling Bengalese finch syllables is easy: for gy6or6, 32 principal components label every
# held-out syllable right, as the codes do. A VAE earns its keep elsewhere: it generates (samples
# that sound like the bird), and its codes compare repertoires whose differences are subtler than
# syllable types (AVA's point).

# %% jupyter={"source_hidden": true} tags=["solution"]
# Exercise 4: a permutation floor for the training vs held-out MMD
z_all = np.concatenate([c["train"], c["test"]])
rng = np.random.default_rng(0)
shuffled = []
for _ in range(50 if FAST else 200):
    order = rng.permutation(len(z_all))
    shuffled.append(repertoire_mmd(z_all[order[:len(c["train"])]], z_all[order[len(c["train"]):]],
                                   bandwidth=inside["bandwidth"])["between"])
p_value = (1 + sum(m >= inside["between"] for m in shuffled)) / (1 + len(shuffled))
print(f"real split {inside['between']:.4f}; {len(shuffled)} shuffled splits: median {np.median(shuffled):.4f}, "
      f"95th percentile {np.percentile(shuffled, 95):.4f}; permutation p = {p_value:.3f}")
# In our full run: 0.0030 against a 95th percentile of 0.0034 over 200 shuffles, p = 0.085 (fast
# mode's barely trained codes: no difference either). A small p would say the held-out songs differ from the
# training songs by more than chance splits of syllables do. But syllables of one recording
# resemble each other (one bout, one moment), so any split by recording differs a little more
# than a split by syllable: shuffling whole recordings is the fair test, and with 10 recordings it
# has few splits to draw from.
