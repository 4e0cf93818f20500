r"""Sample-quality scores: two sets of feature vectors in, plain numbers out.

Each score is a function of a *real* (reference) set and a *fake* (generated) set of feature
vectors, arrays or tensors of shape ``(n, d)``, and can be used on its own:

- :func:`frechet_distance` (FD, the "FID" formula on any features) and
  :func:`kernel_inception_distance` (KID), both computed by torchmetrics;
- :func:`precision_recall` (Kynkäänniemi et al. 2019) and :func:`density_coverage`
  (Naeem et al. 2020): fidelity and diversity from k-nearest-neighbour balls;
- :func:`mmd_rbf`: the unbiased squared maximum mean discrepancy with a Gaussian kernel;
- :func:`classifier_two_sample_test`: held-out accuracy of a classifier telling the sets apart;
- :func:`memorisation`: samples suspiciously close to a training item, against the held-out floor;
- :func:`class_scores`: class coverage, entropy and conditional accuracy of predicted labels.

They live in modules by kind, all re-exported here (``from latentspace.metrics.scores import ...``):
:mod:`latentspace.metrics.distances` (FD, KID, MMD), :mod:`latentspace.metrics.neighbours`
(precision/recall, density/coverage, memorisation) and :mod:`latentspace.metrics.classifiers`
(C2ST, class scores); :mod:`latentspace.metrics.pairwise` holds their input checks and distances.

Nearest-neighbour scores are exact: squared Euclidean distances, computed as
:func:`torch.cdist` does for large inputs (float32, on data centred on the reference set's mean)
in row blocks of at most 2**23 entries, so that 10,000 x 10,000 points never need the full
distance matrix at once; all comparisons are between squared distances computed the same way.
A ball of radius ``r`` around a point is closed: a point at distance exactly ``r`` lies inside.
"""

from __future__ import annotations

from latentspace.metrics.classifiers import class_scores, classifier_two_sample_test
from latentspace.metrics.distances import (frechet_distance, frechet_distance_numpy, kernel_inception_distance,
                                           mmd_rbf)
from latentspace.metrics.neighbours import density_coverage, memorisation, precision_recall

__all__ = ["frechet_distance", "frechet_distance_numpy", "kernel_inception_distance", "precision_recall",
           "density_coverage", "mmd_rbf", "classifier_two_sample_test", "memorisation", "class_scores"]
