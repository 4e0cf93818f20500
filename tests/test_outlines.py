"""Outline landmarks and Procrustes distances (latentspace.metrics.outlines)."""

import numpy as np
import pytest

from latentspace.errors import UserError
from latentspace.metrics.outlines import landmarks, outline, part_rmse, procrustes_rmse, resample, trimmed


def _wall(h=40, w=40, thick=3, foot=12):
    """An L-shaped wall: a vertical stroke and a foot, black on white."""
    img = np.ones((h, w))
    img[4:h - 4, 20:20 + thick] = 0
    img[h - 4 - thick:h - 4, 20 - foot:20 + thick] = 0
    return img


def test_a_square_outline_is_closed_starts_at_the_top_left_and_runs_clockwise():
    img = np.ones((10, 10))
    img[2:8, 3:7] = 0
    line = outline(img)
    assert np.allclose(line[0], line[-1])
    top = line[:, 1].min()
    assert line[0, 1] == top and line[0, 0] == line[line[:, 1] == top, 0].min()
    x, y = line[:-1, 0], line[:-1, 1]
    area = 0.5 * (np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))
    assert area > 0                                     # clockwise on the page (rows down)
    assert line[:, 1].min() == 1.5 and line[:, 1].max() == 7.5      # half-way between ink and paper


def test_resampling_spaces_points_equally_along_the_line():
    line = np.array([[0.0, 0.0], [3.0, 0.0], [3.0, 1.0]])
    pts = resample(line, 5)
    assert np.allclose(pts, [[0, 0], [1, 0], [2, 0], [3, 0], [3, 1]])


def test_procrustes_rmse_ignores_position_size_and_rotation_but_not_shape():
    a = landmarks(_wall())
    turn = np.array([[0.0, -1.0], [1.0, 0.0]])
    assert procrustes_rmse(a, 2.5 * a @ turn + 7) == pytest.approx(0.0, abs=1e-9)
    other = landmarks(_wall(foot=2))
    assert procrustes_rmse(a, other) > 0.02
    # the same shape drawn one pixel to the side has the same landmarks, up to the shift
    assert procrustes_rmse(a, landmarks(np.roll(_wall(), 1, axis=1))) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(UserError, match="one shape"):
        procrustes_rmse(a, a[:10])


def test_part_rmse_compares_only_the_masked_rows_and_flags_empty_parts():
    truth = np.stack([_wall(), _wall()])[:, None]
    guess = np.stack([_wall(foot=2), np.ones((40, 40))])[:, None]
    upper = np.zeros_like(truth, dtype=bool)
    upper[..., :20, :] = True
    same_top = part_rmse(truth, guess, upper)
    assert same_top[0] == pytest.approx(0.0, abs=1e-9) and np.isnan(same_top[1])
    assert part_rmse(truth, guess, ~upper)[0] > 0.02


def test_trimmed_keeps_values_within_one_standard_deviation():
    v = np.array([1.0, 1.1, 0.9, 1.0, 5.0, np.nan])
    assert sorted(trimmed(v)) == [0.9, 1.0, 1.0, 1.1]
    assert len(trimmed([2.0, 2.0])) == 2


def test_blank_drawings_have_no_outline():
    with pytest.raises(UserError, match="no ink"):
        outline(np.ones((8, 8)))
    with pytest.raises(UserError, match="2-D"):
        outline(np.ones((2, 8, 8)))
