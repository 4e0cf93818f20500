"""What the notebook tests share: the cells of a jupytext percent-format notebook, its leading code cells as a
script, and running a notebook (or those cells) as a script in fast mode."""

import os
import re
import subprocess
import sys
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
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


def run_script(script: Path, tmp_path: Path, env: dict, timeout: int = 400) -> str:
    """Run ``script`` in ``tmp_path``; its stdout, after asserting that it exited 0."""
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=timeout, env=env)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
    return proc.stdout
