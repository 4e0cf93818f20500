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
