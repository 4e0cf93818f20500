"""Embedded volume datasets, no files needed: ``shapes-3d`` (occupancy) and ``ct-synthetic`` (CT-like scans).

Both are deterministic functions of ``seed`` and quick to make (the defaults: 0.8 s and 0.6 s on one core).

- ``shapes-3d``: occupancy grids of four classes, ``sphere``, ``box``, ``torus`` and ``cylinder``, each
  of random size, random orientation (a uniformly random rotation) and a small random offset from the
  centre; a voxel is occupied when its centre lies inside the shape.
- ``ct-synthetic``: chest-like CT volumes in Hounsfield units, windowed to [0, 1] (``window``, lung by
  default): air (-1000 HU) around an elliptic body of soft tissue (40 HU) with a smooth texture
  (+-15 HU), two lungs (-850 HU), a spine (700 HU) and scanner noise (sigma 12 HU). Half the volumes
  (class ``lesion``) carry one to three small round nodules (radius 1.2-2.5 voxels, 20-60 HU) in
  the lungs, the others (class ``no lesion``) none; ``info.extra`` lists nothing about them, so they
  are a task for a classifier or for augmentation demos.
"""

from __future__ import annotations

import numpy as np

from latentspace.data.arrays import check_int, modality_info, unit_to_model
from latentspace.data.dataset import Dataset, make_dataset
from latentspace.data.registry import register
from latentspace.data.volume_files import apply_window, check_window
from latentspace.errors import UserError

SHAPES = ("sphere", "box", "torus", "cylinder")
CT_CLASSES = ("no lesion", "lesion")


def _grid(size: int) -> np.ndarray:
    """Voxel centres ``(size^3, 3)`` in [-1, 1], ordered ``[x, y, z]``."""
    c = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    return np.stack(np.meshgrid(c, c, c, indexing="ij"), -1).reshape(-1, 3)


def _rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random rotation matrix (from a random unit quaternion)."""
    q = rng.normal(size=4)
    a, b, c, d = q / np.linalg.norm(q)
    return np.array([[a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
                     [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
                     [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d]], dtype=np.float32)


def _inside(kind: int, p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Whether points ``p`` (in the shape's own frame, [-1, 1] units) lie inside a random shape of ``kind``."""
    u = rng.uniform
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    if kind == 0:   # sphere
        return x * x + y * y + z * z <= u(0.35, 0.75) ** 2
    if kind == 1:   # box
        a, b, c = u(0.25, 0.6), u(0.25, 0.6), u(0.25, 0.6)
        return (np.abs(x) <= a) & (np.abs(y) <= b) & (np.abs(z) <= c)
    if kind == 2:   # torus
        big, small = u(0.4, 0.6), u(0.12, 0.22)
        return (np.sqrt(x * x + y * y) - big) ** 2 + z * z <= small * small
    r, h = u(0.2, 0.45), u(0.35, 0.7)   # cylinder
    return (x * x + y * y <= r * r) & (np.abs(z) <= h)


def make_shapes(n: int, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` occupancy grids ``(n, size, size, size)`` (bool) of the four shapes, in turn, and their labels."""
    rng = np.random.default_rng(seed)
    grid = _grid(size)
    y = np.arange(n) % len(SHAPES)
    x = np.empty((n, size, size, size), dtype=bool)
    for i, kind in enumerate(y):
        local = (grid - rng.uniform(-0.12, 0.12, 3).astype(np.float32)) @ _rotation(rng)
        x[i] = _inside(int(kind), local, rng).reshape(size, size, size)
    return x, y


@register("shapes-3d", "occupancy grids of spheres, boxes, tori and cylinders of random size and pose, 4 classes")
def shapes_3d(n=800, n_test=200, size=32, seed=0) -> Dataset:
    """Synthetic occupancy volumes: 4 classes (sphere, box, torus, cylinder), ``(1, size, size, size)``.

    Parameters
    ----------
    n, n_test : int
        Training and held-out items (classes in turn, so balanced).
    size : int
        Side of the grid (32 by default).
    seed : int
        Everything follows from it; the held-out items are drawn after the training ones.
    """
    n, n_test, size, seed = check_int("n", n, 1), check_int("n_test", n_test, 1), check_int("size", size, 8), \
        check_int("seed", seed)
    x, y = make_shapes(n + n_test, size, seed)
    info = modality_info("shapes-3d", "volume", (1, size, size, size), classes=list(SHAPES),
                         extra={"threshold": 0.5, "size": size})
    xm = unit_to_model(x[:, None])
    return make_dataset(xm[:n], y[:n], info=info, test_x=xm[n:], test_y=y[n:])


# -- CT-like volumes -----------------------------------------------------------------------------------------
def _texture(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Smooth unit-variance noise ``(n, size, size, size)``: coarse noise (a quarter of the size) upsampled."""
    import torch
    import torch.nn.functional as F

    coarse = torch.from_numpy(rng.standard_normal((n, 1) + (max(2, size // 4),) * 3, dtype=np.float32))
    fine = F.interpolate(coarse, size=(size,) * 3, mode="trilinear", align_corners=False)[:, 0].numpy()
    return fine / max(float(fine.std()), 1e-6)


def _ellipsoid(x, y, z, centre, radii) -> np.ndarray:
    """Whether the points ``(x, y, z)`` lie inside the axis-aligned ellipsoid (``centre``, ``radii``)."""
    (cx, cy, cz), (rx, ry, rz) = centre, radii
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 + ((z - cz) / rz) ** 2 <= 1


def _chest(rng: np.random.Generator, size: int, xyz: tuple, texture: np.ndarray, lesion: bool):
    """One CT-like volume in HU ``(size, size, size)`` and its lesion mask; ``xyz``: the voxel centres in [-1, 1]."""
    u = rng.uniform
    x, y, z = xyz
    bx, by = u(0.75, 0.92), u(0.5, 0.65)
    body = (x / bx) ** 2 + (y / by) ** 2 <= 1
    hu = np.where(body, np.float32(40.0) + np.float32(15.0) * texture, np.float32(-1000.0))
    lungs = []
    for side in (-1, 1):
        c = (side * u(0.35, 0.45) * bx, u(-0.1, 0.05), u(-0.15, 0.15))
        r = (u(0.22, 0.3) * bx / 0.8, u(0.55, 0.7) * by, u(0.6, 0.8))
        lungs.append((np.array(c), np.array(r)))
        hu[_ellipsoid(x, y, z, c, r)] = -850.0
    spine = ((x / 0.12) ** 2 + ((y + 0.72 * by) / 0.12) ** 2 <= 1) & body   # posterior, along z
    hu[np.broadcast_to(spine, hu.shape)] = 700.0
    mask = np.zeros(hu.shape, dtype=bool)
    for _ in range(int(rng.integers(1, 4)) if lesion else 0):
        c, r = lungs[int(rng.integers(2))]
        nodule = _ellipsoid(x, y, z, c + r * rng.uniform(-0.5, 0.5, 3), (u(1.2, 2.5) * 2 / size,) * 3)
        hu[nodule] = u(20.0, 60.0)
        mask |= nodule
    return hu + np.float32(12.0) * rng.standard_normal(hu.shape, dtype=np.float32), mask


def make_ct(n: int, size: int = 32, seed: int = 0, masks: bool = False):
    """``n`` CT-like volumes in HU ``(n, size, size, size)``, ``[x, y, z]`` (RAS+), and labels (1: lesion);
    with ``masks``, also where the lesions are (boolean, the volumes' shape)."""
    rng = np.random.default_rng(seed)
    c = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    xyz = np.meshgrid(c, c, c, indexing="ij", sparse=True)   # y runs posterior to anterior
    texture = _texture(rng, n, size)
    y = np.arange(n) % 2
    hu, lesions = zip(*(_chest(rng, size, xyz, texture[i], bool(k)) for i, k in enumerate(y)))
    return (np.stack(hu), y, np.stack(lesions)) if masks else (np.stack(hu), y)


@register("ct-synthetic", "CT-like chest volumes (lungs, spine, noise), with or without small lung nodules, 2 classes")
def ct_synthetic(n=400, n_test=100, size=32, window="lung", seed=0) -> Dataset:
    """Synthetic CT-like intensity volumes (modality ``scan``), classes ``no lesion`` and ``lesion``.

    Parameters
    ----------
    n, n_test : int
        Training and held-out items (classes alternate, so balanced).
    size : int
        Side of the grid (32 by default).
    window : str or (float, float)
        The CT window mapping HU to [0, 1]: ``"lung"`` (default), ``"soft-tissue"``, ``"bone"`` or
        ``(level, width)``.
    seed : int
        Everything follows from it.
    """
    n, n_test, size, seed = check_int("n", n, 1), check_int("n_test", n_test, 1), check_int("size", size, 8), \
        check_int("seed", seed)
    level_width = check_window(window)
    if level_width is None:
        raise UserError("ct-synthetic needs a window (soft-tissue, lung, bone or level,width)")
    hu, y = make_ct(n + n_test, size, seed)
    x = apply_window(hu, *level_width)[:, None]
    info = modality_info("ct-synthetic", "scan", (1, size, size, size), classes=list(CT_CLASSES),
                         extra={"window": list(level_width), "units": "HU", "size": size})
    xm = unit_to_model(x)
    return make_dataset(xm[:n], y[:n], info=info, test_x=xm[n:], test_y=y[n:])
