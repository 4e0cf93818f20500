import os
from pathlib import Path

import pytest

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
