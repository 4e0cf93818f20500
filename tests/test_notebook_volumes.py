"""notebooks/applications/volumes.py runs in fast mode as Jupyter runs it (its format: test_notebooks_format.py)."""

import re
from pathlib import Path

import pytest

from conftest import SHARED_DATA
from notebook_cells import code_until, images, notebook_env, now, run_notebook, run_script, written_into_repo

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "applications" / "volumes.py"
FIGURES = 14   # pictures shown in fast mode (plt.show() calls that run)
CHAIRS = SHARED_DATA / "voxels" / "modelnet10_vox32_chair_monitor_train.npz"



def test_files_load_and_chairs_are_skipped_when_absent(tmp_path):
    """The file cells (binvox, stl, NIfTI) run, and without the chairs the notebook says so and goes on."""
    script = tmp_path / "file_cells.py"
    script.write_text(code_until(NOTEBOOK, "CHAIRS_FILE.is_file()"))
    out = run_script(script, tmp_path, notebook_env(tmp_path, tmp_path / "no-such-folder"), timeout=180)
    for line in ("table: 1 items", "mug: 1 items", "chest: 1 items", "scan (1, 32, 32, 32)",
                 "file (48, 48, 16) voxels of 8 x 8 x 24 mm  ->  loaded (1, 32, 32, 32)", "No ModelNet10 chairs at"):
        assert line in out, line
    occupied = int(re.search(r"occupied voxels (\d+)", out)[1])
    assert 1000 < occupied < 4000, out        # the table's top and legs at 32^3, not an empty or a full cube
    nodules = re.search(r"(\d) nodule\(s\), centred on axial slices \[([\d, ]+)\]", out)
    assert nodules and all(11 <= int(z) <= 18 for z in nodules[2].split(",")), out   # on the slices drawn
    written = {p.name for p in (tmp_path / "tmp").rglob("*") if p.is_file()}
    assert {"table.binvox", "mug.stl", "chest.nii.gz"} <= written, written   # under TMPDIR, not the working folder
    assert not [p for p in tmp_path.iterdir() if p.name not in ("tmp", "cache", "file_cells.py")]


@pytest.mark.slow
def test_notebook_runs_in_fast_mode(tmp_path):
    real = CHAIRS.is_file()
    start = now()
    out, nb = run_notebook(NOTEBOOK, notebook_env(tmp_path, SHARED_DATA if real else tmp_path / "no-such-folder"))
    assert "fast mode" in out
    assert ("modelnet10_vox32_chair_monitor_train: 889 items" if real else "No ModelNet10 chairs at") in out
    for line in ("training the VAE on shapes-3d (400 volumes)", "ct-synthetic: 300 items",
                 "labelled volumes per class: [10, 10]", "generated (4, 1, 32, 32, 32)",
                 "generated volumes per class: {'no lesion': 10, 'lesion': 10}", "augmentation experiment:",
                 "voxels at 0 (below -160 HU)", "filled, 64³"):
        assert line in out, line
    drawn = re.search(r"samples \(8, 1, 16, 16, 16\): ([\d.]+)% of the voxels drawn", out)
    assert drawn, out[-2000:]
    row = re.compile(r"^(classic|cvae) +(\d\.\d{3}) .*?((?: \d\.\d{3}){2})$")   # arm, mean, accuracy per seed
    arms = {m[1]: (float(m[2]), [float(v) for v in m[3].split()]) for m in map(row.match, out.splitlines()) if m}
    assert list(arms) == ["classic", "cvae"], out[-2000:]
    for mean, per_seed in arms.values():
        assert all(0 <= v <= 1 for v in per_seed) and abs(mean - sum(per_seed) / 2) < 1e-3
    assert images(nb) >= FIGURES, "the notebook shows its figures"
    assert not written_into_repo(start), written_into_repo(start)
