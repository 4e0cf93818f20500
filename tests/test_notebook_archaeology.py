"""notebooks/applications/archaeology.py runs in fast mode as Jupyter runs it (its format: test_notebooks_format.py)."""

import re
from pathlib import Path

import pytest

from conftest import SHARED_DATA
from notebook_cells import code_until, fast_env, images, now, run_notebook, run_script, written_into_repo

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "applications" / "archaeology.py"
FIGURES = 7   # pictures shown in fast mode (plt.show() calls that run)
POTTERY = SHARED_DATA / "pottery_profiles"


def environment(tmp_path, pottery_dir) -> dict:
    return fast_env(tmp_path, LATENTSPACE_POTTERY_DIR=pottery_dir)


def test_notebook_falls_back_to_synthetic_vessels(tmp_path):
    """Without drawings the data cell says so and loads pottery-synthetic (the cells up to the data summary)."""
    script = tmp_path / "data_cells.py"
    script.write_text(code_until(NOTEBOOK, "data.summary()"))
    out = run_script(script, tmp_path, environment(tmp_path, tmp_path / "no-such-folder"), timeout=120)
    assert "No drawings at" in out
    assert "pottery-synthetic: 720 items (600 training + 120 held out)" in out


@pytest.mark.slow
def test_notebook_runs_in_fast_mode(tmp_path):
    real = POTTERY.is_dir()
    start = now()
    out, nb = run_notebook(NOTEBOOK, environment(tmp_path, POTTERY if real else tmp_path / "no-such-folder"))
    assert "fast mode" in out
    assert ("pottery: 1,133 items" if real else "pottery-synthetic: 720 items") in out
    assert "completed 12 rim sherds" in out
    for line in ("VAE completion", "nearest training profile", "rim missing, VAE", "cut at 0.75",
                 "augmentation experiment:"):
        assert line in out, line
    row = re.compile(r"^(classic|cvae) +\d\.\d{3} .* \d\.\d{3} \d\.\d{3}$")   # arm, means, accuracy per seed
    arms = [line.split()[0] for line in out.splitlines() if row.match(line)]
    assert arms == ["classic", "cvae"], out[-2000:]
    assert images(nb) >= FIGURES, "the notebook shows its figures"
    assert not written_into_repo(start), written_into_repo(start)
