"""notebooks/applications/archaeology.py: valid jupytext percent format, and it runs as a script in fast mode."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SHARED_DATA

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "applications" / "archaeology.py"
POTTERY = SHARED_DATA / "pottery_profiles"
CELL = re.compile(r"^# %%(?P<rest>.*)$", re.M)


def cells(text: str) -> list[tuple[str, str]]:
    """(marker line after '# %%', body) of every cell, the header and anything before the first cell left out."""
    marks = list(CELL.finditer(text))
    return [(m["rest"], text[m.end():marks[i + 1].start() if i + 1 < len(marks) else len(text)])
            for i, m in enumerate(marks)]


def environment(tmp_path, pottery_dir) -> dict:
    return {**os.environ, "LATENTSPACE_FAST": "1", "MPLBACKEND": "Agg", "LATENTSPACE_CACHE": str(tmp_path / "cache"),
            "LATENTSPACE_POTTERY_DIR": str(pottery_dir)}


def test_notebook_is_jupytext_percent_format():
    text = NOTEBOOK.read_text()
    header = text.split("\n# %%", 1)[0].splitlines()
    assert header[0] == "# ---" and "# ---" in header[1:], "the jupytext header opens and closes with '# ---'"
    assert "#   jupytext:" in header and "#       format_name: percent" in header
    found = cells(text)
    kinds = [rest.strip() for rest, _ in found]
    markdown = sum(k.startswith("[markdown]") for k in kinds)
    assert markdown >= 10 and len(kinds) - markdown >= 10
    assert kinds[0] == "[markdown]" and "You will learn" in found[0][1] and "Time:" in found[0][1]
    for rest, body in found:
        if rest.strip().startswith("[markdown]"):
            assert all(not line or line.startswith("#") for line in body.strip().splitlines()), body[:200]
    solutions = [body for rest, body in found if '"source_hidden": true' in rest]
    assert len(solutions) >= 2 and all("Exercise" in body for body in solutions)
    compile(text, str(NOTEBOOK), "exec")


def test_notebook_falls_back_to_synthetic_vessels(tmp_path):
    """Without drawings the data cell says so and loads pottery-synthetic (the cells up to the data summary)."""
    code = []
    for rest, body in cells(NOTEBOOK.read_text()):
        if not rest.strip().startswith("[markdown]"):
            code.append(body)
            if "data.summary()" in body:
                break
    script = tmp_path / "data_cells.py"
    script.write_text(f"__file__ = {str(NOTEBOOK)!r}\n" + "\n".join(code))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=environment(tmp_path, tmp_path / "no-such-folder"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "No drawings at" in proc.stdout
    assert "pottery-synthetic: 720 items (600 training + 120 held out)" in proc.stdout


@pytest.mark.slow
def test_notebook_runs_in_fast_mode(tmp_path):
    real = POTTERY.is_dir()
    proc = subprocess.run([sys.executable, str(NOTEBOOK)], cwd=tmp_path, capture_output=True, text=True, timeout=400,
                          env=environment(tmp_path, POTTERY if real else tmp_path / "no-such-folder"))
    out = proc.stdout
    assert proc.returncode == 0, (out[-2000:], proc.stderr[-3000:])
    assert "fast mode" in out
    assert ("pottery: 1,133 items" if real else "pottery-synthetic: 720 items") in out
    assert "completed 12 rim sherds" in out
    for line in ("VAE completion", "nearest training profile", "rim missing, VAE", "cut at 0.75",
                 "augmentation experiment:"):
        assert line in out, line
    row = re.compile(r"^(classic|cvae) +\d\.\d{3} .* \d\.\d{3} \d\.\d{3}$")   # arm, means, accuracy per seed
    arms = [line.split()[0] for line in out.splitlines() if row.match(line)]
    assert arms == ["classic", "cvae"], out[-2000:]
    assert not list(tmp_path.glob("*.png")), "the notebook shows its figures; it writes none"
