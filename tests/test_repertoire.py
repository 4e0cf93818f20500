"""Repertoire measures on codes with known structure: accuracy, V-measure and MMD of known values."""

import numpy as np
import pytest

from latentspace.errors import UserError
from latentspace.metrics.repertoire import cluster_agreement, embed_2d, knn_accuracy, repertoire_mmd


def _blobs(n_per=60, k=4, spread=0.3, d=6, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 5
    y = np.repeat(np.arange(k), n_per)
    return centres[y] + spread * rng.normal(size=(len(y), d)), y


def test_knn_accuracy_separated_and_shuffled_labels():
    z, y = _blobs()
    assert knn_accuracy(z[::2], y[::2], z[1::2], y[1::2]) == 1.0
    rng = np.random.default_rng(1)
    chance = knn_accuracy(z[::2], rng.permutation(y[::2]), z[1::2], y[1::2])
    assert chance < 0.5                      # 4 classes: labels that carry nothing give about 0.25


def test_cluster_agreement_recovers_blobs_and_not_noise():
    z, y = _blobs()
    out = cluster_agreement(z, y, method="pca")
    assert out["v_measure"] > 0.95 and out["clusters"] == 4 and out["method"] == "pca"
    assert out["points"].shape == (len(z), 2) and out["clusters_of"].min() >= 0
    rng = np.random.default_rng(2)
    one_blob = rng.normal(size=(240, 6))
    out = cluster_agreement(one_blob, y, method="pca", min_cluster_size=20)
    assert out["v_measure"] < 0.3 and out["clusters"] <= 2


def test_mmd_between_two_repertoires_far_above_halves():
    z_a, _ = _blobs(seed=0)
    z_b, _ = _blobs(seed=5)                  # other syllable types
    out = repertoire_mmd(z_a, z_b)
    assert out["between"] > 0.1 and out["between"] > 20 * max(abs(out["within_a"]), abs(out["within_b"]))
    same = repertoire_mmd(z_a[::2], z_a[1::2])
    assert same["between"] < 5 * max(same["within_a"], same["within_b"], 1e-3)


def test_bad_codes_get_one_line_errors():
    z, y = _blobs()
    with pytest.raises(UserError, match="one label per row"):
        knn_accuracy(z, y[:-1], z, y)
    with pytest.raises(UserError, match="NaN"):
        knn_accuracy(np.full_like(z, np.nan), y, z, y)
    with pytest.raises(UserError, match="features"):
        repertoire_mmd(z, z[:, :3])
    with pytest.raises(UserError, match="unknown 2-D map"):
        embed_2d(z, "isomap")
