r"""Repertoire measures in a latent space: how well a model's codes of vocal units (syllables) keep the
structure that a neurobiologist labelled by hand.

- :func:`knn_accuracy`: a :math:`k`-nearest-neighbour classifier fitted on the latent means of
  training syllables predicts the labels of held-out ones (held out by recording file, so no song
  is on both sides). Goffinet et al. (2021, AVA) used latent features this way against hand-made
  acoustic features.
- :func:`cluster_agreement`: the codes mapped to 2-D (UMAP when installed, else PCA), clustered by
  HDBSCAN, compared with the hand labels by V-measure (Rosenberg & Hirschberg 2007), as Sainburg,
  Thielk & Gentner (2020, Table 1) did on Bengalese finch song: 0.903 ± 0.042 over Nicholson et al.'s
  birds, 0.841 ± 0.088 over Koumura & Okanoya's.
- :func:`repertoire_mmd`: the squared MMD between two repertoires (two birds, two days) in latent
  space, beside the MMD between two random halves of each one, the floor a difference must clear.

All take arrays of codes, so they serve any model that encodes (and any features at all).
"""

from __future__ import annotations

import numpy as np

from latentspace.errors import UserError

__all__ = ["knn_accuracy", "embed_2d", "cluster_agreement", "repertoire_mmd"]


def _codes(z, name: str, min_rows: int = 2) -> np.ndarray:
    """A validated ``(n, d)`` float64 array of codes (the checks of the two-set scores)."""
    from latentspace.metrics.pairwise import _features

    return _features(z, name, min_rows).numpy()


def _labels(y, n: int, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise UserError(f"{name} must hold one label per row ({n}), got shape {y.shape}")
    return y


def knn_accuracy(z_train, y_train, z_test, y_test, k: int = 5) -> float:
    """Held-out accuracy of a ``k``-nearest-neighbour classifier on latent codes.

    Parameters
    ----------
    z_train, z_test : array (n, d), (m, d)
        Codes (e.g. posterior means) of the training and held-out items.
    y_train, y_test : array (n,), (m,)
        Their labels.
    k : int
        Neighbours that vote (Euclidean distance, ties to the nearer); at most the training size.

    Returns
    -------
    float
        The fraction of held-out items whose label the vote gives.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 50)
    >>> z = rng.normal(size=(100, 4)) + 6 * y[:, None]
    >>> knn_accuracy(z[::2], y[::2], z[1::2], y[1::2])
    1.0
    """
    from sklearn.neighbors import KNeighborsClassifier

    z_train, z_test = _codes(z_train, "z_train", 1), _codes(z_test, "z_test", 1)
    if z_train.shape[1] != z_test.shape[1]:
        raise UserError(f"z_train has {z_train.shape[1]} features and z_test {z_test.shape[1]}; encode both "
                        "with one model")
    y_train, y_test = _labels(y_train, len(z_train), "y_train"), _labels(y_test, len(z_test), "y_test")
    clf = KNeighborsClassifier(n_neighbors=min(int(k), len(z_train)), weights="distance")
    return float((clf.fit(z_train, y_train).predict(z_test) == y_test).mean())


def embed_2d(z, method: str = "auto", seed: int = 0) -> tuple[np.ndarray, str]:
    """Codes mapped to 2-D: ``"umap"`` (umap-learn, 15 neighbours, min_dist 0.1 as Sainburg et al.),
    ``"pca"``, or ``"auto"`` (UMAP when installed, else PCA). Returns the points and the method used."""
    z = _codes(z, "z", 3)
    if method == "auto":
        try:
            import umap  # noqa: F401
            method = "umap"
        except ImportError:
            method = "pca"
    if method == "umap":
        try:
            import umap
        except ImportError:
            raise UserError("method 'umap' needs umap-learn: pip install 'latentspace[umap]' "
                            "(or use method 'pca')") from None
        points = umap.UMAP(n_components=2, n_neighbors=15, min_dist=0.1, random_state=int(seed),
                           n_jobs=1).fit_transform(z)
    elif method == "pca":
        from sklearn.decomposition import PCA

        points = PCA(n_components=min(2, z.shape[1])).fit_transform(z)
    else:
        raise UserError(f"unknown 2-D map {method!r}; use 'umap', 'pca' or 'auto'")
    return np.asarray(points, dtype=np.float64), method


def cluster_agreement(z, y, method: str = "auto", min_cluster_size: int | None = None, seed: int = 0) -> dict:
    """How well clusters found in the latent map agree with the hand labels (V-measure).

    The codes are mapped to 2-D (:func:`embed_2d`) and clustered by scikit-learn's HDBSCAN. Items it
    calls noise are given the cluster of their nearest clustered neighbour in the map before scoring
    (Sainburg et al. labelled every syllable); the fraction of them is reported. When HDBSCAN finds
    no cluster at all, every item is one cluster, and the V-measure is 0.

    Parameters
    ----------
    z : array (n, d)
        Codes of the syllables.
    y : array (n,)
        Their hand labels.
    method : {"auto", "umap", "pca"}
        The 2-D map.
    min_cluster_size : int, optional
        HDBSCAN's smallest cluster; default 1% of the items, at least 5.
    seed : int
        Seeds UMAP.

    Returns
    -------
    dict
        ``v_measure``, ``homogeneity``, ``completeness`` (scikit-learn), ``clusters`` found,
        ``labels`` (hand label count), ``noise_fraction``, ``method``, and ``points`` (n, 2) and
        ``clusters_of`` (n,) for plotting.
    """
    from sklearn.cluster import HDBSCAN
    from sklearn.metrics import homogeneity_completeness_v_measure
    from sklearn.neighbors import NearestNeighbors

    z = _codes(z, "z", 3)
    y = _labels(y, len(z), "y")
    points, method = embed_2d(z, method, seed)
    size = int(min_cluster_size or max(5, round(0.01 * len(z))))
    found = HDBSCAN(min_cluster_size=size, copy=True).fit_predict(points)
    noise = found < 0
    if noise.all():                         # no structure at all: one cluster (V-measure 0)
        found = np.zeros(len(z), dtype=int)
    elif noise.any():
        nn = NearestNeighbors(n_neighbors=1).fit(points[~noise])
        found = found.copy()
        found[noise] = found[~noise][nn.kneighbors(points[noise], return_distance=False)[:, 0]]
    h, c, v = homogeneity_completeness_v_measure(y, found)
    return {"v_measure": float(v), "homogeneity": float(h), "completeness": float(c),
            "clusters": int(len(np.unique(found))), "labels": int(len(np.unique(y))),
            "noise_fraction": float(noise.mean()), "method": method, "points": points, "clusters_of": found}


def repertoire_mmd(z_a, z_b, seed: int = 0, bandwidth: float | None = None) -> dict:
    """Squared MMD between two repertoires in latent space, beside the MMD within each.

    The within-repertoire floor splits each set at random into two halves and takes their MMD; a
    difference between repertoires means something only well above it. One kernel width (the median
    heuristic over both sets, unless ``bandwidth`` is given) serves all three, so they compare.

    Returns
    -------
    dict
        ``between`` (MMD²(a, b)), ``within_a``, ``within_b`` (MMD² of two halves of each),
        ``ratio`` (between over the larger within; None when that is not positive: the unbiased
        estimate of a zero MMD is as often negative as positive), ``bandwidth``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> out = repertoire_mmd(rng.normal(size=(300, 8)), rng.normal(size=(300, 8)) + 1)
    >>> out["between"] > 10 * max(abs(out["within_a"]), abs(out["within_b"]))
    True
    """
    import torch

    from latentspace.metrics.distances import _median_distance, mmd_rbf

    z_a, z_b = _codes(z_a, "z_a", 4), _codes(z_b, "z_b", 4)
    if z_a.shape[1] != z_b.shape[1]:
        raise UserError(f"z_a has {z_a.shape[1]} features and z_b {z_b.shape[1]}; encode both with one model")
    if bandwidth is None:
        bandwidth = _median_distance(torch.as_tensor(np.concatenate([z_a, z_b]), dtype=torch.float32)) or 1.0
    rng = np.random.default_rng(seed)

    def halves(z):
        order = rng.permutation(len(z))
        return mmd_rbf(z[order[: len(z) // 2]], z[order[len(z) // 2:]], bandwidth=bandwidth)

    between = mmd_rbf(z_a, z_b, bandwidth=bandwidth)
    within_a, within_b = halves(z_a), halves(z_b)
    top = max(within_a, within_b)
    return {"between": float(between), "within_a": float(within_a), "within_b": float(within_b),
            "ratio": float(between / top) if top > 0 else None, "bandwidth": float(bandwidth)}
