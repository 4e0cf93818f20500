import hashlib
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

SHARED_DATA = Path(os.environ.get("LATENTSPACE_SHARED_DATA",
                                  Path(__file__).resolve().parents[2] / "shared" / "data"))


def shared(sub: str) -> Path:
    """Path to a shared real dataset, skipping the test when it is absent."""
    path = SHARED_DATA / sub
    if not path.exists():
        pytest.skip(f"shared dataset {sub!r} not found at {path} (set LATENTSPACE_SHARED_DATA)")
    return path


@pytest.fixture(autouse=True, scope="session")
def feature_cache(tmp_path_factory):
    """Feature extractors trained by the tests are cached in a temporary folder, shared by the session."""
    path = tmp_path_factory.mktemp("latentspace-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENTSPACE_CACHE", str(path))
        yield path


def weights(run: Path) -> dict:
    """The final weights of a run folder."""
    return load_file(str(run / "model" / "weights.safetensors"))


def assert_same_weights(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def snapshot(root: Path) -> dict:
    """Every entry under ``root`` (links not followed): kind, size, mtime, a hash of the bytes, link target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            digest = None
            if p.is_file() and not p.is_symlink():
                try:
                    digest = hashlib.sha256(p.read_bytes()).hexdigest()
                except OSError:
                    digest = "unreadable"
            out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns, digest,
                                             os.readlink(p) if p.is_symlink() else None)
    return out


def exploding_gan(step: int, loss: str):
    """A GAN class whose loss ``loss`` becomes NaN at training step ``step`` (0-based), as a diverging run's does."""
    from latentspace.models.gan import GAN

    class ExplodingGAN(GAN):
        def train_step(self, batch, k):
            logs = super().train_step(batch, k)
            if k == step:
                logs[loss] = float("nan")
            return logs

    return ExplodingGAN
