"""Scores of generated samples and models: PacGAN's toy metrics, held-out likelihood, and
``evaluate_run``, the table ``latentspace evaluate`` prints.

Importing this package is light (numpy only); ``evaluate_run`` is loaded on first use.
"""

from __future__ import annotations

from latentspace.metrics.likelihood import heldout_nll
from latentspace.metrics.toy2d import toy2d_metrics

__all__ = ["evaluate_run", "heldout_nll", "toy2d_metrics"]


def __getattr__(name):
    if name == "evaluate_run":
        from latentspace.metrics.evaluate import evaluate_run

        return evaluate_run
    raise AttributeError(f"module 'latentspace.metrics' has no attribute {name!r}")
