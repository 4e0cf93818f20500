"""PacGAN's toy metrics on cases whose answers are known in closed form."""

import math

import numpy as np
import pytest
import torch

from latentspace.errors import UserError
from latentspace.metrics import toy2d_metrics

SIGMA = 0.05


def grid_modes():
    g = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    return np.stack(np.meshgrid(g, g, indexing="ij"), axis=-1).reshape(-1, 2)


def test_perfect_samples_capture_every_mode_with_zero_reverse_kl():
    modes = grid_modes()
    samples = np.repeat(modes, 100, axis=0)  # 2,500 samples, 100 exactly on each mean
    m = toy2d_metrics(samples, modes.tolist(), SIGMA)
    assert m["modes_captured"] == 25 and m["modes_total"] == 25
    assert m["high_quality_fraction"] == 1.0
    assert m["reverse_kl"] == pytest.approx(0.0, abs=1e-12)


def test_collapse_onto_one_mode():
    modes = grid_modes()
    rng = np.random.default_rng(0)
    samples = modes[7] + SIGMA * rng.standard_normal((2500, 2))
    m = toy2d_metrics(torch.as_tensor(samples, dtype=torch.float32), modes, SIGMA)
    assert m["modes_captured"] == 1
    assert m["reverse_kl"] == pytest.approx(math.log(25))
    assert 0.97 < m["high_quality_fraction"] < 1.0  # P(chi2_2 < 9) = 1 - e^-4.5 = 0.989


def test_far_away_noise_is_never_high_quality():
    modes = grid_modes()
    rng = np.random.default_rng(1)
    samples = rng.uniform(20, 30, size=(2500, 2))
    m = toy2d_metrics(samples, modes, SIGMA)
    assert m["high_quality_fraction"] == 0.0 and m["modes_captured"] == 0
    assert m["reverse_kl"] == pytest.approx(math.log(25))  # the documented convention: total collapse


def test_true_mixture_samples_match_the_chi_square_rate():
    modes = grid_modes()
    rng = np.random.default_rng(2)
    n = 20000
    samples = modes[rng.integers(0, 25, n)] + SIGMA * rng.standard_normal((n, 2))
    m = toy2d_metrics(samples, modes, SIGMA)
    p = 1 - math.exp(-4.5)  # |x - mu|^2 / sigma^2 ~ chi2 with 2 degrees of freedom
    assert abs(m["high_quality_fraction"] - p) < 4 * math.sqrt(p * (1 - p) / n)
    assert m["modes_captured"] == 25
    assert m["reverse_kl"] < 0.01  # multinomial noise only: about (K - 1) / (2 n)


def test_threshold_boundary_and_hand_computed_kl():
    modes = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    s = 0.01
    samples = np.array([
        [0.0, 2.9 * s],          # high quality, mode 0
        [0.0, -2.0 * s],         # high quality, mode 0
        [1.0 + 2.5 * s, 0.0],    # high quality, mode 1
        [0.0, 1.0 + 3.1 * s],    # beyond 3 sigma of mode 2: low quality
        [0.5, 0.5],              # between modes: low quality
    ])
    m = toy2d_metrics(samples, modes, s)
    assert m["high_quality_fraction"] == pytest.approx(3 / 5)
    assert m["modes_captured"] == 2
    p = np.array([2 / 3, 1 / 3])
    assert m["reverse_kl"] == pytest.approx(float((p * np.log(p * 4)).sum()))
    assert toy2d_metrics(samples, modes, s, min_count=2)["modes_captured"] == 1
    assert toy2d_metrics(samples, modes, s, threshold=3.2)["high_quality_fraction"] == pytest.approx(4 / 5)


def test_bad_inputs_are_user_errors():
    modes = grid_modes()
    with pytest.raises(UserError, match="shape"):
        toy2d_metrics(np.zeros((10, 3)), modes, SIGMA)
    with pytest.raises(UserError, match="sigma"):
        toy2d_metrics(np.zeros((10, 2)), modes, 0.0)
    with pytest.raises(UserError, match="n >= 1"):
        toy2d_metrics(np.zeros((0, 2)), modes, SIGMA)
