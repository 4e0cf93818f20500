r"""Two-domain image data for unpaired translation (CycleGAN), with a known answer.

The *bold-MNIST* pair: domain A holds MNIST digits as they are, domain B the same kind of
digits made bold by grey dilation with a 3x3 footprint,

.. math::
    \operatorname{bold}(x)_{ij} = \max_{|k| \le 1,\ |l| \le 1} x_{i+k,\,j+l},

which is ``scipy.ndimage.grey_dilation(x, size=(3, 3))`` (``F.max_pool2d(x, 3, 1, 1)``; the
max commutes with the map to model space, so it applies in either space).

The two *training* sets come from disjoint halves of MNIST's 60,000 training digits, so no
digit is seen in both domains and no pair is ever given:

- ``mnist-half``: the first half (30,000 digits), plain: domain A;
- ``bold-mnist``: the second half, dilated: domain B.

Both *test* sets are MNIST's 10,000 test digits in the same order, plain and bold, so
``bold-mnist``'s ``test.x[i]`` is the true translation of ``mnist-half``'s (and ``mnist``'s)
``test.x[i]``: the answer to score a translation against. Labels are kept (for scoring
whether a translation keeps its class); a translation model ignores them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as nnf

from latentspace.data.arrays import check_int
from latentspace.data.dataset import Dataset, make_dataset
from latentspace.data.images import _load_idx_dataset
from latentspace.data.registry import register
from latentspace.errors import UserError


def embolden(x) -> torch.Tensor:
    """Grey dilation with a 3x3 footprint of images ``(..., H, W)``: each pixel becomes its neighbourhood's max.

    Equal to ``scipy.ndimage.grey_dilation(x, size=(1, 3, 3))`` per image; works in data or model space.
    """
    x = torch.as_tensor(x, dtype=torch.float32)
    if x.ndim < 2:
        raise UserError(f"embolden expects images (..., H, W), got a tensor of shape {tuple(x.shape)}")
    flat = x.reshape(-1, 1, *x.shape[-2:])
    return nnf.max_pool2d(flat, kernel_size=3, stride=1, padding=1).reshape(x.shape)


def _mnist_half(name: str, half: int, bold: bool, data_dir, download, limit) -> Dataset:
    """Half ``half`` (0 or 1) of MNIST's training digits (first ``limit``), bold or not, with the full test set."""
    if limit is not None:
        limit = check_int("limit", limit, 1)
    mnist = _load_idx_dataset("mnist", data_dir, download, None)
    size = len(mnist) // 2
    start = half * size
    stop = start + (size if limit is None else min(size, limit))
    make = embolden if bold else (lambda x: x)
    info = mnist.info
    info.name = name
    return make_dataset(make(mnist.x[start:stop]), mnist.y[start:stop], info=info,
                        test_x=make(mnist.test.x), test_y=mnist.test.y)


@register("mnist-half", "domain A of bold-MNIST: the first half of MNIST's training digits, plain "
                        "(data_dir=, limit=)")
def mnist_half(data_dir=None, download=False, limit=None) -> Dataset:
    """The first 30,000 MNIST training digits (first ``limit`` of them); test: MNIST's 10,000 test digits.

    Options as for :func:`latentspace.data.images.mnist`. The partner domain is ``bold-mnist``.
    """
    return _mnist_half("mnist-half", 0, False, data_dir, download, limit)


@register("bold-mnist", "domain B of bold-MNIST: the other half of MNIST's training digits, dilated 3x3 "
                        "(data_dir=, limit=)")
def bold_mnist(data_dir=None, download=False, limit=None) -> Dataset:
    """The last 30,000 MNIST training digits (first ``limit`` of them), made bold by :func:`embolden`.

    The test split is MNIST's 10,000 test digits made bold, in MNIST's order: item ``i`` is
    the true translation of ``mnist``'s (and ``mnist-half``'s) test item ``i``.
    Options as for :func:`latentspace.data.images.mnist`.
    """
    return _mnist_half("bold-mnist", 1, True, data_dir, download, limit)
