"""What the notebook tests share: the cells of a jupytext percent-format notebook, its leading code cells as a
script, running those cells as a script, and running a whole notebook as Jupyter does (jupytext reads it, nbclient
executes it in an IPython kernel whose working folder is the notebook's) in fast mode."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
ALL = sorted(p for p in NOTEBOOKS.rglob("*.py") if "solutions" not in p.parts)
CELL = re.compile(r"^# %%(?P<rest>.*)$", re.M)


def cells(text: str) -> list[tuple[str, str]]:
    """(marker line after '# %%', body) of every cell, the header and anything before the first cell left out."""
    marks = list(CELL.finditer(text))
    return [(m["rest"], text[m.end():marks[i + 1].start() if i + 1 < len(marks) else len(text)])
            for i, m in enumerate(marks)]


def code_until(notebook: Path, marker: str) -> str:
    """The notebook's code cells up to and including the first one that contains ``marker``, as one script."""
    code = []
    for rest, body in cells(notebook.read_text()):
        if not rest.strip().startswith("[markdown]"):
            code.append(body)
            if marker in body:
                break
    return f"__file__ = {str(notebook)!r}\n" + "\n".join(code)


def fast_env(tmp_path: Path, **extra) -> dict:
    """Fast mode, no windows, the feature cache under ``tmp_path``, and ``extra`` variables."""
    return {**os.environ, "LATENTSPACE_FAST": "1", "MPLBACKEND": "Agg", "LATENTSPACE_CACHE": str(tmp_path / "cache"),
            **{k: str(v) for k, v in extra.items()}}


def notebook_env(tmp_path: Path, shared_data) -> dict:
    """:func:`fast_env` with the shared data at ``shared_data`` and temporary files (``TMPDIR``) under ``tmp_path``,
    so that what a notebook writes can be checked there."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return fast_env(tmp_path, LATENTSPACE_SHARED_DATA=shared_data, TMPDIR=tmp_path / "tmp")


def run_script(script: Path, tmp_path: Path, env: dict, timeout: int = 400) -> str:
    """Run ``script`` in ``tmp_path``; its stdout, after asserting that it exited 0."""
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=timeout, env=env)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
    return proc.stdout


def run_notebook(notebook: Path, env: dict, timeout: int = 300) -> tuple[str, dict]:
    """Execute ``notebook`` cell by cell in a fresh IPython kernel started in its folder with ``env``.

    Returns the text it printed (every cell's stdout, in order) and the executed notebook. A cell that raises fails
    the test with the cell's source and traceback (nbclient's ``CellExecutionError``). ``MPLBACKEND`` is dropped
    from ``env`` so that figures come out as the kernel's inline PNGs, as a reader sees them.
    """
    import jupytext
    from nbclient import NotebookClient

    nb = jupytext.read(notebook)
    kernel_env = {k: v for k, v in env.items() if k != "MPLBACKEND"}
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook.parent)}})
    client.execute(env=kernel_env)
    printed = [out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
               for out in cell.get("outputs", []) if out.get("output_type") == "stream" and out.get("name") == "stdout"]
    return "".join(printed), nb


def images(nb) -> int:
    """How many PNG pictures the executed notebook shows."""
    return sum("image/png" in out.get("data", {}) for cell in nb.cells if cell.cell_type == "code"
               for out in cell.get("outputs", []))


def written_into_repo(since: float) -> list:
    """Files written into the repository's working tree (virtual environments, git and caches left out) since
    ``since`` (a time.time())."""
    skip = {".venv", ".venv-ci", ".git", ".pytest_cache", ".ruff_cache", "__pycache__", "runs"}
    found = []
    for folder, subfolders, files in os.walk(REPO):
        subfolders[:] = [d for d in subfolders if d not in skip and not d.endswith(".egg-info")]
        found += [Path(folder) / f for f in files if (Path(folder) / f).stat().st_mtime >= since]
    return found


def now() -> float:
    """The time before a run, for :func:`written_into_repo` (file times can be a second coarse)."""
    return time.time() - 1
