"""Two-dimensional toy sets: the PacGAN mixtures (``ring8``, ``grid25``), ``moons``, ``swissroll``.

``ring8`` and ``grid25`` follow Lin et al., "PacGAN: The power of two samples in generative
adversarial networks" (NeurIPS 2018): equal-weight mixtures of spherical Gaussians, with
the mode means and sigma kept in ``info.extra = {"modes": [[x, y], ...], "sigma": s}`` so
that the toy metrics (mode coverage, high-quality samples) can find them. Labels give the
mode each point was drawn from.

Train and test are drawn independently from two seeds derived from ``seed``.
"""

from __future__ import annotations

import numpy as np

from latentspace.data.arrays import check_float, check_int, points_dataset
from latentspace.data.dataset import Dataset
from latentspace.data.registry import register


def _rngs(seed: int):
    """Independent generators for the train and the test split."""
    train, test = np.random.SeedSequence(check_int("seed", seed)).spawn(2)
    return np.random.default_rng(train), np.random.default_rng(test)


def _mixture(name: str, modes: np.ndarray, sigma: float, n: int, n_test: int, seed: int) -> Dataset:
    n, n_test = check_int("n", n, 2), check_int("n_test", n_test, 1)
    draws = []
    for rng, size in zip(_rngs(seed), (n, n_test)):
        k = rng.integers(0, len(modes), size=size)
        draws.append((modes[k] + sigma * rng.standard_normal((size, 2)), k))
    (x, y), (xt, yt) = draws
    extra = {"modes": [[float(a), float(b)] for a, b in modes], "sigma": float(sigma)}
    classes = [f"mode{i}" for i in range(len(modes))]
    return points_dataset(name, x, y, test_x=xt, test_y=yt, classes=classes, extra=extra)


def ring_modes(k: int = 8, radius: float = 1.0) -> np.ndarray:
    angles = 2 * np.pi * np.arange(k) / k
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid_modes() -> np.ndarray:
    g = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    return np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)


@register("ring8", "8 Gaussians (sigma 0.01) on the unit circle, PacGAN's 2-D ring")
def ring8(n=50_000, n_test=10_000, seed=0) -> Dataset:
    """Mixture of 8 equal-weight 2-D Gaussians, means ``(cos 2πk/8, sin 2πk/8)``, sigma 0.01.

    Examples
    --------
    >>> import latentspace as ls
    >>> d = ls.data.load("ring8", n=1000, n_test=200)
    >>> len(d), len(d.test), d.info.extra["sigma"]
    (1000, 200, 0.01)
    """
    return _mixture("ring8", ring_modes(8), 0.01, n, n_test, seed)


@register("grid25", "25 Gaussians (sigma 0.05) on {-4,-2,0,2,4}^2, PacGAN's 2-D grid")
def grid25(n=50_000, n_test=10_000, seed=0) -> Dataset:
    """Mixture of 25 equal-weight 2-D Gaussians, means on ``{-4,-2,0,2,4}^2``, sigma 0.05."""
    return _mixture("grid25", grid_modes(), 0.05, n, n_test, seed)


def _sklearn_pair(name, make, n, n_test, seed, noise, labels: bool) -> Dataset:
    n, n_test = check_int("n", n, 2), check_int("n_test", n_test, 1)
    noise = check_float("noise", noise, 0.0)
    out = []
    for rng, size in zip(_rngs(seed), (n, n_test)):
        x, t = make(n_samples=size, noise=noise, random_state=int(rng.integers(2**31 - 1)))
        out.append((x, t if labels else None))
    (x, y), (xt, yt) = out
    classes = ["moon0", "moon1"] if labels else None
    return points_dataset(name, x, y, test_x=xt, test_y=yt, classes=classes, extra={"noise": noise})


@register("moons", "two interleaving half circles (sklearn make_moons), labelled by moon")
def moons(n=50_000, n_test=10_000, seed=0, noise=0.05) -> Dataset:
    """``sklearn.datasets.make_moons`` with Gaussian ``noise``; labels say which moon."""
    from sklearn.datasets import make_moons

    return _sklearn_pair("moons", make_moons, n, n_test, seed, noise, labels=True)


@register("swissroll", "2-D swiss roll (sklearn make_swiss_roll, columns x and z)")
def swissroll(n=50_000, n_test=10_000, seed=0, noise=0.5) -> Dataset:
    """The 2-D swiss roll: columns x and z of ``sklearn.datasets.make_swiss_roll``; no labels."""
    from sklearn.datasets import make_swiss_roll

    def make(n_samples, noise, random_state):
        x, t = make_swiss_roll(n_samples=n_samples, noise=noise, random_state=random_state)
        return x[:, [0, 2]], t

    return _sklearn_pair("swissroll", make, n, n_test, seed, noise, labels=False)
