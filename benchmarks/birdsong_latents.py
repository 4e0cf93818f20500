"""Syllables of Bengalese finch song in a VAE's latent space, as AVA and Sainburg et al. measured them.

Loads every bird under ``--data-dir`` (each sub-folder with recordings and annotations is one bird;
a folder that holds recordings itself is one bird), pools their training syllables and trains ONE
syllable VAE on them, so all birds share a latent space: by default for the VAE's default steps on
spectrograms (on a CPU: MLPs 512-512-32, batch 100, 3,000 steps, cosine decay), or ``--train-steps``
or ``--time``. Then,
for each bird, from the posterior means:

- ``knn_accuracy``: a 5-nearest-neighbour classifier fitted on the training syllables' codes labels
  the held-out ones (held out by recording file: no song is on both sides; AVA, Goffinet et al. 2021);
- ``v_measure``: the codes of all the bird's syllables mapped to 2-D (UMAP when installed, else PCA),
  clustered by HDBSCAN and compared with the hand labels (Sainburg, Thielk & Gentner 2020: 0.903 over
  Nicholson et al.'s birds, 0.841 over Koumura & Okanoya's);

and between birds, ``mmd``: the squared MMD between two birds' repertoires beside the MMD between two
random halves of each (the floor).

With ``--out DIR`` it also writes what a person looks at and listens to: the latent map coloured by
label, generated syllables and an interpolation between two syllables as spectrogram strips and
WAV files, and the Griffin-Lim round trip of real syllables.

Usage::

    python benchmarks/birdsong_latents.py --data-dir ../shared/data/birdsong [--train-steps N | --time 12m]
        [--size 64] [--set latent_dim=32] [--map umap] [--min-cluster 0.01] [--out docs/birdsong]

The last line is one JSON object: ``{"knn_accuracy": {bird: ..}, "v_measure": {bird: ..},
"train_seconds": .., "items": {bird: ..}, "mmd": {..}, ...}``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import latentspace as ls
from latentspace.cli import _duration, _parse_set
from latentspace.data.birdsong import on_pool_floor, pool_birds
from latentspace.data.dataset import Dataset
from latentspace.errors import UserError
from latentspace.metrics.repertoire import cluster_agreement, knn_accuracy, repertoire_mmd
from latentspace.plots.encoded import posterior_means
from latentspace.threads import set_threads
from latentspace.train.callbacks import Callback

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "birdsong"
AUDIO = (".wav", ".cbin")


def bird_folders(root: Path) -> list[Path]:
    """Each sub-folder holding recordings is one bird; a folder holding them itself is one bird."""
    if any(p.suffix.lower() in AUDIO for p in root.iterdir() if p.is_file()):
        return [root]
    birds = [d for d in sorted(root.iterdir()) if d.is_dir() and any(p.suffix.lower() in AUDIO for p in d.rglob("*"))]
    if not birds:
        raise UserError(f"no recordings (.wav, .cbin) under {root}; give a folder of birds or of one bird's songs")
    return birds


class StepCount(Callback):
    """Counts the training steps a time budget allowed."""

    steps = 0

    def on_step(self, model, step: int) -> None:
        self.steps = step


def codes(model, x: torch.Tensor) -> np.ndarray:
    return posterior_means(model, x, None).numpy()


def write_outputs(folder: Path, model, train: Dataset, birds: dict, maps: dict, seed: int) -> dict:
    """Pictures and sounds of the run: the latent maps, samples, an interpolation, the Griffin-Lim round trip."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from latentspace.latent.paths import interpolate
    from latentspace.modalities.spectrogram import settings_of, spectral_convergence, to_audio, wav_bytes

    folder.mkdir(parents=True)
    st, info = settings_of(train.info), train.info
    rate = st["sample_rate"]

    def wav(name, sound):
        (folder / name).write_bytes(wav_bytes(sound, rate))

    def picture(name, x, ncols):
        Image.fromarray(info.spec.grid(x, info, ncols=ncols)).save(folder / name)

    fig, axes = plt.subplots(1, len(maps), figsize=(5.5 * len(maps), 5), squeeze=False)
    for ax, (name, (points, labels, classes)) in zip(axes[0], maps.items()):
        for k, c in enumerate(classes):
            pick = labels == k
            ax.scatter(points[pick, 0], points[pick, 1], s=4, label=str(c), color=plt.cm.tab20(k % 20))
        ax.set_title(f"{name}: latent means, UMAP, coloured by hand label", fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
        ax.legend(markerscale=3, fontsize=7, loc="best", frameon=False)
    fig.tight_layout()
    fig.savefig(folder / "latent-map.png", dpi=110)
    plt.close(fig)

    samples = model.sample(16, seed=seed)
    picture("samples.png", samples, 8)
    sounds = to_audio(samples, st)
    gap = np.zeros(int(0.1 * rate), np.float32)
    wav("samples-16.wav", np.concatenate([np.concatenate([s, gap]) for s in sounds]))

    bird = next(iter(birds.values()))
    x, y = on_pool_floor(bird.test, train), bird.test.y
    a, b = x[(y == 0).nonzero()[0, 0]], x[(y == 1).nonzero()[0, 0]]
    path = interpolate(model, a, b, steps=8)
    picture("interpolation.png", torch.cat([a[None], path, b[None]]), 10)
    wav("interpolation.wav", np.concatenate([np.concatenate([s, gap]) for s in to_audio(path, st)]))

    real = x[:32]
    sounds = to_audio(real, st)
    convergence = [spectral_convergence(real[i], sounds[i], st) for i in range(len(real))]
    picture("real.png", real[:16], 8)
    wav("real-griffin-lim.wav", np.concatenate([np.concatenate([s, gap]) for s in sounds[:16]]))
    return {"spectral_convergence_real": round(float(np.mean(convergence)), 4),
            "interpolation": [str(bird.info.classes[0]), str(bird.info.classes[1])]}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=str(DEFAULT_DIR))
    p.add_argument("--model", default="vae")
    p.add_argument("--time", type=_duration, help="a training budget instead of the model's default steps")
    p.add_argument("--train-steps", type=int, help="train for this many steps instead of the model's default")
    p.add_argument("--size", type=int, default=64, help="spectrogram side in pixels (the loader's default is 128)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a model parameter; repeatable")
    p.add_argument("--k", type=int, default=5, help="neighbours of the k-NN classifier")
    p.add_argument("--map", default="auto", choices=("auto", "umap", "pca"), help="2-D map for the clustering")
    p.add_argument("--min-cluster", type=float, default=0.01,
                   help="HDBSCAN's smallest cluster as a fraction of a bird's syllables (default 0.01)")
    p.add_argument("--codes", help="also save each bird's codes and labels to this .npz file")
    p.add_argument("--out", help="a new folder for pictures and WAV files")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int)
    args = p.parse_args(argv)
    threads = set_threads(args.threads)
    if args.out and Path(args.out).exists():
        raise SystemExit(f"{args.out} exists; give a new folder for --out")

    t0 = time.perf_counter()
    birds = {d.name: ls.data.load("birdsong", data_dir=str(d), size=args.size, seed=args.seed)
             for d in bird_folders(Path(args.data_dir))}
    load_seconds = time.perf_counter() - t0
    train = pool_birds(birds)
    model = ls.models.create(args.model, **_parse_set(args.set))
    budget = {"steps": args.train_steps} if args.train_steps else {"time": args.time} if args.time else {}
    t1, counter = time.perf_counter(), StepCount()
    model.fit(train, seed=args.seed, progress=False, callbacks=[counter], **budget)
    train_seconds = time.perf_counter() - t1

    out = {"model": args.model, "size": args.size, "threads": threads, "load_seconds": round(load_seconds, 1),
           "train_seconds": round(train_seconds, 1), "steps": counter.steps,
           "items": {}, "labels": {}, "knn_accuracy": {}, "v_measure": {}, "clusters": {}, "noise_fraction": {}}
    z, maps = {}, {}
    for name, data in birds.items():
        z_train, z_test = codes(model, on_pool_floor(data, train)), codes(model, on_pool_floor(data.test, train))
        y_train, y_test = data.y.numpy(), data.test.y.numpy()
        z[name] = np.concatenate([z_train, z_test])
        size = max(5, round(args.min_cluster * len(z[name])))
        agree = cluster_agreement(z[name], np.concatenate([y_train, y_test]), method=args.map, seed=args.seed,
                                  min_cluster_size=size)
        out["items"][name] = {"train": len(z_train), "test": len(z_test)}
        out["labels"][name] = len(data.info.classes)
        out["knn_accuracy"][name] = round(knn_accuracy(z_train, y_train, z_test, y_test, k=args.k), 4)
        out["v_measure"][name] = round(agree["v_measure"], 4)
        out["clusters"][name] = agree["clusters"]
        out["noise_fraction"][name] = round(agree["noise_fraction"], 3)
        out["map"] = agree["method"]
        maps[name] = (agree["points"], np.concatenate([y_train, y_test]), data.info.classes)
    names = list(z)
    if args.codes:
        np.savez(args.codes, **{f"z_{n}": z[n] for n in names},
                 **{f"y_{n}": np.concatenate([birds[n].y.numpy(), birds[n].test.y.numpy()]) for n in names},
                 **{f"train_{n}": np.array(out["items"][n]["train"]) for n in names})
    out["mmd"] = {f"{a} vs {b}": {k: (round(v, 5) if isinstance(v, float) else v)
                                  for k, v in repertoire_mmd(z[a], z[b], seed=args.seed).items()}
                  for i, a in enumerate(names) for b in names[i + 1:]}
    for name in names:
        print(f"{name}: {out['items'][name]['train']} training and {out['items'][name]['test']} held-out "
              f"syllables, {out['labels'][name]} labels; k-NN accuracy {out['knn_accuracy'][name]:.3f}, "
              f"V-measure {out['v_measure'][name]:.3f} ({out['clusters'][name]} clusters on the {out['map']} map)")
    for pair, m in out["mmd"].items():
        print(f"MMD² {pair}: {m['between']:.4f}; within each (two halves): {m['within_a']:.4f}, {m['within_b']:.4f}")
    print(f"{args.model} trained {train_seconds:.0f} s on {len(train)} syllables ({args.size} px)")
    if args.out:
        out.update(write_outputs(Path(args.out), model, train, birds, maps, args.seed))
        print(f"pictures and WAV files in {args.out}; Griffin-Lim round trip of 32 held-out syllables: spectral "
              f"convergence {out['spectral_convergence_real']:.3f}")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
