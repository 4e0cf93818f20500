r"""Scores that rest on a classifier: the classifier two-sample test and class scores.

- :func:`classifier_two_sample_test`: held-out accuracy of a classifier telling the sets apart;
- :func:`class_scores`: class coverage, entropy and conditional accuracy of predicted labels.

Both are re-exported by :mod:`latentspace.metrics.scores`.
"""

from __future__ import annotations

import math

import numpy as np

from latentspace.errors import UserError
from latentspace.metrics.pairwise import _as_tensor, _check_finite, _pair


# --------------------------------------------------------------------------- C2ST


def classifier_two_sample_test(real, fake, seed: int = 0, test_fraction: float = 0.3) -> dict:
    """Classifier two-sample test: held-out accuracy of a classifier telling real from fake.

    The larger set is subsampled (seeded) to the size of the smaller one, the pooled points are
    split (stratified, seeded) into training and test parts, standardised with the training
    part's statistics, and a :class:`sklearn.ensemble.HistGradientBoostingClassifier` (100
    rounds, one thread: about 1 s for 2 x 10,000 points of 64 features) learns to tell them
    apart. Accuracy 0.5 means the sets are indistinguishable to it, 1 that they are perfectly
    separable (Lopez-Paz & Oquab 2017).

    Parameters
    ----------
    real, fake : array or tensor of shape (n, d)
        Feature vectors, at least 4 rows each.
    seed : int
        Seed of the subsampling, the split and the classifier.
    test_fraction : float
        Share of the balanced, pooled points held out for the accuracy, in (0, 1).

    Returns
    -------
    dict
        ``c2st_accuracy`` (held-out accuracy, float in [0, 1]; 0.5 is best) and ``c2st_n_test``
        (held-out points it was measured on).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> res = classifier_two_sample_test(rng.normal(size=(500, 2)), rng.normal(size=(500, 2)) + 3)
    >>> res["c2st_accuracy"] > 0.9
    True
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

    a, b = (t.numpy() for t in _pair(real, fake, 4, " to train and test a classifier"))
    if not (isinstance(test_fraction, (int, float)) and 0 < test_fraction < 1):
        raise UserError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
    rng = np.random.default_rng(seed)
    n = min(len(a), len(b))
    a = a[np.sort(rng.choice(len(a), n, replace=False))] if len(a) > n else a
    b = b[np.sort(rng.choice(len(b), n, replace=False))] if len(b) > n else b
    x = np.concatenate([a, b])
    y = np.repeat([0, 1], n)
    n_test = min(max(2, round(2 * n * test_fraction)), 2 * n - 2)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=n_test, stratify=y,
                                                        random_state=int(rng.integers(2**31)))
    scaler = StandardScaler().fit(x_train)
    clf = HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=seed)
    # One OpenMP thread: on a few busy cores, more threads spin-wait and run many times slower.
    with threadpool_limits(limits=1, user_api="openmp"):
        clf.fit(scaler.transform(x_train), y_train)
        accuracy = float((clf.predict(scaler.transform(x_test)) == y_test).mean())
    return {"c2st_accuracy": accuracy, "c2st_n_test": int(len(y_test))}


# --------------------------------------------------------------------------- classes


def _labels(x, name: str, n_classes: int) -> np.ndarray:
    t = _as_tensor(x, name)
    if t.ndim != 1 or len(t) == 0:
        raise UserError(f"{name} must be a non-empty 1-D array of class labels, got shape {tuple(t.shape)}")
    _check_finite(t, name)
    if not bool((t == t.round()).all()):
        raise UserError(f"{name} must hold integer class labels, got fractional values; pass predicted classes")
    labels = t.long().numpy()
    if labels.min() < 0 or labels.max() >= n_classes:
        raise UserError(f"{name} holds labels in [{labels.min()}, {labels.max()}] outside [0, {n_classes - 1}]; "
                        "check n_classes")
    return labels


def class_scores(predicted, n_classes: int, requested=None, min_share: float = 0.01) -> dict:
    """Class coverage, class-histogram entropy and conditional accuracy of predicted labels.

    Parameters
    ----------
    predicted : array or tensor of int, shape (n,)
        Classes of the samples, as a classifier predicts them.
    n_classes : int
        Number of classes K; labels lie in [0, K).
    requested : array or tensor of int, shape (n,), optional
        Labels a conditional model was asked for.
    min_share : float
        Share of the samples a class needs to count as covered, in (0, 1].

    Returns
    -------
    dict
        ``class_coverage`` (fraction of the K classes holding at least ``min_share`` of the
        samples), ``class_entropy`` (entropy of the class histogram divided by log K: 1 for
        uniform, 0 for one class; 1 when K = 1), ``class_histogram`` (list of K shares summing to
        1) and, with ``requested``, ``conditional_accuracy`` (fraction predicted == requested).

    Examples
    --------
    >>> res = class_scores([0, 1, 2, 3], 4, requested=[0, 1, 2, 0])
    >>> res["class_coverage"], res["class_entropy"], res["conditional_accuracy"]
    (1.0, 1.0, 0.75)
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise UserError(f"n_classes must be a positive integer, got {n_classes!r}")
    if not (isinstance(min_share, (int, float)) and 0 < min_share <= 1):
        raise UserError(f"min_share must be a number in (0, 1], got {min_share!r}")
    labels = _labels(predicted, "predicted", int(n_classes))
    share = np.bincount(labels, minlength=n_classes) / len(labels)
    nz = share[share > 0]
    entropy = float(-(nz * np.log(nz)).sum() / math.log(n_classes)) if n_classes > 1 else 1.0
    out = {"class_coverage": float((share >= min_share).mean()), "class_entropy": min(1.0, max(0.0, entropy)),
           "class_histogram": [float(p) for p in share]}
    if requested is not None:
        wanted = _labels(requested, "requested", int(n_classes))
        if len(wanted) != len(labels):
            raise UserError(f"requested has {len(wanted)} labels but predicted has {len(labels)}; "
                            "pass one requested label per sample")
        out["conditional_accuracy"] = float((labels == wanted).mean())
    return out
