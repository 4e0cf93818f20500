"""Scores of generated samples and of models.

- :func:`evaluate`: every score that applies to a model (or a set of samples) on a dataset,
  each beside its real-vs-real floor: what ``latentspace evaluate`` prints;
- ``scores``: the two-set scores on their own (Fréchet distance, KID, precision/recall,
  density/coverage, MMD, classifier two-sample test, memorisation, class scores);
- ``features``: the domain feature extractors those scores are computed on;
- :func:`toy2d_metrics` (PacGAN's mode metrics) and :func:`heldout_nll` (likelihoods, each saying
  what it is a likelihood of: ``likelihood.LIKELIHOOD_OF``);
- ``repertoire``: vocal repertoires in latent space (k-NN label accuracy, cluster agreement with
  hand labels by V-measure, MMD between two repertoires beside the within-repertoire floor);
- ``display``: how an evaluation is shown (labels, counts, the notes; :func:`format_results`).

Importing this package is light (numpy only); the rest is loaded on first use.
"""

from __future__ import annotations

import importlib

from latentspace.metrics.likelihood import heldout_nll
from latentspace.metrics.toy2d import toy2d_metrics

_LAZY = {
    "evaluate": "latentspace.metrics.evaluation",
    "format_results": "latentspace.metrics.display",
    "result_notes": "latentspace.metrics.display",
    "SCORE_INFO": "latentspace.metrics.display",
    "feature_extractor": "latentspace.metrics.features",
    "FeatureExtractor": "latentspace.metrics.features",
    "frechet_distance": "latentspace.metrics.scores",
    "kernel_inception_distance": "latentspace.metrics.scores",
    "precision_recall": "latentspace.metrics.scores",
    "density_coverage": "latentspace.metrics.scores",
    "mmd_rbf": "latentspace.metrics.scores",
    "classifier_two_sample_test": "latentspace.metrics.scores",
    "memorisation": "latentspace.metrics.scores",
    "class_scores": "latentspace.metrics.scores",
    "knn_accuracy": "latentspace.metrics.repertoire",
    "cluster_agreement": "latentspace.metrics.repertoire",
    "repertoire_mmd": "latentspace.metrics.repertoire",
}

__all__ = ["heldout_nll", "toy2d_metrics", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'latentspace.metrics' has no attribute {name!r}")
